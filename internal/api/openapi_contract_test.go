package api

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/posd/posd/internal/money"
)

// The contract tests: every example and every documented limit of the
// request bodies in api/openapi.yaml, sent through the real API, register
// and SEQR emulator. The document is read, not copied: a limit changed in
// the document and not in the code (or the other way round) fails here.

// docRoot is api/openapi.yaml as plain maps.
func docRoot(t *testing.T) map[string]any {
	t.Helper()
	var root map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(readOpenAPI(t).raw), &root))
	return root
}

func dig(t *testing.T, node any, path ...string) any {
	t.Helper()
	for _, p := range path {
		m, ok := node.(map[string]any)
		require.True(t, ok, "%v: %s is not under an object", path, p)
		node, ok = m[p]
		require.True(t, ok, "api/openapi.yaml has no %s (in %v)", p, path)
	}
	return node
}

// docLimit reads one keyword of a schema property, e.g.
// ("PaymentRequest", "title", "maxLength") -> 80.
func docLimit(t *testing.T, root map[string]any, schema, prop, keyword string) any {
	t.Helper()
	path := []string{"components", "schemas", schema}
	if prop != "" {
		path = append(path, "properties", prop)
	}
	return dig(t, root, append(path, keyword)...)
}

func docInt(t *testing.T, root map[string]any, schema, prop, keyword string) int {
	t.Helper()
	n, ok := docLimit(t, root, schema, prop, keyword).(int)
	require.True(t, ok, "%s.%s.%s is not an integer", schema, prop, keyword)
	return n
}

// requestSchemas are the schemas of request bodies whose limits must each
// have a contract case.
var requestSchemas = []string{"PaymentRequest", "Row", "Customer", "RefundRequest", "RegisterTerminalRequest", "Amount"}

// limitKeywords are the keywords that state a limit.
var limitKeywords = []string{"maxLength", "minLength", "maxItems", "minItems", "pattern", "enum", "x-maximum", "x-maxBytes"}

// documentedLimits lists "Schema.property.keyword" for every limit the
// document states on a request, plus "Schema.property.text" for every
// TextLine (the text rules are a documented limit too).
func documentedLimits(t *testing.T, root map[string]any) []string {
	var out []string
	for _, name := range requestSchemas {
		schema := dig(t, root, "components", "schemas", name).(map[string]any)
		props, _ := schema["properties"].(map[string]any)
		if props == nil {
			props = map[string]any{"": schema}
		}
		for prop, v := range props {
			m, _ := v.(map[string]any)
			for _, kw := range limitKeywords {
				if _, ok := m[kw]; ok {
					out = append(out, name+"."+prop+"."+kw)
				}
			}
			if m["$ref"] == "#/components/schemas/TextLine" {
				out = append(out, name+"."+prop+".text")
			}
		}
	}
	for _, kw := range []string{"minLength", "maxLength", "pattern"} {
		if _, ok := dig(t, root, "components", "parameters", "IdempotencyKey", "schema").(map[string]any)[kw]; ok {
			out = append(out, "Idempotency-Key.."+kw)
		}
	}
	sort.Strings(out)
	return out
}

// contractEnv holds the stacks the cases share, built on first use.
type contractEnv struct {
	t          *testing.T
	root       map[string]any
	enrolled   *realStack
	unenrolled *realStack
	paidID     string
	paidAmount string // of the payment refund cases refund; default 1000.00
}

func (e *contractEnv) till() *realStack {
	if e.enrolled == nil {
		e.enrolled = startRealStack(e.t, true)
	}
	return e.enrolled
}

func (e *contractEnv) bare() *realStack {
	if e.unenrolled == nil {
		e.unenrolled = startRealStack(e.t, false)
	}
	return e.unenrolled
}

// paidPayment is one sale, paid, that refund cases refund from.
func (e *contractEnv) paidPayment(t *testing.T) string {
	if e.paidID == "" {
		if e.paidAmount == "" {
			e.paidAmount = "1000.00"
		}
		e.paidID = e.till().paid(t, e.paidAmount)
	}
	return e.paidID
}

// expectAccepted: the till took the payment; it is canceled again at once.
func expectAccepted(t *testing.T, s *realStack, a answer) {
	t.Helper()
	require.Equal(t, http.StatusAccepted, a.status, a.raw)
	s.settle(t, a)
}

