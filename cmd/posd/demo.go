package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"github.com/posd/posd/internal/config"
	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/register"
	"github.com/posd/posd/internal/scanner"
	"github.com/posd/posd/internal/seqr/seqrsim"
)

// The demo till's SEQR sticker: what its barcode says.
const demoSeqrID = "POSDDEMO01"

// demoOptions are the knobs of `posd demo`; tests shorten nothing but the
// customer's delay.
type demoOptions struct {
	once     bool
	payAfter time.Duration // the simulated customer pays this long after the invoice is sent
	keep     bool          // keep the temp state dir
	logLevel string
	// ready, when set, receives the demo's addresses once the sale is done (tests).
	ready func(demoInfo)
	// reseller, when set, is a reseller added to the emulator and used
	// instead of the public test one (the canary-secret test).
	reseller *[3]string // id, user id, password
	// reject makes the simulated customer reject the payment (the failure test).
	reject bool
}

// demoInfo is what the demo prints for a person to open.
type demoInfo struct {
	StateDir, APIAddr, Token, SimURL string
	Payment                          register.Payment // the SEQR sale
	Receipt                          string
	Sales                            []demoSale // the Resurs, "Betala sen" and Payson sales, in order
}

func runDemo(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlagSet("demo", "[--once] [flags]",
		"Run whole sales with no configuration and no hardware: the SEQR, Resurs Bank and Payson\n"+
			"emulators in-process on loopback, a posd with a fresh state directory, the till registered\n"+
			"with SEQR's public test reseller, its SEQR id assigned by a simulated scan, a SEQR sale of\n"+
			"three rows, a Resurs Checkout POS sale, a \"Betala sen\" sale (the till is free at once; the\n"+
			"customer pays later and posd finalizes it through its outbox) and a Payson sale, each paid\n"+
			"by the simulated customer after a few seconds, with the printed receipts. Then it keeps\n"+
			"serving until Ctrl-C. With --once it exits after the sales: 0 when they all worked,\n"+
			"non-zero with the reason.")
	opt := demoOptions{}
	fs.BoolVar(&opt.once, "once", false, "exit after the scripted sale")
	fs.DurationVar(&opt.payAfter, "pay-after", 3*time.Second, "how long the simulated customer takes to pay")
	fs.BoolVar(&opt.keep, "keep", false, "keep the temporary state directory")
	fs.StringVar(&opt.logLevel, "log-level", "warn", "posd's log level during the demo: debug, info, warn, error")
	if done, err := c.parse(fs, args); done || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("demo: unexpected argument %q", fs.Arg(0))
	}
	return demo(ctx, c, opt)
}

