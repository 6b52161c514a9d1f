package resurssim_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/posd/posd/internal/resurs/resurssim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// E.1: create a session; the iframe points at the emulator's own checkout.
func TestPOSCreate(t *testing.T) {
	e := newEnv(t)
	for _, prefix := range []string{"/pos", "/checkout"} {
		r := e.pos(http.MethodPost, prefix+"/payments/POS12-000001"+strings.TrimPrefix(prefix, "/"), oneLine)
		require.Equal(t, http.StatusOK, r.status, r.body)
		m := r.json(t)
		id, _ := m["paymentSessionId"].(string)
		assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, id)
		html, _ := m["html"].(string)
		assert.Contains(t, html, `<iframe id="rco-checkout-app-frame" src="`+e.srv.URL+`/web/dist/omni-checkout.html?`+id+`"`)
	}
}

// E.2 and E.3: re-POST before booking replaces; after booking it is refused.
func TestPOSReplaceAndExists(t *testing.T) {
	e := newEnv(t)
	first := e.create("POS12-000002", oneLine)
	second := e.create("POS12-000002", oneLine)
	assert.NotEqual(t, first, second)
	r := e.do(http.MethodGet, "/pos/payments/"+first, "", "", resurssim.TestUser, resurssim.TestPassword)
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.Equal(t, "PAYMENT_SESSION_NOT_FOUND", r.json(t)["errorCode"], "the replaced session is unknown")
	r = e.control("/sim/resurs/sessions/"+first+"/complete", `{"governmentId":"198305147715","method":"invoice"}`)
	assert.Equal(t, http.StatusNotFound, r.status, r.body)

	e.complete(second, "198305147715", "invoice", false)
	r = e.pos(http.MethodPost, "/pos/payments/POS12-000002", oneLine)
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.JSONEq(t, `{"message":"OrderReference already exists"}`, r.body)
}

// E.4: bad credentials and unknown references.
func TestPOSErrors(t *testing.T) {
	e := newEnv(t)
	r := e.do(http.MethodPost, "/pos/payments/X1", "application/json", oneLine, resurssim.TestUser, "wrong")
	assert.Equal(t, http.StatusUnauthorized, r.status)
	assert.JSONEq(t, `{"message":"Bad credentials"}`, r.body)
	r = e.do(http.MethodGet, "/pos/payments/X1", "", "", "", "")
	assert.Equal(t, http.StatusUnauthorized, r.status)
	r = e.pos(http.MethodGet, "/pos/payments/NOPE-1", "")
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.JSONEq(t, `{"message":"The order does not exist"}`, r.body)
	for _, body := range []string{`{`, `{"orderLines":[]}`, `{"orderLines":[{"artNo":"1","quantity":1,"vatPct":25}]}`,
		`{"orderLines":[{"artNo":"1","quantity":1,"unitAmountWithoutVat":1,"vatPct":125}]}`} {
		r = e.pos(http.MethodPost, "/pos/payments/BAD-1", body)
		assert.Equal(t, http.StatusBadRequest, r.status, body)
		assert.NotEmpty(t, r.json(t)["message"], body)
	}
	r = e.pos(http.MethodPost, "/pos/payments/BAD_1", oneLine)
	assert.Equal(t, http.StatusBadRequest, r.status, "underscore is not allowed in an order reference")
}

