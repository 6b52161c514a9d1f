package apiclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/register"
)

// serve starts a loopback server for h and a client of it.
func serve(t *testing.T, cfg Config, h http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cfg.Listen = strings.TrimPrefix(srv.URL, "http://")
	if cfg.Token == "" {
		cfg.Token = "tok"
	}
	return New(cfg)
}

func TestCreatePaymentSendsTokenKeyAndJSON(t *testing.T) {
	var got *http.Request
	var body map[string]any
	c := serve(t, Config{Token: "s3cret"}, func(w http.ResponseWriter, r *http.Request) {
		got = r
		require.NoError(t, json.NewDecoder(r.Body).Decode(&body))
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, `{"id":"p1","state":"created","amount":"25.00","currency":"SEK"}`)
	})
	p, err := c.CreatePayment(context.Background(), "key-1", register.PaymentRequest{SaleID: "s1", Amount: money.MustParse("25.00"), Currency: "SEK"})
	require.NoError(t, err)
	assert.Equal(t, "p1", p.ID)
	assert.Equal(t, register.StateCreated, p.State)
	assert.Equal(t, money.MustParse("25.00"), p.Amount)

	assert.Equal(t, "POST", got.Method)
	assert.Equal(t, "/v1/payments", got.URL.Path)
	assert.Equal(t, "Bearer s3cret", got.Header.Get("Authorization"))
	assert.Equal(t, "key-1", got.Header.Get("Idempotency-Key"))
	assert.Equal(t, "application/json", got.Header.Get("Content-Type"))
	assert.Equal(t, "s1", body["saleId"])
	assert.Equal(t, "25.00", body["amount"])
}

func TestRefundSendsItsKey(t *testing.T) {
	var path, key string
	c := serve(t, Config{}, func(w http.ResponseWriter, r *http.Request) {
		path, key = r.URL.EscapedPath(), r.Header.Get("Idempotency-Key")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"id":"r1"}`)
	})
	rf, err := c.Refund(context.Background(), "p/1", "rk", map[string]string{"amount": "1.00"})
	require.NoError(t, err)
	assert.Equal(t, "r1", rf.ID)
	assert.Equal(t, "/v1/payments/p%2F1/refunds", path, "the id is one path segment")
	assert.Equal(t, "rk", key)
}

func TestAnnulAndDebitSendTheirKeysAndBodies(t *testing.T) {
	var paths, keys []string
	var bodies []map[string]any
	c := serve(t, Config{}, func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		require.NoError(t, json.NewDecoder(r.Body).Decode(&body))
		paths, keys, bodies = append(paths, r.URL.EscapedPath()), append(keys, r.Header.Get("Idempotency-Key")), append(bodies, body)
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"id":"a1","kind":"annul"}`)
	})
	rf, err := c.Annul(context.Background(), "p1", "ak", register.AnnulRequest{CashierID: "bob"})
	require.NoError(t, err)
	assert.Equal(t, "annul", rf.Kind)
	_, err = c.AdditionalDebit(context.Background(), "p1", "dk", register.DebitRequest{Rows: []register.Row{{Description: "Filter",
		Quantity: "1", TotalAmount: money.MustParse("10.00")}}})
	require.NoError(t, err)
	assert.Equal(t, []string{"/v1/payments/p1/annul", "/v1/payments/p1/debits"}, paths)
	assert.Equal(t, []string{"ak", "dk"}, keys)
	assert.NotContains(t, bodies[0], "amount", "no amount: annul all that is left")
	assert.Equal(t, "10.00", bodies[1]["rows"].([]any)[0].(map[string]any)["totalAmount"])
}

func TestProblemDecodedIntoError(t *testing.T) {
	c := serve(t, Config{}, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		fmt.Fprint(w, `{"type":"https://posd.dev/problems/validation","title":"Invalid payment","status":422,"detail":"at most 100 allowed","field":"rows"}`)
	})
	_, err := c.CreatePayment(context.Background(), "k", map[string]any{})
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, http.StatusUnprocessableEntity, e.Status)
	assert.Equal(t, "rows", e.Problem.Field)
	assert.Equal(t, "validation", e.Problem.Slug())
	assert.EqualError(t, err, "POST /v1/payments: 422 Invalid payment: at most 100 allowed (rows)")
	assert.NotErrorIs(t, err, ErrUnreachable)

	p, ok := ProblemOf(fmt.Errorf("wrapped: %w", err))
	require.True(t, ok)
	assert.Equal(t, "at most 100 allowed", p.Detail)
}

