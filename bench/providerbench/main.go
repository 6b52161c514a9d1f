// Command providerbench measures the Resurs Bank and Payson timing targets
// of issues 13 and 8 on the real binaries: posd and paysim as processes
// over loopback, posd configured for SEQR, Resurs and Payson at one paysim.
//
//	go run ./bench/providerbench                      # builds both, ~4 minutes
//	go run ./bench/providerbench -samples 10 -pending 30s -later 100
//	go run ./bench/providerbench -only token          # in-process, ~1 s
//
// Sections (-only picks some, comma-separated):
//
//	resurs   Checkout POS: customer signs -> posd sees "booked" and records paid
//	         (target: <= check interval + round trip); distribution over -samples
//	         payments signed at random phases of the check cadence.
//	payson   the same for Payson: customer pays -> readyToShip seen.
//	cadence  checks per minute per pending payment (Resurs POS, "Betala sen",
//	         Payson) over -pending, from the emulator's call log: no busy polling.
//	restart  -later pending "Betala sen" payments, posd killed (-9) and
//	         restarted: when each is first checked again (histogram over the
//	         interval; the register spreads them, no burst).
//	token    Merchant API token requests over a simulated -token-run (24 h) of a
//	         cashier page using the payment widget, against the Resurs emulator
//	         on a shared simulated clock (target: <= 1 an hour).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/posd/posd/test/harness"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "providerbench:", err)
		os.Exit(1)
	}
}

type config struct {
	only           map[string]bool
	samples        int
	resursInterval time.Duration
	paysonInterval time.Duration
	laterInterval  time.Duration
	pending        time.Duration
	pendingEach    int
	later          int
	tokenRun       time.Duration
	widgetEvery    time.Duration
	timeout        time.Duration
	bin            harness.Binaries
}

var sections = []string{"resurs", "payson", "cadence", "restart", "token"}

