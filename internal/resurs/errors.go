package resurs

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/posd/posd/internal/soap"
)

// ErrNotSent marks an error where the request certainly never reached
// Resurs (no connection was obtained, or posd refused to build it). Any other
// transport error may have been delivered: never repeat a money call then
// without reading the payment back first (spec F).
var ErrNotSent = soap.ErrNotSent

// ErrInvalidRequest marks a call refused before sending because an argument
// cannot be sent; the message names the field. It always matches ErrNotSent.
var ErrInvalidRequest = errors.New("invalid request")

// ErrNotFound: Resurs answered that the order or payment does not exist
// (REST 404, or fault 8 REFERENCED_DATA_DONT_EXISTS).
var ErrNotFound = errors.New("resurs: not found")

// ErrUnauthorized: Resurs refused the credentials (HTTP 401, or a MAPI
// invalid_client). Nothing was done.
var ErrUnauthorized = errors.New("resurs: credentials refused")

type invalidError struct {
	op  string
	err error
}

func (e *invalidError) Error() string {
	return "resurs " + e.op + ": invalid request: " + e.err.Error()
}
func (e *invalidError) Unwrap() []error {
	return []error{ErrInvalidRequest, ErrNotSent, e.err}
}

func invalid(op string, err error) error { return &invalidError{op: op, err: err} }

// APIError is an error answer of the Checkout POS REST API (A.4). Resurs
// uses several body shapes; whichever was sent is read into these fields.
type APIError struct {
	Op     string
	Status int    // HTTP status
	Code   string // errorCode ("PAYMENT_SESSION_NOT_FOUND" or a number), "" if none
	// Message is the best human text of the body: message, detailedMessage
	// or description.
	Message string
	// SessionStatus, UserMessage and ValidTo are read from a 404 of an
	// unbooked session when the server says them (Resurs documents no such
	// fields; posd's emulator sends them, spec G.1): CREATED, INSPECTION and
	// LINK_SENT are open, REJECTED, EXPIRED and REPLACED final.
	SessionStatus string
	UserMessage   string
	ValidTo       Time
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "resurs %s: HTTP %d", e.Op, e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// Is makes a 404 match ErrNotFound and a 401 ErrUnauthorized.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == 404
	case ErrUnauthorized:
		return e.Status == 401
	}
	return false
}

// Fault is an After Shop SOAP fault with Resurs's ECommerceError detail (B.5).
type Fault struct {
	Op          string
	ErrorTypeID int    // 0 when the detail has none
	Name        string // errorTypeDescription, e.g. REFERENCED_DATA_DONT_EXISTS
	// FixableByYou: other input would have avoided the error.
	FixableByYou bool
	// UserMessage is Resurs's localised text, meant for the cashier.
	UserMessage string
	// FaultString is technical text: log it, never show it.
	FaultString string
	FaultCode   string
}

// Resurs errorTypeIds the adapter branches on (B.5).
const (
	ErrorIllegalArgument          = 1
	ErrorInternal                 = 3
	ErrorNotAllowed               = 4
	ErrorReferencedDataDontExists = 8
	ErrorNotAllowedInPaymentState = 20
	ErrorInvalidCrediting         = 23
	ErrorNotAllowedInCurrentState = 25
	ErrorInvalidFinalization      = 26
	ErrorNotAllowedInvoiceID      = 28
	ErrorAlreadyExistsInvoiceID   = 29
	ErrorAnnulFailed              = 36
)

func (e *Fault) Error() string {
	// The faultstring is technical and may echo request data: it goes to
	// the log through FaultString, not into the error text.
	name := e.Name
	if name == "" {
		name = "fault " + e.FaultCode
	}
	msg := fmt.Sprintf("resurs %s: %s (errorTypeId %d)", e.Op, name, e.ErrorTypeID)
	if e.UserMessage != "" {
		msg += ": " + e.UserMessage
	}
	return msg
}

// Is makes fault 8 match ErrNotFound.
func (e *Fault) Is(target error) bool {
	return target == ErrNotFound && e.ErrorTypeID == ErrorReferencedDataDontExists
}

// CashierMessage is the text to show: Resurs's userErrorMessage, or the
// error's name when there is none.
func (e *Fault) CashierMessage() string {
	if e.UserMessage != "" {
		return e.UserMessage
	}
	if e.Name != "" {
		return e.Name
	}
	return "Resurs Bank refused the request"
}

// exceptionNS is the namespace of the ECommerceError detail element.
const exceptionNS = "http://ecommerce.resurs.com/v4/msg/exception"

func faultOf(op string, f *soap.Fault) *Fault {
	out := &Fault{Op: op, FaultString: f.String, FaultCode: f.Code}
	d := f.DetailElement(exceptionNS, "ECommerceError")
	if d == nil {
		d = f.DetailElement("", "ECommerceError")
	}
	if d == nil {
		return out
	}
	out.Name = d.Str("errorTypeDescription")
	out.ErrorTypeID, _ = strconv.Atoi(d.Str("errorTypeId"))
	out.FixableByYou, _ = strconv.ParseBool(d.Str("fixableByYou"))
	out.UserMessage = d.Str("userErrorMessage")
	return out
}

// FaultID returns the errorTypeId of a *Fault in err's chain.
func FaultID(err error) (int, bool) {
	var f *Fault
	if errors.As(err, &f) {
		return f.ErrorTypeID, true
	}
	return 0, false
}
