package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Connection limits. A till has one front end and a cashier page: a few
// hundred connections is far more than they need, while every connection
// net/http holds costs a goroutine and two 4 KiB buffers (13 000 idle
// keep-alive connections took posd to about 300 MB, past the unit's
// MemoryMax).
const (
	DefaultMaxConns          = 256
	DefaultMaxStreams        = 64
	DefaultUnauthIdleTimeout = 5 * time.Second
	// streamSendBuffer is SO_SNDBUF of a connection carrying an event
	// stream. Events are about 1 KB; a large kernel buffer would only let
	// a client that stopped reading hide behind it longer before a write
	// blocks and the per-write deadline can drop it (over TCP the client's
	// receive buffer still takes about 128 KB: see stallMonitor).
	streamSendBuffer = 4 << 10
	// maxRefusing bounds the goroutines answering connections over the cap
	// with a 503; past it such connections are closed without an answer.
	maxRefusing = 32
)

// connTracker caps the connections the HTTP server holds. At the cap a new
// connection takes the place of the connection that has waited longest
// between requests, preferring one that never showed the token: an idle
// keep-alive connection costs memory but does nothing, and closing it only
// makes its client dial again. Connections inside a handler (an event
// stream, a scan, a payment being created) are never closed for another;
// when every connection is busy the new one is answered 503 and closed.
type connTracker struct {
	max        int
	unauthIdle time.Duration
	now        func() time.Time
	// hook, when set (tests), is called after each ConnState change.
	hook func(*trackedConn, http.ConnState)

	mu    sync.Mutex
	conns map[*trackedConn]struct{}

	refusing atomic.Int32
	evicted  atomic.Int64
	refused  atomic.Int64
}

func newConnTracker(max int, unauthIdle time.Duration) *connTracker {
	return &connTracker{max: max, unauthIdle: unauthIdle, now: time.Now, conns: map[*trackedConn]struct{}{}}
}

// trackedConn is the net.Conn net/http sees. Besides its bookkeeping it
// rewrites the plain-text answers net/http writes before any handler runs
// (see Write).
type trackedConn struct {
	net.Conn
	t *connTracker

	authed    atomic.Bool
	handlers  atomic.Int32 // requests of this connection inside the handler
	idleSince atomic.Int64 // UnixNano since it waits for a request; 0 while a request is read or served
	idleWait  atomic.Bool  // the next SetReadDeadline is net/http's keep-alive wait
}

type connKey struct{}

// connFrom is the request's trackedConn (nil when the server was not given
// a tracked listener, e.g. in a test that serves a handler directly).
func connFrom(ctx context.Context) *trackedConn {
	c, _ := ctx.Value(connKey{}).(*trackedConn)
	return c
}

// listener wraps ln so that every accepted connection is tracked.
func (t *connTracker) listener(ln net.Listener) net.Listener {
	return &trackedListener{Listener: ln, t: t}
}

type trackedListener struct {
	net.Listener
	t *connTracker
}

func (l *trackedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if tc := l.t.admit(c); tc != nil {
			return tc, nil
		}
		l.t.refuse(c)
	}
}

// admit tracks c, closing an idle connection to make room at the cap. It
// returns nil when every tracked connection is busy.
func (t *connTracker) admit(c net.Conn) *trackedConn {
	tc := &trackedConn{Conn: c, t: t}
	tc.idleSince.Store(t.now().UnixNano())
	t.mu.Lock()
	var victim *trackedConn
	if len(t.conns) >= t.max {
		victim = t.victimLocked()
		if victim == nil {
			t.mu.Unlock()
			return nil
		}
		delete(t.conns, victim)
	}
	t.conns[tc] = struct{}{}
	t.mu.Unlock()
	if victim != nil {
		t.evicted.Add(1)
		_ = victim.Conn.Close() // its serving goroutine sees the error and ends
	}
	return tc
}

// victimLocked picks the connection to close: not inside a handler and
// waiting for a request, unauthenticated before authenticated, the longest
// waiting first.
func (t *connTracker) victimLocked() *trackedConn {
	var best *trackedConn
	var bestAuthed bool
	var bestSince int64
	for c := range t.conns {
		since := c.idleSince.Load()
		if since == 0 || c.handlers.Load() > 0 {
			continue
		}
		authed := c.authed.Load()
		if best == nil || (bestAuthed && !authed) || (authed == bestAuthed && since < bestSince) {
			best, bestAuthed, bestSince = c, authed, since
		}
	}
	return best
}

func (t *connTracker) remove(c *trackedConn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
}

// count is the number of tracked connections.
func (t *connTracker) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}

// connState is the http.Server's ConnState hook.
func (t *connTracker) connState(c net.Conn, state http.ConnState) {
	tc, ok := c.(*trackedConn)
	if !ok {
		return
	}
	switch state {
	case http.StateActive:
		tc.idleSince.Store(0)
	case http.StateIdle:
		tc.idleSince.Store(t.now().UnixNano())
		tc.idleWait.Store(true)
	case http.StateHijacked, http.StateClosed:
		t.remove(tc)
	}
	if t.hook != nil {
		t.hook(tc, state)
	}
}

