package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/register"
)

// connEvents collects the server's ConnState changes, keyed by the
// client's local address (the server side's remote address).
type connEvents struct {
	mu   sync.Mutex
	seen map[string][]http.ConnState
	ch   chan struct{} // a change happened
}

func (e *connEvents) hook(c *trackedConn, st http.ConnState) {
	e.mu.Lock()
	e.seen[c.RemoteAddr().String()] = append(e.seen[c.RemoteAddr().String()], st)
	e.mu.Unlock()
	select {
	case e.ch <- struct{}{}:
	default:
	}
}

// waitFor blocks until conn's server side has reached st.
func (e *connEvents) waitFor(t *testing.T, conn net.Conn, st http.ConnState) {
	t.Helper()
	timeout := time.After(10 * time.Second) // a bound on failure only
	for {
		e.mu.Lock()
		got := e.seen[conn.LocalAddr().String()]
		e.mu.Unlock()
		for _, s := range got {
			if s == st {
				return
			}
		}
		select {
		case <-e.ch:
		case <-timeout:
			t.Fatalf("connection %s never reached %s (saw %v)", conn.LocalAddr(), st, got)
		}
	}
}

func startHooked(t *testing.T, spy *spyRegister, mod func(*Config)) (*Server, *connEvents) {
	t.Helper()
	cfg := Config{Token: testToken, Heartbeat: time.Hour}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := New(cfg, spy)
	require.NoError(t, err)
	ev := &connEvents{seen: map[string][]http.ConnState{}, ch: make(chan struct{}, 1)}
	srv.connHook = ev.hook
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	<-srv.Listening()
	t.Cleanup(func() { cancel(); <-done })
	return srv, ev
}

// idleConn dials, makes one request on a keep-alive connection and returns
// it waiting for the next request (the server side idle).
func idleConn(t *testing.T, srv *Server, ev *connEvents, authed bool) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	req := "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
	if authed {
		req = "GET /v1/status HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + testToken + "\r\n\r\n"
	}
	_, err = io.WriteString(conn, req)
	require.NoError(t, err)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.Equal(t, 200, resp.StatusCode)
	ev.waitFor(t, conn, http.StateIdle)
	return conn, br
}

// closedByServer reports whether the server closed conn (EOF or reset)
// rather than the read timing out.
func closedByServer(t *testing.T, br *bufio.Reader, conn net.Conn) bool {
	t.Helper()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second))) // a bound on failure only
	_, err := br.ReadByte()
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

