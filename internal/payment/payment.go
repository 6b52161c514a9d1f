// Package payment is the contract between the register and its payment
// providers (SEQR, Resurs Bank, Payson).
//
// The register owns the one state machine and decides; a provider only
// reports. Each provider package implements Provider with an adapter that
// maps its own statuses and result codes onto the few outcomes below, the
// way hyperswitch's connectors map theirs onto one shared status. The
// register imports no provider package; cmd/posd builds the configured
// providers in one switch and hands them over.
//
// Every call that may move money has three outcomes, never two:
//
//   - definitely not sent (ErrNotSent)              -> the payment failed, nothing pending
//   - the provider answered no (*RefusedError)      -> failed, nothing pending
//   - anything else after the request may have arrived -> unknown: never sent again,
//     resolved later by checking or by the period report.
//
// Notifications and callbacks (Payson's notificationUri, Resurs's
// callbacks) are hints: whoever receives one calls the register's Hint,
// which checks that payment at once. Only a Check decides; a till listens on
// loopback only, so checking is the source of truth.
package payment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/posd/posd/internal/money"
)

// Provider is one payment provider as the register uses it. Methods take a
// ctx that bounds the call; none of them retries a call that may have
// arrived (the register decides what happens next).
type Provider interface {
	// Name is the provider's key in config, the database and the receipt
	// file: "seqr", "resurs", "payson".
	Name() string
	// Methods lists the payment methods this provider takes ("seqr";
	// "resurs", "resurs_later"; "payson").
	Methods() []string
	// Policy is how the register follows a payment of method.
	Policy(method string) Policy

	// Ready says whether the till can take payments of this provider now:
	// nil, or a *NotReadyError naming the missing step (enrolment,
	// credentials, SEQR id). It does not call the provider.
	Ready(ctx context.Context) error
	// Probe checks that the provider answers at all (the offline gate). It
	// must not change anything at the provider.
	Probe(ctx context.Context) error

	// Start creates the provider's session for an order: exactly once per
	// payment. See the package doc for what its error means.
	Start(ctx context.Context, o Order) (Session, error)
	// Check asks where a session stands. An error never decides a payment:
	// a *RefusedError is shown to the cashier while checking goes on; any
	// other error marks an outage.
	Check(ctx context.Context, s Session) (Check, error)
	// Cancel asks the provider to cancel a session. An error leaves the
	// payment open (*RefusedError: the provider said no; other: it may not
	// have arrived).
	Cancel(ctx context.Context, s Session) (CancelOutcome, error)
	// Refund refunds all or part of a paid payment, with its own provider
	// reference. Errors as for Start.
	Refund(ctx context.Context, r RefundOrder) (Refunded, error)

	// AfterPaid lists the tasks that must follow "paid" (SEQR's
	// submitPaymentReceipt, Resurs's finalizePayment for "Betala sen",
	// Payson's ship). The register commits them with the paid state and
	// runs each through the outbox until RunTask returns nil.
	AfterPaid(o Order, s Session, paid Check) []Task
	// RunTask runs one outbox task. nil: done. An error is retried with
	// backoff; a *RefusedError whose Permanent is set is given up and
	// raised for manual handling.
	RunTask(ctx context.Context, t Task) error
}

// Policy is how the register follows one payment method.
type Policy struct {
	// CheckInterval is the cadence of Check (a ticker, never sleep-after-reply).
	CheckInterval time.Duration
	// CheckTimeout bounds one Check call; ticks meanwhile are skipped.
	CheckTimeout time.Duration
	// CallTimeout bounds Start, Cancel, Refund and tasks.
	CallTimeout time.Duration
	// Window is one window of checking after which the cashier decides
	// "try again" or "cancel". Zero: no window (the payment does not hold
	// the till's screen, as "Betala sen").
	Window time.Duration
	// DecisionLimit is how long a payment may await the cashier's decision
	// before posd cancels it itself.
	DecisionLimit time.Duration
	// LongLived payments wait hours to days for the customer ("Betala
	// sen"): they never hold the till, survive restarts, are checked at
	// CheckInterval spread over the interval after a restart, and end at
	// the session's expiry (reported by Check).
	LongLived bool
	// OneOpen: the provider allows one open payment per terminal (a new
	// SEQR invoice silently cancels the previous one), so the register
	// refuses a second while one is open.
	OneOpen bool
}

