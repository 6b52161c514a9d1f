package resurssim_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/posd/posd/internal/resurs/resurssim"
)

// BenchmarkGetPayment is one SOAP getPayment round trip over loopback HTTP
// (the call a client makes to follow a booked payment).
func BenchmarkGetPayment(b *testing.B) {
	e := newEnv(b)
	e.book("BENCH-1", discountBody, "198305147715", "invoice", true)
	b.ResetTimer()
	for b.Loop() {
		r := e.soap("getPayment", "<paymentId>BENCH-1</paymentId>")
		if r.status != http.StatusOK {
			b.Fatal(r.body)
		}
	}
}

// BenchmarkCreateSession is one Checkout POS create over loopback HTTP.
func BenchmarkCreateSession(b *testing.B) {
	e := newEnv(b)
	i := 0
	for b.Loop() {
		i++
		r := e.do(http.MethodPost, fmt.Sprintf("/pos/payments/B-%d", i), "application/json", oneLine, resurssim.TestUser, resurssim.TestPassword)
		if r.status != http.StatusOK {
			b.Fatal(r.body)
		}
	}
}
