// Package soap is the SOAP 1.1 plumbing shared by posd's SOAP clients (SEQR,
// Resurs After Shop): envelope writing, reading by namespace and local name,
// fault decoding, and one HTTP round trip that tells "certainly not sent"
// apart from "may have arrived".
//
// Requests are written by hand into a byte slice rather than with
// encoding/xml so that the bytes on the wire are exactly the ones in golden
// files, and so that the document/literal rule of both services (only the
// operation wrapper is namespaced, children are unqualified) cannot be lost to
// a struct tag. Responses are read by namespace and local name, whatever the
// prefixes, because SOAP stacks choose their own (ns2/ns3 swap between
// Resurs's responses): Body and Caller.Call check the namespaces (Resurs),
// BodyLocal and Caller.CallLocal read by local name alone (SEQR's spec 1.4
// asks for it, and it saves encoding/xml's namespace bookkeeping on every
// poll). The emulators keep their own independent parsers on purpose, so
// that a bug here is not mirrored there.
package soap

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// EnvelopeNS is the SOAP 1.1 envelope namespace.
const EnvelopeNS = "http://schemas.xmlsoap.org/soap/envelope/"

// XSINS is the XML Schema instance namespace (xsi:nil).
const XSINS = "http://www.w3.org/2001/XMLSchema-instance"

// Namespace is one xmlns declaration written on the Envelope.
type Namespace struct {
	Prefix string // e.g. "aft"
	URI    string
}

// Envelope says how a request envelope is written.
type Envelope struct {
	// Prefix of the envelope's elements, e.g. "soapenv".
	Prefix string
	// Namespaces are declared on the Envelope after the envelope's own, in
	// this order.
	Namespaces []Namespace
	// Header writes an empty <prefix:Header/> before the Body (Resurs's
	// documented skeleton has one; SEQR's requests do not).
	Header bool
}

// Writer appends one request envelope. The first problem with the caller's
// data is kept (naming the field) and returned by Finish, so a request with a
// bad field is never sent. A Writer is used once, by one goroutine.
type Writer struct {
	b      []byte
	err    error
	prefix string // envelope prefix; "" for a fragment
	where  string // prefix for error messages ("specLines 2: "), set by the caller
	// whereItem/whereIndex name a repeated element ("invoiceRow", 2) for
	// error messages; formatted only when a problem is recorded, so a
	// request with many rows costs no allocation for them.
	whereItem  string
	whereIndex int
}

// NewFragment starts a Writer that writes elements without an envelope: a
// part rendered once (escaped and checked) and later added with Raw, or an
// escaped text alone. Finish returns the bytes as written.
func NewFragment() *Writer { return &Writer{} }

// NewWriter starts an envelope and opens its Body.
func NewWriter(env Envelope) *Writer {
	w := &Writer{b: make([]byte, 0, 2048), prefix: env.Prefix}
	w.b = append(w.b, '<')
	w.b = append(w.b, env.Prefix...)
	w.b = append(w.b, ":Envelope xmlns:"...)
	w.b = append(w.b, env.Prefix...)
	w.b = append(w.b, `="`+EnvelopeNS+`"`...)
	for _, ns := range env.Namespaces {
		w.b = append(w.b, " xmlns:"...)
		w.b = append(w.b, ns.Prefix...)
		w.b = append(w.b, `="`...)
		w.attrText(ns.URI)
		w.b = append(w.b, '"')
	}
	w.b = append(w.b, '>')
	if env.Header {
		w.b = append(w.b, '<')
		w.b = append(w.b, env.Prefix...)
		w.b = append(w.b, ":Header/>"...)
	}
	w.b = append(w.b, '<')
	w.b = append(w.b, env.Prefix...)
	w.b = append(w.b, ":Body>"...)
	return w
}

// Raw appends s unchanged (pre-escaped fragments, written once).
func (w *Writer) Raw(s string) { w.b = append(w.b, s...) }

// Where sets the context put before field names in error messages, e.g.
// "specLines 2: ". Empty clears it, and the item set by WhereItem.
func (w *Writer) Where(s string) { w.where, w.whereItem = s, "" }

// WhereItem is Where(fmt.Sprintf("%s %d: ", item, index)) without the cost
// of formatting for a request that has no problem. Empty item clears it.
func (w *Writer) WhereItem(item string, index int) {
	w.where, w.whereItem, w.whereIndex = "", item, index
}

// Fail records a problem with field unless one is already recorded.
func (w *Writer) Fail(field, format string, args ...any) {
	if w.err != nil {
		return
	}
	where := w.where
	if w.whereItem != "" {
		where = w.whereItem + " " + strconv.Itoa(w.whereIndex) + ": "
	}
	w.err = fmt.Errorf("%s%s %s", where, field, fmt.Sprintf(format, args...))
}

// Err returns the first problem recorded so far.
func (w *Writer) Err() error { return w.err }

