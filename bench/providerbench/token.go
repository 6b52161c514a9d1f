package main

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/posd/posd/internal/resurs"
	"github.com/posd/posd/internal/resurs/resurssim"
	"github.com/posd/posd/internal/simctl"
	"github.com/posd/posd/test/harness"
)

// tokenLifetime is the emulator's default (expires_in 3599, as Resurs's
// integration gateway answers), set explicitly so the report can name it.
const tokenLifetime = 3599 * time.Second

// simClock is the simulated time shared by the emulator and posd's Resurs
// adapter in the token section: a day passes in a second of real time.
type simClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *simClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// benchToken runs posd's Resurs adapter (the same constructor and defaults
// cmd/posd uses) against the Resurs emulator on a loopback httptest server,
// both on one simulated clock: a cashier page asks for the payment widget's
// session every `every` and for the payment-method types every tenth time,
// for `run` of simulated time. It counts the token requests the emulator
// received, the steady-state target being at most one an hour.
func benchToken(ctx context.Context, out io.Writer, run, every time.Duration) error {
	fmt.Fprintf(out, "\n== Merchant API token requests: %s simulated, widget session every %s, method types every %s\n", run, every, 10*every)
	clock := &simClock{now: time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)}
	calls := simctl.NewCallLog(0)
	sim := resurssim.New(resurssim.Options{Now: clock.Now, Calls: calls, TokenLifetime: tokenLifetime})
	srv := httptest.NewServer(sim.Handler()) // 127.0.0.1 only
	defer srv.Close()
	a, err := resurs.NewAdapter(resurs.AdapterConfig{
		POSURL: srv.URL + "/pos", AfterShopURL: srv.URL + resurssim.PathAfterShop, MAPIURL: srv.URL + "/api",
		Username: harness.ResursUser, Password: harness.ResursPassword,
		ClientID: harness.ResursClientID, ClientSecret: harness.ResursClientSecret, StoreID: harness.ResursStoreID,
		Now: clock.Now,
	})
	if err != nil {
		return err
	}
	start := clock.Now()
	steps := int(run / every)
	widgets := map[string]bool{}
	for i := range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		ws, err := a.WidgetSession(ctx)
		if err != nil {
			return fmt.Errorf("widget session at %s: %w", clock.Now().Sub(start), err)
		}
		widgets[ws.Token] = true
		if i%10 == 0 {
			if _, err := a.PaymentMethodTypes(ctx, "B2C", nil); err != nil {
				return fmt.Errorf("method types at %s: %w", clock.Now().Sub(start), err)
			}
		}
		clock.advance(every)
	}
	var tokens []time.Time
	other := 0
	for _, c := range calls.Calls(simctl.Filter{Service: resurssim.Service}) {
		switch {
		case c.Operation == "token":
			tokens = append(tokens, c.Time)
		default:
			other++
		}
	}
	var gaps []time.Duration
	for i := 1; i < len(tokens); i++ {
		gaps = append(gaps, tokens[i].Sub(tokens[i-1]))
	}
	hours := run.Hours()
	fmt.Fprintf(out, "token requests: %d in %.0f h = %.3f an hour (other Merchant API calls: %d; widget sessions issued: %d)\n",
		len(tokens), hours, float64(len(tokens))/hours, other, len(widgets))
	if len(gaps) > 0 {
		fmt.Fprintf(out, "between token requests: min %s p50 %s max %s (token lifetime %s, renewed by posd %s before expiry)\n",
			pct(gaps, 0), pct(gaps, 0.5), pct(gaps, 1), tokenLifetime, time.Minute)
	}
	if len(gaps) == 0 {
		fmt.Fprintln(out, "target: <= 1 an hour in steady state: fewer than two token requests, no steady-state rate")
		return nil
	}
	// Steady state is the cadence between renewals; the run's first token
	// is the start-up.
	rate := float64(time.Hour) / float64(pct(gaps, 0.5))
	verdict := "ok"
	if rate > 1 {
		verdict = fmt.Sprintf("ABOVE by %.1f %%: the renewal comes its margin before the expiry, so a token lifetime of 1 h gives a renewal every lifetime - margin", (rate-1)*100)
	}
	fmt.Fprintf(out, "target: <= 1 an hour in steady state: %.3f an hour (one every %s): %s\n", rate, pct(gaps, 0.5), verdict)
	return nil
}
