package paysonsim_test

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/posd/posd/internal/payson/paysonsim"
	"github.com/posd/posd/internal/simctl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// E.28: the test agent reads its account; the quoted-base64 doc variant is 401.
func TestE28Account(t *testing.T) {
	e := newEnv(t, paysonsim.Options{})
	a := e.api("GET", "/2.0/Accounts", "")
	require.Equal(t, 200, a.status, a.body)
	assert.Equal(t, json.Number("4"), json.Number(string(mustJSON(t, a.json["merchantId"]))))
	assert.Equal(t, paysonsim.TestAccountEmail, a.json["accountEmail"])
	assert.Equal(t, 200, e.api("GET", "/2.0/Accounts/", "").status, "SDKs also use /Accounts/")

	quoted := "Basic JzQ6MmFjYWIzMGQtZmU1MC00MjZmLTkwZDctOGM2MGE3ZWIzMWQ0Jw=="
	for _, auth := range []string{quoted, "", "Basic NDp3cm9uZw==", "Bearer x"} {
		a := e.do("GET", "/2.0/Accounts", auth, "")
		assert.Equal(t, 401, a.status, auth)
		assert.NotEmpty(t, props(a), "401 names a property")
	}
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// E.29: a minimal create answers 201 with an absolute Location on the
// emulator's own base, status created, no purchaseId and D.7 totals.
func TestE29Create(t *testing.T) {
	e := newEnv(t, paysonsim.Options{})
	a := e.api("POST", "/2.0/Checkouts", minimalBody("https://shop.example/notify"))
	require.Equal(t, 201, a.status, a.body)
	id := a.json["id"].(string)
	assert.Equal(t, e.srv.URL+"/2.0/Checkouts/"+id, a.header.Get("Location"))
	assert.Equal(t, "created", a.json["status"])
	assert.Nil(t, a.json["purchaseId"])
	assert.Contains(t, a.body, `"totalPriceIncludingTax":399.00`)
	assert.Contains(t, a.body, `"totalPriceExcludingTax":319.20`)
	assert.Contains(t, a.body, `"totalTaxAmount":79.80`)
	item := path(a.json, "order", "items").([]any)[0].(map[string]any)
	assert.Len(t, item["itemId"], 36)
	assert.Equal(t, "physical", item["type"])
	assert.NotEmpty(t, item["reference"])
	assert.Contains(t, a.json["snippet"], paysonsim.SnippetURL(e.srv.URL, id))
	assert.NotNil(t, path(a.json, "history", "created"))
	// every merchant member is present, null allowed (I.18)
	for _, k := range []string{"checkoutUri", "confirmationUri", "notificationUri", "termsUri", "validationUri", "reference", "partnerId", "integrationInfo"} {
		_, ok := path(a.json, "merchant").(map[string]any)[k]
		assert.True(t, ok, k)
	}
	g := e.api("GET", "/2.0/checkouts/"+id, "")
	require.Equal(t, 200, g.status)
	assert.Equal(t, id, g.json["id"])
}

// E.30 and I.10-12: lower-cased keys (PHP), PascalCase with integer enums
// and the all-zero GUID (.NET, posted to //checkouts), nulls and "" (PHP).
func TestE30KeysAndEnums(t *testing.T) {
	e := newEnv(t, paysonsim.Options{})
	want := e.api("POST", "/2.0/Checkouts", minimalBody("https://shop.example/notify"))
	require.Equal(t, 201, want.status)
	bodies := map[string]string{
		"lower": lowerKeys(t, minimalBody("https://shop.example/notify")),
		"dotnet": `{"Id":"00000000-0000-0000-0000-000000000000","Status":0,"Merchant":{"CheckoutUri":"https://shop.example/checkout",
"ConfirmationUri":"https://shop.example/confirm","NotificationUri":"https://shop.example/notify","TermsUri":"https://shop.example/terms","Reference":"P-0001"},
"Order":{"Currency":1,"Items":[{"ItemId":"00000000-0000-0000-0000-000000000000","Name":"Shirt","UnitPrice":399.0,"Quantity":1.0,"TaxRate":0.25,"Type":0}]},
"Customer":{"Type":0},"Gui":{"ColorScheme":1,"RequestPhone":false}}`,
		"php": `{"id":null,"status":null,"expirationTime":"","gui":[],"customer":[],"merchant":{"checkouturi":"https://shop.example/checkout",
"confirmationuri":"https://shop.example/confirm","notificationuri":"https://shop.example/notify","termsuri":"https://shop.example/terms","reference":"P-0001","integrationinfo":"PP_PHP|2.1.5|x"},
"order":{"currency":"sek","items":[{"name":"Shirt","unitprice":"399.00","quantity":"1","taxrate":"0.25"}]}}`,
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			p := "/2.0/Checkouts"
			if name == "dotnet" {
				p = "/2.0//checkouts"
			}
			a := e.api("POST", p, body)
			require.Equal(t, 201, a.status, a.body)
			assert.Equal(t, "created", a.json["status"])
			assert.Equal(t, path(want.json, "order", "totalPriceIncludingTax"), path(a.json, "order", "totalPriceIncludingTax"))
			assert.Equal(t, path(want.json, "order", "totalTaxAmount"), path(a.json, "order", "totalTaxAmount"))
			assert.Equal(t, "SEK", path(a.json, "order", "currency"))
			assert.Equal(t, "P-0001", path(a.json, "merchant", "reference"))
			assert.NotEqual(t, "00000000-0000-0000-0000-000000000000", path(a.json, "order", "items").([]any)[0].(map[string]any)["itemId"])
		})
	}
	// paths are case-insensitive with empty segments collapsed
	id := want.json["id"].(string)
	assert.Equal(t, 200, e.api("GET", "/2.0//CHECKOUTS//"+strings.ToUpper(id), "").status)
}

