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
	Space string // namespace URI ("" for the unqualified children)
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
	d := xml.NewDecoder(bytes.NewReader(doc))
	var payload *Node
	var fault *Fault
	depth := 0
	seenEnvelope, seenBody := false, false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, syntaxErr(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case depth == 0:
				if seenEnvelope {
					return nil, errors.New("content after the SOAP Envelope")
				}
				if t.Name.Space != EnvelopeNS || t.Name.Local != "Envelope" {
					return nil, fmt.Errorf("root element is {%s}%s, not a SOAP 1.1 Envelope", t.Name.Space, t.Name.Local)
				}
				seenEnvelope = true
				depth++
			case depth == 1 && t.Name.Space == EnvelopeNS && t.Name.Local == "Body" && !seenBody:
				seenBody = true
				depth++
			case depth == 2 && seenBody && payload == nil && fault == nil:
				if t.Name.Space == EnvelopeNS && t.Name.Local == "Fault" {
					if fault, err = readFault(d, doc, t); err != nil {
						return nil, err
					}
					continue
				}
				n, err := readNode(d, t, depth+1, nil)
				if err != nil {
					return nil, err
				}
				if n == nil { // a nil payload: read as an empty wrapper
					n = &Node{Space: t.Name.Space, Local: t.Name.Local}
				}
				payload = n
			default: // Header, further Body children: skipped but checked
				if _, err := readNode(d, t, depth+1, nil); err != nil {
					return nil, err
				}
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return nil, errors.New("text outside the SOAP Envelope")
			}
		}
	}
	switch {
	case !seenEnvelope:
		return nil, errors.New("empty document")
	case depth != 0:
		return nil, syntaxErr(io.ErrUnexpectedEOF)
	case !seenBody:
		return nil, errors.New("SOAP Envelope has no Body")
	case fault != nil:
		return nil, fault
	case payload == nil:
		return nil, errors.New("SOAP Body is empty")
	}
	return payload, nil
}

// readNode reads the element opened by start up to its end. It returns nil
// for an element marked xsi:nil. raw, when non-nil, receives the offsets of
// the element's content in the input.
func readNode(d *xml.Decoder, start xml.StartElement, depth int, raw *[2]int64) (*Node, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("elements nested deeper than %d", MaxDepth)
	}
	n := &Node{Space: start.Name.Space, Local: start.Name.Local}
	isNil := false
	for _, a := range start.Attr {
		if a.Name.Space == XSINS && a.Name.Local == "nil" {
			v := strings.TrimSpace(a.Value)
			isNil = v == "true" || v == "1"
		}
	}
	var text strings.Builder
	if raw != nil {
		raw[0] = d.InputOffset()
	}
	for {
		off := d.InputOffset()
		tok, err := d.Token()
		if err != nil {
			return nil, syntaxErr(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			k, err := readNode(d, t, depth+1, nil)
			if err != nil {
				return nil, err
			}
			if k != nil {
				n.Kids = append(n.Kids, k)
			}
		case xml.CharData:
			text.Write(t)
		case xml.EndElement:
			// encoding/xml's Token has already checked that t matches start.
			if raw != nil {
				raw[1] = off
			}
			if isNil {
				return nil, nil
			}
			if len(n.Kids) == 0 {
				n.Text = text.String()
			}
			return n, nil
		}
	}
}

func syntaxErr(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("malformed XML: %w", err)
}
