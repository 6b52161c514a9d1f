// Package api is posd's local HTTP API: JSON for the register's front end
// and the cashier page, bearer-token auth, loopback-only Host and Origin
// checks, RFC 9457 problem+json errors and Server-Sent Events of a payment's
// progress. It holds no payment logic: every route calls the register.
//
// The routes live in one table (routes.go) that both builds the mux and is
// compared with api/openapi.yaml by a test, so the two cannot drift apart.
package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/register"
)

// Register is what the API needs of the register (*register.Register).
type Register interface {
	Ready() <-chan struct{}
	Status(ctx context.Context) (register.Status, error)
	Terminal(ctx context.Context) (register.Terminal, error)
	RegisterTerminal(ctx context.Context, req register.RegisterTerminalRequest) (register.Terminal, error)
	UnregisterTerminal(ctx context.Context) error
	AssignSeqrID(ctx context.Context, seqrID string) (register.Terminal, error)
	AssignSeqrIDByScan(ctx context.Context, timeout time.Duration) (register.Terminal, error)
	CreatePayment(ctx context.Context, idempotencyKey string, req register.PaymentRequest) (register.Payment, bool, error)
	Payment(ctx context.Context, id string) (register.Payment, error)
	PaymentDetail(ctx context.Context, id string) (register.Detail, error)
	TestPrint(ctx context.Context) error
	Payments(ctx context.Context, q register.ListQuery) (register.PaymentPage, error)
	Subscribe(id string) (<-chan register.Event, func())
	Retry(ctx context.Context, id string) (register.Payment, error)
	Cancel(ctx context.Context, id string) (register.Payment, error)
	Refund(ctx context.Context, id, idempotencyKey string, req register.RefundRequest) (register.Refund, bool, error)
	Annul(ctx context.Context, id, idempotencyKey string, req register.AnnulRequest) (register.Refund, bool, error)
	AdditionalDebit(ctx context.Context, id, idempotencyKey string, req register.DebitRequest) (register.Refund, bool, error)
	Journal(ctx context.Context, after int64, limit int) ([]receipt.Post, error)
	ClosePeriod(ctx context.Context, provider string) (register.PeriodReport, error)
	ReprintReceipt(ctx context.Context, id string) error
}

// Defaults.
const (
	DefaultListen             = "127.0.0.1:8420"
	DefaultReadHeaderTimeout  = 5 * time.Second
	DefaultHeartbeat          = 15 * time.Second
	DefaultStreamWriteTimeout = 10 * time.Second
	MaxBodyBytes              = 64 << 10
	shutdownTimeout           = 5 * time.Second
	maxHeaderBytes            = 16 << 10
)

// Config configures the API server. Zero values take the defaults.
type Config struct {
	// Listen is "host:port" (loopback only, default 127.0.0.1:8420) or
	// "unix:/path/to/socket" (created mode 0660, a stale socket removed).
	Listen string
	// StateDir holds the token file, api-token; created at first start.
	StateDir string
	// Token, when set, is used instead of the token file (for example a
	// systemd credential that cmd/posd read).
	Token string
	// Logger; nil means no logging.
	Logger *zap.Logger
	// Metrics serves GET /metrics (Prometheus text) behind the token; nil
	// answers 404.
	Metrics http.Handler
	// FrameOrigins are the payment providers' checkout origins
	// ("https://postest.resurs.com") the cashier page may frame; no others.
	FrameOrigins []string
	// TrustedOrigins are extra origins (e.g. "http://localhost:3000", a
	// front end served elsewhere on this machine) allowed to make writes.
	TrustedOrigins []string
	// ReadHeaderTimeout; default 5 s. Tests shorten it.
	ReadHeaderTimeout time.Duration
	// Heartbeat is the interval of SSE comment lines; default 15 s.
	Heartbeat time.Duration
	// StreamWriteTimeout bounds each write and flush of an event stream,
	// so a client that stops reading cannot pin a handler; default 10 s.
	StreamWriteTimeout time.Duration
	// MaxConns caps the connections held (default 256); at the cap the
	// longest-idle connection is closed for a new one (see connTracker).
	MaxConns int
	// MaxStreams caps concurrent event streams (default 64); one more is
	// answered 503 too-many-streams.
	MaxStreams int
	// UnauthIdleTimeout is how long a connection that has not shown the
	// token may wait between requests (default 5 s; with the token the
	// wait is 2 minutes).
	UnauthIdleTimeout time.Duration
	// StallScan is how often event streams are checked for clients that
	// stopped reading (default 2 s; see stallMonitor).
	StallScan time.Duration
}

