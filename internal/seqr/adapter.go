package seqr

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/posd/posd/internal/payment"
)

// The SEQR adapter: SEQR behind the payment contract. It maps SEQR's
// statuses and result codes onto the register's few outcomes (spec 4.1,
// reliability P5: only a final status, a successful cancel or 95 makes a
// payment "not paid"):
//
//	sendInvoice    reference              -> session
//	               result code            -> refused (no invoice to poll)
//	               not sent               -> payment.ErrNotSent
//	               other transport/fault  -> may have arrived (unknown)
//	getPaymentStatus PAID                 -> paid (ersReference)
//	               CANCELED               -> canceled; FAILED, EXPIRED -> failed
//	               ISSUED, PENDING_..., RESERVED, unknown -> pending
//	               90, 93, 94, transport  -> outage (plain error)
//	               any other code         -> refused: shown, checking goes on
//	cancelInvoice  0, 95 -> canceled; 50 -> too late; 48, 51 -> not yet

// Provider name, method and task kind of SEQR.
const (
	Name       = "seqr"
	TaskSubmit = "submitPaymentReceipt"
)

// Registration is the till's SEQR terminal as stored (with its secret).
type Registration struct {
	TerminalID         string
	Password           string
	SeqrID             string
	ExternalTerminalID string
	Name               string
	RegisteredAt       time.Time
}

// RegistrationStore keeps the till's registration; cmd/posd backs it with
// SQLite. Load answers ok=false when the till is not registered.
type RegistrationStore interface {
	LoadRegistration(ctx context.Context) (reg Registration, ok bool, err error)
	SaveRegistration(ctx context.Context, reg Registration) error
	SaveSeqrID(ctx context.Context, seqrID string) error
	DeleteRegistration(ctx context.Context) error
}

// AdapterConfig tunes the adapter.
type AdapterConfig struct {
	Policy payment.Policy // zero fields take SEQR's certified timings
}

// DefaultPolicy is SEQR's certified timing: a poll a second, 30 s windows,
// 5 min for the cashier's decision, one open invoice per terminal.
func DefaultPolicy() payment.Policy {
	return payment.Policy{
		CheckInterval: time.Second,
		CheckTimeout:  3 * time.Second, // a hung poll costs at most this + one tick: under the 5 s gap (K1)
		CallTimeout:   10 * time.Second,
		Window:        30 * time.Second,
		DecisionLimit: 5 * time.Minute,
		OneOpen:       true,
	}
}

// Operations are the SEQR calls the adapter makes; *Client has them all.
type Operations interface {
	RegisterTerminal(ctx context.Context, reseller Principal, externalTerminalID, password, name string) (string, error)
	UnregisterTerminal(ctx context.Context, p Principal) error
	AssignSeqrID(ctx context.Context, p Principal, seqrID string) error
	SendInvoice(ctx context.Context, p Principal, inv Invoice, tokens []CustomerToken) (SendInvoiceResult, error)
	GetPaymentStatus(ctx context.Context, p Principal, ref string, version int) (PaymentStatus, error)
	CancelInvoice(ctx context.Context, p Principal, ref string) error
	SubmitPaymentReceipt(ctx context.Context, p Principal, ersRef string, doc ReceiptDocument) error
	RefundPayment(ctx context.Context, p Principal, ersRef string, inv Invoice) (string, error)
	MarkTransactionPeriod(ctx context.Context, p Principal, params []Param) (string, error)
	ExecuteReport(ctx context.Context, p Principal, reportID, language string, params []Param) (Report, error)
	BenchmarkingNop(ctx context.Context) error
}

// Adapter implements payment.Provider, payment.Enroller,
// payment.Reconciler and payment.Labeler for SEQR.
type Adapter struct {
	client Operations
	store  RegistrationStore
	policy payment.Policy
	now    func() time.Time

	mu     sync.Mutex
	cached *Registration // nil: read from the store
}