func demo(ctx context.Context, c *cli, opt demoOptions) (err error) {
	out := c.stdout
	dir, err := os.MkdirTemp("", "posd-demo-")
	if err != nil {
		return fmt.Errorf("demo: state dir: %w", err)
	}
	if !opt.keep {
		defer os.RemoveAll(dir)
	}

	// Logs go to stderr as console lines; the story goes to stdout.
	log, err := newLogger(config.Log{Format: "console", Level: opt.logLevel}, c.getenv, c.stderr, c.stderr)
	if err != nil {
		return usageErrorf("demo: --log-level: %v", err)
	}
	defer func() { _ = log.Sync() }()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	posdStopped := make(chan struct{})
	posdStarted := false
	defer func() {
		if !posdStarted {
			close(posdStopped)
		}
		cancel()
		if werr := g.Wait(); werr != nil && err == nil && !errors.Is(werr, context.Canceled) {
			err = werr
		}
	}()

	// 1. The SEQR, Resurs and Payson emulators, as paysim serves them, on a loopback port.
	sims := newDemoSims(log)
	sim := sims.seqr
	reseller := [3]string{seqrsim.TestResellerID, seqrsim.TestResellerUserID, seqrsim.TestResellerPassword}
	if opt.reseller != nil {
		reseller = *opt.reseller
		if err := sim.AddReseller(reseller[0], reseller[1], reseller[2]); err != nil {
			return fmt.Errorf("demo: emulator: %w", err)
		}
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("demo: emulator: %w", err)
	}
	simURL := "http://" + ln.Addr().String()
	simSrv := &http.Server{Handler: sims.handler, ReadHeaderTimeout: 5 * time.Second}
	g.Go(func() error { return sims.run(gctx) })
	g.Go(func() error {
		if err := simSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("demo: emulator: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		// Stop the emulator after posd, so posd's last calls get answers;
		// a connection still opening must not hold the demo's exit.
		<-gctx.Done()
		<-posdStopped
		sctx, scancel := context.WithTimeout(context.WithoutCancel(gctx), time.Second)
		defer scancel()
		if err := simSrv.Shutdown(sctx); err != nil {
			_ = simSrv.Close()
		}
		return nil
	})
	fmt.Fprintf(out, "posd demo: SEQR, Resurs Bank and Payson emulators on %s, state in %s\n", simURL, dir)

	// 2. posd itself, configured by overrides only: no file, no environment.
	printDir := filepath.Join(dir, "printer")
	if err := os.MkdirAll(printDir, 0o700); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	cfg, err := demoConfig(dir, simURL, printDir, opt.logLevel, version())
	if err != nil {
		return fmt.Errorf("demo: config: %w", err)
	}
	m := NewMain(cfg, log)
	m.Notify = func(string) {} // the demo is never the systemd service
	m.Scanner = demoScanner{}  // its scans come from demoScan
	runErr := make(chan error, 1)
	posdStarted = true
	g.Go(func() error {
		defer close(posdStopped)
		err := m.Run(gctx)
		runErr <- err
		return err
	})
	select {
	case <-m.Ready():
	case err := <-runErr:
		return fmt.Errorf("demo: posd did not start: %w", err)
	case <-ctx.Done():
		return ctx.Err()
	}
	tok, err := config.ReadSecret(cfg.API.TokenFile)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	ac := newAPIClientToken(m.APIAddr(), tok.Reveal())
	fmt.Fprintf(out, "posd demo: posd ready, local API on http://%s\n\n", m.APIAddr())

	// 3. Register the till with the public test reseller, through the API.
	term, err := ac.RegisterTerminal(ctx, register.RegisterTerminalRequest{
		ResellerID: reseller[0], ResellerUserID: reseller[1], ResellerPassword: reseller[2],
		ExternalTerminalID: "posd-demo-till", Name: "posd demo till",
	})
	if err != nil {
		return fmt.Errorf("demo: register the till: %w", err)
	}
	fmt.Fprintf(out, "1. registered the till with SEQR as reseller %s/%s: terminal %s\n", reseller[0], reseller[1], term.TerminalID)

	// 4. Assign the SEQR id through the scanner path: the API waits for a
	// scan while the simulated scanner delivers the sticker's code to the
	// register exactly as the scanner supervisor does.
	if term, err = demoScan(ctx, ac, m.Register()); err != nil {
		return fmt.Errorf("demo: assign the SEQR id by scan: %w", err)
	}
	fmt.Fprintf(out, "2. scanned the till's SEQR sticker: SEQR id %s assigned\n", term.SeqrID)

	// 5. A sale of three rows; the simulated customer pays after a few seconds.
	rows := []register.Row{
		{Description: "Kaffe", Quantity: "2", UnitPrice: money.MustParse("25.00"), TotalAmount: money.MustParse("50.00"), TaxRate: "12"},
		{Description: "Kanelbulle", Quantity: "1", UnitPrice: money.MustParse("32.00"), TotalAmount: money.MustParse("32.00"), TaxRate: "12"},
		{Description: "Dagens Nyheter", Quantity: "1", UnitPrice: money.MustParse("40.00"), TotalAmount: money.MustParse("40.00"), TaxRate: "6"},
	}
	p, err := createPayment(ctx, ac, payOptions{amount: money.MustParse("122.00"), rows: rows, title: "Demobutiken", cashier: "demo", currency: cfg.Register.Currency})
	if err != nil {
		return fmt.Errorf("demo: start the sale: %w", err)
	}
	fmt.Fprintf(out, "3. sale of 3 rows, %s %s: payment %s; the customer pays in %s\n", p.Amount, p.Currency, p.ID, opt.payAfter)
	customer := make(chan error, 1)
	outcome := seqrsim.OutcomePaid
	if opt.reject {
		outcome = seqrsim.OutcomeReject
	}
	go func() { customer <- demoCustomer(ctx, sim, opt.payAfter, outcome) }()
	p, err = follow(ctx, c, ac, p, false)
	if err != nil {
		return fmt.Errorf("demo: the sale did not complete: %w", err)
	}
	if cerr := <-customer; cerr != nil {
		return fmt.Errorf("demo: simulated customer: %w", cerr)
	}

	// 6. The printed receipt.
	text, err := demoReceipt(ctx, m, printDir, p, p.ERSReference)
	if err != nil {
		return fmt.Errorf("demo: receipt: %w", err)
	}
	fmt.Fprintf(out, "\n4. the printed receipt:\n\n%s\n", indent(text))
	for _, want := range []string{"SEQR", p.ERSReference, "122.00"} {
		if !strings.Contains(text, want) {
			return fmt.Errorf("demo: the receipt lacks %q", want)
		}
	}

	info := demoInfo{StateDir: dir, APIAddr: m.APIAddr(), Token: tok.Reveal(), SimURL: simURL, Payment: p, Receipt: text}

	// 7.- The other providers: Resurs Checkout POS, "Betala sen" and Payson.
	if info.Sales, err = demoProviderSales(ctx, c, ac, m, sims, printDir, opt, cfg.Register.Currency); err != nil {
		return err
	}
	if opt.ready != nil {
		opt.ready(info)
	}
	if opt.once {
		fmt.Fprintln(out, "posd demo: every sale was paid, recorded and printed; stopping (--once)")
		return nil
	}
	printDemoHelp(out, info)
	select {
	case <-ctx.Done():
	case err := <-runErr:
		return fmt.Errorf("demo: posd stopped: %w", err)
	}
	fmt.Fprintln(out, "\nposd demo: stopping")
	return nil
}

// demoScan asks the API to wait for a scan and meanwhile scans the sticker,
// again every 200 ms as a person would, until the API call returns (the scan
// only counts once the register waits for it).
func demoScan(ctx context.Context, ac *apiClient, reg *register.Register) (register.Terminal, error) {
	type result struct {
		t   register.Terminal
		err error
	}
	res := make(chan result, 1)
	go func() {
		t, err := ac.ScanSeqrID(ctx, 10*time.Second)
		res <- result{t, err}
	}()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case r := <-res:
			return r.t, r.err
		case now := <-tick.C:
			reg.HandleScan(scanner.Scan{Code: demoSeqrID, Symbology: "code128", At: now})
		case <-ctx.Done():
			return register.Terminal{}, ctx.Err()
		}
	}
}

