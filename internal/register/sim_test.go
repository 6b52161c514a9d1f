package register

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/seqr"
	"github.com/posd/posd/internal/seqr/seqrsim"
	"github.com/posd/posd/internal/simctl"
)

// inProcess serves HTTP requests with a handler in the same process: no
// sockets, so the emulator also runs inside a testing/synctest bubble.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, req)
	res := rec.Result()
	res.Request = req
	return res, nil
}

const tillSeqrID = "TILL0001"

type simRig struct {
	*harness
	sim   *seqrsim.Sim
	calls *simctl.CallLog
}

// newSimRig runs posd against the SEQR emulator and registers the till
// through posd's own API calls (registerTerminal, assignSeqrId).
func newSimRig(t *testing.T, cfg Config, sim *seqrsim.Sim, calls *simctl.CallLog, dir string) *simRig {
	t.Helper()
	client, err := seqr.New(seqr.Config{URL: "http://seqr.test" + seqrsim.PathCashRegister2, ClientID: "posd",
		ClientReference: "posd test", HTTPClient: &http.Client{Transport: inProcess{sim.Handler()}}})
	require.NoError(t, err)
	h := newHarness(t, nil, harnessOpt{cfg: cfg, noTerminal: true, dir: dir, noRun: true})
	r, err := New(cfg, Deps{Store: h.db, Providers: []payment.Provider{seqrProvider(t, client, h.db, payment.Policy{})}, Journal: h.journal})
	require.NoError(t, err)
	h.r = r
	h.start()
	ctx := context.Background()
	if term, _ := h.r.Terminal(ctx); !term.Registered {
		_, err = h.r.RegisterTerminal(ctx, RegisterTerminalRequest{ResellerID: seqrsim.TestResellerID,
			ResellerUserID: seqrsim.TestResellerUserID, ResellerPassword: seqrsim.TestResellerPassword,
			ExternalTerminalID: "Shop 1/POS 2", Name: "till 2"})
		require.NoError(t, err)
		_, err = h.r.AssignSeqrID(ctx, tillSeqrID)
		require.NoError(t, err)
	}
	return &simRig{harness: h, sim: sim, calls: calls}
}

func newSim() (*seqrsim.Sim, *simctl.CallLog) {
	calls := simctl.NewCallLog(0)
	return seqrsim.New(seqrsim.Options{Calls: calls}), calls
}

func (s *simRig) statusCalls(ref string) []simctl.Call {
	return s.calls.Calls(simctl.Filter{Operation: "getPaymentStatus", Reference: ref})
}

// The certification run against the emulator: pay, submitPaymentReceipt,
// cancel, refund, period close, unregister (P8 in spirit, P1/P2 on the wire).
func TestEmulatorCertificationRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim, calls := newSim()
		rig := newSimRig(t, Config{}, sim, calls, "")
		defer rig.close()
		ctx := context.Background()

		// Sale 1: scanned and paid after 5 s.
		p, _, err := rig.r.CreatePayment(ctx, "sale-1", sale("20.00"))
		require.NoError(t, err)
		require.Equal(t, StatePolling, p.State)
		ch, cancel := rig.r.Subscribe(p.ID)
		defer cancel()
		time.Sleep(5 * time.Second)
		_, err = sim.Scan(tillSeqrID)
		require.NoError(t, err)
		_, err = sim.Pay(tillSeqrID, seqrsim.OutcomePaid)
		require.NoError(t, err)
		paidAt := time.Now()
		ev := waitState(t, ch, StatePaid)
		assert.LessOrEqual(t, time.Since(paidAt), time.Second, "paid seen within one poll")
		got, ok := sim.Invoice(p.InvoiceReference)
		require.True(t, ok)
		assert.Equal(t, got.ERSReference, ev.Payment.ERSReference)
		assert.True(t, rig.journal.Has("seqr", ev.Payment.ERSReference))

		polls := rig.statusCalls(p.InvoiceReference)
		require.NotEmpty(t, polls)
		assert.Equal(t, "0", polls[0].Detail["invoiceVersion"])
		for i := 1; i < len(polls); i++ {
			assert.Equal(t, time.Second, polls[i].Time.Sub(polls[i-1].Time))
			assert.Equal(t, polls[i-1].Detail["version"], polls[i].Detail["invoiceVersion"], "last version sent back")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		subs := calls.Calls(simctl.Filter{Operation: "submitPaymentReceipt"})
		require.Len(t, subs, 1)
		require.NotNil(t, subs[0].ResultCode)
		assert.Equal(t, 0, *subs[0].ResultCode)

		// Sale 2: canceled by the cashier.
		p2, _, err := rig.r.CreatePayment(ctx, "sale-2", sale("15.00"))
		require.NoError(t, err)
		time.Sleep(3 * time.Second)
		q, err := rig.r.Cancel(ctx, p2.ID)
		require.NoError(t, err)
		assert.Equal(t, StateCanceled, q.State)

		// Refund part of sale 1.
		rf, _, err := rig.r.Refund(ctx, p.ID, "rk-8", RefundRequest{Amount: money.MustParse("5.00"), CashierID: "bob"})
		require.NoError(t, err)
		assert.NotEmpty(t, rf.ERSReference)
		_, _, err = rig.r.Refund(ctx, p.ID, "rk-9", RefundRequest{Amount: money.MustParse("15.01")})
		require.ErrorIs(t, err, ErrRefundExceeds)

		// Period close: one sale of 20.00 on both sides.
		rep, err := rig.r.ClosePeriod(ctx, "")
		require.NoError(t, err)
		assert.True(t, rep.Match, "%+v", rep)
		assert.Equal(t, 1, rep.RemoteCount)
		assert.Equal(t, money.MustParse("20.00"), rep.RemoteTotal)

		require.NoError(t, rig.r.UnregisterTerminal(ctx))
	})
}

