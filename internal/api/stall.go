package api

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

const (
	// maxStreamBacklog is how many bytes an event stream's client may have
	// received and not read. A client that reads has none a moment after
	// an event (events are about 1 KB); one that stopped reading grows by
	// every event.
	maxStreamBacklog = 8 << 10
	// stallStrikes: a stream is dropped when its client's backlog is over
	// maxStreamBacklog at this many scans in a row, so a client that was
	// only busy for a moment is not.
	stallStrikes = 2
	// DefaultStallScan is how often the stall monitor looks at the
	// streams' clients.
	DefaultStallScan = 2 * time.Second
)

// stallMonitor drops event streams whose clients stopped reading. The
// server cannot see that from its own socket: on loopback the client's
// kernel keeps acknowledging, and keeps advertising a window, until its
// receive buffer (about 128 KB, more once compacted) is full, which at one
// poll event a second takes minutes, holding one of MaxStreams slots and
// a register subscription all that while. But the API serves loopback
// only, so the client's own socket is in posd's network namespace, and
// /proc/self/net/tcp{,6} shows its receive queue: the bytes it has not
// read. (This needs no privilege; /proc/self is visible under the unit's
// ProcSubset=pid.) A unix-socket stream needs none of this: its small send
// buffer (streamSendBuffer) is charged until the client reads, so the
// write deadline ends it soon.
type stallMonitor struct {
	log    *zap.Logger
	tables []string // /proc/self/net/tcp and tcp6

	mu      sync.Mutex
	streams map[*trackedConn]int // strikes
}

func newStallMonitor(log *zap.Logger) *stallMonitor {
	return &stallMonitor{log: log, tables: []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"}, streams: map[*trackedConn]int{}}
}

// rxQueues reads the receive queues of the sockets in want from the TCP
// tables. The tables list every socket of the namespace (20 000 lines
// under a connection flood), so they are read line by line and only the
// wanted sockets are kept: memory stays proportional to the streams.
func (m *stallMonitor) rxQueues(want map[sockKey]int) error {
	for _, name := range m.tables {
		f, err := os.Open(name)
		if os.IsNotExist(err) {
			continue // no tcp6 without IPv6
		}
		if err != nil {
			return err
		}
		err = rxQueues(f, want)
		f.Close()
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
	}
	return nil
}

func (m *stallMonitor) add(c *trackedConn) {
	m.mu.Lock()
	m.streams[c] = 0
	m.mu.Unlock()
}

func (m *stallMonitor) remove(c *trackedConn) {
	m.mu.Lock()
	delete(m.streams, c)
	m.mu.Unlock()
}

// run scans every interval until ctx ends; it reads nothing while no TCP
// stream is open.
func (m *stallMonitor) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.scan()
		}
	}
}

// scan looks up every stream's client socket and closes the connection of
// each that has had more than maxStreamBacklog unread bytes stallStrikes
// scans in a row; the handler's next write then fails and it returns,
// freeing its slot and subscription.
func (m *stallMonitor) scan() {
	m.mu.Lock()
	n := len(m.streams)
	m.mu.Unlock()
	if n == 0 {
		return
	}
	// The clients' sockets: their local address is our remote one.
	m.mu.Lock()
	keys := make(map[*trackedConn]sockKey, len(m.streams))
	want := make(map[sockKey]int, len(m.streams))
	for c := range m.streams {
		local, err1 := netip.ParseAddrPort(c.RemoteAddr().String())
		remote, err2 := netip.ParseAddrPort(c.LocalAddr().String())
		if err1 != nil || err2 != nil {
			continue // not TCP
		}
		k := sockKey{local.Addr().Unmap(), local.Port(), remote.Addr().Unmap(), remote.Port()}
		keys[c], want[k] = k, 0
	}
	m.mu.Unlock()
	if len(want) == 0 {
		return
	}
	if err := m.rxQueues(want); err != nil {
		m.log.Warn("event streams: cannot read the TCP table to find clients that stopped reading", zap.Error(err))
		return
	}
	var drop []*trackedConn
	m.mu.Lock()
	for c, k := range keys {
		strikes, ok := m.streams[c]
		if !ok {
			continue // ended meanwhile
		}
		q := want[k]
		if q <= maxStreamBacklog {
			m.streams[c] = 0
			continue
		}
		if strikes+1 < stallStrikes {
			m.streams[c] = strikes + 1
			continue
		}
		delete(m.streams, c)
		drop = append(drop, c)
		m.log.Info("event stream dropped: the client stopped reading", zap.String("client", c.RemoteAddr().String()), zap.Int("unreadBytes", q))
	}
	m.mu.Unlock()
	for _, c := range drop {
		_ = c.Conn.Close()
	}
}

type sockKey struct {
	localAddr  netip.Addr
	localPort  uint16
	remoteAddr netip.Addr
	remotePort uint16
}

// rxQueues parses /proc/net/tcp{,6} lines ("sl local rem st tx:rx ...")
// and sets the receive queue of each socket that is a key of want; lines
// it cannot parse are skipped.
func rxQueues(r io.Reader, want map[sockKey]int) error {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 || !strings.HasSuffix(f[0], ":") {
			continue
		}
		la, lp, ok1 := parseProcAddr(f[1])
		ra, rp, ok2 := parseProcAddr(f[2])
		_, rx, ok3 := strings.Cut(f[4], ":")
		if !ok1 || !ok2 || !ok3 {
			continue
		}
		k := sockKey{la, lp, ra, rp}
		if _, ok := want[k]; !ok {
			continue
		}
		if q, err := strconv.ParseUint(rx, 16, 32); err == nil {
			want[k] = int(q)
		}
	}
	return sc.Err()
}

// parseProcAddr parses "0100007F:1F90": the address as the kernel's 32-bit
// words in host order, hex (little-endian: the x86 and ARM tills posd
// runs on); the port in hex.
func parseProcAddr(s string) (netip.Addr, uint16, bool) {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.Addr{}, 0, false
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.Addr{}, 0, false
	}
	raw, err := hex.DecodeString(a)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.Addr{}, 0, false
	}
	for i := 0; i < len(raw); i += 4 { // each word little-endian
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	addr, _ := netip.AddrFromSlice(raw)
	return addr.Unmap(), uint16(port), true
}

var _ net.Conn = (*trackedConn)(nil)
