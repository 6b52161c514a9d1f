package api

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/register"
)

func pollingPayment(id string) register.Payment {
	ends := time.Now().Add(30 * time.Second)
	return register.Payment{ID: id, Method: "seqr", State: register.StatePolling, Amount: money.MustParse("20.00"),
		Currency: "SEK", ReceiptTotal: money.MustParse("20.00"), Window: 1, WindowEndsAt: &ends}
}

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
	fake := newFake()
	p := pollingPayment("p1")
	fake.put(p)
	ts := startServer(t, fake, nil)

	resp := ts.do(t, "GET", "/v1/payments/p1/events", "", nil)
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	assert.Empty(t, resp.Header.Values("Access-Control-Allow-Origin"))
	<-fake.subscribed
	br := bufio.NewReader(resp.Body)

	first, err := readEvent(t, br)
	require.NoError(t, err)
	assert.Equal(t, "1", first.id)
	assert.Equal(t, "state", first.event)
	assert.Equal(t, register.StatePolling, first.data.State)
	assert.Equal(t, "p1", first.data.Payment.ID)
	assert.InDelta(t, 30, first.data.SecondsLeft, 2)

	paid := p
	paid.State = register.StatePaid
	paid.ERSReference = "ers-1"
	fake.publish(register.Event{Type: "poll", PaymentID: "p1", State: register.StatePolling, SecondsLeft: 29, Payment: p})
	fake.publish(register.Event{Type: "printer", PaymentID: "p1", State: register.StatePolling, Message: "paper out", Payment: p})
	fake.publish(register.Event{Type: "state", PaymentID: "p1", State: register.StatePaid, Payment: paid})

	want := []struct{ id, event string }{{"2", "poll"}, {"3", "printer"}, {"4", "state"}}
	for _, w := range want {
		ev, err := readEvent(t, br)
		require.NoError(t, err)
		assert.Equal(t, w.id, ev.id)
		assert.Equal(t, w.event, ev.event)
	}
	_, err = readEvent(t, br)
	require.ErrorIs(t, err, ioEOF(), "stream must end after the final state")
	assert.Equal(t, "p1", <-fake.unsubscribed)
}

func TestEventsFinalPaymentEndsAtOnce(t *testing.T) {
	fake := newFake()
	p := pollingPayment("p1")
	p.State = register.StateCanceled
	fake.put(p)
	ts := startServer(t, fake, nil)
	resp := ts.do(t, "GET", "/v1/payments/p1/events", "", nil)
	br := bufio.NewReader(resp.Body)
	ev, err := readEvent(t, br)
	require.NoError(t, err)
	assert.Equal(t, register.StateCanceled, ev.data.State)
	assert.Zero(t, ev.data.SecondsLeft)
	_, err = readEvent(t, br)
	require.ErrorIs(t, err, ioEOF())
}

func TestEventsStopOnDisconnect(t *testing.T) {
	fake := newFake()
	fake.put(pollingPayment("p1"))
	ts := startServer(t, fake, nil)
	ctx, cancel := context.WithCancel(context.Background())
	resp := ts.do(t, "GET", "/v1/payments/p1/events", "", func(r *http.Request) { *r = *r.WithContext(ctx) })
	require.Equal(t, 200, resp.StatusCode)
	<-fake.subscribed
	_, err := readEvent(t, bufio.NewReader(resp.Body))
	require.NoError(t, err)
	cancel()
	// The handler notices the disconnect and unsubscribes.
	assert.Equal(t, "p1", <-fake.unsubscribed)
}

func TestEventsHeartbeat(t *testing.T) {
	fake := newFake()
	fake.put(pollingPayment("p1"))
	ts := startServer(t, fake, func(c *Config) { c.Heartbeat = 10 * time.Millisecond })
	resp := ts.do(t, "GET", "/v1/payments/p1/events", "", nil)
	br := bufio.NewReader(resp.Body)
	ev, err := readEvent(t, br)
	require.NoError(t, err)
	require.Equal(t, "state", ev.event)
	ev, err = readEvent(t, br)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(ev.comment, ": heartbeat"), ev.comment)
}

func TestEventsUnknownPayment(t *testing.T) {
	fake := newFake()
	ts := startServer(t, fake, nil)
	resp := ts.do(t, "GET", "/v1/payments/nope/events", "", nil)
	require.Equal(t, 404, resp.StatusCode)
	assert.Equal(t, ProblemBase+"not-found", readProblem(t, resp).Type)
	assert.Equal(t, "nope", <-fake.unsubscribed)
}

func TestDefaultHeartbeatIs15s(t *testing.T) {
	s, err := New(Config{Token: testToken}, newFake())
	require.NoError(t, err)
	assert.Equal(t, 15*time.Second, s.cfg.Heartbeat)
}

func ioEOF() error { return io.EOF }
