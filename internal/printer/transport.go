package printer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.bug.st/serial"

	"github.com/posd/posd/internal/printer/escposdecode"
)

// Link is an open connection to a printer.
type Link struct {
	Conn     io.ReadWriteCloser
	Readable bool   // status replies can be read back (false for a write-only device file)
	Kind     string // "serial", "file", "tcp", "virtual"
}

// Opener opens the printer; the worker calls it again after every failure.
type Opener func(ctx context.Context) (Link, error)

// TransportConfig tunes the transports.
type TransportConfig struct {
	Baud         int           // serial; 0 means 9600
	DialTimeout  time.Duration // tcp; 0 means 3 s
	WriteTimeout time.Duration // tcp and pollable device files (usblp); 0 means 10 s
	Columns      int           // virtual: width of the text copy
	// SerialOpen is the seam over go.bug.st/serial (tests put a pty or a
	// pipe behind it); nil means OpenSerial.
	SerialOpen func(path string, baud int) (io.ReadWriteCloser, error)
}

// OpenSerial opens a serial printer with go.bug.st/serial, 8N1, exclusively.
// No read timeout is set: a blocked Read ends when the port is closed.
func OpenSerial(path string, baud int) (io.ReadWriteCloser, error) {
	if baud <= 0 {
		baud = 9600
	}
	p, err := serial.Open(path, &serial.Mode{BaudRate: baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		return nil, fmt.Errorf("open serial %s: %w", path, err)
	}
	return p, nil
}

// NewOpener returns the Opener for a printer.device value:
//
//	tcp://host:9100      raw TCP (JetDirect), readable
//	virtual:<dir>        the virtual printer below, readable
//	/dev/usb/lp0, /dev/lp0, file:<path>   a device file, write-only (no status)
//	anything else        a serial port (go.bug.st/serial), readable
//
// For "virtual:" it also returns the *Virtual so callers can script it.
func NewOpener(device string, cfg TransportConfig) (Opener, *Virtual, error) {
	switch {
	case device == "":
		return nil, nil, errors.New("printer device: empty")
	case strings.HasPrefix(device, "tcp://"):
		addr := strings.TrimPrefix(device, "tcp://")
		if _, _, err := net.SplitHostPort(addr); err != nil {
			addr = net.JoinHostPort(addr, "9100")
		}
		return TCPOpener(addr, cfg.DialTimeout, cfg.WriteTimeout), nil, nil
	case strings.HasPrefix(device, "virtual:"):
		v, err := NewVirtual(strings.TrimPrefix(device, "virtual:"), cfg.Columns)
		if err != nil {
			return nil, nil, err
		}
		return v.Open, v, nil
	case strings.HasPrefix(device, "file:"), strings.HasPrefix(device, "/dev/usb/lp"), strings.HasPrefix(device, "/dev/lp"):
		path := strings.TrimPrefix(device, "file:")
		timeout := cfg.WriteTimeout
		if timeout <= 0 {
			timeout = 10 * time.Second
		}
		return func(ctx context.Context) (Link, error) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return Link{}, fmt.Errorf("open printer file %s: %w", path, err)
			}
			return Link{Conn: writeOnly{f, timeout}, Kind: "file"}, nil
		}, nil, nil
	}
	open := cfg.SerialOpen
	if open == nil {
		open = OpenSerial
	}
	return func(ctx context.Context) (Link, error) {
		c, err := open(device, cfg.Baud)
		if err != nil {
			return Link{}, err
		}
		return Link{Conn: c, Readable: true, Kind: "serial"}, nil
	}, nil, nil
}

// writeOnly makes Read on a device file fail at once instead of consuming
// data meant for nobody, and bounds each write where the file can be
// polled (usblp is; a regular file is not and never blocks anyway), so a
// printer that stops taking data shows up as an error instead of a hang.
type writeOnly struct {
	f       *os.File
	timeout time.Duration
}

func (w writeOnly) Read([]byte) (int, error) { return 0, errors.New("printer file is write-only") }
func (w writeOnly) Write(p []byte) (int, error) {
	if err := w.f.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil && !errors.Is(err, os.ErrNoDeadline) {
		return 0, err
	}
	return w.f.Write(p)
}
func (w writeOnly) Close() error { return w.f.Close() }

// TCPOpener dials a raw TCP printer (port 9100).
func TCPOpener(addr string, dialTimeout, writeTimeout time.Duration) Opener {
	if dialTimeout <= 0 {
		dialTimeout = 3 * time.Second
	}
	if writeTimeout <= 0 {
		writeTimeout = 10 * time.Second
	}
	return func(ctx context.Context) (Link, error) {
		d := net.Dialer{Timeout: dialTimeout}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return Link{}, fmt.Errorf("dial printer %s: %w", addr, err)
		}
		return Link{Conn: tcpConn{c, writeTimeout}, Readable: true, Kind: "tcp"}, nil
	}
}

// tcpConn bounds each write, so a printer that stops reading (its buffer
// full, its cable pulled) shows up as an error instead of a hang.
type tcpConn struct {
	net.Conn
	timeout time.Duration
}

