package scanner

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// wait is the bound on every wait for something the code under test must
// do; it only limits how long a broken build hangs, it is no speed target.
const wait = 10 * time.Second

// readStep is what one Read of a fakePort returns: data, or (0, nil) for a
// timeout when both are empty, or err.
type readStep struct {
	data string
	err  error
}

// fakePort is a Port whose reads the test scripts one at a time, so the
// read loop's handling of every chunk and timeout is deterministic.
type fakePort struct {
	steps    chan readStep
	closed   chan struct{}
	once     sync.Once
	reads    atomic.Int32
	mu       sync.Mutex
	timeouts []time.Duration
}

func newFakePort() *fakePort {
	return &fakePort{steps: make(chan readStep), closed: make(chan struct{})}
}

func (p *fakePort) Read(b []byte) (int, error) {
	p.reads.Add(1)
	select {
	case s := <-p.steps:
		return copy(b, s.data), s.err
	case <-p.closed:
		return 0, errors.New("fake port closed")
	}
}

func (p *fakePort) SetReadTimeout(d time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.timeouts = append(p.timeouts, d)
	return nil
}

func (p *fakePort) Close() error {
	p.once.Do(func() { close(p.closed) })
	return nil
}

// step makes the port's next Read return s; it blocks until the reader
// takes it, which is also how the test knows the previous step was handled.
func (p *fakePort) step(t *testing.T, s readStep) {
	t.Helper()
	select {
	case p.steps <- s:
	case <-time.After(wait):
		t.Fatalf("reader did not read %q", s.data)
	}
}

// harness runs a Scanner with a scripted Opener and records what it does.
type harness struct {
	t      testing.TB
	s      *Scanner
	opens  chan Port // what the next open returns; a nil Port means "fail"
	scans  chan Scan // every scan delivered
	states chan Status
	logs   *observer.ObservedLogs
	done   chan error
	cancel context.CancelFunc
}