// refuse answers a connection over the cap with a 503 problem and closes
// it. The request is read first (briefly), because closing a socket with
// unread data resets it and the client would never see the answer.
func (t *connTracker) refuse(c net.Conn) {
	t.refused.Add(1)
	if t.refusing.Add(1) > maxRefusing {
		t.refusing.Add(-1)
		_ = c.Close()
		return
	}
	go func() {
		defer t.refusing.Add(-1)
		defer c.Close()
		_ = c.SetDeadline(t.now().Add(time.Second))
		buf := make([]byte, 4<<10)
		var got []byte
		for !bytes.Contains(got, []byte("\r\n\r\n")) && len(got) < 16<<10 {
			n, err := c.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
		}
		pr := Problem{Type: ProblemBase + "too-busy", Title: "Too many connections", Status: http.StatusServiceUnavailable,
			Detail: "posd holds " + strconv.Itoa(t.max) + " connections and all are busy; try again"}
		pr.retryAfter = 1
		_, _ = c.Write(rawProblem(pr))
	}()
}

// SetReadDeadline shortens net/http's keep-alive wait (IdleTimeout) to
// unauthIdle for a connection that has not shown the token: nobody should
// be able to hold posd's memory with idle connections without the token.
// net/http sets this deadline right after the ConnState hook reported
// StateIdle, which is what idleWait marks.
func (c *trackedConn) SetReadDeadline(d time.Time) error {
	if c.idleWait.Swap(false) && !c.authed.Load() && c.t.unauthIdle > 0 {
		if lim := c.t.now().Add(c.t.unauthIdle); d.IsZero() || d.After(lim) {
			d = lim
		}
	}
	return c.Conn.SetReadDeadline(d)
}

// setSendBuffer makes the kernel's send buffer small (see streamSendBuffer).
func (c *trackedConn) setSendBuffer(n int) error {
	sb, ok := c.Conn.(interface{ SetWriteBuffer(int) error })
	if !ok {
		return fmt.Errorf("set send buffer: %T has none", c.Conn)
	}
	return sb.SetWriteBuffer(n)
}

// goErrorHeaders is how net/http ends the header of the plain-text answers
// it writes itself, before any handler, to a request it could not parse
// (malformed Host, bad %-escape in the URL, invalid header, header over
// MaxHeaderBytes, unknown transfer coding): status line, these two header
// fields, then the text. An answer from posd's handlers never has this
// shape (the middleware's Cache-Control comes first, and net/http adds
// Date), so matching it cannot catch one of them.
const goErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// Write passes everything through except net/http's own plain-text error
// answers, which become problem documents like every other answer.
func (c *trackedConn) Write(b []byte) (int, error) {
	if p, ok := problemForGoError(b); ok {
		if _, err := c.Conn.Write(rawProblem(p)); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// problemForGoError recognises one of net/http's pre-handler error answers
// (all written with one Write) and gives the problem to answer instead.
func problemForGoError(b []byte) (Problem, bool) {
	const proto = "HTTP/1.1 "
	if !bytes.HasPrefix(b, []byte(proto)) || len(b) < len(proto)+3 {
		return Problem{}, false
	}
	line, rest, ok := bytes.Cut(b, []byte("\r\n"))
	if !ok || !bytes.HasPrefix(rest, []byte(goErrorHeaders[2:])) {
		return Problem{}, false
	}
	code, err := strconv.Atoi(string(line[len(proto) : len(proto)+3]))
	if err != nil || code < 400 || code > 599 {
		return Problem{}, false
	}
	// "400 Bad Request: malformed Host header": net/http's reason, when it
	// gives one, is safe to repeat (it never echoes the request).
	reason := ""
	if _, r, ok := bytes.Cut(line, []byte(": ")); ok {
		reason = string(r)
	}
	switch code {
	case http.StatusRequestHeaderFieldsTooLarge:
		return Problem{Type: ProblemBase + "header-too-large", Title: "Request header too large", Status: code,
			Detail: "the request header is larger than " + strconv.Itoa(maxHeaderBytes>>10) + " KiB"}, true
	case http.StatusNotImplemented:
		return Problem{Type: ProblemBase + "invalid-request", Title: "Unsupported transfer encoding", Status: code,
			Detail: "the request's Transfer-Encoding is not supported (only chunked)"}, true
	}
	if reason == "" {
		reason = "malformed HTTP request: request line, URL (a bad %-escape?) or header"
	}
	return Problem{Type: ProblemBase + "invalid-request", Title: "Invalid request", Status: code, Detail: reason}, true
}

// rawProblem is a whole HTTP/1.1 answer carrying pr that closes the
// connection, for the places where no http.ResponseWriter exists.
func rawProblem(pr Problem) []byte {
	body, _ := json.Marshal(pr)
	body = append(body, '\n')
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", pr.Status, http.StatusText(pr.Status))
	b.WriteString("Cache-Control: no-store\r\nConnection: close\r\nContent-Type: application/problem+json\r\n")
	fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	if pr.retryAfter > 0 {
		fmt.Fprintf(&b, "Retry-After: %d\r\n", pr.retryAfter)
	}
	b.WriteString("X-Content-Type-Options: nosniff\r\n\r\n")
	b.Write(body)
	return b.Bytes()
}
