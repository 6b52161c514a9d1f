package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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
	"github.com/posd/posd/internal/printer"
	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/register"
	"github.com/posd/posd/internal/scanner"
	"github.com/posd/posd/internal/seqr"
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
	// SEQRHTTPClient, when set, is the SEQR client's transport (tests).
	SEQRHTTPClient *http.Client

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

// Run opens the store (migrating it) and the receipt file (repairing it),
// builds the SEQR client, the register, the devices and the API, and runs
// them until ctx ends; then it stops them within shutdownDeadline.
func (m *Main) Run(ctx context.Context) (err error) {
	cfg, log := m.Config, m.Log
	notify := m.Notify
	if notify == nil {
		notify = notifier{log: log}.notify
	}
	start := time.Now()
	log.Info("starting posd", zap.String("version", version()), zap.String("stateDir", cfg.StateDir),
		zap.String("api", cfg.API.Listen), zap.String("seqr", cfg.Seqr.URL))

	if was, err := prepareStateDir(cfg.StateDir); err != nil {
		return err
	} else if was != 0 {
		log.Warn("state dir was open to group or others; tightened to 0700", zap.String("dir", cfg.StateDir),
			zap.String("mode", fmt.Sprintf("%04o", was)))
	}
	// The database check (quick_check) and the receipt file scan each read
	// their whole file: do them side by side, they share nothing.
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
	if jo.err == nil {
		defer func() {
			if cerr := jo.j.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("close receipt file: %w", cerr)
			}
		}()
	}
	if err != nil {
		return migrateError(cfg.DB.Path, err)
	}
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close database: %w", cerr)
		}
	}()
	if applied := db.Applied(); len(applied) > 0 {
		log.Info("database migrated", zap.Ints("applied", applied))
	}
	if jo.err != nil {
		return fmt.Errorf("open receipt file: %w", jo.err)
	}
	journal, rec := jo.j, jo.rec
	if rec.MovedAside != "" {
		log.Warn("receipt file had a damaged tail: moved aside; missing posts are re-appended from the database",
			zap.String("sideFile", rec.MovedAside), zap.Int64("badBytes", rec.BadBytes), zap.Int("validPosts", rec.ValidPosts))
	}

	client, err := seqr.New(seqr.Config{
		URL: cfg.Seqr.URL, ClientID: cfg.Seqr.ClientID, ClientReference: cfg.Seqr.ClientReference,
		Channel: cfg.Seqr.Channel, HTTPClient: m.SEQRHTTPClient, Logger: log.Named("seqr"),
	})
	if err != nil {
		return &configError{err: fmt.Errorf("seqr client: %w", err)}
	}

	mreg := metrics.NewRegistry()
	obs := newObserver(mreg)
	reachable := mreg.Gauge("posd_seqr_reachable", "1 when the last probe of SEQR succeeded.")
	printQueue := mreg.Gauge("posd_print_queue_length", "Print jobs not yet printed or dropped.")

	// The register needs the scanner's status and the scanner delivers scans
	// to the register: the closure breaks the cycle (reg is set before Run).
	var reg *register.Register
	var scan *scanner.Scanner
	deps := register.Deps{Store: db, SEQR: client, Journal: journal, Logger: log.Named("register"), Observer: obs, Crash: crashHook()}
	if cfg.Scanner.Device != "" {
		scan, err = scanner.New(scanner.Config{
			Device: cfg.Scanner.Device, Baud: cfg.Scanner.Baud, DataBits: cfg.Scanner.DataBits,
			Parity: cfg.Scanner.Parity, StopBits: cfg.Scanner.StopBits,
		}, log.Named("scanner"), func(s scanner.Scan) { reg.HandleScan(s) })
		if err != nil {
			return &configError{err: fmt.Errorf("scanner: %w", err)}
		}
		deps.Scanner = scan
	}
	var pw *printer.Worker
	if cfg.Printer.Device != "" {
		pw, err = printer.NewWorker(printer.WorkerConfig{
			Device: cfg.Printer.Device, Codepage: cfg.Printer.Codepage, Columns: cfg.Printer.Columns,
			ReceiptMaxAge: cfg.Printer.ReceiptMaxAge, DrawerMaxAge: cfg.Printer.DrawerMaxAge,
			Logger: log.Named("printer"),
			// The worker reports from its own goroutine, which starts after
			// reg is set below; the register tells the payments' streams.
			OnStatus: func(st printer.Status) { reg.PrinterStatusChanged(st) },
			Crash:    crashHook(), // nil unless built with -tags crashpoints (K2)
		}, register.PrintQueue(db))
		if err != nil {
			return &configError{err: fmt.Errorf("printer: %w", err)}
		}
		deps.Printer = pw // Status, and Wake after the register queues a job
	}
	reg, err = register.New(register.Config{
		PollInterval:   cfg.Seqr.PollInterval,
		Window:         cfg.Seqr.Window,
		DecisionLimit:  cfg.Seqr.DecisionLimit,
		ProbeInterval:  cfg.Seqr.ProbeInterval,
		OfflineTimeout: cfg.Seqr.OfflineTimeout,
		Currency:       cfg.Seqr.Currency,
		ReceiptHeader:  receiptHeader(cfg.Receipt),
		ReceiptFooter:  cfg.Receipt.Footer,
		Version:        version(),
	}, deps)
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}

	apiCfg := api.Config{Listen: cfg.API.Listen, StateDir: cfg.StateDir, Logger: log.Named("api"), Metrics: mreg.Handler()}
	if cfg.API.TokenFile != filepath.Join(cfg.StateDir, "api-token") {
		// A systemd credential or a file of the operator's choosing.
		tok, err := config.ReadSecret(cfg.API.TokenFile)
		if err != nil {
			return &configError{err: fmt.Errorf("api.token_file: %w", err)}
		}
		if err := checkTokenFileOwner(cfg.API.TokenFile); err != nil {
			return &configError{err: err}
		}
		if n := len(tok.Reveal()); n < api.MinTokenLength {
			src := "api.token_file " + cfg.API.TokenFile
			if filepath.Base(cfg.API.TokenFile) == config.CredentialAPIToken {
				src = "the api-token credential (api.token_file " + cfg.API.TokenFile + ")"
			}
			return &configError{err: fmt.Errorf("%s: the token is %d characters long, it must be at least %d characters (as long as a generated one: e.g. openssl rand -hex 32)",
				src, n, api.MinTokenLength)}
		}
		apiCfg.Token = tok.Reveal()
	}
	srv, err := api.New(apiCfg, reg)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}

	m.mu.Lock()
	m.db, m.reg, m.api, m.scan, m.metrics = db, reg, srv, scan, mreg
	m.printerWired = pw != nil
	m.printer = pw
	m.mu.Unlock()

	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRun()
	g, gctx := errgroup.WithContext(runCtx)
	m.regAlive.Store(true)
	g.Go(func() error {
		defer m.regAlive.Store(false)
		if err := reg.Run(gctx); err != nil {
			return fmt.Errorf("register: %w", err)
		}
		return nil
	})
	// The API stops first on shutdown (see below), on a context of its own,
	// so that no payment is accepted after the poll loops have stopped and
	// open payments keep being polled while the API drains.
	apiCtx, stopAPI := context.WithCancel(gctx)
	defer stopAPI()
	apiDone := make(chan struct{})
	g.Go(func() error {
		defer close(apiDone)
		return srv.Run(apiCtx)
	})
	if scan != nil {
		g.Go(func() error { return scan.Run(gctx) })
	}
	if pw != nil {
		g.Go(func() error { return pw.Run(gctx) })
	}
	g.Go(func() error {
		// READY=1 only when recovery is done and the listener is up; an
		// absent printer or scanner never holds readiness.
		for _, ch := range []<-chan struct{}{reg.Ready(), srv.Listening()} {
			select {
			case <-ch:
			case <-gctx.Done():
				return nil
			}
		}
		st, _ := reg.Status(gctx)
		notify("READY=1\nSTATUS=" + statusLine(st))
		close(m.ready)
		log.Info("ready", zap.String("api", srv.Addr().String()), zap.Duration("startup", time.Since(start)))
		// Start-up reads every paid payment once (the receipt file check);
		// hand that garbage back to the OS now rather than keep it resident
		// for the life of the process.
		debug.FreeOSMemory()
		return nil
	})
	wd := m.WatchdogInterval
	if wd == 0 {
		wd = watchdogInterval()
	}
	g.Go(func() error { return watchdogLoop(gctx, wd, m.healthy, notify, log) })
	g.Go(func() error {
		m.statusLoop(gctx, notify, reachable, printQueue)
		return nil
	})

	// Stop on ctx (SIGTERM) or when a component fails.
	select {
	case <-ctx.Done():
		notify("STOPPING=1")
		log.Info("stopping: finishing the payment steps in hand")
	case <-gctx.Done():
		notify("STOPPING=1")
	}
	// Refuse new requests and let the ones in hand finish (srv.Run shuts
	// down with its own deadline) while the register still polls, then stop
	// the register, the devices and the loops.
	// Both steps share one deadline, inside the unit's TimeoutStopSec.
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
		if st.Provider.Reachable {
			reachable.Set(1)
		} else {
			reachable.Set(0)
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
