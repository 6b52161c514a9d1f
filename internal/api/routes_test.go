package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/payment/paymenttest"
	"github.com/posd/posd/internal/scanner"
)

// TestRoutes walks every route against the real register (with a fake
// provider playing SEQR): an open payment, a paid one, the terminal's
// lifecycle and a period close.
func TestRoutes(t *testing.T) {
	st := newFakeStack(t).run()
	open := st.open("k-open")
	paid := st.paid("k-paid")
	ts := startStackServer(t, st, func(c *Config) {
		c.Metrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			_, _ = w.Write([]byte("posd_up 1\n"))
		})
	})
	o, p := "/v1/payments/"+open.ID, "/v1/payments/"+paid.ID
	const register = `{"resellerId":"r","resellerUserId":"u","resellerPassword":"secret-pw","externalTerminalId":"till-1","name":"Kassa 1"}`
	tests := []struct {
		method, path, body string
		status             int
		contains           string
	}{
		{"GET", "/healthz", "", 200, `"status":"ok"`},
		{"GET", "/v1/status", "", 200, `"version":"test"`},
		{"GET", "/v1/terminal", "", 200, `"seqrId":"` + stackSeqrID + `"`},
		{"POST", "/v1/terminal/register", register, 409, `already-registered`},
		{"POST", "/v1/terminal/register", strings.Replace(register, "secret-pw", "", 1), 422, `"field":"resellerPassword"`},
		{"PUT", "/v1/terminal/seqr-id", `{"seqrId":"XYZ789"}`, 200, `"seqrId":"XYZ789"`},
		{"PUT", "/v1/terminal/seqr-id", `{"seqrId":"ABC-123"}`, 422, `ABC-123`},
		{"POST", "/v1/terminal/seqr-id/scan", `{"timeoutSeconds":0}`, 422, `"field":"timeoutSeconds"`},
		{"POST", "/v1/terminal/seqr-id/scan", `{"timeoutSeconds":301}`, 422, `"field":"timeoutSeconds"`},
		{"POST", "/v1/terminal/seqr-id/scan", `{"timeoutSeconds":"30"}`, 400, `"field":"timeoutSeconds"`},
		{"GET", "/v1/payments", "", 200, `"payments":[{`},
		{"GET", "/v1/payments?state=polling", "", 200, `"id":"` + open.ID + `"`},
		{"GET", "/v1/payments?state=paid", "", 200, `"id":"` + paid.ID + `"`},
		{"GET", "/v1/payments?state=failed", "", 200, `"payments":[]`},
		{"GET", "/v1/payments?state=bogus", "", 400, `"field":"state"`},
		{"GET", o, "", 200, `"amount":"20.00"`},
		{"GET", "/v1/payments/nope", "", 404, `not-found`},
		{"POST", o + "/retry", "", 200, `"state":"polling"`},
		{"POST", p + "/refunds", `{"amount":"5.00","cashierId":"C1","reason":"broken cup"}`, 201, `"amount":"5.00"`},
		{"POST", o + "/refunds", `{"amount":"5.00","cashierId":"C1"}`, 409, `invalid-state`},
		{"POST", p + "/refunds", `{"amount":5,"cashierId":"C1"}`, 400, `"field":"amount"`},
		{"POST", p + "/refunds", `{"amount":"0.00"}`, 422, `"field":"amount"`},
		{"POST", p + "/receipt/print", "", 202, `"copy":true`},
		{"POST", "/v1/payments/nope/receipt/print", "", 404, `not-found`},
		{"DELETE", "/v1/terminal", "", 409, `still open`},
		{"POST", o + "/cancel", "", 200, `"state":"canceled"`},
		{"DELETE", "/v1/terminal", "", 204, ""},
		{"POST", "/v1/terminal/register", register, 201, `"externalTerminalId":"till-1"`},
		{"GET", "/v1/journal?after=0", "", 200, `"reference":"tx-k-paid"`},
		{"GET", "/v1/journal?after=-1", "", 400, `"field":"after"`},
		{"POST", "/v1/periods/close", "", 200, `"match":true`},
		{"GET", "/metrics", "", 200, "posd_up 1"},
		{"GET", "/", "", 200, "<!doctype html>"},
		{"GET", "/assets/app.js", "", 200, ""},
		{"GET", "/assets/nope.js", "", 404, "not-found"},
		{"GET", "/assets/index.html", "", 404, "not-found"},
	}
	for i, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp := ts.do(t, tt.method, tt.path, tt.body, func(r *http.Request) {
				if strings.HasSuffix(tt.path, "/refunds") {
					r.Header.Set("Idempotency-Key", fmt.Sprintf("refund-%d", i))
				}
			})
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			body := string(b)
			require.Equal(t, tt.status, resp.StatusCode, body)
			assert.Contains(t, body, tt.contains)
			assert.NotContains(t, body, "secret-pw")
		})
	}
	assert.Equal(t, 1, st.prov.Count(paymenttest.OpMark), "one period marked")
}

// scanWith posts to the scan route while the scanner reads code: the
// register takes a scan only while it waits for one, so the code is fed
// until the request returns (a bounded loop, not a sleep).
func scanWith(t *testing.T, ts *testServer, spy *spyRegister, body, code string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("POST", ts.base+"/v1/terminal/seqr-id/scan", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	type answer struct {
		resp *http.Response
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := ts.client.Do(req)
		done <- answer{resp, err}
	}()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if code != "" {
			spy.st.reg.HandleScan(scanner.Scan{Code: code, Symbology: "qr", At: time.Now()})
		}
		select {
		case a := <-done:
			require.NoError(t, a.err)
			t.Cleanup(func() { a.resp.Body.Close() })
			return a.resp
		case <-tick.C:
		}
	}
}

