// Package faultmix runs reliability.md C2 N5 against the real binaries: many
// SEQR payments in a row through posd while paysim drops or resets a share of
// every SEQR call (before or after running it), with a simulated customer who
// pays, rejects, pays late or walks away. At the end it checks that no
// payment was lost or doubled:
//
//	PAID-and-not-reversed at the emulator == paid in posd == journal posts
//
// keyed by ersReference, with no duplicates, plus exactly one sendInvoice
// per stored payment and none for a refused one. It is shared by
// test/e2e (TestN5...) and the faultbench command.
package faultmix

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/posd/posd/internal/seqr/seqrsim"
	"github.com/posd/posd/test/harness"
)

// Config of one run. Zero values take the defaults in brackets.
type Config struct {
	Bin         harness.Binaries
	Payments    int     // payments asked for [1000]
	FailureRate float64 // share of SEQR calls dropped or reset, split evenly over drop/reset x processed/not [0.5]
	Seed        uint64  // [from the clock]
	// The customer's answer to each invoice that exists at the emulator.
	// What is left of 1 after the three is "walks away" (the cashier
	// cancels at the end of the window).
	PayRate    float64 // pays at once [0.85]
	LateRate   float64 // pays just as the window ends, racing the cashier's cancel [0.05]
	RejectRate float64 // rejects on the phone [0.05]
	// DropLatency holds a dropped call this long before closing it (a short
	// timeout rather than an immediate EOF) [0].
	DropLatency    time.Duration
	ReversalWindow time.Duration // paysim --reversal-window [20s]
	Window         time.Duration // POSD_SEQR_WINDOW [5s, the smallest posd takes]
	PollInterval   time.Duration // POSD_SEQR_POLL_INTERVAL [1s]
	MaxPayment     time.Duration // bound on driving one payment to an end [Window + 90s]
	MaxTries       int           // POSTs per payment while posd answers offline [50]
	Progress       io.Writer     // a line every ProgressEvery payments; nil: silent
	ProgressEvery  int           // [100]
	KeepState      bool          // keep posd's state directory (its path is in the report)
}