// expectRefused: a 422 validation naming field, and nothing sent to SEQR.
func expectRefused(t *testing.T, a answer, field string) {
	t.Helper()
	require.Equal(t, http.StatusUnprocessableEntity, a.status, a.raw)
	assert.Equal(t, ProblemBase+"validation", a.problem.Type)
	assert.Equal(t, field, a.problem.Field, a.problem.Detail)
}

// paymentAtAndPast sends edit(n) (accepted) and edit(n+1) (refused naming field).
func paymentAtAndPast(t *testing.T, s *realStack, n int, field string, edit func(body map[string]any, n int)) {
	t.Helper()
	at := paymentBody("20.00")
	edit(at, n)
	expectAccepted(t, s, s.pay(t, at))
	before := s.sendInvoices()
	past := paymentBody("20.00")
	edit(past, n+1)
	expectRefused(t, s.pay(t, past), field)
	assert.Equal(t, before, s.sendInvoices(), "a refused request sends nothing to SEQR")
}

func row0(body map[string]any) map[string]any { return body["rows"].([]any)[0].(map[string]any) }

// setAmountEverywhere keeps amount, receiptTotal and the one row in step.
func setAmountEverywhere(body map[string]any, a string) {
	body["amount"], body["receiptTotal"] = a, a
	row0(body)["unitPrice"], row0(body)["totalAmount"] = a, a
}

// textCase: a hidden character in a TextLine field is a 422 naming it.
func textCase(field string, set func(body map[string]any, v string)) func(t *testing.T, e *contractEnv) {
	return func(t *testing.T, e *contractEnv) {
		for _, bad := range []string{"Kaffe\u202e", "Kaf\u200bfe", "\ufeffKaffe", "Kaffe\u2028", "Kaffe\u2066"} {
			body := paymentBody("20.00")
			set(body, bad)
			expectRefused(t, e.till().pay(t, body), field)
		}
	}
}

func refundAtAndPast(t *testing.T, e *contractEnv, n int, field string) {
	s := e.till()
	id := e.paidPayment(t)
	send := func(v string) answer {
		return s.send(t, "POST", "/v1/payments/"+id+"/refunds", map[string]any{"amount": "0.01", field: v},
			map[string]string{"Idempotency-Key": s.key()})
	}
	a := send(strings.Repeat("å", n))
	require.Equal(t, http.StatusCreated, a.status, a.raw)
	expectRefused(t, send(strings.Repeat("å", n+1)), field)
}

func refundText(t *testing.T, e *contractEnv, field string) {
	s := e.till()
	id := e.paidPayment(t)
	for _, bad := range []string{"trasig\u202e", "tra\u200bsig", "trasig\u2029", "\ufefftrasig"} {
		a := s.send(t, "POST", "/v1/payments/"+id+"/refunds", map[string]any{"amount": "0.01", field: bad},
			map[string]string{"Idempotency-Key": s.key()})
		expectRefused(t, a, field)
	}
}

func terminalBody() map[string]any {
	return map[string]any{"resellerId": "public_test_shop", "resellerUserId": "9900", "resellerPassword": "1234",
		"externalTerminalId": "Shop 1/POS 2", "name": "Kassa 2"}
}

// terminalAtAndPast: at the limit the register lets it through (SEQR may
// still refuse a credential it does not know: anything but a 422 naming
// the field); past it, a 422 naming it before SEQR is called.
func terminalAtAndPast(t *testing.T, e *contractEnv, field string, at, past string) {
	s := e.bare()
	b := terminalBody()
	b[field] = at
	a := s.send(t, "POST", "/v1/terminal/register", b, nil)
	assert.False(t, a.status == http.StatusUnprocessableEntity && a.problem.Field == field, "at the limit: %s", a.raw)
	if a.status == http.StatusCreated {
		require.Equal(t, http.StatusNoContent, s.send(t, "DELETE", "/v1/terminal", nil, nil).status)
	}
	calls := s.registrations()
	b[field] = past
	expectRefused(t, s.send(t, "POST", "/v1/terminal/register", b, nil), field)
	assert.Equal(t, calls, s.registrations(), "refused before SEQR is called")
}

