package seqr

import (
	"bytes"
	"errors"

	"github.com/posd/posd/internal/soap"
)

// redacted replaces the content of every password element.
const redacted = "***"

// Redact returns a copy of a SOAP message with the content of every <password>
// element (whatever its prefix or attributes) replaced by "***". It works on
// bytes, not on a parsed tree, so it also cleans truncated or malformed
// messages; an unterminated password element is redacted to the end.
// Use it for anything that logs or dumps a request or response.
func Redact(soap []byte) []byte {
	out := make([]byte, 0, len(soap))
	i := 0
	for {
		contentStart, ok := nextPasswordStart(soap, i)
		if !ok {
			return append(out, soap[i:]...)
		}
		out = append(out, soap[i:contentStart]...)
		end := closingPassword(soap, contentStart)
		out = append(out, redacted...)
		if end < 0 {
			return out
		}
		i = end
	}
}

// nextPasswordStart finds the next start tag whose local name is "password"
// at or after i, and returns the offset just past its '>'. Self-closing
// elements have no content and are skipped.
func nextPasswordStart(b []byte, i int) (int, bool) {
	for {
		j := bytes.IndexByte(b[i:], '<')
		if j < 0 {
			return 0, false
		}
		tag := i + j + 1
		nameEnd := tag
		for nameEnd < len(b) && !isTagNameEnd(b[nameEnd]) {
			nameEnd++
		}
		name := b[tag:nameEnd]
		if k := bytes.LastIndexByte(name, ':'); k >= 0 {
			name = name[k+1:]
		}
		if string(name) != "password" || (len(b[tag:nameEnd]) > 0 && b[tag] == '/') {
			i = tag
			continue
		}
		gt := bytes.IndexByte(b[nameEnd:], '>')
		if gt < 0 {
			// Cut off inside the start tag: nothing of the value has been seen yet.
			return 0, false
		}
		gt += nameEnd
		if b[gt-1] == '/' {
			i = gt + 1
			continue
		}
		return gt + 1, true
	}
}

// closingPassword returns the offset of the "</" that closes a password element
// whose content starts at i, or -1 when there is none.
func closingPassword(b []byte, i int) int {
	for {
		j := bytes.Index(b[i:], []byte("</"))
		if j < 0 {
			return -1
		}
		at := i + j
		nameEnd := at + 2
		for nameEnd < len(b) && !isTagNameEnd(b[nameEnd]) {
			nameEnd++
		}
		name := b[at+2 : nameEnd]
		if k := bytes.LastIndexByte(name, ':'); k >= 0 {
			name = name[k+1:]
		}
		if string(name) == "password" {
			return at
		}
		i = at + 2
	}
}

func isTagNameEnd(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '>', '/':
		return true
	}
	return false
}

// scrub is Redact plus the masking of each known secret wherever it appears,
// raw or XML-escaped (a server may echo a password inside any text).
func scrub(b []byte, secrets []string) []byte {
	b = Redact(b)
	for _, s := range secrets {
		if s == "" {
			continue
		}
		b = bytes.ReplaceAll(b, []byte(s), []byte(redacted))
		w := soap.NewFragment()
		w.Text("", s)
		if esc, err := w.Finish(); err == nil && string(esc) != s {
			b = bytes.ReplaceAll(b, esc, []byte(redacted))
		}
	}
	return b
}

// scrubError masks secrets in err's text and in the server-provided fields of
// *FaultError and *ResultError, keeping the chain for errors.Is and errors.As.
func scrubError(err error, secrets []string) error {
	var fe *FaultError
	if errors.As(err, &fe) {
		fe.String = string(scrub([]byte(fe.String), secrets))
		fe.Code = string(scrub([]byte(fe.Code), secrets))
	}
	var re *ResultError
	if errors.As(err, &re) {
		re.Description = string(scrub([]byte(re.Description), secrets))
	}
	msg := err.Error()
	if clean := string(scrub([]byte(msg), secrets)); clean != msg {
		return &multiError{msg: clean, errs: []error{err}}
	}
	return err
}
