package scanner

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// FuzzFramer feeds arbitrary bytes in arbitrary chunks, with idle gaps
// where a cut byte says so. Whatever comes in, the Framer must not panic,
// must never deliver a code longer than MaxLen or one with CR, LF or other
// control bytes in it (GS only in GS1 data), must be idle after Idle, and
// without idle gaps must find the same frames however the bytes are split.
//
//	go test -run '^$' -fuzz FuzzFramer -fuzztime 10m ./internal/scanner
func FuzzFramer(f *testing.F) {
	seeds := []struct {
		data, cuts string
		maxLen     uint8
	}{
		{"]C0SEQR12345\r\n", "\x03\x05", 128},
		{"ABC\rDEF\nGHI\r\nJKL", "\x01\x00\x02", 16},
		{"\x00\xff\x1b[A\r]C1010\x1d10AB\r\n\r\n", "\x07", 32},
		{"]C0]C0]C0\r" + string(bytes.Repeat([]byte("9"), 300)) + "\r", "\x40\x40", 8},
		{"A1\rA1\rB2\rA1\r", "", 4},
		{"]X9\r]E4\r]\r]C\r", "\x00\x00\x00", 3},
	}
	for _, s := range seeds {
		f.Add([]byte(s.data), []byte(s.cuts), s.maxLen)
	}

	f.Fuzz(func(t *testing.T, data, cuts []byte, maxLen uint8) {
		limit := int(maxLen) + 1
		whole := NewFramer(limit, time.Second).Feed(nil, data, t0)

		split := NewFramer(limit, time.Second)
		idled := NewFramer(limit, time.Second)
		var splitRes, idledRes []Result
		rest := data
		for i := 0; len(rest) > 0; i++ {
			n := len(rest)
			if i < len(cuts) {
				n = min(int(cuts[i])%(len(rest)+1), len(rest))
			}
			splitRes = split.Feed(splitRes, rest[:n], t0)
			idledRes = idled.Feed(idledRes, rest[:n], t0)
			if n == 0 || (i < len(cuts) && cuts[i]&0x80 != 0) {
				idledRes = idled.Idle(idledRes, t0)
				if idled.Pending() {
					t.Fatal("pending after Idle")
				}
			}
			rest = rest[n:]
		}
		idledRes = idled.Idle(idledRes, t0)
		if idled.Pending() {
			t.Fatal("pending after the final Idle")
		}

		if fmt.Sprint(summary(whole)) != fmt.Sprint(summary(splitRes)) {
			t.Fatalf("split changed the frames:\nwhole %q\nsplit %q", summary(whole), summary(splitRes))
		}
		for _, rs := range [][]Result{whole, splitRes, idledRes} {
			for _, r := range rs {
				checkResult(t, r, limit)
			}
		}
	})
}

func checkResult(t *testing.T, r Result, limit int) {
	t.Helper()
	if r.Drop != DropNone {
		if r.Scan != (Scan{}) {
			t.Fatalf("dropped frame carries a scan: %+v", r)
		}
		if (r.Drop == DropTooLong) != (r.Len > limit) {
			t.Fatalf("too long is exactly Len > MaxLen: %+v (limit %d)", r, limit)
		}
		return
	}
	code := r.Scan.Code
	if code == "" || len(code) > limit || r.Len > limit {
		t.Fatalf("delivered code of bad length %d (frame %d, MaxLen %d): %q", len(code), r.Len, limit, code)
	}
	for i := 0; i < len(code); i++ {
		c := code[i]
		if c == '\r' || c == '\n' {
			t.Fatalf("code contains CR or LF: %q", code)
		}
		if (c < 0x20 || c > 0x7e) && c != 0x1d {
			t.Fatalf("code contains control or non-ASCII byte %#x: %q", c, code)
		}
	}
}
