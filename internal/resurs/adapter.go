package resurs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/posd/posd/internal/payment"
	"go.uber.org/zap"
)

// The Resurs adapter: Resurs Bank behind the payment contract.
//
//	Start    POST /payments/{orderReference}   -> session (iframe HTML + its src)
//	Check    GET  /payments/{orderReference}   404            -> pending "waiting for the customer"
//	                                                             ("Betala sen" past its valid-to -> canceled)
//	                                           frozen         -> pending "fraud check"
//	                                           annulled       -> canceled
//	                                           finalized      -> paid (paymentId, method name)
//	                                           booked, DEBITABLE, not finalized -> paid + finalize task
//	Cancel   nothing booked  -> the session is replaced by a re-POST (the old iframe and
//	                            "Betala sen" link become obsolete); 400 "already exists" -> too late
//	         frozen -> not yet; booked (finalized or not) -> too late: the sale is recorded
//	                            paid, and the cashier annuls or refunds it
//	Refund   creditPayment (no spec = everything left; else one line of the amount)
//	Annul    annulPayment of what is not yet finalized (ops.go)
//	AdditionalDebit additionalDebitOfPayment, then finalizePayment through the outbox (ops.go)
//	RunTask  finalizePayment, after reading the payment back (spec F: Resurs has no idempotency);
//	                            nothing left after posd's own annulment -> done
//
// Every money call reads the payment back before it is repeated, and once
// right after a reply was lost, so a retry never finalizes or credits twice.

// Provider name, methods and task kind.
const (
	Name         = "resurs"
	MethodPOS    = "resurs"       // Checkout POS at the till; finalized by Resurs
	MethodLater  = "resurs_later" // "Betala sen": the customer pays later through a link
	TaskFinalize = "finalizePayment"
)

// Defaults of AdapterConfig.
const (
	DefaultCheckInterval      = 2 * time.Second
	DefaultLaterCheckInterval = time.Minute
	DefaultLaterValidity      = 24 * time.Hour
)

// AdapterConfig is the adapter's configuration: the providers.resurs block
// of posd's config, with secrets already read from their files.
type AdapterConfig struct {
	POSURL       string // e.g. https://postest.resurs.com/pos
	AfterShopURL string // e.g. https://test.resurs.com/ecommerce-test/ws/V4/AfterShopFlowService
	MAPIURL      string // e.g. https://apigw.integration.resurs.com/api; "" disables the widget calls
	Username     string // web-service account (POS and After Shop)
	Password     string
	ClientID     string // Merchant API
	ClientSecret string
	MAPIScope    string // default mock-merchant-api
	StoreID      string // sent with each session; the widget needs it as a UUID

	SuccessURL  string
	BackURL     string
	CallbackURL string // paymentCreatedCallbackUrl: a hint to check, never a decision
	ShopURL     string

	// RefPrefix starts every order reference (store and till, e.g.
	// "S12T3-"): references are unique per web-service account, not per
	// store. At most 12 characters of [A-Za-z0-9-].
	RefPrefix string

	CheckInterval      time.Duration // "resurs"; default 2 s
	Window             time.Duration // "resurs": the cashier's window; default 3 min (the customer e-signs)
	DecisionLimit      time.Duration // "resurs": how long a payment may await the cashier; default 10 min
	LaterCheckInterval time.Duration // "resurs_later"; default 1 min
	LaterValidity      time.Duration // "Betala sen" valid-to when the order gives none; default 24 h

	Transport
	Now func() time.Time // nil: time.Now
}

// Adapter implements payment.Provider and payment.Reconciler for Resurs.
type Adapter struct {
	cfg   AdapterConfig
	pos   *POS
	after *AfterShop
	mapi  *MAPI // nil without MAPIURL
	now   func() time.Time
	log   *zap.Logger
}

