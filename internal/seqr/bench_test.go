package seqr

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func BenchmarkBuildSendInvoice(b *testing.B) {
	c := newTestClient(b, testConfig("https://extdev.seqr.com"+PathCashRegister2))
	inv := threeRowInvoice()
	b.ReportAllocs()
	for b.Loop() {
		body, err := c.buildSendInvoice(testTerminal, &inv, nil)
		if err != nil || len(body) == 0 {
			b.Fatal(err)
		}
	}
}

func BenchmarkParsePaidStatus(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("testdata", "response_tv5_paid.xml"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		ps, err := parsePaymentStatus(body)
		if err != nil || ps.Status != StatusPaid {
			b.Fatal(ps, err)
		}
	}
}

// BenchmarkGetPaymentStatusLoopback is one whole poll: build, POST over
// loopback (keep-alive), read and parse a canned ISSUED answer.
func BenchmarkGetPaymentStatusLoopback(b *testing.B) {
	resp := []byte(envelope(opGetPaymentStatus, success+`<status>ISSUED</status><version>1</version>`))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
		_, _ = w.Write(resp)
	}))
	b.Cleanup(srv.Close)
	c := newTestClient(b, testConfig(srv.URL))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		ps, err := c.GetPaymentStatus(ctx, testTerminal, "1397222701693", 1)
		if err != nil || ps.Status != StatusIssued {
			b.Fatal(ps, err)
		}
	}
}
