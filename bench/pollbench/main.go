// Command pollbench measures issue 3's timing targets on the real binaries:
// posd and paysim as processes over loopback, with 0 ms and with an added
// latency on every SEQR call.
//
//	go run ./bench/pollbench                 # builds both, ~3 minutes
//	go run ./bench/pollbench -latency 0,300ms -paid-samples 20
//
// It reports, per latency: the getPaymentStatus interval p50/p99 and the
// number of polls in one 30 s window (read from the emulator's call log, so
// it is what SEQR would see); the time from the emulator's "paid" to posd's
// paid event on the event stream (p50/p99); and, once, GET /v1/status p99
// under 200 concurrent clients and the payment-create latency without the
// provider's own time.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/posd/posd/test/harness"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pollbench:", err)
		os.Exit(1)
	}
}

type config struct {
	latencies   []time.Duration
	paidSamples int
	clients     int
	perClient   int
	creates     int
	bin         harness.Binaries
}

func parse(args []string, stderr io.Writer) (config, error) {
	c := config{}
	fs := flag.NewFlagSet("pollbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	lat := fs.String("latency", "0,300ms", "comma-separated latencies added to every SEQR call")
	fs.IntVar(&c.paidSamples, "paid-samples", 20, "payments per latency for the paid-to-event time")
	fs.IntVar(&c.clients, "clients", 200, "concurrent GET /v1/status clients")
	fs.IntVar(&c.perClient, "requests", 25, "GET /v1/status requests per client")
	fs.IntVar(&c.creates, "creates", 30, "payments created for the create latency")
	fs.StringVar(&c.bin.Posd, "posd", "", "posd binary (default: go build)")
	fs.StringVar(&c.bin.Paysim, "paysim", "", "paysim binary (default: go build)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	for _, s := range strings.Split(*lat, ",") {
		s = strings.TrimSpace(s)
		if s == "0" {
			s = "0s"
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return c, fmt.Errorf("-latency: %q is not a duration", s)
		}
		c.latencies = append(c.latencies, d)
	}
	return c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parse(args, stderr)
	if err != nil {
		return err
	}
	if cfg.bin.Posd == "" || cfg.bin.Paysim == "" {
		dir, err := os.MkdirTemp("", "pollbench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if cfg.bin, err = harness.Build(ctx, dir); err != nil {
			return err
		}
	}
	simProc, base, err := harness.StartPaysim(cfg.bin)
	if err != nil {
		return err
	}
	defer simProc.Kill()
	sim := harness.NewSim(base)

	stateDir, err := os.MkdirTemp("", "pollbench-state-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stateDir)
	posd, ready, err := harness.StartPosdWith(cfg.bin, stateDir, harness.Providers{harness.SEQR: base})
	if err != nil {
		return err
	}
	defer posd.Stop(5 * time.Second)
	fmt.Fprintf(stdout, "posd READY after %s (empty database)\n", ready.Round(time.Millisecond))
	api, err := harness.NewAPI(stateDir)
	if err != nil {
		return err
	}
	const seqrID = "BENCHTILL"
	if err := harness.Setup(ctx, api, seqrID); err != nil {
		return err
	}
	b := &bench{api: api, sim: sim, seqrID: seqrID, out: stdout}

	for _, lat := range cfg.latencies {
		if err := sim.Do(ctx, "DELETE", "/sim/faults", nil, nil); err != nil {
			return err
		}
		if lat > 0 {
			rule := map[string]any{"service": "seqr", "operation": "*", "latencyMs": lat.Milliseconds()}
			if err := sim.Do(ctx, "POST", "/sim/faults", []any{rule}, nil); err != nil {
				return err
			}
		}
		fmt.Fprintf(stdout, "\n== added latency %s on every SEQR call\n", lat)
		if err := b.window(ctx); err != nil {
			return fmt.Errorf("poll window at %s: %w", lat, err)
		}
		if err := b.paidToEvent(ctx, cfg.paidSamples, lat); err != nil {
			return fmt.Errorf("paid to event at %s: %w", lat, err)
		}
	}
	if err := sim.Do(ctx, "DELETE", "/sim/faults", nil, nil); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "\n== local API")
	if err := b.status(ctx, cfg.clients, cfg.perClient); err != nil {
		return err
	}
	return b.create(ctx, cfg.creates)
}

type bench struct {
	api    *harness.API
	sim    *harness.Sim
	seqrID string
	out    io.Writer
	n      int
}

func (b *bench) newPayment(ctx context.Context) (harness.Payment, error) {
	b.n++
	var p harness.Payment
	err := b.api.Do(ctx, "POST", "/v1/payments", harness.Sale(fmt.Sprintf("bench-%d", b.n), "10.00"),
		map[string]string{"Idempotency-Key": fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), b.n)}, &p)
	if err != nil {
		return p, err
	}
	err = harness.WaitFor(ctx, 15*time.Second, func() (bool, error) {
		err := b.api.Do(ctx, "GET", "/v1/payments/"+p.ID, nil, nil, &p)
		return p.InvoiceReference != "", err
	})
	return p, err
}

