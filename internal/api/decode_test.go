package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/register"
)

func TestIdempotencyKeyHeader(t *testing.T) {
	ts := startServer(t, newFake(), nil)
	tests := []struct {
		name string
		key  []string
		want int
	}{
		{"missing", nil, 400},
		{"empty", []string{""}, 400},
		{"too long", []string{strings.Repeat("k", 256)}, 400},
		{"non-ascii", []string{"nyckel-å"}, 400},
		{"twice", []string{"a", "b"}, 400},
		{"longest allowed", []string{strings.Repeat("k", 255)}, 202},
		{"uuid", []string{"3f1b6c1e-8c4a-4b7e-9a51-0d2f8e7c6b5a"}, 202},
		{"with space", []string{"sale 42 attempt 1"}, 202},
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
	ts := startServer(t, newFake(), nil)
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
	fake := newFake()
	fake.ready = make(chan struct{}) // recovery still running
	ts := startServer(t, fake, nil)
	resp := ts.do(t, "POST", "/v1/payments", validPayment, withKey("k1"))
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	assert.Equal(t, ProblemBase+"not-ready", readProblem(t, resp).Type)
	assert.Zero(t, fake.Mutations())
}

func TestRequestBodyErrorsNameTheField(t *testing.T) {
	ts := startServer(t, newFake(), nil)
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
		{"rows do not sum", strings.Replace(validPayment, `"receiptTotal":"20.00"`, `"receiptTotal":"21.00"`, 1), 422, "receiptTotal"},
		{"currency", strings.Replace(validPayment, `"SEK"`, `"sek"`, 1), 422, "currency"},
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
	assert.Zero(t, ts.fake.Mutations())
	for _, ct := range []string{"", "application/json; charset=utf-8", "application/x-www-form-urlencoded"} {
		t.Run("accepted "+ct, func(t *testing.T) {
			resp := ts.do(t, "POST", "/v1/payments", validPayment, func(r *http.Request) {
				r.Header.Set("Idempotency-Key", "ct-"+ct)
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
		{"change back", body("50.00", "30.00", row("Bulle", "2", "15.00", "30.00", "12")), ""},
		{"discount row", body("15.00", "15.00", row("Bulle", "2", "10.00", "20.00", "12"), row("Rabatt", "1", "-5.00", "-5.00", "12")), ""},
		{"weight", body("12.50", "12.50", row("Ost", "0.5", "25.00", "12.50", "12")), ""},
		{"swedish text", body("9.00", "9.00", row("Räksmörgås é €", "1", "9.00", "9.00", "25")), ""},
		{"bare amount, no rows", `{"method":"seqr","amount":"20.00","currency":"SEK"}`, ""},
		{"method", strings.Replace(body("1.00", "1.00", row("a", "1", "1.00", "1.00", "25")), `"seqr"`, `"cash"`, 1), "method"},
		{"zero amount", body("0.00", "1.00", row("a", "1", "1.00", "1.00", "25")), "amount"},
		{"negative amount", body("-1.00", "1.00", row("a", "1", "1.00", "1.00", "25")), "amount"},
		{"huge amount", body("99999999999999.00", "1.00", row("a", "1", "1.00", "1.00", "25")), "amount"},
		{"missing total", body("1.00", "", row("a", "1", "1.00", "1.00", "25")), "receiptTotal"},
		{"sum mismatch", body("1.00", "2.00", row("a", "1", "1.00", "1.00", "25")), "receiptTotal"},
		{"empty description", body("1.00", "1.00", row("", "1", "1.00", "1.00", "25")), "rows[0].description"},
		{"second row quantity", body("2.00", "2.00", row("a", "1", "1.00", "1.00", "25"), row("b", "0", "1.00", "1.00", "25")), "rows[1].quantity"},
		{"quantity exponent", body("1.00", "1.00", row("a", "1e0", "1.00", "1.00", "25")), "rows[0].quantity"},
		{"tax rate", body("1.00", "1.00", row("a", "1", "1.00", "1.00", "125")), "rows[0].taxRate"},
		{"tax rate text", body("1.00", "1.00", row("a", "1", "1.00", "1.00", "25%")), "rows[0].taxRate"},
		{"row total text", body("1.00", "1.00", row("a", "1", "1.00", "one", "25")), "rows[0].totalAmount"},
		{"control character", body("1.00", "1.00", row(`a\u0007`, "1", "1.00", "1.00", "25")), "rows[0].description"},
		{"missing amount", `{"method":"seqr","currency":"SEK"}`, "amount"},
		{"null amount", `{"method":"seqr","currency":"SEK","amount":null}`, "amount"},
		{"number amount", `{"method":"seqr","currency":"SEK","amount":20}`, "amount"},
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

// FuzzDecodePaymentRequest (F3): the decoder and validator never panic, and
// whatever they accept survives a round trip through its JSON form exactly.
func FuzzDecodePaymentRequest(f *testing.F) {
	f.Add([]byte(validPayment))
	f.Add([]byte(`{"method":"seqr","amount":"20.00","currency":"SEK"}`))
	f.Add([]byte(`{"method":"seqr","amount":20,"currency":"SEK"}`))
	f.Add([]byte(`{"method":"seqr","amount":"-0.001","rows":[{"quantity":"1e9"}]}`))
	f.Add([]byte(`{"rows":[{"unitPrice":null,"totalAmount":"9999999999999999"}],"receiptTotal":"0.10000"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"amount":"\u0032\u0030"}`))
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
		if req.Amount <= 0 || req.ReceiptTotal <= 0 {
			t.Fatalf("accepted a non-positive amount: %+v", req)
		}
		var sum money.Amount
		for _, r := range req.Rows {
			sum += r.TotalAmount
		}
		if len(req.Rows) > 0 && sum != req.ReceiptTotal {
			t.Fatalf("accepted rows summing to %s with receiptTotal %s", sum, req.ReceiptTotal)
		}
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		again, err := DecodePaymentRequest(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("round trip of %s: %v", b, err)
		}
		if again.Amount != req.Amount || again.ReceiptTotal != req.ReceiptTotal || len(again.Rows) != len(req.Rows) {
			t.Fatalf("round trip changed the request: %+v vs %+v", req, again)
		}
	})
}

// TestConcurrentCopiesOneKey: ten copies of one request with one key, sent
// at once, all answer with the same payment and only one is "created".
func TestConcurrentCopiesOneKey(t *testing.T) {
	ts := startServer(t, newFake(), nil)
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
