// Package seqrsim is a SEQR merchant-API emulator that behaves like the real
// server as far as shared/specs/seqr.md knows it: the same SOAP 1.1 endpoints,
// namespace, response bytes, result codes and invoice state model (spec 5.9),
// plus a JSON control API under /sim/seqr/ that plays the customer's phone.
//
// Time is read from an injected clock and every time rule (the 20 s reversal
// of unpolled payments, report readiness, reservation timeouts) is evaluated
// lazily whenever an invoice is read, so tests with a fake clock are
// deterministic and the emulator runs no goroutines of its own.
package seqrsim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/simctl"
	"go.uber.org/zap"
)

// Service is the name of this emulator in the call log and fault rules.
const Service = "seqr"

// Published test principals (spec 5.8), pre-seeded in every emulator.
const (
	TestResellerID       = "public_test_shop"
	TestResellerUserID   = "9900"
	TestResellerPassword = "1234"
	TestTerminalID       = "public_test_shop_terminal"
	TestTerminalPassword = "12345678"
)

// Defaults of Options.
const (
	DefaultReversalWindow = 20 * time.Second
	DefaultReportDelay    = 3 * time.Second
	DefaultMaxBody        = 1 << 20
)

// AccountCurrency is the currency of every seeded reseller: an invoice in any
// other currency is refused with 49 INVALID_INVOICE_DATA.
const AccountCurrency = "SEK"

// payerTerminalID is the emulated customer's phone, as in spec TV5.
const payerTerminalID = "d613c5b8428d17248751bc101"

// Invoice statuses (spec 4.2). The emulator never emits PARTIALLY_PAID.
const (
	StatusIssued     = "ISSUED"
	StatusPaid       = "PAID"
	StatusPendingAck = "PENDING_ISSUER_ACKNOWLEDGE"
	StatusCanceled   = "CANCELED"
	StatusFailed     = "FAILED"
	StatusReserved   = "RESERVED"
	StatusExpired    = "EXPIRED"
)

// Outcome is the customer's answer on the phone.
type Outcome string

const (
	OutcomePaid   Outcome = "paid"
	OutcomeReject Outcome = "reject"
)

// Errors of the Go and control API.
var (
	ErrNotFound         = errors.New("seqrsim: no such invoice or till")
	ErrNoInvoiceWaiting = errors.New("seqrsim: no invoice waiting on this till")
	ErrNotPayable       = errors.New("seqrsim: invoice cannot be paid in its state")
	ErrAwaitingAck      = errors.New("seqrsim: waiting for the till to acknowledge (updateInvoice)")
	ErrBadOutcome       = errors.New("seqrsim: outcome must be paid or reject")
	ErrExists           = errors.New("seqrsim: already exists")
)

// Options configure a Sim. Zero values take the documented defaults.
type Options struct {
	Now            func() time.Time // nil: time.Now
	ReversalWindow time.Duration    // PAID and not polled for this long: reversed (default 20 s)
	ReportDelay    time.Duration    // markTransactionPeriod to report ready (0: 3 s; negative: at once)
	MaxBody        int64            // SOAP request size limit (default 1 MiB)
	Location       *time.Location   // zone of paymentDate and identifiers (default Europe/Stockholm)
	Logger         *zap.Logger      // nil: no logging
	Calls          *simctl.CallLog  // nil: a private log
	Faults         *simctl.Faults   // nil: no fault injection
	Rand           *rand.Rand       // identifiers; nil: seeded from the clock
}

// Sim is the emulator. Safe for concurrent use.
type Sim struct {
	now     func() time.Time
	window  time.Duration
	delay   time.Duration
	maxBody int64
	loc     *time.Location
	log     *zap.Logger
	calls   *simctl.CallLog
	faults  *simctl.Faults
	mu      sync.Mutex
	rng     *rand.Rand
	st      state
}

type reseller struct {
	id, userID, password string
	currency             string
}

type terminal struct {
	id, password, externalID, name string
	seqrID                         string
	reseller                       *reseller
	active                         bool
	current                        *invoice // latest invoice sent on this till
}

type invoice struct {
	ref         string
	term        *terminal
	data        *invoiceIn
	total       money.Amount
	currency    string
	status      string
	version     int
	ersRef      string
	created     time.Time
	paidAt      time.Time
	reservedAt  time.Time
	confirmed   bool // polled while PAID, so never reversed
	scanned     bool // the customer has it on the phone
	ackRequired bool
	acked       bool
	newEndpoint bool
	tokens      []tokenIn
	polls       int
	lastPollAt  time.Time
	reversed    bool
	paid        money.Amount
	refunded    money.Amount
	receipts    int
}

