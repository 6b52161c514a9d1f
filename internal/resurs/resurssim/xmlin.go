package resurssim

import (
	"encoding/xml"
	"fmt"
	"strings"
	"time"

	"github.com/posd/posd/internal/simctl/simxml"
)

// The emulator reads SOAP requests with its own small tree walker (not the
// client's decoder), by namespace URI and local name, never by prefix.

const (
	nsSOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
	nsXSI    = "http://www.w3.org/2001/XMLSchema-instance"

	nsAfterShop  = "http://ecommerce.resurs.com/v4/msg/aftershopflow"
	nsException  = "http://ecommerce.resurs.com/v4/msg/exception"
	nsShopFlow   = "http://ecommerce.resurs.com/v4/msg/shopflow"
	nsSimplified = "http://ecommerce.resurs.com/v4/msg/simplifiedshopflow"
	nsConfig     = "http://ecommerce.resurs.com/v4/msg/configuration"
)

type node struct {
	space, local string
	nil          bool // xsi:nil="true": read as absent (spec I.4)
	text         []byte
	kids         []*node
}

// parseTree reads a whole XML document into a tree with the shared walker's
// limits, marking xsi:nil elements so the lookups read them as absent.
func parseTree(b []byte) (*node, error) {
	return simxml.Parse(b, simxml.Builder[*node]{
		Start: func(parent *node, root bool, e xml.StartElement) *node {
			n := &node{space: e.Name.Space, local: e.Name.Local}
			for _, a := range e.Attr {
				if a.Name.Space == nsXSI && a.Name.Local == "nil" {
					v := strings.TrimSpace(a.Value)
					n.nil = v == "true" || v == "1"
				}
			}
			if !root {
				parent.kids = append(parent.kids, n)
			}
			return n
		},
		Text: func(n *node, data []byte) { n.text = append(n.text, data...) },
	})
}

// child returns the last unqualified, non-nil child named name. The message
// schemas have no elementFormDefault, so children are unqualified; a
// qualified child is not the element the schema names (spec B.2, E.20).
func (n *node) child(name string) *node {
	if n == nil {
		return nil
	}
	var found *node
	for _, k := range n.kids {
		if k.space == "" && k.local == name {
			found = k
		}
	}
	if found != nil && found.nil {
		return nil
	}
	return found
}

func (n *node) children(name string) []*node {
	if n == nil {
		return nil
	}
	var out []*node
	for _, k := range n.kids {
		if k.space == "" && k.local == name && !k.nil {
			out = append(out, k)
		}
	}
	return out
}

func (n *node) str(name string) (string, bool) {
	c := n.child(name)
	if c == nil {
		return "", false
	}
	return string(c.text), true
}

func (n *node) strv(name string) string {
	s, _ := n.str(name)
	return s
}

// qualifiedKids names the first namespace-qualified child, which the real
// service would not bind (E.20).
func (n *node) qualifiedKid() string {
	for _, k := range n.kids {
		if k.space != "" {
			return "{" + k.space + "}" + k.local
		}
	}
	return ""
}

// argError is an ILLEGAL_ARGUMENT fault for a request field.
func argError(field, why string) *Fault {
	return fault(1, true, "Felaktiga uppgifter: "+field, field+": "+why)
}

func (n *node) decOpt(name string) (*dec, *Fault) {
	s, ok := n.str(name)
	if !ok {
		return nil, nil
	}
	d, err := parseDec(s)
	if err != nil {
		return nil, argError(name, fmt.Sprintf("%q is not a decimal", s))
	}
	return &d, nil
}

func (n *node) decReq(name string) (dec, *Fault) {
	d, f := n.decOpt(name)
	if f != nil {
		return 0, f
	}
	if d == nil {
		return 0, argError(name, "is required")
	}
	return *d, nil
}

func (n *node) boolOpt(name string) (*bool, *Fault) {
	s, ok := n.str(name)
	if !ok {
		return nil, nil
	}
	switch strings.TrimSpace(s) {
	case "true", "1":
		v := true
		return &v, nil
	case "false", "0":
		v := false
		return &v, nil
	}
	return nil, argError(name, fmt.Sprintf("%q is not a boolean", s))
}

func (n *node) timeOpt(name string) (*time.Time, *Fault) {
	s, ok := n.str(name)
	if !ok {
		return nil, nil
	}
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return &t, nil
		}
	}
	return nil, argError(name, fmt.Sprintf("%q is not a dateTime", s))
}

