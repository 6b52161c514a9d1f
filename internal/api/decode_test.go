package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/register"
)

// TestIdempotencyKeyHeaderPresentOnce: the API checks that the header is
// there once; what it may contain is the register's rule (contract tests).
func TestIdempotencyKeyHeaderPresentOnce(t *testing.T) {
	ts := startServer(t, newSpy(t), nil)
	tests := []struct {
		name string
		key  []string
		want int
	}{
		{"missing", nil, 400},
		{"empty", []string{""}, 400},
		{"twice", []string{"a", "b"}, 400},
		{"uuid", []string{"3f1b6c1e-8c4a-4b7e-9a51-0d2f8e7c6b5a"}, 202},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := ts.do(t, "POST", "/v1/payments", validPayment, func(r *http.Request) {
				for _, k := range tt.key {
					r.Header.Add("Idempotency-Key", k)
				}
			})
			require.Equal(t, tt.want, resp.StatusCode)
			if tt.want == 400 {
				p := readProblem(t, resp)
				assert.Equal(t, "Idempotency-Key", p.Field)
				assert.Contains(t, p.Detail, "Idempotency-Key")
			}
		})
	}
}

func TestCreatePaymentReplay(t *testing.T) {
	ts := startServer(t, newSpy(t), nil)
	first := ts.do(t, "POST", "/v1/payments", validPayment, withKey("k1"))
	require.Equal(t, http.StatusAccepted, first.StatusCode)
	var p1 register.Payment
	require.NoError(t, json.NewDecoder(first.Body).Decode(&p1))
	assert.Equal(t, "/v1/payments/"+p1.ID, first.Header.Get("Location"))
	assert.Equal(t, money.MustParse("20.00"), p1.Amount)

	again := ts.do(t, "POST", "/v1/payments", validPayment, withKey("k1"))
	require.Equal(t, http.StatusOK, again.StatusCode)
	assert.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	var p2 register.Payment
	require.NoError(t, json.NewDecoder(again.Body).Decode(&p2))
	assert.Equal(t, p1.ID, p2.ID)

	other := strings.ReplaceAll(strings.ReplaceAll(validPayment, `"20.00"`, `"25.00"`), `"Kaffe"`, `"Te"`)
	resp := ts.do(t, "POST", "/v1/payments", other, withKey("k1"))
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	assert.Equal(t, ProblemBase+"idempotency-key", readProblem(t, resp).Type)
}

func TestCreatePaymentNotReady(t *testing.T) {
	spy := newRecoveringSpy(t) // recovery still running
	ts := startServer(t, spy, nil)
	resp := ts.do(t, "POST", "/v1/payments", validPayment, withKey("k1"))
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	assert.Equal(t, ProblemBase+"not-ready", readProblem(t, resp).Type)
	assert.Zero(t, spy.Mutations())
}

