package seqr

import "bytes"

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
