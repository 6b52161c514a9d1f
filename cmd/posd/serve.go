package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/posd/posd/internal/api"
	"github.com/posd/posd/internal/config"
	"github.com/posd/posd/internal/metrics"
	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/printer"
	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/register"
	"github.com/posd/posd/internal/scanner"
	"github.com/posd/posd/internal/store"
)

// shutdownDeadline bounds a clean shutdown; systemd's TimeoutStopSec (15 s)
// is the hard limit behind it.
const shutdownDeadline = 10 * time.Second

func runServe(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlagSet("serve", "[flags]", "Run the daemon: the local API, the payment loops and the devices, until SIGTERM.\n"+
		"Under systemd (Type=notify) it reports READY=1 once open payments are recovered and the API listens.")
	cf := addConfigFlags(fs, true)
	if done, err := c.parse(fs, args); done || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("serve: unexpected argument %q", fs.Arg(0))
	}
	cfg, err := c.load(cf, nil)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg.Log, c.getenv, c.stdout, c.stderr)
	if err != nil {
		return &configError{err: err}
	}
	defer func() { _ = log.Sync() }()
	m := NewMain(cfg, log)
	return m.Run(ctx)
}

// Main is the whole daemon, wired from a Config. Tests and the demo run the
// real thing in-process on 127.0.0.1:0 with a temp state dir.
type Main struct {
	Config config.Config
	Log    *zap.Logger
	// Notify sends sd_notify messages (systemd); nil: the real notifier, a
	// no-op without NOTIFY_SOCKET.
	Notify func(string)
	// WatchdogInterval is WatchdogSec; 0 reads it from the environment.
	WatchdogInterval time.Duration
	// StatusInterval is how often STATUS= and the gauges are refreshed.
	StatusInterval time.Duration
	// Clients, when set, are the providers' HTTP clients (tests, the demo).
	Clients providerClients
	// Scanner, when set and no scanner.device is configured, stands in for
	// the scanner (the demo feeds its scans to Register().HandleScan).
	Scanner register.ScannerStatus

	ready    chan struct{}
	mu       sync.Mutex
	db       *store.DB
	reg      *register.Register
	api      *api.Server
	scan     *scanner.Scanner
	metrics  *metrics.Registry
	regAlive atomic.Bool
	// printerWired is set when a print worker runs (printer.device set).
	printerWired bool
	printer      *printer.Worker // nil without printer.device (tests script its virtual printer)
}

// NewMain builds nothing yet: Run opens, wires and runs everything.
func NewMain(cfg config.Config, log *zap.Logger) *Main {
	if log == nil {
		log = zap.NewNop()
	}
	return &Main{Config: cfg, Log: log, ready: make(chan struct{})}
}

// Ready is closed once posd has told systemd READY=1: migrations applied,
// open payments recovered, the API listening.
func (m *Main) Ready() <-chan struct{} { return m.ready }

// APIAddr is the API's address ("127.0.0.1:8420" or the socket path), once Ready.
func (m *Main) APIAddr() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.api == nil || m.api.Addr() == nil {
		return ""
	}
	return m.api.Addr().String()
}

// Register is the running register, once Ready (the demo feeds it a scan).
func (m *Main) Register() *register.Register {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reg
}

