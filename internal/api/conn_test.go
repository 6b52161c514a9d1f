package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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

func startHooked(t *testing.T, fake *fakeRegister, mod func(*Config)) (*Server, *connEvents) {
	t.Helper()
	cfg := Config{Token: testToken, Heartbeat: time.Hour}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := New(cfg, fake)
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
	srv, ev := startHooked(t, newFake(), func(c *Config) { c.MaxConns = 3 })
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
	fake := newFake()
	fake.put(pollingPayment("p1"))
	srv, _ := startHooked(t, fake, func(c *Config) { c.MaxConns = 2 })
	for range 2 {
		conn, err := net.Dial("tcp", srv.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close() })
		_, err = fmt.Fprintf(conn, "GET /v1/payments/p1/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\n\r\n", testToken)
		require.NoError(t, err)
		<-fake.subscribed // inside the handler
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
	fake := newFake()
	fake.put(pollingPayment("p1"))
	srv, ev := startHooked(t, fake, func(c *Config) { c.MaxStreams = 2 })
	var open []net.Conn
	for range 2 {
		conn, err := net.Dial("tcp", srv.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close() })
		_, err = fmt.Fprintf(conn, "GET /v1/payments/p1/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\n\r\n", testToken)
		require.NoError(t, err)
		<-fake.subscribed
		open = append(open, conn)
	}
	resp := get(t, srv, "/v1/payments/p1/events", true)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	p := readProblem(t, resp)
	assert.Equal(t, ProblemBase+"too-many-streams", p.Type)
	assert.Equal(t, "5", resp.Header.Get("Retry-After"))

	require.NoError(t, open[0].Close())
	// Its connection closes after the handler (and the middleware that
	// holds the slot) has returned.
	ev.waitFor(t, open[0], http.StateClosed)
	resp = get(t, srv, "/v1/payments/p1/events", true)
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
}

// TestUnauthIdleTimeout: net/http's keep-alive wait is cut to
// UnauthIdleTimeout for a connection that has not shown the token.
func TestUnauthIdleTimeout(t *testing.T) {
	t.Run("deadline", func(t *testing.T) {
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		tr := newConnTracker(10, 5*time.Second, nil)
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
		srv, ev := startHooked(t, newFake(), func(c *Config) { c.UnauthIdleTimeout = 50 * time.Millisecond })
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

// TestNonReadingStreamDroppedEarly: a stream client that stops reading, with
// the kernel's default buffers (about 120 KB on loopback before a write
// blocks), is dropped after tens of kilobytes of small events, not after
// its whole receive buffer filled. Counting bytes, not time, keeps this
// independent of the machine's speed.
func TestNonReadingStreamDroppedEarly(t *testing.T) {
	fake := newFake()
	p := pollingPayment("p1")
	fake.put(p)
	srv, _ := startHooked(t, fake, nil)
	conn, err := net.Dial("tcp", srv.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "GET /v1/payments/p1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n", testToken)
	require.NoError(t, err)
	<-fake.subscribed

	// About 600 bytes on the wire each, like a poll event.
	ev := register.Event{Type: "poll", PaymentID: "p1", State: register.StatePolling, Payment: p, Message: strings.Repeat("x", 300)}
	sent := 0
	for sent < 400 {
		select {
		case id := <-fake.unsubscribed:
			assert.Equal(t, "p1", id)
			t.Logf("dropped after %d events", sent)
			assert.Less(t, sent, 120, "dropped only after the kernel's receive buffer filled (about 200 such events)")
			return
		default:
		}
		fake.publish(ev)
		sent++
		drained(fake, "p1") // the handler has taken it (and written it, or failed)
	}
	t.Fatalf("a client that never reads still streams after %d events", sent)
}

// drained waits until the subscribers of id have taken every event (the
// handler is writing the last one, or has stopped).
func drained(f *fakeRegister, id string) {
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
	fake := newFake()
	p := pollingPayment("p1")
	fake.put(p)
	srv, _ := startHooked(t, fake, nil)
	resp := get(t, srv, "/v1/payments/p1/events", true)
	require.Equal(t, 200, resp.StatusCode)
	<-fake.subscribed
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
	ev := register.Event{Type: "poll", PaymentID: "p1", State: register.StatePolling, Payment: p, Message: strings.Repeat("x", 300)}
	for range n {
		fake.publish(ev)
		drained(fake, "p1")
	}
	assert.Equal(t, n, <-got, "every event reached the reading client")
	select {
	case <-fake.unsubscribed:
		t.Fatal("a reading client's stream was dropped")
	default:
	}
}
