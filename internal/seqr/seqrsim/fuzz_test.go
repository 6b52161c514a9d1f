package seqrsim_test

import (
	"bytes"
	"encoding/xml"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/posd/posd/internal/seqr/seqrsim"
)

// FuzzRequest feeds arbitrary bodies to the SOAP handler: it must never
// panic, must answer 200 or 500, and its answer must be well-formed XML.
func FuzzRequest(f *testing.F) {
	ctx := termCtx(seqrsim.TestTerminalID, seqrsim.TestTerminalPassword)
	seeds := []string{
		envelope("sendInvoice", ctx+sendXML),
		envelope("getPaymentStatus", ctx+`<invoiceReference>1</invoiceReference><invoiceVersion>0</invoiceVersion>`),
		envelope("registerTerminal", resellerCtx()+`<externalTerminalId>a</externalTerminalId><password>abcd</password><name>n</name>`),
		envelope("markTransactionPeriod", resellerCtx()+`<parameters><parameter><entry><key>TERMINALID</key><value>x</value></entry></parameter></parameters>`),
		envelope("executeReport", resellerCtx()+`<reportId>Reconciliation/Shop.xml</reportId><parameters><parameter><entry><key>transactionPeriodId</key><value>1</value></entry></parameter></parameters>`),
		envelope("refundPayment", ctx+`<ersReference>1</ersReference><invoice><totalAmount><currency>SEK</currency><value>-1e5</value></totalAmount></invoice>`),
		envelope("commitReservation", ctx+`<amount><currency>SEK</currency><value>1.5</value></amount><invoiceReference>1</invoiceReference>`),
		envelope("updateInvoice", ctx+`<invoiceReference>1</invoiceReference><tokens><status>99999999999999999999</status></tokens>`),
		envelope("assignSeqrId", ctx+`<seqrId>&lt;&amp;</seqrId>`),
		envelope("benchmarkingNop", ""),
		`<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"/>`,
		`<a:b xmlns:a="x"><![CDATA[<]]></a:b>`,
		"\xff\xfe<",
		"",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	clock := &fakeClock{t: time.Date(2015, 10, 29, 10, 18, 48, 0, cet)}
	sim := seqrsim.New(seqrsim.Options{Now: clock.Now, Location: cet, Rand: rand.New(rand.NewPCG(5, 6)), MaxBody: 32 << 10})
	h := sim.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, path := range []string{seqrsim.PathCashRegister2, seqrsim.PathServiceV1} {
			req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK && rec.Code != http.StatusInternalServerError {
				t.Fatalf("status %d for %q", rec.Code, body)
			}
			if err := wellFormed(rec.Body.Bytes()); err != nil {
				t.Fatalf("response not well-formed (%v): %s", err, rec.Body.String())
			}
			if rec.Code == http.StatusOK && !strings.Contains(rec.Body.String(), "<resultCode>") {
				t.Fatalf("200 without resultCode: %s", rec.Body.String())
			}
		}
		clock.Advance(time.Second)
	})
}

func wellFormed(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