type refund struct {
	ersRef   string
	inv      *invoice
	term     *terminal
	amount   money.Amount
	at       time.Time
	cashier  string
	receipts int
}

type period struct {
	id       string
	reseller *reseller
	term     *terminal // nil: shop-wide
	start    time.Time
	end      time.Time
	readyAt  time.Time
}

type state struct {
	resellers  map[string]*reseller // id + "/" + userID
	terminals  map[string]*terminal
	seqrIDs    map[string]*terminal
	invoices   map[string]*invoice
	payments   map[string]*invoice // payment ersReference
	refunds    map[string]*refund
	refundList []*refund
	paidList   []*invoice
	periods    map[string]*period
	periodEnd  map[string]time.Time // scope (terminal id or "") -> end of last period
	refSeq     uint64
	ersSeq     uint64
	reversals  int
}

// New returns an emulator seeded with the public test principals. It starts nothing.
func New(o Options) *Sim {
	s := &Sim{
		now:     o.Now,
		window:  o.ReversalWindow,
		delay:   o.ReportDelay,
		maxBody: o.MaxBody,
		loc:     o.Location,
		log:     o.Logger,
		calls:   o.Calls,
		faults:  o.Faults,
		rng:     o.Rand,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.window <= 0 {
		s.window = DefaultReversalWindow
	}
	if s.delay < 0 {
		s.delay = 0
	} else if s.delay == 0 {
		s.delay = DefaultReportDelay
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBody
	}
	if s.loc == nil {
		if l, err := time.LoadLocation("Europe/Stockholm"); err == nil {
			s.loc = l
		} else {
			s.loc = time.Local
		}
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.calls == nil {
		s.calls = simctl.NewCallLog(0)
	}
	if s.rng == nil {
		seed := uint64(time.Now().UnixNano())
		s.rng = rand.New(rand.NewPCG(seed, seed>>3|1))
	}
	s.st = state{
		resellers: map[string]*reseller{},
		terminals: map[string]*terminal{},
		seqrIDs:   map[string]*terminal{},
		invoices:  map[string]*invoice{},
		payments:  map[string]*invoice{},
		refunds:   map[string]*refund{},
		periods:   map[string]*period{},
		periodEnd: map[string]time.Time{},
		refSeq:    100_000_000 + s.rng.Uint64N(400_000_000),
		ersSeq:    s.rng.Uint64N(500_000),
	}
	shop := s.addReseller(TestResellerID, TestResellerUserID, TestResellerPassword)
	s.addReseller("fredellsfisk", "9900", "2009")
	s.addTerminal(shop, TestTerminalID, TestTerminalPassword, "public_test_shop terminal", "public_test_shop terminal")
	s.addTerminal(shop, "8609bf533abf4a20816e8bfe76639521", "N2YFUhKaB1ZSuVF", "sample terminal 1", "Sample till 1")
	s.addTerminal(shop, "tajzlz6xflfo6yq2i8aq62i3k11orpl1", "MgFQ1OO1dj2JTCS", "sample terminal 2", "Sample till 2")
	return s
}

// CallLog returns the log every SOAP call is recorded in.
func (s *Sim) CallLog() *simctl.CallLog { return s.calls }

func (s *Sim) addReseller(id, userID, password string) *reseller {
	r := &reseller{id: id, userID: userID, password: password, currency: AccountCurrency}
	s.st.resellers[id+"/"+userID] = r
	return r
}

func (s *Sim) addTerminal(r *reseller, id, password, externalID, name string) *terminal {
	t := &terminal{id: id, password: password, externalID: externalID, name: name, reseller: r, active: true}
	s.st.terminals[id] = t
	return t
}

// AddReseller adds a RESELLERUSER principal (account currency SEK).
func (s *Sim) AddReseller(id, userID, password string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.resellers[id+"/"+userID]; ok {
		return fmt.Errorf("add reseller %s/%s: %w", id, userID, ErrExists)
	}
	s.addReseller(id, userID, password)
	return nil
}

// AddTerminal adds a registered till to reseller resellerID/userID without a
// SOAP call, optionally with its SEQR id already assigned.
func (s *Sim) AddTerminal(resellerID, userID, terminalID, password, name, seqrID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.st.resellers[resellerID+"/"+userID]
	if r == nil {
		return fmt.Errorf("add terminal %s: reseller %s/%s: %w", terminalID, resellerID, userID, ErrNotFound)
	}
	if _, ok := s.st.terminals[terminalID]; ok {
		return fmt.Errorf("add terminal %s: %w", terminalID, ErrExists)
	}
	if seqrID != "" {
		if _, taken := s.st.seqrIDs[seqrID]; taken {
			return fmt.Errorf("add terminal %s: seqr id %s: %w", terminalID, seqrID, ErrExists)
		}
	}
	t := s.addTerminal(r, terminalID, password, name, name)
	if seqrID != "" {
		t.seqrID = seqrID
		s.st.seqrIDs[seqrID] = t
	}
	return nil
}

// ---- identifiers (spec 3.3) ----

func (s *Sim) newInvoiceRef(now time.Time) string {
	s.st.refSeq++
	return now.In(s.loc).Format("20060102") + fmt.Sprintf("%09d", s.st.refSeq%1_000_000_000)
}

// newERSRef is yyyyMMddHHmmssSSS + 2-digit node + 6-digit sequence.
func (s *Sim) newERSRef(now time.Time) string {
	s.st.ersSeq++
	ts := now.In(s.loc).Format("20060102150405.000")
	return ts[:14] + ts[15:] + "18" + fmt.Sprintf("%06d", s.st.ersSeq%1_000_000)
}

func (s *Sim) newTerminalID() string {
	for {
		id := fmt.Sprintf("%016x%016x", s.rng.Uint64(), s.rng.Uint64())
		if _, taken := s.st.terminals[id]; !taken {
			return id
		}
	}
}

// ---- lazy time rules ----

// refresh applies the time rules to inv as of now: the reversal of a PAID
// invoice nobody polled within the window (spec 5.2.5, TV15) and the timeout
// of a reservation that was never committed (spec 5.4).
func (s *Sim) refresh(inv *invoice, now time.Time) {
	switch inv.status {
	case StatusPaid:
		if !inv.confirmed && now.Sub(inv.paidAt) > s.window {
			inv.status = StatusCanceled
			inv.reversed = true
			inv.version++
			s.st.reversals++
			s.log.Info("payment reversed: not polled within the window",
				zap.String("invoiceReference", inv.ref), zap.String("ersReference", inv.ersRef),
				zap.Duration("window", s.window))
		}
	case StatusReserved:
		if t := inv.data.CommitReservationTimeout; t != nil && *t > 0 &&
			now.Sub(inv.reservedAt) > time.Duration(*t)*time.Second {
			inv.status = StatusCanceled
			inv.version++
		}
	}
}

func (s *Sim) invoiceAt(ref string, now time.Time) *invoice {
	inv := s.st.invoices[ref]
	if inv != nil {
		s.refresh(inv, now)
	}
	return inv
}

func open(status string) bool {
	return status == StatusIssued || status == StatusPendingAck || status == StatusReserved
}

// cancelInvoice cancels an open invoice (by the till, superseding, the customer).
func (s *Sim) cancel(inv *invoice) {
	inv.status = StatusCanceled
	inv.scanned = false
	inv.version++
}

// markPaid completes a payment: ersReference, paidAt, the reversal clock starts.
func (s *Sim) markPaid(inv *invoice, amount money.Amount, now time.Time) {
	inv.status = StatusPaid
	inv.paidAt = now
	inv.paid = amount
	inv.ersRef = s.newERSRef(now)
	inv.version++
	s.st.payments[inv.ersRef] = inv
	s.st.paidList = append(s.st.paidList, inv)
}

// ---- Go API: the customer's phone and the harness's eyes ----

// Waiting is what the phone shows after scanning a till's sticker.
type Waiting struct {
	InvoiceReference string       `json:"invoiceReference"`
	Amount           money.Amount `json:"amount"`
	Currency         string       `json:"currency"`
	Title            string       `json:"title"`
	Till             string       `json:"till"`
	Status           string       `json:"status"`
}

// Token is a customer token as the control API shows it.
type Token struct {
	ID          string `json:"id,omitempty"`
	Value       string `json:"value,omitempty"`
	Description string `json:"description,omitempty"`
	Status      int    `json:"status"`
}

// InvoiceInfo is a snapshot of one invoice.
type InvoiceInfo struct {
	InvoiceReference string       `json:"invoiceReference"`
	TerminalID       string       `json:"terminalId"`
	Status           string       `json:"status"`
	Version          int          `json:"version"`
	ERSReference     string       `json:"ersReference,omitempty"`
	Reversed         bool         `json:"reversed"`
	Polls            int          `json:"polls"`
	LastPollAt       *time.Time   `json:"lastPollAt"`
	PaidAt           *time.Time   `json:"paidAt,omitempty"`
	Amount           money.Amount `json:"amount"`
	Currency         string       `json:"currency"`
	Title            string       `json:"title"`
	CashierID        string       `json:"cashierId,omitempty"`
	Scanned          bool         `json:"scanned"`
	Acknowledged     bool         `json:"acknowledged"`
	Refunded         money.Amount `json:"refunded"`
	Receipts         int          `json:"receipts"`
	Tokens           []Token      `json:"tokens,omitempty"`
}

// TillInfo is one registered terminal.
type TillInfo struct {
	TerminalID string   `json:"terminalId"`
	Name       string   `json:"name"`
	ExternalID string   `json:"externalTerminalId"`
	SeqrID     string   `json:"seqrId,omitempty"`
	ResellerID string   `json:"resellerId"`
	Active     bool     `json:"active"`
	Waiting    *Waiting `json:"waiting,omitempty"`
}

func (s *Sim) info(inv *invoice) InvoiceInfo {
	in := InvoiceInfo{
		InvoiceReference: inv.ref,
		TerminalID:       inv.term.id,
		Status:           inv.status,
		Version:          inv.version,
		ERSReference:     inv.ersRef,
		Reversed:         inv.reversed,
		Polls:            inv.polls,
		Amount:           inv.total,
		Currency:         inv.currency,
		Title:            inv.data.title(),
		CashierID:        inv.data.cashier(),
		Scanned:          inv.scanned,
		Acknowledged:     inv.acked,
		Refunded:         inv.refunded,
		Receipts:         inv.receipts,
	}
	if !inv.lastPollAt.IsZero() {
		t := inv.lastPollAt
		in.LastPollAt = &t
	}
	if !inv.paidAt.IsZero() {
		t := inv.paidAt
		in.PaidAt = &t
	}
	for _, tk := range inv.tokens {
		in.Tokens = append(in.Tokens, Token{ID: deref(tk.ID), Value: deref(tk.Value), Description: deref(tk.Description), Status: tk.Status})
	}
	return in
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (s *Sim) waiting(inv *invoice) Waiting {
	return Waiting{
		InvoiceReference: inv.ref,
		Amount:           inv.total,
		Currency:         inv.currency,
		Title:            inv.data.title(),
		Till:             inv.term.name,
		Status:           inv.status,
	}
}

// waitingOn returns the till's invoice that a customer can act on.
func (s *Sim) waitingOn(t *terminal, now time.Time) *invoice {
	if t == nil || !t.active || t.current == nil {
		return nil
	}
	s.refresh(t.current, now)
	if st := t.current.status; st != StatusIssued && st != StatusPendingAck {
		return nil
	}
	return t.current
}

// Invoice returns a snapshot of the invoice ref, time rules applied.
func (s *Sim) Invoice(ref string) (InvoiceInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv := s.invoiceAt(ref, s.now())
	if inv == nil {
		return InvoiceInfo{}, false
	}
	return s.info(inv), true
}

// Reversals counts the payments reversed because nobody polled them.
func (s *Sim) Reversals() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, inv := range s.st.paidList {
		s.refresh(inv, now)
	}
	return s.st.reversals
}

// Tills lists the registered terminals, sorted by name, with what they ask.
func (s *Sim) Tills() []TillInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := make([]TillInfo, 0, len(s.st.terminals))
	for _, t := range s.st.terminals {
		ti := TillInfo{TerminalID: t.id, Name: t.name, ExternalID: t.externalID, SeqrID: t.seqrID, ResellerID: t.reseller.id, Active: t.active}
		if inv := s.waitingOn(t, now); inv != nil {
			w := s.waiting(inv)
			ti.Waiting = &w
		}
		out = append(out, ti)
	}
	sortTills(out)
	return out
}

// Scan is the customer scanning the sticker of the till with seqrID: it
// returns the invoice waiting there. On an invoice that needs the till's
// acknowledgment (spec 5.3) the status becomes PENDING_ISSUER_ACKNOWLEDGE.
func (s *Sim) Scan(seqrID string) (Waiting, error) { return s.scan(seqrID, "") }

// ScanWithCard is Scan by a customer whose SEQR app holds loyalty card
// number card (token X_CARD): it makes OPTIONAL_ACKNOWLEDGMENT invoices ask
// the till, and the card is offered to the till as a status-0 token.
func (s *Sim) ScanWithCard(seqrID, card string) (Waiting, error) { return s.scan(seqrID, card) }

func (s *Sim) scan(seqrID, card string) (Waiting, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv := s.waitingOn(s.st.seqrIDs[seqrID], s.now())
	if inv == nil {
		return Waiting{}, fmt.Errorf("scan %s: %w", seqrID, ErrNoInvoiceWaiting)
	}
	s.scanInvoice(inv, card)
	return s.waiting(inv), nil
}

func (s *Sim) scanInvoice(inv *invoice, card string) {
	if inv.scanned {
		return
	}
	inv.scanned = true
	ack := inv.ackRequired
	if inv.data.AcknowledgmentMode != nil && *inv.data.AcknowledgmentMode == "OPTIONAL_ACKNOWLEDGMENT" {
		ack = card != ""
	}
	if !ack || inv.acked || inv.status != StatusIssued {
		return
	}
	inv.ackRequired = true
	inv.status = StatusPendingAck
	if card != "" {
		desc, id, val := "Loyalty card", "X_CARD", card
		inv.tokens = append(inv.tokens, tokenIn{Description: &desc, ID: &id, Status: 0, Value: &val})
	}
	inv.version++
}

// Pay is the customer answering on the phone for the invoice with reference
// key, or else for the invoice waiting on the till whose SEQR id is key.
// "paid" makes it PAID (RESERVED for reservation invoices); "reject" CANCELED.
func (s *Sim) Pay(key string, outcome Outcome) (InvoiceInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	inv := s.invoiceAt(key, now)
	if inv == nil {
		t := s.st.seqrIDs[key]
		if t == nil {
			return InvoiceInfo{}, fmt.Errorf("pay %s: %w", key, ErrNotFound)
		}
		if inv = s.waitingOn(t, now); inv == nil {
			return InvoiceInfo{}, fmt.Errorf("pay %s: %w", key, ErrNoInvoiceWaiting)
		}
	}
	return s.pay(inv, outcome, now)
}

// PayInvoice is Pay for an invoice reference only.
func (s *Sim) PayInvoice(ref string, outcome Outcome) (InvoiceInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	inv := s.invoiceAt(ref, now)
	if inv == nil {
		return InvoiceInfo{}, fmt.Errorf("pay invoice %s: %w", ref, ErrNotFound)
	}
	return s.pay(inv, outcome, now)
}

// PayTill is Pay for the invoice waiting on the till with seqrID.
func (s *Sim) PayTill(seqrID string, outcome Outcome) (InvoiceInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	t := s.st.seqrIDs[seqrID]
	if t == nil {
		return InvoiceInfo{}, fmt.Errorf("pay till %s: %w", seqrID, ErrNoInvoiceWaiting)
	}
	inv := s.waitingOn(t, now)
	if inv == nil {
		return InvoiceInfo{}, fmt.Errorf("pay till %s: %w", seqrID, ErrNoInvoiceWaiting)
	}
	return s.pay(inv, outcome, now)
}

func (s *Sim) pay(inv *invoice, outcome Outcome, now time.Time) (InvoiceInfo, error) {
	switch outcome {
	case OutcomeReject:
		if !open(inv.status) {
			return s.info(inv), fmt.Errorf("reject %s in status %s: %w", inv.ref, inv.status, ErrNotPayable)
		}
		s.cancel(inv)
		return s.info(inv), nil
	case OutcomePaid:
	default:
		return InvoiceInfo{}, fmt.Errorf("pay %s: %q: %w", inv.ref, outcome, ErrBadOutcome)
	}
	if inv.status != StatusIssued && inv.status != StatusPendingAck {
		return s.info(inv), fmt.Errorf("pay %s in status %s: %w", inv.ref, inv.status, ErrNotPayable)
	}
	s.scanInvoice(inv, "")
	if inv.status == StatusPendingAck {
		return s.info(inv), fmt.Errorf("pay %s: %w", inv.ref, ErrAwaitingAck)
	}
	switch inv.data.mode() {
	case "RESERVATION_DESIRED", "RESERVATION_REQUIRED", "RESERVATION_REQUIRED_PRELIMINARY_AMOUNT":
		inv.status = StatusReserved
		inv.reservedAt = now
		inv.version++
	default:
		s.markPaid(inv, inv.total, now)
	}
	inv.scanned = false
	return s.info(inv), nil
}