// contractCases maps each documented limit to its test. Each reads the
// number it tests from the document.
func contractCases(t *testing.T, root map[string]any) map[string]func(t *testing.T, e *contractEnv) {
	lim := func(schema, prop, kw string) int { return docInt(t, root, schema, prop, kw) }
	maxLen := func(schema, prop, field string, set func(map[string]any, string)) func(*testing.T, *contractEnv) {
		return func(t *testing.T, e *contractEnv) {
			paymentAtAndPast(t, e.till(), lim(schema, prop, "maxLength"), field, func(b map[string]any, n int) {
				set(b, strings.Repeat("å", n)) // characters, not bytes
			})
		}
	}
	setTop := func(name string) func(map[string]any, string) {
		return func(b map[string]any, v string) { b[name] = v }
	}
	setRow := func(name string) func(map[string]any, string) {
		return func(b map[string]any, v string) { row0(b)[name] = v }
	}
	return map[string]func(*testing.T, *contractEnv){
		"PaymentRequest.method.enum": func(t *testing.T, e *contractEnv) {
			for _, m := range docLimit(t, root, "PaymentRequest", "method", "enum").([]any) {
				body := paymentBody("20.00")
				body["method"] = m
				a := e.till().pay(t, body)
				if m == "seqr" {
					expectAccepted(t, e.till(), a)
					continue
				}
				expectRefused(t, a, "method") // known, but its provider is not configured here
				assert.Contains(t, a.problem.Detail, "not configured")
			}
			body := paymentBody("20.00")
			body["method"] = "cash"
			expectRefused(t, e.till().pay(t, body), "method")
		},
		"PaymentRequest.saleId.maxLength":    maxLen("PaymentRequest", "saleId", "saleId", setTop("saleId")),
		"PaymentRequest.cashierId.maxLength": maxLen("PaymentRequest", "cashierId", "cashierId", setTop("cashierId")),
		"PaymentRequest.title.maxLength":     maxLen("PaymentRequest", "title", "title", setTop("title")),
		"PaymentRequest.saleId.text":         textCase("saleId", setTop("saleId")),
		"PaymentRequest.cashierId.text":      textCase("cashierId", setTop("cashierId")),
		"PaymentRequest.title.text":          textCase("title", setTop("title")),
		"PaymentRequest.currency.pattern": func(t *testing.T, e *contractEnv) {
			for _, c := range []string{"sek", "SEKK", "NOK", "EUR"} { // NOK and EUR match the pattern but are not the till's
				body := paymentBody("20.00")
				body["currency"] = c
				expectRefused(t, e.till().pay(t, body), "currency")
			}
		},
		"PaymentRequest.rows.minItems": func(t *testing.T, e *contractEnv) {
			require.Equal(t, 1, lim("PaymentRequest", "rows", "minItems"))
			body := paymentBody("20.00")
			body["rows"] = []any{}
			expectRefused(t, e.till().pay(t, body), "rows")
		},
		"PaymentRequest.rows.maxItems": func(t *testing.T, e *contractEnv) {
			paymentAtAndPast(t, e.till(), lim("PaymentRequest", "rows", "maxItems"), "rows", func(b map[string]any, n int) {
				rows := make([]any, n)
				for i := range rows {
					rows[i] = map[string]any{"description": "Knapp " + strconv.Itoa(i), "quantity": "1", "totalAmount": "0.01", "taxRate": "25"}
				}
				total := money.Amount(n).String()
				b["rows"], b["amount"], b["receiptTotal"] = rows, total, total
			})
		},
		"Amount..pattern": func(t *testing.T, e *contractEnv) {
			s := e.till()
			body := paymentBody("20.00")
			setAmountEverywhere(body, "20.00000") // more decimals, all zeros: exact
			expectAccepted(t, s, s.pay(t, body))
			for _, a := range []string{"20,00", "1e3", "20.001", "+20", " 20", ".5", "twenty"} {
				body := paymentBody("20.00")
				body["amount"] = a
				expectRefused(t, s.pay(t, body), "amount")
			}
			body["amount"] = 20 // a JSON number: the wrong type, a 400
			a := s.pay(t, body)
			require.Equal(t, http.StatusBadRequest, a.status, a.raw)
			assert.Equal(t, "amount", a.problem.Field)
		},
		"Amount..x-maximum": func(t *testing.T, e *contractEnv) {
			s := e.till()
			max := money.MustParse(docLimit(t, root, "Amount", "", "x-maximum").(string))
			body := paymentBody("20.00")
			setAmountEverywhere(body, max.String())
			expectAccepted(t, s, s.pay(t, body))
			for _, field := range []string{"amount", "receiptTotal", "rows[0].totalAmount"} {
				body := paymentBody("20.00")
				setAmountEverywhere(body, (max + 1).String())
				switch field { // the earlier fields at the limit, so the one named is the one past it
				case "receiptTotal":
					body["amount"] = max.String()
				case "rows[0].totalAmount":
					body["amount"], body["receiptTotal"] = max.String(), max.String()
					delete(row0(body), "unitPrice")
				}
				expectRefused(t, s.pay(t, body), field)
			}
			// A unit price past the limit, with a total within it: 0.1 x 10000000.10.
			body = paymentBody("1000000.01")
			row0(body)["quantity"], row0(body)["unitPrice"] = "0.1", (max + 10).String()
			expectRefused(t, s.pay(t, body), "rows[0].unitPrice")
			// A refund past the limit is refused before the payment is looked up.
			a := s.send(t, "POST", "/v1/payments/no-such-payment/refunds", map[string]any{"amount": (max + 1).String()},
				map[string]string{"Idempotency-Key": s.key()})
			expectRefused(t, a, "amount")
		},
		"Row.description.minLength": func(t *testing.T, e *contractEnv) {
			require.Equal(t, 1, lim("Row", "description", "minLength"))
			for _, d := range []string{"", "   "} {
				body := paymentBody("20.00")
				row0(body)["description"] = d
				expectRefused(t, e.till().pay(t, body), "rows[0].description")
			}
		},
		"Row.description.maxLength": maxLen("Row", "description", "rows[0].description", setRow("description")),
		"Row.description.text":      textCase("rows[0].description", setRow("description")),
		"Row.sku.maxLength":         maxLen("Row", "sku", "rows[0].sku", setRow("sku")),
		"Row.sku.text":              textCase("rows[0].sku", setRow("sku")),
		"Row.quantity.pattern": func(t *testing.T, e *contractEnv) {
			s := e.till()
			body := paymentBody("12.50")
			row0(body)["quantity"], row0(body)["unitPrice"] = "0.125", "100.00"
			expectAccepted(t, s, s.pay(t, body))
			for _, q := range []string{"0.1250", "1e2", "-1", "0", "1.", ".5", "1,5"} {
				body := paymentBody("20.00")
				row0(body)["quantity"] = q
				delete(row0(body), "unitPrice")
				expectRefused(t, s.pay(t, body), "rows[0].quantity")
			}
		},
		"Row.quantity.x-maximum": func(t *testing.T, e *contractEnv) {
			s := e.till()
			max := docLimit(t, root, "Row", "quantity", "x-maximum").(string)
			body := paymentBody("20.00")
			row0(body)["quantity"] = max
			delete(row0(body), "unitPrice")
			expectAccepted(t, s, s.pay(t, body))
			row0(body)["quantity"] = max + ".001"
			expectRefused(t, s.pay(t, body), "rows[0].quantity")
		},
		"Row.taxRate.pattern": func(t *testing.T, e *contractEnv) {
			s := e.till()
			body := paymentBody("20.00")
			row0(body)["taxRate"] = "12.5"
			expectAccepted(t, s, s.pay(t, body))
			for _, r := range []string{"12.125", "25%", "-6", "1e1"} {
				row0(body)["taxRate"] = r
				expectRefused(t, s.pay(t, body), "rows[0].taxRate")
			}
		},
		"Row.taxRate.x-maximum": func(t *testing.T, e *contractEnv) {
			s := e.till()
			max := docLimit(t, root, "Row", "taxRate", "x-maximum").(string)
			body := paymentBody("20.00")
			row0(body)["taxRate"] = max
			expectAccepted(t, s, s.pay(t, body))
			row0(body)["taxRate"] = max + ".01"
			expectRefused(t, s.pay(t, body), "rows[0].taxRate")
		},
		"Row.ean.pattern": func(t *testing.T, e *contractEnv) {
			s := e.till()
			for _, ean := range []string{"73108650", "73108650047035"} {
				body := paymentBody("20.00")
				row0(body)["ean"] = ean
				expectAccepted(t, s, s.pay(t, body))
			}
			for _, ean := range []string{"7310865", "731086500470351", "7310865a"} {
				body := paymentBody("20.00")
				row0(body)["ean"] = ean
				expectRefused(t, s.pay(t, body), "rows[0].ean")
			}
		},
		"Customer.governmentId.pattern": customerCase("governmentId", []string{"19121212-1212", "121212+1212", "5566778899"}, []string{"1212121212x", "12-12121212", "121212121"}),
		"Customer.mobile.pattern":       customerCase("mobile", []string{"+46701234567", "0701234567"}, []string{"070 123 45 67", "+46", "0701234567\u200b"}),
		"Customer.email.maxLength": func(t *testing.T, e *contractEnv) {
			n := lim("Customer", "email", "maxLength")
			addr := func(n int) string { return strings.Repeat("k", n-len("@example.se")) + "@example.se" }
			paymentAtAndPast(t, e.till(), n, "customer.email", func(b map[string]any, n int) {
				b["customer"] = map[string]any{"email": addr(n)}
			})
			body := paymentBody("20.00")
			body["customer"] = map[string]any{"email": "kund\u202e@example.se"}
			expectRefused(t, e.till().pay(t, body), "customer.email")
		},
		"RefundRequest.cashierId.maxLength": func(t *testing.T, e *contractEnv) {
			refundAtAndPast(t, e, lim("RefundRequest", "cashierId", "maxLength"), "cashierId")
		},
		"RefundRequest.reason.maxLength": func(t *testing.T, e *contractEnv) {
			refundAtAndPast(t, e, lim("RefundRequest", "reason", "maxLength"), "reason")
		},
		"RefundRequest.rows.maxItems": func(t *testing.T, e *contractEnv) {
			s := e.till()
			id := e.paidPayment(t)
			send := func(n int) answer {
				rows := make([]any, n)
				for i := range rows {
					rows[i] = map[string]any{"description": "Knapp " + strconv.Itoa(i), "quantity": "1", "totalAmount": "0.01", "taxRate": "25"}
				}
				return s.send(t, "POST", "/v1/payments/"+id+"/refunds", map[string]any{"rows": rows}, map[string]string{"Idempotency-Key": s.key()})
			}
			n := lim("RefundRequest", "rows", "maxItems")
			a := send(n)
			require.Equal(t, http.StatusCreated, a.status, a.raw)
			assert.Equal(t, money.Amount(n).String(), a.body["amount"], "the rows' sum")
			expectRefused(t, send(n+1), "rows")
		},
		"RefundRequest.cashierId.text": func(t *testing.T, e *contractEnv) { refundText(t, e, "cashierId") },
		"RefundRequest.reason.text":    func(t *testing.T, e *contractEnv) { refundText(t, e, "reason") },
		"RegisterTerminalRequest.resellerPassword.x-maxBytes": func(t *testing.T, e *contractEnv) {
			n := lim("RegisterTerminalRequest", "resellerPassword", "x-maxBytes")
			terminalAtAndPast(t, e, "resellerPassword", strings.Repeat("p", n), strings.Repeat("p", n+1))
		},
		"Idempotency-Key..maxLength": func(t *testing.T, e *contractEnv) {
			s := e.till()
			max := dig(t, root, "components", "parameters", "IdempotencyKey", "schema", "maxLength").(int)
			a := s.send(t, "POST", "/v1/payments", paymentBody("20.00"), map[string]string{"Idempotency-Key": strings.Repeat("k", max)})
			expectAccepted(t, s, a)
			expectRefused(t, s.send(t, "POST", "/v1/payments", paymentBody("20.00"), map[string]string{"Idempotency-Key": strings.Repeat("k", max+1)}), "Idempotency-Key")
		},
		"Idempotency-Key..minLength": func(t *testing.T, e *contractEnv) {
			a := e.till().send(t, "POST", "/v1/payments", paymentBody("20.00"), map[string]string{"Idempotency-Key": ""})
			require.Equal(t, http.StatusBadRequest, a.status, a.raw)
			assert.Equal(t, "Idempotency-Key", a.problem.Field)
		},
		"Idempotency-Key..pattern": func(t *testing.T, e *contractEnv) {
			for _, k := range []string{"sale 42", "nyckel-å", "tab\tkey"} {
				expectRefused(t, e.till().send(t, "POST", "/v1/payments", paymentBody("20.00"), map[string]string{"Idempotency-Key": k}), "Idempotency-Key")
			}
		},
	}
}

