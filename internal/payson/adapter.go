package payson

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"math/big"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/payment"
	"go.uber.org/zap"
)

// Provider name, method and outbox task kind.
const (
	Name     = "payson"
	Method   = "payson"
	TaskShip = "ship"
)

// Policy defaults (issue 8).
const (
	DefaultCheckInterval = 2 * time.Second
	DefaultWindow        = 60 * time.Second
	DefaultDecisionLimit = 5 * time.Minute
	defaultCheckTimeout  = 5 * time.Second
	defaultCallTimeout   = 15 * time.Second
	// lookupTimeout bounds the search for a checkout whose create answer
	// was lost; it runs even when the create's own ctx has ended.
	lookupTimeout = 15 * time.Second
)

// AdapterConfig is providers.payson of posd's config, as plain values. The
// API key is the secret itself (cmd/posd reads it from its file).
type AdapterConfig struct {
	URL             string // base up to and including /2.0/
	AgentID         string
	APIKey          string
	CheckoutURI     string
	ConfirmationURI string
	NotificationURI string // a chain server or the emulator: a till listens on loopback only
	TermsURI        string
	ValidationURI   string        // optional
	CheckInterval   time.Duration // 0: DefaultCheckInterval
	Window          time.Duration // 0: DefaultWindow
	DecisionLimit   time.Duration // 0: DefaultDecisionLimit
	Locale          string        // Payson page language ("sv", "en"); "" Payson's default
	HTTPClient      *http.Client
	RootCAs         *x509.CertPool
	Logger          *zap.Logger
}

// Adapter implements payment.Provider (and payment.Reconciler) for Payson.
type Adapter struct {
	cfg    AdapterConfig
	client *Client // nil until credentials are configured
	log    *zap.Logger
}

var (
	_ payment.Provider   = (*Adapter)(nil)
	_ payment.Reconciler = (*Adapter)(nil)
)

// NewAdapter checks cfg and returns the adapter. Missing credentials are
// not an error here: Ready reports them, so the till still starts.
func NewAdapter(cfg AdapterConfig) (*Adapter, error) {
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = DefaultCheckInterval
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.DecisionLimit <= 0 {
		cfg.DecisionLimit = DefaultDecisionLimit
	}
	a := &Adapter{cfg: cfg, log: cfg.Logger}
	if a.log == nil {
		a.log = zap.NewNop()
	}
	if cfg.AgentID != "" && cfg.APIKey != "" {
		c, err := New(Config{URL: cfg.URL, AgentID: cfg.AgentID, APIKey: cfg.APIKey,
			HTTPClient: cfg.HTTPClient, RootCAs: cfg.RootCAs, Logger: a.log})
		if err != nil {
			return nil, err
		}
		a.client = c
	}
	return a, nil
}

// Name implements payment.Provider.
func (a *Adapter) Name() string { return Name }

// Methods implements payment.Provider.
func (a *Adapter) Methods() []string { return []string{Method} }

// Policy implements payment.Provider: a Payson sale holds the till while
// the customer pays on the phone, checked every CheckInterval.
func (a *Adapter) Policy(string) payment.Policy {
	ct := defaultCheckTimeout
	if a.cfg.CheckInterval > ct {
		ct = a.cfg.CheckInterval
	}
	return payment.Policy{CheckInterval: a.cfg.CheckInterval, CheckTimeout: ct, CallTimeout: defaultCallTimeout,
		Window: a.cfg.Window, DecisionLimit: a.cfg.DecisionLimit}
}

func (a *Adapter) notReady() error {
	return &payment.NotReadyError{Provider: Name, Step: "credentials",
		Message: "Payson is not configured: set providers.payson agent_id and api_key_file"}
}

// Ready implements payment.Provider.
func (a *Adapter) Ready(context.Context) error {
	if a.client == nil {
		return a.notReady()
	}
	return nil
}

