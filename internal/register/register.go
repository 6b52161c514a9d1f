// Package register is the register's brain: the terminal's lifecycle, the
// payment state machine and its poll loops, recovery at start, the offline
// gate, refunds and period close. It declares the small interfaces it needs
// of its providers and devices; cmd/posd wires the concrete ones in.
package register

import (
	"errors"
	"fmt"
	"time"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/printer"
	"github.com/posd/posd/internal/scanner"
)

// State is a payment's state.
type State string

const (
	StateCreated          State = "created"
	StatePolling          State = "polling"
	StateAwaitingDecision State = "awaiting_decision"
	StatePaid             State = "paid"
	StateCanceled         State = "canceled"
	StateFailed           State = "failed"
	StateUnknown          State = "unknown"
)

// Final reports whether the state can no longer change.
func (s State) Final() bool { return s == StatePaid || s == StateCanceled || s == StateFailed }

// Valid reports whether s names a state.
func (s State) Valid() bool {
	switch s {
	case StateCreated, StatePolling, StateAwaitingDecision, StatePaid, StateCanceled, StateFailed, StateUnknown:
		return true
	}
	return false
}

// Row is one receipt row as the front end sends it.
type Row struct {
	Description string       `json:"description"`
	Quantity    string       `json:"quantity"` // exact decimal text, >= 1 for SEQR ("1", "2", "0.5" kg allowed with unit)
	UnitPrice   money.Amount `json:"unitPrice"`
	TotalAmount money.Amount `json:"totalAmount"`
	TaxRate     string       `json:"taxRate"` // percent, e.g. "25", "12", "6", "0"
	SKU         string       `json:"sku,omitempty"`
	EAN         string       `json:"ean,omitempty"`
}

// PaymentRequest is the body of POST /v1/payments.
type PaymentRequest struct {
	Method       string       `json:"method"` // "seqr"
	SaleID       string       `json:"saleId"`
	CashierID    string       `json:"cashierId"`
	Title        string       `json:"title"`
	Amount       money.Amount `json:"amount"`       // to take by this method
	Currency     string       `json:"currency"`     // "SEK"
	ReceiptTotal money.Amount `json:"receiptTotal"` // sum of rows
	Rows         []Row        `json:"rows"`
	// Customer pre-fills the provider's checkout (Resurs); optional.
	Customer *payment.Customer `json:"customer,omitempty"`
	// ValidUntil is when a "Betala sen" link expires (resurs_later); optional.
	ValidUntil *time.Time `json:"validUntil,omitempty"`
}

// Balancing says how the invoice rows were made to sum to the amount taken.
type Balancing string

const (
	BalancingNone   Balancing = "none"   // amount == receipt total
	BalancingOther  Balancing = "other"  // amount < total: negative "Other payment" row (split tender)
	BalancingChange Balancing = "change" // amount > total: positive row (change to give back)
)