func parse(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("providerbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	only := fs.String("only", strings.Join(sections, ","), "sections to run: "+strings.Join(sections, ", "))
	fs.IntVar(&c.samples, "samples", 20, "payments per provider for the seen-after-paid distribution")
	fs.DurationVar(&c.resursInterval, "resurs-interval", 2*time.Second, "providers.resurs.check_interval (posd's default 2 s)")
	fs.DurationVar(&c.paysonInterval, "payson-interval", 2*time.Second, "providers.payson.check_interval (posd's default 2 s)")
	fs.DurationVar(&c.laterInterval, "later-interval", 15*time.Second, "providers.resurs.later_interval (posd's default 1 min; shorter keeps the run short)")
	fs.DurationVar(&c.pending, "pending", 60*time.Second, "how long the pending payments of the cadence section are watched")
	fs.IntVar(&c.pendingEach, "pending-each", 3, "pending payments per method in the cadence section")
	fs.IntVar(&c.later, "later", 200, "pending \"Betala sen\" payments across the restart")
	fs.DurationVar(&c.tokenRun, "token-run", 24*time.Hour, "simulated steady-state run of the token section")
	fs.DurationVar(&c.widgetEvery, "widget-every", 30*time.Second, "simulated time between the cashier page's widget calls")
	fs.DurationVar(&c.timeout, "timeout", 15*time.Minute, "give up after this")
	fs.StringVar(&c.bin.Posd, "posd", "", "posd binary (default: go build)")
	fs.StringVar(&c.bin.Paysim, "paysim", "", "paysim binary (default: go build)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c.only = map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(sections, s) {
			return c, fmt.Errorf("-only: unknown section %q (%s)", s, strings.Join(sections, ", "))
		}
		c.only[s] = true
	}
	switch {
	case c.samples < 1 || c.samples > 1000:
		return c, fmt.Errorf("-samples %d: 1 to 1000", c.samples)
	case c.later < 1 || c.later > 5000:
		return c, fmt.Errorf("-later %d: 1 to 5000", c.later)
	case c.pendingEach < 1 || c.pendingEach > 100:
		return c, fmt.Errorf("-pending-each %d: 1 to 100", c.pendingEach)
	case c.pending < 10*time.Second:
		return c, fmt.Errorf("-pending %s: at least 10s", c.pending)
	case c.widgetEvery <= 0 || c.tokenRun < time.Hour:
		return c, errors.New("-widget-every must be positive and -token-run at least 1h")
	}
	return c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parse(args, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	if cfg.only["token"] {
		if err := benchToken(ctx, stdout, cfg.tokenRun, cfg.widgetEvery); err != nil {
			return fmt.Errorf("token: %w", err)
		}
	}
	if !cfg.only["resurs"] && !cfg.only["payson"] && !cfg.only["cadence"] && !cfg.only["restart"] {
		return nil
	}
	if cfg.bin.Posd == "" || cfg.bin.Paysim == "" {
		dir, err := os.MkdirTemp("", "providerbench-")
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
	stateDir, err := os.MkdirTemp("", "providerbench-state-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stateDir)
	b := &bench{cfg: cfg, sim: harness.NewSim(base), out: stdout, stateDir: stateDir}
	if err := b.start(); err != nil {
		return err
	}
	defer func() { b.posd.Stop(5 * time.Second) }()

	if cfg.only["resurs"] {
		if err := b.seen(ctx, harness.Resurs, cfg.resursInterval); err != nil {
			return fmt.Errorf("resurs: %w", err)
		}
	}
	if cfg.only["payson"] {
		if err := b.seen(ctx, harness.Payson, cfg.paysonInterval); err != nil {
			return fmt.Errorf("payson: %w", err)
		}
	}
	if cfg.only["cadence"] {
		if err := b.cadence(ctx); err != nil {
			return fmt.Errorf("cadence: %w", err)
		}
	}
	if cfg.only["restart"] {
		if err := b.restart(ctx); err != nil {
			return fmt.Errorf("restart: %w", err)
		}
	}
	return nil
}

type bench struct {
	cfg      config
	sim      *harness.Sim
	out      io.Writer
	stateDir string
	posd     *harness.Proc
	api      *harness.API
	n        int
}

// start runs posd on the bench's state directory.
func (b *bench) start() error {
	p, ready, err := harness.StartPosdWith(b.cfg.bin, b.stateDir, harness.AllAt(b.sim.Base),
		"POSD_PROVIDERS_RESURS_CHECK_INTERVAL="+b.cfg.resursInterval.String(),
		"POSD_PROVIDERS_RESURS_LATER_INTERVAL="+b.cfg.laterInterval.String(),
		"POSD_PROVIDERS_PAYSON_CHECK_INTERVAL="+b.cfg.paysonInterval.String(),
		"POSD_LOG_LEVEL=warn")
	if err != nil {
		return err
	}
	b.posd = p
	if b.api, err = harness.NewAPI(b.stateDir); err != nil {
		return err
	}
	fmt.Fprintf(b.out, "posd READY after %s\n", ready.Round(time.Millisecond))
	return nil
}

func (b *bench) create(ctx context.Context, method string) (harness.ProviderPayment, error) {
	b.n++
	var p harness.ProviderPayment
	err := b.api.Do(ctx, "POST", "/v1/payments", harness.Order(method, fmt.Sprintf("bench-%d", b.n), "120.00"),
		map[string]string{"Idempotency-Key": fmt.Sprintf("providerbench-%d-%d", time.Now().UnixNano(), b.n)}, &p)
	if err == nil && p.ProviderRef == "" {
		err = fmt.Errorf("payment %s is %s without a provider reference (error %q)", p.ID, p.State, p.Error)
	}
	return p, err
}

// checks are posd's checks of one payment: Resurs GET /pos/payments/{ref}
// (op getPayment, REST), Payson GET /checkouts/{id}.
func (b *bench) checks(ctx context.Context, provider, ref string) ([]harness.ProviderCall, error) {
	op := "getPayment"
	if provider == harness.Payson {
		op = "getCheckout"
	}
	calls, err := b.sim.ProviderCalls(ctx, provider, op, ref)
	if err != nil {
		return nil, err
	}
	out := calls[:0]
	for _, c := range calls {
		if provider == harness.Payson || strings.Contains(c.Path, "/pos/payments/") {
			out = append(out, c)
		}
	}
	return out, nil
}

// seen: the customer pays at a random phase of the check cadence; the
// delay until posd's check finds it (emulator's log) and until posd's paid
// event (its API), against the target interval + round trip.
func (b *bench) seen(ctx context.Context, provider string, interval time.Duration) error {
	method := provider
	fmt.Fprintf(b.out, "\n== %s: customer pays -> posd sees it (check interval %s, %d payments)\n", provider, interval, b.cfg.samples)
	var seen, recorded, record, event, rtt []time.Duration
	for range b.cfg.samples {
		p, err := b.create(ctx, method)
		if err != nil {
			return err
		}
		var session string
		if provider == harness.Resurs {
			created, err := b.sim.ProviderCalls(ctx, harness.Resurs, "createPayment", p.ProviderRef)
			if err != nil || len(created) == 0 {
				return fmt.Errorf("no session for %s: %v", p.ProviderRef, err)
			}
			session = created[len(created)-1].Detail["paymentSessionId"]
		}
		// The first check runs at once; pay at a random phase after it.
		if err := harness.WaitFor(ctx, 10*time.Second, func() (bool, error) {
			c, err := b.checks(ctx, provider, p.ProviderRef)
			return len(c) > 0, err
		}); err != nil {
			return fmt.Errorf("first check of %s: %w", p.ID, err)
		}
		events, stop, err := b.api.WatchPaid(ctx, p.ID)
		if err != nil {
			return err
		}
		time.Sleep(rand.N(interval)) // a random phase of the cadence (a bench, not a test)
		if provider == harness.Resurs {
			err = b.sim.Do(ctx, "POST", "/sim/resurs/sessions/"+session+"/complete",
				map[string]any{"governmentId": "198305147715", "method": "invoice"}, nil)
		} else {
			err = b.sim.Do(ctx, "POST", "/sim/payson/checkouts/"+p.ProviderRef+"/pay", map[string]string{"method": "card"}, nil)
		}
		paidAt := time.Now()
		if err != nil {
			stop()
			return fmt.Errorf("customer pays %s: %w", p.ProviderRef, err)
		}
		var committedAt time.Time
		select {
		case at := <-events:
			event = append(event, at.Sub(paidAt))
			// posd's own record of the paid commit (its last update):
			// splits the recording (journal, fsync, commit) from the
			// event's way to the client.
			if q, err := b.api.Payment(ctx, p.ID); err == nil && q.State == "paid" {
				committedAt = q.UpdatedAt
				recorded = append(recorded, committedAt.Sub(paidAt))
			}
		case <-time.After(interval + 20*time.Second):
			stop()
			return fmt.Errorf("no paid event for %s", p.ID)
		case <-ctx.Done():
			stop()
			return ctx.Err()
		}
		stop()
		calls, err := b.checks(ctx, provider, p.ProviderRef)
		if err != nil {
			return err
		}
		for _, c := range calls {
			rtt = append(rtt, c.Duration)
			if c.Time.After(paidAt) && paidSeen(provider, c) {
				seen = append(seen, c.End().Sub(paidAt))
				if !committedAt.IsZero() {
					record = append(record, committedAt.Sub(c.End()))
				}
				break
			}
		}
	}
	fmt.Fprintf(b.out, "paid -> check that saw it answered: %s\n", dist(seen))
	fmt.Fprintf(b.out, "paid -> posd committed paid:      %s\n", dist(recorded))
	fmt.Fprintf(b.out, "  of which seen -> committed:     %s  (recording: journal post, fsync, commit)\n", dist(record))
	fmt.Fprintf(b.out, "paid -> posd's paid event:        %s\n", dist(event))
	fmt.Fprintf(b.out, "check handling at the emulator:   %s\n", dist(rtt))
	limit := interval + pct(rtt, 0.99) + 50*time.Millisecond
	verdict := "ok"
	if pct(event, 1) > limit {
		verdict = "ABOVE"
	}
	fmt.Fprintf(b.out, "target: paid event <= interval + round trip (%s): max %s %s\n", limit.Round(time.Millisecond), pct(event, 1), verdict)
	return nil
}

// paidSeen: the check's answer carried the payment (Resurs: the booked
// payment, HTTP 200; Payson: readyToShip).
func paidSeen(provider string, c harness.ProviderCall) bool {
	if provider == harness.Payson {
		return c.Detail["status"] == "readyToShip"
	}
	return c.Answered(http.StatusOK)
}

// cadence leaves payments of each method pending and counts the checks the
// emulator received for each.
func (b *bench) cadence(ctx context.Context) error {
	fmt.Fprintf(b.out, "\n== checks per pending payment over %s (%d payments per method)\n", b.cfg.pending, b.cfg.pendingEach)
	type pend struct {
		method, provider, ref, id string
	}
	var ps []pend
	for _, m := range []struct{ method, provider string }{
		{"resurs", harness.Resurs}, {"resurs_later", harness.Resurs}, {"payson", harness.Payson},
	} {
		for range b.cfg.pendingEach {
			p, err := b.create(ctx, m.method)
			if err != nil {
				return err
			}
			ps = append(ps, pend{m.method, m.provider, p.ProviderRef, p.ID})
		}
	}
	from := time.Now()
	select {
	case <-time.After(b.cfg.pending):
	case <-ctx.Done():
		return ctx.Err()
	}
	to := time.Now()
	minutes := to.Sub(from).Minutes()
	byMethod := map[string][]float64{}
	gaps := map[string][]time.Duration{}
	for _, p := range ps {
		calls, err := b.checks(ctx, p.provider, p.ref)
		if err != nil {
			return err
		}
		n := 0
		var prev time.Time
		for _, c := range calls {
			if c.Time.Before(from) || c.Time.After(to) {
				continue
			}
			n++
			if !prev.IsZero() {
				gaps[p.method] = append(gaps[p.method], c.Time.Sub(prev))
			}
			prev = c.Time
		}
		byMethod[p.method] = append(byMethod[p.method], float64(n)/minutes)
	}
	for _, m := range []struct {
		method   string
		interval time.Duration
	}{{"resurs", b.cfg.resursInterval}, {"resurs_later", b.cfg.laterInterval}, {"payson", b.cfg.paysonInterval}} {
		v := byMethod[m.method]
		slices.Sort(v)
		g := gaps[m.method]
		fmt.Fprintf(b.out, "%-13s checks/min per payment: min %.1f max %.1f (interval %s: %.1f expected); gap between checks min %s p50 %s max %s\n",
			m.method, v[0], v[len(v)-1], m.interval, time.Minute.Seconds()/m.interval.Seconds(), pct(g, 0), pct(g, 0.5), pct(g, 1))
	}
	for _, p := range ps {
		// Leave nothing pending for the restart section. A window may have
		// ended (awaiting decision); cancel works in both.
		_ = b.api.Do(ctx, "POST", "/v1/payments/"+p.id+"/cancel", nil, nil, nil)
	}
	return nil
}

// restart: many pending "Betala sen" payments, kill -9, restart; the first
// check of each after the restart, as a histogram over the interval.
func (b *bench) restart(ctx context.Context) error {
	iv := b.cfg.laterInterval
	fmt.Fprintf(b.out, "\n== %d pending \"Betala sen\" payments, posd killed (-9) and restarted (later interval %s)\n", b.cfg.later, iv)
	refs := make(map[string]bool, b.cfg.later)
	t0 := time.Now()
	for range b.cfg.later {
		p, err := b.create(ctx, "resurs_later")
		if err != nil {
			return err
		}
		refs[p.ProviderRef] = true
	}
	fmt.Fprintf(b.out, "created in %s\n", time.Since(t0).Round(time.Millisecond))
	b.posd.Kill()
	killed := time.Now()
	if err := b.start(); err != nil {
		return err
	}
	restarted := time.Now()
	var first map[string]time.Time
	err := harness.WaitFor(ctx, 2*iv+10*time.Second, func() (bool, error) {
		calls, err := b.sim.ProviderCalls(ctx, harness.Resurs, "getPayment", "")
		if err != nil {
			return false, err
		}
		first = map[string]time.Time{}
		for _, c := range calls {
			if refs[c.Reference] && c.Time.After(killed) {
				if _, ok := first[c.Reference]; !ok {
					first[c.Reference] = c.Time
				}
			}
		}
		return len(first) == len(refs), nil
	})
	if err != nil {
		return fmt.Errorf("%d of %d checked again after the restart: %w", len(first), len(refs), err)
	}
	var offs []time.Duration
	for _, at := range first {
		offs = append(offs, at.Sub(restarted))
	}
	slices.Sort(offs)
	fmt.Fprintf(b.out, "first check after READY: %s\n", dist(offs))
	const bins = 10
	hist := make([]int, bins+1)
	for _, o := range offs {
		i := min(max(int(o*bins/iv), 0), bins)
		hist[i]++
	}
	fmt.Fprintf(b.out, "histogram over the interval (%d bins of %s; last: later):\n", bins, iv/bins)
	for i, n := range hist {
		label := fmt.Sprintf("%5s-%-5s", (iv * time.Duration(i) / bins).Round(10*time.Millisecond), (iv * time.Duration(i+1) / bins).Round(10*time.Millisecond))
		if i == bins {
			label = fmt.Sprintf(">= %-8s", iv)
		}
		fmt.Fprintf(b.out, "  %s %4d %s\n", label, n, strings.Repeat("#", n*60/max(len(offs), 1)))
	}
	// The densest second against the mean rate: a burst shows as many
	// checks in one second.
	peak := 0
	for i := range offs {
		j, _ := slices.BinarySearch(offs, offs[i]+time.Second)
		peak = max(peak, j-i)
	}
	mean := float64(len(offs)) / iv.Seconds()
	fmt.Fprintf(b.out, "densest second: %d checks (mean over the interval %.1f/s; all at once would be %d)\n", peak, mean, len(offs))
	return nil
}

func dist(d []time.Duration) string {
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  max %s  (n=%d)", pct(d, 0.5), pct(d, 0.9), pct(d, 0.99), pct(d, 1), len(d))
}

func pct(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1)+0.5)].Round(100 * time.Microsecond)
}
