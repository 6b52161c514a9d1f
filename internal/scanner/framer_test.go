package scanner

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// step is one thing that happens to a Framer: a chunk arrives at offset
// at from t0, or (idle) the line goes quiet.
type step struct {
	chunk string
	idle  bool
	at    time.Duration
}

func chunks(cs ...string) []step {
	steps := make([]step, len(cs))
	for i, c := range cs {
		steps[i] = step{chunk: c}
	}
	return steps
}

// summary renders results compactly: "code" or "code/symbology" for a scan,
// "!reason" for a drop.
func summary(rs []Result) []string {
	out := []string{}
	for _, r := range rs {
		switch {
		case r.Drop != DropNone:
			out = append(out, "!"+string(r.Drop))
		case r.Scan.Symbology != "":
			out = append(out, r.Scan.Code+"/"+r.Scan.Symbology)
		default:
			out = append(out, r.Scan.Code)
		}
	}
	return out
}

func run(f *Framer, steps []step) []Result {
	var rs []Result
	for _, s := range steps {
		if s.idle {
			rs = f.Idle(rs, t0.Add(s.at))
			continue
		}
		rs = f.Feed(rs, []byte(s.chunk), t0.Add(s.at))
	}
	return rs
}

func TestFramerEndsAndIdle(t *testing.T) {
	idle := step{idle: true}
	tests := []struct {
		name  string
		steps []step
		want  []string
	}{
		{"CR", chunks("ABC123\r"), []string{"ABC123"}},
		{"LF", chunks("ABC123\n"), []string{"ABC123"}},
		{"CRLF is one end", chunks("ABC123\r\n"), []string{"ABC123"}},
		{"CRLF twice", chunks("ABC\r\nDEF\r\n"), []string{"ABC", "DEF"}},
		{"CRLF split between reads", chunks("ABC\r", "\nDEF\r", "\n"), []string{"ABC", "DEF"}},
		{"LF CR gives an empty frame", chunks("ABC\n\rDEF\n"), []string{"ABC", "!empty", "DEF"}},
		{"several frames in one read", chunks("A1\rB2\rC3\r"), []string{"A1", "B2", "C3"}},
		{"bare ends are empty frames", chunks("\r\r\n\n"), []string{"!empty", "!empty", "!empty"}},
		{"no end, no frame", chunks("ABC"), []string{}},
		{"idle ends a frame", []step{{chunk: "ABC"}, idle}, []string{"ABC"}},
		{"idle with nothing pending", []step{idle, {chunk: "ABC\r"}, idle}, []string{"ABC"}},
		{"idle between CR and LF", []step{{chunk: "ABC\r"}, idle, {chunk: "\nDEF\r"}}, []string{"ABC", "DEF"}},
		{"idle then more data is a new frame", []step{{chunk: "AB"}, idle, {chunk: "CD\r"}}, []string{"AB", "CD"}},
		{"CR not followed by LF", chunks("ABC\r", "DEF\r"), []string{"ABC", "DEF"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := summary(run(NewFramer(128, 0), tt.steps))
			assert.Equal(t, tt.want, got)
		})
	}
}

// Every split of a stream into two or three reads gives the same frames as
// one read.
func TestFramerSplitAtEveryPosition(t *testing.T) {
	stream := "]C01234567890\r\nHELLO\rWORLD\n]E05012345678900\r\n\x01\x02\r\nLAST\r"
	want := summary(NewFramer(128, 0).Feed(nil, []byte(stream), t0))
	require.Equal(t, []string{"1234567890/code128", "HELLO", "WORLD", "5012345678900/ean13", "!noise", "LAST"}, want)

	for i := 0; i <= len(stream); i++ {
		for j := i; j <= len(stream); j++ {
			f := NewFramer(128, 0)
			rs := f.Feed(nil, []byte(stream[:i]), t0)
			rs = f.Feed(rs, []byte(stream[i:j]), t0)
			rs = f.Feed(rs, []byte(stream[j:]), t0)
			require.Equal(t, want, summary(rs), "split at %d and %d", i, j)
			require.False(t, f.Pending(), "split at %d and %d", i, j)
		}
	}
}

