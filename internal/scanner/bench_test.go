package scanner

import (
	"fmt"
	"testing"
	"time"
)

// benchStream is what a busy scanner sends: mostly AIM-prefixed Code 128
// with CR LF, some without prefix or with bare CR, a few EAN-13, a noise
// frame now and then; every code distinct, so each is delivered.
func benchStream(frames int) []byte {
	var b []byte
	for i := range frames {
		switch i % 10 {
		case 0, 1, 2, 3, 4, 5:
			b = fmt.Appendf(b, "]C0SEQR%012d\r\n", i)
		case 6, 7:
			b = fmt.Appendf(b, "%016d\r", i)
		case 8:
			b = fmt.Appendf(b, "]E0%013d\r\n", i)
		case 9:
			b = append(b, "\x00\xff\x13\r"...) // noise
		}
	}
	return b
}

// BenchmarkFramer parses the stream as 64-byte reads (a full-speed USB-CDC
// packet; a 9600 baud port delivers less per read) with the duplicate
// window on. It reports ns and allocations per frame.
//
//	go test -run '^$' -bench Framer -benchmem ./internal/scanner
func BenchmarkFramer(b *testing.B) {
	const frames = 1000
	stream := benchStream(frames)
	f := NewFramer(DefaultMaxLen, DefaultDedupWindow)
	results := make([]Result, 0, 16)
	delivered := 0
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	now := t0
	for b.Loop() {
		// Each round is a window later, so the same codes count again.
		now = now.Add(2 * DefaultDedupWindow)
		for p := stream; len(p) > 0; {
			n := min(64, len(p))
			results = f.Feed(results[:0], p[:n], now)
			for _, r := range results {
				if r.Drop == DropNone {
					delivered++
				}
			}
			p = p[n:]
		}
	}
	if delivered == 0 {
		b.Fatal("no scans")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*frames), "ns/frame")
	b.ReportMetric(float64(testing.AllocsPerRun(1, func() {
		now = now.Add(2 * DefaultDedupWindow)
		results = f.Feed(results[:0], stream, now)
	}))/frames, "allocs/frame")
}

// BenchmarkFramerDuplicates is a scanner in presentation mode re-reading
// one label: every frame is a duplicate and must cost no allocation.
func BenchmarkFramerDuplicates(b *testing.B) {
	frame := []byte("]C0SEQR000000000042\r\n")
	f := NewFramer(DefaultMaxLen, time.Hour)
	results := f.Feed(nil, frame, t0)
	b.ReportAllocs()
	for b.Loop() {
		results = f.Feed(results[:0], frame, t0)
		if results[0].Drop != DropDuplicate {
			b.Fatal("not a duplicate")
		}
	}
}
