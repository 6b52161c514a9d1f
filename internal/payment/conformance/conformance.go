// Package conformance is the payment seam's conformance suite: one table of
// customer behaviours that every provider adapter runs against its own
// emulator, through the real register (real SQLite and a real receipt file
// in t.TempDir()).
//
// A provider's test file implements Harness (how to build its adapter
// against a fresh emulator, and how to play the customer and inject faults
// there) and calls Run. The suite then proves, for that provider, what the
// register promises for all of them: a payment is paid exactly when the
// customer paid, with one journal post; "not paid" only on a final answer;
// a Start whose reply was lost is never sent again; an outage is marked and
// survived; refunds are recorded; a restart resumes checking.
//
// Timing: the suite hands each adapter short timings (checks every 20 ms,
// windows of 250 ms where a window must elapse) instead of faking the
// clock, because the emulators run behind real loopback sockets. It never
// sleeps to synchronise: it waits on the register's event stream, and
// every wait is bounded.
package conformance

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/register"
	"github.com/posd/posd/internal/store"
)

// Behaviour names one row of the suite.
type Behaviour string

// The customer behaviours every provider is run through.
const (
	PaysFirstWindow      Behaviour = "pays in the first window"
	PaysAfterTryAgain    Behaviour = "pays after try again"
	Rejects              Behaviour = "rejects"
	NeverAnswers         Behaviour = "never answers"
	CancelBeforePaid     Behaviour = "cashier cancels before the customer paid"
	CancelAfterPaid      Behaviour = "cashier cancels after the customer paid"
	StartReplyLost       Behaviour = "the reply to the start call is lost"
	OutageWhilePending   Behaviour = "transient outage while pending"
	FullAndPartialRefund Behaviour = "full and partial refund"
	RestartWhilePending  Behaviour = "restart while pending"
)

// Harness is what the suite needs of one provider.
type Harness interface {
	// Method is the payment method the suite sells with ("seqr", "resurs", "payson").
	Method() string
	// Traits says where the provider legitimately differs.
	Traits() Traits
	// Skip returns why behaviour b does not apply to this provider, or ""
	// when it does. A skipped row prints the reason.
	Skip(b Behaviour) string
	// NewEmulator starts a fresh emulator for one row (stopped by t.Cleanup).
	NewEmulator(t *testing.T) Emulator
}

// Traits are a provider's legitimate differences.
type Traits struct {
	// LostStartFound: when the reply to Start is lost, the adapter finds the
	// session it created by the payment's reference (Payson), so the payment
	// goes on instead of becoming unknown. Either way Start is sent once.
	LostStartFound bool
}

// Emulator is one running emulator and the adapter built against it.
type Emulator interface {
	// Provider builds the adapter under test against this emulator, with
	// the suite's timings (CheckInterval, Window, DecisionLimit) in its
	// config. It is called again after a restart, on the same db.
	Provider(t *testing.T, db *store.DB, timings payment.Policy) payment.Provider
	// Prepare makes the till ready for payments through the register
	// (SEQR: register the terminal and assign its id). Called once, after
	// the first register is running.
	Prepare(t *testing.T, r *register.Register)
	// Pay is the customer paying the session. An error means the emulator
	// would not let the customer pay (e.g. the session was canceled).
	Pay(s Session) error
	// Reject is the customer (or the provider's credit check) refusing.
	Reject(s Session) error
	// LoseNextStartReply makes the next Start arrive and take effect while
	// its reply is lost (the connection closes unanswered).
	LoseNextStartReply(t *testing.T)
	// Outage makes every provider call fail at the transport (on) or
	// restores service (off).
	Outage(t *testing.T, on bool)
	// StartCalls is how many Start requests (session creations) the
	// emulator has received.
	StartCalls() int
}

// Session is a payment's provider session as the register stored it.
type Session struct {
	PaymentID string
	Ref       string // the provider's session reference
	Data      []byte // the adapter's private data
}

// The suite's timings.
var (
	// fast checks often in one long window: no window elapses by accident.
	fast = payment.Policy{CheckInterval: 20 * time.Millisecond, Window: time.Minute, DecisionLimit: 5 * time.Minute}
	// windowed has a short window, for the rows where it must elapse.
	windowed = payment.Policy{CheckInterval: 20 * time.Millisecond, Window: 250 * time.Millisecond, DecisionLimit: time.Minute}
	// once checks at the start and then only when asked (after a cancel
	// answered "too late"), so the row decides what the register sees.
	once = payment.Policy{CheckInterval: time.Hour, Window: 2 * time.Hour, DecisionLimit: 3 * time.Hour}
)

