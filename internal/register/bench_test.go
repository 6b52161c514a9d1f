package register

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/seqr"
	"github.com/posd/posd/internal/seqr/seqrsim"
	"github.com/posd/posd/internal/simctl"
)

// loopbackRig runs posd against the emulator over a real loopback socket,
// on the real clock, with latency added to every getPaymentStatus.
func loopbackRig(b *testing.B, latency time.Duration) (*harness, *seqrsim.Sim, *simctl.CallLog) {
	b.Helper()
	calls := simctl.NewCallLog(0)
	faults := simctl.NewFaults(nil)
	if latency > 0 {
		require.NoError(b, faults.Set([]simctl.Rule{{Service: seqrsim.Service, Operation: "getPaymentStatus", LatencyMs: latency.Milliseconds()}}))
	}
	sim := seqrsim.New(seqrsim.Options{Calls: calls, Faults: faults})
	srv := httptest.NewServer(sim.Handler())
	b.Cleanup(srv.Close)
	client, err := seqr.New(seqr.Config{URL: srv.URL + seqrsim.PathCashRegister2, ClientID: "posd", ClientReference: "bench"})
	require.NoError(b, err)
	h := newHarness(b, nil, harnessOpt{noRun: true, noTerminal: true})
	r, err := New(Config{}, Deps{Store: h.db, Providers: []payment.Provider{seqrProvider(b, client, h.db, payment.Policy{})}, Journal: h.journal})
	require.NoError(b, err)
	h.r = r
	h.start()
	ctx := context.Background()
	_, err = r.RegisterTerminal(ctx, RegisterTerminalRequest{ResellerID: seqrsim.TestResellerID, ResellerUserID: seqrsim.TestResellerUserID,
		ResellerPassword: seqrsim.TestResellerPassword, ExternalTerminalID: "bench", Name: "bench"})
	require.NoError(b, err)
	_, err = r.AssignSeqrID(ctx, tillSeqrID)
	require.NoError(b, err)
	return h, sim, calls
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(p*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// BenchmarkPollWindow runs whole 30 s windows over loopback and reports the
// poll interval p50/p99 (from the emulator's receive times) and the polls
// per window. Run with -benchtime=1x; it takes 30 s per case.
func BenchmarkPollWindow(b *testing.B) {
	for _, latency := range []time.Duration{0, 300 * time.Millisecond} {
		b.Run(fmt.Sprintf("latency=%s", latency), func(b *testing.B) {
			h, _, calls := loopbackRig(b, latency)
			defer h.close()
			var intervals []time.Duration
			var perWindow []int
			for i := 0; i < b.N; i++ {
				p, _, err := h.r.CreatePayment(context.Background(), fmt.Sprintf("w%d", i), sale("20.00"))
				require.NoError(b, err)
				ch, cancel := h.r.Subscribe(p.ID)
				waitState(b, ch, StateAwaitingDecision)
				cs := calls.Calls(simctl.Filter{Operation: "getPaymentStatus", Reference: p.InvoiceReference})
				n := 0
				for j, c := range cs {
					if c.Time.Before(*p.WindowEndsAt) {
						n++
					}
					if j > 0 {
						intervals = append(intervals, c.Time.Sub(cs[j-1].Time))
					}
				}
				perWindow = append(perWindow, n)
				_, _ = h.r.Cancel(context.Background(), p.ID)
				cancel()
			}
			b.ReportMetric(float64(percentile(intervals, 0.5).Microseconds())/1000, "interval-p50-ms")
			b.ReportMetric(float64(percentile(intervals, 0.99).Microseconds())/1000, "interval-p99-ms")
			sum := 0
			for _, n := range perWindow {
				sum += n
			}
			b.ReportMetric(float64(sum)/float64(len(perWindow)), "polls/window")
		})
	}
}

// BenchmarkPaidToEvent measures the time from the emulated customer's
// "paid" to posd's paid event (recorded: SQLite commit + journal fsync).
func BenchmarkPaidToEvent(b *testing.B) {
	for _, latency := range []time.Duration{0, 300 * time.Millisecond} {
		b.Run(fmt.Sprintf("latency=%s", latency), func(b *testing.B) {
			h, sim, _ := loopbackRig(b, latency)
			defer h.close()
			var lat []time.Duration
			for i := 0; i < b.N; i++ {
				p, _, err := h.r.CreatePayment(context.Background(), fmt.Sprintf("p%d", i), sale("20.00"))
				require.NoError(b, err)
				ch, cancel := h.r.Subscribe(p.ID)
				// Pay at a different phase of the poll cadence each time.
				time.Sleep(time.Duration(i%10) * 97 * time.Millisecond)
				_, err = sim.PayInvoice(p.InvoiceReference, seqrsim.OutcomePaid)
				require.NoError(b, err)
				start := time.Now()
				waitState(b, ch, StatePaid)
				lat = append(lat, time.Since(start))
				cancel()
			}
			b.ReportMetric(float64(percentile(lat, 0.5).Microseconds())/1000, "paid-p50-ms")
			b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "paid-p99-ms")
		})
	}
}

// BenchmarkCreatePayment is the local cost of a payment request with a
// provider that answers at once: validation, gates (storage test write,
// probe), the created commit, the polling commit.
func BenchmarkCreatePayment(b *testing.B) {
	fake := &fakeSEQR{status: func(int, string, int) (seqr.PaymentStatus, error) {
		return seqr.PaymentStatus{Status: seqr.StatusCanceled, Version: 2}, nil
	}}
	h := newHarness(b, fake, harnessOpt{})
	defer h.close()
	req := sale("20.00")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := h.r.CreatePayment(context.Background(), fmt.Sprintf("c%d", i), req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStatus is GET /v1/status's work under concurrent callers.
func BenchmarkStatus(b *testing.B) {
	h := newHarness(b, &fakeSEQR{}, harnessOpt{})
	defer h.close()
	b.SetParallelism(100) // with GOMAXPROCS 2: 200 concurrent callers
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.r.Status(context.Background()); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
