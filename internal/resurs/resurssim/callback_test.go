package resurssim_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/posd/posd/internal/resurs/resurssim"
	"github.com/posd/posd/internal/simctl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// received is one request the merchant's callback endpoint got.
type received struct {
	method, uri, contentType, body string
}

// sink is the merchant's callback endpoint on loopback. It answers the
// status codes queued in codes (200 once they run out); hold, when set,
// keeps a request open until the channel is closed or the caller leaves.
type sink struct {
	srv   *httptest.Server
	got   chan received
	codes chan int
	hold  chan struct{}
}

func newSink(t *testing.T) *sink {
	t.Helper()
	s := &sink{got: make(chan received, 32), codes: make(chan int, 32)}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.got <- received{r.Method, r.URL.RequestURI(), r.Header.Get("Content-Type"), string(b)}
		if s.hold != nil {
			select {
			case <-s.hold:
			case <-r.Context().Done():
				return
			}
		}
		code := http.StatusOK
		select {
		case code = <-s.codes:
		default:
		}
		if code >= 300 && code < 400 {
			w.Header().Set("Location", "/elsewhere")
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) next(t *testing.T) received {
	t.Helper()
	select {
	case r := <-s.got:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no callback arrived")
	}
	return received{}
}

// runEnv is an env whose Sim runs, with every callback attempt reported on
// attempts. Run is stopped, and waited for, at cleanup.
type runEnv struct {
	*env
	attempts chan resurssim.CallbackAttempt
}

func newRunEnv(t *testing.T) *runEnv {
	t.Helper()
	e := &runEnv{env: newEnv(t), attempts: make(chan resurssim.CallbackAttempt, 32)}
	resurssim.SetCallbackObserver(e.sim, func(a resurssim.CallbackAttempt) { e.attempts <- a })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.sim.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	return e
}

func (e *runEnv) attempt(t *testing.T) resurssim.CallbackAttempt {
	t.Helper()
	select {
	case a := <-e.attempts:
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("no callback attempt finished")
	}
	return resurssim.CallbackAttempt{}
}

// withCallback adds paymentCreatedCallbackUrl to a create body.
func withCallback(body, u string) string {
	q, _ := json.Marshal(u)
	return strings.TrimSuffix(body, "}") + `,"paymentCreatedCallbackUrl":` + string(q) + `}`
}

func (e *runEnv) callbackCalls() []simctl.Call {
	return e.calls.Calls(simctl.Filter{Service: resurssim.Service, Operation: resurssim.OpPaymentCreatedCallback})
}

// A control complete books the payment and the merchant's URL gets a POST
// with paymentId appended; the complete answer does not wait for it.
func TestCallbackAfterControlComplete(t *testing.T) {
	e := newRunEnv(t)
	s := newSink(t)
	s.hold = make(chan struct{})
	id := e.create("CB-1", withCallback(oneLine, s.srv.URL+"/cb?store=101"))
	require.Empty(t, e.callbackCalls(), "nothing is sent before booking")

	in := e.complete(id, "198305147715", "invoice", false)
	assert.Equal(t, resurssim.SessionBooked, in["state"], "complete answered while the merchant still holds the callback")
	r := s.next(t)
	close(s.hold)
	assert.Equal(t, http.MethodPost, r.method)
	assert.Equal(t, "/cb?store=101&paymentId=CB-1", r.uri)
	assert.Equal(t, "application/json", r.contentType)
	assert.JSONEq(t, `{"event":"BOOKED","paymentId":"CB-1","orderReference":"CB-1","paymentSessionId":"`+id+`"}`, r.body)

	a := e.attempt(t)
	assert.Equal(t, resurssim.CallbackAttempt{PaymentID: "CB-1", URL: s.srv.URL + "/cb?store=101&paymentId=CB-1", Attempt: 1, Status: 200, Outcome: resurssim.CallbackDelivered}, a)
	assert.Zero(t, e.sim.PendingCallbacks())
	calls := e.callbackCalls()
	require.Len(t, calls, 1)
	c := calls[0]
	assert.Equal(t, "CB-1", c.Reference)
	require.NotNil(t, c.ResultCode)
	assert.Equal(t, 200, *c.ResultCode)
	assert.Equal(t, map[string]string{"direction": "outgoing", "method": "POST", "attempt": "1", "outcome": "delivered"}, c.Detail)

	// The control API's call list shows it too.
	lr := e.do(http.MethodGet, "/sim/calls?service=resurs&operation="+resurssim.OpPaymentCreatedCallback, "", "", "", "")
	require.Equal(t, http.StatusOK, lr.status, lr.body)
	assert.Contains(t, lr.body, `"direction":"outgoing"`)
}

// The checkout page's e-signature books the payment and calls back.
func TestCallbackAfterPageSign(t *testing.T) {
	e := newRunEnv(t)
	s := newSink(t)
	id := e.create("CB-2", withCallback(oneLine, s.srv.URL+"/cb"))
	form := url.Values{"governmentId": {"198305147715"}, "method": {"card"}, "mobile": {"0701234567"}}
	r := e.do(http.MethodPost, "/web/checkout/"+id+"/complete", "application/x-www-form-urlencoded", form.Encode(), "", "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, "/cb?paymentId=CB-2", s.next(t).uri)
	assert.Equal(t, resurssim.CallbackDelivered, e.attempt(t).Outcome)
}

// "Betala sen": the payment exists (DEBITABLE) once the customer paid
// through the link, and only then is the merchant called.
func TestCallbackAfterLater(t *testing.T) {
	e := newRunEnv(t)
	s := newSink(t)
	id := e.create("CB-3", withCallback(oneLine, s.srv.URL+"/cb"))
	_, err := e.sim.SendLater(id, time.Time{})
	require.NoError(t, err)
	assert.Zero(t, e.sim.PendingCallbacks(), "a link sent is no payment yet")

	in := e.complete(id, "198305147715", "invoice", true)
	assert.Equal(t, resurssim.SessionBooked, in["state"])
	assert.Equal(t, "/cb?paymentId=CB-3", s.next(t).uri)
	assert.Equal(t, resurssim.CallbackDelivered, e.attempt(t).Outcome)
	p, err := e.sim.Payment("CB-3")
	require.NoError(t, err)
	assert.Equal(t, []string{"DEBITABLE"}, p.Status)
}

// Placeholders are replaced and nothing is appended.
func TestCallbackTemplate(t *testing.T) {
	e := newRunEnv(t)
	s := newSink(t)
	id := e.create("CB-4", withCallback(oneLine, s.srv.URL+"/resurs/{paymentId}/booked?ref={orderReference}&session={paymentSessionId}&digest={digest}"))
	e.complete(id, "198305147715", "invoice", false)
	assert.Equal(t, "/resurs/CB-4/booked?ref=CB-4&session="+id+"&digest={digest}", s.next(t).uri)
	assert.Equal(t, resurssim.CallbackDelivered, e.attempt(t).Outcome)
}

// A 500 is retried after 30 s of the emulator's clock, not before.
func TestCallbackRetryOnInjectedClock(t *testing.T) {
	e := newRunEnv(t)
	s := newSink(t)
	s.codes <- http.StatusInternalServerError
	id := e.create("CB-5", withCallback(oneLine, s.srv.URL+"/cb"))
	e.complete(id, "198305147715", "invoice", false)
	s.next(t)
	a := e.attempt(t)
	assert.Equal(t, 500, a.Status)
	assert.Equal(t, resurssim.CallbackRetry, a.Outcome)
	assert.Equal(t, 1, e.sim.PendingCallbacks(), "queued for a retry")

	e.sim.Advance(29 * time.Second)
	// Not due yet: a second booking's callback is delivered, the retry is not.
	id2 := e.create("CB-5b", withCallback(oneLine, s.srv.URL+"/other"))
	e.complete(id2, "198305147715", "invoice", false)
	assert.Equal(t, "/other?paymentId=CB-5b", s.next(t).uri)
	assert.Equal(t, "CB-5b", e.attempt(t).PaymentID)
	assert.Equal(t, 1, e.sim.PendingCallbacks())

	e.sim.Advance(time.Second)
	assert.Equal(t, "/cb?paymentId=CB-5", s.next(t).uri)
	a = e.attempt(t)
	assert.Equal(t, resurssim.CallbackAttempt{PaymentID: "CB-5", URL: s.srv.URL + "/cb?paymentId=CB-5", Attempt: 2, Status: 200, Outcome: resurssim.CallbackDelivered}, a)
	assert.Zero(t, e.sim.PendingCallbacks())
	var outcomes []string
	for _, c := range e.callbackCalls() {
		if c.Reference == "CB-5" {
			outcomes = append(outcomes, c.Detail["attempt"]+" "+c.Detail["outcome"])
		}
	}
	assert.Equal(t, []string{"1 retry", "2 delivered"}, outcomes)
}

// Never accepted: given up after CallbackAttempts attempts.
func TestCallbackGivenUp(t *testing.T) {
	e := newRunEnv(t)
	s := newSink(t)
	for range resurssim.CallbackAttempts {
		s.codes <- http.StatusServiceUnavailable
	}
	id := e.create("CB-6", withCallback(oneLine, s.srv.URL+"/cb"))
	e.complete(id, "198305147715", "invoice", false)
	for i := 1; i <= resurssim.CallbackAttempts; i++ {
		s.next(t)
		a := e.attempt(t)
		assert.Equal(t, i, a.Attempt)
		if i < resurssim.CallbackAttempts {
			assert.Equal(t, resurssim.CallbackRetry, a.Outcome)
			e.sim.Advance(10 * time.Minute)
			continue
		}
		assert.Equal(t, resurssim.CallbackGivenUp, a.Outcome)
	}
	assert.Zero(t, e.sim.PendingCallbacks())
	assert.Len(t, e.callbackCalls(), resurssim.CallbackAttempts)
}

// A redirect answer is a failed attempt; its Location is never called.
func TestCallbackRedirectNotFollowed(t *testing.T) {
	e := newRunEnv(t)
	s := newSink(t)
	s.codes <- http.StatusFound
	id := e.create("CB-7", withCallback(oneLine, s.srv.URL+"/cb"))
	e.complete(id, "198305147715", "invoice", false)
	assert.Equal(t, "/cb?paymentId=CB-7", s.next(t).uri)
	a := e.attempt(t)
	assert.Equal(t, http.StatusFound, a.Status)
	assert.Equal(t, resurssim.CallbackRetry, a.Outcome)
	select {
	case r := <-s.got:
		t.Fatalf("the redirect was followed: %+v", r)
	default:
	}
}

// 405 to the POST: the same attempt tries a GET without a body.
func TestCallbackGETAfter405(t *testing.T) {
	e := newRunEnv(t)
	s := newSink(t)
	s.codes <- http.StatusMethodNotAllowed
	id := e.create("CB-8", withCallback(oneLine, s.srv.URL+"/cb"))
	e.complete(id, "198305147715", "invoice", false)
	assert.Equal(t, http.MethodPost, s.next(t).method)
	r := s.next(t)
	assert.Equal(t, http.MethodGet, r.method)
	assert.Equal(t, "/cb?paymentId=CB-8", r.uri)
	assert.Empty(t, r.body)
	a := e.attempt(t)
	assert.Equal(t, 1, a.Attempt)
	assert.Equal(t, resurssim.CallbackDelivered, a.Outcome)
	var methods []string
	for _, c := range e.callbackCalls() {
		methods = append(methods, c.Detail["method"]+" "+c.Detail["outcome"])
	}
	assert.Equal(t, []string{"POST method not allowed, GET follows", "GET delivered"}, methods)
}

// No URL, no callback; a URL that is not http(s) is recorded as refused.
func TestCallbackUnsetOrRefused(t *testing.T) {
	e := newRunEnv(t)
	s := newSink(t)
	e.book("CB-9", oneLine, "198305147715", "invoice", false)
	assert.Zero(t, e.sim.PendingCallbacks())
	e.book("CB-10", withCallback(oneLine, "ftp://127.0.0.1/cb"), "198305147715", "invoice", false)
	assert.Zero(t, e.sim.PendingCallbacks())
	calls := e.callbackCalls()
	require.Len(t, calls, 1)
	assert.Equal(t, "CB-10", calls[0].Reference)
	assert.Equal(t, resurssim.CallbackRefused, calls[0].Detail["outcome"])
	assert.Nil(t, calls[0].ResultCode)

	// A later callback is the only request the merchant ever sees.
	e.book("CB-11", withCallback(oneLine, s.srv.URL+"/cb"), "198305147715", "invoice", false)
	assert.Equal(t, "/cb?paymentId=CB-11", s.next(t).uri)
	assert.Equal(t, "CB-11", e.attempt(t).PaymentID)
	assert.Empty(t, s.got)
	assert.Len(t, e.callbackCalls(), 2)
}

// Frozen at booking: announced when thawed (control or after the test
// person's delay, by Run while nobody reads), and a manual inspection's
// approval is announced when Run applies it.
func TestCallbackFrozenAndInspection(t *testing.T) {
	e := newRunEnv(t)
	s := newSink(t)
	e.book("CB-12", withCallback(oneLine, s.srv.URL+"/frozen"), "198209123705", "invoice", false)
	assert.Zero(t, e.sim.PendingCallbacks(), "a frozen payment is not announced")
	_, err := e.sim.Thaw("CB-12")
	require.NoError(t, err)
	assert.Equal(t, "/frozen?paymentId=CB-12", s.next(t).uri)
	assert.Equal(t, "CB-12", e.attempt(t).PaymentID)

	e.book("CB-13", withCallback(oneLine, s.srv.URL+"/thaw"), "198001010001", "invoice", false)
	e.book("CB-14", withCallback(oneLine, s.srv.URL+"/inspect"), "199105149612", "invoice", false)
	assert.Zero(t, e.sim.PendingCallbacks())
	e.sim.Advance(10 * time.Second)
	got := map[string]bool{}
	for range 2 {
		got[s.next(t).uri] = true
		assert.Equal(t, resurssim.CallbackDelivered, e.attempt(t).Outcome)
	}
	assert.Equal(t, map[string]bool{"/thaw?paymentId=CB-13": true, "/inspect?paymentId=CB-14": true}, got)

	// Freezing and thawing an announced payment announces nothing new.
	_, err = e.sim.Freeze("CB-13")
	require.NoError(t, err)
	_, err = e.sim.Thaw("CB-13")
	require.NoError(t, err)
	assert.Zero(t, e.sim.PendingCallbacks())
}

// Run ends with its context even while a merchant holds a callback open.
func TestCallbackStopsWithRun(t *testing.T) {
	e := newEnv(t)
	s := newSink(t)
	s.hold = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.sim.Run(ctx) }()
	id := e.create("CB-15", withCallback(oneLine, s.srv.URL+"/cb"))
	e.complete(id, "198305147715", "invoice", false)
	s.next(t)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	calls := e.calls.Calls(simctl.Filter{Operation: resurssim.OpPaymentCreatedCallback})
	require.Len(t, calls, 1)
	assert.Nil(t, calls[0].ResultCode)
	assert.NotEmpty(t, calls[0].Fault)
}

// With an emulator-wide clock (cmd/paysim), its Advance wakes Run for a
// retry as the Sim's own Advance does.
func TestCallbackRetryOnSharedClock(t *testing.T) {
	fc := &fakeClock{t: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	clock := simctl.NewClock(fc.Now)
	e := newEnv(t, func(o *resurssim.Options) { o.Now, o.Clock = nil, clock })
	attempts := make(chan resurssim.CallbackAttempt, 8)
	resurssim.SetCallbackObserver(e.sim, func(a resurssim.CallbackAttempt) { attempts <- a })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.sim.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	s := newSink(t)
	s.codes <- http.StatusBadGateway
	id := e.create("CB-16", withCallback(oneLine, s.srv.URL+"/cb"))
	e.complete(id, "198305147715", "invoice", false)
	s.next(t)
	assert.Equal(t, resurssim.CallbackRetry, (<-attempts).Outcome)
	clock.Advance(30 * time.Second)
	assert.Equal(t, "/cb?paymentId=CB-16", s.next(t).uri)
	a := <-attempts
	assert.Equal(t, 2, a.Attempt)
	assert.Equal(t, resurssim.CallbackDelivered, a.Outcome)
	assert.Equal(t, clock.Now(), e.sim.Now(), "the shared clock is the Sim's")
}