// Order is what a payment asks a provider to take.
type Order struct {
	PaymentID    string // posd's payment id (32 hex digits): unique, never reused
	Method       string
	Amount       money.Amount // to take by this method
	Currency     string       // ISO 4217
	ReceiptTotal money.Amount // the sum of Rows
	Rows         []Row
	Title        string
	CashierID    string
	SaleID       string
	IssuedAt     time.Time
	Customer     *Customer // optional pre-fill (Resurs)
	ValidUntil   time.Time // "Betala sen": when the customer's link expires; zero: the provider's default
}

// Row is one receipt row of an order.
type Row struct {
	Description string
	Quantity    string       // exact decimal text, > 0 ("1", "0.5")
	UnitPrice   money.Amount // incl. VAT; 0: not given
	Total       money.Amount // incl. VAT; negative for a discount
	TaxRate     string       // percent as exact decimal text ("25", "12.5"); "" not given
	SKU         string
	EAN         string
}

// Customer is the customer's data a cashier may enter for the provider.
type Customer struct {
	GovernmentID string `json:"governmentId,omitempty"`
	Mobile       string `json:"mobile,omitempty"`
	Email        string `json:"email,omitempty"`
}

// Balancing row texts: the row that makes a provider's rows sum to the
// amount it takes when that differs from the receipt total.
const (
	BalancingOtherText  = "Other payment" // amount < total: the rest is paid otherwise (split tender)
	BalancingChangeText = "Change"        // amount > total: change given back
)

// BalancedRows returns the order's rows plus, when Amount differs from
// ReceiptTotal, one balancing row so that they sum to Amount.
func (o Order) BalancedRows() []Row {
	rows := append([]Row(nil), o.Rows...)
	if diff := o.Amount - o.ReceiptTotal; diff != 0 {
		text := BalancingOtherText
		if diff > 0 {
			text = BalancingChangeText
		}
		rows = append(rows, Row{Description: text, Quantity: "1", Total: diff})
	}
	return rows
}

// Session is a provider's session of one payment, as stored with it.
type Session struct {
	// Ref is the provider's reference of the session: SEQR's
	// invoiceReference, Resurs's order reference, Payson's checkout id.
	Ref string
	// Data is provider-private, stored verbatim and given back on every call.
	Data []byte
	// View is what the customer or cashier must see (nil for SEQR).
	View *CustomerView
	// Progress is an opaque counter the provider advances through Check
	// (SEQR's invoiceVersion); stored with the payment.
	Progress int64
	// Method and PaymentID repeat the order's, for the provider's use.
	Method    string
	PaymentID string
}

// CustomerView is what the cashier page shows for a session.
type CustomerView struct {
	URL  string `json:"url,omitempty"`  // a page for the customer (QR code, link)
	HTML string `json:"html,omitempty"` // an iframe or snippet to embed
}

// Status is where a session stands.
type Status int

// The statuses a Check reports.
const (
	Pending Status = iota
	Paid
	Canceled
	Failed
)

