package resurs

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/payment"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testUser = "posd_test"
	testPass = "posd_test_pw"
)

func newPOS(t *testing.T, h http.HandlerFunc) *POS {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := NewPOS(POSConfig{URL: srv.URL + "/pos", Username: testUser, Password: testPass})
	require.NoError(t, err)
	return c
}

func TestDecimalParseAndCanon(t *testing.T) {
	for in, want := range map[string]Decimal{
		"30.00000": "30", "1250": "1250", "300.0144": "300.0144", "-0.50": "-0.5", "-0.000": "0",
		"007.10": "7.1", "0.00000000000000000000": "0", "4.000000000000000": "4",
	} {
		got, err := ParseDecimal(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "1e3", "+1", " 1", "1,5", ".5", "5.", "NaN"} {
		_, err := ParseDecimal(bad)
		assert.ErrorIs(t, err, ErrDecimal, bad)
	}
	assert.Equal(t, "1100.00000", MustDecimal("1100").Places(5))
	assert.Equal(t, "300.0144", MustDecimal("300.0144").Places(2))
	assert.Equal(t, money.Amount(30001), MustDecimal("300.0144").Round())
	assert.Equal(t, money.Amount(-30002), MustDecimal("-300.015").Round(), "half away from zero")
	_, err := MustDecimal("300.0144").Amount()
	assert.ErrorIs(t, err, money.ErrPrecision)
	a, err := MustDecimal("30.00000").Amount()
	require.NoError(t, err)
	assert.Equal(t, money.Amount(3000), a)
}

func TestDecimalJSON(t *testing.T) {
	var v struct{ A, B, C, D, E Decimal }
	require.NoError(t, json.Unmarshal([]byte(`{"A":625,"B":"300.0144","C":null,"D":1.25E2,"E":-1e-3}`), &v))
	assert.Equal(t, Decimal("625"), v.A)
	assert.Equal(t, Decimal("300.0144"), v.B)
	assert.Equal(t, Decimal(""), v.C)
	assert.Equal(t, Decimal("125"), v.D)
	assert.Equal(t, Decimal("-0.001"), v.E)
	assert.Error(t, json.Unmarshal([]byte(`{"A":"1e3"}`), &v))
	assert.Error(t, json.Unmarshal([]byte(`{"A":true}`), &v))
	b, err := json.Marshal(struct{ X Decimal }{"12.568"})
	require.NoError(t, err)
	assert.Equal(t, `{"X":12.568}`, string(b))
}

func TestTimeAcceptsISOAndNumbers(t *testing.T) {
	want := time.Date(2020, 4, 9, 8, 41, 9, 0, time.UTC)
	for _, s := range []string{`"2020-04-09T08:41:09.000+0000"`, `"2020-04-09T08:41:09Z"`, `"2020-04-09T10:41:09+02:00"`, `1586421669000`, `1586421669`, `"1586421669000"`} {
		var tm Time
		require.NoError(t, json.Unmarshal([]byte(s), &tm), s)
		assert.True(t, want.Equal(tm.Time), "%s -> %v", s, tm.Time)
	}
	var tm Time
	require.NoError(t, json.Unmarshal([]byte(`null`), &tm))
	assert.True(t, tm.IsZero())
	assert.Error(t, json.Unmarshal([]byte(`"yesterday"`), &tm))
}

func TestValidOrderReference(t *testing.T) {
	assert.NoError(t, ValidOrderReference("POS12-000001"))
	assert.NoError(t, ValidOrderReference(strings.Repeat("a", 32)))
	for _, bad := range []string{"", strings.Repeat("a", 33), "POS 1", "POS_1", "POS/1", "åäö"} {
		assert.Error(t, ValidOrderReference(bad), bad)
	}
}

// E.1: a session for one line {qty 1, net 500, vat 25}.
func TestCreateSessionSendsTheDocumentedBody(t *testing.T) {
	var gotPath, gotAuth string
	var gotBody map[string]any
	c := newPOS(t, func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotAuth = r.Method+" "+r.URL.Path, r.Header.Get("Authorization")
		require.NoError(t, json.NewDecoder(r.Body).Decode(&gotBody))
		io.WriteString(w, `{"paymentSessionId":"0b6a3c5e-8a4c-4a53-9d69-5a0e3f1e2f11","html":"<iframe id=\"rco-checkout-app-frame\" src=\"https://postest.resurs.com/web/dist/omni-checkout.html?0b6a3c5e-8a4c-4a53-9d69-5a0e3f1e2f11&amp;x=1\" frameborder=\"0\"></iframe><script src=\"https://postest.resurs.com/web/dist/js/oc-shop.js\"></script>"}`)
	})
	lines, err := LinesOf([]payment.Row{{Description: "Kaffe", Quantity: "1", Total: money.MustParse("625.00"), TaxRate: "25", SKU: "1"}})
	require.NoError(t, err)
	res, err := c.CreateSession(context.Background(), "POS12-000001", SessionRequest{
		OrderLines: lines,
		MetaData:   []MetaData{{Key: "invoiceExtRef", Value: "sale 7"}},
		Customer:   &SessionPerson{GovernmentID: "198305147715", Mobile: "0701112233"},
		SuccessURL: "https://shop.example/ok", BackURL: "https://shop.example/back", ShopURL: "https://shop.example",
		StoreID: "store-1",
	})
	require.NoError(t, err)
	assert.Equal(t, "POST /pos/payments/POS12-000001", gotPath)
	assert.True(t, strings.HasPrefix(gotAuth, "Basic "), "credentials sent up front")
	assert.Equal(t, "0b6a3c5e-8a4c-4a53-9d69-5a0e3f1e2f11", res.PaymentSessionID)
	assert.Equal(t, "https://postest.resurs.com/web/dist/omni-checkout.html?0b6a3c5e-8a4c-4a53-9d69-5a0e3f1e2f11&x=1", res.IframeURL)
	line := gotBody["orderLines"].([]any)[0].(map[string]any)
	assert.Equal(t, map[string]any{"artNo": "1", "description": "Kaffe", "quantity": 1.0, "unitMeasure": "st", "unitAmountWithoutVat": 500.0, "vatPct": 25.0, "type": "ORDER_LINE"}, line)
	assert.Equal(t, "198305147715", gotBody["customer"].(map[string]any)["governmentId"])
	assert.Equal(t, "store-1", gotBody["storeId"])
	assert.Equal(t, "https://shop.example", gotBody["shopUrl"])
	_, hasCallback := gotBody["paymentCreatedCallbackUrl"]
	assert.False(t, hasCallback, "unset optionals are left out")
}

