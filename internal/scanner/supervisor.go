package scanner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
)

const (
	// defaultPoll is the read timeout while no frame is in progress, and how
	// often the device path is checked. It bounds how long an unplug that
	// the kernel does not report on the open fd (the node vanishes or the
	// by-id symlink moves to a new device) goes unnoticed: well under the
	// 2 s target. Reads wake twice a second at most when idle; a Read that
	// is blocked for shutdown is ended by Close, not by this timeout.
	defaultPoll = 500 * time.Millisecond
	// maxQuickZeros is how many (0, nil) reads in a row that return well
	// before their timeout we accept before calling the port broken: such a
	// port would make the loop spin, so it is closed and reopened with
	// backoff instead.
	maxQuickZeros = 20
	readBufSize   = 256
	// workingSession is how long a session must last, if it read nothing,
	// to count as a working connection that starts the backoff again: a
	// port that opens and then fails at once (immediate EIO, errNoWait)
	// must not be reopened every ReopenMin forever.
	workingSession = time.Second
)

// errNoWait is why a port that keeps returning (0, nil) at once is dropped.
var errNoWait = errors.New("read returns no data without waiting for its timeout")

// Scanner owns one serial scanner: it opens the port, turns what it reads
// into Scans for onScan, and reopens the port after an unplug. One goroutine
// (Run's) does all of that, so onScan is never called concurrently; it is
// called on the read path and should hand the scan off quickly (the kernel
// buffers a few KB meanwhile, so a slow onScan delays scans, it loses none).
type Scanner struct {
	cfg      Config
	log      *zap.Logger
	onScan   func(Scan)
	open     Opener
	now      func() time.Time
	onStatus func(Status)
	poll     time.Duration
	sleep    func(ctx context.Context, d time.Duration) bool

	mu         sync.Mutex
	connected  bool
	lastError  string
	lastScanAt time.Time
}

// Option changes a Scanner's defaults, mostly for tests.
type Option func(*Scanner)

// WithOpener replaces SerialOpener, e.g. with one that hands out ptys.
func WithOpener(open Opener) Option { return func(s *Scanner) { s.open = open } }

// WithClock sets the clock used for Scan.At, the duplicate window and
// Status.LastScanAt (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *Scanner) { s.now = now } }

// WithStatusHook calls fn with the new Status whenever Connected or
// LastError changes, from Run's goroutine (fn must not block). The register
// can push it to event streams; tests use it to wait for state changes
// without sleeping.
func WithStatusHook(fn func(Status)) Option { return func(s *Scanner) { s.onStatus = fn } }

// withPoll sets the idle read timeout and device check interval (tests).
func withPoll(d time.Duration) Option { return func(s *Scanner) { s.poll = d } }

// New checks cfg (zero fields take defaults) and returns a Scanner that
// delivers every accepted scan to onScan. It starts nothing; call Run.
// A nil logger logs nothing; a nil onScan drops scans.
func New(cfg Config, logger *zap.Logger, onScan func(Scan), opts ...Option) (*Scanner, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	if onScan == nil {
		onScan = func(Scan) {}
	}
	s := &Scanner{
		cfg:    cfg,
		log:    logger.With(zap.String("component", "scanner"), zap.String("device", cfg.Device)),
		onScan: onScan,
		open:   SerialOpener,
		now:    time.Now,
		poll:   defaultPoll,
		sleep:  sleepCtx,
	}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Status is the scanner's state for /v1/status. Safe for concurrent use.
func (s *Scanner) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statusLocked()
}

func (s *Scanner) statusLocked() Status {
	st := Status{Device: s.cfg.Device, Connected: s.connected, LastError: s.lastError}
	if !s.lastScanAt.IsZero() {
		at := s.lastScanAt
		st.LastScanAt = &at
	}
	return st
}

// setState records connected and (when err is not nil) the last error, and
// tells the status hook if either changed.
func (s *Scanner) setState(connected bool, err error) {
	s.mu.Lock()
	changed := s.connected != connected
	s.connected = connected
	if err != nil && err.Error() != s.lastError {
		s.lastError = err.Error()
		changed = true
	}
	st := s.statusLocked()
	s.mu.Unlock()
	if changed && s.onStatus != nil {
		s.onStatus(st)
	}
}

