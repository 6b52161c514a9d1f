package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/posd/posd/internal/seqr/seqrsim"
	"github.com/posd/posd/test/harness"
	"github.com/posd/posd/test/upgrade"
)

const seqrID = "UPGRADEV1"

// gen drives one paysim and, in turn, two runs of posd on one state directory.
type gen struct {
	ctx      context.Context
	log      io.Writer
	work     string
	bin      harness.Binaries
	simProc  *harness.Proc
	sim      *harness.Sim
	seqrURL  string
	stateDir string
	printDir string
	posd     *harness.Proc
	api      *harness.API
	cases    map[string]string // payment id -> case
}

func newGen(ctx context.Context, work string, log io.Writer) (*gen, error) {
	g := &gen{ctx: ctx, log: log, work: work, cases: map[string]string{},
		stateDir: filepath.Join(work, "state"), printDir: filepath.Join(work, "printer")}
	for _, d := range []string{g.stateDir, g.printDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("mkdir %s: %w", d, err)
		}
	}
	fmt.Fprintln(log, "building posd and paysim ...")
	bin, err := harness.Build(ctx, filepath.Join(work, "bin"))
	if err != nil {
		return nil, err
	}
	g.bin = bin
	p, base, err := harness.StartPaysim(bin)
	if err != nil {
		return nil, err
	}
	g.simProc, g.sim, g.seqrURL = p, harness.NewSim(base), base+seqrsim.PathCashRegister2
	return g, nil
}

func (g *gen) close() {
	if g.posd != nil {
		g.posd.Kill()
	}
	g.simProc.Kill()
}

// startPosd starts posd on the state directory with the printer writing to
// files (so receipts are printed and their jobs recorded done).
func (g *gen) startPosd(env ...string) error {
	env = append([]string{"POSD_PRINTER_DEVICE=virtual:" + g.printDir}, env...)
	p, ready, err := harness.StartPosd(g.bin, g.stateDir, g.seqrURL, env...)
	if err != nil {
		return err
	}
	g.posd = p
	if g.api, err = harness.NewAPI(g.stateDir); err != nil {
		return err
	}
	fmt.Fprintf(g.log, "posd started (READY after %s)\n", ready.Round(time.Millisecond))
	return nil
}

// stopPosd stops posd as systemd does (SIGTERM) and insists on a clean exit:
// a kill would leave the state of a crash, not of an orderly upgrade.
func (g *gen) stopPosd() error {
	p := g.posd
	g.posd = nil
	p.Stop(20 * time.Second)
	if code := p.Cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("posd did not stop cleanly (exit %d):\n%s", code, p.Out.String())
	}
	fmt.Fprintln(g.log, "posd stopped cleanly")
	return nil
}