func (c *Config) defaults() {
	if c.Payments <= 0 {
		c.Payments = 1000
	}
	if c.FailureRate == 0 {
		c.FailureRate = 0.5
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	if c.PayRate == 0 && c.LateRate == 0 && c.RejectRate == 0 {
		c.PayRate, c.LateRate, c.RejectRate = 0.85, 0.05, 0.05
	}
	if c.ReversalWindow <= 0 {
		c.ReversalWindow = 20 * time.Second
	}
	if c.Window <= 0 {
		c.Window = 5 * time.Second
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.MaxPayment <= 0 {
		c.MaxPayment = c.Window + 90*time.Second
	}
	if c.MaxTries <= 0 {
		c.MaxTries = 50
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = 100
	}
}

// Report is what a run saw. Violations is empty when nothing was lost or doubled.
type Report struct {
	Seed        uint64
	Payments    int // asked for
	FailureRate float64
	Duration    time.Duration
	StateDir    string

	Refusals      int // 503 offline answers (nothing stored), retried with the same key
	NeverAccepted int // payments still refused after MaxTries
	Accepted      int // 202: stored, one sendInvoice sent
	Replays       int // same key and body again: 200 with the same payment

	Stored           int // payments posd lists
	SendInvoiceCalls int // sendInvoice calls the emulator received
	InvoicesCreated  int // of which the emulator ran (an invoice exists)
	StartState       map[string]int
	EndState         map[string]int // posd's state when the payment was driven to its end

	CustomerPaid, CustomerLate, CustomerRejected, CustomerAway int
	CancelRequests                                             int // POST /cancel sent by the cashier
	CancelAnswers                                              map[string]int

	EmulatorPaid     int // PAID and not reversed
	EmulatorReversed int // paid by the customer, reversed because nobody polled
	LocalPaid        int
	JournalPosts     int
	Polls            int // getPaymentStatus calls received
	ReceiptsSent     int // emulator-paid invoices with a submitPaymentReceipt accepted (informational: the outbox backs off up to 5 min)

	// POST /v1/periods/close after the run: SEQR's STD_RECON_006/007 against posd's paid payments.
	ReconMatch                      bool
	ReconRemote, ReconLocal         int
	ReconOnlyRemote, ReconOnlyLocal []string
	PollFaults                      int // of which dropped or reset

	Violations []string
}

func (r *Report) violate(format string, args ...any) {
	r.Violations = append(r.Violations, fmt.Sprintf(format, args...))
}

// Print writes the counts and the invariant check.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "N5: %d payments, failure rate %.2f on every SEQR call (drop/reset, processed or not), seed %d, %s\n",
		r.Payments, r.FailureRate, r.Seed, r.Duration.Round(time.Second))
	fmt.Fprintf(w, "  local API:   %d accepted, %d offline refusals (retried), %d never accepted, %d replays\n",
		r.Accepted, r.Refusals, r.NeverAccepted, r.Replays)
	fmt.Fprintf(w, "  emulator:    %d sendInvoice calls, %d invoices created; %d polls (%d dropped/reset)\n",
		r.SendInvoiceCalls, r.InvoicesCreated, r.Polls, r.PollFaults)
	fmt.Fprintf(w, "  start state: %s\n", counts(r.StartState))
	fmt.Fprintf(w, "  end state:   %s\n", counts(r.EndState))
	fmt.Fprintf(w, "  customer:    %d paid, %d paid late, %d rejected, %d walked away\n",
		r.CustomerPaid, r.CustomerLate, r.CustomerRejected, r.CustomerAway)
	fmt.Fprintf(w, "  cancels:     %d requests: %s\n", r.CancelRequests, counts(r.CancelAnswers))
	fmt.Fprintf(w, "  invariant:   emulator PAID (not reversed) %d == posd paid %d == journal posts %d; reversed (unpolled) %d\n",
		r.EmulatorPaid, r.LocalPaid, r.JournalPosts, r.EmulatorReversed)
	fmt.Fprintf(w, "  period:      STD_RECON_007 %d rows, posd %d paid, match %v; submitPaymentReceipt accepted for %d of %d\n",
		r.ReconRemote, r.ReconLocal, r.ReconMatch, r.ReceiptsSent, r.EmulatorPaid)
	if len(r.Violations) == 0 {
		fmt.Fprintln(w, "  OK: no payment lost or doubled")
		return
	}
	fmt.Fprintf(w, "  %d VIOLATIONS:\n", len(r.Violations))
	for _, v := range r.Violations {
		fmt.Fprintln(w, "   -", v)
	}
}

func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", k, m[k])
	}
	if b.Len() == 0 {
		return "-"
	}
	return b.String()
}

// Rules is the N5 fault mix: rate split evenly over drop and reset, each
// with and without running the operation first, on every SEQR operation.
// The rules are tried in order, so each one's own rate is scaled to give
// every mode rate/4 of all calls.
func Rules(rate float64, dropLatency time.Duration) []harness.FaultRule {
	modes := []struct {
		mode    string
		process bool
	}{{"drop", false}, {"reset", false}, {"drop", true}, {"reset", true}}
	var rules []harness.FaultRule
	left := 1.0
	for _, m := range modes {
		share := rate / 4
		r := harness.FaultRule{Service: "seqr", Operation: "*", Mode: m.mode, Process: m.process, FailureRate: harness.Rate(min(1, share/left))}
		if m.mode == "drop" {
			r.LatencyMs = dropLatency.Milliseconds()
		}
		rules = append(rules, r)
		left -= share
	}
	return rules
}

const seqrID = "N5TILL"

type runner struct {
	cfg      Config
	api      *harness.API
	sim      *harness.Sim
	rng      *rand.Rand
	rep      *Report
	runID    string
	nSend    int                  // sendInvoice calls seen so far
	paid     map[string]time.Time // invoice references the customer paid, and when
	lastPay  time.Time
	paysByID map[string]string // payment id -> invoice reference at the emulator
}

