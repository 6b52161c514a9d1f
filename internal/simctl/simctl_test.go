package simctl_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posd/posd/internal/simctl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCallLogFilterAndOrder(t *testing.T) {
	l := simctl.NewCallLog(0)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	l.Add(simctl.Call{Time: t0, Service: "seqr", Operation: "sendInvoice", Reference: "R1"})
	l.Add(simctl.Call{Time: t0, Service: "seqr", Operation: "getPaymentStatus", Reference: "R1"})
	l.Add(simctl.Call{Time: t0, Service: "resurs", Operation: "getPaymentStatus", Reference: "R1"})
	l.Add(simctl.Call{Time: t0, Service: "seqr", Operation: "getPaymentStatus", Reference: "R2"})

	tests := []struct {
		f    simctl.Filter
		want []int64
	}{
		{simctl.Filter{}, []int64{1, 2, 3, 4}},
		{simctl.Filter{Service: "seqr"}, []int64{1, 2, 4}},
		{simctl.Filter{Service: "seqr", Operation: "getPaymentStatus"}, []int64{2, 4}},
		{simctl.Filter{Service: "seqr", Operation: "getPaymentStatus", Reference: "R1"}, []int64{2}},
		{simctl.Filter{Reference: "R3"}, nil},
	}
	for _, tc := range tests {
		var got []int64
		for _, c := range l.Calls(tc.f) {
			got = append(got, c.Seq)
		}
		assert.Equal(t, tc.want, got, "%+v", tc.f)
	}
	b, err := json.Marshal(l.Calls(simctl.Filter{})[0])
	require.NoError(t, err)
	assert.Contains(t, string(b), `"time":"2026-01-02T03:04:05.123456789Z"`)
	assert.Contains(t, string(b), `"resultCode":null`)
}

func TestCallLogBoundedAndConcurrent(t *testing.T) {
	l := simctl.NewCallLog(100)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				l.Add(simctl.Call{Service: "seqr", Operation: fmt.Sprint(g, i)})
			}
		})
	}
	wg.Wait()
	calls := l.Calls(simctl.Filter{})
	assert.LessOrEqual(t, len(calls), 100)
	assert.GreaterOrEqual(t, len(calls), 50)
	assert.Equal(t, int64(400), calls[len(calls)-1].Seq, "the newest call is kept")
	for i := 1; i < len(calls); i++ {
		assert.Less(t, calls[i-1].Seq, calls[i].Seq)
	}
	l.Reset()
	assert.Empty(t, l.Calls(simctl.Filter{}))
}

func ptr[T any](v T) *T { return &v }

func TestFaultsMatch(t *testing.T) {
	f := simctl.NewFaults(rand.New(rand.NewPCG(7, 8)))
	require.NoError(t, f.Set([]simctl.Rule{
		{Service: "seqr", Operation: "sendInvoice", Mode: simctl.ModeDrop, Count: 2},
		{Service: "seqr", Operation: "*", LatencyMs: 5},
	}))
	a, ok := f.Match("seqr", "sendInvoice")
	require.True(t, ok)
	assert.Equal(t, simctl.ModeDrop, a.Mode)
	_, _ = f.Match("seqr", "sendInvoice")
	a, ok = f.Match("seqr", "sendInvoice")
	require.True(t, ok, "after count the next rule applies")
	assert.Equal(t, simctl.ModeNone, a.Mode)
	assert.Equal(t, 5*time.Millisecond, a.Latency)
	_, ok = f.Match("resurs", "x")
	assert.False(t, ok)
	rules := f.Rules()
	assert.Equal(t, 2, rules[0].Fired)
	assert.Equal(t, 1, rules[1].Fired)

	var nilFaults *simctl.Faults
	_, ok = nilFaults.Match("seqr", "x")
	assert.False(t, ok)
	f.Clear()
	_, ok = f.Match("seqr", "sendInvoice")
	assert.False(t, ok)
}