// Run opens the state (store and receipt file), builds the providers from
// config, the register, the devices and the API, and runs them until ctx
// ends; then it stops them within shutdownDeadline.
func (m *Main) Run(ctx context.Context) (err error) {
	cfg, log := m.Config, m.Log
	notify := m.Notify
	if notify == nil {
		notify = notifier{log: log}.notify
	}
	start := time.Now()
	log.Info("starting posd", zap.String("version", version()), zap.String("stateDir", cfg.StateDir),
		zap.String("api", cfg.API.Listen))
	for _, d := range cfg.Deprecated {
		log.Warn("deprecated configuration: " + d)
	}
	st, err := m.openState(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	provs, err := newProviders(cfg, st.db, log, m.Clients)
	if err != nil {
		return err
	}
	w, err := m.wire(st, provs)
	if err != nil {
		return err
	}
	return m.run(ctx, w, notify, start)
}

// state is what posd keeps on disk: the database and the receipt file.
type state struct {
	db      *store.DB
	journal *receipt.Journal
}

func (s state) close() error {
	var first error
	if s.journal != nil {
		if err := s.journal.Close(); err != nil {
			first = fmt.Errorf("close receipt file: %w", err)
		}
	}
	if s.db != nil {
		if err := s.db.Close(); err != nil && first == nil {
			first = fmt.Errorf("close database: %w", err)
		}
	}
	return first
}

// openState opens the store (migrating it) and the receipt file (repairing
// a torn tail) side by side: each reads its file, they share nothing.
func (m *Main) openState(ctx context.Context) (state, error) {
	cfg, log := m.Config, m.Log
	if was, err := prepareStateDir(cfg.StateDir); err != nil {
		return state{}, err
	} else if was != 0 {
		log.Warn("state dir was open to group or others; tightened to 0700", zap.String("dir", cfg.StateDir),
			zap.String("mode", fmt.Sprintf("%04o", was)))
	}
	type opened struct {
		j   *receipt.Journal
		rec receipt.Recovery
		err error
	}
	jc := make(chan opened, 1)
	go func() {
		j, rec, err := receipt.OpenJournal(cfg.Receipt.Journal, time.Now)
		jc <- opened{j, rec, err}
	}()
	db, err := store.Open(ctx, cfg.DB.Path, store.Options{Logger: log.Named("store")})
	jo := <-jc
	st := state{db: db, journal: jo.j}
	if err != nil {
		_ = st.close()
		return state{}, migrateError(cfg.DB.Path, err)
	}
	if applied := db.Applied(); len(applied) > 0 {
		log.Info("database migrated", zap.Ints("applied", applied))
	}
	if jo.err != nil {
		_ = st.close()
		return state{}, fmt.Errorf("open receipt file: %w", jo.err)
	}
	if rec := jo.rec; rec.MovedAside != "" {
		log.Warn("receipt file had a damaged tail: moved aside; missing posts are re-appended from the database",
			zap.String("sideFile", rec.MovedAside), zap.Int64("badBytes", rec.BadBytes), zap.Int("validPosts", rec.ValidPosts))
	}
	return st, nil
}

// wired is everything Run runs.
type wired struct {
	reg        *register.Register
	srv        *api.Server
	scan       *scanner.Scanner
	pw         *printer.Worker
	reachable  *metrics.Gauge
	printQueue *metrics.Gauge
}

// wire builds the register, the devices and the API around the state and
// the providers. It starts nothing.
func (m *Main) wire(st state, provs []payment.Provider) (w wired, err error) {
	cfg, log := m.Config, m.Log
	mreg := metrics.NewRegistry()
	obs := newObserver(mreg)
	w.reachable = mreg.Gauge("posd_provider_reachable", "1 when the last probe of the payment provider succeeded, by provider.", "provider")
	w.printQueue = mreg.Gauge("posd_print_queue_length", "Print jobs not yet printed or dropped.")

	// The register needs the scanner's status and the scanner delivers scans
	// to the register: the closure breaks the cycle (reg is set before Run).
	var reg *register.Register
	deps := register.Deps{Store: st.db, Providers: provs, Journal: st.journal, Logger: log.Named("register"), Observer: obs, Crash: crashHook()}
	if cfg.Scanner.Device != "" {
		w.scan, err = scanner.New(scanner.Config{
			Device: cfg.Scanner.Device, Baud: cfg.Scanner.Baud, DataBits: cfg.Scanner.DataBits,
			Parity: cfg.Scanner.Parity, StopBits: cfg.Scanner.StopBits, Suffix: scanner.Suffix(cfg.Scanner.Suffix),
		}, log.Named("scanner"), func(s scanner.Scan) { reg.HandleScan(s) })
		if err != nil {
			return w, &configError{err: fmt.Errorf("scanner: %w", err)}
		}
		deps.Scanner = w.scan
	} else if m.Scanner != nil {
		deps.Scanner = m.Scanner
	}
	if cfg.Printer.Device != "" {
		w.pw, err = printer.NewWorker(printer.WorkerConfig{
			Device: cfg.Printer.Device, Codepage: cfg.Printer.Codepage, Columns: cfg.Printer.Columns,
			ReceiptMaxAge: cfg.Printer.ReceiptMaxAge, DrawerMaxAge: cfg.Printer.DrawerMaxAge,
			Logger: log.Named("printer"),
			// The worker reports from its own goroutine, which starts after
			// reg is set below; the register tells the payments' streams.
			OnStatus: func(st printer.Status) { reg.PrinterStatusChanged(st) },
			Crash:    crashHook(), // nil unless built with -tags crashpoints (K2)
		}, newPrintQueue(st.db))
		if err != nil {
			return w, &configError{err: fmt.Errorf("printer: %w", err)}
		}
		deps.Printer = w.pw // Status, and Wake after the register queues a job
	}
	reg, err = register.New(register.Config{
		ProbeInterval:  cfg.Register.ProbeInterval,
		OfflineTimeout: cfg.Register.OfflineTimeout,
		Currency:       cfg.Register.Currency,
		ReceiptHeader:  receiptHeader(cfg.Receipt),
		ReceiptFooter:  cfg.Receipt.Footer,
		ReferenceCode:  referenceCode(cfg),
		Version:        version(),
	}, deps)
	if err != nil {
		return w, fmt.Errorf("register: %w", err)
	}
	w.reg = reg
	if w.srv, err = m.newAPI(reg, mreg); err != nil {
		return w, err
	}
	m.mu.Lock()
	m.db, m.reg, m.api, m.scan, m.metrics = st.db, reg, w.srv, w.scan, mreg
	m.printerWired = w.pw != nil
	m.printer = w.pw
	m.mu.Unlock()
	return w, nil
}

// newAPI builds the local API with its token: generated in the state dir,
// or given (a systemd credential or a file of the operator's choosing).
func (m *Main) newAPI(reg *register.Register, mreg *metrics.Registry) (*api.Server, error) {
	cfg := m.Config
	apiCfg := api.Config{Listen: cfg.API.Listen, StateDir: cfg.StateDir, Logger: m.Log.Named("api"), Metrics: mreg.Handler(),
		FrameOrigins: frameOrigins(cfg)}
	if cfg.API.TokenFile != filepath.Join(cfg.StateDir, "api-token") {
		tok, err := config.ReadSecret(cfg.API.TokenFile)
		if err != nil {
			return nil, &configError{err: fmt.Errorf("api.token_file: %w", err)}
		}
		if err := checkTokenFileOwner(cfg.API.TokenFile); err != nil {
			return nil, &configError{err: err}
		}
		if n := len(tok.Reveal()); n < api.MinTokenLength {
			src := "api.token_file " + cfg.API.TokenFile
			if filepath.Base(cfg.API.TokenFile) == config.CredentialAPIToken {
				src = "the api-token credential (api.token_file " + cfg.API.TokenFile + ")"
			}
			return nil, &configError{err: fmt.Errorf("%s: the token is %d characters long, it must be at least %d characters (as long as a generated one: e.g. openssl rand -hex 32)",
				src, n, api.MinTokenLength)}
		}
		apiCfg.Token = tok.Reveal()
	}
	srv, err := api.New(apiCfg, reg)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	return srv, nil
}

// run runs what wire built until ctx ends or a part fails, then stops the
// API first (no payment accepted after the loops stop; open payments keep
// being checked while it drains), then everything else, within one deadline.
func (m *Main) run(ctx context.Context, w wired, notify func(string), start time.Time) error {
	log := m.Log
	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRun()
	g, gctx := errgroup.WithContext(runCtx)
	m.regAlive.Store(true)
	g.Go(func() error {
		defer m.regAlive.Store(false)
		if err := w.reg.Run(gctx); err != nil {
			return fmt.Errorf("register: %w", err)
		}
		return nil
	})
	apiCtx, stopAPI := context.WithCancel(gctx)
	defer stopAPI()
	apiDone := make(chan struct{})
	g.Go(func() error {
		defer close(apiDone)
		return w.srv.Run(apiCtx)
	})
	if w.scan != nil {
		g.Go(func() error { return w.scan.Run(gctx) })
	}
	if w.pw != nil {
		g.Go(func() error { return w.pw.Run(gctx) })
	}
	g.Go(func() error { return m.announceReady(gctx, w, notify, start) })
	wd := m.WatchdogInterval
	if wd == 0 {
		wd = watchdogInterval()
	}
	g.Go(func() error { return watchdogLoop(gctx, wd, m.healthy, notify, log) })
	g.Go(func() error {
		m.statusLoop(gctx, notify, w.reachable, w.printQueue)
		return nil
	})

	select {
	case <-ctx.Done():
		notify("STOPPING=1")
		log.Info("stopping: finishing the payment steps in hand")
	case <-gctx.Done():
		notify("STOPPING=1")
	}
	stopCtx, stopDone := context.WithTimeout(context.Background(), shutdownDeadline)
	defer stopDone()
	stopAPI()
	select {
	case <-apiDone:
	case <-stopCtx.Done():
	}
	cancelRun()
	done := make(chan error, 1)
	go func() { done <- g.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-stopCtx.Done():
		return fmt.Errorf("shutdown took longer than %s; open payments resume at the next start", shutdownDeadline)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("stopped")
	return nil
}

// announceReady tells systemd READY=1 once recovery is done and the
// listener is up; an absent printer or scanner never holds readiness.
func (m *Main) announceReady(ctx context.Context, w wired, notify func(string), start time.Time) error {
	for _, ch := range []<-chan struct{}{w.reg.Ready(), w.srv.Listening()} {
		select {
		case <-ch:
		case <-ctx.Done():
			return nil
		}
	}
	st, _ := w.reg.Status(ctx)
	notify("READY=1\nSTATUS=" + statusLine(st))
	close(m.ready)
	m.Log.Info("ready", zap.String("api", w.srv.Addr().String()), zap.Duration("startup", time.Since(start)))
	// Start-up reads every paid payment once (the receipt file check);
	// hand that garbage back to the OS now rather than keep it resident.
	debug.FreeOSMemory()
	return nil
}

// receiptHeader is the configured header plus the organisation number line.
func receiptHeader(r config.Receipt) []string {
	h := append([]string(nil), r.Header...)
	if r.OrgNumber != "" {
		h = append(h, "Org.nr "+r.OrgNumber)
	}
	return h
}

// healthy is the watchdog's check: the store answers a cheap query, the
// register's loops are still running and its lock is not stuck.
func (m *Main) healthy(ctx context.Context) error {
	if !m.regAlive.Load() {
		return errors.New("register loops stopped")
	}
	if _, err := m.db.SchemaVersion(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if _, err := m.reg.Status(ctx); err != nil {
		return fmt.Errorf("register status: %w", err)
	}
	return ctx.Err()
}

// statusLoop keeps systemd's STATUS= line and the status gauges current.
func (m *Main) statusLoop(ctx context.Context, notify func(string), reachable, printQueue *metrics.Gauge) {
	every := m.StatusInterval
	if every <= 0 {
		every = 2 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	last := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := m.reg.Status(ctx)
		if err != nil {
			continue
		}
		for _, p := range st.Providers {
			v := 0.0
			if p.Reachable {
				v = 1
			}
			reachable.Set(v, p.Name)
		}
		if st.Printer != nil {
			printQueue.Set(float64(st.Printer.Queued))
		}
		if line := statusLine(st); line != last {
			notify("STATUS=" + line)
			last = line
		}
	}
}