// E.5: a booked POS payment is finalized at once.
func TestPOSBookedPayment(t *testing.T) {
	e := newEnv(t)
	sid := e.create("POS12-000005", oneLine)
	r := e.pos(http.MethodGet, "/pos/payments/"+sid, "")
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.Equal(t, "CREATED", r.json(t)["sessionStatus"])

	e.complete(sid, "198305147715", "invoice", false)
	for _, id := range []string{"POS12-000005", sid} {
		r = e.pos(http.MethodGet, "/pos/payments/"+id, "")
		require.Equal(t, http.StatusOK, r.status, r.body)
		assert.Contains(t, r.body, `"totalAmount":625.00000`)
		m := r.json(t)
		assert.Equal(t, "POS12-000005", m["id"])
		assert.ElementsMatch(t, []any{"IS_DEBITED", "CREDITABLE"}, m["status"])
		assert.NotNil(t, m["finalized"])
		assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$`, m["booked"])
		diffs := m["paymentDiffs"].([]any)
		require.Len(t, diffs, 2)
		auth := diffs[0].(map[string]any)
		assert.Equal(t, "AUTHORIZE", auth["type"])
		spec := auth["paymentSpec"].(map[string]any)
		assert.EqualValues(t, 625, spec["totalAmount"])
		assert.EqualValues(t, 125, spec["totalVatAmount"])
		assert.Equal(t, "DEBIT", diffs[1].(map[string]any)["type"])
		cust := m["customer"].(map[string]any)
		assert.Equal(t, "198305147715", cust["governmentId"])
		assert.Equal(t, "Göteborg", cust["address"].(map[string]any)["postalArea"])
	}
}

// E.6: "Betala sen" stays DEBITABLE until the merchant finalizes.
func TestPOSLater(t *testing.T) {
	e := newEnv(t)
	e.book("LATER-1", oneLine, "198305147715", "invoice", true)
	r := e.pos(http.MethodGet, "/pos/payments/LATER-1", "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	m := r.json(t)
	assert.Equal(t, []any{"DEBITABLE"}, m["status"])
	assert.Nil(t, m["finalized"])

	r = e.soap("finalizePayment", "<paymentId>LATER-1</paymentId>")
	require.Equal(t, http.StatusOK, r.status, r.body)
	m = e.pos(http.MethodGet, "/pos/payments/LATER-1", "").json(t)
	assert.ElementsMatch(t, []any{"IS_DEBITED", "CREDITABLE"}, m["status"])
	assert.NotNil(t, m["finalized"])
}

// E.7: line amounts are kept unrounded.
func TestPOSUnroundedAmounts(t *testing.T) {
	e := newEnv(t)
	e.book("VAT12-1", `{"orderLines":[{"artNo":"x","description":"Mat","quantity":3,"unitAmountWithoutVat":89.29,"vatPct":12}]}`, "198305147715", "invoice", false)
	r := e.pos(http.MethodGet, "/pos/payments/VAT12-1", "")
	require.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, r.body, `"totalAmount":300.01440`)
	assert.Contains(t, r.body, `"totalVatAmount":32.14440`)
}

// E.8: 33 characters are refused when Nets card payments can occur.
func TestPOSReferenceLength(t *testing.T) {
	ref32, ref33 := strings.Repeat("A", 32), strings.Repeat("A", 33)
	e := newEnv(t)
	assert.Equal(t, http.StatusOK, e.pos(http.MethodPost, "/pos/payments/"+ref32, oneLine).status)
	assert.Equal(t, http.StatusBadRequest, e.pos(http.MethodPost, "/pos/payments/"+ref33, oneLine).status)
	off := false
	e = newEnv(t, func(o *resurssim.Options) { o.NetsCard = &off })
	assert.Equal(t, http.StatusOK, e.pos(http.MethodPost, "/pos/payments/"+ref33, oneLine).status)
}

// PUT replaces lines before booking; updatePaymentReference renames.
func TestPOSUpdateAndRename(t *testing.T) {
	e := newEnv(t)
	sid := e.create("UPD-1", oneLine)
	r := e.pos(http.MethodPut, "/pos/payments/UPD-1", `{"orderLines":[{"artNo":"2","description":"Te","quantity":2,"unitAmountWithoutVat":100,"vatPct":25}]}`)
	assert.Equal(t, http.StatusOK, r.status, r.body)
	r = e.pos(http.MethodPut, "/pos/payments/UPD-1/updatePaymentReference", `{"paymentReference":"UPD-2"}`)
	assert.Equal(t, http.StatusNoContent, r.status, r.body)
	r = e.pos(http.MethodPut, "/pos/payments/UPD-1/updatePaymentReference", `{"paymentReference":"UPD-3"}`)
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.Equal(t, "PAYMENT_SESSION_NOT_FOUND", r.json(t)["errorCode"])
	e.complete(sid, "198305147715", "card", false)
	r = e.pos(http.MethodGet, "/pos/payments/UPD-2", "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Contains(t, r.body, `"totalAmount":250.00000`)
	assert.Contains(t, r.body, `"paymentMethodType":"PAYMENT_PROVIDER"`)
	r = e.pos(http.MethodPut, "/pos/payments/UPD-2", oneLine)
	assert.Equal(t, http.StatusBadRequest, r.status, "a booked order cannot be changed")
}

// Spec I.8/I.9: what EComPHP and ecom2 send is accepted.
func TestPOSRealClientBodies(t *testing.T) {
	e := newEnv(t)
	ecomphp := `{"orderLines":[{"artNo":"1","description":"x","quantity":"1","unitMeasure":"","unitAmountWithoutVat":"100.00","vatPct":"25","type":"ORDER_LINE"}],
	 "customer":{"governmentId":"198305147715","mobile":"0701112233","email":"a@b.se","type":"NATURAL","deliveryAddress":{"countryCode":"SE"}},
	 "shopUrl":"https://shop","storeId":"101","successUrl":"https://shop/ok","backUrl":"https://shop/back"}`
	r := e.do(http.MethodPost, "/checkout/payments/PHP-1", "application/json", ecomphp, resurssim.TestUser, resurssim.TestPassword, "Accept-Encoding", "1")
	assert.Equal(t, http.StatusOK, r.status, r.body)
	ecom2 := `{"orderLines":[{"artNo":"1","description":"x","quantity":1,"unitMeasure":null,"unitAmountWithoutVat":100,"vatPct":25,"type":null,"totalAmountWithVat":"125.00","totalVatAmount":null}],"metaData":null,"customer":null,"storeId":null,"successUrl":null,"backUrl":null,"paymentCreatedCallbackUrl":null,"shopUrl":"https://shop"}`
	r = e.pos(http.MethodPost, "/pos/payments/ECOM2-1", ecom2)
	assert.Equal(t, http.StatusOK, r.status, r.body)
}