// waitLimit bounds every wait: far above what a row needs, so a failure
// is a behaviour, not a slow machine.
const waitLimit = 20 * time.Second

type row struct {
	b   Behaviour
	pol payment.Policy
	run func(g *rig)
}

var rows = []row{
	{PaysFirstWindow, fast, paysFirstWindow},
	{PaysAfterTryAgain, windowed, paysAfterTryAgain},
	{Rejects, fast, rejects},
	{NeverAnswers, windowed, neverAnswers},
	{CancelBeforePaid, fast, cancelBeforePaid},
	{CancelAfterPaid, once, cancelAfterPaid},
	{StartReplyLost, fast, startReplyLost},
	{OutageWhilePending, fast, outageWhilePending},
	{FullAndPartialRefund, fast, refunds},
	{RestartWhilePending, fast, restartWhilePending},
}

// Run runs every behaviour for the provider of h, each on a fresh emulator
// and a fresh state directory.
func Run(t *testing.T, h Harness) {
	for _, rw := range rows {
		t.Run(string(rw.b), func(t *testing.T) {
			if why := h.Skip(rw.b); why != "" {
				t.Skipf("%s does not apply: %s", rw.b, why)
			}
			g := &rig{t: t, h: h, emu: h.NewEmulator(t), pol: rw.pol, dir: t.TempDir()}
			t.Cleanup(g.close)
			g.open()
			g.emu.Prepare(t, g.r)
			rw.run(g)
		})
	}
}

// rig is one row's register on its state directory.
type rig struct {
	t       *testing.T
	h       Harness
	emu     Emulator
	pol     payment.Policy
	dir     string
	db      *store.DB
	journal *receipt.Journal
	prov    payment.Provider
	r       *register.Register
	stop    context.CancelFunc
	done    chan error
}

// open opens the state directory and runs a register on it.
func (g *rig) open() {
	t := g.t
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, g.dir+"/posd.db", store.Options{})
	require.NoError(t, err)
	j, _, err := receipt.OpenJournal(g.dir+"/receipts.journal", time.Now)
	require.NoError(t, err)
	g.db, g.journal = db, j
	prov := g.emu.Provider(t, db, g.pol)
	g.prov = prov
	cfg := register.Config{OutboxInterval: 10 * time.Millisecond, OutboxRetryMin: 10 * time.Millisecond,
		OutboxRetryMax: 100 * time.Millisecond, RecordRetry: 10 * time.Millisecond}
	r, err := register.New(cfg, register.Deps{Store: db, Journal: j, Providers: []payment.Provider{prov},
		Logger: zaptest.NewLogger(t).Named("register")})
	require.NoError(t, err)
	g.r = r
	runCtx, stop := context.WithCancel(context.Background())
	g.stop, g.done = stop, make(chan error, 1)
	go func() { g.done <- r.Run(runCtx) }()
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	select {
	case <-r.Ready():
	case err := <-g.done:
		g.stop = nil
		t.Fatalf("register ended before ready: %v", err)
	case <-timer.C:
		t.Fatalf("register not ready within %s", waitLimit)
	}
}

// close stops the register and closes the files; the directory stays.
func (g *rig) close() {
	if g.stop != nil {
		g.stop()
		assert.NoError(g.t, <-g.done)
		g.stop = nil
	}
	if g.journal != nil {
		assert.NoError(g.t, g.journal.Close())
		g.journal = nil
	}
	if g.db != nil {
		assert.NoError(g.t, g.db.Close())
		g.db = nil
	}
}

// restart is posd stopping and starting again on the same state.
func (g *rig) restart() {
	g.t.Helper()
	g.close()
	g.open()
}

var saleAmount = money.MustParse("20.00")

// create asks for a payment of 20.00 SEK with one row.
func (g *rig) create(key string) register.Payment {
	g.t.Helper()
	req := register.PaymentRequest{Method: g.h.Method(), SaleID: "S-" + key, CashierID: "cashier-1", Title: "Conformance",
		Amount: saleAmount, Currency: "SEK", ReceiptTotal: saleAmount,
		Rows: []register.Row{{Description: "Ice cream", Quantity: "1", UnitPrice: saleAmount, TotalAmount: saleAmount, TaxRate: "12"}}}
	p, created, err := g.r.CreatePayment(context.Background(), key, req)
	require.NoError(g.t, err)
	require.True(g.t, created)
	return p
}

