package printer

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustCP(t testing.TB, name string) Codepage {
	t.Helper()
	cp, err := ParseCodepage(name)
	require.NoError(t, err)
	return cp
}

func TestPrologueOrder(t *testing.T) {
	tests := []struct {
		cp    string
		kanji bool
		want  []byte
	}{
		{"", false, []byte{0x1B, 0x40, 0x1B, 0x52, 0x00, 0x1B, 0x74, 19}},
		{"cp858", true, []byte{0x1B, 0x40, 0x1C, 0x2E, 0x1B, 0x52, 0x00, 0x1B, 0x74, 19}},
		{"cp437", false, []byte{0x1B, 0x40, 0x1B, 0x52, 0x00, 0x1B, 0x74, 0}},
		{"cp850", false, []byte{0x1B, 0x40, 0x1B, 0x52, 0x00, 0x1B, 0x74, 2}},
		{"cp865", false, []byte{0x1B, 0x40, 0x1B, 0x52, 0x00, 0x1B, 0x74, 5}},
		{"wpc1252", false, []byte{0x1B, 0x40, 0x1B, 0x52, 0x00, 0x1B, 0x74, 16}},
		{"Windows-1252", false, []byte{0x1B, 0x40, 0x1B, 0x52, 0x00, 0x1B, 0x74, 16}},
	}
	for _, tc := range tests {
		t.Run(tc.cp, func(t *testing.T) {
			e := NewEncoder(mustCP(t, tc.cp))
			e.Prologue(tc.kanji)
			assert.Equal(t, tc.want, e.Bytes())
		})
	}
}

func TestParseCodepageUnknown(t *testing.T) {
	_, err := ParseCodepage("utf8")
	require.Error(t, err)
}

func TestCodepageMapping(t *testing.T) {
	const sw = "åäöÅÄÖé€£§"
	tests := []struct {
		cp   string
		in   string
		want []byte
	}{
		{"cp858", sw, []byte{0x86, 0x84, 0x94, 0x8F, 0x8E, 0x99, 0x82, 0xD5, 0x9C, 0xF5}},
		{"cp850", sw, []byte{0x86, 0x84, 0x94, 0x8F, 0x8E, 0x99, 0x82, 'E', 'U', 'R', 0x9C, 0xF5}},
		{"cp437", sw, []byte{0x86, 0x84, 0x94, 0x8F, 0x8E, 0x99, 0x82, 'E', 'U', 'R', 0x9C, '?'}},
		{"cp865", sw, []byte{0x86, 0x84, 0x94, 0x8F, 0x8E, 0x99, 0x82, 'E', 'U', 'R', 0x9C, '?'}},
		{"wpc1252", sw, []byte{0xE5, 0xE4, 0xF6, 0xC5, 0xC4, 0xD6, 0xE9, 0x80, 0xA3, 0xA7}},
		// transliteration of typographic characters, '?' for the rest
		{"cp858", "“a” ‘b’ c–d—e… f\u00a0g", []byte(`"a" 'b' c-d-e... f g`)},
		{"cp858", "漢x😀", []byte("?x?")},
		// control characters never reach the printer as commands
		{"cp858", "a\x1b@b\tc\x00", []byte("a?@b c?")},
		{"cp858", "bad\xffutf8", []byte("bad?utf8")},
		{"wpc1252", "“q”…", []byte{0x93, 'q', 0x94, 0x85}},
	}
	for _, tc := range tests {
		t.Run(tc.cp+"/"+tc.in, func(t *testing.T) {
			e := NewEncoder(mustCP(t, tc.cp))
			e.Text(tc.in)
			assert.Equal(t, tc.want, e.Bytes())
		})
	}
}

