package resurssim

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func FuzzParseDec(f *testing.F) {
	for _, s := range []string{"0", "1250", "-2.5", "+3", "4.000000000000000", "0.00000000000000000000", "12.5680485", "1e2", "", ".", "5.", ".5", "999999999999.999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDec(s)
		if err != nil {
			return
		}
		back, err := parseDec(d.String())
		if err != nil || back != d {
			t.Fatalf("%q -> %s -> %v, %v", s, d, back, err)
		}
	})
}

func FuzzPOSBody(f *testing.F) {
	f.Add([]byte(`{"orderLines":[{"artNo":"1","description":"x","quantity":1,"unitAmountWithoutVat":500,"vatPct":25}]}`))
	f.Add([]byte(`{"orderLines":[{"artNo":"1","quantity":"2.5","unitAmountWithoutVat":"-1","vatPct":null}],"storeId":7,"customer":null}`))
	f.Add([]byte(`{"orderLines":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		body, lines, err := parsePOSBody(b)
		if err != nil {
			return
		}
		if body == nil || len(lines) == 0 {
			t.Fatalf("accepted a body without lines: %s", b)
		}
		for _, l := range lines {
			if l.vatPct < 0 || l.vatPct > decInt(100) {
				t.Fatalf("accepted vatPct %s", l.vatPct)
			}
		}
	})
}

// FuzzSOAP sends arbitrary envelopes to the After Shop endpoint: every
// answer is 200 or 500 with a well-formed SOAP body, never a panic.
func FuzzSOAP(f *testing.F) {
	open := `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:aft="http://ecommerce.resurs.com/v4/msg/aftershopflow"><soapenv:Body>`
	closeEnv := `</soapenv:Body></soapenv:Envelope>`
	for _, s := range []string{
		`<aft:getPayment><paymentId>P1</paymentId></aft:getPayment>`,
		`<aft:finalizePayment><paymentId>P1</paymentId><partPaymentSpec><specLines><id>1</id><artNo>a</artNo><description>d</description><quantity>1</quantity><unitMeasure>st</unitMeasure><unitAmountWithoutVat>400</unitAmountWithoutVat><vatPct>25</vatPct><totalVatAmount>100</totalVatAmount><totalAmount>500</totalAmount></specLines><totalAmount>500</totalAmount><totalVatAmount>100</totalVatAmount></partPaymentSpec></aft:finalizePayment>`,
		`<aft:findPayments><searchCriteria><statusSet>DEBITABLE</statusSet><bookedFrom>2026-01-01T00:00:00Z</bookedFrom></searchCriteria><pageNumber>2</pageNumber><itemsPerPage>1</itemsPerPage><sortBy><ascending>true</ascending><sortColumns>AMOUNT</sortColumns></sortBy></aft:findPayments>`,
		`<aft:creditPayment><paymentId>P1</paymentId><partPaymentSpec><totalAmount>1e9</totalAmount></partPaymentSpec></aft:creditPayment>`,
		`<aft:annulPayment><paymentId xmlns:i="http://www.w3.org/2001/XMLSchema-instance" i:nil="true"/></aft:annulPayment>`,
	} {
		f.Add([]byte(open + s + closeEnv))
	}
	f.Add([]byte("<x"))
	f.Fuzz(func(t *testing.T, body []byte) {
		s := New(Options{Now: func() time.Time { return time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC) }})
		s.mu.Lock()
		ss := &session{id: "s", ref: "P1", state: SessionCreated, lines: []orderLine{{artNo: "a", description: "d", unitMeasure: "st", quantity: decInt(1), unitAmount: decInt(400), vatPct: decInt(25)}}}
		s.st.sessions["s"] = ss
		c, _ := s.completion(Complete{GovernmentID: "198305147715", Method: "invoice"})
		s.book(ss, c, s.clock())
		s.mu.Unlock()
		req := httptest.NewRequest(http.MethodPost, PathAfterShop, bytes.NewReader(body))
		req.SetBasicAuth(TestUser, TestPassword)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && rec.Code != http.StatusInternalServerError {
			t.Fatalf("status %d", rec.Code)
		}
		d := xml.NewDecoder(strings.NewReader(rec.Body.String()))
		for {
			_, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("answer is not well-formed XML: %v\n%s", err, rec.Body.String())
			}
		}
	})
}

// FuzzToken: the token endpoint answers 200 or 400, never anything else.
func FuzzToken(f *testing.F) {
	f.Add("application/json", `{"grant_type":"client_credentials","client_id":"posd_test_client","client_secret":"posd_test_secret"}`)
	f.Add("application/x-www-form-urlencoded", "grant_type=client_credentials&client_id=posd_test_client&client_secret=posd_test_secret&scope=mock-merchant-api")
	f.Add("", "%zz")
	f.Fuzz(func(t *testing.T, ct, body string) {
		s := New(Options{})
		req := httptest.NewRequest(http.MethodPost, PathToken, strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Fatalf("status %d for %q %q", rec.Code, ct, body)
		}
	})
}