// session reads the payment's provider session from the database.
func (g *rig) session(id string) Session {
	g.t.Helper()
	sp, err := g.db.Payment(context.Background(), id)
	require.NoError(g.t, err)
	require.NotEmpty(g.t, sp.SessionRef, "payment %s has no session", id)
	return Session{PaymentID: id, Ref: sp.SessionRef, Data: sp.ProviderData}
}

func (g *rig) payment(id string) register.Payment {
	g.t.Helper()
	p, err := g.r.Payment(context.Background(), id)
	require.NoError(g.t, err)
	return p
}

// waitFor waits on the payment's event stream until cond holds; it fails
// when the payment ends without it or after waitLimit.
func (g *rig) waitFor(id, what string, cond func(register.Payment) bool) register.Payment {
	t := g.t
	t.Helper()
	ch, cancel := g.r.Subscribe(id)
	defer cancel()
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	for {
		p := g.payment(id)
		if cond(p) {
			return p
		}
		select {
		case _, ok := <-ch:
			if !ok {
				if p = g.payment(id); cond(p) {
					return p
				}
				t.Fatalf("payment %s ended %s (%s) without %s", id, p.State, p.Error, what)
			}
		case <-timer.C:
			t.Fatalf("waited %s for %s: payment %s is %s (%s)", waitLimit, what, id, p.State, p.Error)
		}
	}
}

func (g *rig) waitState(id string, want register.State) register.Payment {
	g.t.Helper()
	return g.waitFor(id, "state "+string(want), func(p register.Payment) bool { return p.State == want })
}

// waitChecked waits until the provider has answered at least one check.
func (g *rig) waitChecked(id string) register.Payment {
	g.t.Helper()
	return g.waitFor(id, "a check", func(p register.Payment) bool { return p.PollCount >= 1 })
}

// posts returns the receipt file's posts of a payment, by kind.
func (g *rig) posts(id, kind string) []receipt.Post {
	g.t.Helper()
	all, err := g.journal.Posts(0, 1<<30)
	require.NoError(g.t, err)
	var out []receipt.Post
	for _, p := range all {
		if p.PaymentID == id && p.Kind == kind {
			out = append(out, p)
		}
	}
	return out
}

// assertPaid checks what "paid" means: one payment post keyed by the
// provider's transaction reference, and every task after paid done.
func (g *rig) assertPaid(p register.Payment) {
	t := g.t
	t.Helper()
	require.Equal(t, register.StatePaid, p.State)
	require.NotEmpty(t, p.TransactionRef, "paid without a transaction reference")
	posts := g.posts(p.ID, "payment")
	require.Len(t, posts, 1, "exactly one journal post per paid payment")
	assert.Equal(t, p.Provider, posts[0].Provider)
	assert.Equal(t, p.TransactionRef, posts[0].Reference)
	assert.Equal(t, p.Amount, posts[0].Amount)
	assert.True(t, g.journal.Has(p.Provider, p.TransactionRef))
	g.waitTasksDone(p.ID)
}

// assertNotPaid checks that nothing was recorded as money taken.
func (g *rig) assertNotPaid(p register.Payment) {
	g.t.Helper()
	assert.Empty(g.t, p.TransactionRef)
	assert.Empty(g.t, g.posts(p.ID, "payment"), "no journal post for a payment not paid")
}

// waitTasksDone waits until every outbox task of the payment is done. The
// outbox has no event stream; this polls the database in a bounded loop.
func (g *rig) waitTasksDone(id string) {
	t := g.t
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		items, err := g.db.OutboxItems(context.Background(), id)
		require.NoError(t, err)
		pending := ""
		for _, it := range items {
			if it.DoneAt.IsZero() {
				pending = fmt.Sprintf("%s (attempts %d, last error %q)", it.Kind, it.Attempts, it.LastError)
				break
			}
		}
		if pending == "" {
			return
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("task %s of payment %s not done within %s", pending, id, waitLimit)
		}
	}
}

func (g *rig) auditEvents(id string) []string {
	g.t.Helper()
	trail, err := g.db.AuditTrail(context.Background(), id)
	require.NoError(g.t, err)
	out := make([]string, 0, len(trail))
	for _, a := range trail {
		out = append(out, a.Event)
	}
	return out
}

