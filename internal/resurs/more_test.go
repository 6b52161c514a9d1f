package resurs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/soap"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// A 404 of an unbooked session may say the session's state (posd's
// emulator does, spec G.1): rejected and expired sessions end with Resurs's
// message for the cashier; without a state the session stays pending.
func TestUnbookedSessionStates(t *testing.T) {
	for _, tc := range []struct {
		body   string
		status payment.Status
		note   string
	}{
		{`{"message":"The order does not exist"}`, payment.Pending, "waiting for the customer"},
		{`{"message":"The order does not exist","sessionStatus":"CREATED"}`, payment.Pending, "waiting for the customer"},
		{`{"message":"x","sessionStatus":"INSPECTION"}`, payment.Pending, "Resurs Bank is checking the application"},
		{`{"message":"x","sessionStatus":"LINK_SENT","validTo":"2026-12-03T09:00:00Z"}`, payment.Pending, "Betala sen: link sent, waiting for the customer"},
		{`{"message":"x","sessionStatus":"REJECTED","userMessage":"Köpet kunde inte genomföras."}`, payment.Failed, "Köpet kunde inte genomföras."},
		{`{"message":"x","sessionStatus":"REJECTED"}`, payment.Failed, "Resurs Bank rejected the purchase"},
		{`{"message":"x","sessionStatus":"expired","userMessage":"Sessionen har gått ut."}`, payment.Canceled, "Sessionen har gått ut."},
		{`{"message":"x","sessionStatus":"REPLACED"}`, payment.Canceled, "the Resurs Bank session was replaced"},
		{`{"message":"x","sessionStatus":"SOMETHING_NEW"}`, payment.Pending, "waiting for the customer"},
	} {
		t.Run(tc.body, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(404)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			a, err := NewAdapter(AdapterConfig{POSURL: srv.URL, AfterShopURL: srv.URL, Username: "u", Password: "p"})
			require.NoError(t, err)
			c, err := a.Check(context.Background(), payment.Session{Ref: "R1", Method: MethodPOS})
			require.NoError(t, err)
			assert.Equal(t, tc.status, c.Status)
			assert.Equal(t, tc.note, c.Note)
		})
	}
}

// The valid-to the server reports wins over the adapter's own default.
func TestBetalaSenValidToFromServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(404)
		io.WriteString(w, `{"message":"x","sessionStatus":"LINK_SENT","validTo":"2026-12-02T12:00:00Z"}`)
	}))
	defer srv.Close()
	clock := &fakeClock{t: time.Date(2026, 12, 2, 11, 59, 0, 0, time.UTC)}
	a, err := NewAdapter(AdapterConfig{POSURL: srv.URL, AfterShopURL: srv.URL, Username: "u", Password: "p", Now: clock.Now})
	require.NoError(t, err)
	s := payment.Session{Ref: "R1", Method: MethodLater, Data: []byte(`{"validUntil":"2026-12-03T11:00:00Z"}`)}
	c, err := a.Check(context.Background(), s)
	require.NoError(t, err)
	assert.Equal(t, payment.Pending, c.Status)
	clock.Add(2 * time.Minute)
	c, err = a.Check(context.Background(), s)
	require.NoError(t, err)
	assert.Equal(t, payment.Canceled, c.Status)
}

// E.16: Resurs's worked rounding example. 1000 x 15.71 incl. 25 % VAT gives
// the net 12.568, sent unrounded; the line lands exactly on 15710.00.
func TestLinesOfWorkedRoundingExample(t *testing.T) {
	lines, err := LinesOf([]payment.Row{{Description: "Skruv", Quantity: "1000", Total: money.MustParse("15710.00"), TaxRate: "25"}})
	require.NoError(t, err)
	assert.Equal(t, Decimal("12.568"), lines[0].UnitAmountWithoutVat)
	spec, err := refundSpec(payment.RefundOrder{Order: payment.Order{Rows: []payment.Row{{TaxRate: "25"}, {TaxRate: "25.0"}}}}, "15710")
	require.NoError(t, err)
	assert.Equal(t, Decimal("12568"), spec.Lines[0].UnitAmountWithoutVat)
	assert.Equal(t, Decimal("3142"), spec.TotalVatAmount)
	mixed, err := refundSpec(payment.RefundOrder{Order: payment.Order{Rows: []payment.Row{{TaxRate: "25"}, {TaxRate: "12"}}}}, "100")
	require.NoError(t, err)
	assert.Equal(t, Decimal("0"), mixed.Lines[0].VatPct, "mixed rates: the sum is what counts")
}

