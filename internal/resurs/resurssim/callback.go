package resurssim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/posd/posd/internal/simctl"
	"go.uber.org/zap"
)

// The paymentCreatedCallbackUrl of a Checkout POS session (spec A.3) is
// called when the session's payment exists and may be acted on. What Resurs
// sends there is undocumented (spec G.4); the emulator does what Resurs's
// BOOKED callback does (B.8) [I]:
//
//   - URL: the placeholders {paymentId}, {orderReference} and
//     {paymentSessionId} are replaced (query-escaped); a URL with none of
//     them gets paymentId=<id> appended to its query. Other {...} are left
//     as they are (no digest: its formula is unknown, G.14).
//   - POST with a small JSON body (CallbackBody); a 405 answer is retried at
//     once as a GET without a body. Any status below 300 is delivered.
//   - Otherwise (3xx included: redirects are never followed, 4xx, 5xx,
//     timeouts) the attempt is repeated after 30 s, 1, 2 and 4 min of the
//     emulator's clock, CallbackAttempts attempts in all, then given up.
//   - Only http and https URLs are called; any other URL is recorded as
//     refused and never called.
//
// When: as soon as the payment is booked and not frozen (control complete
// or later, the checkout page's e-signature, the "Betala sen" link, a
// manual inspection approved); a payment frozen at booking is announced
// when it thaws and never when the fraud control annuls it [I].
//
// Every HTTP request is one entry in the call log (operation
// OpPaymentCreatedCallback, detail direction=outgoing), so /sim/calls shows
// what went out and what came back. Deliveries run only inside Run.

// OpPaymentCreatedCallback is the call-log operation of an outgoing callback.
const OpPaymentCreatedCallback = "paymentCreatedCallback"

// Callback delivery parameters [I].
const (
	CallbackAttempts       = 5
	DefaultCallbackTimeout = 10 * time.Second
	callbackFirstRetry     = 30 * time.Second
	maxCallbackQueue       = 10_000
	// idleRecheck bounds Run's sleep when nothing is due, so a base clock
	// that moves without Advance (time.Now) is still followed.
	idleRecheck = time.Minute
)

// CallbackBody is the JSON body POSTed to paymentCreatedCallbackUrl [I].
type CallbackBody struct {
	Event            string `json:"event"` // always "BOOKED"
	PaymentID        string `json:"paymentId"`
	OrderReference   string `json:"orderReference"`
	PaymentSessionID string `json:"paymentSessionId"`
}

// CallbackAttempt is one delivery attempt as the emulator saw it.
type CallbackAttempt struct {
	PaymentID string
	URL       string
	Attempt   int    // 1-based
	Status    int    // HTTP status of the last request of the attempt; 0: no answer
	Outcome   string // CallbackDelivered, CallbackRetry, CallbackGivenUp or CallbackRefused
}

// Outcomes of an attempt, also the call log's detail "outcome".
const (
	CallbackDelivered = "delivered"
	CallbackRetry     = "retry"
	CallbackGivenUp   = "given up"
	CallbackRefused   = "refused"
)

// callback is one announcement on its way to the merchant.
type callback struct {
	paymentID string
	sessionID string
	url       string // expanded
	next      time.Time
	attempts  int
	inflight  bool
}

// expandCallbackURL fills in the template of a paymentCreatedCallbackUrl.
func expandCallbackURL(tmpl, paymentID, ref, sessionID string) string {
	r := strings.NewReplacer(
		"{paymentId}", url.QueryEscape(paymentID),
		"{orderReference}", url.QueryEscape(ref),
		"{paymentSessionId}", url.QueryEscape(sessionID))
	if out := r.Replace(tmpl); out != tmpl {
		return out
	}
	base, frag, hasFrag := strings.Cut(tmpl, "#")
	sep := "?"
	switch {
	case strings.HasSuffix(base, "?") || strings.HasSuffix(base, "&"):
		sep = ""
	case strings.Contains(base, "?"):
		sep = "&"
	}
	out := base + sep + "paymentId=" + url.QueryEscape(paymentID)
	if hasFrag {
		out += "#" + frag
	}
	return out
}

