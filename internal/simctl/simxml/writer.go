package simxml

import (
	"slices"
	"strconv"
	"unicode/utf8"
)

// Writer appends XML by hand, byte for byte in the shape the emulated server
// writes: no declaration, no whitespace, names given with their prefix. Each
// emulator embeds it and adds its own typed field writers.
type Writer struct {
	// EscapeQuotes writes '"' in character data as &quot; (as the JAX-WS
	// reference implementation behind Resurs does); CXF (SEQR) leaves it.
	EscapeQuotes bool
	b            []byte
}

// Grow makes room for n more bytes.
func (w *Writer) Grow(n int) { w.b = slices.Grow(w.b, n) }

// Bytes returns what was written; the writer keeps appending to it.
func (w *Writer) Bytes() []byte { return w.b }

// Len is the number of bytes written.
func (w *Writer) Len() int { return len(w.b) }

// Raw appends s as is (markup the caller built).
func (w *Writer) Raw(s string) { w.b = append(w.b, s...) }

// RawBytes appends b as is.
func (w *Writer) RawBytes(b []byte) { w.b = append(w.b, b...) }

// Open writes <name>.
func (w *Writer) Open(name string) {
	w.b = append(w.b, '<')
	w.b = append(w.b, name...)
	w.b = append(w.b, '>')
}

// Close writes </name>.
func (w *Writer) Close(name string) {
	w.b = append(w.b, '<', '/')
	w.b = append(w.b, name...)
	w.b = append(w.b, '>')
}

// Text writes <name>escaped</name>; JAXB writes "" as an open/close pair.
func (w *Writer) Text(name, v string) {
	w.Open(name)
	w.Escape(v)
	w.Close(name)
}

// Int writes <name>v</name> in decimal.
func (w *Writer) Int(name string, v int64) {
	w.Open(name)
	w.b = strconv.AppendInt(w.b, v, 10)
	w.Close(name)
}

// Escape writes character data: &, < and > escaped (as JAXB does), '"' when
// EscapeQuotes is set, carriage returns kept by reference, and characters
// XML 1.0 cannot carry (and invalid UTF-8) replaced by U+FFFD.
func (w *Writer) Escape(s string) {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '&':
			w.Raw("&amp;")
		case r == '<':
			w.Raw("&lt;")
		case r == '>':
			w.Raw("&gt;")
		case r == '"' && w.EscapeQuotes:
			w.Raw("&quot;")
		case r == '\r':
			w.Raw("&#xD;")
		case r == utf8.RuneError && size == 1, !xmlChar(r):
			w.b = utf8.AppendRune(w.b, '\uFFFD')
		default:
			w.b = append(w.b, s[i:i+size]...)
		}
		i += size
	}
}

// xmlChar is the XML 1.0 Char production.
func xmlChar(r rune) bool {
	return r == 0x9 || r == 0xA || r == 0xD ||
		(r >= 0x20 && r <= 0xD7FF) ||
		(r >= 0xE000 && r <= 0xFFFD) ||
		(r >= 0x10000 && r <= 0x10FFFF)
}
