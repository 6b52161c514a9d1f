package printer_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
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