func TestFaultsRateIsSeeded(t *testing.T) {
	hits := func(seed uint64) int {
		f := simctl.NewFaults(rand.New(rand.NewPCG(seed, 1)))
		require.NoError(t, f.Set([]simctl.Rule{{Mode: simctl.ModeHTTP500, FailureRate: ptr(0.25)}}))
		n := 0
		for range 1000 {
			if _, ok := f.Match("seqr", "getPaymentStatus"); ok {
				n++
			}
		}
		return n
	}
	a, b := hits(42), hits(42)
	assert.Equal(t, a, b, "same seed, same failures")
	assert.InDelta(t, 250, a, 60)
	f := simctl.NewFaults(nil)
	require.NoError(t, f.Set([]simctl.Rule{{Mode: simctl.ModeReset, FailureRate: ptr(0.0)}}))
	_, ok := f.Match("seqr", "x")
	assert.False(t, ok, "rate 0 never fires")
}

func TestMiddleware(t *testing.T) {
	f := simctl.NewFaults(nil)
	var processed int
	var mu sync.Mutex
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		processed++
		mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	})
	respond := func(w http.ResponseWriter, _ *http.Request, a simctl.Action) {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = fmt.Fprintf(w, "mode=%s code=%d", a.Mode, a.Code)
	}
	h := f.Middleware("resurs", func(r *http.Request) string { return r.URL.Path }, respond, next)
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func() (int, string, error) {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get(srv.URL + "/payments")
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	tests := []struct {
		rule      simctl.Rule
		status    int
		body      string
		wantErr   bool
		processed int
	}{
		{rule: simctl.Rule{Service: "seqr", Mode: simctl.ModeHTTP500}, status: 200, body: "ok", processed: 1},
		{rule: simctl.Rule{Operation: "/payments", Mode: simctl.ModeResultCode, Code: 409}, status: 502, body: "mode=resultCode code=409"},
		{rule: simctl.Rule{Mode: simctl.ModeHTTP500}, status: 502, body: "mode=http500 code=0"},
		{rule: simctl.Rule{Mode: simctl.ModeDrop}, wantErr: true},
		{rule: simctl.Rule{Mode: simctl.ModeReset, Process: true}, wantErr: true, processed: 1},
		{rule: simctl.Rule{LatencyMs: 1}, status: 200, body: "ok", processed: 1},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%s", tc.rule.Service, tc.rule.Mode), func(t *testing.T) {
			require.NoError(t, f.Set([]simctl.Rule{tc.rule}))
			mu.Lock()
			processed = 0
			mu.Unlock()
			status, body, err := get()
			if tc.wantErr {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
				assert.Equal(t, tc.status, status)
				assert.Equal(t, tc.body, body)
			}
			mu.Lock()
			assert.Equal(t, tc.processed, processed)
			mu.Unlock()
		})
	}
}

func TestControlHandler(t *testing.T) {
	c := &simctl.Control{Calls: simctl.NewCallLog(0), Faults: simctl.NewFaults(nil)}
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	do := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, body := do("POST", "/sim/faults", `[{"service":"seqr","operation":"*","latencyMs":10,"failureRate":0.5,"mode":"drop","count":3}]`)
	assert.Equal(t, 200, status, body)
	assert.JSONEq(t, `{"rules":[{"service":"seqr","operation":"*","latencyMs":10,"failureRate":0.5,"mode":"drop","count":3,"fired":0}]}`, body)
	status, body = do("POST", "/sim/faults", `{"rules":[]} trailing`)
	assert.Equal(t, 400, status, body)
	status, _ = do("DELETE", "/sim/faults", "")
	assert.Equal(t, 204, status)
	_, body = do("GET", "/sim/faults", "")
	assert.JSONEq(t, `{"rules":[]}`, body)
	c.Calls.Add(simctl.Call{Service: "seqr", Operation: "x"})
	_, body = do("GET", "/sim/calls?service=resurs", "")
	assert.JSONEq(t, `{"calls":[]}`, body)

	rec := httptest.NewRecorder()
	simctl.WriteProblem(rec, 404, "no invoice waiting on this till", "seqrId", "")
	assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	assert.JSONEq(t, `{"type":"about:blank","title":"no invoice waiting on this till","status":404,"field":"seqrId"}`, rec.Body.String())
}