func TestCommandBytes(t *testing.T) {
	tests := []struct {
		name string
		do   func(e *Encoder) error
		want []byte
	}{
		{"bold on", func(e *Encoder) error { e.Bold(true); return nil }, []byte{0x1B, 0x45, 1}},
		{"bold off", func(e *Encoder) error { e.Bold(false); return nil }, []byte{0x1B, 0x45, 0}},
		{"underline 1", func(e *Encoder) error { e.Underline(1); return nil }, []byte{0x1B, 0x2D, 1}},
		{"underline 9 clamps", func(e *Encoder) error { e.Underline(9); return nil }, []byte{0x1B, 0x2D, 2}},
		{"size 1x1", func(e *Encoder) error { e.Size(1, 1); return nil }, []byte{0x1D, 0x21, 0x00}},
		{"size 2x2", func(e *Encoder) error { e.Size(2, 2); return nil }, []byte{0x1D, 0x21, 0x11}},
		{"size 1x2", func(e *Encoder) error { e.Size(1, 2); return nil }, []byte{0x1D, 0x21, 0x01}},
		{"size 8x8", func(e *Encoder) error { e.Size(9, 8); return nil }, []byte{0x1D, 0x21, 0x77}},
		{"align left", func(e *Encoder) error { e.Align(AlignLeft); return nil }, []byte{0x1B, 0x61, 0}},
		{"align center", func(e *Encoder) error { e.Align(AlignCenter); return nil }, []byte{0x1B, 0x61, 1}},
		{"align right", func(e *Encoder) error { e.Align(AlignRight); return nil }, []byte{0x1B, 0x61, 2}},
		{"feed 3", func(e *Encoder) error { e.Feed(3); return nil }, []byte{0x1B, 0x64, 3}},
		{"line", func(e *Encoder) error { e.Line("ab"); return nil }, []byte{'a', 'b', '\n'}},
		{"feed cut partial", func(e *Encoder) error { e.FeedCut(true, 3); return nil }, []byte{0x1D, 0x56, 66, 3}},
		{"feed cut full", func(e *Encoder) error { e.FeedCut(false, 10); return nil }, []byte{0x1D, 0x56, 65, 10}},
		{"cut now full", func(e *Encoder) error { e.CutNow(false); return nil }, []byte{0x1D, 0x56, 0}},
		{"cut now partial", func(e *Encoder) error { e.CutNow(true); return nil }, []byte{0x1D, 0x56, 1}},
		{"confirm", func(e *Encoder) error { e.RequestConfirm(); return nil }, []byte{0x1D, 0x72, 0x01}},
		{"drawer pin 2 100ms", func(e *Encoder) error { return e.DrawerKick(2, 100*time.Millisecond, 100*time.Millisecond) }, []byte{0x1B, 0x70, 0, 50, 50}},
		{"drawer pin 5 50/500ms", func(e *Encoder) error { return e.DrawerKick(5, 50*time.Millisecond, 500*time.Millisecond) }, []byte{0x1B, 0x70, 1, 25, 250}},
		{"drawer clamps", func(e *Encoder) error { return e.DrawerKick(2, 0, time.Second) }, []byte{0x1B, 0x70, 0, 1, 255}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := NewEncoder(mustCP(t, ""))
			require.NoError(t, tc.do(e))
			assert.Equal(t, tc.want, e.Bytes())
		})
	}
}

func TestDrawerKickBadPin(t *testing.T) {
	e := NewEncoder(mustCP(t, ""))
	require.Error(t, e.DrawerKick(3, time.Millisecond, time.Millisecond))
	assert.Empty(t, e.Bytes())
}

func TestCode128Data(t *testing.T) {
	tests := []struct {
		in      string
		want    []byte
		symbols int
	}{
		{"7312", []byte{'{', 'C', 73, 12}, 2},
		{"73120", []byte{'{', 'C', 73, 12, '{', 'B', '0'}, 4},
		{"1234567890123456", []byte{'{', 'C', 12, 34, 56, 78, 90, 12, 34, 56}, 8},
		{"123456789012345", []byte{'{', 'C', 12, 34, 56, 78, 90, 12, 34, '{', 'B', '5'}, 9},
		{"00", []byte{'{', 'C', 0}, 1},
		{"5", []byte{'{', 'B', '5'}, 1},
		{"AB12", []byte{'{', 'B', 'A', 'B', '1', '2'}, 4},
		{"AB1234", []byte{'{', 'B', 'A', 'B', '{', 'C', 12, 34}, 5},
		{"AB12345x", []byte{'{', 'B', 'A', 'B', '{', 'C', 12, 34, '{', 'B', '5', 'x'}, 8},
		{"a{b", []byte{'{', 'B', 'a', '{', '{', 'b'}, 3},
		{"{", []byte{'{', 'B', '{', '{'}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, sym, err := Code128Data(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.symbols, sym)
		})
	}
}

func TestCode128DataRefused(t *testing.T) {
	for _, in := range []string{"", "a\x00", "åäö", "x\n", strings.Repeat("A", 200) + strings.Repeat("{", 30)} {
		_, _, err := Code128Data(in)
		require.ErrorIs(t, err, ErrBarcodeData, "%q", in)
	}
}

