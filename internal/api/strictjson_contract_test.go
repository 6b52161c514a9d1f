package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/simctl"
)

const contractPayment = `{"method":"seqr","saleId":"S-1","cashierId":"bob","title":"Kaffebaren","amount":"1.00","currency":"SEK","receiptTotal":"1.00",` +
	`"rows":[{"description":"Kaffe","quantity":"1","unitPrice":"1.00","totalAmount":"1.00","taxRate":"12"}]}`

// withMember inserts members right after the body's opening brace.
func withMember(body, members string) string { return "{" + members + "," + body[1:] }

func requireBadRequest(t *testing.T, a answer, field, detail string) {
	t.Helper()
	require.Equal(t, http.StatusBadRequest, a.status, a.raw)
	assert.Equal(t, ProblemBase+"invalid-request", a.problem.Type)
	assert.Equal(t, field, a.problem.Field, a.problem.Detail)
	assert.Contains(t, a.problem.Detail, detail)
}

// TestKeysMatchCaseSensitively: issue 12's case, where
// {"amount":"1.00",...,"AMOUNT":"900.00"} charged 900.00. It is now a 400
// naming AMOUNT, and nothing is stored or sent.
func TestKeysMatchCaseSensitively(t *testing.T) {
	s := startRealStack(t, true)
	body := strings.TrimSuffix(contractPayment, "}") + `,"AMOUNT":"900.00"}`
	requireBadRequest(t, s.pay(t, body), "AMOUNT", "unknown field")
	assert.Zero(t, s.sendInvoices())
	list := s.send(t, "GET", "/v1/payments", nil, nil)
	require.Equal(t, http.StatusOK, list.status)
	assert.Empty(t, list.body["payments"])
}

// TestRefundKeysMatchCaseSensitively: {"amount":"0.01","AMOUNT":"0.02"}
// refunded 0.02; now a 400 and no refund.
func TestRefundKeysMatchCaseSensitively(t *testing.T) {
	s := startRealStack(t, true)
	id := s.paid(t, "1.00")
	a := s.send(t, "POST", "/v1/payments/"+id+"/refunds", `{"amount":"0.01","AMOUNT":"0.02"}`, map[string]string{"Idempotency-Key": s.key()})
	requireBadRequest(t, a, "AMOUNT", "unknown field")
	assert.Empty(t, s.calls.Calls(simctl.Filter{Operation: "refundPayment"}))
}

// bodyRoute is one route that takes a JSON body, and a valid body for it.
type bodyRoute struct {
	method, path string
	body         string
	field        string // a string member of body
	keyed        bool   // needs an Idempotency-Key
}

func bodyRoutes(paidID string) []bodyRoute {
	return []bodyRoute{
		{"POST", "/v1/payments", contractPayment, "title", true},
		{"POST", "/v1/payments/" + paidID + "/refunds", `{"amount":"0.01","cashierId":"bob","reason":"trasig"}`, "reason", true},
		{"POST", "/v1/terminal/register", `{"resellerId":"public_test_shop","resellerUserId":"9900","resellerPassword":"1234","externalTerminalId":"Shop 1/POS 2","name":"Kassa 2"}`, "name", false},
		{"PUT", "/v1/terminal/seqr-id", `{"seqrId":"TILL0001"}`, "seqrId", false},
		{"POST", "/v1/terminal/seqr-id/scan", `{"timeoutSeconds":1}`, "", false},
	}
}

func (s *realStack) sendTo(t *testing.T, rt bodyRoute, body string) answer {
	t.Helper()
	h := map[string]string{}
	if rt.keyed {
		h["Idempotency-Key"] = s.key()
	}
	return s.send(t, rt.method, rt.path, body, h)
}