// Probe implements payment.Provider with GET /Accounts, which changes nothing.
func (a *Adapter) Probe(ctx context.Context) error {
	if a.client == nil {
		return a.notReady()
	}
	if _, err := a.client.Account(ctx); err != nil {
		return err
	}
	return nil
}

// sessionData is the adapter's private part of a session.
type sessionData struct {
	ID string `json:"id"`
}

// notSentErr carries both sentinels: the register branches on
// payment.ErrNotSent, tests and logs on payson.ErrNotSent.
func notSentErr(err error) error {
	return &multiError{msg: err.Error(), errs: []error{payment.ErrNotSent, err}}
}

// refusal turns Payson's 4xx answer into the register's "no".
func refusal(err error) (*payment.RefusedError, bool) {
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status < 400 || ae.Status > 499 {
		return nil, false
	}
	msg := "Payson refused the request"
	if len(ae.Errors) > 0 {
		parts := make([]string, 0, len(ae.Errors))
		for _, pe := range ae.Errors {
			parts = append(parts, pe.Property+": "+pe.Message)
		}
		msg += " (" + strings.Join(parts, "; ") + ")"
	} else if ae.Message != "" {
		msg += ": " + ae.Message
	}
	return &payment.RefusedError{Code: "HTTP " + strconv.Itoa(ae.Status), Message: msg, Err: err}, true
}

// classify maps a client error onto the contract's three outcomes.
func classify(err error) error {
	if re, ok := refusal(err); ok {
		return re
	}
	if errors.Is(err, ErrInvalidRequest) {
		return &payment.RefusedError{Code: "invalid", Message: err.Error(), Err: notSentErr(err)}
	}
	if errors.Is(err, ErrNotSent) {
		return notSentErr(err)
	}
	return err
}

// Start implements payment.Provider: one checkout per payment, with
// merchant.reference = the payment id. When the create's answer is lost the
// checkout may exist: it is looked up by reference, never created again.
func (a *Adapter) Start(ctx context.Context, o payment.Order) (payment.Session, error) {
	if a.client == nil {
		return payment.Session{}, a.notReady()
	}
	nc, err := a.newCheckout(o)
	if err != nil {
		return payment.Session{}, &payment.RefusedError{Code: "invalid", Message: "Payson cannot take this sale: " + err.Error(),
			Err: notSentErr(invalid("create checkout", err))}
	}
	co, err := a.client.Create(ctx, nc)
	if err != nil {
		if c := classify(err); c != err || errors.Is(err, ErrNotSent) {
			return payment.Session{}, c
		}
		// The create may have arrived. Look for it before reporting unknown.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lookupTimeout)
		defer cancel()
		found, ferr := a.client.FindByReference(lctx, o.PaymentID)
		if ferr != nil || len(found) == 0 {
			a.log.Warn("payson create: outcome unknown", zap.String("payment", o.PaymentID),
				zap.Error(err), zap.NamedError("lookup", ferr), zap.Int("found", len(found)))
			return payment.Session{}, fmt.Errorf("payson start %s: outcome unknown: %w", o.PaymentID, err)
		}
		if len(found) > 1 {
			a.log.Error("payson: several checkouts carry one payment's reference", zap.String("payment", o.PaymentID), zap.Int("count", len(found)))
		}
		a.log.Info("payson create: answer lost, checkout found by reference", zap.String("payment", o.PaymentID), zap.String("checkout", found[0].ID))
		co = found[0]
	}
	return a.session(o, co), nil
}

func (a *Adapter) session(o payment.Order, co Checkout) payment.Session {
	data, _ := json.Marshal(sessionData{ID: co.ID})
	return payment.Session{Ref: co.ID, Data: data, Method: o.Method, PaymentID: o.PaymentID,
		View: &payment.CustomerView{HTML: co.Snippet, URL: SnippetURL(co.Snippet)}}
}

var srcAttr = regexp.MustCompile(`(?i)\bsrc\s*=\s*("([^"]*)"|'([^']*)')`)