// Start writes <name>; name is written as given, prefix included
// ("aft:finalizePayment" for a wrapper, "paymentId" for a child).
func (w *Writer) Start(name string) {
	w.b = append(w.b, '<')
	w.b = append(w.b, name...)
	w.b = append(w.b, '>')
}

// End writes </name>.
func (w *Writer) End(name string) {
	w.b = append(w.b, '<', '/')
	w.b = append(w.b, name...)
	w.b = append(w.b, '>')
}

// Empty writes <name/>.
func (w *Writer) Empty(name string) {
	w.b = append(w.b, '<')
	w.b = append(w.b, name...)
	w.b = append(w.b, '/', '>')
}

// Elem writes <name>s</name>, s escaped.
func (w *Writer) Elem(name, s string) {
	w.Start(name)
	w.Text(name, s)
	w.End(name)
}

// Opt writes <name>s</name> unless s is empty: an unset optional is omitted.
func (w *Writer) Opt(name, s string) {
	if s != "" {
		w.Elem(name, s)
	}
}

// Required writes <name>s</name> and records a problem when s is empty.
func (w *Writer) Required(name, s string) {
	if s == "" {
		w.Fail(name, "is empty")
	}
	w.Elem(name, s)
}

// Int writes <name>n</name>.
func (w *Writer) Int(name string, n int64) {
	w.Start(name)
	w.b = strconv.AppendInt(w.b, n, 10)
	w.End(name)
}

// Bool writes <name>true|false</name>.
func (w *Writer) Bool(name string, v bool) {
	w.Start(name)
	w.b = strconv.AppendBool(w.b, v)
	w.End(name)
}

// Base64 writes <name>data</name> as xs:base64Binary (standard alphabet,
// padded, one line).
func (w *Writer) Base64(name string, data []byte) {
	w.Start(name)
	w.b = base64.StdEncoding.AppendEncode(w.b, data)
	w.End(name)
}

// Time writes <name>t</name> formatted with layout (e.g. xs:dateTime with
// its offset, "2006-01-02T15:04:05Z07:00").
func (w *Writer) Time(name string, t time.Time, layout string) {
	w.Start(name)
	w.b = t.AppendFormat(w.b, layout)
	w.End(name)
}

// Decimal writes <name>s</name> after checking that s is an xs:decimal
// without exponent ("12.5", "-3", "0.00001").
func (w *Writer) Decimal(name, s string) {
	if !IsDecimal(s) {
		w.Fail(name, "%q is not a decimal number", s)
	}
	w.Elem(name, s)
}

// Finish closes the Body and the Envelope (not for a fragment) and returns
// the document, or the first problem recorded.
func (w *Writer) Finish() ([]byte, error) {
	if w.prefix == "" {
		if w.err != nil {
			return nil, w.err
		}
		return w.b, nil
	}
	w.b = append(w.b, "</"...)
	w.b = append(w.b, w.prefix...)
	w.b = append(w.b, ":Body></"...)
	w.b = append(w.b, w.prefix...)
	w.b = append(w.b, ":Envelope>"...)
	if w.err != nil {
		return nil, w.err
	}
	return w.b, nil
}

// Text appends s escaped as XML character data. Characters XML 1.0 cannot
// carry (most C0 controls, invalid UTF-8, U+FFFE/U+FFFF) are refused rather
// than silently changed: a request must say what the till meant.
func (w *Writer) Text(field, s string) {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			var esc string
			switch c {
			case '<':
				esc = "&lt;"
			case '>':
				esc = "&gt;"
			case '&':
				esc = "&amp;"
			case '\r':
				esc = "&#xD;" // a literal CR would be normalised away by the parser
			case '\t', '\n':
			default:
				if c < 0x20 {
					w.Fail(field, "contains control character %U, which XML cannot carry", rune(c))
					return
				}
			}
			if esc != "" {
				w.b = append(w.b, s[start:i]...)
				w.b = append(w.b, esc...)
				start = i + 1
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			w.Fail(field, "is not valid UTF-8 at byte %d", i)
			return
		}
		if r == 0xFFFE || r == 0xFFFF {
			w.Fail(field, "contains %U, which XML cannot carry", r)
			return
		}
		i += size
	}
	w.b = append(w.b, s[start:]...)
}

// attrText escapes s for a double-quoted attribute value.
func (w *Writer) attrText(s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			w.b = append(w.b, "&quot;"...)
		case '&':
			w.b = append(w.b, "&amp;"...)
		case '<':
			w.b = append(w.b, "&lt;"...)
		default:
			w.b = append(w.b, c)
		}
	}
}

// IsDecimal reports whether s is a plain decimal: an optional '-', digits,
// and optionally '.' followed by digits. No exponent, no '+', no spaces.
func IsDecimal(s string) bool {
	if s != "" && s[0] == '-' {
		s = s[1:]
	}
	digits, dot := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot && digits > 0 && i < len(s)-1:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}