// window lets one payment run its whole first 30 s window unpaid and reads
// the poll times the emulator received.
func (b *bench) window(ctx context.Context) error {
	p, err := b.newPayment(ctx)
	if err != nil {
		return err
	}
	if err := harness.WaitFor(ctx, 90*time.Second, func() (bool, error) {
		err := b.api.Do(ctx, "GET", "/v1/payments/"+p.ID, nil, nil, &p)
		return p.State == "awaiting_decision", err
	}); err != nil {
		return fmt.Errorf("waiting for the end of the window: %w", err)
	}
	calls, err := b.sim.Calls(ctx, "getPaymentStatus", p.InvoiceReference)
	if err != nil {
		return err
	}
	if err := b.api.Do(ctx, "POST", "/v1/payments/"+p.ID+"/cancel", nil, nil, nil); err != nil {
		return err
	}
	if len(calls) < 2 {
		return fmt.Errorf("only %d polls", len(calls))
	}
	start := calls[0].Time
	var inWindow int
	var gaps []time.Duration
	for i, c := range calls {
		if c.Time.Sub(start) < 30*time.Second {
			inWindow++
		}
		if i > 0 {
			gaps = append(gaps, c.Time.Sub(calls[i-1].Time))
		}
	}
	fmt.Fprintf(b.out, "poll interval: p50 %s  p99 %s  max %s  (%d intervals)\n",
		pct(gaps, 0.50), pct(gaps, 0.99), pct(gaps, 1), len(gaps))
	fmt.Fprintf(b.out, "polls in the first 30 s window: %d (target 30 ± 1)\n", inWindow)
	return nil
}

// paidToEvent pays n invoices at varying moments and times the paid event
// on posd's event stream from the moment the emulator accepted the payment.
func (b *bench) paidToEvent(ctx context.Context, n int, lat time.Duration) error {
	var samples []time.Duration
	for i := range n {
		p, err := b.newPayment(ctx)
		if err != nil {
			return err
		}
		events, stop, err := b.api.WatchPaid(ctx, p.ID)
		if err != nil {
			return err
		}
		// Pay at a varying phase of the poll cadence.
		time.Sleep(time.Duration(i%10) * 97 * time.Millisecond)
		if err := b.sim.Do(ctx, "POST", "/sim/seqr/scan", map[string]string{"seqrId": b.seqrID}, nil); err != nil {
			stop()
			return err
		}
		if err := b.sim.Do(ctx, "POST", "/sim/seqr/pay", map[string]string{"invoiceReference": p.InvoiceReference, "outcome": "paid"}, nil); err != nil {
			stop()
			return err
		}
		paidAt := time.Now()
		select {
		case at := <-events:
			samples = append(samples, at.Sub(paidAt))
		case <-time.After(20 * time.Second):
			stop()
			return errors.New("no paid event within 20 s")
		}
		stop()
	}
	fmt.Fprintf(b.out, "emulator paid -> posd paid event: p50 %s  p99 %s  max %s  (%d payments; target p99 <= 1 s + round trip %s)\n",
		pct(samples, 0.50), pct(samples, 0.99), pct(samples, 1), len(samples), lat)
	return nil
}

// status hammers GET /v1/status with concurrent clients.
func (b *bench) status(ctx context.Context, clients, each int) error {
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Go(func() {
			local := make([]time.Duration, 0, each)
			for range each {
				t0 := time.Now()
				err := b.api.Do(ctx, "GET", "/v1/status", nil, nil, nil)
				local = append(local, time.Since(t0))
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if firstErr != nil {
		return fmt.Errorf("GET /v1/status: %w", firstErr)
	}
	el := time.Since(start)
	fmt.Fprintf(b.out, "GET /v1/status, %d concurrent clients: p50 %s  p99 %s  max %s  (%d requests, %.0f req/s)\n",
		clients, pct(lat, 0.50), pct(lat, 0.99), pct(lat, 1), len(lat), float64(len(lat))/el.Seconds())
	return nil
}

// create times POST /v1/payments minus the emulator's own time for the sendInvoice it caused.
func (b *bench) create(ctx context.Context, n int) error {
	var own []time.Duration
	for range n {
		before, err := b.sim.Calls(ctx, "sendInvoice", "")
		if err != nil {
			return err
		}
		b.n++
		var p harness.Payment
		t0 := time.Now()
		err = b.api.Do(ctx, "POST", "/v1/payments", harness.Sale(fmt.Sprintf("create-%d", b.n), "10.00"),
			map[string]string{"Idempotency-Key": fmt.Sprintf("create-%d-%d", time.Now().UnixNano(), b.n)}, &p)
		total := time.Since(t0)
		if err != nil {
			return err
		}
		after, err := b.sim.Calls(ctx, "sendInvoice", "")
		if err != nil {
			return err
		}
		provider := time.Duration(0)
		if len(after) > len(before) {
			provider = after[len(after)-1].Duration
		}
		own = append(own, total-provider)
		if err := harness.WaitFor(ctx, 15*time.Second, func() (bool, error) {
			err := b.api.Do(ctx, "GET", "/v1/payments/"+p.ID, nil, nil, &p)
			return p.InvoiceReference != "" || p.State == "failed" || p.State == "unknown", err
		}); err != nil {
			return err
		}
		if err := b.api.Do(ctx, "POST", "/v1/payments/"+p.ID+"/cancel", nil, nil, nil); err != nil {
			return err
		}
	}
	fmt.Fprintf(b.out, "POST /v1/payments without the provider's time: p50 %s  p99 %s  max %s  (%d payments)\n",
		pct(own, 0.50), pct(own, 0.99), pct(own, 1), len(own))
	return nil
}

func pct(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(q*float64(len(s)-1) + 0.5)
	return s[i].Round(10 * time.Microsecond)
}