func TestRequestBodyErrorsNameTheField(t *testing.T) {
	ts := startServer(t, newSpy(t), nil)
	tests := []struct {
		name, body string
		status     int
		field      string
	}{
		{"unknown field", `{"method":"seqr","bogus":1}`, 400, "bogus"},
		{"unknown field in a row", `{"method":"seqr","currency":"SEK","amount":"1.00","rows":[{"colour":"red"}]}`, 400, "rows[0].colour"},
		{"number quantity in a row", strings.Replace(validPayment, `"quantity":"1"`, `"quantity":1`, 1), 400, "rows[0].quantity"},
		{"row not an object", strings.Replace(validPayment, `"rows":[{`, `"rows":[7,{`, 1), 400, "rows[0]"},
		{"number amount", strings.Replace(validPayment, `"amount":"20.00"`, `"amount":20.00`, 1), 400, "amount"},
		{"number receiptTotal", strings.Replace(validPayment, `"receiptTotal":"20.00"`, `"receiptTotal":20`, 1), 400, "receiptTotal"},
		{"number unit price", strings.Replace(validPayment, `"unitPrice":"20.00"`, `"unitPrice":20`, 1), 400, "rows[0].unitPrice"},
		{"string where number", `{"method":7}`, 400, "method"},
		{"not an object", `[1,2]`, 400, ""},
		{"malformed", `{"method":`, 400, ""},
		{"trailing data", validPayment + `{}`, 400, ""},
		{"empty body", ``, 400, ""},
		{"bad decimal", strings.Replace(validPayment, `"amount":"20.00"`, `"amount":"20,00"`, 1), 422, "amount"},
		{"three decimals", strings.Replace(validPayment, `"amount":"20.00"`, `"amount":"20.001"`, 1), 422, "amount"},
		{"key in capitals", strings.Replace(validPayment, `"amount":"20.00"`, `"amount":"1.00","AMOUNT":"900.00"`, 1), 400, "AMOUNT"},
		{"duplicate key", strings.Replace(validPayment, `"amount":"20.00"`, `"amount":"1.00","amount":"900.00"`, 1), 400, "amount"},
		{"duplicate key in a row", strings.Replace(validPayment, `"quantity":"1"`, `"quantity":"1","quantity":"9"`, 1), 400, "rows[0].quantity"},
		{"lone surrogate", strings.Replace(validPayment, `"Sale"`, `"Sale\ud800"`, 1), 400, "title"},
		{"invalid UTF-8", strings.Replace(validPayment, `"Kaffe"`, "\"Kaf\xfffe\"", 1), 400, "rows[0].description"},
		{"null body", `null`, 400, ""},
		{"string body", `"{}"`, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := ts.do(t, "POST", "/v1/payments", tt.body, withKey("k"))
			require.Equal(t, tt.status, resp.StatusCode)
			p := readProblem(t, resp)
			assert.Equal(t, tt.field, p.Field, p.Detail)
			if tt.field != "" {
				assert.Contains(t, p.Detail, tt.field)
			}
		})
	}
	for _, ct := range []string{"text/plain", "multipart/form-data; boundary=x", "application/xml"} {
		t.Run("refused "+ct, func(t *testing.T) {
			resp := ts.do(t, "POST", "/v1/payments", validPayment, func(r *http.Request) {
				r.Header.Set("Idempotency-Key", "k")
				r.Header.Set("Content-Type", ct)
			})
			require.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)
			assert.Equal(t, ProblemBase+"unsupported-media-type", readProblem(t, resp).Type)
		})
	}
	assert.Zero(t, ts.spy.Mutations())
	for i, ct := range []string{"", "application/json; charset=utf-8", "application/x-www-form-urlencoded"} {
		t.Run("accepted "+ct, func(t *testing.T) {
			resp := ts.do(t, "POST", "/v1/payments", validPayment, func(r *http.Request) {
				r.Header.Set("Idempotency-Key", fmt.Sprintf("ct-%d", i))
				r.Header.Set("Content-Type", ct)
			})
			require.Equal(t, http.StatusAccepted, resp.StatusCode)
		})
	}
}