// NewAdapter builds the three clients from cfg. It starts and sends nothing.
func NewAdapter(cfg AdapterConfig) (*Adapter, error) {
	if len(cfg.RefPrefix) > 12 {
		return nil, fmt.Errorf("resurs: config ref prefix %q is longer than 12 characters", cfg.RefPrefix)
	}
	if cfg.RefPrefix != "" {
		if err := ValidOrderReference(cfg.RefPrefix); err != nil {
			return nil, fmt.Errorf("resurs: config ref prefix: %w", err)
		}
	}
	if cfg.HTTP == nil {
		cfg.HTTP = cfg.Transport.client() // one pool for the three clients
	}
	pos, err := NewPOS(POSConfig{URL: cfg.POSURL, Username: cfg.Username, Password: cfg.Password, Transport: cfg.Transport})
	if err != nil {
		return nil, err
	}
	after, err := NewAfterShop(AfterShopConfig{URL: cfg.AfterShopURL, Username: cfg.Username, Password: cfg.Password, Transport: cfg.Transport})
	if err != nil {
		return nil, err
	}
	a := &Adapter{cfg: cfg, pos: pos, after: after, now: cfg.Now, log: cfg.logger().With(zap.String("provider", Name))}
	if cfg.MAPIURL != "" {
		if a.mapi, err = NewMAPI(MAPIConfig{URL: cfg.MAPIURL, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
			Scope: cfg.MAPIScope, Now: cfg.Now, Transport: cfg.Transport}); err != nil {
			return nil, err
		}
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.cfg.CheckInterval <= 0 {
		a.cfg.CheckInterval = DefaultCheckInterval
	}
	if a.cfg.LaterCheckInterval <= 0 {
		a.cfg.LaterCheckInterval = DefaultLaterCheckInterval
	}
	if a.cfg.LaterValidity <= 0 {
		a.cfg.LaterValidity = DefaultLaterValidity
	}
	if a.cfg.Window <= 0 {
		a.cfg.Window = 3 * time.Minute
	}
	if a.cfg.DecisionLimit < a.cfg.Window {
		a.cfg.DecisionLimit = max(10*time.Minute, a.cfg.Window)
	}
	return a, nil
}

// Name is "resurs".
func (a *Adapter) Name() string { return Name }

// Methods are Checkout POS and "Betala sen".
func (a *Adapter) Methods() []string { return []string{MethodPOS, MethodLater} }

// Policy: POS payments are followed every CheckInterval in windows of
// Window (3 minutes: the customer e-signs with BankID); "Betala sen" is
// long-lived, checked every LaterCheckInterval, without a window.
func (a *Adapter) Policy(method string) payment.Policy {
	if method == MethodLater {
		return payment.Policy{
			CheckInterval: a.cfg.LaterCheckInterval,
			CheckTimeout:  20 * time.Second,
			CallTimeout:   20 * time.Second,
			LongLived:     true,
		}
	}
	return payment.Policy{
		CheckInterval: a.cfg.CheckInterval,
		CheckTimeout:  10 * time.Second,
		CallTimeout:   20 * time.Second,
		Window:        a.cfg.Window,
		DecisionLimit: a.cfg.DecisionLimit,
	}
}

// Label names Resurs's posts: "Resurs Bank Faktura", "Resurs Bank refund".
func (a *Adapter) Label(kind, methodName string) string {
	switch kind {
	case "refund":
		return "Resurs Bank refund"
	case "annul":
		return "Resurs Bank annulment"
	case "debit":
		return "Resurs Bank additional debit"
	}
	return strings.TrimSpace("Resurs Bank " + methodName)
}

// Ready needs the web-service credentials; it calls nobody.
func (a *Adapter) Ready(context.Context) error {
	if a.cfg.Username == "" || a.cfg.Password == "" {
		return &payment.NotReadyError{Provider: Name, Step: "credentials",
			Message: "Resurs Bank credentials are not configured: set providers.resurs.username and password_file"}
	}
	return nil
}

// probeRef is an order reference no payment ever has.
const probeRef = "posd-probe"

// Probe reads a reference that does not exist: a 404 proves that Resurs
// answers and accepts the credentials, and changes nothing.
func (a *Adapter) Probe(ctx context.Context) error {
	_, err := a.pos.GetPayment(ctx, probeRef)
	if err == nil || errors.Is(err, ErrNotFound) {
		return nil
	}
	return fmt.Errorf("resurs probe: %w", err)
}

// sessionData is the adapter's private data stored with a session.
type sessionData struct {
	SessionID  string      `json:"sessionId"`
	ValidUntil time.Time   `json:"validUntil,omitzero"` // "Betala sen"
	Lines      []OrderLine `json:"lines"`               // for the replacing re-POST of Cancel
	// Finalize is set by Check when the booked payment waits for posd's
	// finalizePayment (AfterPaid then queues it).
	Finalize bool `json:"finalize,omitempty"`
}

func decodeData(b []byte) sessionData {
	var d sessionData
	_ = json.Unmarshal(b, &d) // absent or foreign data reads as empty: nothing below depends on it for money
	return d
}

// OrderRef is the order reference of a payment: RefPrefix + posd's payment
// id (never reused), cut to 32 characters. Characters outside
// [A-Za-z0-9-] are left out.
func (a *Adapter) OrderRef(paymentID string) string {
	var b strings.Builder
	b.WriteString(a.cfg.RefPrefix)
	for i := 0; i < len(paymentID) && b.Len() < 32; i++ {
		c := paymentID[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func (a *Adapter) sessionRequest(lines []OrderLine) SessionRequest {
	return SessionRequest{
		OrderLines: lines, SuccessURL: a.cfg.SuccessURL, BackURL: a.cfg.BackURL,
		PaymentCreatedCallbackURL: a.cfg.CallbackURL, ShopURL: a.cfg.ShopURL, StoreID: a.cfg.StoreID,
	}
}

// Start creates the payment's checkout session.
func (a *Adapter) Start(ctx context.Context, o payment.Order) (payment.Session, error) {
	ref := a.OrderRef(o.PaymentID)
	if err := ValidOrderReference(ref); err != nil {
		return payment.Session{}, fmt.Errorf("resurs start: %w: %v", payment.ErrNotSent, err)
	}
	if o.Currency != "" && o.Currency != "SEK" {
		return payment.Session{}, &payment.RefusedError{Code: "currency", Message: "Resurs Bank at the till takes SEK only",
			Err: fmt.Errorf("currency %s: %w", o.Currency, payment.ErrNotSent)}
	}
	lines, err := LinesOf(o.BalancedRows())
	if err != nil {
		return payment.Session{}, fmt.Errorf("resurs start: %w: %v", payment.ErrNotSent, err)
	}
	req := a.sessionRequest(lines)
	if o.SaleID != "" && len([]rune(o.SaleID)) <= 46 {
		req.MetaData = append(req.MetaData, MetaData{Key: "invoiceExtRef", Value: o.SaleID})
	}
	if c := o.Customer; c != nil && (c.GovernmentID != "" || c.Mobile != "" || c.Email != "") {
		req.Customer = &SessionPerson{GovernmentID: c.GovernmentID, Mobile: c.Mobile, Email: c.Email}
	}
	res, err := a.pos.CreateSession(ctx, ref, req)
	if err != nil {
		return payment.Session{}, outcome("create session", "Resurs Bank refused the payment", err)
	}
	d := sessionData{SessionID: res.PaymentSessionID, Lines: lines}
	if o.Method == MethodLater {
		d.ValidUntil = o.ValidUntil
		if d.ValidUntil.IsZero() {
			d.ValidUntil = a.now().Add(a.cfg.LaterValidity)
		}
		d.ValidUntil = d.ValidUntil.UTC()
	}
	data, _ := json.Marshal(d) // plain struct: cannot fail
	return payment.Session{
		Ref: ref, Data: data, Method: o.Method, PaymentID: o.PaymentID,
		View: &payment.CustomerView{HTML: res.HTML, URL: res.IframeURL},
	}, nil
}

// Check reads the payment booked under the session's order reference.
func (a *Adapter) Check(ctx context.Context, s payment.Session) (payment.Check, error) {
	p, err := a.pos.GetPayment(ctx, s.Ref)
	if errors.Is(err, ErrNotFound) {
		return a.unbooked(s, err), nil
	}
	if err != nil {
		return payment.Check{}, checkError("check payment", err)
	}
	return a.checkOf(s, p), nil
}

// unbooked reads a 404: nothing is booked yet. A session state the server
// adds to its 404 (see APIError.SessionStatus) ends a rejected, expired or
// replaced session; without one, only "Betala sen"'s own valid-to does.
func (a *Adapter) unbooked(s payment.Session, err error) payment.Check {
	var ae *APIError
	errors.As(err, &ae)
	var status, msg string
	if ae != nil {
		status, msg = ae.SessionStatus, ae.UserMessage
	}
	with := func(def string) string {
		if msg != "" {
			return msg
		}
		return def
	}
	switch status {
	case "REJECTED":
		return payment.Check{Status: payment.Failed, Note: with("Resurs Bank rejected the purchase")}
	case "EXPIRED":
		return payment.Check{Status: payment.Canceled, Note: with("the Resurs Bank session expired unpaid")}
	case "REPLACED":
		return payment.Check{Status: payment.Canceled, Note: "the Resurs Bank session was replaced"}
	}
	validUntil := decodeData(s.Data).ValidUntil
	if ae != nil && !ae.ValidTo.IsZero() {
		validUntil = ae.ValidTo.Time // the valid-to the cashier chose in the checkout
	}
	if s.Method == MethodLater && !validUntil.IsZero() && a.now().After(validUntil) {
		return payment.Check{Status: payment.Canceled, Note: "Betala sen: the customer's link expired unpaid"}
	}
	switch status {
	case "INSPECTION":
		return payment.Check{Status: payment.Pending, Note: with("Resurs Bank is checking the application")}
	case "LINK_SENT":
		return payment.Check{Status: payment.Pending, Note: "Betala sen: link sent, waiting for the customer"}
	}
	return payment.Check{Status: payment.Pending, Note: "waiting for the customer"}
}

func (a *Adapter) checkOf(s payment.Session, p Payment) payment.Check {
	switch {
	case p.Frozen:
		return payment.Check{Status: payment.Pending, Note: "fraud check: Resurs Bank has frozen the payment"}
	case p.IsAnnulled():
		return payment.Check{Status: payment.Canceled, Note: "annulled by Resurs Bank"}
	case p.IsFinalized():
		return payment.Check{Status: payment.Paid, TransactionRef: p.ID, MethodName: p.PaymentMethodName, Note: "booked and finalized"}
	case p.Has(StatusDebitable) || p.Debitable().Sign() > 0:
		// Booked, not finalized: "Betala sen" paid through the link (or a
		// POS payment Resurs left to the merchant). posd finalizes it.
		d := decodeData(s.Data)
		d.Finalize = true
		data, _ := json.Marshal(d)
		return payment.Check{Status: payment.Paid, TransactionRef: p.ID, MethodName: p.PaymentMethodName,
			Note: "booked; finalizing", Data: data}
	}
	return payment.Check{Status: payment.Pending, Note: "booked, waiting for Resurs Bank"}
}

// finalizePayload is the outbox payload of finalizePayment.
type finalizePayload struct {
	PaymentID string `json:"paymentId"`
}

// AfterPaid queues finalizePayment when Check found the payment waiting for it.
func (a *Adapter) AfterPaid(_ payment.Order, s payment.Session, paid payment.Check) []payment.Task {
	data := paid.Data
	if data == nil {
		data = s.Data
	}
	if !decodeData(data).Finalize || paid.TransactionRef == "" {
		return nil
	}
	b, _ := json.Marshal(finalizePayload{PaymentID: paid.TransactionRef})
	return []payment.Task{{Kind: TaskFinalize, Payload: b}}
}

// RunTask runs finalizePayment. It reads the payment first: one already
// finalized is done, so a retry after a lost reply never finalizes twice.
func (a *Adapter) RunTask(ctx context.Context, t payment.Task) error {
	if t.Kind != TaskFinalize {
		return &payment.RefusedError{Message: fmt.Sprintf("resurs: unknown task %q", t.Kind), Permanent: true}
	}
	var pl finalizePayload
	if err := json.Unmarshal(t.Payload, &pl); err != nil || pl.PaymentID == "" {
		return &payment.RefusedError{Message: "resurs: finalize task without a payment id", Permanent: true}
	}
	done, err := a.finalized(ctx, pl.PaymentID)
	if done || err != nil {
		return err
	}
	err = a.after.FinalizePayment(ctx, FinalizeRequest{PaymentID: pl.PaymentID, CreatedBy: "posd"})
	if err == nil {
		return nil
	}
	var f *Fault
	if errors.As(err, &f) {
		// A refusal may be stale state (finalized meanwhile): the next
		// attempt reads back first. Only input errors are final.
		permanent := f.ErrorTypeID == ErrorIllegalArgument || f.ErrorTypeID == ErrorNotAllowed || f.ErrorTypeID == ErrorInvalidFinalization
		return &payment.RefusedError{Code: faultCode(f), Message: "Resurs Bank refused finalizePayment: " + f.CashierMessage(), Permanent: permanent, Err: err}
	}
	if errors.Is(err, ErrNotSent) {
		return fmt.Errorf("resurs finalize %s: %w", pl.PaymentID, err)
	}
	// The reply was lost: read back once now, so that a landed finalize
	// ends the task at once.
	if done, rerr := a.finalized(ctx, pl.PaymentID); done && rerr == nil {
		return nil
	}
	return fmt.Errorf("resurs finalize %s: outcome unknown, read back before any retry: %w", pl.PaymentID, err)
}

// finalized reads the payment and says whether nothing is left to finalize.
func (a *Adapter) finalized(ctx context.Context, id string) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	p, err := a.after.GetPayment(ctx, id)
	if err != nil {
		return false, fmt.Errorf("resurs finalize %s: read back: %w", id, err)
	}
	switch {
	case p.Frozen:
		return false, fmt.Errorf("resurs finalize %s: the payment is frozen (fraud check); finalize later", id)
	case p.IsAnnulled() && annulledByPosd(p):
		return true, nil // the cashier annulled it (adjust): nothing is left to capture
	case p.IsAnnulled():
		return false, &payment.RefusedError{Code: "ANNULLED", Message: "Resurs Bank: payment " + id + " is annulled; nothing to finalize", Permanent: true}
	case p.IsFinalized() && p.Debitable().Sign() <= 0:
		return true, nil
	case p.Debitable().Sign() <= 0 && !p.Has(StatusDebitable):
		return true, nil
	}
	return false, nil
}

// annulledByPosd reports whether every annulment of the payment is one of
// posd's own (tagged by Annul), not Resurs's (a fraud decision).
func annulledByPosd(p Payment) bool {
	n := 0
	for _, d := range p.Diffs {
		if d.Type != DiffAnnul {
			continue
		}
		if !strings.HasPrefix(d.CreatedBy, "posd-") {
			return false
		}
		n++
	}
	return n > 0
}

// Cancel cancels what can be canceled. With nothing booked the session is
// replaced by posting the same reference again, which makes the previous
// session (and a "Betala sen" link) obsolete (A.2), so the customer can no
// longer pay the canceled sale; Resurs's "OrderReference already exists"
// says the customer booked first. Anything booked is too late (Check calls
// it paid); a frozen payment waits for Resurs's decision.
func (a *Adapter) Cancel(ctx context.Context, s payment.Session) (payment.CancelOutcome, error) {
	p, err := a.pos.GetPayment(ctx, s.Ref)
	if errors.Is(err, ErrNotFound) {
		return a.replace(ctx, s)
	}
	if err != nil {
		return payment.NotYet, checkError("cancel: read payment", err)
	}
	switch {
	case p.IsAnnulled():
		return payment.Cancelled, nil
	case p.Frozen:
		return payment.NotYet, nil // Resurs decides: thawed (paid) or annulled
	}
	// Booked: finalized, or waiting for posd's finalize ("Betala sen"
	// paid through the link). Check calls both paid, so a cancel is too
	// late whether or not a check ran since the booking: the sale is
	// recorded, never annulled behind the cashier's back (refund it).
	return payment.TooLate, nil
}

func (a *Adapter) replace(ctx context.Context, s payment.Session) (payment.CancelOutcome, error) {
	d := decodeData(s.Data)
	if len(d.Lines) == 0 {
		// Nothing to re-post: the session stays as it is (it expires at Resurs).
		return payment.Cancelled, nil
	}
	_, err := a.pos.CreateSession(ctx, s.Ref, a.sessionRequest(d.Lines))
	var ae *APIError
	switch {
	case err == nil:
		return payment.Cancelled, nil
	case errors.As(err, &ae) && ae.Status == 400 && strings.Contains(strings.ToLower(ae.Message), "already exists"):
		return payment.TooLate, nil
	}
	return payment.NotYet, checkError("cancel: replace session", err)
}

// changeOf checks a refund or annulment order (what: "refund",
// "annulment") and reads its payment fresh: the payment, the tag of posd's
// diff of type diffType, and whether that diff is there already (made
// before, its reply lost).
func (a *Adapter) changeOf(ctx context.Context, what, diffType string, r payment.RefundOrder) (p Payment, tag string, made bool, err error) {
	if r.TransactionRef == "" {
		return Payment{}, "", false, fmt.Errorf("resurs %s: %w: the payment has no Resurs payment id", what, payment.ErrNotSent)
	}
	if r.Amount <= 0 {
		return Payment{}, "", false, fmt.Errorf("resurs %s: %w: amount %s is not positive", what, payment.ErrNotSent, r.Amount)
	}
	tag = creditTag(r.RefundID)
	p, err = a.after.GetPayment(ctx, r.TransactionRef)
	if err != nil {
		return Payment{}, "", false, outcome(what+": read payment", "Resurs Bank refused the "+what, err)
	}
	return p, tag, hasDiff(p, diffType, tag), nil
}

// creditTag marks posd's credits in Resurs's diffs (createdBy), so that a
// credit whose reply was lost is recognised and never made twice.
func creditTag(refundID string) string {
	t := "posd-" + refundID
	if len(t) > 40 {
		t = t[:40]
	}
	return t
}

// Refund credits the payment. It reads the payment first: a credit already
// carrying this refund's tag is this refund (a retry), and Resurs's
// amount rule (B.6: at most debited - credited, CREDITABLE set) is checked
// by posd before anything is sent.
func (a *Adapter) Refund(ctx context.Context, r payment.RefundOrder) (payment.Refunded, error) {
	p, tag, made, err := a.changeOf(ctx, "refund", DiffCredit, r)
	if err != nil {
		return payment.Refunded{}, err
	}
	id := r.TransactionRef
	refunded := payment.Refunded{Ref: id + "/" + tag}
	if made {
		return refunded, nil
	}
	amount := DecimalOfAmount(r.Amount)
	creditable := p.Creditable()
	if !p.Has(StatusCreditable) || creditable.Cmp(amount.Rat()) < 0 {
		max := decimalOfRat(creditable, 5).Round()
		msg := fmt.Sprintf("Resurs Bank can credit at most %s on payment %s", max, id)
		if p.Has(StatusDebitable) && !p.Frozen {
			msg += "; what is not finalized yet is annulled instead"
		}
		return payment.Refunded{}, &payment.RefusedError{Code: "INVALID_CREDITING",
			Message: msg,
			Err:     fmt.Errorf("resurs refund %s of %s: %w", id, r.Amount, payment.ErrNotSent)}
	}
	req := CreditRequest{PaymentID: id, CreatedBy: tag}
	switch {
	case len(r.Rows) > 0:
		// The lines returned, as the cashier named them (the sum is what
		// Resurs checks, B.6; the lines are what its credit note shows).
		lines, err := LinesOf(r.Rows)
		if err == nil {
			req.Spec, err = specOfLines(lines)
		}
		if err != nil {
			return payment.Refunded{}, fmt.Errorf("resurs refund: %w: %v", payment.ErrNotSent, err)
		}
	case !(r.Full && creditable.Cmp(amount.Rat()) == 0):
		spec, err := refundSpec(r, amount)
		if err != nil {
			return payment.Refunded{}, fmt.Errorf("resurs refund: %w: %v", payment.ErrNotSent, err)
		}
		req.Spec = spec
	}
	err = a.after.CreditPayment(ctx, req)
	if err == nil {
		return refunded, nil
	}
	if !errors.Is(err, ErrNotSent) && FaultIDOf(err) == 0 && ctx.Err() == nil {
		if p2, rerr := a.after.GetPayment(ctx, id); rerr == nil && hasDiff(p2, DiffCredit, tag) {
			return refunded, nil
		}
	}
	return payment.Refunded{}, outcome("refund: creditPayment", "Resurs Bank refused the refund", err)
}

// FaultIDOf is the errorTypeId of a *Fault in err's chain, 0 when none.
func FaultIDOf(err error) int {
	id, _ := FaultID(err)
	return id
}

// refundSpec is one line of the refunded amount. Resurs looks at the sum
// only (B.6); the VAT rate is the paid order's when all its taxed rows share
// one, else 0 %.
func refundSpec(r payment.RefundOrder, amount Decimal) (*Spec, error) {
	vat := Decimal("0")
	rates := map[Decimal]bool{}
	for _, row := range r.Order.Rows {
		if row.TaxRate == "" {
			continue
		}
		d, err := ParseDecimal(row.TaxRate)
		if err != nil {
			return nil, fmt.Errorf("row tax rate %q: %w", row.TaxRate, err)
		}
		rates[d] = true
	}
	if len(rates) == 1 {
		for d := range rates {
			vat = d
		}
	}
	factor := new(big.Rat).Add(big.NewRat(1, 1), new(big.Rat).Quo(vat.Rat(), big.NewRat(100, 1)))
	net := decimalOfRat(new(big.Rat).Quo(amount.Rat(), factor), netPlaces)
	vatAmount := decimalOfRat(new(big.Rat).Sub(amount.Rat(), net.Rat()), 2)
	desc := strings.TrimSpace(r.Reason)
	if desc == "" {
		desc = "Återbetalning"
	}
	return &Spec{
		Lines: []SpecLine{{ID: "1", ArtNo: "refund", Description: desc, Quantity: "1", UnitMeasure: "st",
			UnitAmountWithoutVat: net, VatPct: vat, TotalVatAmount: vatAmount, TotalAmount: amount}},
		TotalAmount: amount, TotalVatAmount: vatAmount,
	}, nil
}

// MarkPeriod: Resurs has no period marks; the reference names [from, to).
func (a *Adapter) MarkPeriod(_ context.Context, from, to time.Time) (string, error) {
	return "resurs:" + from.UTC().Format(time.RFC3339) + "/" + to.UTC().Format(time.RFC3339), nil
}

// reportPage is findPayments's page size for the period report.
const reportPage = 100

// Report lists the period's money movements from findPayments (Net: every
// one its own line): payments booked in [from, to) at what was booked less
// Resurs's own annulments (frozen ones left out, as posd has not counted
// them), and every credit, annulment and additional debit made in
// [from, to) on any payment modified since from, read with getPayment
// because findPayments may be minutes old. posd's own are named as posd
// recorded them (payment id + "/posd-" + posd's id); others are listed too,
// as discrepancies.
func (a *Adapter) Report(ctx context.Context, _ string, from, to time.Time) (payment.Report, error) {
	rep := payment.Report{Net: true}
	booked, err := a.findAll(ctx, SearchCriteria{BookedFrom: from, BookedTo: to})
	if err != nil {
		return payment.Report{}, err
	}
	modified, err := a.findAll(ctx, SearchCriteria{ModifiedFrom: from})
	if err != nil {
		return payment.Report{}, err
	}
	seen := map[string]bool{}
	for _, bp := range append(booked, modified...) {
		if seen[bp.PaymentID] {
			continue
		}
		seen[bp.PaymentID] = true
		p, err := a.after.GetPayment(ctx, bp.PaymentID)
		if err != nil {
			return payment.Report{}, fmt.Errorf("resurs report: %w", err)
		}
		if !p.Frozen && !p.Booked.Before(from) && p.Booked.Before(to) {
			v := new(big.Rat)
			for _, d := range p.Diffs {
				switch {
				case strings.HasPrefix(d.CreatedBy, "posd-"): // posd's own: lines of their own below
				case d.Type == DiffAuthorize:
					v.Add(v, d.Spec.TotalAmount.Rat())
				case d.Type == DiffAnnul:
					v.Sub(v, d.Spec.TotalAmount.Rat())
				}
			}
			if amt := decimalOfRat(v, 10).Round(); amt > 0 {
				rep.Add(payment.ReportLine{Ref: p.ID, Amount: amt, SessionRef: p.ID})
			}
		}
		for i, d := range p.Diffs {
			if d.Created.Before(from) || !d.Created.Before(to) {
				continue
			}
			ref := p.ID + "/" + d.CreatedBy
			if !strings.HasPrefix(d.CreatedBy, "posd-") {
				ref = p.ID + "/" + strings.ToLower(d.Type) + "-" + strconv.Itoa(i+1)
			}
			amt := d.Spec.TotalAmount.Round()
			switch {
			case d.Type == DiffCredit, d.Type == DiffAnnul && strings.HasPrefix(d.CreatedBy, "posd-"):
				rep.Add(payment.ReportLine{Ref: ref, Refund: true, Amount: amt, SessionRef: p.ID})
			case d.Type == DiffAuthorize && strings.HasPrefix(d.CreatedBy, "posd-"):
				rep.Add(payment.ReportLine{Ref: ref, Amount: amt, SessionRef: p.ID})
			}
		}
	}
	return rep, nil
}

func (a *Adapter) findAll(ctx context.Context, sc SearchCriteria) ([]BasicPayment, error) {
	var all []BasicPayment
	for page := 1; page <= 1000; page++ {
		ps, err := a.after.FindPayments(ctx, sc, page, reportPage, &SortOrder{Ascending: true, Columns: []string{SortBookedTime}})
		if err != nil {
			return nil, fmt.Errorf("resurs report: %w", err)
		}
		all = append(all, ps...)
		if len(ps) < reportPage {
			return all, nil
		}
	}
	return nil, errors.New("resurs report: more than 100 000 payments in the period")
}

// WidgetSession returns the payment widget session of the configured store
// (cached until it expires), for GET /v1/resurs/widget-session.
func (a *Adapter) WidgetSession(ctx context.Context) (WidgetSession, error) {
	if a.mapi == nil {
		return WidgetSession{}, &payment.NotReadyError{Provider: Name, Step: "credentials", Message: "the Resurs Merchant API is not configured (providers.resurs.mapi_url)"}
	}
	return a.mapi.WidgetSession(ctx, a.cfg.StoreID)
}

// PaymentMethodTypes maps payment method ids to their types for the widget.
func (a *Adapter) PaymentMethodTypes(ctx context.Context, customerType string, methodIDs []string) (map[string]string, error) {
	if a.mapi == nil {
		return nil, &payment.NotReadyError{Provider: Name, Step: "credentials", Message: "the Resurs Merchant API is not configured (providers.resurs.mapi_url)"}
	}
	return a.mapi.PaymentMethodTypes(ctx, a.cfg.StoreID, customerType, methodIDs)
}

// faultCode names a fault for RefusedError.Code.
func faultCode(f *Fault) string {
	if f.Name != "" {
		return f.Name
	}
	return strconv.Itoa(f.ErrorTypeID)
}

// outcome maps a failed money call onto the contract's three outcomes: not
// sent, Resurs said no (a fault or a 4xx), or unknown (may have arrived).
func outcome(op, refused string, err error) error {
	if errors.Is(err, ErrNotSent) {
		return fmt.Errorf("resurs %s: %w: %v", op, payment.ErrNotSent, err)
	}
	if re := refusal(refused, err); re != nil {
		return re
	}
	return fmt.Errorf("resurs %s: %w", op, err)
}

// checkError: Resurs's definite answers are shown while checking goes on;
// anything else (transport, 5xx) marks an outage.
func checkError(op string, err error) error {
	if re := refusal("Resurs Bank", err); re != nil {
		return re
	}
	return fmt.Errorf("resurs %s: %w", op, err)
}

// refusal is Resurs's definite "no" in err, or nil.
func refusal(prefix string, err error) *payment.RefusedError {
	var f *Fault
	if errors.As(err, &f) && f.ErrorTypeID != ErrorInternal {
		return &payment.RefusedError{Code: faultCode(f), Message: prefix + ": " + f.CashierMessage(), Err: err}
	}
	if errors.Is(err, ErrUnauthorized) {
		return &payment.RefusedError{Code: "401", Message: prefix + ": the Resurs Bank credentials were refused", Err: err}
	}
	var ae *APIError
	if errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 && ae.Status != 408 && ae.Status != 429 {
		code := ae.Code
		if code == "" {
			code = strconv.Itoa(ae.Status)
		}
		msg := ae.Message
		if msg == "" {
			msg = fmt.Sprintf("HTTP %d", ae.Status)
		}
		return &payment.RefusedError{Code: code, Message: prefix + ": " + msg, Err: err}
	}
	return nil
}
