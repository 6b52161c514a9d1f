package printer_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/printer"
)

// blockingConn is a write-only device whose Write blocks until Close, as
// /dev/usb/lp0 does when the printer is out of paper.
type blockingConn struct {
	writing chan struct{} // closed when the first Write has begun
	closed  chan struct{}
	wonce   sync.Once
	conce   sync.Once
}

func newBlockingConn() *blockingConn {
	return &blockingConn{writing: make(chan struct{}), closed: make(chan struct{})}
}

func (c *blockingConn) Read([]byte) (int, error) { return 0, errors.New("write-only") }
func (c *blockingConn) Write([]byte) (int, error) {
	c.wonce.Do(func() { close(c.writing) })
	<-c.closed
	return 0, errors.New("closed")
}
func (c *blockingConn) Close() error { c.conce.Do(func() { close(c.closed) }); return nil }

// A write stuck in the kernel must not hold Run after its context ends:
// shutdown closes the link, which ends the write.
func TestWorkerBlockedWriteEndsOnCancel(t *testing.T) {
	q := newMemQueue()
	q.add("receipt", payload(t, sampleDoc(t)), time.Now())
	conn := newBlockingConn()
	t.Cleanup(func() { _ = conn.Close() }) // frees Run if the fix is missing
	w, err := printer.NewWorker(printer.WorkerConfig{Device: "/dev/usb/lp0"}, q,
		printer.WithOpener(func(ctx context.Context) (printer.Link, error) {
			return printer.Link{Conn: conn, Kind: "file"}, nil
		}))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	recv(t, conn.writing, "the job's write")
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		_ = conn.Close()
		<-done
		t.Fatal("Run still blocked in Write 5 s after its context ended")
	}
	assert.False(t, w.Status().Online, "a stopped worker does not report the printer online")
}

// A device file that can be polled (usblp, a FIFO) gets a write deadline:
// a printer that stops taking data shows up as an error, not a hang.
func TestFileTransportWriteDeadline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lp0")
	require.NoError(t, syscall.Mkfifo(path, 0o600))
	// The reader end is held open and never read, so the pipe fills up.
	r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() })
	open, _, err := printer.NewOpener("file:"+path, printer.TransportConfig{WriteTimeout: 50 * time.Millisecond})
	require.NoError(t, err)
	l, err := open(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Conn.Close() })

	res := make(chan error, 1)
	go func() {
		_, err := l.Conn.Write(make([]byte, 1<<20)) // far more than a pipe holds
		res <- err
	}()
	select {
	case err := <-res:
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	case <-time.After(5 * time.Second):
		_ = l.Conn.Close()
		<-res
		t.Fatal("write to a full device file did not time out")
	}
}

// failConn opens fine and fails every write at once (a printer that
// accepts the connection and then drops it, a port that gives EIO).
type failConn struct {
	closed chan struct{}
	once   sync.Once
}

func newFailConn() *failConn { return &failConn{closed: make(chan struct{})} }

func (c *failConn) Read([]byte) (int, error) {
	<-c.closed
	return 0, errors.New("closed")
}
func (c *failConn) Write([]byte) (int, error) { return 0, errors.New("input/output error") }
func (c *failConn) Close() error              { c.once.Do(func() { close(c.closed) }); return nil }

// simConn answers like a printer for its first `good` writes, then fails.
type simConn struct {
	sim    *printer.Sim
	good   int
	rx     chan []byte
	closed chan struct{}
	once   sync.Once
}

func newSimConn(good int) *simConn {
	return &simConn{sim: printer.NewSim(nil), good: good, rx: make(chan []byte, 16), closed: make(chan struct{})}
}

func (c *simConn) Read(p []byte) (int, error) {
	select {
	case b := <-c.rx:
		return copy(p, b), nil
	case <-c.closed:
		return 0, errors.New("closed")
	}
}

func (c *simConn) Write(p []byte) (int, error) {
	if c.good == 0 {
		return 0, errors.New("input/output error")
	}
	c.good--
	n, reply, _ := c.sim.Write(p)
	if len(reply) > 0 {
		c.rx <- reply
	}
	return n, nil
}
func (c *simConn) Close() error { c.once.Do(func() { close(c.closed) }); return nil }

// reconnectGaps runs a worker in a synctest bubble whose opener hands out
// conns[i] for attempt i and returns the (fake) time between attempts.
func reconnectGaps(t *testing.T, cfg printer.WorkerConfig, withJob bool, conns []func() printer.Link) []time.Duration {
	var gaps []time.Duration
	synctest.Test(t, func(t *testing.T) {
		q := newMemQueue()
		if withJob {
			q.add("receipt", payload(t, sampleDoc(t)), time.Now())
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var last time.Time
		attempt := 0
		w, err := printer.NewWorker(cfg, q, printer.WithOpener(func(ctx context.Context) (printer.Link, error) {
			now := time.Now()
			if attempt > 0 {
				gaps = append(gaps, now.Sub(last))
			}
			last = now
			if attempt == len(conns) {
				cancel()
				return printer.Link{}, ctx.Err()
			}
			attempt++
			return conns[attempt-1](), nil
		}))
		require.NoError(t, err)
		require.NoError(t, w.Run(ctx))
	})
	return gaps
}

// An open that succeeds is no reason to reconnect at once: a link that
// fails before it has shown it works is reopened with a growing backoff.
func TestWorkerReconnectBacksOffWhenLinkFailsAtOnce(t *testing.T) {
	ms := time.Millisecond
	want := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 800 * ms}
	cfg := printer.WorkerConfig{Device: "/dev/usb/lp0", ReconnectMin: 100 * ms, ReconnectMax: 800 * ms}
	readable := func() printer.Link { return printer.Link{Conn: newFailConn(), Readable: true, Kind: "x"} }
	writeOnly := func() printer.Link { return printer.Link{Conn: newFailConn(), Kind: "file"} }

	t.Run("status poll fails", func(t *testing.T) {
		gaps := reconnectGaps(t, cfg, false, []func() printer.Link{readable, readable, readable, readable, readable})
		assert.Equal(t, want, gaps)
	})
	t.Run("write-only job write fails", func(t *testing.T) {
		gaps := reconnectGaps(t, cfg, true, []func() printer.Link{writeOnly, writeOnly, writeOnly, writeOnly, writeOnly})
		assert.Equal(t, want, gaps)
	})
}

// A link that answered a status request has proven itself: when it is lost
// later, the backoff starts again at ReconnectMin.
func TestWorkerReconnectBackoffResetsAfterWorkingLink(t *testing.T) {
	ms := time.Millisecond
	cfg := printer.WorkerConfig{Device: "/dev/ttyUSB0", ReconnectMin: 100 * ms, ReconnectMax: 800 * ms, PollInterval: time.Second}
	readable := func() printer.Link { return printer.Link{Conn: newFailConn(), Readable: true, Kind: "x"} }
	onePoll := func() printer.Link { return printer.Link{Conn: newSimConn(1), Readable: true, Kind: "x"} }
	gaps := reconnectGaps(t, cfg, false, []func() printer.Link{readable, readable, readable, onePoll})
	// 100, 200, 400 ms of backoff; then the working link lives one poll
	// interval and is reopened after ReconnectMin, not after 800 ms.
	assert.Equal(t, []time.Duration{100 * ms, 200 * ms, 400 * ms, time.Second + 100*ms}, gaps)
}