// A customer who pays while posd is down and is never polled is reversed
// by SEQR; posd never shows the payment as paid.
func TestEmulatorUnpolledPaymentIsReversed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim, calls := newSim()
		rig := newSimRig(t, Config{}, sim, calls, "")
		ctx := context.Background()
		p, _, err := rig.r.CreatePayment(ctx, "sale-1", sale("20.00"))
		require.NoError(t, err)
		synctest.Wait()
		dir := rig.dir
		rig.close() // posd stops (crash or power cut) while the customer pays
		_, err = sim.Pay(tillSeqrID, seqrsim.OutcomePaid)
		require.NoError(t, err)
		time.Sleep(25 * time.Second)

		rig2 := newSimRig(t, Config{}, sim, calls, dir)
		defer rig2.close()
		ch, cancel := rig2.r.Subscribe(p.ID)
		defer cancel()
		var states []State
		for ev := range ch {
			if ev.Type == "state" {
				states = append(states, ev.State)
			}
		}
		assert.Equal(t, []State{StateCanceled}, states)
		assert.Equal(t, 1, sim.Reversals())
		assert.Empty(t, allPosts(t, rig2.journal))
		trail, err := rig2.db.AuditTrail(ctx, p.ID)
		require.NoError(t, err)
		for _, a := range trail {
			assert.NotEqual(t, "paid", a.ToState)
		}
	})
}

// Recovery against the emulator: restarted posd polls the open invoice at
// once (emulator call log) and records the payment exactly once.
func TestEmulatorRestartDuringPolling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim, calls := newSim()
		rig := newSimRig(t, Config{}, sim, calls, "")
		ctx := context.Background()
		p, _, err := rig.r.CreatePayment(ctx, "sale-1", sale("20.00"))
		require.NoError(t, err)
		time.Sleep(7 * time.Second)
		dir := rig.dir
		rig.close()
		time.Sleep(3 * time.Second) // systemd restart delay
		restart := time.Now()
		rig2 := newSimRig(t, Config{}, sim, calls, dir)
		defer rig2.close()
		synctest.Wait()
		var after []simctl.Call
		for _, c := range rig2.statusCalls(p.InvoiceReference) {
			if !c.Time.Before(restart) {
				after = append(after, c)
			}
		}
		require.NotEmpty(t, after)
		assert.LessOrEqual(t, after[0].Time.Sub(restart), 2*time.Second)

		_, err = sim.Pay(tillSeqrID, seqrsim.OutcomePaid)
		require.NoError(t, err)
		ch, cancel := rig2.r.Subscribe(p.ID)
		defer cancel()
		waitState(t, ch, StatePaid)
		assert.Len(t, allPosts(t, rig2.journal), 1)
		assert.Equal(t, 0, sim.Reversals())
		assert.Len(t, calls.Calls(simctl.Filter{Operation: "sendInvoice"}), 1)
	})
}