// demoCustomer plays the customer's phone: scan the till's sticker, then pay (or reject).
func demoCustomer(ctx context.Context, sim *seqrsim.Sim, after time.Duration, outcome seqrsim.Outcome) error {
	select {
	case <-time.After(after):
	case <-ctx.Done():
		return ctx.Err()
	}
	if _, err := sim.Scan(demoSeqrID); err != nil {
		return err
	}
	_, err := sim.Pay(demoSeqrID, outcome)
	return err
}

// demoReceipt is the receipt as the printer got it: the virtual printer's text
// copy when a print worker wrote one, else the same document rendered.
func demoReceipt(ctx context.Context, m *Main, printDir string, p register.Payment, ref string) (string, error) {
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for m.printerConfigured() {
		if text, ok := printedText(printDir, ref, slipMark); ok {
			return text, nil
		}
		select {
		case <-tick.C:
			continue
		case <-deadline.C:
			return "", fmt.Errorf("the virtual printer in %s printed nothing within 5 s", printDir)
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	doc, err := m.Register().ReceiptDocument(ctx, p.ID)
	if err != nil {
		return "", err
	}
	return doc.Text(m.Config.Printer.Columns), nil
}

// slipMark is on a pay-later slip, never on a receipt.
const slipMark = "Not a receipt"

// printedText is the newest *.txt the virtual printer wrote that holds
// want and not without ("": no such condition). Several jobs print during
// the demo, so the newest file alone may be another sale's.
func printedText(dir, want, without string) (string, bool) {
	matches, _ := filepath.Glob(filepath.Join(dir, "*.txt"))
	var found string
	var foundTime time.Time
	for _, f := range matches {
		fi, err := os.Stat(f)
		if err != nil || !fi.ModTime().After(foundTime) {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil || !strings.Contains(string(b), want) || (without != "" && strings.Contains(string(b), without)) {
			continue
		}
		found, foundTime = string(b), fi.ModTime()
	}
	return found, found != ""
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "    | " + l
	}
	return strings.Join(lines, "\n")
}

func printDemoHelp(w io.Writer, d demoInfo) {
	fmt.Fprintf(w, `
posd demo keeps serving until Ctrl-C. Try:

  the local API      http://%[1]s   token %[2]s
                     curl -H 'Authorization: Bearer %[2]s' http://%[1]s/v1/status
  the cashier page   http://%[1]s/
  the customer       %[3]s/sim/   (the emulator's customer page: scan the till %[5]s, pay or reject)
  a second sale      POSD_STATE_DIR=%[4]s POSD_API_LISTEN=%[1]s POSD_PROVIDERS_SEQR_URL=%[3]s%[6]s \
                       go run ./cmd/posd pay --amount 20.00
                     then pay it on the customer page, or play the customer with curl:
                     curl -X POST -H 'Content-Type: application/json' -d '{"seqrId":"%[5]s"}' %[3]s/sim/seqr/scan
                     curl -X POST -H 'Content-Type: application/json' -d '{"seqrId":"%[5]s","outcome":"paid"}' %[3]s/sim/seqr/pay
  Resurs Bank        the same, with: pay --method resurs --amount 250.00 --government-id 198305147715
                     then sign on the printed checkout URL, or play the customer with curl:
                     curl -X POST -H 'Content-Type: application/json' -d '{"governmentId":"198305147715","method":"invoice"}' %[3]s/sim/resurs/sessions/{id}/complete
                     ("Betala sen": --method resurs_later --valid-until 48h; the customer adds "later":true)
  Payson             the same, with: pay --method payson --amount 155.00
                     then pay on the printed checkout URL (or the QR code), or with curl:
                     curl -X POST -H 'Content-Type: application/json' -d '{"method":"card"}' %[3]s/sim/payson/checkouts/{id}/pay
`, d.APIAddr, d.Token, d.SimURL, d.StateDir, demoSeqrID, seqrsim.PathCashRegister2)
}

// printerConfigured reports whether a print worker is wired (see wirePrinter).
func (m *Main) printerConfigured() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.printerWired
}

// demoConfig is the demo posd's whole configuration: overrides only, no
// file, no environment. version is the binary's version string; it goes
// into seqr.client_reference through demoClientReference, so the demo
// starts whatever the version stamped on the binary.
func demoConfig(dir, simURL, printDir, logLevel, version string) (config.Config, error) {
	overrides := map[string]string{
		"state_dir":                       dir,
		"api.listen":                      "127.0.0.1:0",
		"providers.seqr.url":              simURL + seqrsim.PathCashRegister2,
		"providers.seqr.client_id":        "posd demo",
		"providers.seqr.client_reference": demoClientReference(version),
		"register.probe_interval":         "2s",
		"printer.device":                  "virtual:" + printDir,
		"receipt.header":                  "Demobutiken AB|Storgatan 1, 111 22 Stockholm",
		"receipt.org_number":              "556000-0000",
		"receipt.footer":                  "Tack för besöket!",
		// The reference under the receipt as a QR code (issue 8: Payson's
		// receipt prints one; nothing in a reference is secret).
		"receipt.reference_code":    "qr",
		"log.format":                "console",
		"log.level":                 logLevel,
		"terminal.reseller_id":      seqrsim.TestResellerID,
		"terminal.reseller_user_id": seqrsim.TestResellerUserID,
	}
	for k, v := range demoProviderOverrides(simURL) {
		overrides[k] = v
	}
	return config.Load(config.Source{Overrides: overrides})
}

// clientReferenceMax is SEQR's limit on clientContext.clientReference.
const clientReferenceMax = 32

// demoClientReference derives the demo's seqr.client_reference, "posd demo"
// and the version, always within SEQR's 32 characters (certification asks
// for the POS name and version there). A Go pseudo-version
// (v0.0.0-20261121194531-b1f3ddc7aa89) is shown by its commit, which is what
// identifies the build; a module version followed by a revision that do
// not fit together leave the revision; anything still too long is cut,
// keeping its start.
func demoClientReference(version string) string {
	const prefix = "posd demo"
	fields := strings.Fields(version)
	if len(fields) > 0 {
		if rev, ok := pseudoVersionRevision(fields[0]); ok {
			fields[0] = rev
			// version() appends the VCS revision, the same commit again.
			if len(fields) > 1 && strings.HasPrefix(fields[1], rev) {
				fields = fields[1:]
			}
		}
	}
	ref := prefix
	if v := strings.Join(fields, " "); v != "" {
		ref += " " + v
	}
	if utf8.RuneCountInString(ref) <= clientReferenceMax {
		return ref
	}
	if len(fields) > 1 {
		// "devel 0123456789ab+dirty": the revision alone names the build.
		ref = prefix + " " + fields[len(fields)-1]
		if utf8.RuneCountInString(ref) <= clientReferenceMax {
			return ref
		}
	}
	n := 0
	for i := range ref {
		if n == clientReferenceMax {
			return strings.TrimRight(ref[:i], " ")
		}
		n++
	}
	return ref
}

// pseudoVersionRevision returns the 12-hex-digit commit of a Go
// pseudo-version (vX.Y.Z-[pre.]yyyymmddhhmmss-abcdef123456, optionally with
// +incompatible or other build metadata after it).
func pseudoVersionRevision(v string) (string, bool) {
	if i := strings.IndexByte(v, '+'); i >= 0 {
		v = v[:i]
	}
	dash := strings.LastIndexByte(v, '-')
	if dash < 0 || len(v)-dash-1 != 12 {
		return "", false
	}
	rev := v[dash+1:]
	for _, c := range rev {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", false
		}
	}
	stamp := v[:dash]
	if len(stamp) < 14 {
		return "", false
	}
	stamp = stamp[len(stamp)-14:]
	for _, c := range stamp {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	return rev, true
}

// demoScanner is the demo's stand-in scanner as Status shows it; demoScan
// delivers its scans through the register's HandleScan, the scanner
// supervisor's own way in.
type demoScanner struct{}

func (demoScanner) Status() scanner.Status {
	return scanner.Status{Device: "simulated (posd demo)", Connected: true}
}