// SnippetURL returns the page a snippet embeds (its iframe's src), for a
// QR code on the customer's phone; "" when the snippet has none.
func SnippetURL(snippet string) string {
	m := srcAttr.FindStringSubmatch(snippet)
	if m == nil {
		return ""
	}
	u := m[2]
	if u == "" {
		u = m[3]
	}
	u = html.UnescapeString(u)
	if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		return ""
	}
	return u
}

// newCheckout builds the create request of an order. Rows become items with
// unitPrice incl. tax; a row whose unit price times quantity is not its
// total is sent as one line of its total, so Payson's sum is the amount.
func (a *Adapter) newCheckout(o payment.Order) (NewCheckout, error) {
	nc := NewCheckout{Currency: o.Currency, Description: o.Title, ExpirationTime: o.ValidUntil,
		Merchant: Merchant{CheckoutURI: a.cfg.CheckoutURI, ConfirmationURI: a.cfg.ConfirmationURI,
			NotificationURI: a.cfg.NotificationURI, TermsURI: a.cfg.TermsURI, ValidationURI: a.cfg.ValidationURI,
			Reference: o.PaymentID}}
	if a.cfg.Locale != "" {
		nc.Gui = &Gui{Locale: a.cfg.Locale}
	}
	if o.Customer != nil {
		nc.Customer = &Customer{Email: o.Customer.Email, Phone: o.Customer.Mobile, IdentityNumber: o.Customer.GovernmentID}
	}
	var sum money.Amount
	for i, r := range o.BalancedRows() {
		it, err := rowItem(r)
		if err != nil {
			return nc, fmt.Errorf("row %d: %w", i+1, err)
		}
		nc.Items = append(nc.Items, it)
		sum += r.Total
	}
	if sum != o.Amount {
		return nc, fmt.Errorf("rows sum to %s, the amount is %s", sum, o.Amount)
	}
	if err := ValidateNew(nc); err != nil {
		return nc, err
	}
	t, err := OrderTotals(nc.Items)
	if err != nil {
		return nc, err
	}
	if t.IncludingTax != o.Amount {
		return nc, fmt.Errorf("Payson's total %s differs from the amount %s", t.IncludingTax, o.Amount)
	}
	return nc, nil
}

func rowItem(r payment.Row) (Item, error) {
	name := r.Description
	if name == "" {
		name = "Vara"
	}
	if n := []rune(name); len(n) > 200 {
		name = string(n[:200])
	}
	it := Item{Name: name, Reference: r.SKU, EAN: r.EAN, Quantity: "1", UnitPrice: r.Total, TaxRate: "0"}
	if r.Total < 0 {
		it.Type = ItemDiscount
	}
	if r.TaxRate != "" {
		f, err := PercentToFraction(r.TaxRate)
		if err != nil {
			return Item{}, err
		}
		it.TaxRate = f
	}
	if len(it.Reference) > 100 {
		it.Reference = it.Reference[:100]
	}
	if it.EAN != "" && (len(it.EAN) < 8 || len(it.EAN) > 18 || strings.Trim(it.EAN, "0123456789") != "") {
		it.EAN = ""
	}
	// Quantity x unit price when that is exactly the row's total; otherwise
	// one line of the total, the quantity kept in the name.
	if r.Quantity != "" && r.Quantity != "1" {
		q, err := parseDec(r.Quantity)
		if err == nil && q.Sign() > 0 && r.UnitPrice != 0 &&
			new(big.Rat).Mul(q, ratOf(r.UnitPrice)).Cmp(ratOf(r.Total)) == 0 {
			it.Quantity, it.UnitPrice = decText(q), r.UnitPrice
		} else {
			it.Name = truncate(r.Quantity+" × "+name, 200)
		}
	}
	return it, nil
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}

