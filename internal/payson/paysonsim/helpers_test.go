package paysonsim_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/posd/posd/internal/payson/paysonsim"
	"github.com/posd/posd/internal/simctl"
	"github.com/stretchr/testify/require"
)

// testAuth is the published test agent's header (D.1).
const testAuth = "Basic NDoyYWNhYjMwZC1mZTUwLTQyNmYtOTBkNy04YzYwYTdlYjMxZDQ="

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

type env struct {
	t      *testing.T
	sim    *paysonsim.Sim
	clock  *simctl.Clock
	srv    *httptest.Server
	faults *simctl.Faults
	calls  *simctl.CallLog
}

func newEnv(t *testing.T, o paysonsim.Options) *env {
	t.Helper()
	clock := simctl.NewClock(func() time.Time { return t0 })
	o.Clock = clock
	if o.Faults == nil {
		o.Faults = simctl.NewFaults(nil)
	}
	if o.Calls == nil {
		o.Calls = simctl.NewCallLog(0)
	}
	sim := paysonsim.New(o)
	ctl := &simctl.Control{Calls: o.Calls, Faults: o.Faults, Clock: clock}
	mux := http.NewServeMux()
	ctl.Register(mux)
	srv := httptest.NewServer(sim.Wrap(mux))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = sim.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; srv.Close() })
	return &env{t: t, sim: sim, clock: clock, srv: srv, faults: o.Faults, calls: o.Calls}
}

type answer struct {
	status int
	header http.Header
	body   string
	json   map[string]any
}

func (e *env) do(method, path, auth, body string) answer {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	require.NoError(e.t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.srv.Client().Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	a := answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
	_ = json.Unmarshal(b, &a.json)
	return a
}

func (e *env) api(method, path, body string) answer { return e.do(method, path, testAuth, body) }

// minimalBody is E.29's create: one item of 399.00 at 25 %.
func minimalBody(notify string) string {
	return `{"merchant":{"checkoutUri":"https://shop.example/checkout","confirmationUri":"https://shop.example/confirm",
"notificationUri":"` + notify + `","termsUri":"https://shop.example/terms","reference":"P-0001"},
"order":{"currency":"SEK","items":[{"name":"Shirt","unitPrice":399,"quantity":1,"taxRate":0.25}]}}`
}

func (e *env) create(notify string) map[string]any {
	e.t.Helper()
	a := e.api("POST", "/2.0/Checkouts", minimalBody(notify))
	require.Equal(e.t, 201, a.status, a.body)
	return a.json
}

func path(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

func props(a answer) []string {
	var out []string
	errs, _ := a.json["errors"].([]any)
	for _, e := range errs {
		out = append(out, e.(map[string]any)["property"].(string))
	}
	return out
}

// waitNotifications waits until n deliveries have finished (the sink sees a
// request before the emulator has recorded its answer).
func (e *env) waitNotifications(n int) []simctl.Call {
	e.t.Helper()
	var calls []simctl.Call
	require.Eventually(e.t, func() bool {
		calls = e.calls.Calls(simctl.Filter{Service: paysonsim.Service, Operation: paysonsim.OpNotify})
		return len(calls) >= n
	}, 10*time.Second, time.Millisecond)
	return calls
}

// lowerKeys lower-cases every key of a JSON document, as PaysonPayments-PHP does.
func lowerKeys(t *testing.T, doc string) string {
	var v any
	require.NoError(t, json.Unmarshal([]byte(doc), &v))
	var walk func(any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			out := map[string]any{}
			for k, e := range x {
				out[strings.ToLower(k)] = walk(e)
			}
			return out
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
		}
		return v
	}
	b, err := json.Marshal(walk(v))
	require.NoError(t, err)
	return string(b)
}