// E.31: missing termsUri, NOK, a 201-character name and taxRate 25 -> 400
// naming each property.
func TestE31Validation(t *testing.T) {
	e := newEnv(t, paysonsim.Options{})
	body := `{"merchant":{"checkoutUri":"https://shop.example/checkout","confirmationUri":"https://shop.example/confirm",
"notificationUri":"https://shop.example/notify"},
"order":{"currency":"NOK","items":[{"name":"` + strings.Repeat("x", 201) + `","unitPrice":399,"quantity":1,"taxRate":25}]}}`
	a := e.api("POST", "/2.0/Checkouts", body)
	require.Equal(t, 400, a.status, a.body)
	assert.ElementsMatch(t, []string{"merchant.termsUri", "order.currency", "order.items[0].name", "order.items[0].taxRate"}, props(a))
	assert.Equal(t, 0, e.sim.Count())

	for name, tc := range map[string]struct{ body, prop string }{
		"below limit": {strings.Replace(minimalBody("https://shop.example/notify"), `"unitPrice":399`, `"unitPrice":3.99`, 1), "order.totalPriceIncludingTax"},
		"not json":    {`{"merchant":`, "body"},
		"given id":    {strings.Replace(minimalBody("https://shop.example/notify"), `{"merchant"`, `{"id":"3f0c","merchant"`, 1), "id"},
	} {
		a := e.api("POST", "/2.0/Checkouts", tc.body)
		assert.Equal(t, 400, a.status, name)
		assert.Contains(t, props(a), tc.prop, name)
	}
	// unknown id: 404 with a property
	a = e.api("GET", "/2.0/Checkouts/5b1d7a4e-0000-4000-8000-000000000000", "")
	assert.Equal(t, 404, a.status)
	assert.Equal(t, []string{"id"}, props(a))
}

// notifySink records notification requests and answers from a script.
type notifySink struct {
	srv  *httptest.Server
	got  chan string
	code chan int
}

func newSink(t *testing.T) *notifySink {
	s := &notifySink{got: make(chan string, 100), code: make(chan int, 100)}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := http.StatusOK
		select {
		case code = <-s.code:
		default:
		}
		s.got <- r.Method + " " + r.URL.RequestURI()
		w.WriteHeader(code)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *notifySink) next(t *testing.T) string {
	t.Helper()
	select {
	case v := <-s.got:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("no notification arrived")
		return ""
	}
}

