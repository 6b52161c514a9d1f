package scanner

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

// TestFramerSuffix: the idle gap ends a frame only for a scanner without a
// suffix. Issue 9 item 4: "]C0SCAN", a pause, "42\r\n" was assigned as SCAN.
// Idle means "the reader's timeout passed": IdleGap for a scanner without
// a suffix, StaleGap for one that terminates its codes, where it drops the
// fragment rather than deliver it.
func TestFramerSuffix(t *testing.T) {
	idle := step{idle: true}
	tests := []struct {
		name   string
		suffix Suffix
		steps  []step
		want   []string
	}{
		{"cr: a code in pieces is one code", SuffixCR, chunks("]C0SCAN", "42\r\n"), []string{"SCAN42/code128"}},
		{"crlf: many pieces", SuffixCRLF, chunks("]C0S", "CA", "N4", "2\r", "\n"), []string{"SCAN42/code128"}},
		{"cr: at the stale gap the fragment is dropped, never delivered", SuffixCR, []step{{chunk: "]C0SCAN"}, idle, {chunk: "42\r\n"}}, []string{"!incomplete", "42"}},
		{"lf: a cut-off code is dropped", SuffixLF, []step{{chunk: "SCA"}, idle}, []string{"!incomplete"}},
		{"auto learns from the first CR", SuffixAuto, []step{{chunk: "FIRST\r"}, {chunk: "]C0SCAN"}, idle, {chunk: "42\r\n"}}, []string{"FIRST", "!incomplete", "42"}},
		{"auto learns from the first LF", SuffixAuto, []step{{chunk: "FIRST\n"}, {chunk: "SCAN"}, idle}, []string{"FIRST", "!incomplete"}},
		{"auto before any end: the gap ends frames", SuffixAuto, []step{{chunk: "AB"}, idle, {chunk: "CD"}, idle}, []string{"AB", "CD"}},
		{"none: the gap ends frames", SuffixNone, []step{{chunk: "SCAN"}, idle, {chunk: "42\r"}}, []string{"SCAN", "42"}},
		{"none: CR still ends a frame and learns nothing", SuffixNone, []step{{chunk: "A\r"}, {chunk: "B"}, idle}, []string{"A", "B"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFramer(128, 0)
			f.SetSuffix(tt.suffix)
			assert.Equal(t, tt.want, summary(run(f, tt.steps)))
			assert.Equal(t, tt.suffix != SuffixNone && !(tt.suffix == SuffixAuto && tt.want[0] == "AB"), f.Terminated())
		})
	}
}

// TestRunTerminatedScannerWaitsStaleGap: for a scanner that ends its codes,
// the reader waits StaleGap, not IdleGap, while a frame is in progress, and
// a fragment whose end never comes is dropped after it. The fake port
// scripts each Read, so "the gap passed" is a scripted timeout.
func TestRunTerminatedScannerWaitsStaleGap(t *testing.T) {
	at := time.Date(2026, 11, 21, 9, 30, 0, 0, time.UTC)
	h := newHarness(t, Config{}, WithClock(func() time.Time { return at }))
	p := newFakePort()
	h.plug(p)
	h.state(true)

	p.step(t, readStep{data: "]C0FIRST\r\n"}) // learns: this scanner ends its codes
	assert.Equal(t, "FIRST", h.scan().Code)
	// A pause mid-code shorter than StaleGap: the Read simply waits (under
	// the old rule its timeout was IdleGap and "SCAN" was delivered).
	p.step(t, readStep{data: "]C0SCAN"})
	p.step(t, readStep{data: "42\r\n"})
	assert.Equal(t, Scan{Code: "SCAN42", Symbology: "code128", At: at}, h.scan())

	p.step(t, readStep{data: "CUT"})
	p.step(t, readStep{}) // the stale gap passes: dropped, not delivered
	p.step(t, readStep{data: "NEXT\r"})
	assert.Equal(t, "NEXT", h.scan().Code)
	assert.Equal(t, 1, h.logs.FilterField(zap.String("frame", `"CUT"`)).Len(), "the fragment is logged")

	p.step(t, readStep{}) // so every SetReadTimeout above has happened
	p.mu.Lock()
	defer p.mu.Unlock()
	assert.Equal(t, []time.Duration{defaultPoll, DefaultStaleGap, defaultPoll, DefaultStaleGap, defaultPoll},
		p.timeouts, "StaleGap while a frame is in progress; the idle gap is never the timeout")
	assert.Empty(t, h.scans)
}

// TestPTYPauseMidCode is issue 9 item 4 over a real tty: "]C0SCAN", a pause
// several times the idle gap, "42\r\n" is one scan, SCAN42. The pause is
// the stimulus, not synchronisation: the scan is awaited on a channel.
func TestPTYPauseMidCode(t *testing.T) {
	for _, tc := range []struct {
		name   string
		suffix Suffix
		first  string // sent before, so that auto has learned
	}{
		{"suffix cr", SuffixCR, ""},
		{"suffix learned", SuffixAuto, "]C0FIRST\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newPTYScanner(t)
			// A short idle gap (the minimum) makes the 50 ms pause five
			// times the gap: under the old rule the frame would end.
			h := startPTY(t, d, Config{Suffix: tc.suffix, IdleGap: 10 * time.Millisecond})
			h.state(true)
			if tc.first != "" {
				d.write(tc.first)
				require.Equal(t, "FIRST", h.scan().Code)
			}
			d.write("]C0SCAN")
			time.Sleep(50 * time.Millisecond) // the scanner's pause mid-code
			d.write("42\r\n")
			s := h.scan()
			assert.Equal(t, "SCAN42", s.Code)
			assert.Equal(t, "code128", s.Symbology)
			assert.Empty(t, h.scans)
		})
	}
}

func TestDefaultIdleGapOutlastsBursts(t *testing.T) {
	c := Config{Device: "/dev/x"}.WithDefaults()
	require.NoError(t, c.Validate())
	assert.Greater(t, c.IdleGap, 150*time.Millisecond, "a 150 ms pause inside one code must not end it")
	assert.Greater(t, c.StaleGap, c.IdleGap)
	bad := Config{Device: "/dev/x", Suffix: "tab"}.WithDefaults()
	require.ErrorContains(t, bad.Validate(), "Suffix")
}
