// Package safetext refuses text that is not what it seems: bytes that are
// not UTF-8, control characters, bidi controls that reorder what a cashier
// or an auditor reads (U+202E makes "txt.exe" look like "exe.txt"),
// invisible characters that make two different ids look the same, and line
// breaks hidden in one-line fields. posd takes such text from the front end
// (titles, row descriptions, ids, refund reasons, customer data), from its
// config (receipt header and footer) and from the barcode scanner, and puts
// it on receipts, in SOAP, in the receipt file and in logs, so every source
// uses the same rules from here.
package safetext

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Reasons a text is refused; an *Error wraps one of them.
var (
	ErrInvalidUTF8 = errors.New("is not valid UTF-8")
	ErrControl     = errors.New("contains a control character")
	ErrLineBreak   = errors.New("contains a line break")
	ErrBidi        = errors.New("contains a bidi control character")
	ErrInvisible   = errors.New("contains an invisible character")
	ErrTooLong     = errors.New("is too long")
)

// Error says what was refused and where: the character's position counts
// characters from 1, as a person would.
type Error struct {
	Err  error
	Rune rune // the refused character; utf8.RuneError for invalid UTF-8
	At   int  // 1-based character position; for ErrTooLong the length
	Max  int  // for ErrTooLong
}

func (e *Error) Error() string {
	switch e.Err {
	case ErrInvalidUTF8:
		return fmt.Sprintf("%v at character %d", e.Err, e.At)
	case ErrTooLong:
		return fmt.Sprintf("is %d characters; at most %d", e.At, e.Max)
	}
	return fmt.Sprintf("%v (%U) at character %d", e.Err, e.Rune, e.At)
}

func (e *Error) Unwrap() error { return e.Err }

// Line checks a one-line field of at most max characters (max <= 0: no
// length limit). The empty string passes; whether a field is required is
// its caller's rule.
func Line(s string, max int) error {
	n := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		n++
		if r == utf8.RuneError && size <= 1 {
			return &Error{Err: ErrInvalidUTF8, Rune: r, At: n}
		}
		if why := classify(r); why != nil {
			return &Error{Err: why, Rune: r, At: n}
		}
		i += size
	}
	if max > 0 && n > max {
		return &Error{Err: ErrTooLong, At: n, Max: max}
	}
	return nil
}

// classify returns why r may not appear in a one-line field, or nil.
func classify(r rune) error {
	switch {
	case r == '\n' || r == '\r' || r == 0x2028 || r == 0x2029 || r == 0x85:
		// U+0085 (NEL) is a C1 control and a line break; it is named for
		// what it does.
		return ErrLineBreak
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
		return ErrControl // C0 (tab included: one line has no columns), DEL, C1
	case r == 0x061c || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069):
		// Arabic letter mark, embeddings and overrides (LRE, RLE, PDF, LRO,
		// RLO) and isolates (LRI, RLI, FSI, PDI).
		return ErrBidi
	case r >= 0x200b && r <= 0x200f, // ZWSP, ZWNJ, ZWJ, LRM, RLM
		r >= 0x2060 && r <= 0x2064, // word joiner, invisible operators
		r >= 0x206a && r <= 0x206f, // deprecated format characters
		r == 0xfeff,                // zero-width no-break space, the BOM
		r == 0x00ad,                // soft hyphen
		r == 0x180e,                // Mongolian vowel separator
		r == 0xfffe || r == 0xffff: // noncharacters; XML cannot carry them either
		return ErrInvisible
	}
	return nil
}