// E.32: a simulated payment makes readyToShip with a purchaseId and history,
// and the notification is POSTed with checkout={id}, the URI's own query
// kept; non-200 answers are retried within 24 h of emulator time.
func TestE32PayAndNotify(t *testing.T) {
	e := newEnv(t, paysonsim.Options{})
	sink := newSink(t)
	co := e.create(sink.srv.URL + "/notify?ref=co2")
	id := co["id"].(string)
	sink.code <- 500 // the first delivery fails
	a := e.do("POST", "/sim/payson/checkouts/"+id+"/pay", "", `{"method":"invoice"}`)
	require.Equal(t, 200, a.status, a.body)
	assert.Equal(t, "readyToShip", a.json["status"])
	assert.Equal(t, "POST /notify?checkout="+id+"&ref=co2", sink.next(t))
	e.waitNotifications(1)

	g := e.api("GET", "/2.0/Checkouts/"+id, "")
	assert.Equal(t, "readyToShip", g.json["status"])
	pid, ok := g.json["purchaseId"].(float64)
	require.True(t, ok, g.body)
	assert.Positive(t, pid)
	assert.NotNil(t, path(g.json, "history", "readyToShip"))
	assert.NotNil(t, path(g.json, "history", "readyToPay"))
	assert.Equal(t, "invoice", g.json["paymentType"])
	assert.NotNil(t, path(g.json, "customer", "firstName"), "the customer filled in the form")

	// The retry comes when emulator time passes, not before.
	require.Equal(t, 1, e.sim.Pending())
	a = e.do("POST", "/sim/clock/advance", "", `{"by":"2m"}`)
	require.Equal(t, 200, a.status, a.body)
	assert.Equal(t, "POST /notify?checkout="+id+"&ref=co2", sink.next(t))
	calls := e.waitNotifications(2)
	assert.Equal(t, 500, *calls[0].ResultCode)
	assert.Equal(t, 200, *calls[1].ResultCode)
}

// A notification that is never accepted is given up after 24 h of emulator time.
func TestNotifyGivesUpAfter24h(t *testing.T) {
	e := newEnv(t, paysonsim.Options{})
	sink := newSink(t)
	for range 100 {
		sink.code <- 404
	}
	id := e.create(sink.srv.URL + "/n")["id"].(string)
	require.NoError(t, e.sim.Pay(id, paysonsim.PayRequest{}))
	sink.next(t)
	e.waitNotifications(1)
	for i := 2; i < 40 && e.sim.Pending() > 0; i++ {
		e.clock.Advance(time.Hour)
		if e.sim.Pending() == 0 {
			break
		}
		sink.next(t)
		e.waitNotifications(i)
	}
	// Within 24 h there are at most ~30 attempts (1, 2, 4 ... 60 min).
	n := len(e.calls.Calls(simctl.Filter{Operation: paysonsim.OpNotify}))
	assert.GreaterOrEqual(t, n, 20)
	assert.LessOrEqual(t, n, 40)
	// Run drops it on its next pass once the 24 h are over.
	e.clock.Advance(2 * time.Hour)
	require.Eventually(t, func() bool { return e.sim.Pending() == 0 }, 10*time.Second, 10*time.Millisecond)
}

// A merchant URI on a closed port never delays an API answer (I.22).
func TestNotifyToClosedPortIsAsync(t *testing.T) {
	e := newEnv(t, paysonsim.Options{})
	closed := httptest.NewServer(http.NotFoundHandler())
	uri := closed.URL + "/n"
	closed.Close()
	id := e.create(uri)["id"].(string)
	a := e.do("POST", "/sim/payson/checkouts/"+id+"/pay", "", `{}`)
	assert.Equal(t, 200, a.status)
	assert.Equal(t, "readyToShip", a.json["status"])
}