func TestErrorWithoutProblemKeepsStatusAndBody(t *testing.T) {
	c := serve(t, Config{}, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
	})
	_, err := c.Status(context.Background())
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "<html>bad gateway</html>", e.Body)
	assert.EqualError(t, err, "GET /v1/status: 502 Bad Gateway")
	p, ok := ProblemOf(err)
	require.True(t, ok)
	assert.Equal(t, http.StatusBadGateway, p.Status)
	_, ok = ProblemOf(errors.New("other"))
	assert.False(t, ok)
}

func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	_, err = New(Config{Listen: addr}).Payment(context.Background(), "p1")
	require.ErrorIs(t, err, ErrUnreachable)
	assert.True(t, strings.HasPrefix(err.Error(), "GET /v1/payments/p1: posd unreachable: "), err.Error())
}

func TestCanceledIsNotUnreachable(t *testing.T) {
	c := serve(t, Config{}, func(w http.ResponseWriter, r *http.Request) { t.Error("must not arrive") })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Status(ctx)
	require.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, ErrUnreachable)
}

func TestTimeoutBoundsACall(t *testing.T) {
	c := serve(t, Config{Timeout: time.Millisecond}, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers; the client gives up
	})
	_, err := c.Terminal(context.Background())
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "api.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"version":"t","ready":true,"openPayments":%d}`, len(r.Header.Get("Authorization")))
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	st, err := New(Config{Listen: "unix:" + sock, Token: "abc"}).Status(context.Background())
	require.NoError(t, err)
	assert.True(t, st.Ready)
	assert.Equal(t, len("Bearer abc"), st.Open)
}

func TestQueriesOfJournalPaymentsAndPeriod(t *testing.T) {
	var uris []string
	c := serve(t, Config{}, func(w http.ResponseWriter, r *http.Request) {
		uris = append(uris, r.Method+" "+r.URL.RequestURI())
		switch r.URL.Path {
		case "/v1/journal":
			fmt.Fprint(w, `{"posts":[{"seq":3},{"seq":4}]}`)
		case "/v1/payments":
			fmt.Fprint(w, `{"payments":[{"id":"a"}]}`)
		default:
			fmt.Fprint(w, `{"match":true}`)
		}
	})
	ctx := context.Background()
	posts, err := c.Journal(ctx, 2, 10)
	require.NoError(t, err)
	require.Len(t, posts, 2)
	assert.Equal(t, int64(4), posts[1].Seq)
	ps, err := c.Payments(ctx, register.StatePaid)
	require.NoError(t, err)
	require.Len(t, ps, 1)
	rep, err := c.ClosePeriod(ctx, "seqr")
	require.NoError(t, err)
	assert.True(t, rep.Match)
	_, err = c.Journal(ctx, 0, 0)
	require.NoError(t, err)
	assert.Equal(t, []string{
		"GET /v1/journal?after=2&limit=10",
		"GET /v1/payments?state=paid",
		"POST /v1/periods/close?provider=seqr",
		"GET /v1/journal?after=0",
	}, uris)
}

func TestEventsInOrderUntilTheStreamEnds(t *testing.T) {
	c := serve(t, Config{Timeout: time.Nanosecond}, func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "/v1/payments/p1/events", r.URL.Path)
		assert.Equal(t, "text/event-stream", r.Header.Get("Accept"))
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "retry: 2000\n\n"+
			"id: 1\nevent: state\ndata: {\"type\":\"state\",\"paymentId\":\"p1\",\"state\":\"polling\"}\n\n"+
			": heartbeat 1\n\n"+
			"id: 2\nevent: poll\ndata: {\"paymentId\":\"p1\",\n"+
			"data: \"state\":\"polling\"}\n\n"+
			"id: 3\nevent: state\ndata: not json\n\n"+
			"id: 4\nevent: state\ndata: {\"type\":\"state\",\"paymentId\":\"p1\",\"state\":\"paid\"}\n\n")
	})
	var got []string
	err := c.Events(context.Background(), "p1", func(ev register.Event) {
		got = append(got, ev.Type+":"+string(ev.State))
	})
	require.NoError(t, err, "Config.Timeout does not cut the stream")
	assert.Equal(t, []string{"state:polling", "poll:polling", "state:paid"}, got,
		"data lines join, a missing type takes the event name, undecodable data is skipped")
}

func TestEventsOfAnUnknownPayment(t *testing.T) {
	c := serve(t, Config{}, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"type":"https://posd.dev/problems/not-found","title":"No such payment","status":404}`)
	})
	err := c.Events(context.Background(), "nope", func(register.Event) { t.Error("no event expected") })
	p, ok := ProblemOf(err)
	require.True(t, ok)
	assert.Equal(t, "not-found", p.Slug())
}

func TestMetricsIsText(t *testing.T) {
	c := serve(t, Config{}, func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "/metrics", r.URL.Path)
		fmt.Fprint(w, "posd_up 1\n")
	})
	b, err := c.Metrics(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "posd_up 1\n", string(b))
}