func TestDecodePaymentRequest(t *testing.T) {
	row := func(desc, qty, unit, total, tax string) string {
		return `{"description":"` + desc + `","quantity":"` + qty + `","unitPrice":"` + unit + `","totalAmount":"` + total + `","taxRate":"` + tax + `"}`
	}
	body := func(amount, total string, rows ...string) string {
		b := `{"method":"seqr","saleId":"S1","cashierId":"C1","title":"t","amount":"` + amount + `","currency":"SEK"`
		if total != "" {
			b += `,"receiptTotal":"` + total + `"`
		}
		return b + `,"rows":[` + strings.Join(rows, ",") + `]}`
	}
	tests := []struct {
		name, body string
		field      string // "" = valid
	}{
		{"one row", body("20.00", "20.00", row("Kaffe", "1", "20.00", "20.00", "12")), ""},
		{"split tender, rest paid otherwise", body("10.00", "30.00", row("Bulle", "2", "15.00", "30.00", "12")), ""},
		{"discount row", body("15.00", "15.00", row("Bulle", "2", "10.00", "20.00", "12"), row("Rabatt", "1", "-5.00", "-5.00", "12")), ""},
		{"swedish text", body("9.00", "9.00", row("Räksmörgås é €", "1", "9.00", "9.00", "25")), ""},
		{"unit price and tax rate may be left out", body("1.00", "1.00", `{"description":"a","quantity":"1","totalAmount":"1.00"}`), ""},
		{"customer and validUntil", strings.Replace(body("1.00", "1.00", row("a", "1", "1.00", "1.00", "25")), `"method":"seqr"`,
			`"method":"resurs_later","customer":{"governmentId":"19121212-1212","mobile":"+46701234567","email":"k@example.se"},"validUntil":"2026-12-24T18:00:00+01:00"`, 1), ""},
		{"missing method", `{"amount":"1.00","currency":"SEK","receiptTotal":"1.00","rows":[]}`, "method"},
		{"missing currency", `{"method":"seqr","amount":"1.00","receiptTotal":"1.00","rows":[]}`, "currency"},
		{"missing total", body("1.00", "", row("a", "1", "1.00", "1.00", "25")), "receiptTotal"},
		{"missing rows", `{"method":"seqr","amount":"1.00","currency":"SEK","receiptTotal":"1.00"}`, "rows"},
		{"missing description", body("1.00", "1.00", `{"quantity":"1","totalAmount":"1.00"}`), "rows[0].description"},
		{"missing quantity", body("1.00", "1.00", `{"description":"a","totalAmount":"1.00"}`), "rows[0].quantity"},
		{"row total text", body("1.00", "1.00", row("a", "1", "1.00", "one", "25")), "rows[0].totalAmount"},
		{"missing amount", `{"method":"seqr","currency":"SEK"}`, "amount"},
		{"null amount", `{"method":"seqr","currency":"SEK","amount":null}`, "amount"},
		{"number amount", `{"method":"seqr","currency":"SEK","amount":20}`, "amount"},
		{"customer unknown member", strings.Replace(body("1.00", "1.00", row("a", "1", "1.00", "1.00", "25")), `"method":"seqr"`,
			`"method":"seqr","customer":{"name":"x"}`, 1), "customer.name"},
		{"validUntil not RFC 3339", strings.Replace(body("1.00", "1.00", row("a", "1", "1.00", "1.00", "25")), `"method":"seqr"`,
			`"method":"seqr","validUntil":"24/12/2026"`, 1), "validUntil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := DecodePaymentRequest(strings.NewReader(tt.body))
			if tt.field == "" {
				require.NoError(t, err)
				assert.Positive(t, req.Amount)
				return
			}
			require.Error(t, err)
			var ve *register.ValidationError
			var re *requestError
			switch {
			case errors.As(err, &ve):
				assert.Equal(t, tt.field, ve.Field)
			case errors.As(err, &re):
				assert.Equal(t, tt.field, re.Field)
			default:
				t.Fatalf("error %v names no field", err)
			}
		})
	}
}

func TestDecodedRequestIsExact(t *testing.T) {
	req, err := DecodePaymentRequest(strings.NewReader(`{"method":"seqr","amount":"10.10","currency":"SEK","receiptTotal":"30.30",
		"rows":[{"description":"a","quantity":"3","unitPrice":"10.10","totalAmount":"30.30","taxRate":"6","sku":"X1","ean":"7310865004703"}]}`))
	require.NoError(t, err)
	assert.Equal(t, register.PaymentRequest{Method: "seqr", Amount: 1010, Currency: "SEK", ReceiptTotal: 3030,
		Rows: []register.Row{{Description: "a", Quantity: "3", UnitPrice: 1010, TotalAmount: 3030, TaxRate: "6", SKU: "X1", EAN: "7310865004703"}}}, req)
}