func put(e *env, id string, mutate func(m map[string]any)) answer {
	g := e.api("GET", "/2.0/Checkouts/"+id, "")
	require.Equal(e.t, 200, g.status)
	mutate(g.json)
	return e.api("PUT", "/2.0/Checkouts/"+id, string(mustJSON(e.t, g.json)))
}

func setStatus(st string) func(map[string]any) { return func(m map[string]any) { m["status"] = st } }

// E.33: shipped from readyToShip only.
func TestE33Ship(t *testing.T) {
	e := newEnv(t, paysonsim.Options{})
	id := e.create("https://shop.example/notify")["id"].(string)
	a := put(e, id, setStatus("shipped"))
	assert.Equal(t, 400, a.status)
	assert.Equal(t, []string{"status"}, props(a))
	require.NoError(t, e.sim.Pay(id, paysonsim.PayRequest{Method: "card"}))
	a = put(e, id, setStatus("Shipped")) // any case
	require.Equal(t, 200, a.status, a.body)
	assert.Equal(t, "shipped", a.json["status"])
	assert.NotNil(t, path(a.json, "history", "shipped"))
	// again: no change, still 200
	assert.Equal(t, 200, put(e, id, setStatus("shipped")).status)

	// paidToAccount 10 days after shipping on the emulator clock
	e.clock.Advance(10*24*time.Hour - time.Minute)
	assert.Equal(t, "shipped", e.api("GET", "/2.0/Checkouts/"+id, "").json["status"])
	e.clock.Advance(time.Minute)
	g := e.api("GET", "/2.0/Checkouts/"+id, "")
	assert.Equal(t, "paidToAccount", g.json["status"])
	assert.NotNil(t, path(g.json, "history", "paidToAccount"))
}

// E.34: canceled from readyToShip; not from shipped. .NET integer status.
func TestE34Cancel(t *testing.T) {
	e := newEnv(t, paysonsim.Options{})
	id := e.create("https://shop.example/notify")["id"].(string)
	require.NoError(t, e.sim.Pay(id, paysonsim.PayRequest{}))
	a := put(e, id, func(m map[string]any) { m["status"] = 8 })
	require.Equal(t, 200, a.status, a.body)
	assert.Equal(t, "canceled", a.json["status"])
	assert.NotNil(t, path(a.json, "history", "canceled"))

	id2 := e.create("https://shop.example/notify")["id"].(string)
	require.NoError(t, e.sim.Pay(id2, paysonsim.PayRequest{}))
	require.Equal(t, 200, put(e, id2, setStatus("shipped")).status)
	a = put(e, id2, setStatus("canceled"))
	assert.Equal(t, 400, a.status)
	assert.Equal(t, []string{"status"}, props(a))
	a = put(e, id2, setStatus("readyToPay"))
	assert.Equal(t, 400, a.status, "the merchant may set only shipped or canceled")
}

