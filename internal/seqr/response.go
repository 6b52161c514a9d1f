package seqr

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/posd/posd/internal/money"
)

// Responses are read by local name only (spec 1.4): prefixes differ between
// SOAP stacks (soap/S, ns2/ns1), fields may come in any order and unknown
// elements are ignored. The operation's element is read into a small tree and
// fields are picked from it. The decoder's RawToken is used (no namespace
// bookkeeping, which we never need and which costs most of the allocations);
// start and end tags are matched here instead.

// maxDepth bounds nesting so a hostile body cannot exhaust the stack.
const maxDepth = 64

type node struct {
	name string // local name
	text string // character data (CDATA included), for leaf elements
	kids []*node
}

// child returns the first child element with the given local name, or nil.
func (n *node) child(name string) *node {
	if n == nil {
		return nil
	}
	for _, k := range n.kids {
		if k.name == name {
			return k
		}
	}
	return nil
}

// str returns the trimmed text of the named child, "" when absent.
func (n *node) str(name string) string {
	k := n.child(name)
	if k == nil {
		return ""
	}
	return strings.TrimSpace(k.text)
}

// parseEnvelope returns the first element inside the SOAP Body. A malformed or
// truncated document is an error; a Fault is returned as a node like any other.
func parseEnvelope(body []byte) (*node, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	root, err := firstStart(d)
	if err != nil {
		return nil, err
	}
	if root.Name.Local != "Envelope" {
		return nil, fmt.Errorf("root element is <%s>, not a SOAP Envelope", root.Name.Local)
	}
	var payload *node
	seenBody := false
	for done := false; !done; {
		tok, err := d.RawToken()
		if err != nil {
			return nil, syntaxErr(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local != "Body" || seenBody {
				if _, err := readNode(d, t, 2); err != nil { // a Header, or a second Body
					return nil, err
				}
				continue
			}
			seenBody = true
			if payload, err = readBody(d); err != nil {
				return nil, err
			}
		case xml.EndElement:
			if t.Name != root.Name {
				return nil, fmt.Errorf("malformed XML: <%s> closed by </%s>", qname(root.Name), qname(t.Name))
			}
			done = true
		}
	}
	// Read to the end so that a body cut off after </Envelope> is still well formed
	// and trailing garbage is noticed.
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, syntaxErr(err)
		}
		if _, ok := tok.(xml.StartElement); ok {
			return nil, errors.New("content after the SOAP Envelope")
		}
	}
	if !seenBody {
		return nil, errors.New("SOAP Envelope has no Body")
	}
	if payload == nil {
		return nil, errors.New("SOAP Body is empty")
	}
	return payload, nil
}