// NewAdapter builds the adapter. It starts nothing.
func NewAdapter(client Operations, store RegistrationStore, cfg AdapterConfig, now func() time.Time) (*Adapter, error) {
	if client == nil || store == nil {
		return nil, errors.New("seqr adapter: client and registration store are required")
	}
	if now == nil {
		now = time.Now
	}
	p, d := cfg.Policy, DefaultPolicy()
	for _, f := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&p.CheckInterval, d.CheckInterval}, {&p.CheckTimeout, d.CheckTimeout}, {&p.CallTimeout, d.CallTimeout},
		{&p.Window, d.Window}, {&p.DecisionLimit, d.DecisionLimit},
	} {
		if *f.v <= 0 {
			*f.v = f.def
		}
	}
	p.OneOpen, p.LongLived = true, false
	return &Adapter{client: client, store: store, policy: p, now: now}, nil
}

// Name is "seqr".
func (a *Adapter) Name() string { return Name }

// Methods is SEQR's one method.
func (a *Adapter) Methods() []string { return []string{Name} }

// Policy is SEQR's timing.
func (a *Adapter) Policy(string) payment.Policy { return a.policy }

// Label names SEQR's posts as the receipt file always has.
func (a *Adapter) Label(kind, _ string) string {
	if kind == "refund" {
		return "SEQR refund"
	}
	return "SEQR payment"
}

func (a *Adapter) registration(ctx context.Context) (Registration, bool, error) {
	a.mu.Lock()
	if a.cached != nil {
		r := *a.cached
		a.mu.Unlock()
		return r, true, nil
	}
	a.mu.Unlock()
	reg, ok, err := a.store.LoadRegistration(ctx)
	if err != nil || !ok {
		return reg, ok, err
	}
	a.mu.Lock()
	a.cached = &reg
	a.mu.Unlock()
	return reg, true, nil
}

func (a *Adapter) forget() {
	a.mu.Lock()
	a.cached = nil
	a.mu.Unlock()
}

func (a *Adapter) principal(ctx context.Context) (Principal, error) {
	reg, ok, err := a.registration(ctx)
	if err != nil {
		return Principal{}, err
	}
	if !ok {
		return Principal{}, notRegistered()
	}
	return Terminal(reg.TerminalID, reg.Password), nil
}

func notRegistered() error {
	return &payment.NotReadyError{Provider: Name, Step: "register",
		Message: "terminal not registered: register the till first (POST /v1/terminal/register)"}
}

// Ready answers which step is missing: registration, then the SEQR id.
func (a *Adapter) Ready(ctx context.Context) error {
	reg, ok, err := a.registration(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return notRegistered()
	}
	if reg.SeqrID == "" {
		return &payment.NotReadyError{Provider: Name, Step: "seqr_id",
			Message: "terminal has no SEQR id: assign one first (PUT /v1/terminal/seqr-id or scan the sticker)"}
	}
	return nil
}

// Probe calls benchmarkingNop, which needs no credentials.
func (a *Adapter) Probe(ctx context.Context) error { return a.client.BenchmarkingNop(ctx) }

// Start sends the payment's one invoice.
func (a *Adapter) Start(ctx context.Context, o payment.Order) (payment.Session, error) {
	p, err := a.principal(ctx)
	if err != nil {
		return payment.Session{}, err
	}
	res, err := a.client.SendInvoice(ctx, p, invoiceOf(o), nil)
	if err != nil {
		return payment.Session{}, outcome("sendInvoice", "SEQR refused the invoice", err)
	}
	if res.InvoiceReference == "" {
		return payment.Session{}, errors.New("sendInvoice answered without an invoice reference")
	}
	return payment.Session{Ref: res.InvoiceReference, Method: o.Method, PaymentID: o.PaymentID}, nil
}

