package seqrsim

import (
	"encoding/xml"
	"strconv"
	"strings"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/simctl/simxml"
)

// The emulator reads requests with its own token walker instead of the
// client's decoder, so that a misreading of the spec on one side shows up as
// a failing client-against-emulator test rather than cancelling out.

const (
	nsSOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
	nsSOAP12 = "http://www.w3.org/2003/05/soap-envelope"
	// nsExt is the target namespace of every operation wrapper (spec 1.2).
	nsExt = "http://external.interfaces.ers.seamless.com/"
)

// node is one element of a parsed request: its expanded name, its direct
// character data and its child elements.
type node struct {
	space, local string
	text         []byte
	kids         []*node
}

// parseTree reads a whole XML document into a tree, with the shared
// walker's limits (no DOCTYPE, one root, bounded depth and size).
func parseTree(b []byte) (*node, error) {
	return simxml.Parse(b, simxml.Builder[*node]{
		Start: func(parent *node, root bool, e xml.StartElement) *node {
			n := &node{space: e.Name.Space, local: e.Name.Local}
			if !root {
				parent.kids = append(parent.kids, n)
			}
			return n
		},
		Text: func(n *node, data []byte) { n.text = append(n.text, data...) },
	})
}

// child returns the last unqualified child named name (JAXB: a repeated
// single-valued element overwrites the earlier one). Qualified children are
// invisible, as they are to the real server (spec 1.3). Nil-safe.
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
	return found
}

// children returns every unqualified child named name, in order.
func (n *node) children(name string) []*node {
	if n == nil {
		return nil
	}
	var out []*node
	for _, k := range n.kids {
		if k.space == "" && k.local == name {
			out = append(out, k)
		}
	}
	return out
}

// str is an optional xs:string: nil when the element is absent.
func (n *node) str(name string) *string {
	c := n.child(name)
	if c == nil {
		return nil
	}
	s := string(c.text)
	return &s
}

// strv is str with absent read as "".
func (n *node) strv(name string) string {
	if s := n.str(name); s != nil {
		return *s
	}
	return ""
}

// long reads an xs:long/xs:int leniently: absent or unparsable is nil (spec 1.5).
func (n *node) long(name string) *int64 {
	c := n.child(name)
	if c == nil {
		return nil
	}
	s := strings.TrimSpace(string(c.text))
	s = strings.TrimPrefix(s, "+")
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil
	}
	return &v
}

// enum reads an enumeration: a literal valid refuses becomes nil (spec 1.5).
func (n *node) enum(name string, valid func(string) bool) *string {
	c := n.child(name)
	if c == nil {
		return nil
	}
	s := strings.TrimSpace(string(c.text))
	if !valid(s) {
		return nil
	}
	return &s
}

// decimal reads an xs:decimal and returns it in canonical form (as Java's
// BigDecimal.toString would echo it: no leading '+', no superfluous leading
// zeros, scale kept). Unparsable is nil.
func (n *node) decimal(name string) *string {
	c := n.child(name)
	if c == nil {
		return nil
	}
	s, ok := canonicalDecimal(strings.TrimSpace(string(c.text)))
	if !ok {
		return nil
	}
	return &s
}

func canonicalDecimal(s string) (string, bool) {
	neg := false
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" && frac == "" {
		return "", false
	}
	for _, p := range []string{intPart, frac} {
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return "", false
			}
		}
	}
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	out := intPart
	if hasDot && frac != "" {
		out += "." + frac
	}
	if neg && strings.Trim(out, "0.") != "" {
		out = "-" + out
	}
	return out, true
}

// amountIn is a parsed `amount`: currency and value as sent (value canonical).
type amountIn struct {
	Currency *string
	Value    *string
}

func (n *node) amount(name string) *amountIn {
	c := n.child(name)
	if c == nil {
		return nil
	}
	return &amountIn{Currency: c.str("currency"), Value: c.decimal("value")}
}

// minor returns the amount in minor units if it is exact to the öre.
func (a *amountIn) minor() (money.Amount, bool) {
	if a == nil || a.Value == nil {
		return 0, false
	}
	v, err := money.Parse(*a.Value)
	if err != nil {
		return 0, false
	}
	return v, true
}

func (a *amountIn) currency() string {
	if a == nil || a.Currency == nil {
		return ""
	}
	return *a.Currency
}

// dateTime reads an xs:dateTime and keeps its lexical form (JAXB's
// XMLGregorianCalendar echoes what it parsed). Unparsable is nil.
func (n *node) dateTime(name string) *string {
	c := n.child(name)
	if c == nil {
		return nil
	}
	s := strings.TrimSpace(string(c.text))
	if !isDateTime(s) {
		return nil
	}
	return &s
}

// isDateTime checks the xs:dateTime lexical space:
// [-]YYYY-MM-DDThh:mm:ss[.f+][Z|(+|-)hh:mm].
func isDateTime(s string) bool {
	s = strings.TrimPrefix(s, "-")
	digits := func(p string) bool {
		if p == "" {
			return false
		}
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return false
			}
		}
		return true
	}
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return false
	}
	if !digits(s[0:4]) || !digits(s[5:7]) || !digits(s[8:10]) || !digits(s[11:13]) || !digits(s[14:16]) || !digits(s[17:19]) {
		return false
	}
	mo, _ := strconv.Atoi(s[5:7])
	dd, _ := strconv.Atoi(s[8:10])
	hh, _ := strconv.Atoi(s[11:13])
	mi, _ := strconv.Atoi(s[14:16])
	ss, _ := strconv.Atoi(s[17:19])
	if mo < 1 || mo > 12 || dd < 1 || dd > 31 || hh > 24 || mi > 59 || ss > 60 {
		return false
	}
	rest := s[19:]
	if strings.HasPrefix(rest, ".") {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 1 {
			return false
		}
		rest = rest[i:]
	}
	switch {
	case rest == "" || rest == "Z":
		return true
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		return digits(rest[1:3]) && digits(rest[4:6])
	}
	return false
}