func get(t *testing.T, srv *Server, path string, authed bool) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+srv.Addr().String()+path, nil)
	require.NoError(t, err)
	if authed {
		req.Header.Set("Authorization", "Bearer "+testToken)
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestConnCapEvictsLongestIdleUnauthenticated: at the cap a new connection
// is served, and the connection closed for it is the one without the token
// that has idled longest; a connection that showed the token survives.
func TestConnCapEvictsLongestIdleUnauthenticated(t *testing.T) {
	srv, ev := startHooked(t, newSpy(t), func(c *Config) { c.MaxConns = 3 })
	authed, authedR := idleConn(t, srv, ev, true) // oldest, but with the token
	old, oldR := idleConn(t, srv, ev, false)
	young, youngR := idleConn(t, srv, ev, false)
	require.Equal(t, 3, srv.conns.count())

	resp := get(t, srv, "/healthz", false)
	require.Equal(t, 200, resp.StatusCode, "a new connection at the cap is served")
	assert.True(t, closedByServer(t, oldR, old), "the longest-idle connection without the token is closed")
	assert.EqualValues(t, 1, srv.conns.evicted.Load())

	// The survivors still answer on their connections.
	for _, c := range []struct {
		conn net.Conn
		br   *bufio.Reader
		req  string
	}{
		{authed, authedR, "GET /v1/status HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + testToken + "\r\n\r\n"},
		{young, youngR, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"},
	} {
		_, err := io.WriteString(c.conn, c.req)
		require.NoError(t, err)
		r, err := http.ReadResponse(c.br, nil)
		require.NoError(t, err, "a surviving connection")
		require.Equal(t, 200, r.StatusCode)
	}
}

// TestConnCapAllBusy: when every connection is inside a handler (here
// event streams), a new one is answered 503 too-busy and closed.
func TestConnCapAllBusy(t *testing.T) {
	spy := newSpy(t)
	pay := spy.st.open("k1")
	spy.script(pay.ID) // no check events: the test is about connections
	srv, _ := startHooked(t, spy, func(c *Config) { c.MaxConns = 2 })
	for range 2 {
		conn, err := net.Dial("tcp", srv.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close() })
		_, err = fmt.Fprintf(conn, "GET /v1/payments/%s/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\n\r\n", pay.ID, testToken)
		require.NoError(t, err)
		<-spy.subscribed // inside the handler
	}
	resp, body := rawRoundTrip(t, srv.Addr().String(), "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	p := requireProblem(t, resp, body)
	assert.Equal(t, ProblemBase+"too-busy", p.Type)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	assert.EqualValues(t, 1, srv.conns.refused.Load())
}

// TestStreamCap: the stream after MaxStreams is refused with a problem; once
// one ends there is room again.
func TestStreamCap(t *testing.T) {
	spy := newSpy(t)
	pay := spy.st.open("k1")
	spy.script(pay.ID) // no check events: the test is about connections
	srv, ev := startHooked(t, spy, func(c *Config) { c.MaxStreams = 2 })
	var open []net.Conn
	for range 2 {
		conn, err := net.Dial("tcp", srv.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close() })
		_, err = fmt.Fprintf(conn, "GET /v1/payments/%s/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\n\r\n", pay.ID, testToken)
		require.NoError(t, err)
		<-spy.subscribed
		open = append(open, conn)
	}
	resp := get(t, srv, "/v1/payments/"+pay.ID+"/events", true)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	p := readProblem(t, resp)
	assert.Equal(t, ProblemBase+"too-many-streams", p.Type)
	assert.Equal(t, "5", resp.Header.Get("Retry-After"))

	require.NoError(t, open[0].Close())
	// Its connection closes after the handler (and the middleware that
	// holds the slot) has returned.
	ev.waitFor(t, open[0], http.StateClosed)
	resp = get(t, srv, "/v1/payments/"+pay.ID+"/events", true)
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
}

// TestUnauthIdleTimeout: net/http's keep-alive wait is cut to
// UnauthIdleTimeout for a connection that has not shown the token.
func TestUnauthIdleTimeout(t *testing.T) {
	t.Run("deadline", func(t *testing.T) {
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		tr := newConnTracker(10, 5*time.Second)
		tr.now = func() time.Time { return now }
		rec := &deadlineConn{}
		c := tr.admit(rec)
		far := now.Add(2 * time.Minute)

		require.NoError(t, c.SetReadDeadline(far)) // reading a request: untouched
		assert.Equal(t, far, rec.read)

		tr.connState(c, http.StateIdle)
		require.NoError(t, c.SetReadDeadline(far)) // the keep-alive wait
		assert.Equal(t, now.Add(5*time.Second), rec.read)
		require.NoError(t, c.SetReadDeadline(time.Time{})) // net/http clears it after the wait
		assert.True(t, rec.read.IsZero())

		c.authed.Store(true)
		tr.connState(c, http.StateIdle)
		require.NoError(t, c.SetReadDeadline(far))
		assert.Equal(t, far, rec.read, "a connection with the token keeps IdleTimeout")
	})
	t.Run("an idle connection without the token is closed", func(t *testing.T) {
		srv, ev := startHooked(t, newSpy(t), func(c *Config) { c.UnauthIdleTimeout = 50 * time.Millisecond })
		conn, br := idleConn(t, srv, ev, false)
		assert.True(t, closedByServer(t, br, conn))
	})
}

type deadlineConn struct {
	net.Conn
	read time.Time
}

func (d *deadlineConn) SetReadDeadline(t time.Time) error { d.read = t; return nil }
func (d *deadlineConn) RemoteAddr() net.Addr              { return &net.TCPAddr{} }

func TestRawProblemIsHTTP(t *testing.T) {
	b := rawProblem(Problem{Type: ProblemBase + "too-busy", Title: "Too many connections", Status: 503, retryAfter: 1})
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(b))), nil)
	require.NoError(t, err)
	require.Equal(t, 503, resp.StatusCode)
	p := readProblem(t, resp)
	assert.Equal(t, "Too many connections", p.Title)
}

// TestNonReadingStreamDropped: a stream client that stops reading, with the
// kernel's default buffers (about 128 KB on loopback before a write would
// block), is dropped by the stall monitor once it holds more than 8 KB
// unread at two scans in a row; one that reads is not. Scans are called
// by the test (StallScan is an hour), so no timing is involved.
func TestNonReadingStreamDropped(t *testing.T) {
	spy := newSpy(t)
	p := spy.st.open("k1")
	spy.script(p.ID)
	srv, ev := startHooked(t, spy, func(c *Config) { c.StallScan = time.Hour })

	// A reader and a non-reader of the same payment.
	rconn, err := net.Dial("tcp", srv.Addr().String())
	require.NoError(t, err)
	defer rconn.Close()
	_, err = fmt.Fprintf(rconn, "GET /v1/payments/%s/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n", p.ID, testToken)
	require.NoError(t, err)
	<-spy.subscribed
	go func() { _, _ = io.Copy(io.Discard, rconn) }()
	conn, err := net.Dial("tcp", srv.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "GET /v1/payments/%s/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n", p.ID, testToken)
	require.NoError(t, err)
	<-spy.subscribed

	// 20 events of about 600 bytes: 12 KB, a tenth of what the kernel
	// would take before a write blocked.
	poll := register.Event{Type: "poll", PaymentID: p.ID, State: register.StatePolling, Payment: p, Message: strings.Repeat("x", 300)}
	for range 20 {
		spy.publish(poll)
		drained(spy, p.ID)
	}
	waitUnread(t, conn, func(q int) bool { return q > 8<<10 })
	waitUnread(t, rconn, func(q int) bool { return q == 0 }) // the reader has read it all

	srv.stalls.scan()
	select {
	case <-spy.unsubscribed:
		t.Fatal("dropped at the first scan: a client busy for a moment would be too")
	default:
	}
	srv.stalls.scan()
	select {
	case <-spy.unsubscribed:
	case <-time.After(10 * time.Second): // a bound on failure only
		t.Fatal("a client that stopped reading still has its stream after two scans")
	}
	select {
	case <-spy.unsubscribed:
		t.Fatal("the reading client's stream was dropped too")
	default:
	}
	ev.waitFor(t, conn, http.StateClosed) // after the middleware gave the slot back
	assert.Equal(t, int32(1), srv.streams.Load(), "the non-reader's slot is free again")
}

