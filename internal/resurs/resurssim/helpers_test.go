package resurssim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posd/posd/internal/resurs/resurssim"
	"github.com/posd/posd/internal/simctl"
	"github.com/stretchr/testify/require"
)

// fakeClock is the emulator's injected clock; tests move it by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t      testing.TB
	sim    *resurssim.Sim
	srv    *httptest.Server
	clock  *fakeClock
	calls  *simctl.CallLog
	faults *simctl.Faults
}

func newEnv(t testing.TB, opts ...func(*resurssim.Options)) *env {
	t.Helper()
	e := &env{t: t, clock: &fakeClock{t: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)},
		calls: simctl.NewCallLog(0), faults: simctl.NewFaults(nil)}
	o := resurssim.Options{Now: e.clock.Now, Calls: e.calls, Faults: e.faults}
	for _, f := range opts {
		f(&o)
	}
	e.sim = resurssim.New(o)
	mux := http.NewServeMux()
	(&simctl.Control{Calls: e.calls, Faults: e.faults}).Register(mux)
	mux.Handle("/", e.sim.Handler())
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

type resp struct {
	status int
	header http.Header
	body   string
}

func (r resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.body), &m), r.body)
	return m
}

// do sends a request; user "" sends no credentials.
func (e *env) do(method, path, contentType, body, user, pass string, hdr ...string) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	require.NoError(e.t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := e.srv.Client().Do(req)
	require.NoError(e.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	return resp{status: res.StatusCode, header: res.Header, body: string(b)}
}

func (e *env) pos(method, path, body string) resp {
	e.t.Helper()
	return e.do(method, path, "application/json", body, resurssim.TestUser, resurssim.TestPassword)
}

func (e *env) control(path, body string) resp {
	e.t.Helper()
	return e.do(http.MethodPost, path, "application/json", body, "", "")
}

const oneLine = `{"orderLines":[{"artNo":"1","description":"Kaffe","quantity":1,"unitMeasure":"st","unitAmountWithoutVat":500,"vatPct":25}],"shopUrl":"http://127.0.0.1","storeId":"101"}`

// discountBody is the doc's discount example: 1000 + 250 - 150 incl. 25 % VAT = 1100, VAT 220.
const discountBody = `{"orderLines":[
 {"artNo":"A","description":"Vara","quantity":1,"unitAmountWithoutVat":800,"vatPct":25},
 {"artNo":"B","description":"Vara 2","quantity":1,"unitAmountWithoutVat":200,"vatPct":25},
 {"artNo":"R","description":"Rabatt","quantity":1,"unitAmountWithoutVat":-120,"vatPct":25,"type":"DISCOUNT"}]}`

// create posts a session and returns its paymentSessionId.
func (e *env) create(ref, body string) string {
	e.t.Helper()
	r := e.pos(http.MethodPost, "/pos/payments/"+ref, body)
	require.Equal(e.t, http.StatusOK, r.status, r.body)
	id, _ := r.json(e.t)["paymentSessionId"].(string)
	require.NotEmpty(e.t, id)
	return id
}

func (e *env) complete(sessionID, gov, method string, later bool) map[string]any {
	e.t.Helper()
	b, _ := json.Marshal(map[string]any{"governmentId": gov, "method": method, "later": later})
	r := e.control("/sim/resurs/sessions/"+sessionID+"/complete", string(b))
	require.Equal(e.t, http.StatusOK, r.status, r.body)
	return r.json(e.t)
}

// book creates and completes a session in one go.
func (e *env) book(ref, body, gov, method string, later bool) {
	e.t.Helper()
	e.complete(e.create(ref, body), gov, method, later)
}

const soapOpen = `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:aft="http://ecommerce.resurs.com/v4/msg/aftershopflow"><soapenv:Header/><soapenv:Body>`
const soapClose = `</soapenv:Body></soapenv:Envelope>`

// soap posts one After Shop operation; inner is the wrapper's content.
func (e *env) soap(op, inner string) resp {
	e.t.Helper()
	body := soapOpen + "<aft:" + op + ">" + inner + "</aft:" + op + ">" + soapClose
	return e.do(http.MethodPost, resurssim.PathAfterShop, "text/xml; charset=utf-8", body, resurssim.TestUser, resurssim.TestPassword)
}

// faultID returns the errorTypeId of a fault answer, or -1.
func faultID(r resp) string {
	m := regexp.MustCompile(`<errorTypeId>(\d+)</errorTypeId>`).FindStringSubmatch(r.body)
	if m == nil {
		return "-1"
	}
	return m[1]
}

// elems returns the text of every element with that local name.
func elems(body, name string) []string {
	re := regexp.MustCompile(`<` + name + `>([^<]*)</` + name + `>`)
	var out []string
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// statuses returns the payment-level status flags of a getPayment answer.
func (e *env) statuses(id string) (status []string, total string, body string) {
	e.t.Helper()
	r := e.soap("getPayment", "<paymentId>"+id+"</paymentId>")
	require.Equal(e.t, http.StatusOK, r.status, r.body)
	// The payment's totalAmount follows <id>; diff spec totals come later.
	m := regexp.MustCompile(`<return><id>[^<]*</id><totalAmount>([^<]*)</totalAmount>`).FindStringSubmatch(r.body)
	require.NotNil(e.t, m, r.body)
	return elems(r.body, "status"), m[1], r.body
}
