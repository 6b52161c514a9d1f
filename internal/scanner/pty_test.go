package scanner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"
)

// ptyScanner is a fake scanner on a pseudo-terminal: the Scanner opens the
// slave side with the real SerialOpener through a symlink (as it would a
// /dev/serial/by-id name) and the test writes barcodes into the master.
// Closing the master is an unplug (the slave then reads EIO); a replug is a
// new pty with the symlink moved to it, as udev does.
type ptyScanner struct {
	t      testing.TB
	link   string
	master *os.File
}

func newPTYScanner(t testing.TB) *ptyScanner {
	d := &ptyScanner{t: t, link: filepath.Join(t.TempDir(), "usb-Honeywell_scanner-if00")}
	d.plug()
	t.Cleanup(func() {
		if d.master != nil {
			d.master.Close()
		}
	})
	return d
}

// plug makes a new pty and points the link at its slave (atomically, so
// the Scanner never sees a missing link while we replug).
func (d *ptyScanner) plug() {
	d.t.Helper()
	master, slave, err := pty.Open()
	require.NoError(d.t, err)
	// Only the name is needed; the master keeps the pty alive.
	require.NoError(d.t, slave.Close())
	tmp := d.link + ".new"
	require.NoError(d.t, os.Symlink(slave.Name(), tmp))
	require.NoError(d.t, os.Rename(tmp, d.link))
	d.master = master
}

func (d *ptyScanner) unplug() {
	d.t.Helper()
	require.NoError(d.t, d.master.Close())
	d.master = nil
}

func (d *ptyScanner) write(s string) {
	d.t.Helper()
	_, err := d.master.Write([]byte(s))
	require.NoError(d.t, err)
}

// startPTY runs a Scanner on d's link with the real serial opener.
func startPTY(t testing.TB, d *ptyScanner, cfg Config, opts ...Option) *harness {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	h := &harness{
		t:      t,
		scans:  make(chan Scan, 1000),
		states: make(chan Status, 1000),
		logs:   logs,
		done:   make(chan error, 1),
	}
	cfg.Device = d.link
	opts = append([]Option{WithStatusHook(func(s Status) { h.states <- s })}, opts...)
	s, err := New(cfg, zap.New(core), func(s Scan) { h.scans <- s }, opts...)
	require.NoError(t, err)
	h.s = s
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- s.Run(ctx) }()
	t.Cleanup(h.stop)
	return h
}

func TestPTYFrames(t *testing.T) {
	d := newPTYScanner(t)
	at := time.Date(2026, 11, 21, 9, 30, 0, 0, time.UTC)
	// A fixed clock keeps every repeat inside the duplicate window however
	// slowly this machine runs. IdleGap is long so that a scheduling pause
	// between two writes of one split frame cannot end the frame early.
	// Suffix "none": a scanner set to send no suffix (its frames end at
	// the idle gap) whose CR and LF still end frames.
	h := startPTY(t, d, Config{Suffix: SuffixNone, IdleGap: 300 * time.Millisecond, MaxLen: 32}, WithClock(func() time.Time { return at }))
	h.state(true)

	d.write("]C0SEQR0001\r\n")
	d.write("SPLIT")
	d.write("0002")
	d.write("\r")
	d.write("\n")
	d.write("\x00\x01\xff\r")     // noise
	d.write("]C0SEQR0001\r")      // duplicate
	d.write("]E05012345678900\r") // other AIM id
	d.write("]X3TOOLONG" + fmt.Sprintf("%040d", 7) + "\r")
	d.write("\r\n\r\n") // empty frames
	d.write("IDLE0003") // no end: the idle gap ends it

	want := []Scan{
		{Code: "SEQR0001", Symbology: "code128", At: at},
		{Code: "SPLIT0002", At: at},
		{Code: "5012345678900", Symbology: "ean13", At: at},
		{Code: "IDLE0003", At: at},
	}
	for _, w := range want {
		assert.Equal(t, w, h.scan())
	}
	assert.Equal(t, 1, h.logs.FilterMessageSnippet("control or non-ASCII").Len(), "noise logged")
	assert.Equal(t, 1, h.logs.FilterField(zap.String("reason", string(DropTooLong))).Len(), "too long logged")
	assert.Equal(t, 1, h.logs.FilterField(zap.String("reason", string(DropDuplicate))).Len(), "duplicate logged")
	assert.Equal(t, 2, h.logs.FilterField(zap.String("reason", string(DropEmpty))).Len(), "empty frames logged")
	assert.Empty(t, h.scans)
}

