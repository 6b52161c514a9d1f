package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/register"
)

type sseEvent struct {
	id, event string
	data      register.Event
	comment   string
}

// readEvent reads one SSE block (or one comment line).
func readEvent(t *testing.T, br *bufio.Reader) (sseEvent, error) {
	t.Helper()
	var ev sseEvent
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev.event != "" || ev.comment != "" {
				return ev, nil
			}
		case strings.HasPrefix(line, ":"):
			ev.comment = line
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			require.NoError(t, json.Unmarshal([]byte(line[6:]), &ev.data))
		case strings.HasPrefix(line, "retry: "):
		default:
			t.Fatalf("unexpected SSE line %q", line)
		}
	}
}

func TestEventsStreamEndsAfterFinalState(t *testing.T) {
	spy := newSpy(t)
	p := spy.st.open("k1")
	spy.script(p.ID)
	ts := startServer(t, spy, nil)

	resp := ts.do(t, "GET", "/v1/payments/"+p.ID+"/events", "", nil)
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	assert.Empty(t, resp.Header.Values("Access-Control-Allow-Origin"))
	<-spy.subscribed
	br := bufio.NewReader(resp.Body)

	first, err := readEvent(t, br)
	require.NoError(t, err)
	assert.Equal(t, "1", first.id)
	assert.Equal(t, "state", first.event)
	assert.Equal(t, register.StatePolling, first.data.State)
	assert.Equal(t, p.ID, first.data.Payment.ID)
	assert.InDelta(t, 30, first.data.SecondsLeft, 2)

	paid := p
	paid.State = register.StatePaid
	paid.ERSReference = "ers-1"
	spy.publish(register.Event{Type: "poll", PaymentID: p.ID, State: register.StatePolling, SecondsLeft: 29, Payment: p})
	spy.publish(register.Event{Type: "printer", PaymentID: p.ID, State: register.StatePolling, Message: "paper out", Payment: p})
	spy.publish(register.Event{Type: "state", PaymentID: p.ID, State: register.StatePaid, Payment: paid})

	want := []struct{ id, event string }{{"2", "poll"}, {"3", "printer"}, {"4", "state"}}
	for _, w := range want {
		ev, err := readEvent(t, br)
		require.NoError(t, err)
		assert.Equal(t, w.id, ev.id)
		assert.Equal(t, w.event, ev.event)
	}
	_, err = readEvent(t, br)
	require.ErrorIs(t, err, ioEOF(), "stream must end after the final state")
	assert.Equal(t, p.ID, <-spy.unsubscribed)
}

// TestEventsEndWhenTheCustomerPays: the register's own stream of a real
// payment: state first, then checks, then paid, then the end.
func TestEventsEndWhenTheCustomerPays(t *testing.T) {
	spy := newSpy(t)
	p := spy.st.open("k1")
	ts := startServer(t, spy, nil)
	resp := ts.do(t, "GET", "/v1/payments/"+p.ID+"/events", "", nil)
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, p.ID, <-spy.subscribed)
	br := bufio.NewReader(resp.Body)
	first, err := readEvent(t, br)
	require.NoError(t, err)
	assert.Equal(t, "state", first.event)
	assert.Equal(t, register.StatePolling, first.data.State)

	spy.st.prov.Pay(p.ProviderRef, "tx-42")
	var last sseEvent
	for {
		ev, err := readEvent(t, br)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		assert.Contains(t, []string{"poll", "state"}, ev.event)
		last = ev
	}
	assert.Equal(t, "state", last.event, "the stream ends with the final state")
	assert.Equal(t, register.StatePaid, last.data.State)
	assert.Equal(t, "tx-42", last.data.Payment.TransactionRef)
	assert.Equal(t, p.ID, <-spy.unsubscribed)
}