// Run owns the port until ctx ends, then closes it and returns nil. Device
// trouble is never fatal: a failed open or a read error (unplug: go.bug.st
// reports PortClosed, a pty gives EIO) closes the port, is logged and shown
// in Status, and the port is reopened after a backoff that doubles from
// ReopenMin up to ReopenMax and starts again at ReopenMin after a working
// connection (one that read data or lasted workingSession).
func (s *Scanner) Run(ctx context.Context) error {
	framer := NewFramer(s.cfg.MaxLen, s.cfg.DedupWindow)
	framer.SetSuffix(s.cfg.Suffix)
	backoff := s.cfg.ReopenMin
	var lastOpenErr, lastLostErr string
	for {
		connected, worked, err := s.session(ctx, framer)
		if ctx.Err() != nil {
			s.setState(false, nil)
			return nil
		}
		s.setState(false, err)
		msg := err.Error()
		if worked {
			s.log.Warn("scanner disconnected, reopening", zap.Error(err))
			backoff = s.cfg.ReopenMin
			lastOpenErr = ""
			lastLostErr = msg
		} else if connected {
			// Opened, then failed at once: like an open error, warned once
			// per outage and reopened with a growing backoff.
			if msg != lastLostErr {
				s.log.Warn("scanner disconnected right after opening, retrying", zap.Error(err), zap.Duration("backoff", backoff))
				lastLostErr = msg
			} else {
				s.log.Debug("scanner disconnected right after opening again", zap.Error(err))
			}
		} else if msg != lastOpenErr {
			// While unplugged the same open error comes every ReopenMax;
			// warn once, then only when it changes.
			s.log.Warn("scanner not available, retrying", zap.Error(err), zap.Duration("backoff", backoff))
			lastOpenErr = msg
		} else {
			s.log.Debug("scanner still not available", zap.Error(err))
		}

		if !s.sleep(ctx, backoff) {
			return nil
		}
		backoff = min(2*backoff, s.cfg.ReopenMax)
	}
}

// sleepCtx waits d or until ctx ends; false means ctx ended.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// session opens the port and reads until it fails or ctx ends. connected
// says whether the open worked, worked whether the connection then proved
// itself: it read data or lasted workingSession.
func (s *Scanner) session(ctx context.Context, framer *Framer) (connected, worked bool, err error) {
	// What the path names, to notice later that the node is gone or that
	// the by-id symlink now points at another device. Port does not expose
	// its fd, so the path is stat'ed before and after the open; if the two
	// differ, a replug raced the open and we cannot tell which device we
	// got, so that attempt is given up. (A stat error leaves identity nil
	// and the check off; the open then reports the real problem.)
	before, _ := os.Stat(s.cfg.Device)
	port, err := s.open(s.cfg.Device, s.cfg.mode())
	if err != nil {
		return false, false, fmt.Errorf("open scanner %s: %w", s.cfg.Device, err)
	}
	var identity os.FileInfo
	if before != nil {
		after, _ := os.Stat(s.cfg.Device)
		if after == nil || !os.SameFile(before, after) {
			port.Close()
			return false, false, fmt.Errorf("open scanner %s: device changed while opening", s.cfg.Device)
		}
		identity = after
	}

	// Closing from another goroutine is what ends a Read blocked at
	// shutdown (go.bug.st's Close signals its pipe and waits for readers).
	// AfterFunc starts that goroutine only if ctx ends, and we wait for it,
	// so a session leaves no goroutine behind.
	closed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		port.Close()
		close(closed)
	})
	defer func() {
		if stop() {
			if cerr := port.Close(); cerr != nil {
				s.log.Debug("close scanner port", zap.Error(cerr))
			}
		} else {
			<-closed
		}
	}()

	framer.Reset()
	s.setState(true, nil)
	s.log.Info("scanner connected")
	start := time.Now()
	gotData, err := s.read(port, framer, identity)
	return true, gotData || time.Since(start) >= workingSession, err
}