func TestPTYUnplugAndReplug(t *testing.T) {
	d := newPTYScanner(t)
	h := startPTY(t, d, Config{})
	h.state(true)
	d.write("]C0BEFORE1\r")
	assert.Equal(t, "BEFORE1", h.scan().Code)

	d.write("HALF") // a frame cut by the unplug is not delivered
	d.unplug()
	st := h.state(false)
	assert.NotEmpty(t, st.LastError)
	assert.False(t, h.s.Status().Connected)

	d.plug()
	h.state(true)
	d.write("]C0AFTER1\r")
	assert.Equal(t, "AFTER1", h.scan().Code)
	assert.Empty(t, h.scans)
}

// The node the path names disappears or changes without the open fd
// reporting anything: here the by-id link moves to a new device while the
// old one stays silent. The periodic path check must notice.
func TestPTYLinkMovesToAnotherDevice(t *testing.T) {
	d := newPTYScanner(t)
	h := startPTY(t, d, Config{}, withPoll(50*time.Millisecond))
	h.state(true)
	old := d.master
	t.Cleanup(func() { old.Close() })

	d.plug()
	st := h.state(false)
	assert.Contains(t, st.LastError, "now names another device")
	h.state(true)
	d.write("MOVED1\r")
	assert.Equal(t, "MOVED1", h.scan().Code)
}

func TestPTYLinkRemoved(t *testing.T) {
	d := newPTYScanner(t)
	h := startPTY(t, d, Config{}, withPoll(50*time.Millisecond))
	h.state(true)
	require.NoError(t, os.Remove(d.link))
	st := h.state(false)
	assert.Contains(t, st.LastError, "gone")
}

func TestPTYHundredUnplugs(t *testing.T) {
	d := newPTYScanner(t)
	h := startPTY(t, d, Config{ReopenMin: 5 * time.Millisecond, ReopenMax: 20 * time.Millisecond})
	h.state(true)
	baseline := runtime.NumGoroutine()

	for i := range 100 {
		d.write(fmt.Sprintf("CYCLE%03d\r", i))
		require.Equal(t, fmt.Sprintf("CYCLE%03d", i), h.scan().Code)
		d.unplug()
		h.state(false)
		d.plug()
		h.state(true)
	}
	d.write("LAST\r")
	require.Equal(t, "LAST", h.scan().Code)

	// Bounded wait on a condition, polled from this goroutine (testify's
	// Eventually runs its condition on a goroutine of its own, which would
	// be counted): goroutines of closed ports, if any, get time to exit.
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for runtime.NumGoroutine() > baseline && time.Now().Before(deadline) {
		<-tick.C
	}
	if n := runtime.NumGoroutine(); n > baseline {
		buf := make([]byte, 1<<16)
		t.Fatalf("goroutines: baseline %d, now %d\n%s", baseline, n, buf[:runtime.Stack(buf, true)])
	}
}

// With the idle poll set to an hour, Run can only return if Close ends the
// Read that is blocked in the port.
func TestPTYCancelWhileReadBlocked(t *testing.T) {
	d := newPTYScanner(t)
	h := startPTY(t, d, Config{}, withPoll(time.Hour))
	h.state(true)
	d.write("ONE\r")
	assert.Equal(t, "ONE", h.scan().Code) // the loop is now back in Read

	h.cancel()
	select {
	case err := <-h.done:
		require.NoError(t, err)
		h.done <- err
	case <-time.After(wait):
		t.Fatal("Run did not return while its Read was blocked")
	}
	assert.False(t, h.s.Status().Connected)
}

