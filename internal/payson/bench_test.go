package payson_test

import (
	"context"
	"testing"

	"github.com/posd/posd/internal/payment"
)

// BenchmarkCheck is one Check of a pending sale over loopback HTTP against
// the emulator: the "round trip" of "readyToShip seen within the check
// interval plus one round trip".
func BenchmarkCheck(b *testing.B) {
	e := newEnv(b)
	a := e.adapter()
	s, err := a.Start(context.Background(), order("bench"))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		c, err := a.Check(context.Background(), s)
		if err != nil || c.Status != payment.Pending {
			b.Fatal(c, err)
		}
	}
}

// BenchmarkStart is one create (validation, D.7 totals, POST, decode).
func BenchmarkStart(b *testing.B) {
	e := newEnv(b)
	a := e.adapter()
	for b.Loop() {
		if _, err := a.Start(context.Background(), order("bench")); err != nil {
			b.Fatal(err)
		}
	}
}