func TestCode128Bytes(t *testing.T) {
	e := NewEncoder(mustCP(t, ""))
	require.NoError(t, e.Code128("7312", 576, 0, 0))
	// 2 symbols: 11*4+13 = 57 modules of bars; at w=6 342 dots, 117 left each side >= 60
	assert.Equal(t, []byte{0x1D, 0x48, 0x02, 0x1D, 0x68, 80, 0x1D, 0x77, 6, 0x1D, 0x6B, 0x49, 4, '{', 'C', 73, 12}, e.Bytes())
}

func TestCode128WidthBudget(t *testing.T) {
	const ref25 = "2026112118350212301032678" // a real SEQR ersReference: 14 symbols, 189 modules of bars
	tests := []struct {
		value  string
		dots   int
		margin int
		w      int // 0 = refused
	}{
		{"1234567890123456", 576, 24, 4},      // set C: 8 symbols -> 123 modules; 4*123=492, 42+24 >= 40
		{"1234567890123456", 384, 24, 3},      // 369 <= 384; 7 dots beside + 24 of margin >= 30
		{"1234567890123456", 384, 0, 2},       // without the margin the quiet zone needs w=2
		{"ABCDEFGHIJKLMNOP", 576, 24, 2},      // set B: 16 symbols -> 211 modules; 422
		{"ABCDEFGHIJKLMNOP", 384, 24, 0},      // bars alone 422 > 384: refused
		{strings.Repeat("X", 30), 576, 24, 0}, // 365 modules -> 730 dots
		{strings.Repeat("1", 40), 576, 24, 2}, // 20 symbols -> 255 modules -> 510
		{strings.Repeat("1", 40), 512, 24, 2}, // 510 <= 512: quiet zones in the margin
		{strings.Repeat("1", 40), 512, 0, 0},  // no margin: no room for the quiet zones
		{"AB", 576, 24, 6},                    // 57 modules -> 342
		{ref25, 384, 24, 2},                   // 58 mm: 378 dots of bars, 3 beside + 24 of margin >= 20
		{ref25, 384, 0, 0},                    // the old budget (quiet zones inside the 384 dots): refused
		{ref25, 512, 24, 2},                   // 80 mm/512
		{ref25, 576, 24, 2},                   // 80 mm/576: w=3 would be 567 dots, leaving 4+24 < 30
	}
	for _, tc := range tests {
		t.Run(tc.value+"/"+itoa(tc.dots), func(t *testing.T) {
			e := NewEncoder(mustCP(t, ""))
			err := e.Code128(tc.value, tc.dots, tc.margin, 100)
			if tc.w == 0 {
				require.ErrorIs(t, err, ErrBarcodeTooWide)
				assert.Empty(t, e.Bytes(), "nothing appended when refused")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, byte(tc.w), e.Bytes()[8])
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestQRLengthBytes(t *testing.T) {
	head := []byte{
		0x1D, 0x28, 0x6B, 0x04, 0x00, 0x31, 0x41, 0x32, 0x00,
		0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x43, 0x06,
		0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x45, 0x31,
	}
	tail := []byte{0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x51, 0x30}
	tests := []struct {
		n      int
		pL, pH byte
	}{
		{0, 3, 0}, {1, 4, 0}, {252, 255, 0}, {253, 0, 1}, {256, 3, 1}, {300, 47, 1}, {7089, 0xB4, 0x1B},
	}
	for _, tc := range tests {
		data := strings.Repeat("x", tc.n)
		e := NewEncoder(mustCP(t, ""))
		require.NoError(t, e.QR(data, 6, QRLevelM))
		want := append([]byte{}, head...)
		want = append(want, 0x1D, 0x28, 0x6B, tc.pL, tc.pH, 0x31, 0x50, 0x30)
		want = append(want, data...)
		want = append(want, tail...)
		assert.Equal(t, want, e.Bytes(), "len %d", tc.n)
	}
}

func TestQRTooLong(t *testing.T) {
	e := NewEncoder(mustCP(t, ""))
	require.ErrorIs(t, e.QR(strings.Repeat("x", 7090), 6, QRLevelM), ErrQRTooLong)
	assert.Empty(t, e.Bytes())
}

func TestQRClamps(t *testing.T) {
	e := NewEncoder(mustCP(t, ""))
	require.NoError(t, e.QR("a", 0, QRLevel(9)))
	b := e.Bytes()
	assert.Equal(t, byte(1), b[16], "size clamped to 1")
	assert.Equal(t, byte(0x31), b[24], "bad level becomes M")
}