func TestFramerAIM(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  []string
		sym   string
		gs1ok bool
	}{
		{name: "Code 128", in: "]C0SEQR12345\r", want: []string{"SEQR12345/code128"}},
		{name: "GS1-128 with GS separator", in: "]C1010501234567890\x1d10ABC\r", want: []string{"010501234567890\x1d10ABC/code128"}},
		{name: "EAN-13", in: "]E05012345678900\r", want: []string{"5012345678900/ean13"}},
		{name: "EAN-8", in: "]E496385074\r", want: []string{"96385074/ean8"}},
		{name: "other EAN modifier", in: "]E3123\r", want: []string{"123/ean"}},
		{name: "QR", in: "]Q1hello\r", want: []string{"hello/qr"}},
		{name: "Code 39", in: "]A0ABC\r", want: []string{"ABC/code39"}},
		{name: "Data Matrix", in: "]d1xyz\r", want: []string{"xyz/datamatrix"}},
		{name: "unknown id", in: "]X0ABC\r", want: []string{"ABC/aim:X0"}},
		{name: "unknown lower-case id", in: "]y7ABC\r", want: []string{"ABC/aim:y7"}},
		{name: "AIM prefix only", in: "]C0\r", want: []string{"!empty"}},
		{name: "bracket alone is data", in: "]\r", want: []string{"]"}},
		{name: "two bytes are not an id", in: "]C\r", want: []string{"]C"}},
		{name: "digit where the letter goes", in: "]1AB\r", want: []string{"]1AB"}},
		{name: "punctuation modifier", in: "]C-AB\r", want: []string{"]C-AB"}},
		{name: "bracket later is data", in: "AB]C0\r", want: []string{"AB]C0"}},
		{name: "GS without a GS1 id is noise", in: "]C0AB\x1dCD\r", want: []string{"!noise"}},
		{name: "GS without any id is noise", in: "AB\x1dCD\r", want: []string{"!noise"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := summary(NewFramer(128, 0).Feed(nil, []byte(tt.in), t0))
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestFramerTooLongAndNoise(t *testing.T) {
	tests := []struct {
		name    string
		steps   []step
		want    []string
		wantLen []int
	}{
		{"exactly MaxLen kept", chunks("12345678\r"), []string{"12345678"}, []int{8}},
		{"one over MaxLen dropped", chunks("123456789\r"), []string{"!too long"}, []int{9}},
		{"AIM prefix counts toward MaxLen", chunks("]C0123456\r"), []string{"!too long"}, []int{9}},
		{"long line across reads, then a good frame",
			chunks(strings.Repeat("X", 5), strings.Repeat("Y", 1000), "Z\r", "OK\r"),
			[]string{"!too long", "OK"}, []int{1006, 2}},
		{"long line ended by idle", []step{{chunk: strings.Repeat("X", 20)}, {idle: true}}, []string{"!too long"}, []int{20}},
		{"NUL bytes", chunks("\x00\x00\r"), []string{"!noise"}, []int{2}},
		{"tab inside", chunks("AB\tC\r"), []string{"!noise"}, []int{4}},
		{"escape sequence", chunks("\x1b[A\r"), []string{"!noise"}, []int{3}},
		{"UTF-8 letter", chunks("AB\xc3\x85\r"), []string{"!noise"}, []int{4}},
		{"DEL", chunks("AB\x7f\r"), []string{"!noise"}, []int{3}},
		{"noise does not spoil the next frame", chunks("\xff\xfe\rGOOD\r"), []string{"!noise", "GOOD"}, []int{2, 4}},
		{"spaces are data", chunks(" A B \r"), []string{" A B "}, []int{5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := run(NewFramer(8, 0), tt.steps)
			assert.Equal(t, tt.want, summary(rs))
			lens := []int{}
			for _, r := range rs {
				lens = append(lens, r.Len)
			}
			assert.Equal(t, tt.wantLen, lens)
		})
	}
}

func TestFramerDropSample(t *testing.T) {
	rs := NewFramer(8, 0).Feed(nil, []byte("\x00AB\r"+strings.Repeat("9", 40)+"\r"), t0)
	require.Len(t, rs, 2)
	assert.Equal(t, `"\x00AB"`, rs[0].Sample)
	assert.Equal(t, `"99999999"…`, rs[1].Sample, "only MaxLen bytes are kept, and at most 32 are shown")
}

func TestFramerDuplicates(t *testing.T) {
	const window = time.Second
	tests := []struct {
		name  string
		steps []step
		want  []string
	}{
		{"same code within the window once",
			[]step{{chunk: "A1\r"}, {chunk: "A1\r", at: 300 * time.Millisecond}, {chunk: "A1\r", at: 999 * time.Millisecond}},
			[]string{"A1", "!duplicate", "!duplicate"}},
		{"same code after the window twice",
			[]step{{chunk: "A1\r"}, {chunk: "A1\r", at: 1500 * time.Millisecond}},
			[]string{"A1", "A1"}},
		{"exactly the window counts again",
			[]step{{chunk: "A1\r"}, {chunk: "A1\r", at: window}},
			[]string{"A1", "A1"}},
		{"window runs from the delivered scan, not the duplicate",
			[]step{{chunk: "A1\r"}, {chunk: "A1\r", at: 900 * time.Millisecond}, {chunk: "A1\r", at: 1100 * time.Millisecond}},
			[]string{"A1", "!duplicate", "A1"}},
		{"different codes both count",
			[]step{{chunk: "A1\r"}, {chunk: "B2\r", at: 10 * time.Millisecond}},
			[]string{"A1", "B2"}},
		{"AIM prefix does not make a code different",
			[]step{{chunk: "]C0A1\r"}, {chunk: "A1\r", at: 10 * time.Millisecond}},
			[]string{"A1/code128", "!duplicate"}},
		{"a dropped frame does not reset the window",
			[]step{{chunk: "A1\r"}, {chunk: "\x00\r", at: 10 * time.Millisecond}, {chunk: "A1\r", at: 20 * time.Millisecond}},
			[]string{"A1", "!noise", "!duplicate"}},
		{"clock going back counts again",
			[]step{{chunk: "A1\r", at: time.Second}, {chunk: "A1\r"}},
			[]string{"A1", "A1"}},
		{"a code in between does not reset the window",
			[]step{{chunk: "A1\r"}, {chunk: "B2\r", at: 10 * time.Millisecond}, {chunk: "A1\r", at: 20 * time.Millisecond}, {chunk: "B2\r", at: 30 * time.Millisecond}},
			[]string{"A1", "B2", "!duplicate", "!duplicate"}},
		{"two frames in one read",
			chunks("A1\rA1\r"),
			[]string{"A1", "!duplicate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, summary(run(NewFramer(128, window), tt.steps)))
		})
	}

	t.Run("disabled window delivers every copy", func(t *testing.T) {
		got := summary(run(NewFramer(128, -1), chunks("A1\r", "A1\r")))
		assert.Equal(t, []string{"A1", "A1"}, got)
	})
	t.Run("scan time is the arrival time", func(t *testing.T) {
		rs := run(NewFramer(128, window), []step{{chunk: "A"}, {chunk: "1\r", at: 42 * time.Millisecond}})
		require.Len(t, rs, 1)
		assert.Equal(t, t0.Add(42*time.Millisecond), rs[0].Scan.At)
	})
	t.Run("many distinct codes keep the table bounded", func(t *testing.T) {
		f := NewFramer(128, window)
		var rs []Result
		for i := range 5000 {
			// 10 codes a millisecond: about 10000 would be inside one window.
			rs = f.Feed(rs[:0], []byte(fmt.Sprintf("C%d\r", i)), t0.Add(time.Duration(i)*100*time.Microsecond))
			require.Equal(t, DropNone, rs[0].Drop)
			require.LessOrEqual(t, len(f.seen), maxSeen)
		}
		// Old codes expire and are pruned as new ones arrive.
		rs = f.Feed(rs[:0], []byte("LATE\rLATER\r"), t0.Add(time.Hour))
		rs = f.Feed(rs, []byte("C1\r"), t0.Add(time.Hour))
		assert.Equal(t, []string{"LATE", "LATER", "C1"}, summary(rs))
	})
	t.Run("reset keeps the window", func(t *testing.T) {
		f := NewFramer(128, window)
		rs := f.Feed(nil, []byte("A1\rPARTIAL"), t0)
		f.Reset()
		require.False(t, f.Pending())
		rs = f.Feed(rs, []byte("A1\r"), t0.Add(time.Millisecond))
		assert.Equal(t, []string{"A1", "!duplicate"}, summary(rs))
	})
}

func TestConfigValidate(t *testing.T) {
	valid := Config{Device: "/dev/serial/by-id/usb-scanner-if00"}.WithDefaults()
	require.NoError(t, valid.Validate())
	assert.Equal(t, Mode{Baud: 9600, DataBits: 8, Parity: "none", StopBits: 1}, valid.mode())

	tests := []struct {
		name   string
		change func(*Config)
		field  string
	}{
		{"no device", func(c *Config) { c.Device = " " }, "Device"},
		{"negative baud", func(c *Config) { c.Baud = -1 }, "Baud"},
		{"9 data bits", func(c *Config) { c.DataBits = 9 }, "DataBits"},
		{"unknown parity", func(c *Config) { c.Parity = "sometimes" }, "Parity"},
		{"1.5 stop bits", func(c *Config) { c.StopBits = 3 }, "StopBits"},
		{"tiny idle gap", func(c *Config) { c.IdleGap = time.Millisecond }, "IdleGap"},
		{"huge MaxLen", func(c *Config) { c.MaxLen = 1 << 20 }, "MaxLen"},
		{"negative ReopenMin", func(c *Config) { c.ReopenMin = -time.Second }, "ReopenMin"},
		{"ReopenMax below ReopenMin", func(c *Config) { c.ReopenMin, c.ReopenMax = time.Second, 500*time.Millisecond }, "ReopenMax"},
		{"ReopenMax too long for the replug target", func(c *Config) { c.ReopenMax = 10 * time.Second }, "ReopenMax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid
			tt.change(&c)
			err := c.Validate()
			require.Error(t, err)
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tt.field, fe.Field)
			assert.Contains(t, err.Error(), tt.field)
		})
	}

	t.Run("all problems at once", func(t *testing.T) {
		err := Config{}.Validate()
		for _, f := range []string{"Device", "Baud", "DataBits", "Parity", "StopBits", "IdleGap", "MaxLen", "ReopenMin"} {
			assert.Contains(t, err.Error(), f)
		}
	})
	t.Run("parity is case-insensitive", func(t *testing.T) {
		c := valid
		c.Parity = "Even"
		require.NoError(t, c.Validate())
		assert.Equal(t, "even", c.mode().Parity)
	})
}