// idReq reads a common:id: minLength 1, letters, digits, space, '.', '_',
// '/', '-' (spec B.4).
func (n *node) idReq(name string) (string, *Fault) {
	s, ok := n.str(name)
	if !ok {
		return "", argError(name, "is required")
	}
	if !validID(s) {
		return "", argError(name, fmt.Sprintf("%q is not a valid id", s))
	}
	return s, nil
}

func (n *node) idOpt(name string) (string, *Fault) {
	if _, ok := n.str(name); !ok {
		return "", nil
	}
	return n.idReq(name)
}

func validID(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9', r == ' ', r == '.', r == '_', r == '/', r == '-':
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r > 127 && isLetter(r):
		default:
			return false
		}
	}
	return true
}

func isLetter(r rune) bool {
	return strings.ContainsRune("åäöÅÄÖæøÆØéèüÜ", r) || r >= 0xC0 && r <= 0x24F
}

// readSpec reads a common:paymentSpec.
func readSpec(n *node) (*spec, *Fault) {
	if n == nil {
		return nil, nil
	}
	sp := &spec{}
	var f *Fault
	if sp.total, f = n.decReq("totalAmount"); f != nil {
		return nil, f
	}
	if sp.total < 0 {
		return nil, argError("totalAmount", "must not be negative")
	}
	if sp.totalVat, f = n.decOpt("totalVatAmount"); f != nil {
		return nil, f
	}
	for i, ln := range n.children("specLines") {
		var l specLine
		field := fmt.Sprintf("specLines[%d].", i)
		l.id, _ = ln.str("id")
		l.artNo, _ = ln.str("artNo")
		l.description, _ = ln.str("description")
		l.unitMeasure, _ = ln.str("unitMeasure")
		for _, x := range []struct {
			name string
			dst  *dec
		}{{"quantity", &l.quantity}, {"unitAmountWithoutVat", &l.unitAmount}, {"vatPct", &l.vatPct}, {"totalVatAmount", &l.totalVat}, {"totalAmount", &l.total}} {
			d, f := ln.decReq(x.name)
			if f != nil {
				f.Technical = field + f.Technical
				return nil, f
			}
			*x.dst = d
		}
		if l.vatPct < 0 || l.vatPct > decInt(100) {
			return nil, argError(field+"vatPct", "must be between 0 and 100")
		}
		sp.lines = append(sp.lines, l)
	}
	return sp, checkRounding(sp)
}

// checkRounding applies B.7: Resurs recomputes each line's net price from
// its total and accepts differences up to 0.05, per line and for the spec
// totals; bigger differences fault with ILLEGAL_ARGUMENT ([I]).
func checkRounding(sp *spec) *Fault {
	if len(sp.lines) == 0 {
		if sp.totalVat != nil && *sp.totalVat != 0 {
			return argError("totalVatAmount", "not allowed without specLines")
		}
		return nil
	}
	var sumTotal, sumVat dec
	for i, l := range sp.lines {
		if l.quantity != 0 {
			onePlus := decInt(1) + div(l.vatPct, decInt(100))
			net := div(l.total, mul(onePlus, l.quantity))
			if absDec(net-l.unitAmount) > tolerance {
				return argError(fmt.Sprintf("specLines[%d].totalAmount", i),
					fmt.Sprintf("%s does not match %s x %s at %s %% (net %s)", l.total, l.quantity, l.unitAmount, l.vatPct, net))
			}
			vat := div(mul(mul(net, l.quantity), l.vatPct), decInt(100))
			if absDec(vat-l.totalVat) > tolerance {
				return argError(fmt.Sprintf("specLines[%d].totalVatAmount", i), fmt.Sprintf("%s, expected %s", l.totalVat, vat))
			}
		}
		sumTotal += l.total
		sumVat += l.totalVat
	}
	if absDec(sumTotal-sp.total) > tolerance {
		return argError("totalAmount", fmt.Sprintf("%s differs from the sum of the lines %s", sp.total, sumTotal))
	}
	if sp.totalVat == nil {
		return argError("totalVatAmount", "is required with specLines")
	}
	if absDec(sumVat-*sp.totalVat) > tolerance {
		return argError("totalVatAmount", fmt.Sprintf("%s differs from the sum of the lines %s", *sp.totalVat, sumVat))
	}
	return nil
}
