package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkConcurrentReadThenWrite is D5's load: many goroutines each run a
// read-then-write transaction (BEGIN IMMEDIATE through the one writer);
// busy-errors must stay 0. Run with -benchtime=10000x for the spec's 10 000.
func BenchmarkConcurrentReadThenWrite(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(b.TempDir(), "posd.db"), Options{})
	require.NoError(b, err)
	defer db.Close()
	for i := range 16 {
		_, _, err := db.CreatePayment(ctx, testPayment(fmt.Sprintf("p%d", i), fmt.Sprintf("k%d", i)), Audit{Actor: "b", Event: "create", Outcome: "success"})
		require.NoError(b, err)
	}
	var busy atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		wg.Go(func() {
			_, err := db.Transition(ctx, fmt.Sprintf("p%d", i%16), nil, Audit{}, func(p *Payment) error { p.PollCount++; return nil })
			if err != nil {
				busy.Add(1)
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(busy.Load()), "busy-errors")
}
