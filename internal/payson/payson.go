// Package payson is posd's client of Payson Checkout 2.0 (REST, JSON,
// shared/specs/resurs-payson.md section D) and its adapter to the register's
// payment.Provider contract.
//
// Money never passes through a float: amounts are money.Amount (minor
// units), quantities and rates are exact decimal text, and the order totals
// Payson computes (D.7) are recomputed here with math/big so that purchase
// limits are checked before anything is sent. Payson has no idempotency key:
// a create whose answer is lost may or may not have made a checkout, so the
// adapter looks for it by merchant.reference before it would ever create
// another (FindByReference).
package payson

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/posd/posd/internal/money"
)

// Status is a checkout's status as Payson names it (camelCase).
type Status string

// Every checkout status of D.3/D.4.
const (
	StatusCreated           Status = "created"
	StatusFormsFilled       Status = "formsFilled"
	StatusReadyToPay        Status = "readyToPay"
	StatusProcessingPayment Status = "processingPayment"
	StatusReadyToShip       Status = "readyToShip"
	StatusShipped           Status = "shipped"
	StatusPaidToAccount     Status = "paidToAccount"
	StatusCanceled          Status = "canceled"
	StatusExpired           Status = "expired"
	StatusDenied            Status = "denied"
)

// Statuses lists every status in the order of the status machine.
var statuses = []Status{StatusCreated, StatusFormsFilled, StatusReadyToPay, StatusProcessingPayment,
	StatusReadyToShip, StatusShipped, StatusPaidToAccount, StatusCanceled, StatusExpired, StatusDenied}

// statusInts are the .NET SDK's enum integers (D.3); 9 is unused there.
var statusInts = map[int]Status{1: StatusCreated, 2: StatusFormsFilled, 3: StatusReadyToPay,
	4: StatusProcessingPayment, 5: StatusReadyToShip, 6: StatusShipped, 7: StatusPaidToAccount,
	8: StatusCanceled, 10: StatusExpired, 11: StatusDenied}

// AllStatuses returns every status Payson knows.
func AllStatuses() []Status { return append([]Status(nil), statuses...) }

// ParseStatus reads a status in any letter case; unknown text is kept as
// given (a new Payson status must not break reading a checkout).
func ParseStatus(s string) Status {
	for _, st := range statuses {
		if strings.EqualFold(string(st), s) {
			return st
		}
	}
	return Status(s)
}

// BeforePayment reports whether the customer has not paid yet (the cart may
// still change and the checkout may still expire at expirationTime).
func (s Status) BeforePayment() bool {
	switch s {
	case StatusCreated, StatusFormsFilled, StatusReadyToPay, StatusProcessingPayment:
		return true
	}
	return false
}

// Currencies Payson takes, with their purchase limits (D.3).
var limits = map[string][2]money.Amount{
	"SEK": {400, 1_000_000_00},
	"EUR": {40, 100_000_00},
}

// Item types.
const (
	ItemPhysical = "physical"
	ItemService  = "service"
	ItemFee      = "fee"
	ItemDiscount = "discount"
)

// Merchant is the merchant part of a checkout: where Payson sends the
// customer and its notifications.
type Merchant struct {
	CheckoutURI     string
	ConfirmationURI string
	NotificationURI string
	TermsURI        string
	ValidationURI   string // optional
	Reference       string // posd's payment id; <= 100 characters
	PartnerID       string
	IntegrationInfo string
}

// Customer is the customer part (filled in by the customer on Payson's page).
type Customer struct {
	Type           string // person | business
	IdentityNumber string
	FirstName      string
	LastName       string
	Email          string
	Phone          string
	Street         string
	PostalCode     string
	City           string
	CountryCode    string
	Reference      string
}

// Gui is how Payson's page looks.
type Gui struct {
	ColorScheme   string
	Locale        string
	RequestPhone  bool
	PhoneOptional bool
	Countries     []string
	Verification  string
}

// Item is one order line. UnitPrice includes tax; Quantity, TaxRate (a
// fraction, 0.25 for 25 %) and DiscountRate are exact decimal text.
type Item struct {
	ItemID         string // assigned by Payson; required on update
	Name           string
	UnitPrice      money.Amount
	Quantity       string
	TaxRate        string
	DiscountRate   string // "" = 0
	Reference      string
	EAN            string
	URI            string
	ImageURI       string
	Type           string // "" = physical
	CreditedAmount money.Amount

	// Read-only, computed by Payson.
	TotalPriceExcludingTax money.Amount
	TotalPriceIncludingTax money.Amount
	TotalTaxAmount         money.Amount
}