// E.35: credits after shipped, echoed; over-credit and cart changes refused.
func TestE35Credit(t *testing.T) {
	e := newEnv(t, paysonsim.Options{})
	id := e.create("https://shop.example/notify")["id"].(string)
	require.NoError(t, e.sim.Pay(id, paysonsim.PayRequest{}))
	setItem := func(k string, v any) func(map[string]any) {
		return func(m map[string]any) { path(m, "order", "items").([]any)[0].(map[string]any)[k] = v }
	}
	a := put(e, id, setItem("unitPrice", 100))
	assert.Equal(t, 400, a.status, "cart change while readyToShip")
	assert.Equal(t, []string{"order.items"}, props(a))
	a = put(e, id, setItem("creditedAmount", 100))
	assert.Equal(t, 400, a.status, "credit before shipped")
	assert.Equal(t, []string{"order.items[0].creditedAmount"}, props(a))

	require.Equal(t, 200, put(e, id, setStatus("shipped")).status)
	a = put(e, id, func(m map[string]any) {
		setItem("creditedAmount", 100)(m)
		path(m, "order").(map[string]any)["totalCreditedAmount"] = 100
	})
	require.Equal(t, 200, a.status, a.body)
	assert.Contains(t, a.body, `"totalCreditedAmount":100.00`)
	assert.Contains(t, a.body, `"creditedAmount":100.00`)

	a = put(e, id, setItem("creditedAmount", 399.01))
	assert.Equal(t, 400, a.status)
	assert.Equal(t, []string{"order.items[0].creditedAmount"}, props(a))
	a = put(e, id, func(m map[string]any) {
		setItem("creditedAmount", 150)(m)
		path(m, "order").(map[string]any)["totalCreditedAmount"] = 100
	})
	assert.Equal(t, 400, a.status, "a total that disagrees with the items")
	assert.Equal(t, []string{"order.totalCreditedAmount"}, props(a))
	// left out, the total is derived (I.20)
	a = put(e, id, func(m map[string]any) {
		setItem("creditedAmount", 150)(m)
		delete(path(m, "order").(map[string]any), "totalCreditedAmount")
	})
	require.Equal(t, 200, a.status, a.body)
	assert.Contains(t, a.body, `"totalCreditedAmount":150.00`)
	// an item without itemId is refused by name (I.12)
	a = put(e, id, setItem("itemId", nil))
	assert.Equal(t, 400, a.status)
	assert.Equal(t, []string{"order.items[0].itemId"}, props(a))
}

// Cart changes are allowed before payment, and recomputed.
func TestCartChangeBeforePayment(t *testing.T) {
	e := newEnv(t, paysonsim.Options{})
	id := e.create("https://shop.example/notify")["id"].(string)
	a := put(e, id, func(m map[string]any) {
		path(m, "order", "items").([]any)[0].(map[string]any)["quantity"] = 2
	})
	require.Equal(t, 200, a.status, a.body)
	assert.Contains(t, a.body, `"totalPriceIncludingTax":798.00`)
	// Ruby-style partial PUT: absent customer and gui unchanged, null notificationUri unchanged
	a = e.api("PUT", "/2.0/Checkouts/"+id, `{"id":"`+id+`","status":"created","merchant":{"notificationUri":null}}`)
	require.Equal(t, 200, a.status, a.body)
	assert.Equal(t, "https://shop.example/notify", path(a.json, "merchant", "notificationUri"))
}

// E.36: list by status (any case, .NET integer) with paging.
func TestE36List(t *testing.T) {
	e := newEnv(t, paysonsim.Options{PageSize: 2})
	var paid []string
	for i := range 5 {
		id := e.create("https://shop.example/notify")["id"].(string)
		if i%2 == 0 {
			require.NoError(t, e.sim.Pay(id, paysonsim.PayRequest{}))
			paid = append(paid, id)
		}
	}
	var got []string
	for page := 1; page <= 2; page++ {
		a := e.api("GET", "/2.0/Checkouts?status=ReadyToShip&page="+string(rune('0'+page)), "")
		require.Equal(t, 200, a.status, a.body)
		assert.EqualValues(t, 3, a.json["totalCount"])
		assert.EqualValues(t, 2, a.json["totalPages"])
		for _, d := range a.json["data"].([]any) {
			got = append(got, d.(map[string]any)["id"].(string))
		}
	}
	assert.Equal(t, paid, got)
	a := e.api("GET", "/2.0/checkouts?status=1&pageSize=10", "")
	assert.EqualValues(t, 2, a.json["count"])
	a = e.api("GET", "/2.0/checkouts?status=bogus", "")
	assert.Equal(t, 400, a.status)
}

