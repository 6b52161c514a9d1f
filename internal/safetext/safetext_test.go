package safetext

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLineAcceptsOrdinaryText(t *testing.T) {
	for _, s := range []string{"", "Kaffe", "Räksmörgås é € 🧾", "Åsa Öberg-Ängström", "SEQR 1000 kr", "a\u00a0b", "Ω≈ç√", "日本語", "עברית", "العربية"} {
		assert.NoError(t, Line(s, 0), "%q", s)
	}
}

func TestLineRefusesWhatIsNotWhatItSeems(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
		r    rune
		at   int
	}{
		{"invalid UTF-8", "ab\xff", ErrInvalidUTF8, utf8.RuneError, 3},
		{"encoded surrogate", "a\xed\xa0\x80", ErrInvalidUTF8, utf8.RuneError, 2},
		{"NUL", "a\x00", ErrControl, 0, 2},
		{"tab", "a\tb", ErrControl, '\t', 2},
		{"escape", "\x1b[31m", ErrControl, 0x1b, 1},
		{"DEL", "a\x7f", ErrControl, 0x7f, 2},
		{"C1 CSI", "a\u009b", ErrControl, 0x9b, 2},
		{"LF", "a\nb", ErrLineBreak, '\n', 2},
		{"CR", "a\rb", ErrLineBreak, '\r', 2},
		{"NEL", "a\u0085", ErrLineBreak, 0x85, 2},
		{"line separator", "a\u2028b", ErrLineBreak, 0x2028, 2},
		{"paragraph separator", "a\u2029b", ErrLineBreak, 0x2029, 2},
		{"LRE", "\u202a", ErrBidi, 0x202a, 1},
		{"RLO", "invoice\u202etxt.exe", ErrBidi, 0x202e, 8},
		{"PDF", "a\u202c", ErrBidi, 0x202c, 2},
		{"LRI", "\u2066x", ErrBidi, 0x2066, 1},
		{"PDI", "x\u2069", ErrBidi, 0x2069, 2},
		{"ALM", "x\u061c", ErrBidi, 0x061c, 2},
		{"ZWSP", "SALE\u200b42", ErrInvisible, 0x200b, 5},
		{"ZWNJ", "a\u200c", ErrInvisible, 0x200c, 2},
		{"ZWJ", "a\u200d", ErrInvisible, 0x200d, 2},
		{"LRM", "a\u200e", ErrInvisible, 0x200e, 2},
		{"RLM", "a\u200f", ErrInvisible, 0x200f, 2},
		{"word joiner", "a\u2060", ErrInvisible, 0x2060, 2},
		{"BOM first", "\ufeffKaffe", ErrInvisible, 0xfeff, 1},
		{"soft hyphen", "Kaf\u00adfe", ErrInvisible, 0xad, 4},
		{"noncharacter", "a\uffff", ErrInvisible, 0xffff, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Line(tt.in, 0)
			require.ErrorIs(t, err, tt.want)
			var e *Error
			require.True(t, errors.As(err, &e))
			assert.Equal(t, tt.r, e.Rune)
			assert.Equal(t, tt.at, e.At)
			if tt.want != ErrInvalidUTF8 {
				assert.Contains(t, err.Error(), "U+")
			}
		})
	}
}

func TestLineCountsCharactersNotBytes(t *testing.T) {
	assert.NoError(t, Line(strings.Repeat("å", 80), 80), "80 characters, 160 bytes")
	err := Line(strings.Repeat("å", 81), 80)
	require.ErrorIs(t, err, ErrTooLong)
	assert.Equal(t, "is 81 characters; at most 80", err.Error())
}

// FuzzLine: Line never panics, and what it accepts is valid UTF-8 within
// the limit and free of every refused class.
func FuzzLine(f *testing.F) {
	for _, s := range []string{"Kaffe", "a\u202eb", "\xff", "\ufeff", strings.Repeat("x", 70)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if Line(s, 64) != nil {
			return
		}
		if !utf8.ValidString(s) || utf8.RuneCountInString(s) > 64 {
			t.Fatalf("accepted %q", s)
		}
		for _, r := range s {
			if classify(r) != nil {
				t.Fatalf("accepted %q with %U", s, r)
			}
		}
	})
}