// invoiceOf builds the SEQR invoice. A balancing row makes the rows sum to
// the amount taken by SEQR, as SEQR requires.
func invoiceOf(o payment.Order) Invoice {
	rows := o.BalancedRows()
	out := make([]InvoiceRow, 0, len(rows))
	for _, row := range rows {
		ir := InvoiceRow{Description: row.Description, Quantity: row.Quantity, TaxRate: row.TaxRate,
			Total: row.Total, SKU: row.SKU, EAN: row.EAN}
		if row.UnitPrice != 0 {
			u := row.UnitPrice
			ir.UnitPrice = &u
		}
		out = append(out, ir)
	}
	return Invoice{
		PaymentMode:        "IMMEDIATE_DEBIT",
		AcknowledgmentMode: "NO_ACKNOWLEDGMENT",
		IssueDate:          o.IssuedAt.Truncate(time.Second),
		Title:              o.Title,
		ClientInvoiceID:    o.PaymentID,
		Rows:               out,
		Total:              o.Amount,
		Currency:           o.Currency,
		CashierID:          o.CashierID,
	}
}

// transient reports whether a failed call says nothing about the invoice:
// transport errors, SOAP faults and SEQR's 90/93/94.
func transient(err error) bool {
	code, ok := Code(err)
	if !ok {
		return true
	}
	return code == ResultSystemError || code == ResultSystemBusy || code == ResultServiceUnavailable
}

