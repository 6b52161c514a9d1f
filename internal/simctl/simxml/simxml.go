// Package simxml is the XML reading and writing the SOAP emulators (seqrsim,
// resurssim) share: a small request tree walker with the limits an emulator
// facing arbitrary input needs, and a byte writer for hand-shaped responses.
//
// The emulators read SOAP with this walker on purpose instead of the client's
// decoder in internal/soap: the two sides stay independent, so a misreading
// of a provider's spec on one side shows up as a failing client-against-
// emulator test instead of cancelling out. This package must therefore never
// import internal/soap.
//
// What differs between the emulators (Resurs's xsi:nil, the SEQR SOAP 1.2
// check, each provider's number and money readers, the envelope and fault
// shapes) stays in the emulator's own package; simxml only walks tokens and
// appends bytes.
package simxml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The limits keep a hostile or broken request from making the emulator build
// an unbounded tree; real requests are a few dozen elements deep at most.
const (
	MaxDepth    = 64
	MaxElements = 20000
)

// ErrNoRoot is a document without any element.
var ErrNoRoot = errors.New("no root element")

// Builder makes the caller's nodes, so each emulator keeps its own node type
// (and whatever it reads from attributes) while the walker owns the limits.
type Builder[N any] struct {
	// Start makes the node for e and attaches it to parent; for the root
	// element root is true and parent is the zero N.
	Start func(parent N, root bool, e xml.StartElement) N
	// Text adds character data to n. data is only valid during the call.
	Text func(n N, data []byte)
}

// Parse reads a whole XML document into a tree built by b and returns its
// root. It refuses DOCTYPE declarations (no entity expansion tricks),
// encodings other than UTF-8 and ASCII, more than one root, text outside the
// root, and documents deeper than MaxDepth or larger than MaxElements.
func Parse[N any](doc []byte, b Builder[N]) (N, error) {
	var zero N
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	d.CharsetReader = func(label string, in io.Reader) (io.Reader, error) {
		switch strings.ToLower(label) {
		case "utf-8", "utf8", "us-ascii", "ascii":
			return in, nil
		}
		return nil, fmt.Errorf("unsupported encoding %q", label)
	}
	var (
		root    N
		hasRoot bool
		stack   []N
		count   int
	)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return zero, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			count++
			if count > MaxElements {
				return zero, errors.New("too many elements")
			}
			if len(stack) >= MaxDepth {
				return zero, errors.New("elements nested too deeply")
			}
			var n N
			if len(stack) == 0 {
				if hasRoot {
					return zero, errors.New("more than one root element")
				}
				n = b.Start(zero, true, t)
				root, hasRoot = n, true
			} else {
				n = b.Start(stack[len(stack)-1], false, t)
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				b.Text(stack[len(stack)-1], t)
			} else if len(bytes.TrimSpace(t)) > 0 {
				return zero, errors.New("text outside the root element")
			}
		case xml.Directive:
			return zero, errors.New("DOCTYPE is not allowed")
		}
	}
	if !hasRoot {
		return zero, ErrNoRoot
	}
	if len(stack) != 0 {
		return zero, io.ErrUnexpectedEOF
	}
	return root, nil
}