// P1 on the emulator's clock: 30 +- 1 polls in the first window.
func TestEmulatorPollsPerWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim, calls := newSim()
		rig := newSimRig(t, Config{}, sim, calls, "")
		defer rig.close()
		p, _, err := rig.r.CreatePayment(context.Background(), "sale-1", sale("20.00"))
		require.NoError(t, err)
		ch, cancel := rig.r.Subscribe(p.ID)
		defer cancel()
		ev := waitState(t, ch, StateAwaitingDecision)
		n := 0
		for _, c := range rig.statusCalls(p.InvoiceReference) {
			if c.Time.Before(*p.WindowEndsAt) {
				n++
			}
		}
		assert.InDelta(t, 30, n, 1)
		assert.Equal(t, 1, ev.Payment.Window)
		assert.Empty(t, ev.Payment.Error)
	})
}

// P6 over a real socket: nothing listens, the payment is refused as
// offline, nothing is stored.
func TestEmulatorOfflineOverLoopback(t *testing.T) {
	sim, calls := newSim()
	srv := httptest.NewServer(sim.Handler())
	client, err := seqr.New(seqr.Config{URL: srv.URL + seqrsim.PathCashRegister2, ClientID: "posd", ClientReference: "t"})
	require.NoError(t, err)
	h := newHarness(t, nil, harnessOpt{noRun: true})
	r, err := New(Config{}, Deps{Store: h.db, Providers: []payment.Provider{seqrProvider(t, client, h.db, payment.Policy{})}, Journal: h.journal})
	require.NoError(t, err)
	h.r = r
	h.start()
	defer h.close()
	srv.Close() // SEQR unreachable
	_, _, err = h.r.CreatePayment(context.Background(), "k", sale("20.00"))
	require.ErrorIs(t, err, ErrOffline)
	page, err := h.r.Payments(context.Background(), ListQuery{})
	list := page.Payments
	require.NoError(t, err)
	assert.Empty(t, list)
	assert.Empty(t, calls.Calls(simctl.Filter{Operation: "sendInvoice"}))
}

// manualClock is the emulator's clock in real-socket tests.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *manualClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// N2: the sendInvoice request arrives and creates the invoice, but the
// connection drops before the answer. posd records "unknown", never sends
// again; the customer who pays is reversed by SEQR (nobody polls), and posd
// never shows paid.
func TestEmulatorSendInvoiceDroppedAfterProcessing(t *testing.T) {
	clock := &manualClock{t: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)}
	calls := simctl.NewCallLog(0)
	faults := simctl.NewFaults(nil)
	sim := seqrsim.New(seqrsim.Options{Calls: calls, Faults: faults, Now: clock.Now})
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	client, err := seqr.New(seqr.Config{URL: srv.URL + seqrsim.PathCashRegister2, ClientID: "posd", ClientReference: "t"})
	require.NoError(t, err)
	h := newHarness(t, nil, harnessOpt{noRun: true, noTerminal: true})
	r, err := New(Config{}, Deps{Store: h.db, Providers: []payment.Provider{seqrProvider(t, client, h.db, payment.Policy{})}, Journal: h.journal})
	require.NoError(t, err)
	h.r = r
	h.start()
	defer h.close()
	ctx := context.Background()
	_, err = r.RegisterTerminal(ctx, RegisterTerminalRequest{ResellerID: seqrsim.TestResellerID, ResellerUserID: seqrsim.TestResellerUserID,
		ResellerPassword: seqrsim.TestResellerPassword, ExternalTerminalID: "t", Name: "t"})
	require.NoError(t, err)
	_, err = r.AssignSeqrID(ctx, tillSeqrID)
	require.NoError(t, err)

	require.NoError(t, faults.Set([]simctl.Rule{{Service: seqrsim.Service, Operation: "sendInvoice", Mode: simctl.ModeDrop, Process: true, Count: 1}}))
	p, _, err := r.CreatePayment(ctx, "k1", sale("20.00"))
	require.NoError(t, err)
	assert.Equal(t, StateUnknown, p.State)
	assert.Contains(t, p.Error, "not confirmed")

	_, err = sim.PayTill(tillSeqrID, seqrsim.OutcomePaid) // the customer pays the invoice posd never heard of
	require.NoError(t, err)
	clock.Add(21 * time.Second)
	assert.Equal(t, 1, sim.Reversals())

	again, created, err := r.CreatePayment(ctx, "k1", sale("20.00"))
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, StateUnknown, again.State)
	assert.Len(t, calls.Calls(simctl.Filter{Operation: "sendInvoice"}), 1, "never sent twice")
	assert.Empty(t, allPosts(t, h.journal))
}