// checkCallbackURL refuses anything but an absolute http(s) URL with a host.
func checkCallbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("parse callback url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("callback url scheme %q: only http and https", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("callback url has no host")
	}
	return nil
}

// announce queues the payment-created callback of p once. Callers hold s.mu.
func (s *Sim) announce(p *payment, at time.Time) {
	ss := p.session
	if p.announced || ss == nil || ss.callback == "" {
		return
	}
	p.announced = true
	target := expandCallbackURL(ss.callback, p.id, ss.ref, ss.id)
	if err := checkCallbackURL(target); err != nil {
		s.recordCallback(simctl.Call{Time: at, Path: target, Reference: p.id, Fault: err.Error()}, "", 0, CallbackRefused)
		s.log.Info("payment created callback refused", zap.String("payment", p.id), zap.Error(err))
		return
	}
	if len(s.cbQueue) >= maxCallbackQueue {
		s.recordCallback(simctl.Call{Time: at, Path: target, Reference: p.id, Fault: "callback queue full"}, "", 0, CallbackRefused)
		return
	}
	s.cbQueue = append(s.cbQueue, &callback{paymentID: p.id, sessionID: ss.id, url: target, next: at})
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Sim) recordCallback(c simctl.Call, method string, attempt int, outcome string) {
	c.Service, c.Operation = Service, OpPaymentCreatedCallback
	c.Detail = map[string]string{"direction": "outgoing", "outcome": outcome}
	if method != "" {
		c.Detail["method"] = method
	}
	if attempt > 0 {
		c.Detail["attempt"] = strconv.Itoa(attempt)
	}
	s.calls.Add(c)
}

// PendingCallbacks is how many callbacks are queued or in flight.
func (s *Sim) PendingCallbacks() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.cbQueue)
}

// callbackRetry is the wait after the n-th failed attempt: 30 s doubling.
func callbackRetry(n int) time.Duration { return callbackFirstRetry << min(n-1, 10) }

// Run delivers payment-created callbacks and applies the time rules (a
// manual inspection decided, a frozen payment thawed) when they fall due,
// so their callbacks go out even while nobody reads, until ctx ends. Each
// delivery runs in its own goroutine: a merchant URL that hangs never
// delays an API answer, the checkout page or another delivery. Run returns
// nil once ctx ends and every delivery has stopped. Advance (the Sim's or
// Options.Clock's) wakes it.
func (s *Sim) Run(ctx context.Context) error {
	// Deferred in this order: first every delivery ends, then the kept-alive
	// connections (and their goroutines) are closed, so nothing outlives Run.
	defer s.cbClient.CloseIdleConnections()
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(idleRecheck)
	defer timer.Stop()
	for {
		// Taken before the clock is read, so an Advance in between still wakes us.
		var extChanged <-chan struct{} // nil: never ready
		if s.ext != nil {
			extChanged = s.ext.Changed()
		}
		s.mu.Lock()
		now := s.clock()
		s.tick(now)
		wait := idleRecheck
		if due, ok := s.nextRule(now); ok {
			wait = min(wait, due.Sub(now))
		}
		for _, cb := range s.cbQueue {
			if cb.inflight {
				continue
			}
			if !cb.next.After(now) {
				cb.inflight = true
				wg.Go(func() { s.deliver(ctx, cb) })
			} else {
				wait = min(wait, cb.next.Sub(now))
			}
		}
		changed := s.changed
		s.mu.Unlock()
		timer.Reset(max(wait, time.Millisecond))
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-extChanged:
		case <-s.wake:
		case <-timer.C:
		}
	}
}

