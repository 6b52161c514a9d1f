package seqrsim_test

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/posd/posd/internal/seqr/seqrsim"
	"github.com/posd/posd/internal/simctl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// doJSON sends a control-API request and decodes the JSON answer into out.
func (e *env) doJSON(method, path, body string, out any) (int, http.Header) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	require.NoError(e.t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	if out != nil && len(b) > 0 {
		require.NoError(e.t, json.Unmarshal(b, out), string(b))
	}
	return resp.StatusCode, resp.Header
}

func TestControlScanPayInvoices(t *testing.T) {
	e := newEnv(t)
	id, pw := e.till("TILL1")

	var prob simctl.Problem
	status, h := e.doJSON("POST", "/sim/seqr/scan", `{"seqrId":"TILL1"}`, &prob)
	assert.Equal(t, http.StatusNotFound, status)
	assert.Equal(t, "application/problem+json", h.Get("Content-Type"))
	assert.Equal(t, "no invoice waiting on this till", prob.Title)
	assert.Equal(t, "seqrId", prob.Field)

	status, _ = e.doJSON("POST", "/sim/seqr/scan", `{"seqrId":"NOPE"}`, &prob)
	assert.Equal(t, http.StatusNotFound, status)

	ref := e.send(id, pw)
	var w map[string]any
	status, _ = e.doJSON("POST", "/sim/seqr/scan", `{"seqrId":"TILL1"}`, &w)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, map[string]any{"invoiceReference": ref, "amount": "20.00", "currency": "SEK", "title": "My Shop", "till": "My Shop, till 2", "status": "ISSUED"}, w)

	bad := []struct{ body, field string }{
		{`{"outcome":"paid"}`, "seqrId"},
		{`{"seqrId":"TILL1","invoiceReference":"` + ref + `","outcome":"paid"}`, "invoiceReference"},
		{`{"seqrId":"TILL1","outcome":"maybe"}`, "outcome"},
		{`{"seqrId":"TILL1","outcome":"paid","tip":1}`, "body"},
		{`not json`, "body"},
	}
	for _, b := range bad {
		prob = simctl.Problem{}
		status, _ = e.doJSON("POST", "/sim/seqr/pay", b.body, &prob)
		assert.Equal(t, http.StatusBadRequest, status, b.body)
		assert.Equal(t, b.field, prob.Field, b.body)
	}

	var info seqrsim.InvoiceInfo
	status, _ = e.doJSON("POST", "/sim/seqr/pay", `{"seqrId":"TILL1","outcome":"paid"}`, &info)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "PAID", info.Status)
	assert.Equal(t, 2, info.Version)
	assert.NotEmpty(t, info.ERSReference)

	status, _ = e.doJSON("POST", "/sim/seqr/pay", `{"invoiceReference":"`+ref+`","outcome":"reject"}`, &prob)
	assert.Equal(t, http.StatusConflict, status)
	assert.Equal(t, "invoiceReference", prob.Field)
	status, _ = e.doJSON("POST", "/sim/seqr/pay", `{"invoiceReference":"999","outcome":"paid"}`, &prob)
	assert.Equal(t, http.StatusNotFound, status)

	e.clock.Advance(3 * time.Second)
	e.status(id, pw, ref)
	var raw map[string]any
	status, _ = e.doJSON("GET", "/sim/seqr/invoices/"+ref, "", &raw)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "PAID", raw["status"])
	assert.Equal(t, float64(2), raw["version"])
	assert.Equal(t, false, raw["reversed"])
	assert.Equal(t, float64(1), raw["polls"])
	assert.Equal(t, "2015-10-29T10:18:51.663+01:00", raw["lastPollAt"])
	assert.Equal(t, info.ERSReference, raw["ersReference"])

	status, _ = e.doJSON("GET", "/sim/seqr/invoices/nope", "", &prob)
	assert.Equal(t, http.StatusNotFound, status)
	assert.Equal(t, "ref", prob.Field)

	var tills struct{ Tills []seqrsim.TillInfo }
	status, _ = e.doJSON("GET", "/sim/seqr/tills", "", &tills)
	require.Equal(t, http.StatusOK, status)
	assert.NotEmpty(t, tills.Tills)

	resp, err := http.Get(e.srv.URL + "/sim/")
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(page), "/sim/seqr/scan")
	assert.NotContains(t, string(page), "https://", "no external assets")
}