// firstWindow is a new payment's window: 1, or 0 when the method's
// policy has no windows (a long-lived payment that does not hold the till).
func (g *rig) firstWindow() int {
	if g.prov.Policy(g.h.Method()).Window > 0 {
		return 1
	}
	return 0
}

func paysFirstWindow(g *rig) {
	t := g.t
	p := g.create("first-window")
	require.Equal(t, register.StatePolling, p.State)
	require.Equal(t, g.firstWindow(), p.Window)
	require.NotEmpty(t, p.ProviderRef)
	require.NoError(t, g.emu.Pay(g.session(p.ID)))
	p = g.waitState(p.ID, register.StatePaid)
	assert.Equal(t, g.firstWindow(), p.Window, "paid in the first window")
	g.assertPaid(p)
	assert.Equal(t, 1, g.emu.StartCalls())
}

func paysAfterTryAgain(g *rig) {
	t := g.t
	p := g.create("try-again")
	ref := p.ProviderRef
	g.waitState(p.ID, register.StateAwaitingDecision)
	p, err := g.r.Retry(context.Background(), p.ID)
	require.NoError(t, err)
	assert.Equal(t, 2, p.Window)
	require.NoError(t, g.emu.Pay(g.session(p.ID)))
	p = g.waitState(p.ID, register.StatePaid)
	assert.Equal(t, 2, p.Window, "paid in the second window")
	assert.Equal(t, ref, p.ProviderRef, "try again keeps the session")
	g.assertPaid(p)
	assert.Equal(t, 1, g.emu.StartCalls(), "try again never starts a new session")
}

func rejects(g *rig) {
	t := g.t
	p := g.create("rejects")
	g.waitChecked(p.ID)
	require.NoError(t, g.emu.Reject(g.session(p.ID)))
	p = g.waitFor(p.ID, "a final state", func(p register.Payment) bool { return p.State.Final() })
	assert.Contains(t, []register.State{register.StateFailed, register.StateCanceled}, p.State)
	g.assertNotPaid(p)
}

func neverAnswers(g *rig) {
	t := g.t
	p := g.create("never-answers")
	p = g.waitState(p.ID, register.StateAwaitingDecision)
	checks := p.PollCount
	// Checking goes on while the cashier decides: the customer may still pay.
	g.waitFor(p.ID, "a check while awaiting the decision", func(q register.Payment) bool { return q.PollCount > checks })
	p, err := g.r.Cancel(context.Background(), p.ID)
	require.NoError(t, err)
	require.Equal(t, register.StateCanceled, p.State)
	g.assertNotPaid(p)
	assert.Error(t, g.emu.Pay(g.session(p.ID)), "the customer must not be able to pay a canceled sale")
}

func cancelBeforePaid(g *rig) {
	t := g.t
	p := g.create("cancel-before")
	g.waitChecked(p.ID)
	p, err := g.r.Cancel(context.Background(), p.ID)
	require.NoError(t, err)
	require.Equal(t, register.StateCanceled, p.State)
	assert.Error(t, g.emu.Pay(g.session(p.ID)), "the customer must not be able to pay a canceled sale")
	p = g.payment(p.ID)
	assert.Equal(t, register.StateCanceled, p.State)
	g.assertNotPaid(p)
	// A repeated cancel (its answer lost) answers the canceled payment.
	p, err = g.r.Cancel(context.Background(), p.ID)
	require.NoError(t, err)
	assert.Equal(t, register.StateCanceled, p.State)
}

func cancelAfterPaid(g *rig) {
	t := g.t
	p := g.create("cancel-after")
	g.waitChecked(p.ID) // pending; the next check comes only when asked
	require.NoError(t, g.emu.Pay(g.session(p.ID)))
	q, err := g.r.Cancel(context.Background(), p.ID)
	if err != nil {
		// The provider said "too late" and no check has confirmed it yet.
		require.ErrorIs(t, err, register.ErrCustomerPaid)
	} else {
		require.Equal(t, register.StatePaid, q.State, "a cancel after the customer paid must not cancel")
	}
	p = g.waitState(p.ID, register.StatePaid)
	g.assertPaid(p)
}