// Run starts paysim and posd, runs the scenario and checks the invariants.
// An error means the run could not be carried out; a run that found
// violations returns them in the report with a nil error.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.defaults()
	start := time.Now()
	rep := &Report{Seed: cfg.Seed, Payments: cfg.Payments, FailureRate: cfg.FailureRate,
		StartState: map[string]int{}, EndState: map[string]int{}, CancelAnswers: map[string]int{}}

	simProc, base, err := harness.StartPaysim(cfg.Bin, "--reversal-window", cfg.ReversalWindow.String())
	if err != nil {
		return nil, err
	}
	defer simProc.Kill()
	sim := harness.NewSim(base)

	stateDir, err := os.MkdirTemp("", "faultmix-")
	if err != nil {
		return nil, err
	}
	rep.StateDir = stateDir
	if !cfg.KeepState {
		defer os.RemoveAll(stateDir)
	}
	posd, _, err := harness.StartPosd(cfg.Bin, stateDir, base+seqrsim.PathCashRegister2,
		"POSD_SEQR_WINDOW="+cfg.Window.String(),
		"POSD_SEQR_POLL_INTERVAL="+cfg.PollInterval.String(),
		"POSD_LOG_LEVEL=warn")
	if err != nil {
		return nil, err
	}
	defer posd.Stop(10 * time.Second)
	api, err := harness.NewAPI(stateDir)
	if err != nil {
		return nil, err
	}
	if err := harness.Setup(ctx, api, seqrID); err != nil {
		return nil, err
	}
	if _, err := sim.SetFaults(ctx, Rules(cfg.FailureRate, cfg.DropLatency)...); err != nil {
		return nil, fmt.Errorf("set faults: %w", err)
	}

	r := &runner{cfg: cfg, api: api, sim: sim, rep: rep,
		rng:      rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		runID:    fmt.Sprintf("%x", cfg.Seed),
		paid:     map[string]time.Time{},
		paysByID: map[string]string{},
	}
	for i := range cfg.Payments {
		if err := r.payment(ctx, i); err != nil {
			return rep, fmt.Errorf("payment %d: %w\nposd output tail:\n%s", i, err, tail(posd.Out.String(), 40))
		}
		if cfg.Progress != nil && (i+1)%cfg.ProgressEvery == 0 {
			fmt.Fprintf(cfg.Progress, "%d/%d payments, %s, end states %s, %d violations\n",
				i+1, cfg.Payments, time.Since(start).Round(time.Second), counts(rep.EndState), len(rep.Violations))
		}
	}
	if err := sim.ClearFaults(ctx); err != nil {
		return rep, err
	}
	if err := r.check(ctx); err != nil {
		return rep, err
	}
	select {
	case <-posd.Exited():
		rep.violate("posd exited during the run:\n%s", tail(posd.Out.String(), 40))
	default:
	}
	rep.Duration = time.Since(start)
	return rep, nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// payment runs payment i from the cashier's POST to an end.
