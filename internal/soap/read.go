package soap

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxDepth bounds element nesting so that a hostile body cannot exhaust the stack.
const MaxDepth = 64

// Node is one element of a response, read by namespace and local name.
// Elements marked xsi:nil="true" are left out of their parent's Kids, so a
// nil optional reads exactly as an absent one.
type Node struct {
	Space string // namespace URI ("" for the unqualified children, and always "" from BodyLocal)
	Local string
	Text  string // character data (CDATA included), for elements without children
	Kids  []*Node
}

// Child returns the first child with the given local name, or nil.
// Namespaces are not compared: below the wrapper every element is
// unqualified, and a server that qualifies them anyway is still understood.
func (n *Node) Child(local string) *Node {
	if n == nil {
		return nil
	}
	for _, k := range n.Kids {
		if k.Local == local {
			return k
		}
	}
	return nil
}

// Children returns every child with the given local name, in document order.
func (n *Node) Children(local string) []*Node {
	if n == nil {
		return nil
	}
	var out []*Node
	for _, k := range n.Kids {
		if k.Local == local {
			out = append(out, k)
		}
	}
	return out
}

// Str returns the trimmed text of the named child, "" when absent or nil.
func (n *Node) Str(local string) string {
	k := n.Child(local)
	if k == nil {
		return ""
	}
	return strings.TrimSpace(k.Text)
}

// Is reports whether n is the element {space}local.
func (n *Node) Is(space, local string) bool {
	return n != nil && n.Space == space && n.Local == local
}

// Body parses a SOAP 1.1 envelope and returns the first element of its Body
// (the operation's response wrapper). A Fault is returned as a *Fault error.
// A malformed or truncated document, or one that is not a SOAP envelope, is
// an error.
func Body(doc []byte) (*Node, error) {
	return readEnvelope(doc, false)
}

// BodyLocal is Body for services read by local name only (SEQR, spec 1.4):
// the Envelope, Body and Fault are recognised by local name whatever their
// namespace (a SOAP 1.2 envelope included), every Node's Space is "", and
// xsi:nil is any prefixed attribute named nil. It skips namespace
// resolution, which is most of encoding/xml's allocations on a poll.
func BodyLocal(doc []byte) (*Node, error) {
	return readEnvelope(doc, true)
}

// Document reads a whole XML document by local name (like BodyLocal, but any
// root element: a report carried inside a response) and returns its root.
func Document(doc []byte) (*Node, error) {
	r := newReader(doc, true)
	start, err := r.root()
	if err != nil {
		return nil, err
	}
	n, err := r.node(start, 1, nil)
	if err != nil {
		return nil, err
	}
	if err := r.tail("the root element"); err != nil {
		return nil, err
	}
	if n == nil {
		n = &Node{Local: start.Name.Local}
	}
	return n, nil
}

// reader reads one document. In local mode it uses RawToken (no namespace
// bookkeeping) and matches start and end tags itself; otherwise Token, which
// resolves namespaces and checks the nesting.
type reader struct {
	d     *xml.Decoder
	doc   []byte
	local bool
}

func newReader(doc []byte, local bool) reader {
	return reader{d: xml.NewDecoder(bytes.NewReader(doc)), doc: doc, local: local}
}

func (r *reader) token() (xml.Token, error) {
	if r.local {
		return r.d.RawToken()
	}
	return r.d.Token()
}

// is reports whether name is the SOAP envelope's element local.
func (r *reader) is(name xml.Name, local string) bool {
	return name.Local == local && (r.local || name.Space == EnvelopeNS)
}

// root returns the root element, skipping the prolog.
func (r *reader) root() (xml.StartElement, error) {
	for {
		tok, err := r.token()
		if err == io.EOF {
			return xml.StartElement{}, errors.New("empty document")
		}
		if err != nil {
			return xml.StartElement{}, syntaxErr(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return xml.StartElement{}, errors.New("text before the root element")
			}
		}
	}
}

// tail reads after the root element (named by what, for messages) to the
// end, so that a document cut off after it is still well formed and trailing
// content is noticed.
func (r *reader) tail(what string) error {
	for {
		tok, err := r.token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return syntaxErr(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return errors.New("content after " + what)
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return errors.New("text after " + what)
			}
		}
	}
}