func newHarness(t *testing.T, cfg Config, opts ...Option) *harness {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	h := &harness{
		t:      t,
		opens:  make(chan Port),
		scans:  make(chan Scan, 1000),
		states: make(chan Status, 1000),
		logs:   logs,
		done:   make(chan error, 1),
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	open := func(string, Mode) (Port, error) {
		select {
		case p := <-h.opens:
			if p == nil {
				return nil, errors.New("no such device")
			}
			return p, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if cfg.Device == "" {
		cfg.Device = "/nonexistent/scanner"
	}
	opts = append([]Option{WithOpener(open), WithStatusHook(func(s Status) { h.states <- s })}, opts...)
	s, err := New(cfg, zap.New(core), func(s Scan) { h.scans <- s }, opts...)
	require.NoError(t, err)
	h.s = s
	go func() { h.done <- s.Run(ctx) }()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	h.cancel()
	select {
	case err := <-h.done:
		assert.NoError(h.t, err)
		h.done <- err // later stops see it too
	case <-time.After(wait):
		h.t.Fatal("Run did not return after cancel")
	}
}

func (h *harness) plug(p Port) {
	h.t.Helper()
	select {
	case h.opens <- p:
	case <-time.After(wait):
		h.t.Fatal("scanner did not try to open")
	}
}

func (h *harness) scan() Scan {
	h.t.Helper()
	select {
	case s := <-h.scans:
		return s
	case <-time.After(wait):
		h.t.Fatal("no scan delivered")
		return Scan{}
	}
}

// state waits for a status change with the given Connected.
func (h *harness) state(connected bool) Status {
	h.t.Helper()
	for {
		select {
		case s := <-h.states:
			if s.Connected == connected {
				return s
			}
		case <-time.After(wait):
			h.t.Fatalf("no status change to connected=%v", connected)
			return Status{}
		}
	}
}

func TestNewValidates(t *testing.T) {
	_, err := New(Config{Device: "/dev/ttyACM0", Parity: "sometimes"}, nil, nil)
	var fe *FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "Parity", fe.Field)

	s, err := New(Config{Device: "/dev/ttyACM0"}, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, Status{Device: "/dev/ttyACM0"}, s.Status(), "nothing started, nothing connected")
}

func TestRunSplitReadsAndIdleGap(t *testing.T) {
	at := time.Date(2026, 11, 21, 9, 30, 0, 0, time.UTC)
	h := newHarness(t, Config{Suffix: SuffixNone, IdleGap: 40 * time.Millisecond}, WithClock(func() time.Time { return at }))
	p := newFakePort()
	h.plug(p)
	h.state(true)

	for _, chunk := range []string{"]C", "0SEQR", "123\r", "\n"} {
		p.step(t, readStep{data: chunk})
	}
	assert.Equal(t, Scan{Code: "SEQR123", Symbology: "code128", At: at}, h.scan())

	p.step(t, readStep{data: "NOEND7"})
	p.step(t, readStep{}) // the idle gap passes
	assert.Equal(t, Scan{Code: "NOEND7", At: at}, h.scan())

	p.step(t, readStep{data: "\x00\x13\r"})
	p.step(t, readStep{data: "NOEND7\r"}) // duplicate: the fixed clock keeps it in the window
	p.step(t, readStep{data: "AFTER1\r"})
	assert.Equal(t, "AFTER1", h.scan().Code, "noise and the duplicate were dropped")
	assert.Equal(t, 1, h.logs.FilterMessageSnippet("control or non-ASCII").Len(), "noise is logged")
	assert.Equal(t, 1, h.logs.FilterField(zap.String("reason", "duplicate")).Len(), "duplicate is logged")

	st := h.s.Status()
	require.NotNil(t, st.LastScanAt)
	assert.Equal(t, at, *st.LastScanAt)
	assert.True(t, st.Connected)

	p.step(t, readStep{}) // one more read, so every SetReadTimeout above has happened
	p.mu.Lock()
	defer p.mu.Unlock()
	assert.Equal(t, []time.Duration{defaultPoll, 40 * time.Millisecond, defaultPoll, 40 * time.Millisecond, defaultPoll},
		p.timeouts, "IdleGap only while a frame is in progress")
}

func TestRunReconnectsAfterReadError(t *testing.T) {
	h := newHarness(t, Config{})
	p1 := newFakePort()
	h.plug(p1)
	h.state(true)
	p1.step(t, readStep{data: "BEFORE\r"})
	assert.Equal(t, "BEFORE", h.scan().Code)

	p1.step(t, readStep{data: "HALF", err: errors.New("input/output error")})
	st := h.state(false)
	assert.Contains(t, st.LastError, "read scanner /nonexistent/scanner: input/output error")
	select {
	case <-p1.closed:
	default:
		t.Fatal("the failed port was not closed")
	}

	h.plug(nil) // still unplugged: open fails
	p2 := newFakePort()
	h.plug(p2)
	h.state(true)
	p2.step(t, readStep{data: "AFTER\r"})
	assert.Equal(t, "AFTER", h.scan().Code, "the half frame from before the unplug is gone")
	assert.Contains(t, h.s.Status().LastError, "no such device", "the last error stays visible after reconnecting")
}

// spinPort returns (0, nil) at once forever: a port that ignores its read
// timeout. The loop must not spin on it.
type spinPort struct {
	reads  atomic.Int32
	closed atomic.Bool
}

func (p *spinPort) Read([]byte) (int, error) {
	p.reads.Add(1)
	if p.closed.Load() {
		return 0, errors.New("closed")
	}
	return 0, nil
}
func (p *spinPort) SetReadTimeout(time.Duration) error { return nil }
func (p *spinPort) Close() error                       { p.closed.Store(true); return nil }

func TestRunDropsPortThatDoesNotWait(t *testing.T) {
	h := newHarness(t, Config{})
	p := &spinPort{}
	h.plug(p)
	h.state(true)
	st := h.state(false)
	assert.Contains(t, st.LastError, errNoWait.Error())
	assert.Equal(t, int32(maxQuickZeros), p.reads.Load(), "reads before the port is given up")
	assert.True(t, p.closed.Load())
}

func TestRunBackoff(t *testing.T) {
	var mu sync.Mutex
	var waits []time.Duration
	sleep := func(ctx context.Context, d time.Duration) bool {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		return ctx.Err() == nil
	}
	h := newHarness(t, Config{ReopenMin: 100 * time.Millisecond, ReopenMax: 350 * time.Millisecond},
		func(s *Scanner) { s.sleep = sleep })
	for range 5 {
		h.plug(nil)
	}
	p := newFakePort()
	h.plug(p)
	h.state(true)
	p.step(t, readStep{data: "SEQR9\r"}) // a working connection: it read a scan
	assert.Equal(t, "SEQR9", h.scan().Code)
	p.step(t, readStep{err: errors.New("port has been closed")})
	h.state(false)
	h.plug(nil)
	h.plug(newFakePort())
	h.state(true)

	mu.Lock()
	defer mu.Unlock()
	ms := time.Millisecond
	assert.Equal(t, []time.Duration{100 * ms, 200 * ms, 350 * ms, 350 * ms, 350 * ms, 100 * ms, 200 * ms}, waits,
		"doubling from ReopenMin, capped at ReopenMax, and from ReopenMin again after a working connection")
	assert.Equal(t, 2, h.logs.FilterMessage("scanner not available, retrying").Len(), "a repeated open error is warned once per outage")
}

func TestStatusHookOnErrorChange(t *testing.T) {
	h := newHarness(t, Config{ReopenMin: 10 * time.Millisecond, ReopenMax: 10 * time.Millisecond})
	h.plug(nil)
	select {
	case st := <-h.states:
		assert.False(t, st.Connected)
		assert.Contains(t, st.LastError, "open scanner /nonexistent/scanner: no such device")
	case <-time.After(wait):
		t.Fatal("no status change for the first open error")
	}
	h.plug(nil)
	h.plug(newFakePort())
	st := h.state(true)
	assert.Contains(t, st.LastError, "no such device")
	assert.Empty(t, h.states, "the same error again is no change")
}

// A port that opens but fails at once (immediate EIO, a port that does not
// wait) has not shown it works: the backoff keeps growing and the warning
// is not repeated; a session that delivered data starts the backoff again.
func TestRunSessionFailingAtOnceBacksOff(t *testing.T) {
	var mu sync.Mutex
	var waits []time.Duration
	sleep := func(ctx context.Context, d time.Duration) bool {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		return ctx.Err() == nil
	}
	h := newHarness(t, Config{ReopenMin: 100 * time.Millisecond, ReopenMax: 350 * time.Millisecond},
		func(s *Scanner) { s.sleep = sleep })
	for range 4 {
		p := newFakePort()
		h.plug(p)
		h.state(true)
		p.step(t, readStep{err: errors.New("input/output error")})
		h.state(false)
	}
	p := newFakePort()
	h.plug(p)
	h.state(true)
	p.step(t, readStep{data: "SEQR1\r"})
	assert.Equal(t, "SEQR1", h.scan().Code)
	p.step(t, readStep{err: errors.New("input/output error")})
	h.state(false)
	h.plug(newFakePort()) // open again and stay connected: no wait after the last one
	h.state(true)

	mu.Lock()
	defer mu.Unlock()
	ms := time.Millisecond
	assert.Equal(t, []time.Duration{100 * ms, 200 * ms, 350 * ms, 350 * ms, 100 * ms}, waits,
		"sessions that fail at once back off; one that read a scan resets the backoff")
	assert.Equal(t, 2, h.logs.FilterMessageSnippet("scanner disconnected").FilterLevelExact(zap.WarnLevel).Len(),
		"the same immediate failure is warned once, a working session's loss again")
}