// checkoutID is the session's checkout id: its Ref, or the id kept in Data.
func checkoutID(s payment.Session) string {
	if s.Ref != "" {
		return s.Ref
	}
	var d sessionData
	if json.Unmarshal(s.Data, &d) == nil {
		return d.ID
	}
	return ""
}

var statusNotes = map[Status]string{
	StatusCreated:           "waiting for the customer",
	StatusFormsFilled:       "customer has filled in the form",
	StatusReadyToPay:        "customer is choosing how to pay",
	StatusProcessingPayment: "payment is being processed",
}

var methodNames = map[string]string{"invoice": "Faktura", "card": "Kort", "bank": "Bank"}

// Check implements payment.Provider.
func (a *Adapter) Check(ctx context.Context, s payment.Session) (payment.Check, error) {
	if a.client == nil {
		return payment.Check{}, a.notReady()
	}
	id := checkoutID(s)
	var co Checkout
	var data []byte
	if id == "" {
		// A create whose answer was lost: the checkout, if any, carries the payment id.
		found, err := a.client.FindByReference(ctx, s.PaymentID)
		if err != nil {
			return payment.Check{}, classify(err)
		}
		if len(found) == 0 {
			// Nobody saw a snippet of a checkout that does not exist, so no
			// customer can pay this payment.
			return payment.Check{Status: payment.Failed, Note: "no checkout was created at Payson"}, nil
		}
		co = found[0]
		data, _ = json.Marshal(sessionData{ID: co.ID})
	} else {
		var err error
		if co, err = a.client.Get(ctx, id); err != nil {
			return payment.Check{}, classify(err)
		}
	}
	c, err := mapCheckout(co)
	c.Data = data
	return c, err
}

func progressOf(st Status) int64 {
	for i, x := range statuses {
		if x == st {
			return int64(i + 1)
		}
	}
	return 0
}

func mapCheckout(co Checkout) (payment.Check, error) {
	c := payment.Check{Progress: progressOf(co.Status)}
	switch co.Status {
	case StatusReadyToShip, StatusShipped, StatusPaidToAccount:
		if co.PurchaseID <= 0 {
			return payment.Check{}, fmt.Errorf("payson checkout %s: status %s without a purchaseId", co.ID, co.Status)
		}
		c.Status = payment.Paid
		c.TransactionRef = strconv.FormatInt(co.PurchaseID, 10)
		c.MethodName = methodNames[co.PaymentType]
		if c.MethodName == "" {
			c.MethodName = "Payson"
		}
	case StatusCanceled:
		c.Status, c.Note = payment.Canceled, "canceled"
	case StatusExpired:
		c.Status, c.Note = payment.Canceled, "expired"
	case StatusDenied:
		c.Status, c.Note = payment.Failed, "denied"
	default:
		c.Status = payment.Pending
		c.Note = statusNotes[co.Status]
		if c.Note == "" {
			c.Note = "Payson status " + string(co.Status)
		}
	}
	return c, nil
}

// Cancel implements payment.Provider: PUT status canceled before payment.
// Once the customer has paid (readyToShip) the register records the sale
// instead: TooLate.
func (a *Adapter) Cancel(ctx context.Context, s payment.Session) (payment.CancelOutcome, error) {
	if a.client == nil {
		return 0, a.notReady()
	}
	id := checkoutID(s)
	if id == "" {
		return 0, &payment.RefusedError{Code: "no-session", Message: "no Payson checkout is known for this payment yet"}
	}
	for attempt := 0; attempt < 2; attempt++ {
		co, err := a.client.Get(ctx, id)
		if err != nil {
			return 0, classify(err)
		}
		switch co.Status {
		case StatusCanceled, StatusExpired, StatusDenied:
			return payment.Cancelled, nil
		case StatusReadyToShip, StatusShipped, StatusPaidToAccount:
			return payment.TooLate, nil
		case StatusProcessingPayment:
			return payment.NotYet, nil
		}
		co.Status = StatusCanceled
		out, err := a.client.Update(ctx, co)
		if err == nil {
			if out.Status != StatusCanceled {
				return 0, fmt.Errorf("payson cancel %s: answered status %s", id, out.Status)
			}
			return payment.Cancelled, nil
		}
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
			return 0, classify(err)
		}
		// A 400: the customer moved on meanwhile (paid, canceled). Read again.
	}
	return 0, &payment.RefusedError{Code: "HTTP 400", Message: "Payson refused to cancel the checkout"}
}

