// Package seqr is a client for SEQR's merchant (cash-register) SOAP API:
// SOAP 1.1, document/literal wrapped, operation wrapper in the
// http://external.interfaces.ers.seamless.com/ namespace, children unqualified
// (see shared/specs/seqr.md). It never imports register or store.
package seqr

import (
	"errors"
	"time"

	"github.com/posd/posd/internal/money"
)

// Namespace is the target namespace of every SEQR operation element.
const Namespace = "http://external.interfaces.ers.seamless.com/"

// PrincipalType says who is calling: a registered till or a shop's back office.
type PrincipalType string

const (
	PrincipalTerminal     PrincipalType = "TERMINALID"
	PrincipalResellerUser PrincipalType = "RESELLERUSER"
)

// Principal is the initiator of a call and its password. The password is
// sent inside the ClientContext and never logged.
type Principal struct {
	Type     PrincipalType
	ID       string
	UserID   string // RESELLERUSER only
	Password string
}

// Terminal is the TERMINALID principal of a registered till.
func Terminal(id, password string) Principal {
	return Principal{Type: PrincipalTerminal, ID: id, Password: password}
}

// Status is an invoice status. Unknown strings from the server are kept as they are.
type Status string

const (
	StatusIssued                   Status = "ISSUED"
	StatusPaid                     Status = "PAID"
	StatusPendingIssuerAcknowledge Status = "PENDING_ISSUER_ACKNOWLEDGE"
	StatusCanceled                 Status = "CANCELED"
	StatusFailed                   Status = "FAILED"
	StatusReserved                 Status = "RESERVED"
	StatusExpired                  Status = "EXPIRED"
)

// Final reports whether no later status can follow (PAID, CANCELED, FAILED, EXPIRED).
func (s Status) Final() bool {
	switch s {
	case StatusPaid, StatusCanceled, StatusFailed, StatusExpired:
		return true
	}
	return false
}

// Result codes of spec section 4.1 that callers branch on. ResultName gives every name.
const (
	ResultSuccess                        = 0
	ResultReportNotReady                 = 2
	ResultRejectedAmount                 = 11
	ResultAuthenticationFailed           = 20
	ResultAccessDenied                   = 21
	ResultInvalidERSReference            = 23
	ResultInvalidInitiatorPrincipalID    = 29
	ResultInvalidInitiatorPrincipalState = 33
	ResultInitiatorPrincipalNotFound     = 37
	ResultPaymentInProgress              = 48
	ResultInvalidInvoiceData             = 49
	ResultCannotCancelPaidInvoice        = 50
	ResultCannotCancelInvoiceInProgress  = 51
	ResultInvalidSeqrID                  = 53
	ResultInvalidInvoiceReference        = 54
	ResultInvalidNotificationURL         = 64
	ResultSystemError                    = 90
	ResultUnsupportedOperation           = 91
	ResultSystemBusy                     = 93
	ResultServiceUnavailable             = 94
	ResultInvoiceAlreadyCanceled         = 95
	ResultInvoiceStateNotReserved        = 96
	ResultResellerNotAllowedToRefund     = 97
	ResultRefundExceedsOriginal          = 98
	ResultReceiverNoRefunds              = 99
)

// Invoice is what the till asks the customer to pay (or, in refundPayment, what is refunded).
// All amounts are in Currency.
type Invoice struct {
	PaymentMode              string // "" means IMMEDIATE_DEBIT is not sent; register sends IMMEDIATE_DEBIT
	AcknowledgmentMode       string // register sends NO_ACKNOWLEDGMENT
	IssueDate                time.Time
	Title                    string
	ClientInvoiceID          string
	Rows                     []InvoiceRow
	Total                    money.Amount
	Currency                 string
	CashierID                string
	Footer                   string
	BackURL                  string
	NotificationURL          string
	CommitReservationTimeout int64 // seconds; 0 is omitted
}

// InvoiceRow is one paymentInvoiceRow. Quantity and TaxRate are exact decimal
// text ("2", "0.5", "25"); empty means omitted.
type InvoiceRow struct {
	Description string
	Discount    *money.Amount
	EAN         string
	Quantity    string
	SKU         string
	TaxRate     string
	Total       money.Amount
	Unit        string
	UnitPrice   *money.Amount
}

// CustomerToken is a loyalty card or coupon carried with an invoice.
type CustomerToken struct {
	Description string
	ID          string
	Status      int
	Value       string
}

// SendInvoiceResult is the answer to sendInvoice.
type SendInvoiceResult struct {
	InvoiceReference string
	InvoiceQRCode    string
}

// PaymentStatus is the answer to getPaymentStatus.
type PaymentStatus struct {
	Status       Status
	Version      int
	ERSReference string // set only when PAID
	Receipt      *Receipt
	Tokens       []CustomerToken
}

// Receipt is returned with a PAID status.
type Receipt struct {
	TerminalID       string
	PaymentDate      string // as sent, e.g. 2015-10-29T10:18:48.663+01:00
	ClientInvoiceID  string
	InvoiceReference string
	PaymentReference string
	PayerTerminalID  string
	ReceiverName     string
	Total            money.Amount
	Currency         string
}

// ReceiptDocument is what submitPaymentReceipt attaches to a payment or refund.
type ReceiptDocument struct {
	MimeType string // e.g. text/html
	Data     []byte // sent base64
	Type     string // PAYMENT_RECEIPT, WARRANTY, VOUCHER, OTHER
}

// Param is one entry of a parameterMap (markTransactionPeriod, executeReport), in order.
type Param struct {
	Key, Value string
}

// Report is the answer to executeReport.
type Report struct {
	Title         string
	MimeType      string
	Content       []byte
	ContentString string
}

// ResultError is a response whose resultCode is not 0.
type ResultError struct {
	Op          string // operation, e.g. "sendInvoice"
	Code        int
	Description string // resultDescription as sent
}

// Name is the result code's constant name (spec 4.1), e.g. CANNOT_CANCEL_PAID_INVOICE.
func (e *ResultError) Name() string { return ResultName(e.Code) }

func (e *ResultError) Error() string {
	return "seqr " + e.Op + ": result " + itoa(e.Code) + " " + ResultName(e.Code)
}

// FaultError is a SOAP fault (protocol-level failure).
type FaultError struct {
	Op     string
	Code   string // faultcode, e.g. soap:Client
	String string // faultstring
}

func (e *FaultError) Error() string {
	return "seqr " + e.Op + ": soap fault " + e.Code + ": " + e.String
}

// ErrNotSent marks an error where the request certainly never reached the
// server: a refused connection, a failed DNS lookup or TLS handshake, a context
// that ended before a connection was obtained, or an argument the client
// refused to encode (ErrInvalidRequest). Any other transport error may have
// been delivered: a sendInvoice that fails that way has an unknown outcome.
var ErrNotSent = errors.New("seqr: request not sent")

// ErrInvalidRequest marks a call refused before sending because an argument
// cannot be sent (an empty required field, a character XML cannot carry, a
// malformed decimal). The message names the field. It always comes with
// ErrNotSent.
var ErrInvalidRequest = errors.New("invalid request")

// Code returns the resultCode carried by err, if it is (or wraps) a *ResultError.
func Code(err error) (int, bool) {
	var re *ResultError
	if errors.As(err, &re) {
		return re.Code, true
	}
	return 0, false
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