func TestPTYOpenFailsWhileUnplugged(t *testing.T) {
	d := newPTYScanner(t)
	d.unplug() // the link now points at a pty that no longer exists
	h := startPTY(t, d, Config{})
	select {
	case st := <-h.states:
		assert.False(t, st.Connected)
		assert.Contains(t, st.LastError, "open scanner "+d.link)
	case <-time.After(wait):
		t.Fatal("no status for the failed open")
	}
	d.plug()
	h.state(true)
	d.write("LATE1\r")
	assert.Equal(t, "LATE1", h.scan().Code)
}

// SerialOpener opens exclusively (TIOCEXCL). As root the kernel lets a
// second open through anyway, so read the flag back with TIOCGEXCL; as
// another user the second open itself must fail with EBUSY.
// A replug that races the open (the link moves between our stat and the
// open) must not leave us reading a device the path no longer names.
func TestPTYReplugDuringOpen(t *testing.T) {
	d := newPTYScanner(t)
	old := d.master
	t.Cleanup(func() { old.Close() })
	raced := false
	open := func(path string, mode Mode) (Port, error) {
		p, err := SerialOpener(path, mode)
		if !raced {
			raced = true
			d.plug()
		}
		return p, err
	}
	h := startPTY(t, d, Config{ReopenMin: 10 * time.Millisecond}, WithOpener(open))
	select {
	case st := <-h.states:
		assert.False(t, st.Connected)
		assert.Contains(t, st.LastError, "device changed while opening")
	case <-time.After(wait):
		t.Fatal("no status for the raced open")
	}
	h.state(true)
	d.write("NEWDEV1\r")
	assert.Equal(t, "NEWDEV1", h.scan().Code)
}

func TestSerialOpenerIsExclusive(t *testing.T) {
	d := newPTYScanner(t)
	port, err := SerialOpener(d.link, Config{}.WithDefaults().mode())
	require.NoError(t, err)

	second, err := os.OpenFile(d.link, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		require.True(t, errors.Is(err, unix.EBUSY), "second open: %v", err)
	} else {
		defer second.Close()
		excl, err := unix.IoctlGetInt(int(second.Fd()), unix.TIOCGEXCL)
		require.NoError(t, err)
		assert.Equal(t, 1, excl, "TIOCEXCL set while the scanner has the port")
	}

	require.NoError(t, port.Close())
	require.NoError(t, port.Close(), "closing twice is harmless")
	check, err := os.OpenFile(d.link, os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err, "free again after Close")
	defer check.Close()
	excl, err := unix.IoctlGetInt(int(check.Fd()), unix.TIOCGEXCL)
	require.NoError(t, err)
	assert.Equal(t, 0, excl)
}

func TestSerialOpenerModes(t *testing.T) {
	d := newPTYScanner(t)
	tests := []struct {
		name    string
		mode    Mode
		wantErr bool
	}{
		{"9600 8N1", Mode{Baud: 9600, DataBits: 8, Parity: "none", StopBits: 1}, false},
		{"115200 7E2", Mode{Baud: 115200, DataBits: 7, Parity: "even", StopBits: 2}, false},
		{"odd parity", Mode{Baud: 9600, DataBits: 8, Parity: "odd", StopBits: 1}, false},
		{"unknown parity", Mode{Baud: 9600, DataBits: 8, Parity: "sometimes", StopBits: 1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := SerialOpener(d.link, tt.mode)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.NoError(t, p.Close())
		})
	}
	_, err := SerialOpener(filepath.Join(t.TempDir(), "missing"), Config{}.WithDefaults().mode())
	require.Error(t, err)
}