// firstStart returns the root element, skipping the prolog.
func firstStart(d *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := d.RawToken()
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

// readBody reads the Body's children up to </Body> and keeps the first element.
func readBody(d *xml.Decoder) (*node, error) {
	var payload *node
	for {
		tok, err := d.RawToken()
		if err != nil {
			return nil, syntaxErr(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n, err := readNode(d, t, 3)
			if err != nil {
				return nil, err
			}
			if payload == nil {
				payload = n
			}
		case xml.EndElement:
			if t.Name.Local != "Body" {
				return nil, fmt.Errorf("malformed XML: Body closed by </%s>", qname(t.Name))
			}
			return payload, nil
		}
	}
}

func readNode(d *xml.Decoder, start xml.StartElement, depth int) (*node, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("elements nested deeper than %d", maxDepth)
	}
	n := &node{name: start.Name.Local}
	for {
		tok, err := d.RawToken()
		if err != nil {
			return nil, syntaxErr(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			k, err := readNode(d, t, depth+1)
			if err != nil {
				return nil, err
			}
			n.kids = append(n.kids, k)
			n.text = ""
		case xml.CharData:
			if len(n.kids) == 0 {
				n.text += string(t)
			}
		case xml.EndElement:
			if t.Name != start.Name {
				return nil, fmt.Errorf("malformed XML: <%s> closed by </%s>", qname(start.Name), qname(t.Name))
			}
			return n, nil
		}
	}
}

// qname renders a raw name as written, prefix included.
func qname(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

func syntaxErr(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("malformed XML: %w", err)
}

// faultOf turns a Fault element into a *FaultError. SOAP 1.1 puts faultcode
// and faultstring under it; a SOAP 1.2 Code/Value and Reason/Text are read too.
func faultOf(op string, f *node) *FaultError {
	code := f.str("faultcode")
	if code == "" {
		code = f.child("Code").str("Value")
	}
	msg := f.str("faultstring")
	if msg == "" {
		msg = f.child("Reason").str("Text")
	}
	// A server may echo the request in its fault text; never let a password through.
	return &FaultError{Op: op, Code: code, String: string(Redact([]byte(msg)))}
}

// parseResponse checks the envelope of op's response and returns its <return>
// and resultCode. A non-zero resultCode is returned as a *ResultError, with the
// return node still set so that callers may look at it.
func parseResponse(op string, body []byte) (*node, int, error) {
	payload, err := parseEnvelope(body)
	if err != nil {
		return nil, 0, err
	}
	if payload.name == "Fault" {
		return nil, 0, faultOf(op, payload)
	}
	if payload.name != op+"Response" {
		return nil, 0, fmt.Errorf("unexpected response element <%s>, want <%sResponse>", payload.name, op)
	}
	ret := payload.child("return")
	if ret == nil {
		return nil, 0, fmt.Errorf("<%sResponse> has no <return>", op)
	}
	rc := ret.child("resultCode")
	if rc == nil {
		return nil, 0, errors.New("response has no resultCode")
	}
	code, err := strconv.Atoi(strings.TrimSpace(rc.text))
	if err != nil {
		return nil, 0, fmt.Errorf("resultCode %q is not an integer", strings.TrimSpace(rc.text))
	}
	if code != ResultSuccess {
		return ret, code, &ResultError{Op: op, Code: code, Description: ret.str("resultDescription")}
	}
	return ret, code, nil
}

func intField(n *node, field string) (int, error) {
	s := n.str(field)
	if s == "" {
		return 0, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not an integer", field, s)
	}
	return v, nil
}

// paymentStatusOf reads an erswsPaymentStatusResponse.
func paymentStatusOf(ret *node) (PaymentStatus, error) {
	version, err := intField(ret, "version")
	if err != nil {
		return PaymentStatus{}, err
	}
	ps := PaymentStatus{
		Status:       Status(ret.str("status")),
		Version:      version,
		ERSReference: ret.str("ersReference"),
	}
	if r := ret.child("receipt"); r != nil {
		rec := &Receipt{
			TerminalID:       r.str("terminalId"),
			PaymentDate:      r.str("paymentDate"),
			ClientInvoiceID:  r.str("clientInvoiceId"),
			InvoiceReference: r.str("invoiceReference"),
			PaymentReference: r.str("paymentReference"),
			PayerTerminalID:  r.str("payerTerminalId"),
			ReceiverName:     r.str("receiverName"),
		}
		if total := r.child("invoice").child("totalAmount"); total != nil {
			rec.Currency = total.str("currency")
			if v := total.str("value"); v != "" {
				if rec.Total, err = money.Parse(v); err != nil {
					return PaymentStatus{}, fmt.Errorf("receipt.invoice.totalAmount.value: %w", err)
				}
			}
		}
		ps.Receipt = rec
		if ps.ERSReference == "" {
			// Spec 4.3: the top-level ersReference equals receipt.paymentReference.
			ps.ERSReference = rec.PaymentReference
		}
	}
	if ct := ret.child("customerTokens"); ct != nil {
		for i, t := range ct.kids {
			if t.name != "token" {
				continue
			}
			st, err := intField(t, "status")
			if err != nil {
				return PaymentStatus{}, fmt.Errorf("customerTokens token %d: %w", i+1, err)
			}
			ps.Tokens = append(ps.Tokens, CustomerToken{
				Description: t.str("description"),
				ID:          t.str("id"),
				Status:      st,
				Value:       t.str("value"),
			})
		}
	}
	return ps, nil
}

// reportOf reads the report of an erswsExecuteReportResponse. contentString is
// kept byte for byte (CDATA and escaped text decode to the same string).
func reportOf(ret *node) (Report, error) {
	r := ret.child("report")
	if r == nil {
		return Report{}, errors.New("response has no report")
	}
	rep := Report{
		Title:    r.str("title"),
		MimeType: r.str("mimeType"),
	}
	if k := r.child("contentString"); k != nil {
		rep.ContentString = k.text
	}
	if s := r.str("content"); s != "" {
		// xs:base64Binary may be wrapped over several lines.
		s = strings.Map(func(r rune) rune {
			if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
				return -1
			}
			return r
		}, s)
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return Report{}, fmt.Errorf("report.content is not base64: %w", err)
		}
		rep.Content = b
	}
	return rep, nil
}