func (r *runner) payment(ctx context.Context, i int) error {
	key := fmt.Sprintf("n5-%s-%d", r.runID, i)
	sale := harness.Sale(fmt.Sprintf("n5-%d", i), fmt.Sprintf("%d.%02d", 1+i%400, i%100))
	var p harness.PaymentDetail
	accepted := false
	for range r.cfg.MaxTries {
		err := r.api.Do(ctx, "POST", "/v1/payments", sale, map[string]string{"Idempotency-Key": key}, &p)
		if err == nil {
			accepted = true
			break
		}
		if pr, ok := harness.ProblemOf(err); ok && pr.Status == 503 && strings.HasSuffix(pr.Type, "/offline") {
			r.rep.Refusals++
			continue
		}
		return fmt.Errorf("POST /v1/payments: %w", err)
	}

	sent, err := r.sim.CallLog(ctx, "sendInvoice", "")
	if err != nil {
		return err
	}
	if len(sent) < r.nSend {
		return fmt.Errorf("the emulator's call log shrank (%d < %d)", len(sent), r.nSend)
	}
	fresh := sent[r.nSend:]
	r.nSend = len(sent)
	if !accepted {
		r.rep.NeverAccepted++
		if len(fresh) != 0 {
			r.rep.violate("payment %d: refused as offline, yet %d sendInvoice call(s) reached SEQR", i, len(fresh))
		}
		return nil
	}
	r.rep.Accepted++
	r.rep.StartState[p.State]++
	if len(fresh) != 1 {
		r.rep.violate("payment %d (%s): %d sendInvoice calls for one payment, want 1", i, p.ID, len(fresh))
		if len(fresh) == 0 {
			return nil
		}
	}
	ref := fresh[0].Reference // empty: the emulator did not run it (no invoice exists)
	if p.InvoiceReference != "" && p.InvoiceReference != ref {
		r.rep.violate("payment %d (%s): posd has invoice %q, the emulator created %q", i, p.ID, p.InvoiceReference, ref)
	}
	r.paysByID[p.ID] = ref

	if i%10 == 0 { // the front end sends the same request again (a retried HTTP call)
		var again harness.PaymentDetail
		err := r.api.Do(ctx, "POST", "/v1/payments", sale, map[string]string{"Idempotency-Key": key}, &again)
		switch {
		case err != nil:
			r.rep.violate("payment %d (%s): replay with the same key: %v", i, p.ID, err)
		case again.ID != p.ID:
			r.rep.violate("payment %d: replay with the same key gave payment %s, first %s", i, again.ID, p.ID)
		default:
			r.rep.Replays++
		}
	}

	// The customer.
	late := false
	if ref != "" {
		switch x := r.rng.Float64(); {
		case x < r.cfg.PayRate:
			if err := r.pay(ctx, ref); err != nil {
				return err
			}
			r.rep.CustomerPaid++
		case x < r.cfg.PayRate+r.cfg.LateRate && p.InvoiceReference != "":
			// Only a payment posd polls reaches the end of its window.
			late = true
			r.rep.CustomerLate++
		case x >= r.cfg.PayRate+r.cfg.LateRate && x < r.cfg.PayRate+r.cfg.LateRate+r.cfg.RejectRate:
			if _, err := r.sim.Pay(ctx, ref, "reject"); err != nil {
				return fmt.Errorf("customer rejects %s: %w", ref, err)
			}
			r.rep.CustomerRejected++
		default:
			r.rep.CustomerAway++
		}
	}
	return r.drive(ctx, i, p.ID, ref, late)
}

func (r *runner) pay(ctx context.Context, ref string) error {
	if _, err := r.sim.Pay(ctx, ref, "paid"); err != nil {
		return fmt.Errorf("customer pays %s: %w", ref, err)
	}
	now := time.Now()
	r.paid[ref] = now
	r.lastPay = now
	return nil
}