// read runs the read loop on an open port until an error.
//
// go.bug.st/serial's Read returns (0, nil) when its timeout passes; that is
// our idle tick, never retried at once, so the loop cannot busy-wait. While
// a frame is in progress the timeout is IdleGap, so the tick is the idle
// gap that ends the frame (StaleGap for a scanner that ends its codes with
// CR or LF: the gap does not end its frames, only drops a fragment);
// otherwise it is the slower poll. gotData says whether any byte arrived
// before the error.
func (s *Scanner) read(port Port, framer *Framer, identity os.FileInfo) (gotData bool, err error) {
	buf := make([]byte, readBufSize)
	var results []Result
	timeout := time.Duration(-1)
	lastCheck := time.Now()
	quickZeros := 0
	for {
		want := s.poll
		if framer.Pending() {
			want = s.cfg.IdleGap
			if framer.Terminated() {
				want = s.cfg.StaleGap
			}
		}
		if want != timeout {
			if err := port.SetReadTimeout(want); err != nil {
				return gotData, fmt.Errorf("set read timeout on scanner %s: %w", s.cfg.Device, err)
			}
			timeout = want
		}

		// The spin guard measures real elapsed time on purpose: it is about
		// the port honouring its timeout, not about the injected clock.
		start := time.Now()
		n, err := port.Read(buf)
		if n > 0 {
			quickZeros = 0
			gotData = true
			results = framer.Feed(results[:0], buf[:n], s.now())
			s.deliver(results)
		}
		if err != nil {
			return gotData, fmt.Errorf("read scanner %s: %w", s.cfg.Device, err)
		}
		if n > 0 {
			continue
		}

		if time.Since(start) < timeout/2 {
			if quickZeros++; quickZeros >= maxQuickZeros {
				return gotData, fmt.Errorf("read scanner %s: %w", s.cfg.Device, errNoWait)
			}
		} else {
			quickZeros = 0
		}
		if framer.Pending() {
			results = framer.Idle(results[:0], s.now())
			s.deliver(results)
		}
		if identity != nil && time.Since(lastCheck) >= s.poll {
			lastCheck = time.Now()
			if err := s.checkDevice(identity); err != nil {
				return gotData, err
			}
		}
	}
}

// checkDevice reports an unplug that the open fd has not shown: the path
// no longer exists, or names a different device than the one we opened.
func (s *Scanner) checkDevice(identity os.FileInfo) error {
	fi, err := os.Stat(s.cfg.Device)
	if err != nil {
		return fmt.Errorf("scanner %s gone: %w", s.cfg.Device, err)
	}
	if !os.SameFile(identity, fi) {
		return fmt.Errorf("scanner %s now names another device", s.cfg.Device)
	}
	return nil
}

// deliver hands accepted scans to onScan and logs dropped frames.
func (s *Scanner) deliver(results []Result) {
	for _, r := range results {
		switch r.Drop {
		case DropNone:
			s.mu.Lock()
			s.lastScanAt = r.Scan.At
			s.mu.Unlock()
			s.log.Debug("scan", zap.String("code", r.Scan.Code), zap.String("symbology", r.Scan.Symbology))
			s.onScan(r.Scan)
		case DropIncomplete:
			s.log.Warn("scanner frame dropped: the code's CR or LF never came (a cut-off scan)",
				zap.Int("bytes", r.Len), zap.Duration("staleGap", s.cfg.StaleGap), zap.String("frame", r.Sample))
		case DropEmpty, DropDuplicate:
			s.log.Debug("scanner frame dropped", zap.String("reason", string(r.Drop)), zap.Int("bytes", r.Len), zap.String("frame", r.Sample))
		case DropNoise:
			// Garbage on every scan usually means a wrong baud rate or parity.
			s.log.Warn("scanner frame dropped: control or non-ASCII bytes (check scanner baud and parity)",
				zap.Int("bytes", r.Len), zap.String("frame", r.Sample))
		default:
			s.log.Warn("scanner frame dropped", zap.String("reason", string(r.Drop)),
				zap.Int("bytes", r.Len), zap.Int("maxLen", s.cfg.MaxLen), zap.String("frame", r.Sample))
		}
	}
}
