package soap

import (
	"encoding/xml"
	"fmt"
	"strings"
)

// Fault is a SOAP 1.1 Fault. Its text is the server's: callers that show
// anything to a person pick the fields meant for it from the detail.
type Fault struct {
	Code   string // faultcode as written, e.g. "soap:Server"
	String string // faultstring: technical text, for logs
	Actor  string // faultactor, rarely set
	// Detail is the raw XML inside <detail> (namespace declarations of
	// outer elements are not repeated in it); DetailKids the same, parsed.
	Detail     []byte
	DetailKids []*Node
}

func (f *Fault) Error() string {
	if f.Code == "" {
		return "SOAP fault: " + f.String
	}
	return fmt.Sprintf("SOAP fault %s: %s", f.Code, f.String)
}

// DetailElement returns the detail's element {space}local, or nil.
// An empty space matches any namespace.
func (f *Fault) DetailElement(space, local string) *Node {
	if f == nil {
		return nil
	}
	for _, k := range f.DetailKids {
		if k.Local == local && (space == "" || k.Space == space) {
			return k
		}
	}
	return nil
}

// CodeLocal returns the local part of faultcode ("Server" for "soap:Server").
func (f *Fault) CodeLocal() string {
	if i := strings.LastIndexByte(f.Code, ':'); i >= 0 {
		return f.Code[i+1:]
	}
	return f.Code
}

// fault reads a Fault element. SOAP 1.1 children are unqualified; the
// SOAP 1.2 Code/Value and Reason/Text are read too, for servers that mix.
func (r *reader) fault(start xml.StartElement) (*Fault, error) {
	f := &Fault{}
	for {
		tok, err := r.token()
		if err != nil {
			return nil, syntaxErr(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local == "detail" || t.Name.Local == "Detail" {
				var raw [2]int64
				n, err := r.node(t, 4, &raw)
				if err != nil {
					return nil, err
				}
				if n != nil {
					f.DetailKids = n.Kids
					if raw[0] >= 0 && raw[1] >= raw[0] && raw[1] <= int64(len(r.doc)) {
						f.Detail = append([]byte(nil), r.doc[raw[0]:raw[1]]...)
					}
				}
				continue
			}
			n, err := r.node(t, 4, nil)
			if err != nil {
				return nil, err
			}
			if n == nil {
				continue
			}
			switch n.Local {
			case "faultcode":
				f.Code = strings.TrimSpace(n.Text)
			case "faultstring":
				f.String = strings.TrimSpace(n.Text)
			case "faultactor":
				f.Actor = strings.TrimSpace(n.Text)
			case "Code":
				if f.Code == "" {
					f.Code = n.Str("Value")
				}
			case "Reason":
				if f.String == "" {
					f.String = n.Str("Text")
				}
			}
		case xml.EndElement:
			if err := r.matches(start, t); err != nil {
				return nil, err
			}
			return f, nil
		}
	}
}
