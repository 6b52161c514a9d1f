package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/posd/posd/internal/payson/paysonsim"
	"github.com/posd/posd/internal/resurs/resurssim"
	"github.com/posd/posd/internal/seqr/seqrsim"
	"github.com/posd/posd/internal/simctl"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

const defaultListen = "127.0.0.1:8470"

// run dispatches to the subcommand: "load", or serving by default.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "load" {
		return runLoad(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "serve" {
		args = args[1:]
	}
	return runServe(ctx, args, getenv, stdout, stderr)
}

type serveConfig struct {
	listen         string
	reversalWindow time.Duration
	reportDelay    time.Duration
	logFormat      string
	logLevel       string
}

func parseServe(args []string, getenv func(string) string, stderr io.Writer) (serveConfig, error) {
	var c serveConfig
	fs := flag.NewFlagSet("paysim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := defaultListen
	if v := getenv("PAYSIM_LISTEN"); v != "" {
		listen = v
	}
	fs.StringVar(&c.listen, "listen", listen, "address to serve on (env PAYSIM_LISTEN)")
	fs.DurationVar(&c.reversalWindow, "reversal-window", seqrsim.DefaultReversalWindow, "SEQR: a PAID invoice not polled within this window is reversed")
	fs.DurationVar(&c.reportDelay, "report-delay", seqrsim.DefaultReportDelay, "SEQR: time from markTransactionPeriod until its reports are ready")
	fs.StringVar(&c.logFormat, "log-format", "console", "log format: console or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: paysim [serve] [flags]\n       paysim load [flags]   (paysim load -h for its flags)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.logFormat != "console" && c.logFormat != "json" {
		return c, fmt.Errorf("--log-format %q: must be console or json", c.logFormat)
	}
	if c.reversalWindow <= 0 {
		return c, fmt.Errorf("--reversal-window %s: must be positive", c.reversalWindow)
	}
	if c.reportDelay < 0 {
		return c, fmt.Errorf("--report-delay %s: must not be negative", c.reportDelay)
	}
	return c, nil
}

func newLogger(format, level string, w io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	var enc zapcore.Encoder
	if format == "json" {
		enc = zapcore.NewJSONEncoder(ec)
	} else {
		ec.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(ec)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(w), lvl)), nil
}

// emulators is everything paysim serves, wired on one mux.
type emulators struct {
	seqr    *seqrsim.Sim
	resurs  *resurssim.Sim
	payson  *paysonsim.Sim
	control *simctl.Control
	handler http.Handler
}

func newEmulators(o seqrsim.Options) *emulators {
	calls := o.Calls
	if calls == nil {
		calls = simctl.NewCallLog(0)
		o.Calls = calls
	}
	faults := o.Faults
	if faults == nil {
		faults = simctl.NewFaults(nil)
		o.Faults = faults
	}
	clock := simctl.NewClock(o.Now) // one emulator-wide clock (POST /sim/clock/advance)
	o.Now = clock.Now
	e := &emulators{seqr: seqrsim.New(o), control: &simctl.Control{Calls: calls, Faults: faults, Clock: clock}}
	mux := http.NewServeMux()
	e.control.Register(mux)
	e.resurs = mountResurs(mux, clock, calls, faults, o.Logger)
	mux.Handle("/", e.seqr.Handler())
	e.handler = mux
	e.payson = addPayson(clock, calls, faults, o.Logger, &e.handler)
	return e
}

func newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

// serve runs srv on ln until ctx ends, then shuts it down within 5 s.
func serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down %s: %w", ln.Addr(), err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	}
	return nil
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseServe(args, getenv, stderr)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg.logFormat, cfg.logLevel, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	em := newEmulators(seqrsim.Options{
		ReversalWindow: cfg.reversalWindow,
		ReportDelay:    cfg.reportDelay,
		Logger:         log.Named("seqr"),
	})
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.listen, err)
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "paysim listening on %s\n", base)
	fmt.Fprintf(stdout, "  SEQR SOAP        %s%s  (also %s, %s; WSDL: ?wsdl)\n", base, seqrsim.PathCashRegister2, seqrsim.PathServiceV2, seqrsim.PathServiceV1)
	fmt.Fprintf(stdout, "  customer page    %s/sim/\n", base)
	fmt.Fprintf(stdout, "  control API      %s/sim/seqr/{scan,pay,invoices/{ref},tills}  %s/sim/calls  %s/sim/faults\n", base, base, base)
	fmt.Fprintf(stdout, "  test principals  RESELLERUSER %s/%s password %s; TERMINALID %s password %s\n",
		seqrsim.TestResellerID, seqrsim.TestResellerUserID, seqrsim.TestResellerPassword, seqrsim.TestTerminalID, seqrsim.TestTerminalPassword)
	printResurs(stdout, base)
	paysonLines(stdout, base)
	log.Info("serving", zap.String("addr", ln.Addr().String()), zap.Duration("reversalWindow", cfg.reversalWindow))
	return em.run(ctx, func(ctx context.Context) error { return serve(ctx, newServer(em.handler), ln) })
}
