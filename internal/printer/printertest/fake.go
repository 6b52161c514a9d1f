// Package printertest is a fake ESC/POS printer for tests: a printer.Sim
// served on a loopback TCP port (or a pty), answering DLE EOT n, GS r 1 and
// ASB from a scripted state, able to go silent or be unplugged.
package printertest

import (
	"net"
	"sync"
	"testing"

	"github.com/posd/posd/internal/printer"
)

// Fake is a printer on 127.0.0.1:<port>, one host connection at a time.
type Fake struct {
	sim  *printer.Sim
	ln   net.Listener
	jobs chan printer.SimJob
	wg   sync.WaitGroup

	mu        sync.Mutex
	conn      net.Conn
	unplugged bool
	closed    bool
	accepted  int
}

// Start listens on a loopback port and serves until the test ends.
func Start(t testing.TB) *Fake {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("fake printer listen: %v", err)
	}
	f := &Fake{ln: ln, jobs: make(chan printer.SimJob, 256)}
	f.sim = printer.NewSim(func(j printer.SimJob) {
		select {
		case f.jobs <- j:
		default:
			t.Errorf("fake printer: job channel full")
		}
	})
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(f.Close)
	return f
}

// Device is the printer.device value that reaches this printer.
func (f *Fake) Device() string { return "tcp://" + f.ln.Addr().String() }

// Sim is the simulated printer behind the port.
func (f *Fake) Sim() *printer.Sim { return f.sim }

// Jobs delivers every finished (or interrupted) job, in order.
func (f *Fake) Jobs() <-chan printer.SimJob { return f.jobs }

// Accepted counts the connections accepted so far.
func (f *Fake) Accepted() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.accepted
}

// SetState scripts the printer (paper, cover, silence ...); an ASB, if the
// host enabled it, and the replies of held jobs go out at once.
func (f *Fake) SetState(st printer.SimState) {
	out := f.sim.SetState(st)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conn != nil && len(out) > 0 {
		_, _ = f.conn.Write(out)
	}
}

// Unplug closes the connection and refuses new ones until Replug.
func (f *Fake) Unplug() {
	f.mu.Lock()
	f.unplugged = true
	c := f.conn
	f.conn = nil
	f.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

// UnplugAfter unplugs once n more bytes have arrived (mid-job).
func (f *Fake) UnplugAfter(n int) { f.sim.FailAfter(n) }

// Replug accepts connections again.
func (f *Fake) Replug() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unplugged = false
}

// Close stops the printer and waits for its goroutines.
func (f *Fake) Close() {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.closed = true
	c := f.conn
	f.conn = nil
	f.mu.Unlock()
	_ = f.ln.Close()
	if c != nil {
		_ = c.Close()
	}
	f.wg.Wait()
}

func (f *Fake) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		if f.unplugged || f.closed {
			f.mu.Unlock()
			_ = c.Close()
			continue
		}
		old := f.conn
		f.conn = c
		f.accepted++
		f.mu.Unlock()
		if old != nil {
			_ = old.Close()
		}
		f.wg.Add(1)
		go f.serve(c)
	}
}

func (f *Fake) serve(c net.Conn) {
	defer f.wg.Done()
	defer f.sim.Disconnect()
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			_, reply, unplug := f.sim.Write(buf[:n])
			if len(reply) > 0 {
				f.mu.Lock()
				_, _ = c.Write(reply)
				f.mu.Unlock()
			}
			if unplug {
				f.mu.Lock()
				if f.conn == c {
					f.conn = nil
				}
				f.mu.Unlock()
				_ = c.Close()
				return
			}
		}
		if err != nil {
			_ = c.Close()
			return
		}
	}
}