// nextRule is the earliest future time a lazy rule of tick falls due.
// Callers hold s.mu.
func (s *Sim) nextRule(now time.Time) (time.Time, bool) {
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, ss := range s.st.sessions {
		switch ss.state {
		case SessionInspection:
			consider(ss.decideAt)
		case SessionLinkSent:
			consider(ss.validTo)
		}
	}
	for _, p := range s.st.order {
		if p.frozen {
			consider(p.thawAt)
			consider(p.annulAt)
		}
	}
	return next, !next.IsZero()
}

// deliver makes one attempt: POST, or GET after a 405. The queue is updated
// before the calls are logged, so a harness that sees the log entry also
// sees its consequence (retry scheduled, done or given up).
func (s *Sim) deliver(ctx context.Context, cb *callback) {
	start := s.Now()
	attempt := cb.attempts + 1
	body, _ := json.Marshal(CallbackBody{Event: "BOOKED", PaymentID: cb.paymentID, OrderReference: cb.paymentID, PaymentSessionID: cb.sessionID})
	type sent struct {
		call   simctl.Call
		method string
	}
	var log []sent
	status := 0
	for _, method := range []string{http.MethodPost, http.MethodGet} {
		code, d, err := s.callOnce(ctx, method, cb.url, body)
		c := simctl.Call{Time: start, Path: cb.url, Reference: cb.paymentID, Duration: d}
		if err != nil {
			c.Fault = err.Error()
		} else {
			c.ResultCode = &code
		}
		log = append(log, sent{c, method})
		status = code
		if code != http.StatusMethodNotAllowed || method == http.MethodGet {
			break
		}
	}

	s.mu.Lock()
	cb.inflight = false
	cb.attempts = attempt
	outcome := CallbackRetry
	switch {
	case status >= 200 && status < 300:
		outcome = CallbackDelivered
	case attempt >= CallbackAttempts:
		outcome = CallbackGivenUp
	default:
		// From the attempt's start, so an Advance made while the merchant
		// was still answering already counts towards the wait.
		cb.next = start.Add(callbackRetry(attempt))
	}
	if outcome != CallbackRetry {
		for i, q := range s.cbQueue {
			if q == cb {
				s.cbQueue = append(s.cbQueue[:i], s.cbQueue[i+1:]...)
				break
			}
		}
	}
	s.mu.Unlock()

	for i, l := range log {
		o := outcome
		if i < len(log)-1 {
			o = "method not allowed, GET follows"
		}
		s.recordCallback(l.call, l.method, attempt, o)
	}
	switch outcome {
	case CallbackGivenUp:
		s.log.Info("payment created callback given up", zap.String("payment", cb.paymentID), zap.Int("attempts", attempt), zap.Int("status", status))
	case CallbackRetry:
		s.log.Debug("payment created callback failed", zap.String("payment", cb.paymentID), zap.Int("attempt", attempt), zap.Int("status", status))
	}
	if s.attempted != nil {
		s.attempted(CallbackAttempt{PaymentID: cb.paymentID, URL: cb.url, Attempt: attempt, Status: status, Outcome: outcome})
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// callOnce sends one request with the per-attempt timeout and returns the
// answer's status (0 when there was none).
func (s *Sim) callOnce(ctx context.Context, method, target string, body []byte) (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cbTimeout)
	defer cancel()
	var rd io.Reader = http.NoBody
	if method == http.MethodPost {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return 0, 0, fmt.Errorf("callback request %s: %w", target, err)
	}
	req.Header.Set("User-Agent", "resurssim-callback")
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	t0 := time.Now()
	resp, err := s.cbClient.Do(req)
	d := time.Since(t0)
	if err != nil {
		return 0, d, fmt.Errorf("callback %s %s: %w", method, target, err)
	}
	// A little of the body is read so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	_ = resp.Body.Close()
	return resp.StatusCode, d, nil
}

// callbackClient is c (or a new client) that never follows a redirect.
func callbackClient(c *http.Client) *http.Client {
	var out http.Client
	if c != nil {
		out = *c
	}
	out.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &out
}