// outcome maps a failed money call: not sent, SEQR said no (a result code),
// or anything else (may have arrived).
func outcome(op, refused string, err error) error {
	if errors.Is(err, ErrNotSent) {
		return fmt.Errorf("%s: %w: %v", op, payment.ErrNotSent, err)
	}
	if code, ok := Code(err); ok {
		return &payment.RefusedError{Code: itoa(code), Message: fmt.Sprintf("%s: %d %s", refused, code, ResultName(code)), Err: err}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// checkError: a code that is not 90/93/94 is SEQR's answer (shown while
// polling goes on); anything else is an outage.
func checkError(op string, err error) error {
	if code, ok := Code(err); ok && !transient(err) {
		return &payment.RefusedError{Code: itoa(code), Message: fmt.Sprintf("%s: %d %s", op, code, ResultName(code)), Err: err}
	}
	if code, ok := Code(err); ok {
		return fmt.Errorf("%s: %d %s: %w", op, code, ResultName(code), err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Check polls the invoice, carrying the last invoiceVersion.
func (a *Adapter) Check(ctx context.Context, s payment.Session) (payment.Check, error) {
	p, err := a.principal(ctx)
	if err != nil {
		return payment.Check{}, err
	}
	st, err := a.client.GetPaymentStatus(ctx, p, s.Ref, int(s.Progress))
	if err != nil {
		return payment.Check{}, checkError("getPaymentStatus", err)
	}
	c := payment.Check{Progress: int64(st.Version), Note: string(st.Status)}
	switch st.Status {
	case StatusPaid:
		ers := st.ERSReference
		if ers == "" && st.Receipt != nil {
			ers = st.Receipt.PaymentReference
		}
		if ers == "" {
			c.Note = "SEQR said PAID without an ersReference; polling again"
			return c, nil
		}
		c.Status, c.TransactionRef, c.MethodName, c.Note = payment.Paid, ers, "SEQR", "SEQR status PAID"
	case StatusCanceled:
		c.Status, c.Note = payment.Canceled, "SEQR status CANCELED"
	case StatusFailed:
		c.Status, c.Note = payment.Failed, "SEQR: payment failed (status FAILED)"
	case StatusExpired:
		c.Status, c.Note = payment.Failed, "SEQR: invoice expired (status EXPIRED)"
	}
	return c, nil
}

// Cancel cancels the invoice: 0 and 95 canceled, 50 paid, 48/51 the
// customer is confirming.
func (a *Adapter) Cancel(ctx context.Context, s payment.Session) (payment.CancelOutcome, error) {
	p, err := a.principal(ctx)
	if err != nil {
		return payment.NotYet, err
	}
	err = a.client.CancelInvoice(ctx, p, s.Ref)
	code, isCode := Code(err)
	switch {
	case err == nil, isCode && code == ResultInvoiceAlreadyCanceled:
		return payment.Cancelled, nil
	case isCode && code == ResultCannotCancelPaidInvoice:
		return payment.TooLate, nil
	case isCode && (code == ResultCannotCancelInvoiceInProgress || code == ResultPaymentInProgress):
		return payment.NotYet, nil
	}
	return payment.NotYet, checkError("cancelInvoice", err)
}

// Refund calls refundPayment against the payment's ersReference.
func (a *Adapter) Refund(ctx context.Context, r payment.RefundOrder) (payment.Refunded, error) {
	p, err := a.principal(ctx)
	if err != nil {
		return payment.Refunded{}, err
	}
	ref, err := a.client.RefundPayment(ctx, p, r.TransactionRef, Invoice{
		Title: "Refund", CashierID: r.CashierID, Total: r.Amount, Currency: r.Currency,
	})
	if err != nil {
		if code, ok := Code(err); ok && code == ResultRefundExceedsOriginal {
			return payment.Refunded{}, &payment.RefusedError{Code: "98", Message: "SEQR: refund exceeds the original payment (98)",
				Err: fmt.Errorf("%w: %w", payment.ErrExceeds, err)}
		}
		return payment.Refunded{}, outcome("refundPayment", "SEQR refused the refund", err)
	}
	if strings.TrimSpace(ref) == "" {
		// Nothing to record or post, yet the refund may have been made.
		return payment.Refunded{}, errors.New("refundPayment answered 0 without an ersReference")
	}
	return payment.Refunded{Ref: ref}, nil
}

// submitPayload is the outbox payload of submitPaymentReceipt (unchanged
// since release 1, so items queued before the seam still run).
type submitPayload struct {
	PaymentID    string `json:"paymentId"`
	ERSReference string `json:"ersReference"`
}

// AfterPaid queues submitPaymentReceipt: SEQR wants the receipt of every payment.
func (a *Adapter) AfterPaid(o payment.Order, _ payment.Session, paid payment.Check) []payment.Task {
	b, _ := json.Marshal(submitPayload{PaymentID: o.PaymentID, ERSReference: paid.TransactionRef}) // plain struct: cannot fail
	return []payment.Task{{Kind: TaskSubmit, Payload: b}}
}

// RunTask sends submitPaymentReceipt with the receipt as HTML.
func (a *Adapter) RunTask(ctx context.Context, t payment.Task) error {
	if t.Kind != TaskSubmit {
		return &payment.RefusedError{Message: fmt.Sprintf("seqr: unknown task %q", t.Kind), Permanent: true}
	}
	var pl submitPayload
	if err := json.Unmarshal(t.Payload, &pl); err != nil {
		return &payment.RefusedError{Message: "seqr: task payload: " + err.Error(), Permanent: true}
	}
	p, err := a.principal(ctx)
	if err != nil {
		return err
	}
	body := "<html><body><pre>" + html.EscapeString(t.Receipt) + "</pre></body></html>"
	err = a.client.SubmitPaymentReceipt(ctx, p, pl.ERSReference,
		ReceiptDocument{MimeType: "text/html", Data: []byte(body), Type: "PAYMENT_RECEIPT"})
	if err != nil {
		return apiError("submitPaymentReceipt", err, p.Password)
	}
	return nil
}

// apiError is err for the API: a SEQR answer as refused, a failure to send
// as not sent, anything else with the secrets given taken out of its text.
func apiError(op string, err error, secrets ...string) error {
	if code, ok := Code(err); ok {
		return &payment.RefusedError{Code: itoa(code), Message: fmt.Sprintf("%s: %d %s", op, code, ResultName(code)), Err: err}
	}
	msg := err.Error()
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	if errors.Is(err, ErrNotSent) {
		return fmt.Errorf("%s: %w: %s", op, payment.ErrNotSent, msg)
	}
	return fmt.Errorf("%s: %s", op, msg)
}

// Enrollment is the till's registration without its password.
func (a *Adapter) Enrollment(ctx context.Context) (payment.Enrollment, error) {
	reg, ok, err := a.registration(ctx)
	if err != nil {
		return payment.Enrollment{}, err
	}
	if !ok {
		return payment.Enrollment{}, nil
	}
	return enrollmentOf(reg), nil
}

func enrollmentOf(reg Registration) payment.Enrollment {
	return payment.Enrollment{Registered: true, TerminalID: reg.TerminalID, ExternalTerminalID: reg.ExternalTerminalID,
		Name: reg.Name, ID: reg.SeqrID, RegisteredAt: reg.RegisteredAt}
}

const passwordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newPassword returns 24 random alphanumerics (about 143 bits).
func newPassword() (string, error) {
	var b strings.Builder
	max := big.NewInt(int64(len(passwordAlphabet)))
	for range 24 {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("generate terminal password: %w", err)
		}
		b.WriteByte(passwordAlphabet[n.Int64()])
	}
	return b.String(), nil
}

// Enroll registers the till with the shop's reseller credentials, used for
// this one call and never stored or logged. The terminal password is
// generated here and stored.
func (a *Adapter) Enroll(ctx context.Context, req payment.EnrollRequest) (payment.Enrollment, error) {
	if _, ok, err := a.registration(ctx); err != nil {
		return payment.Enrollment{}, err
	} else if ok {
		return payment.Enrollment{}, payment.ErrAlreadyEnrolled
	}
	password, err := newPassword()
	if err != nil {
		return payment.Enrollment{}, err
	}
	reseller := Principal{Type: PrincipalResellerUser, ID: req.ResellerID, UserID: req.ResellerUserID, Password: req.ResellerPassword}
	id, err := a.client.RegisterTerminal(ctx, reseller, req.ExternalTerminalID, password, req.Name)
	if err != nil {
		return payment.Enrollment{}, apiError("register terminal", err, req.ResellerPassword, password)
	}
	reg := Registration{TerminalID: id, Password: password, ExternalTerminalID: req.ExternalTerminalID, Name: req.Name,
		RegisteredAt: a.now().UTC()}
	if err := a.store.SaveRegistration(ctx, reg); err != nil {
		return payment.Enrollment{}, fmt.Errorf("save registration of terminal %s: %w", id, err)
	}
	a.forget()
	return a.Enrollment(ctx)
}

// Unenroll removes the till from SEQR and forgets it locally. 29: SEQR no
// longer knows the terminal, so forgetting it is right.
func (a *Adapter) Unenroll(ctx context.Context) error {
	reg, ok, err := a.registration(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return payment.ErrNotEnrolled
	}
	if err := a.client.UnregisterTerminal(ctx, Terminal(reg.TerminalID, reg.Password)); err != nil {
		if code, ok := Code(err); !ok || code != ResultInvalidInitiatorPrincipalID {
			return apiError("unregister terminal", err, reg.Password)
		}
	}
	defer a.forget()
	if err := a.store.DeleteRegistration(ctx); err != nil {
		return fmt.Errorf("forget terminal %s: %w", reg.TerminalID, err)
	}
	return nil
}

// ValidID accepts 1 to 64 letters or digits.
func (a *Adapter) ValidID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("must be 1 to 64 letters or digits, got %q", id)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return fmt.Errorf("must be 1 to 64 letters or digits, got %q", id)
		}
	}
	return nil
}

// AssignID ties the till's sticker (its SEQR id) to the terminal.
func (a *Adapter) AssignID(ctx context.Context, seqrID string) (payment.Enrollment, error) {
	reg, ok, err := a.registration(ctx)
	if err != nil {
		return payment.Enrollment{}, err
	}
	if !ok {
		return payment.Enrollment{}, payment.ErrNotEnrolled
	}
	if err := a.client.AssignSeqrID(ctx, Terminal(reg.TerminalID, reg.Password), seqrID); err != nil {
		if code, ok := Code(err); ok && code == ResultInvalidSeqrID {
			return payment.Enrollment{}, &payment.RefusedError{Code: "53", Err: fmt.Errorf("%w: %w", payment.ErrInvalidID, err),
				Message: fmt.Sprintf("SEQR refused %q (53 INVALID_SEQR_ID): not a valid sticker id or assigned to another till", seqrID)}
		}
		return payment.Enrollment{}, apiError("assign seqr id", err, reg.Password)
	}
	defer a.forget()
	if err := a.store.SaveSeqrID(ctx, seqrID); err != nil {
		return payment.Enrollment{}, fmt.Errorf("save seqr id: %w", err)
	}
	a.forget()
	return a.Enrollment(ctx)
}