// drive waits for the payment to end, as the cashier: when posd asks "try
// again or cancel" (the window ended), cancel, and again while SEQR cannot
// be reached, until posd shows a final state or unknown.
func (r *runner) drive(ctx context.Context, i int, id, ref string, late bool) error {
	deadline := time.Now().Add(r.cfg.MaxPayment)
	var lastCancel time.Time
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		var p harness.PaymentDetail
		if err := r.api.Do(ctx, "GET", "/v1/payments/"+id, nil, nil, &p); err != nil {
			return err
		}
		switch p.State {
		case "paid", "canceled", "failed":
			return r.ended(ctx, i, p)
		case "unknown":
			if p.InvoiceReference == "" { // nothing to poll: SEQR reverses an unpolled payment
				return r.ended(ctx, i, p)
			}
		case "awaiting_decision":
			if late {
				late = false
				if err := r.pay(ctx, ref); err != nil {
					return err
				}
			}
			if time.Since(lastCancel) >= 500*time.Millisecond {
				lastCancel = time.Now()
				r.rep.CancelRequests++
				err := r.api.Do(ctx, "POST", "/v1/payments/"+id+"/cancel", nil, nil, nil)
				switch pr, ok := harness.ProblemOf(err); {
				case err == nil:
					r.rep.CancelAnswers["ok"]++
				case ok:
					r.rep.CancelAnswers[fmt.Sprintf("%d %s", pr.Status, pr.Type[strings.LastIndex(pr.Type, "/")+1:])]++
				default:
					return fmt.Errorf("cancel %s: %w", id, err)
				}
			}
		}
		if time.Now().After(deadline) {
			r.rep.violate("payment %d (%s): still %s after %s", i, id, p.State, r.cfg.MaxPayment)
			return r.ended(ctx, i, p)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// ended records the end state and checks the polls of the invoice.
func (r *runner) ended(ctx context.Context, i int, p harness.PaymentDetail) error {
	r.rep.EndState[p.State]++
	if p.InvoiceReference == "" {
		return nil
	}
	polls, err := r.sim.CallLog(ctx, "getPaymentStatus", p.InvoiceReference)
	if err != nil {
		return err
	}
	for k := 1; k < len(polls); k++ {
		if polls[k].Time.Before(polls[k-1].End()) {
			r.rep.violate("payment %d (%s): two polls in flight: one received %s, the previous ended %s",
				i, p.ID, polls[k].Time.Format(time.StampMicro), polls[k-1].End().Format(time.StampMicro))
			break
		}
	}
	return nil
}

// check waits out the emulator's reversal window and compares the three
// records of money taken.
func (r *runner) check(ctx context.Context) error {
	rep := r.rep
	// A payment nobody confirmed is reversed by the emulator once its
	// reversal window has passed (a rule of time, applied when read).
	if !r.lastPay.IsZero() {
		t := time.NewTimer(time.Until(r.lastPay.Add(r.cfg.ReversalWindow + time.Second)))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}

	sent, err := r.sim.CallLog(ctx, "sendInvoice", "")
	if err != nil {
		return err
	}
	rep.SendInvoiceCalls = len(sent)
	created := map[string]bool{}
	for _, c := range sent {
		if c.Reference != "" {
			created[c.Reference] = true
		}
	}
	rep.InvoicesCreated = len(created)
	polls, err := r.sim.CallLog(ctx, "getPaymentStatus", "")
	if err != nil {
		return err
	}
	rep.Polls = len(polls)
	for _, c := range polls {
		if c.Fault != "" {
			rep.PollFaults++
		}
	}

	// The emulator: every invoice it created (the customer pays only those).
	emu := map[string]string{} // ersReference -> invoice reference
	for ref := range created {
		inv, err := r.sim.Invoice(ctx, ref)
		if err != nil {
			return err
		}
		_, customerPaid := r.paid[ref]
		switch {
		case inv.Reversed:
			rep.EmulatorReversed++
		case inv.Status == "PAID":
			if !customerPaid {
				rep.violate("invoice %s is PAID at the emulator but the customer never paid it", ref)
			}
			if inv.Receipts > 0 {
				rep.ReceiptsSent++
			}
			if other, dup := emu[inv.ERSReference]; dup {
				rep.violate("ersReference %s on two invoices: %s and %s", inv.ERSReference, other, ref)
			}
			emu[inv.ERSReference] = ref
		}
	}
	for ref := range r.paid {
		if !created[ref] {
			rep.violate("the customer paid %s, which no sendInvoice created", ref)
		}
	}
	rep.EmulatorPaid = len(emu)

	// posd's payments.
	list, err := r.api.Payments(ctx)
	if err != nil {
		return err
	}
	rep.Stored = len(list)
	if rep.Stored != rep.Accepted {
		rep.violate("posd holds %d payments, %d were accepted (a refused payment was stored, or one went missing)", rep.Stored, rep.Accepted)
	}
	if rep.SendInvoiceCalls != rep.Stored {
		rep.violate("%d sendInvoice calls for %d stored payments: exactly one each", rep.SendInvoiceCalls, rep.Stored)
	}
	local := map[string]string{} // ersReference -> payment id
	for _, p := range list {
		switch p.State {
		case "paid":
			if p.ERSReference == "" {
				rep.violate("payment %s is paid without an ersReference", p.ID)
				continue
			}
			if other, dup := local[p.ERSReference]; dup {
				rep.violate("ersReference %s paid twice in posd: payments %s and %s", p.ERSReference, other, p.ID)
			}
			local[p.ERSReference] = p.ID
			if ref, ok := emu[p.ERSReference]; ok && ref != p.InvoiceReference {
				rep.violate("payment %s: paid by %s on invoice %s, but the emulator paid that reference on invoice %s",
					p.ID, p.ERSReference, p.InvoiceReference, ref)
			}
		case "polling", "awaiting_decision", "created":
			rep.violate("payment %s still %s at the end", p.ID, p.State)
		}
	}
	rep.LocalPaid = len(local)

	// The receipt file.
	posts, err := r.api.Journal(ctx, 0)
	if err != nil {
		return err
	}
	journal := map[string]string{}
	for _, jp := range posts {
		if jp.Kind != "payment" {
			continue
		}
		if other, dup := journal[jp.Reference]; dup {
			rep.violate("ersReference %s posted twice in the journal (payments %s and %s)", jp.Reference, other, jp.PaymentID)
		}
		journal[jp.Reference] = jp.PaymentID
		if id, ok := local[jp.Reference]; ok && id != jp.PaymentID {
			rep.violate("journal post %s is for payment %s, posd paid it as %s", jp.Reference, jp.PaymentID, id)
		}
	}
	rep.JournalPosts = len(journal)

	diff := func(what string, a, b map[string]string) {
		var missing []string
		for k := range a {
			if _, ok := b[k]; !ok {
				missing = append(missing, k)
			}
		}
		slices.Sort(missing)
		for _, k := range missing {
			rep.violate("%s: %s", what, k)
		}
	}
	diff("PAID at the emulator (not reversed) but not paid in posd (money taken, sale not recorded)", emu, local)
	diff("paid in posd without a PAID invoice at the emulator (sale recorded, no money)", local, emu)
	diff("paid in posd without a journal post", local, journal)
	diff("journal post without a paid payment in posd", journal, local)

	// SEQR's own reconciliation of the period (faults are off by now).
	var pr struct {
		RemoteCount int      `json:"remoteCount"`
		LocalCount  int      `json:"localCount"`
		Match       bool     `json:"match"`
		OnlyRemote  []string `json:"onlyRemote"`
		OnlyLocal   []string `json:"onlyLocal"`
	}
	if err := r.api.Do(ctx, "POST", "/v1/periods/close", nil, nil, &pr); err != nil {
		rep.violate("close the period: %v", err)
		return nil
	}
	rep.ReconMatch, rep.ReconRemote, rep.ReconLocal = pr.Match, pr.RemoteCount, pr.LocalCount
	rep.ReconOnlyRemote, rep.ReconOnlyLocal = pr.OnlyRemote, pr.OnlyLocal
	if !pr.Match || pr.RemoteCount != rep.EmulatorPaid || pr.LocalCount != rep.LocalPaid {
		rep.violate("period reconciliation: SEQR %d, posd %d, match %v, only at SEQR %v, only in posd %v (emulator PAID %d, posd paid %d)",
			pr.RemoteCount, pr.LocalCount, pr.Match, pr.OnlyRemote, pr.OnlyLocal, rep.EmulatorPaid, rep.LocalPaid)
	}
	return nil
}

// ErrViolations is returned by the faultbench command when a run found violations.
var ErrViolations = errors.New("invariant violated")
