package printertest

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/creack/pty"

	"github.com/posd/posd/internal/printer"
)

// PTY is a fake serial printer behind a creack/pty pair. Device() is a
// symlink to the current slave, as a udev rule would make one; Unplug
// closes the pair (the host's port fails as on a pulled USB cable) and
// Replug makes a new pair and moves the symlink to it.
type PTY struct {
	t    testing.TB
	sim  *printer.Sim
	link string
	jobs chan printer.SimJob
	wg   sync.WaitGroup

	mu     sync.Mutex
	master *os.File
	slave  *os.File
}

// StartPTY plugs a fake serial printer in; it is unplugged when the test ends.
func StartPTY(t testing.TB) *PTY {
	t.Helper()
	p := &PTY{t: t, link: filepath.Join(t.TempDir(), "printer"), jobs: make(chan printer.SimJob, 256)}
	p.sim = printer.NewSim(func(j printer.SimJob) {
		select {
		case p.jobs <- j:
		default:
			t.Errorf("fake pty printer: job channel full")
		}
	})
	p.Replug()
	t.Cleanup(p.Close)
	return p
}

// Device is the serial path to configure.
func (p *PTY) Device() string { return p.link }

// Sim is the simulated printer.
func (p *PTY) Sim() *printer.Sim { return p.sim }

// Jobs delivers every finished (or interrupted) job, in order.
func (p *PTY) Jobs() <-chan printer.SimJob { return p.jobs }

// SetState scripts the printer and sends what it says about the change.
func (p *PTY) SetState(st printer.SimState) {
	out := p.sim.SetState(st)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.master != nil && len(out) > 0 {
		_, _ = p.master.Write(out)
	}
}

// Replug makes a new pty pair and points Device() at it.
func (p *PTY) Replug() {
	m, s, err := pty.Open()
	if err != nil {
		p.t.Fatalf("fake pty printer: %v", err)
	}
	_ = os.Remove(p.link)
	if err := os.Symlink(s.Name(), p.link); err != nil {
		p.t.Fatalf("fake pty printer: %v", err)
	}
	p.mu.Lock()
	p.master, p.slave = m, s
	p.mu.Unlock()
	p.wg.Add(1)
	go p.serve(m)
}

// Unplug closes the pair and removes the symlink.
func (p *PTY) Unplug() {
	p.mu.Lock()
	m, s := p.master, p.slave
	p.master, p.slave = nil, nil
	p.mu.Unlock()
	_ = os.Remove(p.link)
	if m != nil {
		_ = m.Close()
	}
	if s != nil {
		_ = s.Close()
	}
	p.wg.Wait()
}

// Close unplugs and waits for the serving goroutine.
func (p *PTY) Close() { p.Unplug() }

func (p *PTY) serve(m *os.File) {
	defer p.wg.Done()
	defer p.sim.Disconnect()
	buf := make([]byte, 4096)
	for {
		n, err := m.Read(buf)
		if n > 0 {
			_, reply, unplug := p.sim.Write(buf[:n])
			if len(reply) > 0 {
				p.mu.Lock()
				_, _ = m.Write(reply)
				p.mu.Unlock()
			}
			if unplug {
				p.mu.Lock()
				var s *os.File
				if p.master == m {
					s = p.slave
					p.master, p.slave = nil, nil
					_ = os.Remove(p.link)
				}
				p.mu.Unlock()
				_ = m.Close()
				if s != nil {
					_ = s.Close()
				}
				return
			}
		}
		if err != nil {
			return
		}
	}
}