// TestEveryBodyIsReadStrictly: on every route that takes a body, a
// duplicate member, a member in other case, invalid UTF-8, a lone
// surrogate and a null body are 400s naming what is wrong, before the
// register does anything.
func TestEveryBodyIsReadStrictly(t *testing.T) {
	s := startRealStack(t, true)
	paidID := s.paid(t, "1.00")
	invoices := s.sendInvoices()
	for _, rt := range bodyRoutes(paidID) {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			member, _, _ := strings.Cut(strings.TrimSuffix(rt.body[1:], "}"), ",") // the first "name":value
			name, value, _ := strings.Cut(strings.TrimPrefix(member, `"`), `":`)
			requireBadRequest(t, s.sendTo(t, rt, withMember(rt.body, member)), name, "duplicate key")
			upper := strings.ToUpper(name)
			requireBadRequest(t, s.sendTo(t, rt, withMember(rt.body, `"`+upper+`":`+value)), upper, "unknown field")
			for _, body := range []string{"null", " null ", "[]", `"{}"`, "7"} {
				requireBadRequest(t, s.sendTo(t, rt, body), "", "a JSON object is required")
			}
			if rt.field == "" {
				return
			}
			val := `"` + rt.field + `":"`
			requireBadRequest(t, s.sendTo(t, rt, strings.Replace(rt.body, val, val+`\ud800`, 1)), rt.field, "surrogate")
			requireBadRequest(t, s.sendTo(t, rt, strings.Replace(rt.body, val, val+"\xff", 1)), rt.field, "UTF-8")
			requireBadRequest(t, s.sendTo(t, rt, strings.Replace(rt.body, val, val+`\udc00x`, 1)), rt.field, "surrogate")
		})
	}
	assert.Equal(t, invoices, s.sendInvoices(), "nothing reached SEQR")
	assert.Empty(t, s.calls.Calls(simctl.Filter{Operation: "refundPayment"}))
}

// TestDocumentAPIAndRegisterAgree: issue 12's list of requests the API and
// the document accepted and the register then refused are each a 422
// naming the field, and nothing is sent; a valid surrogate pair (an emoji)
// is text like any other.
func TestDocumentAPIAndRegisterAgree(t *testing.T) {
	s := startRealStack(t, true)
	tests := []struct {
		name, body, key, field string
	}{
		{"bare amount without rows", `{"method":"seqr","amount":"20.00","currency":"SEK","receiptTotal":"20.00","rows":[]}`, "", "rows"},
		{"NOK", strings.Replace(contractPayment, `"SEK"`, `"NOK"`, 1), "", "currency"},
		{"20 000 000.00", strings.ReplaceAll(contractPayment, `"1.00"`, `"20000000.00"`), "", "amount"},
		{"title of 81 characters", strings.Replace(contractPayment, `"Kaffebaren"`, `"`+strings.Repeat("t", 81)+`"`, 1), "", "title"},
		{"title of 200 characters", strings.Replace(contractPayment, `"Kaffebaren"`, `"`+strings.Repeat("t", 200)+`"`, 1), "", "title"},
		{"Idempotency-Key with a space", contractPayment, "sale 42", "Idempotency-Key"},
		{"bidi override in the title", strings.Replace(contractPayment, `"Kaffebaren"`, `"Kaffe\u202ebaren"`, 1), "", "title"},
		{"isolate in a row", strings.Replace(contractPayment, `"Kaffe"`, `"\u2067Kaffe\u2069"`, 1), "", "rows[0].description"},
		{"zero-width space in the sale id", strings.Replace(contractPayment, `"S-1"`, `"S-\u200b1"`, 1), "", "saleId"},
		{"line separator in the cashier id", strings.Replace(contractPayment, `"bob"`, `"bob\u2028"`, 1), "", "cashierId"},
		{"BOM in the title", strings.Replace(contractPayment, `"Kaffebaren"`, `"\ufeffKaffebaren"`, 1), "", "title"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := tt.key
			if key == "" {
				key = s.key()
			}
			expectRefused(t, s.send(t, "POST", "/v1/payments", tt.body, map[string]string{"Idempotency-Key": key}), tt.field)
		})
	}
	validUntil := withMember(contractPayment, `"validUntil":"2099-12-24T18:00:00+01:00"`)
	expectRefused(t, s.pay(t, validUntil), "validUntil") // only for resurs_later
	requireBadRequest(t, s.pay(t, withMember(contractPayment, `"validUntil":"24/12/2099"`)), "validUntil", "RFC 3339")
	requireBadRequest(t, s.pay(t, withMember(contractPayment, `"customer":{"email":7}`)), "customer.email", "must be a string")
	requireBadRequest(t, s.pay(t, withMember(contractPayment, `"customer":"x"`)), "customer", "must be an object")
	assert.Zero(t, s.sendInvoices())
	emoji := strings.Replace(contractPayment, `"Kaffe"`, `"Kaffe \ud83e\uddfe"`, 1)
	expectAccepted(t, s, s.pay(t, emoji))
}