func TestCreateSessionRefusesBadInputWithoutSending(t *testing.T) {
	c := newPOS(t, func(w http.ResponseWriter, r *http.Request) { t.Error("must not be sent") })
	good := []OrderLine{{ArtNo: "1", Description: "x", Quantity: "1", UnitMeasure: "st", UnitAmountWithoutVat: "1", VatPct: "25"}}
	for name, tc := range map[string]struct {
		ref string
		req SessionRequest
	}{
		"long reference":  {strings.Repeat("A", 33), SessionRequest{OrderLines: good}},
		"bad reference":   {"a_b", SessionRequest{OrderLines: good}},
		"no lines":        {"R1", SessionRequest{}},
		"vat over 100":    {"R1", SessionRequest{OrderLines: []OrderLine{{Description: "x", Quantity: "1", UnitAmountWithoutVat: "1", VatPct: "101"}}}},
		"long CustomerId": {"R1", SessionRequest{OrderLines: good, MetaData: []MetaData{{Key: "CustomerId", Value: strings.Repeat("x", 21)}}}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := c.CreateSession(context.Background(), tc.ref, tc.req)
			require.ErrorIs(t, err, ErrInvalidRequest)
			require.ErrorIs(t, err, ErrNotSent)
		})
	}
}

// A.4: every error shape is read; E.3 and E.4.
func TestRESTErrorShapes(t *testing.T) {
	for name, tc := range map[string]struct {
		status   int
		body     string
		code     string
		message  string
		notFound bool
		unauth   bool
	}{
		"exists":          {400, `{"message":"OrderReference already exists"}`, "", "OrderReference already exists", false, false},
		"bad credentials": {401, `{"message":"Bad credentials"}`, "", "Bad credentials", false, true},
		"no order":        {404, `{"message":"The order does not exist"}`, "", "The order does not exist", true, false},
		"internal":        {500, `{"message":"Internal error"}`, "", "Internal error", false, false},
		"message+status":  {400, `{"message":"m","status":400}`, "", "m", false, false},
		"numeric code":    {400, `{"errorCode":8,"description":"d"}`, "8", "d", false, false},
		"string code":     {404, `{"errorCode":"PAYMENT_SESSION_NOT_FOUND","detailedMessage":"gone"}`, "PAYMENT_SESSION_NOT_FOUND", "gone", true, false},
		"html":            {502, `<html>Bad gateway</html>`, "", "<html>Bad gateway</html>", false, false},
	} {
		t.Run(name, func(t *testing.T) {
			c := newPOS(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			_, err := c.GetPayment(context.Background(), "R1")
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tc.status, ae.Status)
			assert.Equal(t, tc.code, ae.Code)
			assert.Equal(t, tc.message, ae.Message)
			assert.Equal(t, tc.notFound, errors.Is(err, ErrNotFound))
			assert.Equal(t, tc.unauth, errors.Is(err, ErrUnauthorized))
			assert.False(t, errors.Is(err, ErrNotSent))
		})
	}
}