func TestControlCalls(t *testing.T) {
	e := newEnv(t)
	id, pw := e.till("TILL1")
	ref := e.send(id, pw)
	e.clock.Advance(1500 * time.Millisecond)
	e.status(id, pw, ref)
	e.clock.Advance(time.Second)
	e.status(id, pw, ref)
	e.status(id, pw, "404")

	var got simctl.CallsResponse
	status, _ := e.doJSON("GET", "/sim/calls?service=seqr&op=getPaymentStatus&ref="+ref, "", &got)
	require.Equal(t, http.StatusOK, status)
	require.Len(t, got.Calls, 2)
	c := got.Calls[0]
	assert.Equal(t, "getPaymentStatus", c.Operation)
	assert.Equal(t, id, c.PrincipalID)
	assert.Equal(t, ref, c.Reference)
	require.NotNil(t, c.ResultCode)
	assert.Equal(t, 0, *c.ResultCode)
	assert.True(t, c.Time.Equal(time.Date(2015, 10, 29, 10, 18, 50, 163_000_000, cet)), c.Time)
	assert.Less(t, c.Seq, got.Calls[1].Seq)
	assert.Equal(t, "ISSUED", c.Detail["status"])

	// The JSON time is RFC 3339 with nanoseconds.
	var raw struct{ Calls []map[string]any }
	e.doJSON("GET", "/sim/calls?ref="+ref, "", &raw)
	require.Len(t, raw.Calls, 3, "sendInvoice is logged under the reference it created")
	assert.Equal(t, "sendInvoice", raw.Calls[0]["operation"])
	assert.Equal(t, "2015-10-29T10:18:48.663+01:00", raw.Calls[0]["time"])
	for _, k := range []string{"operation", "principalId", "invoiceReference", "resultCode", "durationNs", "time"} {
		assert.Contains(t, raw.Calls[1], k)
	}

	e.doJSON("GET", "/sim/calls?op=getPaymentStatus&ref=404", "", &got)
	require.Len(t, got.Calls, 1)
	assert.Equal(t, 54, *got.Calls[0].ResultCode)

	status, _ = e.doJSON("DELETE", "/sim/calls", "", nil)
	assert.Equal(t, http.StatusNoContent, status)
	e.doJSON("GET", "/sim/calls", "", &got)
	assert.Empty(t, got.Calls)
}

