package seqrsim_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/posd/posd/internal/seqr/seqrsim"
)

// BenchmarkStatusRoundTrip is one getPaymentStatus over loopback HTTP
// against the emulator (the unit of `paysim load`).
func BenchmarkStatusRoundTrip(b *testing.B) {
	sim := seqrsim.New(seqrsim.Options{})
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	url := srv.URL + seqrsim.PathCashRegister2
	ctx := termCtx(seqrsim.TestTerminalID, seqrsim.TestTerminalPassword)
	resp, err := http.Post(url, "text/xml", strings.NewReader(envelope("sendInvoice", ctx+sendXML)))
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	ref := invoiceRef(string(body))
	req := envelope("getPaymentStatus", ctx+`<invoiceReference>`+ref+`</invoiceReference><invoiceVersion>1</invoiceVersion>`)
	client := srv.Client()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Post(url, "text/xml", strings.NewReader(req))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatal(resp.Status)
		}
	}
}

// BenchmarkHandleStatus is the emulator's own cost per getPaymentStatus, without the network.
func BenchmarkHandleStatus(b *testing.B) {
	sim := seqrsim.New(seqrsim.Options{})
	h := sim.Handler()
	ctx := termCtx(seqrsim.TestTerminalID, seqrsim.TestTerminalPassword)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, seqrsim.PathCashRegister2, strings.NewReader(envelope("sendInvoice", ctx+sendXML))))
	req := envelope("getPaymentStatus", ctx+`<invoiceReference>`+invoiceRef(rec.Body.String())+`</invoiceReference><invoiceVersion>1</invoiceVersion>`)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, seqrsim.PathCashRegister2, strings.NewReader(req)))
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}

func invoiceRef(body string) string {
	_, after, _ := strings.Cut(body, "<invoiceReference>")
	ref, _, _ := strings.Cut(after, "<")
	return ref
}