func (c tcpConn) Write(p []byte) (int, error) {
	if err := c.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// Virtual is an in-process printer for `posd demo` and tests: it answers
// status like a real one (its state scripted through Sim), and writes each
// finished job's bytes to <dir>/job-<n>.bin and a rendered text copy to
// <dir>/job-<n>.txt. It can be unplugged and plugged back in.
type Virtual struct {
	dir     string
	columns int
	sim     *Sim

	mu        sync.Mutex
	n         int
	conn      *virtualConn
	unplugged bool
	writeErr  error
}

// NewVirtual prepares dir (creating it) and continues numbering after the
// job files already there. It starts nothing.
func NewVirtual(dir string, columns int) (*Virtual, error) {
	if dir == "" {
		return nil, errors.New("virtual printer: empty directory")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("virtual printer %s: %w", dir, err)
	}
	if columns <= 0 {
		columns = 48
	}
	v := &Virtual{dir: dir, columns: columns}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "job-") && strings.HasSuffix(name, ".bin") {
			if k, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(name, "job-"), ".bin")); err == nil && k > v.n {
				v.n = k
			}
		}
	}
	v.sim = NewSim(v.save)
	return v, nil
}

// Sim returns the simulated printer, to script paper, cover and silence.
func (v *Virtual) Sim() *Sim { return v.sim }

// SetState changes the simulated state and delivers what the printer says
// about it to the open connection.
func (v *Virtual) SetState(st SimState) {
	out := v.sim.SetState(st)
	v.mu.Lock()
	c := v.conn
	v.mu.Unlock()
	if c != nil && len(out) > 0 {
		c.push(out)
	}
}

// Unplug drops the connection; Open fails until Replug.
func (v *Virtual) Unplug() {
	v.mu.Lock()
	c := v.conn
	v.unplugged = true
	v.conn = nil
	v.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// Replug lets Open succeed again.
func (v *Virtual) Replug() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.unplugged = false
}

// Dir is the directory jobs are written to.
func (v *Virtual) Dir() string { return v.dir }

// Open connects to the virtual printer (an Opener).
func (v *Virtual) Open(ctx context.Context) (Link, error) {
	v.mu.Lock()
	if v.unplugged {
		v.mu.Unlock()
		return Link{}, fmt.Errorf("virtual printer %s: unplugged", v.dir)
	}
	old := v.conn
	c := &virtualConn{v: v}
	c.cond = sync.NewCond(&c.mu)
	v.conn = c
	v.mu.Unlock()
	if old != nil {
		old.shut() // one host at a time, as on a real port
	}
	return Link{Conn: c, Readable: true, Kind: "virtual"}, nil
}

// LastError is the last error writing a job file, nil if none.
func (v *Virtual) LastError() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.writeErr
}

func (v *Virtual) save(j SimJob) {
	v.mu.Lock()
	v.n++
	n := v.n
	v.mu.Unlock()
	base := filepath.Join(v.dir, fmt.Sprintf("job-%d", n))
	cmds, _ := escposdecode.Decode(j.Bytes)
	text := escposdecode.Render(cmds).Text(v.columns)
	if j.Interrupted {
		text += "(interrupted: the connection dropped before the job ended)\n"
	}
	err := os.WriteFile(base+".bin", j.Bytes, 0o644)
	if err == nil {
		err = os.WriteFile(base+".txt", []byte(text), 0o644)
	}
	if err != nil {
		v.mu.Lock()
		v.writeErr = fmt.Errorf("virtual printer job %d: %w", n, err)
		v.mu.Unlock()
	}
}

// virtualConn is one connection to a Virtual printer.
type virtualConn struct {
	v      *Virtual
	mu     sync.Mutex
	cond   *sync.Cond
	rbuf   []byte
	closed bool
}

var errVirtualClosed = errors.New("virtual printer: connection closed")

func (c *virtualConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.rbuf) == 0 && !c.closed {
		c.cond.Wait()
	}
	if len(c.rbuf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.rbuf)
	c.rbuf = c.rbuf[n:]
	return n, nil
}

func (c *virtualConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return 0, errVirtualClosed
	}
	n, reply, unplug := c.v.sim.Write(p)
	if len(reply) > 0 {
		c.push(reply)
	}
	if unplug {
		c.v.Unplug()
		return n, errVirtualClosed
	}
	return n, nil
}

func (c *virtualConn) push(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.rbuf = append(c.rbuf, b...)
	c.cond.Broadcast()
}

// Close drops the connection (the job in progress is recorded as interrupted).
func (c *virtualConn) Close() error {
	c.v.mu.Lock()
	if c.v.conn == c {
		c.v.conn = nil
	}
	c.v.mu.Unlock()
	c.shut()
	return nil
}

// shut closes the connection; it must be called without v.mu held, since
// recording the interrupted job takes it.
func (c *virtualConn) shut() {
	c.mu.Lock()
	was := c.closed
	c.closed = true
	c.cond.Broadcast()
	c.mu.Unlock()
	if !was {
		c.v.sim.Disconnect()
	}
}