// Server is the local API. New starts nothing; Run or Serve serve.
type Server struct {
	cfg     Config
	reg     Register
	log     *zap.Logger
	token   string
	cop     *http.CrossOriginProtection
	origins map[string]bool // trusted origins, lower-case

	streams atomic.Int32 // event streams being served
	stalls  *stallMonitor
	// connHook, when set (tests) before Serve, sees every ConnState change.
	connHook func(*trackedConn, http.ConnState)

	mu       sync.Mutex
	conns    *connTracker // of the listener being served
	addr     net.Addr
	listened chan struct{}
	once     sync.Once
}

// New checks cfg and loads (or creates) the API token. It starts nothing.
func New(cfg Config, reg Register) (*Server, error) {
	if reg == nil {
		return nil, errors.New("api: nil register")
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.StreamWriteTimeout <= 0 {
		cfg.StreamWriteTimeout = DefaultStreamWriteTimeout
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = DefaultMaxStreams
	}
	if cfg.UnauthIdleTimeout <= 0 {
		cfg.UnauthIdleTimeout = DefaultUnauthIdleTimeout
	}
	if cfg.StallScan <= 0 {
		cfg.StallScan = DefaultStallScan
	}
	if err := checkListen(cfg.Listen); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	tok := cfg.Token
	if tok == "" {
		if cfg.StateDir == "" {
			return nil, errors.New("api: state_dir is needed for the token file (or give a token)")
		}
		var err error
		if tok, err = LoadOrCreateToken(cfg.StateDir); err != nil {
			return nil, err
		}
	}
	s := &Server{
		cfg:      cfg,
		reg:      reg,
		log:      log.With(zap.String("component", "api")),
		token:    tok,
		cop:      http.NewCrossOriginProtection(),
		origins:  map[string]bool{},
		listened: make(chan struct{}),
	}
	s.stalls = newStallMonitor(s.log)
	for _, o := range cfg.TrustedOrigins {
		if err := s.cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("api: trusted origin %q: %w", o, err)
		}
		s.origins[strings.ToLower(o)] = true
	}
	return s, nil
}

// checkListen refuses a TCP address other than 127.0.0.1, [::1] or
// localhost: the API has no TLS and its Host check assumes nobody else can
// reach it. Other loopback spellings (127.0.0.2, [::ffff:127.0.0.1]) are
// refused as well, because hostAllowed (the DNS-rebinding defence) accepts
// only these three names: a client of such a listener would get 403 on
// every request.
func checkListen(listen string) error {
	if path, ok := strings.CutPrefix(listen, "unix:"); ok {
		if path == "" {
			return errors.New("api.listen: empty unix socket path")
		}
		return nil
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("api.listen %q: %w", listen, err)
	}
	switch {
	case strings.EqualFold(host, "localhost"), host == "127.0.0.1", host == "::1":
		return nil
	}
	return fmt.Errorf("api.listen %q: only 127.0.0.1:PORT, [::1]:PORT, localhost:PORT or unix:/path is allowed "+
		"(the API's Host check accepts only these names)", listen)
}

// Addr is the address being served, nil before listening.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Listening is closed once the server listens (Addr is then set).
func (s *Server) Listening() <-chan struct{} { return s.listened }