func TestAfterShopLogsNoPersonalDataOnSuccess(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	fault := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fault {
			w.WriteHeader(500)
			io.WriteString(w, faultResponse(8, "REFERENCED_DATA_DONT_EXISTS", true, "nej"))
			return
		}
		io.WriteString(w, envelopeOf("", p1Response))
	}))
	defer srv.Close()
	c, err := NewAfterShop(AfterShopConfig{URL: srv.URL, Username: testUser, Password: testPass, Transport: Transport{Logger: zap.New(core)}})
	require.NoError(t, err)
	_, err = c.GetPayment(context.Background(), "P1")
	require.NoError(t, err)
	fault = true
	_, err = c.GetPayment(context.Background(), "P1")
	require.Error(t, err)
	entries := logs.All()
	require.Len(t, entries, 2)
	ok := entries[0].ContextMap()
	assert.NotContains(t, ok, "response")
	assert.Contains(t, ok, "responseBytes")
	bad := entries[1].ContextMap()
	assert.Contains(t, bad["response"], "***", "the echoed password is masked")
	for _, e := range entries {
		for _, v := range e.ContextMap() {
			if s, isStr := v.(string); isStr {
				assert.NotContains(t, s, "198305147715")
				assert.NotContains(t, s, testPass)
			}
		}
	}
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2020-04-09T08:41:09.000+0000", "1586421669000", "2013-07-02T12:51:51+02:00", "x", "1.5e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := ParseTime(s)
		if err == nil && strings.TrimSpace(s) != "" && tm.IsZero() && s != "0" {
			// Only an empty text is absent; epoch 0 is the one number that
			// reads as the zero Unix time, which is not time.Time's zero.
			t.Fatalf("%q parsed to the zero time", s)
		}
	})
}

func FuzzIframeSrc(f *testing.F) {
	f.Add(`<iframe id="x" src="https://h/p?a=1&amp;b=2"></iframe>`)
	f.Add(`<IFRAME SRC='u'>`)
	f.Add(`<iframe data-src="no" src=bare>`)
	f.Fuzz(func(t *testing.T, html string) {
		src := iframeSrc(html)
		if src != "" && !strings.Contains(strings.ToLower(html), "<iframe") {
			t.Fatalf("src %q without an iframe", src)
		}
	})
}

func BenchmarkGetPaymentParse(b *testing.B) {
	doc := []byte(envelopeOf("", p1Response))
	b.ReportAllocs()
	for b.Loop() {
		n, err := soap.Body(doc)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := paymentOf(n.Child("return")); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLinesOf(b *testing.B) {
	rows := make([]payment.Row, 20)
	for i := range rows {
		rows[i] = payment.Row{Description: "Vara", Quantity: "3", Total: money.MustParse("300.00"), TaxRate: "12"}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LinesOf(rows); err != nil {
			b.Fatal(err)
		}
	}
}

func TestIframeSrc(t *testing.T) {
	for html, want := range map[string]string{
		`<iframe id="x" src="https://h/p?a=1&amp;b=2"></iframe>`: "https://h/p?a=1&b=2",
		`<IFRAME SRC='u'>`:                          "u",
		`<iframe data-src="no" src=bare>`:           "bare",
		`<script src="s.js"></script>`:              "",
		`<iframe id="x"></iframe><img src="i.png">`: "",
	} {
		assert.Equal(t, want, iframeSrc(html), html)
	}
}

// The three outcomes of a money call (package payment): not sent, Resurs
// said no (a fault other than INTERNAL_ERROR, a 4xx other than 408/429,
// refused credentials), or unknown.
func TestOutcomeMapping(t *testing.T) {
	for name, tc := range map[string]struct {
		err     error
		notSent bool
		code    string // "" : not a refusal
	}{
		"not sent":       {invalid("x", assertErr("bad")), true, ""},
		"fault 23":       {&Fault{Op: "creditPayment", ErrorTypeID: 23, Name: "INVALID_CREDITING", UserMessage: "För stort belopp"}, false, "INVALID_CREDITING"},
		"fault 29":       {&Fault{ErrorTypeID: 29, Name: "ALREADY_EXISTS_INVOICE_ID"}, false, "ALREADY_EXISTS_INVOICE_ID"},
		"fault internal": {&Fault{ErrorTypeID: 3, Name: "INTERNAL_ERROR"}, false, ""},
		"400":            {&APIError{Status: 400, Message: "OrderReference already exists"}, false, "400"},
		"404 code":       {&APIError{Status: 404, Code: "PAYMENT_SESSION_NOT_FOUND"}, false, "PAYMENT_SESSION_NOT_FOUND"},
		"429":            {&APIError{Status: 429}, false, ""},
		"500":            {&APIError{Status: 500, Message: "Internal error"}, false, ""},
		"401 SOAP":       {fmt.Errorf("resurs getPayment: %w (HTTP 401)", ErrUnauthorized), false, "401"},
		"transport":      {io.ErrUnexpectedEOF, false, ""},
	} {
		t.Run(name, func(t *testing.T) {
			err := outcome("op", "Resurs Bank refused", tc.err)
			assert.Equal(t, tc.notSent, errors.Is(err, payment.ErrNotSent), "%v", err)
			re, refused := payment.Refused(err)
			if tc.code == "" {
				assert.False(t, refused, "%v", err)
				return
			}
			require.True(t, refused, "%v", err)
			assert.Equal(t, tc.code, re.Code)
			assert.True(t, strings.HasPrefix(re.Message, "Resurs Bank refused"), re.Message)
		})
	}
	re, _ := payment.Refused(outcome("op", "Resurs Bank refused", &Fault{ErrorTypeID: 23, Name: "INVALID_CREDITING", UserMessage: "För stort belopp", FaultString: "secret technical"}))
	assert.Equal(t, "Resurs Bank refused: För stort belopp", re.Message, "the cashier sees userErrorMessage, never the faultstring")
}

func assertErr(s string) error { return errors.New(s) }