func readEnvelope(doc []byte, local bool) (*Node, error) {
	r := newReader(doc, local)
	root, err := r.root()
	if err != nil {
		return nil, err
	}
	if !r.is(root.Name, "Envelope") {
		return nil, fmt.Errorf("root element is <%s>, not a SOAP Envelope", qname(root.Name))
	}
	var payload *Node
	var fault *Fault
	seenBody := false
	for done := false; !done; {
		tok, err := r.token()
		if err != nil {
			return nil, syntaxErr(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if !r.is(t.Name, "Body") || seenBody { // a Header, or a second Body: skipped but checked
				if _, err := r.node(t, 2, nil); err != nil {
					return nil, err
				}
				continue
			}
			seenBody = true
			if payload, fault, err = r.body(); err != nil {
				return nil, err
			}
		case xml.EndElement:
			if err := r.matches(root, t); err != nil {
				return nil, err
			}
			done = true
		}
	}
	if err := r.tail("the SOAP Envelope"); err != nil {
		return nil, err
	}
	switch {
	case !seenBody:
		return nil, errors.New("SOAP Envelope has no Body")
	case fault != nil:
		return nil, fault
	case payload == nil:
		return nil, errors.New("SOAP Body is empty")
	}
	return payload, nil
}

// body reads the Body's children up to its end and keeps the first element:
// the payload, or a Fault.
func (r *reader) body() (*Node, *Fault, error) {
	var payload *Node
	var fault *Fault
	for {
		tok, err := r.token()
		if err != nil {
			return nil, nil, syntaxErr(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			first := payload == nil && fault == nil
			if first && r.is(t.Name, "Fault") {
				if fault, err = r.fault(t); err != nil {
					return nil, nil, err
				}
				continue
			}
			n, err := r.node(t, 3, nil)
			if err != nil {
				return nil, nil, err
			}
			if first {
				if n == nil { // a nil payload: read as an empty wrapper
					n = &Node{Space: r.space(t.Name), Local: t.Name.Local}
				}
				payload = n
			}
		case xml.EndElement:
			if !r.is(t.Name, "Body") {
				return nil, nil, fmt.Errorf("malformed XML: Body closed by </%s>", qname(t.Name))
			}
			return payload, fault, nil
		}
	}
}

func (r *reader) space(n xml.Name) string {
	if r.local {
		return ""
	}
	return n.Space
}

// matches checks an end tag against its start. Token has done so already;
// RawToken has not.
func (r *reader) matches(start xml.StartElement, end xml.EndElement) error {
	if end.Name != start.Name {
		return fmt.Errorf("malformed XML: <%s> closed by </%s>", qname(start.Name), qname(end.Name))
	}
	return nil
}

// isNil reports whether start carries xsi:nil="true".
func (r *reader) isNil(start xml.StartElement) bool {
	for _, a := range start.Attr {
		if a.Name.Local != "nil" {
			continue
		}
		if r.local && a.Name.Space != "" || a.Name.Space == XSINS {
			v := strings.TrimSpace(a.Value)
			return v == "true" || v == "1"
		}
	}
	return false
}

// node reads the element opened by start up to its end. It returns nil for
// an element marked xsi:nil. raw, when non-nil, receives the offsets of the
// element's content in the input.
func (r *reader) node(start xml.StartElement, depth int, raw *[2]int64) (*Node, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("elements nested deeper than %d", MaxDepth)
	}
	n := &Node{Space: r.space(start.Name), Local: start.Name.Local}
	isNil := r.isNil(start)
	var text string
	if raw != nil {
		raw[0] = r.d.InputOffset()
	}
	for {
		off := r.d.InputOffset()
		tok, err := r.token()
		if err != nil {
			return nil, syntaxErr(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			k, err := r.node(t, depth+1, nil)
			if err != nil {
				return nil, err
			}
			if k != nil {
				n.Kids = append(n.Kids, k)
			}
		case xml.CharData:
			if len(n.Kids) == 0 {
				// One allocation for the usual single chunk of text.
				if text == "" {
					text = string(t)
				} else {
					text += string(t)
				}
			}
		case xml.EndElement:
			if err := r.matches(start, t); err != nil {
				return nil, err
			}
			if raw != nil {
				raw[1] = off
			}
			if isNil {
				return nil, nil
			}
			if len(n.Kids) == 0 {
				n.Text = text
			}
			return n, nil
		}
	}
}

// qname renders a name for messages: as written (prefix:local) from
// RawToken, {space}local from Token.
func qname(n xml.Name) string {
	switch {
	case n.Space == "":
		return n.Local
	case strings.Contains(n.Space, ":"): // a namespace URI
		return "{" + n.Space + "}" + n.Local
	}
	return n.Space + ":" + n.Local
}

func syntaxErr(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("malformed XML: %w", err)
}