func startReplyLost(g *rig) {
	t := g.t
	g.emu.LoseNextStartReply(t)
	p := g.create("reply-lost")
	require.Equal(t, 1, g.emu.StartCalls(), "the start arrived once")
	if g.h.Traits().LostStartFound {
		require.Equal(t, register.StatePolling, p.State, "the adapter finds the session it created: %s", p.Error)
		require.NotEmpty(t, p.ProviderRef)
		require.NoError(t, g.emu.Pay(g.session(p.ID)))
		p = g.waitState(p.ID, register.StatePaid)
		g.assertPaid(p)
		assert.Equal(t, 1, g.emu.StartCalls(), "never started again")
		return
	}
	require.Equal(t, register.StateUnknown, p.State, "a start that may have arrived is unknown, not failed (%s)", p.Error)
	assert.Empty(t, p.ProviderRef)
	// Nothing sends it again, not even recovery after a restart.
	g.restart()
	p = g.payment(p.ID)
	assert.Equal(t, register.StateUnknown, p.State)
	assert.Equal(t, 1, g.emu.StartCalls(), "never started again")
	g.assertNotPaid(p)
}

func outageWhilePending(g *rig) {
	t := g.t
	p := g.create("outage")
	g.waitChecked(p.ID)
	g.emu.Outage(t, true)
	p = g.waitFor(p.ID, "an outage mark", func(p register.Payment) bool { return p.OutageSince != nil })
	assert.Equal(t, register.StatePolling, p.State, "an outage never decides a payment")
	g.emu.Outage(t, false)
	require.NoError(t, g.emu.Pay(g.session(p.ID)))
	p = g.waitState(p.ID, register.StatePaid)
	assert.Nil(t, p.OutageSince, "the outage mark ends with the first answer")
	g.assertPaid(p)
	events := g.auditEvents(p.ID)
	assert.Contains(t, events, "outage")
	assert.Contains(t, events, "outage_end")
	assert.Equal(t, 1, g.emu.StartCalls())
}

func refunds(g *rig) {
	t := g.t
	ctx := context.Background()
	p := g.create("refunds")
	require.NoError(t, g.emu.Pay(g.session(p.ID)))
	p = g.waitState(p.ID, register.StatePaid)
	g.assertPaid(p)

	part, created, err := g.r.Refund(ctx, p.ID, "refund-part", register.RefundRequest{Amount: money.MustParse("5.00"), CashierID: "cashier-1", Reason: "partial"})
	require.NoError(t, err)
	require.True(t, created)
	require.NotEmpty(t, part.ProviderRef)
	again, created, err := g.r.Refund(ctx, p.ID, "refund-part", register.RefundRequest{Amount: money.MustParse("5.00"), CashierID: "cashier-1", Reason: "partial"})
	require.NoError(t, err)
	assert.False(t, created, "the same key is the same refund")
	assert.Equal(t, part.ID, again.ID)

	rest, created, err := g.r.Refund(ctx, p.ID, "refund-rest", register.RefundRequest{Amount: money.MustParse("15.00"), CashierID: "cashier-1", Reason: "the rest"})
	require.NoError(t, err)
	require.True(t, created)
	require.NotEmpty(t, rest.ProviderRef)
	assert.NotEqual(t, part.ProviderRef, rest.ProviderRef, "each refund has its own provider reference")

	_, _, err = g.r.Refund(ctx, p.ID, "refund-over", register.RefundRequest{Amount: money.MustParse("0.01"), CashierID: "cashier-1"})
	require.ErrorIs(t, err, register.ErrRefundExceeds)
	assert.Equal(t, saleAmount, g.payment(p.ID).Refunded)

	posts := g.posts(p.ID, "refund")
	require.Len(t, posts, 2)
	got := map[string]money.Amount{}
	for _, rp := range posts {
		got[rp.Reference] = rp.Amount
		assert.Equal(t, p.Provider, rp.Provider)
	}
	assert.Equal(t, map[string]money.Amount{part.ProviderRef: money.MustParse("5.00"), rest.ProviderRef: money.MustParse("15.00")}, got)
}

func restartWhilePending(g *rig) {
	t := g.t
	p := g.create("restart")
	g.waitChecked(p.ID)
	g.restart()
	p = g.payment(p.ID)
	require.Equal(t, register.StatePolling, p.State, "open payments survive a restart")
	checks := p.PollCount
	g.waitFor(p.ID, "a check after the restart", func(q register.Payment) bool { return q.PollCount > checks })
	require.NoError(t, g.emu.Pay(g.session(p.ID)))
	p = g.waitState(p.ID, register.StatePaid)
	g.assertPaid(p)
	assert.Equal(t, 1, g.emu.StartCalls(), "a restart never starts the payment again")
}