// Expiry: at expirationTime before payment; the control API expires at once;
// denied by the customer.
func TestExpireAndDeny(t *testing.T) {
	e := newEnv(t, paysonsim.Options{})
	id := e.create("https://shop.example/notify")["id"].(string)
	e.clock.Advance(paysonsim.DefaultExpiry)
	g := e.api("GET", "/2.0/Checkouts/"+id, "")
	assert.Equal(t, "expired", g.json["status"])
	assert.Equal(t, path(g.json, "expirationTime"), path(g.json, "history", "expired"))

	id = e.create("https://shop.example/notify")["id"].(string)
	a := e.do("POST", "/sim/payson/checkouts/"+id+"/expire", "", "")
	require.Equal(t, 200, a.status, a.body)
	assert.Equal(t, "expired", a.json["status"])
	a = e.do("POST", "/sim/payson/checkouts/"+id+"/pay", "", `{}`)
	assert.Equal(t, 409, a.status)

	id = e.create("https://shop.example/notify")["id"].(string)
	a = e.do("POST", "/sim/payson/checkouts/"+id+"/pay", "", `{"outcome":"denied"}`)
	require.Equal(t, 200, a.status, a.body)
	assert.Equal(t, "denied", a.json["status"])
	assert.NotNil(t, path(a.json, "history", "denied"))
	assert.Nil(t, a.json["purchaseId"])
	a = e.do("POST", "/sim/payson/checkouts/"+id+"/pay", "", `{"method":"cash"}`)
	assert.Equal(t, 400, a.status)
}

// The snippet page: the customer pays with a form post.
func TestSnippetPage(t *testing.T) {
	e := newEnv(t, paysonsim.Options{})
	id := e.create("https://shop.example/notify")["id"].(string)
	a := e.do("GET", "/sim/payson/checkout?id="+id, "", "")
	require.Equal(t, 200, a.status)
	assert.Contains(t, a.body, `id="pay-card"`)
	assert.Contains(t, a.body, "399.00 SEK")
	resp, err := e.srv.Client().PostForm(e.srv.URL+"/sim/payson/checkout", map[string][]string{"id": {id}, "method": {"bank"}})
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	st, err := e.sim.Status(id)
	require.NoError(t, err)
	assert.Equal(t, "readyToShip", st)
}

// Faults through the simctl middleware; the call log names operations.
func TestFaultsAndCallLog(t *testing.T) {
	e := newEnv(t, paysonsim.Options{})
	require.NoError(t, e.faults.Set([]simctl.Rule{{Service: "payson", Operation: paysonsim.OpCreate, Mode: simctl.ModeHTTP500, Count: 1}}))
	a := e.api("POST", "/2.0/Checkouts", minimalBody("https://shop.example/notify"))
	assert.Equal(t, 500, a.status)
	assert.NotEmpty(t, props(a), "even an injected error names a property")
	a = e.api("POST", "/2.0/Checkouts", minimalBody("https://shop.example/notify"))
	require.Equal(t, 201, a.status)
	calls := e.calls.Calls(simctl.Filter{Service: "payson", Operation: paysonsim.OpCreate})
	require.Len(t, calls, 1)
	assert.Equal(t, a.json["id"], calls[0].Reference)
	assert.Equal(t, "4", calls[0].PrincipalID)
}

// I.17: PaysonCheckout-PHP sends the request line in absolute form with
// Payson's own host: route by path, never by Host.
func TestAbsoluteFormRequestLine(t *testing.T) {
	e := newEnv(t, paysonsim.Options{})
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "GET http://test-api.payson.se/2.0/Accounts/ HTTP/1.1\r\nHost: test-api.payson.se\r\nAuthorization: %s\r\nConnection: close\r\n\r\n", testAuth)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
}

// An agent sees only its own checkouts.
func TestAgentsAreSeparate(t *testing.T) {
	e := newEnv(t, paysonsim.Options{Agents: map[string]string{"4": paysonsim.TestAPIKey, "7": "other-key"}})
	id := e.create("https://shop.example/notify")["id"].(string)
	other := "Basic " + base64.StdEncoding.EncodeToString([]byte("7:other-key"))
	assert.Equal(t, 404, e.do("GET", "/2.0/Checkouts/"+id, other, "").status)
	a := e.do("GET", "/2.0/Checkouts?status=created", other, "")
	require.Equal(t, 200, a.status)
	assert.EqualValues(t, 0, a.json["totalCount"])
	assert.Equal(t, 200, e.api("GET", "/2.0/Checkouts/"+id, "").status)
}