// Payment is a payment as the API shows it.
type Payment struct {
	ID               string       `json:"id"`
	Provider         string       `json:"provider"`
	Method           string       `json:"method"`
	State            State        `json:"state"`
	Amount           money.Amount `json:"amount"`
	Currency         string       `json:"currency"`
	ReceiptTotal     money.Amount `json:"receiptTotal"`
	Balancing        Balancing    `json:"balancing"`
	SaleID           string       `json:"saleId"`
	CashierID        string       `json:"cashierId"`
	Title            string       `json:"title"`
	ProviderRef      string       `json:"providerRef,omitempty"`      // the provider's session reference
	TransactionRef   string       `json:"transactionRef,omitempty"`   // the provider's transaction, once paid
	MethodName       string       `json:"methodName,omitempty"`       // the payment method as the provider names it, once paid
	CustomerView     *View        `json:"customerView,omitempty"`     // what the customer or cashier must see (Resurs, Payson)
	InvoiceReference string       `json:"invoiceReference,omitempty"` // deprecated: SEQR's providerRef
	ERSReference     string       `json:"ersReference,omitempty"`     // deprecated: SEQR's transactionRef
	ValidUntil       *time.Time   `json:"validUntil,omitempty"`       // long-lived payments ("Betala sen")
	Window           int          `json:"window"`                     // 1, 2, ... (try again starts the next); 0: no windows
	WindowEndsAt     *time.Time   `json:"windowEndsAt,omitempty"`     // end of the current 30 s window
	PollCount        int          `json:"pollCount"`
	OutageSince      *time.Time   `json:"outageSince,omitempty"` // provider unreachable while polling since
	Refunded         money.Amount `json:"refunded"`
	Annulled         money.Amount `json:"annulled,omitempty"` // released before capture (Resurs annulPayment)
	Debited          money.Amount `json:"debited,omitempty"`  // added by additional debits
	// Actions a paid payment may be asked: "refund", "annul", "debit".
	Actions   []string  `json:"actions,omitempty"`
	Error     string    `json:"error,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// View is what the cashier page shows for a payment: an iframe or snippet
// to embed, and a URL for the customer (a QR code, a link).
type View struct {
	URL  string `json:"url,omitempty"`
	HTML string `json:"html,omitempty"`
}

// Event is one item of a payment's event stream.
type Event struct {
	Type        string    `json:"type"` // "state", "poll", "printer"
	PaymentID   string    `json:"paymentId"`
	State       State     `json:"state"`
	SecondsLeft int       `json:"secondsLeft"` // in the current window
	Message     string    `json:"message,omitempty"`
	Payment     Payment   `json:"payment"`
	At          time.Time `json:"at"`
}

// Terminal is the till's SEQR registration. The password is never shown.
type Terminal struct {
	Registered         bool       `json:"registered"`
	TerminalID         string     `json:"terminalId,omitempty"`
	ExternalTerminalID string     `json:"externalTerminalId,omitempty"`
	Name               string     `json:"name,omitempty"`
	SeqrID             string     `json:"seqrId,omitempty"`
	RegisteredAt       *time.Time `json:"registeredAt,omitempty"`
}

// RegisterTerminalRequest carries the shop's reseller credentials, used once and never stored.
type RegisterTerminalRequest struct {
	ResellerID         string `json:"resellerId"`
	ResellerUserID     string `json:"resellerUserId"`
	ResellerPassword   string `json:"resellerPassword"`
	ExternalTerminalID string `json:"externalTerminalId"`
	Name               string `json:"name"`
}

// RefundRequest is the body of POST /v1/payments/{id}/refunds.
type RefundRequest struct {
	Amount    money.Amount `json:"amount"`
	CashierID string       `json:"cashierId"`
	Reason    string       `json:"reason"`
	// Rows, when given, are the lines refunded (returned goods): Amount is
	// their sum, and a provider that credits by line (Resurs) credits them.
	Rows []Row `json:"rows,omitempty"`
}

// Refund is one recorded refund, annulment or additional debit (Kind).
type Refund struct {
	ID           string       `json:"id"`
	Kind         string       `json:"kind"` // "refund", "annul" or "debit"
	PaymentID    string       `json:"paymentId"`
	Provider     string       `json:"provider"`
	Amount       money.Amount `json:"amount"`
	Currency     string       `json:"currency"`
	ProviderRef  string       `json:"providerRef"`
	ERSReference string       `json:"ersReference,omitempty"` // deprecated: SEQR's providerRef
	CashierID    string       `json:"cashierId"`
	Reason       string       `json:"reason"`
	CreatedAt    time.Time    `json:"createdAt"`
	Rows         []Row        `json:"rows,omitempty"` // a debit's rows, or the lines a refund named
	// State and Error, in a payment's detail: "sending", "done",
	// "failed", "unknown", and why (an answer to POST is always done).
	State string `json:"state,omitempty"`
	Error string `json:"error,omitempty"`
}

// PeriodReport compares a provider's period report with the local records.
type PeriodReport struct {
	Provider            string       `json:"provider"`
	PeriodRef           string       `json:"periodRef"`
	TransactionPeriodID string       `json:"transactionPeriodId,omitempty"` // deprecated: SEQR's periodRef
	MarkedAt            time.Time    `json:"markedAt"`
	RemoteCount         int          `json:"remoteCount"`
	RemoteTotal         money.Amount `json:"remoteTotal"`
	LocalCount          int          `json:"localCount"`
	LocalTotal          money.Amount `json:"localTotal"`
	Match               bool         `json:"match"`
	OnlyRemote          []string     `json:"onlyRemote"` // transaction references the provider has and we don't
	OnlyLocal           []string     `json:"onlyLocal"`
	// SettledRefunds are the refunds left unknown that this report showed
	// made: recorded done with the report's reference (issue 11 item 10).
	SettledRefunds []string `json:"settledRefunds,omitempty"`
}

// Status is GET /v1/status.
type Status struct {
	Version   string           `json:"version"`
	Ready     bool             `json:"ready"`
	Terminal  Terminal         `json:"terminal"`
	Provider  ProviderStatus   `json:"provider"` // deprecated: the first of providers
	Providers []ProviderStatus `json:"providers"`
	Open      int              `json:"openPayments"`
	Storage   string           `json:"storage"` // "ok" or the reason writes fail
	Scanner   *scanner.Status  `json:"scanner,omitempty"`
	Printer   *printer.Status  `json:"printer,omitempty"`
}

// ProviderStatus is the offline gate's view of one provider.
type ProviderStatus struct {
	Name        string     `json:"name"` // "seqr", "resurs", "payson"
	Methods     []string   `json:"methods"`
	Ready       bool       `json:"ready"`              // the till can take its payments (enrolled, credentials)
	NotReady    string     `json:"notReady,omitempty"` // the missing step, when not ready
	Reachable   bool       `json:"reachable"`
	OutageSince *time.Time `json:"outageSince,omitempty"`
	LastChecked *time.Time `json:"lastChecked,omitempty"`
	LastError   string     `json:"lastError,omitempty"`
}

// Sentinel errors callers branch on (api maps them to problem types in one function).
var (
	ErrNotFound          = errors.New("not found")
	ErrOffline           = errors.New("payment provider unreachable")
	ErrNotRegistered     = errors.New("terminal not registered: register the till first (POST /v1/terminal/register)")
	ErrNoSeqrID          = errors.New("terminal has no SEQR id: assign one first (PUT /v1/terminal/seqr-id or scan the sticker)")
	ErrAlreadyRegistered = errors.New("terminal already registered: unregister it first")
	ErrStorage           = errors.New("storage unavailable")
	ErrIdempotencyKey    = errors.New("idempotency key already used with another request")
	ErrInvalidState      = errors.New("not allowed in the payment's current state")
	ErrRefundExceeds     = errors.New("refunds would exceed the amount paid")
	ErrNotReady          = errors.New("recovering open payments; try again shortly")
	ErrScanTimeout       = errors.New("no scan before the timeout")
	ErrProviderRejected  = errors.New("payment provider refused the request")
	ErrReportNotReady    = errors.New("reconciliation report not ready in time")
	ErrNotSupported      = errors.New("not supported by the configured payment providers")
	ErrProviderNotReady  = errors.New("payment provider not ready")
	ErrPaymentOpen       = errors.New("another payment is still open on this till")
	ErrNoScanner         = errors.New("no scanner configured: type the SEQR id instead (PUT /v1/terminal/seqr-id)")
)

// ValidationError names the field that is wrong. Nothing was recorded or sent.
type ValidationError struct {
	Field   string // JSON path, e.g. "rows[2].totalAmount"
	Message string
}

func (e *ValidationError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Message) }