func TestScanDefaultsAndTimeout(t *testing.T) {
	spy := newSpy(t)
	ts := startServer(t, spy, nil)
	resp := scanWith(t, ts, spy, "", "HTTP://SEQR.SE/QSCANNED1")
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode, string(b))
	assert.Contains(t, string(b), `"seqrId":"SCANNED1"`)
	spy.mu.Lock()
	assert.Equal(t, 30*time.Second, spy.scanWait, "the default wait")
	spy.mu.Unlock()

	resp = scanWith(t, ts, spy, `{"timeoutSeconds":1}`, "") // nothing scanned
	require.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
	assert.Equal(t, ProblemBase+"scan-timeout", readProblem(t, resp).Type)

	resp = scanWith(t, ts, spy, `{"timeoutSeconds":2}`, "ABC-1?")
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	assert.Contains(t, readProblem(t, resp).Detail, "ABC-1?")
}

func TestMetricsDisabled(t *testing.T) {
	ts := startServer(t, newSpy(t), nil)
	resp := ts.do(t, "GET", "/metrics", "", nil)
	require.Equal(t, 404, resp.StatusCode)
}

func TestPageHeaders(t *testing.T) {
	ts := startServer(t, newSpy(t), nil)
	for _, p := range []string{"/", "/assets/app.js", "/assets/app.css"} {
		resp := ts.do(t, "GET", p, "", func(r *http.Request) { r.Header.Del("Authorization") })
		require.Equal(t, 200, resp.StatusCode, p)
		assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'")
		assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	}
}

// TestHealthzShowsReadiness: /healthz says not ready while the register
// recovers (before Run), ready after.
func TestHealthzShowsReadiness(t *testing.T) {
	st := newFakeStack(t)
	ts := startStackServer(t, st, nil)
	var h struct{ Ready bool }
	resp := ts.do(t, "GET", "/healthz", "", nil)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&h))
	assert.False(t, h.Ready)
	st.run()
	resp = ts.do(t, "GET", "/healthz", "", nil)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&h))
	assert.True(t, h.Ready)
}

// TestPageIsSelfContained: the cashier page loads nothing from elsewhere,
// has no inline script (the CSP forbids it), and never puts the token in a URL.
func TestPageIsSelfContained(t *testing.T) {
	entries, err := web.ReadDir("web")
	require.NoError(t, err)
	require.NotEmpty(t, entries)
	for _, e := range entries {
		b, err := web.ReadFile("web/" + e.Name())
		require.NoError(t, err)
		s := string(b)
		assert.NotRegexp(t, `(?i)(src|href)=["']?(https?:)?//`, s, e.Name())
		assert.NotContains(t, s, "access_token", e.Name())
		assert.NotContains(t, s, "localStorage", e.Name())
		if e.Name() == "index.html" {
			assert.NotRegexp(t, `<script>[^<]`, s, "inline script")
			assert.NotRegexp(t, `\son[a-z]+=`, s, "inline event handlers")
		}
	}
	js, err := web.ReadFile("web/app.js")
	require.NoError(t, err)
	assert.Contains(t, string(js), `"Authorization": "Bearer "`)
	assert.Contains(t, string(js), "sessionStorage")
	assert.NotContains(t, string(js), "EventSource(")
}

// POST /v1/payments/{id}/refunds needs an Idempotency-Key: a replay is 200
// with Idempotent-Replayed, another body 422, an unknown outcome its own
// 409 without Retry-After.
func TestRefundIdempotencyKey(t *testing.T) {
	st := newFakeStack(t).run()
	paid := st.paid("k1")
	ts := startStackServer(t, st, nil)
	path := "/v1/payments/" + paid.ID + "/refunds"
	const body = `{"amount":"5.00","cashierId":"C1"}`
	key := func(k string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Idempotency-Key", k) }
	}

	resp := ts.do(t, "POST", path, body, nil)
	require.Equal(t, 400, resp.StatusCode)
	assert.Equal(t, "Idempotency-Key", readProblem(t, resp).Field)
	assert.Zero(t, st.prov.Count(paymenttest.OpRefund), "refused before the register")

	resp = ts.do(t, "POST", path, body, key("rk1"))
	require.Equal(t, 201, resp.StatusCode)
	assert.Empty(t, resp.Header.Get("Idempotent-Replayed"))
	resp = ts.do(t, "POST", path, body, key("rk1"))
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "true", resp.Header.Get("Idempotent-Replayed"))
	assert.Equal(t, 1, st.prov.Count(paymenttest.OpRefund), "a replay never refunds again")
	resp = ts.do(t, "POST", path, `{"amount":"6.00","cashierId":"C1"}`, key("rk1"))
	require.Equal(t, 422, resp.StatusCode)
	assert.Equal(t, ProblemBase+"idempotency-key", readProblem(t, resp).Type)

	// The provider's answer is lost: the register cannot know whether the
	// money moved.
	st.prov.Set(func(f *paymenttest.Fake) {
		f.RefundFn = func(context.Context, payment.RefundOrder) (payment.Refunded, error) {
			return payment.Refunded{}, errors.New("read tcp 127.0.0.1:1234: connection reset by peer")
		}
	})
	resp = ts.do(t, "POST", path, body, key("rk2"))
	require.Equal(t, 409, resp.StatusCode)
	assert.Empty(t, resp.Header.Get("Retry-After"), "never an invitation to try again")
	pr := readProblem(t, resp)
	assert.Equal(t, ProblemBase+"outcome-unknown", pr.Type)
	assert.Contains(t, pr.Detail, "check the period report")
}