// TestEventsPrinterAfterPaid: while a paid payment's receipt waits, the
// register keeps the stream open for printer events (issue 5: "paper out"
// on the payment's stream within 2 s); the handler forwards them until the
// register closes the stream. The paid event stays the last state event.
func TestEventsPrinterAfterPaid(t *testing.T) {
	spy := newSpy(t)
	p := spy.st.open("k1")
	spy.script(p.ID)
	spy.receiptWaits(p.ID)
	ts := startServer(t, spy, nil)

	resp := ts.do(t, "GET", "/v1/payments/"+p.ID+"/events", "", nil)
	require.Equal(t, 200, resp.StatusCode)
	<-spy.subscribed
	br := bufio.NewReader(resp.Body)
	first, err := readEvent(t, br)
	require.NoError(t, err)
	assert.Equal(t, register.StatePolling, first.data.State)

	paid := p
	paid.State = register.StatePaid
	paid.ERSReference = "ers-1"
	printer := func(msg string) register.Event {
		return register.Event{Type: "printer", PaymentID: p.ID, State: register.StatePaid, Message: msg, Payment: paid}
	}
	// As the register does: the printer's problem just before the paid event.
	spy.publish(printer("printer out of paper: receipt waits"))
	spy.publish(register.Event{Type: "state", PaymentID: p.ID, State: register.StatePaid, Payment: paid})
	// A duplicate of the final state is not forwarded.
	spy.publish(register.Event{Type: "state", PaymentID: p.ID, State: register.StatePaid, Payment: paid})
	spy.publish(printer("printer ok: printing"))

	want := []struct{ event, msg string }{
		{"printer", "printer out of paper: receipt waits"},
		{"state", ""},
		{"printer", "printer ok: printing"},
	}
	for i, w := range want {
		ev, err := readEvent(t, br)
		require.NoError(t, err, "event %d", i)
		assert.Equal(t, strconv.Itoa(i+2), ev.id)
		assert.Equal(t, w.event, ev.event, "event %d", i)
		assert.Equal(t, w.msg, ev.data.Message, "event %d", i)
		assert.Equal(t, register.StatePaid, ev.data.State)
	}
	spy.endReceipt(printer("printer ok: receipt printed"))
	ev, err := readEvent(t, br)
	require.NoError(t, err)
	assert.Equal(t, "printer", ev.event)
	assert.Equal(t, "printer ok: receipt printed", ev.data.Message)
	_, err = readEvent(t, br)
	require.ErrorIs(t, err, ioEOF(), "stream ends when the register closes it")
	assert.Equal(t, p.ID, <-spy.unsubscribed)
}

// TestEventsPaidReceiptWaitsAtConnect: a client connecting after the paid
// event, while the receipt still waits, gets the paid state once, then the
// printer events until the register ends the stream.
func TestEventsPaidReceiptWaitsAtConnect(t *testing.T) {
	spy := newSpy(t)
	p := spy.st.paid("k1")
	spy.script(p.ID)
	spy.receiptWaits(p.ID)
	ts := startServer(t, spy, nil)

	resp := ts.do(t, "GET", "/v1/payments/"+p.ID+"/events", "", nil)
	require.Equal(t, 200, resp.StatusCode)
	<-spy.subscribed
	br := bufio.NewReader(resp.Body)
	ev, err := readEvent(t, br)
	require.NoError(t, err)
	assert.Equal(t, "state", ev.event)
	assert.Equal(t, register.StatePaid, ev.data.State)

	spy.publish(register.Event{Type: "printer", PaymentID: p.ID, State: register.StatePaid, Message: "printer cover open: receipt waits", Payment: p})
	ev, err = readEvent(t, br)
	require.NoError(t, err)
	assert.Equal(t, "printer", ev.event, "the register's copy of the paid state is not sent twice")
	assert.Equal(t, "2", ev.id)
	assert.Equal(t, "printer cover open: receipt waits", ev.data.Message)

	spy.endReceipt(register.Event{Type: "printer", PaymentID: p.ID, State: register.StatePaid, Message: "receipt not printed: too old", Payment: p})
	ev, err = readEvent(t, br)
	require.NoError(t, err)
	assert.Equal(t, "receipt not printed: too old", ev.data.Message)
	_, err = readEvent(t, br)
	require.ErrorIs(t, err, ioEOF())
}

// TestEventsPrinterWaitEndsOnShutdown: a stream waiting for printer events
// does not hold the server's shutdown.
func TestEventsPrinterWaitEndsOnShutdown(t *testing.T) {
	spy := newSpy(t)
	p := spy.st.paid("k1")
	spy.script(p.ID)
	spy.receiptWaits(p.ID)
	ts := startServer(t, spy, nil)
	resp := ts.do(t, "GET", "/v1/payments/"+p.ID+"/events", "", nil)
	require.Equal(t, 200, resp.StatusCode)
	<-spy.subscribed
	_, err := readEvent(t, bufio.NewReader(resp.Body))
	require.NoError(t, err)
	require.NoError(t, ts.stop(), "shutdown must not wait for the printer")
	assert.Equal(t, p.ID, <-spy.unsubscribed)
}