// Run listens on cfg.Listen and serves until ctx ends, then shuts down
// with a 5 s deadline.
func (s *Server) Run(ctx context.Context) error {
	ln, err := listen(s.cfg.Listen)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln (which it closes) until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	unix := ln.Addr().Network() == "unix"
	stopping := make(chan struct{})
	conns := newConnTracker(s.cfg.MaxConns, s.cfg.UnauthIdleTimeout)
	conns.hook = s.connHook
	ln = conns.listener(ln)
	srv := &http.Server{
		Handler:           s.handler(unix, stopping),
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          zap.NewStdLog(s.log.WithOptions(zap.IncreaseLevel(zap.WarnLevel))),
		ConnState:         conns.connState,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
	// Streams and scans would otherwise hold Shutdown up to its deadline.
	srv.RegisterOnShutdown(func() { close(stopping) })

	s.mu.Lock()
	s.addr = ln.Addr()
	s.conns = conns
	s.mu.Unlock()
	s.once.Do(func() { close(s.listened) })
	s.log.Info("listening", zap.String("addr", ln.Addr().String()), zap.String("network", ln.Addr().Network()))

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	scanCtx, stopScan := context.WithCancel(ctx)
	scanDone := make(chan struct{})
	go func() {
		defer close(scanDone)
		s.stalls.run(scanCtx, s.cfg.StallScan)
	}()
	defer func() { stopScan(); <-scanDone }()
	select {
	case err := <-errc:
		return fmt.Errorf("api: serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc // http.ErrServerClosed once Serve has returned
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("api: shutdown: %w", err)
	}
	return nil
}

// socketCreated, when set (tests), is called with the socket's name right
// after the socket file is created.
var socketCreated func(name string)

// listen opens a TCP or unix listener for addr.
func listen(addr string) (net.Listener, error) {
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("api: listen %s: %w", addr, err)
		}
		return ln, nil
	}
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}
	// The socket must never be reachable with a wider mode than 0660, not
	// even for the moment between bind (which applies the process umask,
	// perhaps 0) and a chmod. Changing the umask is process-wide and racy
	// with other goroutines creating files, so instead the socket is bound
	// inside a fresh private directory (0700: nobody else may connect
	// through it), chmodded there, and renamed into place; rename within a
	// directory's filesystem is atomic, so the path appears already 0660.
	priv, err := os.MkdirTemp(filepath.Dir(path), ".posd-sock-")
	if err != nil {
		return nil, fmt.Errorf("api: listen unix %s: private directory: %w", path, err)
	}
	defer os.RemoveAll(priv) // empty after the rename; on failure, the socket too
	tmp := filepath.Join(priv, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("api: listen unix %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(false) // its name changes; unixListener.Close removes path
	if socketCreated != nil {
		socketCreated(tmp)
	}
	// 0660: the service user and its group (the POS front end's user) only.
	if err := os.Chmod(tmp, 0o660); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("api: chmod %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("api: listen unix %s: %w", path, err)
	}
	return &unixListener{UnixListener: ln, addr: &net.UnixAddr{Name: path, Net: "unix"}}, nil
}

// unixListener is a unix socket renamed into place after bind: its address
// is the final path, and Close removes that path.
type unixListener struct {
	*net.UnixListener
	addr *net.UnixAddr
	once sync.Once
}

func (l *unixListener) Addr() net.Addr { return l.addr }

func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() { _ = os.Remove(l.addr.Name) })
	return err
}

// removeStaleSocket removes a socket left by a posd that died, but not one
// that still answers (another posd) and never a file that is not a socket.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("api: listen unix %s: %w", path, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("api: listen unix %s: exists and is not a socket", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		_ = c.Close()
		return fmt.Errorf("api: listen unix %s: another process is serving on it", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("api: remove stale socket %s: %w", path, err)
	}
	return nil
}