func customerCase(field string, good, bad []string) func(*testing.T, *contractEnv) {
	return func(t *testing.T, e *contractEnv) {
		s := e.till()
		for _, v := range good {
			body := paymentBody("20.00")
			body["customer"] = map[string]any{field: v}
			expectAccepted(t, s, s.pay(t, body))
		}
		for _, v := range bad {
			body := paymentBody("20.00")
			body["customer"] = map[string]any{field: v}
			expectRefused(t, s.pay(t, body), "customer."+field)
		}
	}
}

// TestOpenAPILimitsHoldThroughTheRealStack: one subtest per limit the
// document states for a request, each at and past the limit through the
// real API, register and SEQR emulator; a documented limit without a case
// fails.
func TestOpenAPILimitsHoldThroughTheRealStack(t *testing.T) {
	root := docRoot(t)
	cases := contractCases(t, root)
	terminalFields := map[string]int{}
	for _, f := range []string{"resellerId", "resellerUserId", "externalTerminalId", "name"} {
		terminalFields[f] = docInt(t, root, "RegisterTerminalRequest", f, "maxLength")
		cases["RegisterTerminalRequest."+f+".maxLength"] = func(t *testing.T, e *contractEnv) {
			n := terminalFields[f]
			terminalAtAndPast(t, e, f, strings.Repeat("x", n), strings.Repeat("x", n+1))
		}
		cases["RegisterTerminalRequest."+f+".text"] = func(t *testing.T, e *contractEnv) {
			terminalAtAndPast(t, e, f, "Kassa 2", "Kassa\u200b2")
		}
	}
	env := &contractEnv{t: t, root: root}
	documented := documentedLimits(t, root)
	require.NotEmpty(t, documented)
	for _, key := range documented {
		run, ok := cases[key]
		if !assert.True(t, ok, "api/openapi.yaml states %s but no contract test checks it", key) {
			continue
		}
		t.Run(key, func(t *testing.T) { run(t, env) })
	}
	for key := range cases {
		assert.Contains(t, documented, key, "a contract case for %s, which the document does not state", key)
	}
}