func TestEventsFinalPaymentEndsAtOnce(t *testing.T) {
	spy := newSpy(t)
	p := spy.st.open("k1")
	_, err := spy.st.reg.Cancel(context.Background(), p.ID)
	require.NoError(t, err)
	ts := startServer(t, spy, nil)
	resp := ts.do(t, "GET", "/v1/payments/"+p.ID+"/events", "", nil)
	br := bufio.NewReader(resp.Body)
	ev, err := readEvent(t, br)
	require.NoError(t, err)
	assert.Equal(t, register.StateCanceled, ev.data.State)
	assert.Zero(t, ev.data.SecondsLeft)
	_, err = readEvent(t, br)
	require.ErrorIs(t, err, ioEOF())
}

func TestEventsStopOnDisconnect(t *testing.T) {
	spy := newSpy(t)
	p := spy.st.open("k1")
	ts := startServer(t, spy, nil)
	ctx, cancel := context.WithCancel(context.Background())
	resp := ts.do(t, "GET", "/v1/payments/"+p.ID+"/events", "", func(r *http.Request) { *r = *r.WithContext(ctx) })
	require.Equal(t, 200, resp.StatusCode)
	<-spy.subscribed
	_, err := readEvent(t, bufio.NewReader(resp.Body))
	require.NoError(t, err)
	cancel()
	// The handler notices the disconnect and unsubscribes.
	assert.Equal(t, p.ID, <-spy.unsubscribed)
}

func TestEventsHeartbeat(t *testing.T) {
	spy := newSpy(t)
	p := spy.st.open("k1")
	spy.script(p.ID) // no check events: only heartbeats follow the state
	ts := startServer(t, spy, func(c *Config) { c.Heartbeat = 10 * time.Millisecond })
	resp := ts.do(t, "GET", "/v1/payments/"+p.ID+"/events", "", nil)
	br := bufio.NewReader(resp.Body)
	ev, err := readEvent(t, br)
	require.NoError(t, err)
	require.Equal(t, "state", ev.event)
	ev, err = readEvent(t, br)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(ev.comment, ": heartbeat"), ev.comment)
}

func TestEventsUnknownPayment(t *testing.T) {
	spy := newSpy(t)
	ts := startServer(t, spy, nil)
	resp := ts.do(t, "GET", "/v1/payments/nope/events", "", nil)
	require.Equal(t, 404, resp.StatusCode)
	assert.Equal(t, ProblemBase+"not-found", readProblem(t, resp).Type)
	assert.Equal(t, "nope", <-spy.unsubscribed)
}

func TestDefaultHeartbeatIs15s(t *testing.T) {
	s, err := New(Config{Token: testToken}, newSpy(t))
	require.NoError(t, err)
	assert.Equal(t, 15*time.Second, s.cfg.Heartbeat)
}

func ioEOF() error { return io.EOF }

// TestEventsSlowClientIsDropped: a client that stops reading must not pin
// the handler (and the register's subscription): every write and flush has
// a deadline (Config.StreamWriteTimeout, 10 s by default), after which the
// handler gives up and unsubscribes.
func TestEventsSlowClientIsDropped(t *testing.T) {
	spy := newSpy(t)
	p := spy.st.open("k1")
	spy.script(p.ID)
	ts := startServer(t, spy, func(c *Config) { c.StreamWriteTimeout = 200 * time.Millisecond })

	// A raw connection with a tiny receive buffer that never reads.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1024)
		})
		return errors.Join(err, serr)
	}}
	conn, err := d.Dial("tcp", ts.srv.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "GET /v1/payments/%s/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n", p.ID, testToken)
	require.NoError(t, err)
	<-spy.subscribed

	// More than any socket buffers hold (tcp_wmem max is 4 MiB): the
	// handler's writes block once they are full.
	big := register.Event{Type: "poll", PaymentID: p.ID, State: register.StatePolling, Payment: p,
		Message: strings.Repeat("x", 1<<20)}
	for range 24 {
		spy.publish(big)
	}
	select {
	case id := <-spy.unsubscribed:
		assert.Equal(t, p.ID, id)
	case <-time.After(5 * time.Second): // a bound on failure, not synchronisation
		t.Fatal("the handler is still writing to a client that does not read")
	}
}

func TestDefaultStreamWriteTimeoutIs10s(t *testing.T) {
	s, err := New(Config{Token: testToken}, newSpy(t))
	require.NoError(t, err)
	assert.Equal(t, 10*time.Second, s.cfg.StreamWriteTimeout)
}