func TestCreateSessionWithoutSessionIDIsAnError(t *testing.T) {
	c := newPOS(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"html":"<iframe></iframe>"}`) })
	_, err := c.CreateSession(context.Background(), "R1", SessionRequest{OrderLines: []OrderLine{{Description: "x", Quantity: "1", UnitAmountWithoutVat: "1", VatPct: "0"}}})
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrNotSent), "it arrived: the outcome is not known")
}

// A.5 / E.5: a booked POS payment, every field, timestamps as strings or numbers.
const bookedJSON = `{"id":"POS12-000001","totalAmount":625.00000,"metaData":[{"key":"invoiceExtRef","value":"sale 7"}],
 "limit":625,"paymentDiffs":[
  {"type":"AUTHORIZE","transactionId":"T1","created":"2020-04-09T08:41:09.000+0000","createdBy":"pos",
   "paymentSpec":{"specLines":[{"id":"1","artNo":"1","description":"Kaffe","quantity":1,"unitMeasure":"st","unitAmountWithoutVat":500,"vatPct":25,"totalVatAmount":125,"totalAmount":625}],"totalAmount":625,"totalVatAmount":125,"bonusPoints":null},
   "orderId":null,"invoiceId":null,"documentNames":[]},
  {"type":"DEBIT","transactionId":"T2","created":1586421669000,"paymentSpec":{"specLines":[],"totalAmount":"625.00000","totalVatAmount":"125.00000"},"documentNames":["INVOICE_20200409-084109_1"]}],
 "customer":{"governmentId":"198305147715","address":{"fullName":"Vincent Williamsson Alexandersson","firstName":"Vincent","lastName":"Williamsson Alexandersson","addressRow1":"Glassgatan 15","addressRow2":null,"postalArea":"Göteborg","postalCode":"41655","country":"SE"},"phone":"0701112233","email":"v@example.com","type":"NATURAL"},
 "deliveryAddress":null,"booked":"2020-04-09T08:41:09.000+0000","finalized":1586421669000,
 "paymentMethodId":"INVOICE","paymentMethodName":"Faktura","fraud":false,"frozen":false,
 "status":["IS_DEBITED","CREDITABLE"],"storeId":"store-1","paymentMethodType":"INVOICE","totalBonusPoints":0,"someNewField":{"x":1}}`

func TestGetPaymentReadsEveryField(t *testing.T) {
	var gotPath string
	c := newPOS(t, func(w http.ResponseWriter, r *http.Request) {
		gotPath = r.Method + " " + r.URL.Path
		io.WriteString(w, bookedJSON)
	})
	p, err := c.GetPayment(context.Background(), "POS12-000001")
	require.NoError(t, err)
	assert.Equal(t, "GET /pos/payments/POS12-000001", gotPath)
	assert.Equal(t, "POS12-000001", p.ID)
	assert.Equal(t, Decimal("625"), p.TotalAmount)
	assert.Equal(t, Decimal("625"), p.Limit)
	assert.Equal(t, "sale 7", p.Meta("invoiceExtRef"))
	require.Len(t, p.Diffs, 2)
	assert.Equal(t, DiffAuthorize, p.Diffs[0].Type)
	assert.Equal(t, Decimal("125"), p.Diffs[0].Spec.TotalVatAmount)
	assert.Equal(t, Decimal("500"), p.Diffs[0].Spec.Lines[0].UnitAmountWithoutVat)
	assert.Equal(t, []string{"INVOICE_20200409-084109_1"}, p.Diffs[1].DocumentNames)
	assert.True(t, p.Diffs[0].Created.Equal(p.Diffs[1].Created.Time))
	assert.Equal(t, "Glassgatan 15", p.Customer.Address.AddressRow1)
	assert.Equal(t, "NATURAL", p.Customer.Type)
	assert.Nil(t, p.DeliveryAddress)
	assert.False(t, p.Finalized.IsZero())
	assert.Equal(t, "Faktura", p.PaymentMethodName)
	assert.True(t, p.Has(StatusDebited) && p.Has(StatusCreditable))
	assert.True(t, p.IsFinalized())
	assert.False(t, p.IsAnnulled())
	assert.Equal(t, "625", p.Creditable().FloatString(0))
	assert.Equal(t, "0", p.Debitable().FloatString(0))
}

// E.7: unrounded amounts are kept.
func TestGetPaymentKeepsUnroundedAmounts(t *testing.T) {
	c := newPOS(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"id":"R7","totalAmount":300.0144,"status":["DEBITABLE"],"booked":"2020-04-09T08:41:09Z","finalized":null}`)
	})
	p, err := c.GetPayment(context.Background(), "R7")
	require.NoError(t, err)
	assert.Equal(t, Decimal("300.0144"), p.TotalAmount)
	assert.True(t, p.Finalized.IsZero())
	assert.False(t, p.IsFinalized())
}