func TestControlFaults(t *testing.T) {
	e := newEnv(t)
	id, pw := e.till("TILL1")
	ref := e.send(id, pw)
	statusReq := envelope("getPaymentStatus", termCtx(id, pw)+`<invoiceReference>`+ref+`</invoiceReference><invoiceVersion>1</invoiceVersion>`)

	setRules := func(rules string) {
		var fr simctl.FaultsResponse
		status, _ := e.doJSON("POST", "/sim/faults", rules, &fr)
		require.Equal(t, http.StatusOK, status)
	}
	post := func() (*http.Response, error) {
		// A fresh connection each time, so a dropped one does not poison the pool.
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		return c.Post(e.srv.URL+seqrsim.PathCashRegister2, "text/xml", strings.NewReader(statusReq))
	}

	t.Run("resultCode", func(t *testing.T) {
		setRules(`[{"service":"seqr","operation":"getPaymentStatus","mode":"resultCode","code":93,"count":1}]`)
		resp, err := post()
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, wrapResp("getPaymentStatus", `<resultCode>93</resultCode><resultDescription>SYSTEM_BUSY</resultDescription><version>0</version>`), string(b))
		// count 1: the next call is normal again.
		resp, err = post()
		require.NoError(t, err)
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Contains(t, string(b), "<status>ISSUED</status>")
		var fr simctl.FaultsResponse
		e.doJSON("GET", "/sim/faults", "", &fr)
		require.Len(t, fr.Rules, 1)
		assert.Equal(t, 1, fr.Rules[0].Fired)
	})
	t.Run("http500", func(t *testing.T) {
		setRules(`{"rules":[{"operation":"*","mode":"http500"}]}`)
		resp, err := post()
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
		assert.Equal(t, "soap:Server", field(t, string(b), "faultcode"))
	})
	t.Run("drop", func(t *testing.T) {
		setRules(`[{"service":"seqr","operation":"getPaymentStatus","mode":"drop","latencyMs":1}]`)
		_, err := post()
		require.Error(t, err)
		assert.ErrorIs(t, err, io.EOF)
	})
	t.Run("reset", func(t *testing.T) {
		setRules(`[{"service":"seqr","operation":"getPaymentStatus","mode":"reset"}]`)
		_, err := post()
		require.Error(t, err)
		assert.True(t, errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF), err)
		var op *net.OpError
		if errors.As(err, &op) {
			assert.ErrorIs(t, err, syscall.ECONNRESET)
		}
	})
	t.Run("drop after processing", func(t *testing.T) {
		setRules(`[{"service":"seqr","operation":"sendInvoice","mode":"drop","process":true}]`)
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		_, err := c.Post(e.srv.URL+seqrsim.PathCashRegister2, "text/xml", strings.NewReader(envelope("sendInvoice", termCtx(id, pw)+sendXML)))
		require.Error(t, err)
		// The invoice exists although the till never learnt its reference.
		tills := e.sim.Tills()
		var waiting *seqrsim.Waiting
		for _, ti := range tills {
			if ti.SeqrID == "TILL1" {
				waiting = ti.Waiting
			}
		}
		require.NotNil(t, waiting)
		assert.NotEqual(t, ref, waiting.InvoiceReference)
	})
	t.Run("client gives up while the answer is held after processing", func(t *testing.T) {
		before := waitingRef(e.sim.Tills(), "TILL1")
		setRules(`[{"service":"seqr","operation":"sendInvoice","mode":"drop","process":true,"latencyMs":60000}]`)
		c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		_, err := c.Post(e.srv.URL+seqrsim.PathCashRegister2, "text/xml", strings.NewReader(envelope("sendInvoice", termCtx(id, pw)+sendXML)))
		require.Error(t, err, "the client timed out")
		// The request took effect before the answer was held: a new invoice waits.
		after := waitingRef(e.sim.Tills(), "TILL1")
		assert.NotEmpty(t, after)
		assert.NotEqual(t, before, after)
	})
	t.Run("bad rules name the field", func(t *testing.T) {
		for body, field := range map[string]string{
			`[{"mode":"explode"}]`:                             "rules[0].mode",
			`[{"mode":"resultCode"}]`:                          "rules[0].code",
			`[{},{"failureRate":2}]`:                           "rules[1].failureRate",
			`[{"latencyMs":-1}]`:                               "rules[0].latencyMs",
			`[{"count":-1}]`:                                   "rules[0].count",
			`[{"mode":"drop","code":5}]`:                       "rules[0].code",
			`[{"unknown":1}]`:                                  "rules",
			`[{"mode":"resultCode","code":93,"process":true}]`: "rules[0].process",
		} {
			var prob simctl.Problem
			status, _ := e.doJSON("POST", "/sim/faults", body, &prob)
			assert.Equal(t, http.StatusBadRequest, status, body)
			assert.Equal(t, field, prob.Field, body)
		}
	})
	t.Run("delete", func(t *testing.T) {
		setRules(`[{"mode":"http500"}]`)
		status, _ := e.doJSON("DELETE", "/sim/faults", "", nil)
		assert.Equal(t, http.StatusNoContent, status)
		resp, err := post()
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
	})
	calls := e.calls.Calls(simctlFilter("getPaymentStatus", ref))
	var faults []string
	for _, c := range calls {
		faults = append(faults, c.Fault)
	}
	assert.Contains(t, faults, "injected drop")
	assert.Contains(t, faults, "injected reset")
	assert.Contains(t, faults, "injected http500")
}

// waitingRef is the reference of the invoice waiting on the till with seqrID, "" if none.
func waitingRef(tills []seqrsim.TillInfo, seqrID string) string {
	for _, ti := range tills {
		if ti.SeqrID == seqrID && ti.Waiting != nil {
			return ti.Waiting.InvoiceReference
		}
	}
	return ""
}