// waitUnread waits until conn's own receive queue (what the test has not
// read), as /proc/self/net/tcp shows it, satisfies ok.
func waitUnread(t *testing.T, conn net.Conn, ok func(int) bool) {
	t.Helper()
	local := netip.MustParseAddrPort(conn.LocalAddr().String())
	remote := netip.MustParseAddrPort(conn.RemoteAddr().String())
	key := sockKey{local.Addr().Unmap(), local.Port(), remote.Addr().Unmap(), remote.Port()}
	deadline := time.Now().Add(10 * time.Second) // a bound on failure only
	m := newStallMonitor(nil)
	for {
		want := map[sockKey]int{key: -1}
		require.NoError(t, m.rxQueues(want))
		q := want[key]
		if ok(q) {
			return
		}
		require.True(t, time.Now().Before(deadline), "unread bytes stay at %d", q)
		runtime.Gosched()
	}
}

func TestRxQueues(t *testing.T) {
	table := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
		"   0: 0100007F:1F90 0100007F:D431 01 00000000:00002328 00:00000000 00000000     0        0 1 1 0 20 4 30 10 -1\n" +
		"   1: 0100007F:9989 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0\n" +
		"  sl  local_address                         remote_address                        st tx_queue rx_queue\n" +
		"   0: 00000000000000000000000001000000:D432 00000000000000000000000001000000:1F90 01 00000000:00000400 00:0 0 0\n" +
		"   1: 0000000000000000FFFF00000100007F:D433 0000000000000000FFFF00000100007F:1F90 01 00000010:00000020 00:0 0 0\n" +
		"garbage\n"
	lo := netip.MustParseAddr("127.0.0.1")
	six := netip.MustParseAddr("::1")
	want := map[sockKey]int{
		{lo, 8080, lo, 0xD431}:   -1,
		{six, 0xD432, six, 8080}: -1,
		{lo, 0xD433, lo, 8080}:   -1,
		{lo, 1, lo, 2}:           -1, // not in the table
	}
	require.NoError(t, rxQueues(strings.NewReader(table), want))
	assert.Equal(t, 0x2328, want[sockKey{lo, 8080, lo, 0xD431}])
	assert.Equal(t, 0x400, want[sockKey{six, 0xD432, six, 8080}])
	assert.Equal(t, 0x20, want[sockKey{lo, 0xD433, lo, 8080}], "a v4-mapped address is the v4 one")
	assert.Equal(t, -1, want[sockKey{lo, 1, lo, 2}])
	assert.Len(t, want, 4, "only the wanted sockets")
}

// drained waits until the subscribers of id have taken every event (the
// handler is writing the last one, or has stopped).
func drained(f *spyRegister, id string) {
	for {
		f.mu.Lock()
		n := 0
		for _, s := range f.subs[id] {
			if !s.closed {
				n += len(s.ch)
			}
		}
		f.mu.Unlock()
		if n == 0 {
			return
		}
		runtime.Gosched()
	}
}

// TestReadingStreamNotDropped: a client that reads keeps its stream through
// many more events than a stalled one is allowed.
func TestReadingStreamNotDropped(t *testing.T) {
	spy := newSpy(t)
	p := spy.st.open("k1")
	spy.script(p.ID)
	srv, _ := startHooked(t, spy, nil)
	resp := get(t, srv, "/v1/payments/"+p.ID+"/events", true)
	require.Equal(t, 200, resp.StatusCode)
	<-spy.subscribed
	const n = 400
	got := make(chan int, 1)
	go func() {
		br := bufio.NewReader(resp.Body)
		polls := 0
		for polls < n {
			line, err := br.ReadString('\n')
			if err != nil {
				break
			}
			if line == "event: poll\n" {
				polls++
			}
		}
		got <- polls
	}()
	ev := register.Event{Type: "poll", PaymentID: p.ID, State: register.StatePolling, Payment: p, Message: strings.Repeat("x", 300)}
	for range n {
		spy.publish(ev)
		drained(spy, p.ID)
	}
	assert.Equal(t, n, <-got, "every event reached the reading client")
	select {
	case <-spy.unsubscribed:
		t.Fatal("a reading client's stream was dropped")
	default:
	}
}
