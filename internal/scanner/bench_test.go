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

// BenchmarkUnplugReplug measures the R2 targets on a pty with the default
// backoff: how long until an unplug shows in Status (target 2 s), and, after
// the scanner has been away long enough for the backoff to reach its cap
// and it is replugged just after a failed attempt (the worst case: a whole
// ReopenMax to wait), how long until a scan is delivered again (target 5 s).
// Each round takes about 3 s, so run a few:
//
//	go test -run '^$' -bench UnplugReplug -benchtime 5x ./internal/scanner
func BenchmarkUnplugReplug(b *testing.B) {
	d := newPTYScanner(b)
	fails := make(chan struct{}, 100)
	open := func(path string, mode Mode) (Port, error) {
		p, err := SerialOpener(path, mode)
		if err != nil {
			select {
			case fails <- struct{}{}:
			default:
			}
		}
		return p, err
	}
	h := startPTY(b, d, Config{}, WithOpener(open))
	h.state(true)

	var detect, replug, worst time.Duration
	i := 0
	for b.Loop() {
		start := time.Now()
		d.unplug()
		h.state(false)
		detect += time.Since(start)

		// Backoff 250 ms, 500 ms, then the 1 s cap: after three failed
		// opens the scanner is in the slowest state it gets into.
		for range 3 {
			select {
			case <-fails:
			case <-time.After(wait):
				b.Fatal("no reopen attempt")
			}
		}
		start = time.Now()
		d.plug()
		h.state(true)
		code := fmt.Sprintf("R2%04d", i)
		d.write(code + "\r")
		if got := h.scan().Code; got != code {
			b.Fatalf("scan %q, want %q", got, code)
		}
		took := time.Since(start)
		replug += took
		worst = max(worst, took)
		i++
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(detect)/float64(i), "ms-detect")
	b.ReportMetric(ms(replug)/float64(i), "ms-replug")
	b.ReportMetric(ms(worst), "ms-replug-max")
}
