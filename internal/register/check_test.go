package register

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/seqr"
)

// P1: getPaymentStatus at 1 Hz, 30 +- 1 calls per 30 s window, never more
// than one in flight, each carrying the last invoiceVersion received; the
// cadence does not drift with the round trip.
func TestCheckCadenceIsFixedWithOneCallInFlight(t *testing.T) {
	for _, latency := range []time.Duration{0, 300 * time.Millisecond, 900 * time.Millisecond} {
		t.Run(latency.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fake := &fakeSEQR{latency: latency}
				// The version grows on every status so "last version sent back" is visible.
				fake.status = func(n int, ref string, version int) (seqr.PaymentStatus, error) {
					return seqr.PaymentStatus{Status: seqr.StatusIssued, Version: n}, nil
				}
				h := newHarness(t, fake, harnessOpt{})
				defer h.close()

				p, created, err := h.r.CreatePayment(context.Background(), "k1", sale("20.00"))
				require.NoError(t, err)
				require.True(t, created)
				require.Equal(t, StatePolling, p.State)
				require.Equal(t, 1, p.Window)
				sentAt := time.Now()
				ch, cancel := h.r.Subscribe(p.ID)
				defer cancel()
				ev := waitState(t, ch, StateAwaitingDecision)
				assert.Equal(t, 30*time.Second, time.Since(sentAt), "the prompt comes at 30 s of wall time")

				calls := fake.callsOf("getPaymentStatus")
				inWindow := 0
				for _, c := range calls {
					if c.at.Before(sentAt.Add(30 * time.Second)) {
						inWindow++
					}
				}
				assert.InDelta(t, 30, inWindow, 1, "polls in the first window")
				assert.Equal(t, 1, fake.maxInFlight, "never more than one call in flight")
				for i := 1; i < len(calls); i++ {
					assert.Equal(t, p.InvoiceReference, calls[i].ref)
					assert.Equal(t, time.Second, calls[i].at.Sub(calls[i-1].at), "fixed cadence, no drift by latency")
				}
				assert.Equal(t, 0, calls[0].version, "first poll sends 0")
				// Call i (1-based) answered version i; call i+1 must send it back.
				for i := 1; i < len(calls); i++ {
					if calls[i].at.Sub(calls[i-1].at) >= latency {
						assert.Equal(t, i, calls[i].version, "call %d sends the last version received", i+1)
					}
				}
				assert.Equal(t, StateAwaitingDecision, ev.Payment.State)

				// Polling continues while the cashier decides.
				before := fake.count("getPaymentStatus")
				time.Sleep(10 * time.Second)
				synctest.Wait()
				assert.InDelta(t, 10, fake.count("getPaymentStatus")-before, 1)
				assert.Equal(t, 1, fake.count("sendInvoice"))
			})
		})
	}
}

// A call slower than the interval: ticks are skipped, not queued.
func TestPollSlowCallsNeverOverlap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := &fakeSEQR{latency: 2500 * time.Millisecond}
		h := newHarness(t, fake, harnessOpt{})
		defer h.close()
		p, _, err := h.r.CreatePayment(context.Background(), "k1", sale("20.00"))
		require.NoError(t, err)
		ch, cancel := h.r.Subscribe(p.ID)
		defer cancel()
		waitState(t, ch, StateAwaitingDecision)
		assert.Equal(t, 1, fake.maxInFlight)
		calls := fake.callsOf("getPaymentStatus")
		for i := 1; i < len(calls); i++ {
			assert.Equal(t, 3*time.Second, calls[i].at.Sub(calls[i-1].at), "next tick after the reply")
		}
	})
}