func (s Status) String() string {
	switch s {
	case Pending:
		return "pending"
	case Paid:
		return "paid"
	case Canceled:
		return "canceled"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Check is a provider's answer about a session.
type Check struct {
	Status Status
	// Note: pending, a short note for the cashier ("customer signing",
	// "fraud check"); canceled or failed, the provider's reason.
	Note string
	// TransactionRef is the provider's reference of the money movement once
	// paid (SEQR ersReference, Resurs paymentId, Payson purchaseId): unique
	// per provider, the key of the receipt file's post.
	TransactionRef string
	// MethodName is the payment method as the receipt names it ("Faktura").
	MethodName string
	// Progress is the session's new Progress (stored, sent back next time).
	Progress int64
	// Data, when non-nil, replaces the session's provider-private data.
	Data []byte
}

// CancelOutcome is a provider's answer to a cancel.
type CancelOutcome int

// The outcomes of Cancel.
const (
	// Cancelled: the session is canceled (or already was).
	Cancelled CancelOutcome = iota
	// TooLate: the customer has paid; check and record the payment.
	TooLate
	// NotYet: the customer is confirming right now; keep checking.
	NotYet
)

// RefundOrder asks for a refund of a paid payment.
type RefundOrder struct {
	RefundID       string // posd's refund id: unique, never reused
	PaymentID      string
	Method         string
	Session        Session
	TransactionRef string       // the paid payment's TransactionRef
	Amount         money.Amount // > 0
	Currency       string
	Full           bool // Amount is everything not yet refunded
	Paid           money.Amount
	Refunded       money.Amount // refunded before this one
	CashierID      string
	Reason         string
	Order          Order // the paid order (rows), for providers that refund by line
	// Rows, when the cashier named them, are the lines refunded (they sum
	// to Amount); nil: Amount alone.
	Rows []Row
}

// Refunded is a provider's confirmation of a refund.
type Refunded struct {
	Ref string // the refund's own provider reference (unique per provider)
}

// Task is one outbox task that must follow "paid".
type Task struct {
	Kind    string // e.g. "submitPaymentReceipt", "finalizePayment", "ship"
	Payload []byte // the provider's own, stored verbatim
	// PaymentID and Receipt are filled by the register when it runs the
	// task: the payment and its receipt as printed text (never stored).
	PaymentID string
	Receipt   string
}

// Finder is the optional capability of a provider that can find the
// session a Start may have created when its reply was lost (posd stopped
// between sending and saving the reference). SEQR: getPaymentStatus with an
// empty invoiceReference answers with the terminal's current invoice,
// identified once paid by its clientInvoiceId (posd's payment id) and
// amount. The register asks at recovery, at the policy's CheckInterval
// (each ask keeps the session alive where the provider reverses what
// nobody checks), and follows a found session as usual.
type Finder interface {
	// Find returns the session Start created for o; ErrNoSession when the
	// provider has none that can be o's (nothing to follow: not charged);
	// ErrNotYet when it has one that cannot be identified yet (ask again);
	// an error wrapping errors.ErrUnsupported when it cannot look (the
	// payment stays unknown); any other error says nothing (ask again).
	Find(ctx context.Context, o Order) (Session, error)
}

// Outcomes of Finder.Find.
var (
	ErrNoSession = errors.New("no session of this payment at the provider")
	ErrNotYet    = errors.New("a session that cannot be identified yet")
)

// Labeler is the optional capability of a provider that names its
// transaction posts and receipt lines itself ("SEQR payment"); without it
// the register writes the provider's name and the method name.
type Labeler interface {
	// Label names a money movement: kind is "payment" or "refund";
	// methodName is Check.MethodName of the paid payment.
	Label(kind, methodName string) string
}

// Errors the register branches on.
var (
	// ErrNotSent: the request certainly never reached the provider (no
	// connection was ever obtained). The payment fails with nothing pending.
	ErrNotSent = errors.New("not sent")
	// ErrReportNotReady: a period report is not available yet; ask again.
	ErrReportNotReady = errors.New("report not ready")
	// ErrExceeds is wrapped by a *RefusedError when a refund is more than
	// the provider will refund.
	ErrExceeds = errors.New("amount exceeds what the provider allows")
	// ErrInvalidID is wrapped by a *RefusedError when Enroller.AssignID's
	// id is refused by the provider.
	ErrInvalidID = errors.New("id refused by the provider")
	// ErrNotEnrolled and ErrAlreadyEnrolled are an Enroller's answers when
	// the till is not, or already, enrolled.
	ErrNotEnrolled     = errors.New("not enrolled")
	ErrAlreadyEnrolled = errors.New("already enrolled")
)

// RefusedError is a provider's definite "no".
type RefusedError struct {
	Code    string // the provider's code, e.g. "50" or "REFERENCED_DATA_DONT_EXISTS"
	Message string // for the cashier
	// Permanent marks a task the provider will never accept (RunTask).
	Permanent bool
	Err       error // the underlying error, for errors.Is/As
}

func (e *RefusedError) Error() string {
	if e.Code == "" {
		return e.Message
	}
	return fmt.Sprintf("%s (%s)", e.Message, e.Code)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// Refused reports whether err is (or wraps) a provider's definite "no".
func Refused(err error) (*RefusedError, bool) {
	var re *RefusedError
	ok := errors.As(err, &re)
	return re, ok
}

// NotReadyError names the step missing before a provider can take payments.
type NotReadyError struct {
	Provider string
	Step     string // e.g. "register", "seqr_id", "credentials"
	Message  string // what to do
}

func (e *NotReadyError) Error() string { return e.Message }

// Enroller is the optional capability of a provider whose till must be
// enrolled before it takes payments (SEQR's terminal registration and SEQR
// id). Asserted once when the register is built.
type Enroller interface {
	Enrollment(ctx context.Context) (Enrollment, error)
	Enroll(ctx context.Context, req EnrollRequest) (Enrollment, error)
	Unenroll(ctx context.Context) error
	// AssignID assigns the till's id at the provider (SEQR id from the sticker).
	AssignID(ctx context.Context, id string) (Enrollment, error)
	// ValidID checks an id before AssignID (a scanned code that is not one).
	ValidID(id string) error
}

// Enrollment is a till's enrolment as shown (never a secret).
type Enrollment struct {
	Registered         bool
	TerminalID         string
	ExternalTerminalID string
	Name               string
	ID                 string // SEQR id
	RegisteredAt       time.Time
}

// EnrollRequest carries the shop's credentials, used once and never stored.
type EnrollRequest struct {
	ResellerID         string
	ResellerUserID     string
	ResellerPassword   string
	ExternalTerminalID string
	Name               string
}

// Reconciler is the optional capability of a provider with a period report.
type Reconciler interface {
	// MarkPeriod closes the provider's current period (SEQR
	// markTransactionPeriod) and returns its reference; providers without
	// marks return a reference of their own for [from, to).
	MarkPeriod(ctx context.Context, from, to time.Time) (string, error)
	// Report returns the provider's transactions of a marked period, or
	// ErrReportNotReady.
	Report(ctx context.Context, period string, from, to time.Time) (Report, error)
}

// Report is a provider's list of a period's money movements.
type Report struct {
	Count int
	Total money.Amount // payments minus refunds
	Lines []ReportLine
	// Net: the report lists every refund, annulment and additional debit
	// of the period as its own line (Total nets them), so the register
	// compares posd's own with them. Without it only payments are compared.
	Net bool
}

// Add appends a line, counting it and netting it into Total.
func (r *Report) Add(l ReportLine) {
	r.Lines = append(r.Lines, l)
	r.Count++
	if l.Refund {
		r.Total -= l.Amount
	} else {
		r.Total += l.Amount
	}
}

// ReportLine is one money movement in a provider's report.
type ReportLine struct {
	Ref    string       // TransactionRef of a payment, or a refund's Ref
	Refund bool         // a refund (Amount positive, counts against Total)
	Amount money.Amount // > 0
	// SessionRef, when the report says it, is the session's reference (of
	// the payment refunded, for a refund).
	SessionRef string
	// PaymentRef, for a refund when the report says it, is the
	// TransactionRef of the payment refunded (SEQR's PaymentErsReference).
	PaymentRef string
}
