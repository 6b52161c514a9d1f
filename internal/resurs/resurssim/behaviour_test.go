package resurssim_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/posd/posd/internal/resurs/resurssim"
	"github.com/posd/posd/internal/simctl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func (e *env) session(t *testing.T, id string) map[string]any {
	t.Helper()
	r := e.do(http.MethodGet, "/sim/resurs/sessions/"+id, "", "", "", "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	return r.json(t)
}

// C.4: each test person behaves as the published test data says, with the
// delays on the emulator's clock.
func TestTestPeople(t *testing.T) {
	e := newEnv(t)
	// rejected
	sid := e.create("REJ-1", oneLine)
	m := e.complete(sid, "197211072793", "invoice", false)
	assert.Equal(t, "REJECTED", m["state"])
	assert.NotEmpty(t, m["message"])
	r := e.pos(http.MethodGet, "/pos/payments/"+sid, "")
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.Equal(t, "REJECTED", r.json(t)["sessionStatus"])

	// frozen, thawed after 5 s: a POS payment is then finalized
	e.book("THAW-1", oneLine, "198001010001", "invoice", false)
	st, _, body := e.statuses("THAW-1")
	assert.Equal(t, []string{"DEBITABLE"}, st)
	assert.Contains(t, body, "<frozen>true</frozen>")
	e.clock.Add(4 * time.Second)
	st, _, _ = e.statuses("THAW-1")
	assert.Equal(t, []string{"DEBITABLE"}, st, "still frozen at 4 s")
	e.clock.Add(time.Second)
	st, _, body = e.statuses("THAW-1")
	assert.Equal(t, []string{"CREDITABLE", "IS_DEBITED"}, st)
	assert.Contains(t, body, "<frozen>false</frozen>")

	// frozen, annulled after 10 min, compressed by the control API
	e.book("ANN-1", oneLine, "198909194451", "invoice", false)
	r = e.control("/sim/resurs/clock/advance", `{"duration":"10m"}`)
	require.Equal(t, http.StatusOK, r.status, r.body)
	st, total, _ := e.statuses("ANN-1")
	assert.Equal(t, []string{"IS_ANNULLED"}, st)
	assert.Equal(t, "0.00000", total)

	// manual inspection: approved after 10 s, rejected after 5 min
	ok := e.create("INS-1", oneLine)
	no := e.create("INS-2", oneLine)
	assert.Equal(t, "INSPECTION", e.complete(ok, "199105149612", "part_payment", false)["state"])
	assert.Equal(t, "INSPECTION", e.complete(no, "198810112394", "invoice", false)["state"])
	e.clock.Add(10 * time.Second)
	assert.Equal(t, "BOOKED", e.session(t, ok)["state"])
	assert.Equal(t, "INSPECTION", e.session(t, no)["state"])
	e.clock.Add(5 * time.Minute)
	assert.Equal(t, "REJECTED", e.session(t, no)["state"])

	// companies are refused at a POS; no new account for 198801082382
	assert.Equal(t, "REJECTED", e.complete(e.create("CO-1", oneLine), "166997368573", "invoice", false)["state"])
	assert.Equal(t, "REJECTED", e.complete(e.create("NNA-1", oneLine), "198801082382", "part_payment", false)["state"])
	assert.Equal(t, "BOOKED", e.complete(e.create("NNA-2", oneLine), "8305147715", "invoice", false)["state"], "the 10-digit form")

	r = e.control("/sim/resurs/sessions/"+e.create("BAD-1", oneLine)+"/complete", `{"governmentId":"abc","method":"invoice"}`)
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Contains(t, r.body, `"field":"governmentId"`)
}

// A.6: "Betala sen" link valid-to, expiry and the expire control.
func TestLaterExpiry(t *testing.T) {
	e := newEnv(t)
	sid := e.create("EXP-1", oneLine)
	in, err := e.sim.SendLater(sid, time.Time{})
	require.NoError(t, err)
	assert.Equal(t, "LINK_SENT", in.State)
	require.NotNil(t, in.ValidTo)
	assert.Equal(t, e.clock.Now().Add(24*time.Hour).UTC().Format(time.RFC3339), *in.ValidTo)
	e.clock.Add(24 * time.Hour)
	assert.Equal(t, "EXPIRED", e.session(t, sid)["state"])
	r := e.control("/sim/resurs/sessions/"+sid+"/complete", `{"governmentId":"198305147715","method":"invoice","later":true}`)
	assert.Equal(t, http.StatusConflict, r.status)

	sid = e.create("EXP-2", oneLine)
	r = e.control("/sim/resurs/sessions/"+sid+"/expire", "")
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "EXPIRED", r.json(t)["state"])
	r = e.pos(http.MethodGet, "/pos/payments/EXP-2", "")
	assert.Equal(t, "EXPIRED", r.json(t)["sessionStatus"])
	assert.Equal(t, http.StatusOK, e.pos(http.MethodPost, "/pos/payments/EXP-2", oneLine).status, "an expired reference may be used again")
}