// Refund implements payment.Provider: raise creditedAmount on the items
// (GET, modify, PUT the whole checkout) and verify the echoed
// totalCreditedAmount. Refused by posd itself where D.4 forbids it.
func (a *Adapter) Refund(ctx context.Context, r payment.RefundOrder) (payment.Refunded, error) {
	if a.client == nil {
		return payment.Refunded{}, a.notReady()
	}
	refuse := func(code, format string, args ...any) (payment.Refunded, error) {
		return payment.Refunded{}, &payment.RefusedError{Code: code, Message: fmt.Sprintf(format, args...), Err: payment.ErrNotSent}
	}
	if r.Amount <= 0 {
		return refuse("invalid", "a refund must be positive, not %s", r.Amount)
	}
	id := checkoutID(r.Session)
	if id == "" {
		return refuse("no-session", "no Payson checkout is known for this payment")
	}
	co, err := a.client.Get(ctx, id)
	if err != nil {
		return payment.Refunded{}, classify(err)
	}
	switch co.Status {
	case StatusShipped, StatusPaidToAccount:
	case StatusReadyToShip:
		return refuse("not-shipped", "Payson credits only shipped checkouts; this one is not shipped yet (the ship task is pending): try again when it is, or cancel the whole sale")
	default:
		return refuse("status", "Payson cannot credit a checkout in status %s", co.Status)
	}
	if co.Order.Currency != r.Currency && r.Currency != "" {
		return refuse("currency", "the refund is in %s, the checkout in %s", r.Currency, co.Order.Currency)
	}
	before := co.Order.TotalCreditedAmount
	if before != r.Refunded {
		// A credit posd does not know of (made at Payson, or an earlier
		// refund whose answer was lost): never credit blindly on top of it.
		return refuse("credited-elsewhere", "Payson shows %s credited but posd has recorded %s: check the checkout at Payson before refunding", before, r.Refunded)
	}
	remaining := co.Order.TotalPriceIncludingTax - before
	if r.Amount > remaining {
		return refuse("too-much", "refund %s exceeds the %s not yet credited", r.Amount, remaining)
	}
	left := r.Amount
	for i := range co.Order.Items {
		it := &co.Order.Items[i]
		room := it.TotalPriceIncludingTax - it.CreditedAmount
		if room <= 0 || left == 0 {
			continue
		}
		take := min(room, left)
		it.CreditedAmount += take
		left -= take
	}
	if left != 0 {
		return refuse("too-much", "refund %s cannot be spread over the items (%s left)", r.Amount, left)
	}
	want := before + r.Amount
	co.Order.TotalCreditedAmount = want
	out, err := a.client.Update(ctx, co)
	if err != nil {
		return payment.Refunded{}, classify(err)
	}
	if out.Order.TotalCreditedAmount != want {
		// Payson took the request but shows another total: outcome unknown.
		return payment.Refunded{}, fmt.Errorf("payson refund %s: totalCreditedAmount echoed %s, want %s", r.RefundID, out.Order.TotalCreditedAmount, want)
	}
	return payment.Refunded{Ref: creditRef(co.PurchaseID, want)}, nil
}

// creditRef names one credit: Payson has no credit ids, but the purchase
// and its growing credited total are unique per credit.
func creditRef(purchaseID int64, total money.Amount) string {
	return strconv.FormatInt(purchaseID, 10) + ":credited:" + total.String()
}