// Events: one poll event per poll with the seconds left in the window; a
// subscriber that does not read loses poll events, never the final state,
// and its channel is closed after it.
func TestEventsCountdownAndSlowSubscriber(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := &fakeSEQR{status: func(n int, ref string, v int) (seqr.PaymentStatus, error) {
			if n >= 100 {
				return paidStatus(ers1), nil
			}
			return seqr.PaymentStatus{Status: seqr.StatusIssued, Version: 1}, nil
		}}
		h := newHarness(t, fake, harnessOpt{})
		defer h.close()
		p, _, err := h.r.CreatePayment(context.Background(), "k1", sale("20.00"))
		require.NoError(t, err)
		fast, cancelFast := h.r.Subscribe(p.ID)
		defer cancelFast()
		slow, cancelSlow := h.r.Subscribe(p.ID)
		defer cancelSlow()

		var left []int
		for ev := range fast {
			if ev.Type == "poll" && ev.State == StatePolling {
				left = append(left, ev.SecondsLeft)
			}
			if ev.Type == "state" && ev.State == StateAwaitingDecision {
				break
			}
		}
		require.NotEmpty(t, left)
		// The first poll (30 s left) may precede the subscription.
		assert.GreaterOrEqual(t, left[0], 29)
		assert.Equal(t, 1, left[len(left)-1])
		for i := 1; i < len(left); i++ {
			assert.Equal(t, left[i-1]-1, left[i], "one poll per second")
		}
		for ev := range fast {
			_ = ev // drain until the final state closes it
		}

		// The slow subscriber never read while ~100 events were published.
		var got []Event
		for ev := range slow {
			got = append(got, ev)
		}
		require.NotEmpty(t, got)
		assert.LessOrEqual(t, len(got), subscriberBuffer+1, "the buffer (+1 if reading began as the final event came)")
		last := got[len(got)-1]
		assert.Equal(t, "state", last.Type)
		assert.Equal(t, StatePaid, last.State)
		for _, ev := range got {
			if ev.Type == "state" && ev.State == StateAwaitingDecision {
				return
			}
		}
		t.Fatal("the awaiting_decision state event was dropped")
	})
}

// A provider's notification is a hint: the payment is checked at once, and
// only the check decides.
func TestHintTriggersACheckNotADecision(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := &fakeSEQR{}
		h := newHarness(t, fake, harnessOpt{policy: payment.Policy{CheckInterval: 10 * time.Second}})
		defer h.close()
		ctx := context.Background()
		p, _, err := h.r.CreatePayment(ctx, "k1", sale("20.00"))
		require.NoError(t, err)
		synctest.Wait()
		before := fake.count("getPaymentStatus")
		found, err := h.r.Hint(ctx, "seqr", p.ProviderRef)
		require.NoError(t, err)
		assert.True(t, found)
		synctest.Wait()
		assert.Equal(t, before+1, fake.count("getPaymentStatus"), "checked at once, not at the next tick")
		got, err := h.r.Payment(ctx, p.ID)
		require.NoError(t, err)
		assert.Equal(t, StatePolling, got.State, "a hint decides nothing")
		found, err = h.r.Hint(ctx, "seqr", "no-such-session")
		require.NoError(t, err)
		assert.False(t, found)
	})
}

// N4 at the loop's own level: with every check taking 1.5 s (longer than the
// 1 s interval) and a 5 s window, a customer paying at any phase of the
// check cycle, before or across the window's end, is recorded paid within
// latency + one interval of paying. This is the bound the end-to-end
// TestN4LatencyOnEveryCall asserts on wall time; here time is synctest's, so
// a breach is the loop's logic, never the machine's load.
func TestPaidSeenWithinLatencyPlusIntervalAtAnyPhase(t *testing.T) {
	const latency, interval = 1500 * time.Millisecond, time.Second
	for off := time.Duration(0); off < 9*time.Second; off += 250 * time.Millisecond {
		synctest.Test(t, func(t *testing.T) {
			var payAt atomic.Int64 // UnixNano; the checks read it from their goroutines
			fake := &fakeSEQR{latency: latency}
			fake.status = func(n int, ref string, v int) (seqr.PaymentStatus, error) {
				// The status is read when the answer is made, as SEQR's
				// emulator does after its injected latency.
				if time.Now().UnixNano() >= payAt.Load() {
					return paidStatus("ERS1"), nil
				}
				return seqr.PaymentStatus{Status: seqr.StatusIssued, Version: 1}, nil
			}
			payAt.Store(time.Now().Add(time.Hour).UnixNano())
			h := newHarness(t, fake, harnessOpt{policy: payment.Policy{CheckInterval: interval, Window: 5 * time.Second}})
			defer h.close()
			p, _, err := h.r.CreatePayment(context.Background(), "k1", sale("20.00"))
			require.NoError(t, err)
			ch, cancel := h.r.Subscribe(p.ID)
			defer cancel()
			paid := time.Now().Add(off)
			payAt.Store(paid.UnixNano())
			waitState(t, ch, StatePaid)
			took := time.Since(paid)
			assert.LessOrEqual(t, took, latency+interval, "paid %s after the customer paid (paying %s into checking)", took, off)
			assert.Equal(t, 1, fake.maxInFlight, "checks never overlap")
		})
	}
}