// FuzzDecodePaymentRequest (F3): the decoder never panics, every error it
// returns names its kind (400 or 422), and whatever it accepts survives a
// round trip through its JSON form exactly. Limits are the register's and
// are fuzzed there (FuzzValidatePayment).
func FuzzDecodePaymentRequest(f *testing.F) {
	f.Add([]byte(validPayment))
	f.Add([]byte(`{"method":"seqr","amount":"20.00","currency":"SEK"}`))
	f.Add([]byte(`{"method":"seqr","amount":20,"currency":"SEK"}`))
	f.Add([]byte(`{"method":"seqr","amount":"-0.001","rows":[{"quantity":"1e9"}]}`))
	f.Add([]byte(`{"rows":[{"unitPrice":null,"totalAmount":"9999999999999999"}],"receiptTotal":"0.10000"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"amount":"\u0032\u0030","Amount":"1"}`))
	f.Add([]byte(`{"title":"\ud800","title":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := DecodePaymentRequest(bytes.NewReader(data))
		if err != nil {
			var ve *register.ValidationError
			var re *requestError
			if !errors.As(err, &ve) && !errors.As(err, &re) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return
		}
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		again, err := DecodePaymentRequest(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("round trip of %s: %v", b, err)
		}
		if !reflect.DeepEqual(again, req) {
			t.Fatalf("round trip changed the request: %+v vs %+v", req, again)
		}
	})
}

// TestConcurrentCopiesOneKey: ten copies of one request with one key, sent
// at once, all answer with the same payment and only one is "created".
func TestConcurrentCopiesOneKey(t *testing.T) {
	ts := startServer(t, newSpy(t), nil)
	type result struct {
		status int
		id     string
	}
	results := make(chan result, 10)
	for range 10 {
		go func() {
			req, _ := http.NewRequest("POST", ts.base+"/v1/payments", strings.NewReader(validPayment))
			req.Header.Set("Authorization", "Bearer "+testToken)
			req.Header.Set("Idempotency-Key", "same-key")
			resp, err := ts.client.Do(req)
			if err != nil {
				results <- result{}
				return
			}
			defer resp.Body.Close()
			var p register.Payment
			_ = json.NewDecoder(resp.Body).Decode(&p)
			results <- result{resp.StatusCode, p.ID}
		}()
	}
	created, ids := 0, map[string]bool{}
	for range 10 {
		r := <-results
		require.Contains(t, []int{200, 202}, r.status)
		if r.status == 202 {
			created++
		}
		ids[r.id] = true
	}
	assert.Equal(t, 1, created)
	assert.Len(t, ids, 1)
}

// BenchmarkDecodePaymentRequest: the strict decoder on a sale of 20 rows
// (about 2.6 KB), the common case at a till.
func BenchmarkDecodePaymentRequest(b *testing.B) {
	rows := make([]string, 20)
	for i := range rows {
		rows[i] = `{"description":"Vara ` + strings.Repeat("x", 20) + `","quantity":"1","unitPrice":"1.00","totalAmount":"1.00","taxRate":"25","ean":"7310865004703"}`
	}
	body := []byte(`{"method":"seqr","saleId":"S-1","cashierId":"bob","title":"Kaffebaren","amount":"20.00","currency":"SEK","receiptTotal":"20.00","rows":[` +
		strings.Join(rows, ",") + `]}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodePaymentRequest(bytes.NewReader(body)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestUnknownMemberNameIsQuotedWhenHidden: a member name is the client's
// text; one with a bidi control is named quoted, so it cannot reorder the
// problem's detail where it is shown.
func TestUnknownMemberNameIsQuotedWhenHidden(t *testing.T) {
	_, err := DecodePaymentRequest(strings.NewReader(`{"ti\u202etle":"x"}`))
	var re *requestError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, `"ti\u202etle"`, re.Field)
	assert.Equal(t, "unknown field", re.Message)
}