type shipPayload struct {
	ID string `json:"id"`
}

// AfterPaid implements payment.Provider: a paid Payson sale is shipped (the
// customer leaves with the goods), which captures the money.
func (a *Adapter) AfterPaid(_ payment.Order, s payment.Session, _ payment.Check) []payment.Task {
	b, _ := json.Marshal(shipPayload{ID: checkoutID(s)})
	return []payment.Task{{Kind: TaskShip, Payload: b}}
}

// RunTask implements payment.Provider: "ship" = GET, then PUT status
// shipped; already shipped is done.
func (a *Adapter) RunTask(ctx context.Context, t payment.Task) error {
	if a.client == nil {
		return a.notReady()
	}
	if t.Kind != TaskShip {
		return &payment.RefusedError{Code: "task", Message: "unknown Payson task " + t.Kind, Permanent: true}
	}
	var p shipPayload
	if err := json.Unmarshal(t.Payload, &p); err != nil || p.ID == "" {
		return &payment.RefusedError{Code: "task", Message: "ship task without a checkout id", Permanent: true}
	}
	co, err := a.client.Get(ctx, p.ID)
	if err != nil {
		return classify(err)
	}
	switch co.Status {
	case StatusShipped, StatusPaidToAccount:
		return nil
	case StatusReadyToShip:
	default:
		return &payment.RefusedError{Code: "status", Permanent: true,
			Message: fmt.Sprintf("Payson checkout %s cannot be shipped in status %s", p.ID, co.Status)}
	}
	co.Status = StatusShipped
	out, err := a.client.Update(ctx, co)
	if err != nil {
		if re, ok := refusal(err); ok {
			// Re-read on the next try: it may have been shipped meanwhile.
			return fmt.Errorf("payson ship %s: %w", p.ID, re)
		}
		return classify(err)
	}
	if out.Status != StatusShipped && out.Status != StatusPaidToAccount {
		return fmt.Errorf("payson ship %s: answered status %s", p.ID, out.Status)
	}
	return nil
}

// MarkPeriod implements payment.Reconciler. Payson has no period marks: the
// period is named by its bounds.
func (a *Adapter) MarkPeriod(_ context.Context, from, to time.Time) (string, error) {
	return "payson:" + from.UTC().Format(time.RFC3339) + "/" + to.UTC().Format(time.RFC3339), nil
}

// Report implements payment.Reconciler: the checkouts paid (readyToShip)
// in [from, to) that are readyToShip, shipped or paid out, with their
// credits. Payson has no per-credit time, so a checkout's credits are one
// line with its paid sale.
func (a *Adapter) Report(ctx context.Context, _ string, from, to time.Time) (payment.Report, error) {
	if a.client == nil {
		return payment.Report{}, a.notReady()
	}
	var rep payment.Report
	for _, st := range []Status{StatusReadyToShip, StatusShipped, StatusPaidToAccount} {
		cos, err := a.client.ListAll(ctx, st, func(co Checkout) bool {
			at := co.History.ReadyToShip
			if at.IsZero() {
				at = co.History.Shipped
			}
			return !at.Before(from) && at.Before(to)
		})
		if err != nil {
			return payment.Report{}, fmt.Errorf("payson report: %w", err)
		}
		for _, co := range cos {
			rep.Lines = append(rep.Lines, payment.ReportLine{Ref: strconv.FormatInt(co.PurchaseID, 10),
				Amount: co.Order.TotalPriceIncludingTax, SessionRef: co.ID})
			rep.Total += co.Order.TotalPriceIncludingTax
			rep.Count++
			if cr := co.Order.TotalCreditedAmount; cr > 0 {
				rep.Lines = append(rep.Lines, payment.ReportLine{Ref: creditRef(co.PurchaseID, cr), Refund: true,
					Amount: cr, SessionRef: co.ID})
				rep.Total -= cr
				rep.Count++
			}
		}
	}
	return rep, nil
}