// generate drives every case and returns what the API shows at the end,
// with posd stopped.
func (g *gen) generate() (upgrade.Expected, error) {
	var exp upgrade.Expected
	// Run 1: a short window and decision limit (the smallest the config
	// allows) so that posd's own cancel comes within seconds.
	if err := g.startPosd("POSD_SEQR_WINDOW=5s", "POSD_SEQR_DECISION_LIMIT=5s"); err != nil {
		return exp, err
	}
	if err := harness.Setup(g.ctx, g.api, seqrID); err != nil {
		return exp, err
	}
	steps := []struct {
		name string
		fn   func(*upgrade.Expected) error
	}{
		{upgrade.CasePaidRefunded, g.paidRefunded},
		{upgrade.CasePaid, func(*upgrade.Expected) error { _, err := g.paid(upgrade.CasePaid, "49.50"); return err }},
		{upgrade.CaseCanceledByCashier, g.canceledByCashier},
		{upgrade.CaseRejected, g.rejected},
		{upgrade.CaseFailedSend, g.failedSend},
		{"period close", g.closePeriod},
		{upgrade.CasePaidOpenPeriod, func(*upgrade.Expected) error { _, err := g.paid(upgrade.CasePaidOpenPeriod, "30.00"); return err }},
		{upgrade.CaseUnknownNoRef, g.unknownNoRef},
		{upgrade.CaseUnknownWithRef, g.unknownWithRef},
	}
	for _, s := range steps {
		fmt.Fprintln(g.log, "-", s.name)
		if err := s.fn(&exp); err != nil {
			return exp, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	if err := g.stopPosd(); err != nil {
		return exp, err
	}

	// Run 2: default timings, so the polling payment is well inside its
	// 30 s window when posd is stopped. The till has one live invoice at
	// SEQR: the new invoice cancels the unknown payment's invoice there, and
	// a poll would then settle it as canceled. So SEQR is in an outage
	// (SOAP faults on getPaymentStatus) from before the new invoice until
	// posd is stopped: both payments are polled, neither learns anything.
	if err := g.startPosd(); err != nil {
		return exp, err
	}
	err := g.withFault(harness.FaultRule{Operation: "getPaymentStatus", Mode: "http500"}, func() error {
		fmt.Fprintln(g.log, "-", upgrade.CasePolling, "(SEQR answering getPaymentStatus with SOAP faults)")
		if err := g.polling(); err != nil {
			return fmt.Errorf("%s: %w", upgrade.CasePolling, err)
		}
		if err := g.snapshot(&exp); err != nil {
			return err
		}
		return g.stopPosd()
	})
	return exp, err
}

func saleID(c string) string { return "v1-" + c }

// create starts a payment for case c. A start that SEQR refused or whose
// answer was lost may come back as a problem while the payment is stored:
// it is then found by its sale id.
func (g *gen) create(c, amount string) (upgrade.Payment, error) {
	var p upgrade.Payment
	err := g.api.Do(g.ctx, "POST", "/v1/payments", harness.Sale(saleID(c), amount),
		map[string]string{"Idempotency-Key": "upgrade-" + saleID(c)}, &p)
	if err != nil {
		list, lerr := g.payments()
		if lerr != nil {
			return p, err
		}
		for _, q := range list {
			if q.SaleID == saleID(c) {
				p, err = q, nil
			}
		}
		if err != nil {
			return p, err
		}
	}
	g.cases[p.ID] = c
	return p, nil
}

func (g *gen) get(id string) (upgrade.Payment, error) {
	var p upgrade.Payment
	err := g.api.Do(g.ctx, "GET", "/v1/payments/"+id, nil, nil, &p)
	return p, err
}

func (g *gen) payments() ([]upgrade.Payment, error) {
	var resp struct {
		Payments []upgrade.Payment `json:"payments"`
	}
	err := g.api.Do(g.ctx, "GET", "/v1/payments", nil, nil, &resp)
	return resp.Payments, err
}

// waitState waits until payment id is in state want.
func (g *gen) waitState(id, want string, limit time.Duration) (upgrade.Payment, error) {
	var p upgrade.Payment
	err := harness.WaitFor(g.ctx, limit, func() (bool, error) {
		var err error
		p, err = g.get(id)
		return p.State == want, err
	})
	if err != nil {
		return p, fmt.Errorf("payment %s to be %s (it is %s): %w", id, want, p.State, err)
	}
	return p, nil
}

// polled waits until paysim has received n getPaymentStatus calls for ref.
func (g *gen) polled(ref string, n int) error {
	return harness.WaitFor(g.ctx, 15*time.Second, func() (bool, error) {
		c, err := g.sim.Calls(g.ctx, "getPaymentStatus", ref)
		return len(c) >= n, err
	})
}

func (g *gen) started(c, amount string) (upgrade.Payment, error) {
	p, err := g.create(c, amount)
	if err != nil {
		return p, err
	}
	if p.State != "polling" || p.InvoiceReference == "" {
		return p, fmt.Errorf("payment %s: state %s, invoice %q: want polling with an invoice", p.ID, p.State, p.InvoiceReference)
	}
	return p, nil
}

// paid is a sale the customer pays on the phone.
func (g *gen) paid(c, amount string) (upgrade.Payment, error) {
	p, err := g.started(c, amount)
	if err != nil {
		return p, err
	}
	if _, err := g.sim.Pay(g.ctx, p.InvoiceReference, "paid"); err != nil {
		return p, err
	}
	return g.waitState(p.ID, "paid", 15*time.Second)
}

func (g *gen) paidRefunded(exp *upgrade.Expected) error {
	p, err := g.paid(upgrade.CasePaidRefunded, "25.00")
	if err != nil {
		return err
	}
	var rf upgrade.Refund
	if err := g.api.Do(g.ctx, "POST", "/v1/payments/"+p.ID+"/refunds",
		map[string]string{"amount": "9.00", "cashierId": "c1", "reason": "returned: one coffee"},
		map[string]string{"Idempotency-Key": "upgrade-refund-1"}, &rf); err != nil {
		return err
	}
	if rf.ERSReference == "" {
		return fmt.Errorf("refund %s has no ersReference", rf.ID)
	}
	exp.Refunds = append(exp.Refunds, rf)
	return nil
}

func (g *gen) canceledByCashier(*upgrade.Expected) error {
	p, err := g.started(upgrade.CaseCanceledByCashier, "12.00")
	if err != nil {
		return err
	}
	if err := g.api.Do(g.ctx, "POST", "/v1/payments/"+p.ID+"/cancel", nil, nil, &p); err != nil {
		return err
	}
	_, err = g.waitState(p.ID, "canceled", 10*time.Second)
	return err
}

func (g *gen) rejected(*upgrade.Expected) error {
	p, err := g.started(upgrade.CaseRejected, "13.00")
	if err != nil {
		return err
	}
	if _, err := g.sim.Pay(g.ctx, p.InvoiceReference, "reject"); err != nil {
		return err
	}
	_, err = g.waitState(p.ID, "canceled", 15*time.Second)
	return err
}

// withFault runs fn with one fault rule on paysim's SEQR endpoint.
func (g *gen) withFault(rule harness.FaultRule, fn func() error) error {
	rule.Service = "seqr"
	if _, err := g.sim.SetFaults(g.ctx, rule); err != nil {
		return err
	}
	ferr := fn()
	if err := g.sim.ClearFaults(g.ctx); err != nil && ferr == nil {
		ferr = err
	}
	return ferr
}

// failedSend: SEQR answers sendInvoice with 49 INVALID_INVOICE_DATA, so no
// invoice exists and the payment is failed without a reference. (Today's
// emulator never reports the FAILED or EXPIRED status, so a failed payment
// with a reference cannot be made through its API.)
func (g *gen) failedSend(*upgrade.Expected) error {
	return g.withFault(harness.FaultRule{Operation: "sendInvoice", Mode: "resultCode", Code: 49, Count: 1}, func() error {
		p, err := g.create(upgrade.CaseFailedSend, "14.00")
		if err != nil {
			return err
		}
		_, err = g.waitState(p.ID, "failed", 10*time.Second)
		return err
	})
}

func (g *gen) closePeriod(exp *upgrade.Expected) error {
	var rep upgrade.Period
	if err := g.api.Do(g.ctx, "POST", "/v1/periods/close", nil, nil, &rep); err != nil {
		return err
	}
	if rep.TransactionPeriodID == "" {
		return errors.New("period close answered without a transactionPeriodId")
	}
	if !rep.Match {
		return fmt.Errorf("period %s does not match SEQR's report: %+v", rep.TransactionPeriodID, rep)
	}
	exp.Periods = append(exp.Periods, rep)
	return nil
}

// unknownNoRef: the connection drops after sendInvoice went out; posd cannot
// tell whether the invoice exists and never sends it again.
func (g *gen) unknownNoRef(*upgrade.Expected) error {
	return g.withFault(harness.FaultRule{Operation: "sendInvoice", Mode: "drop", Count: 1}, func() error {
		p, err := g.create(upgrade.CaseUnknownNoRef, "15.00")
		if err != nil {
			return err
		}
		p, err = g.waitState(p.ID, "unknown", 10*time.Second)
		if err == nil && p.InvoiceReference != "" {
			err = fmt.Errorf("payment %s has invoice %s: want none", p.ID, p.InvoiceReference)
		}
		return err
	})
}

// unknownWithRef: nobody decides after the window, posd cancels the invoice
// itself at the decision limit and SEQR refuses with a code that says
// nothing about the payment (49): posd keeps the reference and polls it,
// outcome unknown.
func (g *gen) unknownWithRef(*upgrade.Expected) error {
	p, err := g.started(upgrade.CaseUnknownWithRef, "16.00")
	if err != nil {
		return err
	}
	return g.withFault(harness.FaultRule{Operation: "cancelInvoice", Mode: "resultCode", Code: 49}, func() error {
		p, err := g.waitState(p.ID, "unknown", 40*time.Second)
		if err == nil && p.InvoiceReference == "" {
			err = fmt.Errorf("payment %s lost its invoice reference", p.ID)
		}
		return err
	})
}

// polling: a sale the customer has not answered yet, polled a few times
// (during an outage: see generate).
func (g *gen) polling() error {
	p, err := g.started(upgrade.CasePolling, "17.00")
	if err != nil {
		return err
	}
	return g.polled(p.InvoiceReference, 2)
}

// snapshot reads what the API shows: payments, journal and terminal.
func (g *gen) snapshot(exp *upgrade.Expected) error {
	list, err := g.payments()
	if err != nil {
		return err
	}
	want := map[string]string{
		upgrade.CasePaidRefunded: "paid", upgrade.CasePaid: "paid", upgrade.CasePaidOpenPeriod: "paid",
		upgrade.CaseCanceledByCashier: "canceled", upgrade.CaseRejected: "canceled", upgrade.CaseFailedSend: "failed",
		upgrade.CaseUnknownNoRef: "unknown", upgrade.CaseUnknownWithRef: "unknown", upgrade.CasePolling: "polling",
	}
	for _, p := range list {
		c, ok := g.cases[p.ID]
		if !ok {
			return fmt.Errorf("payment %s (%s) was not made by a case", p.ID, p.SaleID)
		}
		if p.State != want[c] {
			return fmt.Errorf("payment %s of case %s is %s, want %s", p.ID, c, p.State, want[c])
		}
		p.Case = c
		exp.Payments = append(exp.Payments, p)
	}
	if len(exp.Payments) != len(want) {
		return fmt.Errorf("%d payments listed, want %d", len(exp.Payments), len(want))
	}
	var j struct {
		Posts []upgrade.Post `json:"posts"`
	}
	if err := g.api.Do(g.ctx, "GET", "/v1/journal?after=0", nil, nil, &j); err != nil {
		return err
	}
	exp.Journal = j.Posts
	if err := g.api.Do(g.ctx, "GET", "/v1/terminal", nil, nil, &exp.Terminal); err != nil {
		return err
	}
	exp.GeneratedAt = time.Now().UTC().Truncate(time.Second)
	exp.GeneratedFrom = gitCommit(g.ctx)
	out, err := exec.CommandContext(g.ctx, g.bin.Posd, "version").Output()
	if err != nil {
		return fmt.Errorf("posd version: %w", err)
	}
	exp.PosdVersion = strings.TrimSpace(string(out))
	return nil
}

// gitCommit names the code that wrote the fixture ("+dirty" with
// uncommitted changes).
func gitCommit(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		c += "+dirty"
	}
	return c
}