// The checkout page: form, BankID step, result; and the "Betala sen" link page.
func TestCheckoutPage(t *testing.T) {
	e := newEnv(t)
	sid := e.create("PAGE-1", oneLine)
	r := e.do(http.MethodGet, "/web/dist/omni-checkout.html?"+sid, "", "", "", "")
	require.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, r.body, `id="governmentId"`)
	assert.Contains(t, r.body, "<strong id=\"amount\">625,00\u00a0kr</strong>", "Swedish amount: comma, two decimals, no-break space")
	assert.NotContains(t, r.body, "http://", "no external assets")
	form := url.Values{"governmentId": {"198305147715"}, "mobile": {"0701112233"}, "email": {"a@b.se"}, "method": {"invoice"}}
	r = e.do(http.MethodPost, "/web/checkout/"+sid+"/sign", "application/x-www-form-urlencoded", form.Encode(), "", "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Contains(t, r.body, "BankID")
	r = e.do(http.MethodPost, "/web/checkout/"+sid+"/complete", "application/x-www-form-urlencoded", form.Encode(), "", "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Contains(t, r.body, `data-state="BOOKED"`)
	st, _, body := e.statuses("PAGE-1")
	assert.Equal(t, []string{"CREDITABLE", "IS_DEBITED"}, st)
	assert.Contains(t, body, "<email>a@b.se</email>")

	sid = e.create("PAGE-2", oneLine)
	form.Set("later", "1")
	form.Set("validHours", "48")
	r = e.do(http.MethodPost, "/web/checkout/"+sid+"/sign", "application/x-www-form-urlencoded", form.Encode(), "", "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Contains(t, r.body, "/web/later/"+sid)
	assert.Contains(t, r.body, "2026-03-04 11:00", "valid-to 48 h ahead in Swedish time")
	r = e.do(http.MethodGet, "/web/later/"+sid, "", "", "", "")
	require.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, r.body, "Betala ditt köp")
	form.Del("later")
	r = e.do(http.MethodPost, "/web/checkout/"+sid+"/sign", "application/x-www-form-urlencoded", form.Encode(), "", "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	r = e.do(http.MethodPost, "/web/checkout/"+sid+"/complete", "application/x-www-form-urlencoded", form.Encode(), "", "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	st, _, _ = e.statuses("PAGE-2")
	assert.Equal(t, []string{"DEBITABLE"}, st, "a Betala sen payment waits for finalizePayment")

	r = e.do(http.MethodGet, "/web/dist/omni-checkout.html?nope", "", "", "", "")
	assert.Equal(t, http.StatusNotFound, r.status)
}

// The shared call log and fault injection.
func TestCallLogAndFaults(t *testing.T) {
	e := newEnv(t)
	e.book("LOG-1", oneLine, "198305147715", "invoice", true)
	e.soap("getPayment", "<paymentId>NOPE</paymentId>")
	r := e.do(http.MethodGet, "/sim/calls?service=resurs", "", "", "", "")
	var calls simctl.CallsResponse
	require.NoError(t, json.Unmarshal([]byte(r.body), &calls))
	require.Len(t, calls.Calls, 2)
	assert.Equal(t, "createPayment", calls.Calls[0].Operation)
	assert.Equal(t, "LOG-1", calls.Calls[0].Reference)
	assert.Equal(t, 200, *calls.Calls[0].ResultCode)
	assert.Equal(t, "getPayment", calls.Calls[1].Operation)
	assert.Equal(t, 8, *calls.Calls[1].ResultCode)
	assert.Contains(t, calls.Calls[1].Fault, "REFERENCED_DATA_DONT_EXISTS")

	require.NoError(t, e.faults.Set([]simctl.Rule{
		{Service: "resurs", Operation: "finalizePayment", Mode: simctl.ModeHTTP500, Process: true, Count: 1},
		{Service: "resurs", Operation: "getPayment", Mode: simctl.ModeResultCode, Code: 3, Count: 1},
		{Service: "resurs", Operation: "createPayment", Mode: simctl.ModeDrop, Count: 1},
		{Service: "resurs", Operation: "token", Mode: simctl.ModeHTTP500, Count: 1},
	}))
	r = e.soap("finalizePayment", "<paymentId>LOG-1</paymentId>")
	assert.Equal(t, http.StatusInternalServerError, r.status)
	assert.NotContains(t, r.body, "ECommerceError")
	r = e.soap("getPayment", "<paymentId>LOG-1</paymentId>")
	assert.Equal(t, "3", faultID(r))
	st, _, _ := e.statuses("LOG-1")
	assert.Equal(t, []string{"CREDITABLE", "IS_DEBITED"}, st, "the processed finalize took effect")
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/pos/payments/LOG-2", strings.NewReader(oneLine))
	req.SetBasicAuth(resurssim.TestUser, resurssim.TestPassword)
	_, err := e.srv.Client().Do(req)
	assert.Error(t, err, "dropped connection")
	r = e.do(http.MethodPost, resurssim.PathToken, "application/json", `{}`, "", "")
	assert.Equal(t, http.StatusInternalServerError, r.status)
	assert.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
	r = e.do(http.MethodGet, "/sim/calls?service=resurs&op=createPayment", "", "", "", "")
	require.NoError(t, json.Unmarshal([]byte(r.body), &calls))
	assert.Equal(t, "injected drop", calls.Calls[len(calls.Calls)-1].Fault)
}

// Injected faults on Checkout POS answer in its own error shapes (A.4).
func TestPOSInjectedErrors(t *testing.T) {
	e := newEnv(t)
	require.NoError(t, e.faults.Set([]simctl.Rule{
		{Service: "resurs", Operation: "createPayment", Mode: simctl.ModeHTTP500, Count: 1},
		{Service: "resurs", Operation: "createPayment", Mode: simctl.ModeResultCode, Code: 409, Count: 1},
		{Service: "resurs", Operation: "getPayment", Mode: simctl.ModeHTTP500, Process: true, Count: 1},
	}))
	r := e.pos(http.MethodPost, "/pos/payments/INJ-1", oneLine)
	assert.Equal(t, http.StatusInternalServerError, r.status)
	assert.JSONEq(t, `{"message":"Internal error"}`, r.body)
	r = e.pos(http.MethodPost, "/pos/payments/INJ-1", oneLine)
	assert.Equal(t, http.StatusConflict, r.status)
	assert.JSONEq(t, `{"message":"Injected error"}`, r.body)
	r = e.pos(http.MethodPost, "/pos/payments/INJ-1", oneLine)
	assert.Equal(t, http.StatusOK, r.status, "the rules are used up")
	r = e.pos(http.MethodGet, "/pos/payments/INJ-1", "")
	assert.Equal(t, http.StatusInternalServerError, r.status)
}

// Many tills at once: sessions, bookings, after-shop calls and reads run
// concurrently (run under -race), and every payment ends as driven.
func TestConcurrentTills(t *testing.T) {
	e := newEnv(t)
	const tills = 8
	errs := make(chan string, tills)
	for i := range tills {
		go func() {
			ref := fmt.Sprintf("TILL%d-1", i)
			msg := ""
			defer func() { errs <- msg }()
			r := e.do(http.MethodPost, "/pos/payments/"+ref, "application/json", oneLine, resurssim.TestUser, resurssim.TestPassword)
			var created struct {
				PaymentSessionID string `json:"paymentSessionId"`
			}
			if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &created) != nil {
				msg = ref + " create: " + r.body
				return
			}
			r = e.do(http.MethodPost, "/sim/resurs/sessions/"+created.PaymentSessionID+"/complete", "application/json",
				`{"governmentId":"198305147715","method":"invoice","later":true}`, "", "")
			if r.status != http.StatusOK {
				msg = ref + " complete: " + r.body
				return
			}
			body := soapOpen + "<aft:finalizePayment><paymentId>" + ref + "</paymentId></aft:finalizePayment>" + soapClose
			r = e.do(http.MethodPost, resurssim.PathAfterShop, "text/xml", body, resurssim.TestUser, resurssim.TestPassword)
			if r.status != http.StatusOK {
				msg = ref + " finalize: " + r.body
			}
		}()
	}
	for range tills {
		assert.Empty(t, <-errs)
	}
	r := e.soap("calculateResultSize", "<searchCriteria><statusSet>IS_DEBITED</statusSet></searchCriteria>")
	assert.Contains(t, r.body, fmt.Sprintf("<return>%d</return>", tills))
}
