package register

import (
	"context"
	"net/http"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/seqr"
	"github.com/posd/posd/internal/seqr/seqrsim"
	"github.com/posd/posd/internal/simctl"
)

// crashedStart runs posd (real SEQR adapter, emulator) until a sale's
// sendInvoice was answered but its invoiceReference not saved
// (CrashStartReply: the goroutine ends there, as posd killed would), then
// stops it. It returns the state dir and the payment's id.
func crashedStart(t *testing.T, sim *seqrsim.Sim, calls *simctl.CallLog) (string, string) {
	t.Helper()
	ctx := context.Background()
	rig := newSimRig(t, Config{}, sim, calls, "") // registers the till
	dir := rig.dir
	rig.close()

	client, err := seqr.New(seqr.Config{URL: "http://seqr.test" + seqrsim.PathCashRegister2, ClientID: "posd",
		ClientReference: "posd test", HTTPClient: &http.Client{Transport: inProcess{sim.Handler()}}})
	require.NoError(t, err)
	h := newHarness(t, nil, harnessOpt{noTerminal: true, dir: dir, noRun: true})
	r, err := New(Config{}, Deps{Store: h.db, Providers: []payment.Provider{seqrProvider(t, client, h.db, payment.Policy{})},
		Journal: h.journal, Crash: func(point string) {
			if point == CrashStartReply {
				runtime.Goexit()
			}
		}})
	require.NoError(t, err)
	h.r = r
	h.start()
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		_, _, _ = h.r.CreatePayment(ctx, "lost-reply", sale("20.00"))
		t.Error("CreatePayment returned: the crash point was not reached")
	}()
	<-ended
	created, err := h.db.Payments(ctx, "created")
	require.NoError(t, err)
	require.Len(t, created, 1, "the payment stays created: its reference was never saved")
	require.Len(t, calls.Calls(simctl.Filter{Operation: "sendInvoice"}), 1)
	h.close()
	return dir, created[0].ID
}

func restartOn(t *testing.T, sim *seqrsim.Sim, calls *simctl.CallLog, dir string) *simRig {
	t.Helper()
	return newSimRig(t, Config{}, sim, calls, dir)
}

// TestLostInvoiceReplyFoundAndPaid (issue 11 item 7): posd stopped between
// SEQR issuing the invoice and saving its reference. At the next start the
// payment is found through the terminal's current invoice (getPaymentStatus
// without a reference) while the customer pays it, recorded paid with the
// invoice's reference, and nothing is sent twice.
func TestLostInvoiceReplyFoundAndPaid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		sim, calls := newSim()
		dir, id := crashedStart(t, sim, calls)

		rig := restartOn(t, sim, calls, dir)
		defer rig.close()
		p, err := rig.r.Payment(ctx, id)
		require.NoError(t, err)
		require.Equal(t, StateUnknown, p.State, "not identified yet: the invoice is open")
		ch, cancel := rig.r.Subscribe(id)
		defer cancel()

		time.Sleep(5 * time.Second) // the customer takes a while; posd keeps asking
		_, err = sim.Scan(tillSeqrID)
		require.NoError(t, err)
		inv, err := sim.Pay(tillSeqrID, seqrsim.OutcomePaid)
		require.NoError(t, err)
		ev := waitWithin(t, ch, StatePaid, 2*time.Minute)
		assert.Equal(t, inv.InvoiceReference, ev.Payment.ProviderRef, "the invoice's reference recovered")
		assert.NotEmpty(t, ev.Payment.TransactionRef)
		assert.True(t, rig.journal.Has("seqr", ev.Payment.TransactionRef))
		assert.Len(t, calls.Calls(simctl.Filter{Operation: "sendInvoice"}), 1, "never sent twice")
		lookups := 0
		for _, c := range calls.Calls(simctl.Filter{Operation: "getPaymentStatus"}) {
			if c.Reference == "" || c.Reference == inv.InvoiceReference {
				lookups++
			}
		}
		assert.GreaterOrEqual(t, lookups, 5, "the open invoice was asked about every second, so SEQR never reversed it")
		got, ok := sim.Invoice(inv.InvoiceReference)
		require.True(t, ok)
		assert.Equal(t, string(seqr.StatusPaid), got.Status)
		assert.False(t, got.Reversed)
	})
}

// TestLostInvoiceReplyNotMatched: the invoice a lost reply issued was
// rejected by the customer (or is another payment's): the payment is
// canceled with its reason, and its sale can be taken again.
func TestLostInvoiceReplyNotMatched(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		sim, calls := newSim()
		dir, id := crashedStart(t, sim, calls)
		_, err := sim.Scan(tillSeqrID)
		require.NoError(t, err)
		_, err = sim.Pay(tillSeqrID, seqrsim.OutcomeReject)
		require.NoError(t, err)

		rig := restartOn(t, sim, calls, dir)
		defer rig.close()
		ch, cancel := rig.r.Subscribe(id)
		defer cancel()
		p, err := rig.r.Payment(ctx, id)
		require.NoError(t, err)
		if p.State != StateCanceled {
			p = waitWithin(t, ch, StateCanceled, 2*time.Minute).Payment
		}
		assert.Contains(t, p.Error, "not charged")
		assert.Empty(t, p.TransactionRef)
	})
}

// TestLostInvoiceReplyNeverPaid: an invoice nobody pays is asked about for
// two windows, then the payment is canceled (SEQR reverses what nobody
// polls).
func TestLostInvoiceReplyNeverPaid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim, calls := newSim()
		dir, id := crashedStart(t, sim, calls)
		rig := restartOn(t, sim, calls, dir)
		defer rig.close()
		ch, cancel := rig.r.Subscribe(id)
		defer cancel()
		start := time.Now()
		ev := waitWithin(t, ch, StateCanceled, 5*time.Minute)
		assert.GreaterOrEqual(t, time.Since(start), 59*time.Second)
		assert.Contains(t, ev.Payment.Error, "not identified")
	})
}

// waitWithin is waitState bounded in (the bubble's) time, so a payment that
// is never found fails the test instead of hanging it.
func waitWithin(t *testing.T, ch <-chan Event, want State, limit time.Duration) Event {
	t.Helper()
	timeout := time.After(limit)
	for {
		select {
		case ev, ok := <-ch:
			require.True(t, ok, "stream ended before %s", want)
			if ev.Type == "state" && ev.State == want {
				return ev
			}
			if ev.Type == "state" && ev.State.Final() {
				t.Fatalf("payment ended %s (%s), want %s", ev.State, ev.Payment.Error, want)
			}
		case <-timeout:
			t.Fatalf("payment not %s within %v", want, limit)
		}
	}
}