func TestLinesOfExactNetAmounts(t *testing.T) {
	lines, err := LinesOf([]payment.Row{
		{Description: "Bok", Quantity: "3", Total: money.MustParse("300.00"), TaxRate: "12", EAN: "7310000000001"},
		{Description: "Rabatt", Quantity: "1", Total: money.MustParse("-50.00"), TaxRate: "25"},
		{Description: payment.BalancingOtherText, Quantity: "1", Total: money.MustParse("10.00")},
		{Description: "Halv", Quantity: "0.5", Total: money.MustParse("33.33"), TaxRate: "6"},
	})
	require.NoError(t, err)
	// 300 / (3 x 1.12) = 89.285714285714...: sent with 8 decimals, unrounded to 2.
	assert.Equal(t, Decimal("89.28571429"), lines[0].UnitAmountWithoutVat)
	assert.Equal(t, "7310000000001", lines[0].ArtNo)
	assert.Equal(t, Decimal("-40"), lines[1].UnitAmountWithoutVat)
	assert.Equal(t, LineDiscount, lines[1].Type)
	assert.Equal(t, Decimal("0"), lines[2].VatPct)
	assert.Equal(t, Decimal("10"), lines[2].UnitAmountWithoutVat)
	assert.Equal(t, Decimal("62.88679245"), lines[3].UnitAmountWithoutVat)
	for i, l := range lines {
		// Resurs's own arithmetic (A.3) must land within 0.05 of the gross row.
		total := l.Quantity.Rat()
		total.Mul(total, l.UnitAmountWithoutVat.Rat())
		f := l.VatPct.Rat()
		f.Quo(f, bigRat(100))
		f.Add(f, bigRat(1))
		total.Mul(total, f)
		assert.Equal(t, []string{"300.00", "-50.00", "10.00", "33.33"}[i], total.FloatString(2))
	}
	_, err = LinesOf([]payment.Row{{Description: "x", Quantity: "0", Total: 100}})
	assert.Error(t, err)
	_, err = LinesOf([]payment.Row{{Description: "x", Quantity: "1", Total: 100, TaxRate: "abc"}})
	assert.Error(t, err)
}

func FuzzPaymentJSON(f *testing.F) {
	f.Add([]byte(bookedJSON))
	f.Add([]byte(`{"id":"x","totalAmount":1e400}`))
	f.Add([]byte(`{"id":"x","booked":-1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePaymentJSON(b)
		if err != nil {
			return
		}
		// Whatever parsed must be usable: amounts are canonical decimals.
		for _, d := range []Decimal{p.TotalAmount, p.Limit} {
			if d != "" {
				if _, err := ParseDecimal(string(d)); err != nil {
					t.Fatalf("non-canonical decimal %q", d)
				}
			}
		}
		_ = p.Debitable()
		_ = p.Creditable()
	})
}

func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"30.00000", "-0.5", "1250", "x", "1.2.3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDecimal(s)
		if err != nil {
			return
		}
		again, err := ParseDecimal(string(d))
		if err != nil || again != d {
			t.Fatalf("%q -> %q -> %q (%v)", s, d, again, err)
		}
		if d.Rat().Cmp(MustDecimal(s).Rat()) != 0 {
			t.Fatalf("value changed")
		}
	})
}