// TestOpenAPIExamplesHoldThroughTheRealStack: every request example in the
// document answers the status it states (x-status) and names the field it
// states (x-field), through the real stack.
func TestOpenAPIExamplesHoldThroughTheRealStack(t *testing.T) {
	root := docRoot(t)
	env := &contractEnv{t: t, root: root, paidAmount: "20.00"} // as the refund examples say
	paths := dig(t, root, "paths").(map[string]any)
	n := 0
	for _, path := range sortedKeys(paths) {
		for _, method := range sortedKeys(paths[path].(map[string]any)) {
			op, ok := paths[path].(map[string]any)[method].(map[string]any)
			if !ok {
				continue
			}
			rb, _ := op["requestBody"].(map[string]any)
			if rb == nil {
				continue
			}
			media, _ := dig(t, rb, "content", "application/json").(map[string]any)
			examples, _ := media["examples"].(map[string]any)
			for _, name := range sortedKeys(examples) {
				ex := examples[name].(map[string]any)
				opID := op["operationId"].(string)
				n++
				t.Run(opID+"/"+name, func(t *testing.T) {
					status, ok := ex["x-status"].(int)
					require.True(t, ok, "example %s has no x-status", name)
					a := sendExample(t, env, opID, ex["value"])
					require.Equal(t, status, a.status, a.raw)
					if f, ok := ex["x-field"].(string); ok {
						assert.Equal(t, f, a.problem.Field, a.problem.Detail)
					}
					if p, ok := ex["x-problem"].(string); ok {
						assert.Equal(t, ProblemBase+p, a.problem.Type)
					}
				})
			}
		}
	}
	require.Positive(t, n, "the document has request examples")
}

// sendExample sends an example's value to its operation on the right
// stack, and undoes what an accepted one did.
func sendExample(t *testing.T, e *contractEnv, opID string, value any) answer {
	switch opID {
	case "createPayment":
		s := e.till()
		a := s.pay(t, value)
		if a.status == http.StatusAccepted {
			s.settle(t, a)
		}
		return a
	case "refundPayment", "annulPayment", "debitPayment":
		s := e.till()
		sub := map[string]string{"refundPayment": "/refunds", "annulPayment": "/annul", "debitPayment": "/debits"}[opID]
		return s.send(t, "POST", "/v1/payments/"+e.paidPayment(t)+sub, value, map[string]string{"Idempotency-Key": s.key()})
	case "registerTerminal":
		s := e.bare()
		a := s.send(t, "POST", "/v1/terminal/register", value, nil)
		if a.status == http.StatusCreated {
			require.Equal(t, http.StatusNoContent, s.send(t, "DELETE", "/v1/terminal", nil, nil).status)
		}
		return a
	}
	t.Fatalf("no contract runner for examples of %s: add one to sendExample", opID)
	return answer{}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