// Order is the cart and its totals (totals are read-only except
// TotalCreditedAmount, which a refund raises).
type Order struct {
	Currency               string
	Items                  []Item
	TotalPriceExcludingTax money.Amount
	TotalPriceIncludingTax money.Amount
	TotalTaxAmount         money.Amount
	TotalCreditedAmount    money.Amount
	TotalFeeExcludingTax   money.Amount
	TotalFeeIncludingTax   money.Amount
}

// History holds when each status was reached (zero: not reached).
type History struct {
	Created       time.Time
	ReadyToPay    time.Time
	ReadyToShip   time.Time
	Shipped       time.Time
	PaidToAccount time.Time
	Canceled      time.Time
	Expired       time.Time
	Denied        time.Time
}

// Checkout is Payson's checkout resource.
type Checkout struct {
	ID             string
	Status         Status
	Snippet        string
	PurchaseID     int64 // 0 until readyToShip
	Description    string
	ExpirationTime time.Time
	Merchant       Merchant
	Customer       Customer
	Order          Order
	Gui            Gui
	History        History
	// PaymentType is how the customer paid (invoice, card, bank) when the
	// answer says so. Not in Payson's published model; read when present [I].
	PaymentType string
}

// NewCheckout is what Create sends.
type NewCheckout struct {
	Merchant       Merchant
	Currency       string
	Items          []Item
	Description    string
	ExpirationTime time.Time // zero: Payson's default
	Customer       *Customer // optional pre-fill
	Gui            *Gui
}

// Account is GET /Accounts.
type Account struct {
	AccountEmail                string
	Status                      string
	MerchantID                  int64
	EnabledForInvoice           bool
	EnabledForPaymentPlan       bool
	EnabledForRecurringPayments bool
}

// List is one page of GET /Checkouts?status=.
type List struct {
	PageSize   int
	Page       int
	TotalPages int
	Count      int
	TotalCount int
	Data       []Checkout
}

// Errors callers branch on.
var (
	// ErrNotSent marks an error where the request certainly never reached
	// Payson (no connection was obtained, or the client refused to send it).
	// Any other transport error may have been delivered.
	ErrNotSent = errors.New("payson: request not sent")
	// ErrInvalidRequest marks a request refused before sending (it always
	// comes with ErrNotSent); the message names the field.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrNotFound: Payson answered 404 (no such checkout).
	ErrNotFound = errors.New("payson: not found")
	// ErrUnauthorized: Payson answered 401 (agent id or API key wrong).
	ErrUnauthorized = errors.New("payson: unauthorized")
)

// PropertyError is one entry of an error answer's errors[].
type PropertyError struct {
	Property string
	Message  string
}

// APIError is an HTTP error answer of Payson (D.6): Payson received the
// request and refused it.
type APIError struct {
	Op      string
	Status  int
	Message string
	Errors  []PropertyError
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "payson %s: HTTP %d", e.Op, e.Status)
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	for i, pe := range e.Errors {
		if i == 0 {
			b.WriteString(" (")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(pe.Property + ": " + pe.Message)
		if i == len(e.Errors)-1 {
			b.WriteString(")")
		}
	}
	return b.String()
}

// Is lets errors.Is(err, ErrNotFound) and ErrUnauthorized match by status.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == 404
	case ErrUnauthorized:
		return e.Status == 401
	}
	return false
}

// Properties returns the properties named by the answer, in order.
func (e *APIError) Properties() []string {
	out := make([]string, 0, len(e.Errors))
	for _, pe := range e.Errors {
		out = append(out, pe.Property)
	}
	return out
}

// multiError has its own message and wraps several errors, so "not sent"
// can be both a sentinel and the cause.
type multiError struct {
	msg  string
	errs []error
}

func (e *multiError) Error() string   { return e.msg }
func (e *multiError) Unwrap() []error { return e.errs }

func notSent(op string, cause error) error {
	return &multiError{msg: "payson " + op + ": not sent: " + cause.Error(), errs: []error{ErrNotSent, cause}}
}

func invalid(op string, cause error) error {
	return &multiError{msg: "payson " + op + ": invalid request: " + cause.Error(),
		errs: []error{ErrInvalidRequest, ErrNotSent, cause}}
}
