package resurssim_test

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/posd/posd/internal/resurs/resurssim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// xnode is a generic XML element with its in-scope prefix declarations.
type xnode struct {
	name  xml.Name
	attrs map[string]string
	ns    map[string]string // prefix -> URI ("" is the default namespace)
	kids  []*xnode
}

func parseX(t *testing.T, b []byte) *xnode {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(string(b)))
	var stack []*xnode
	var root *xnode
	for {
		tok, err := d.RawToken()
		if err != nil {
			break
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			n := &xnode{attrs: map[string]string{}, ns: map[string]string{}}
			if len(stack) > 0 {
				for k, v := range stack[len(stack)-1].ns {
					n.ns[k] = v
				}
			}
			for _, a := range tk.Attr {
				switch {
				case a.Name.Space == "xmlns":
					n.ns[a.Name.Local] = a.Value
				case a.Name.Space == "" && a.Name.Local == "xmlns":
					n.ns[""] = a.Value
				default:
					n.attrs[a.Name.Local] = a.Value
				}
			}
			n.name = xml.Name{Space: n.ns[tk.Name.Space], Local: tk.Name.Local}
			if len(stack) == 0 {
				root = n
			} else {
				p := stack[len(stack)-1]
				p.kids = append(p.kids, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	require.NotNil(t, root)
	return root
}

// qname expands "prefix:local" with n's declarations.
func (n *xnode) qname(v string) string {
	p, l, ok := strings.Cut(v, ":")
	if !ok {
		return "{" + n.ns[""] + "}" + v
	}
	return "{" + n.ns[p] + "}" + l
}

func (n *xnode) all(local string) []*xnode {
	var out []*xnode
	var walk func(*xnode)
	walk = func(x *xnode) {
		if x.name.Local == local {
			out = append(out, x)
		}
		for _, k := range x.kids {
			walk(k)
		}
	}
	walk(n)
	return out
}

func (n *xnode) kid(local string) *xnode {
	for _, k := range n.kids {
		if k.name.Local == local {
			return k
		}
	}
	return nil
}

type structElem struct {
	Name      string `json:"name"`
	Type      string `json:"type"`
	MinOccurs int    `json:"minOccurs"`
	MaxOccurs string `json:"maxOccurs"`
	Nillable  bool   `json:"nillable"`
}

type structure struct {
	Prefixes map[string]string `json:"prefixes"`
	WSDL     struct {
		TargetNamespace, Service, Port, Binding, PortType, Style string
		SoapAction                                               string   `json:"soapAction"`
		Operations                                               []string `json:"operations"`
		Imports                                                  []string `json:"imports"`
	} `json:"wsdl"`
	Schemas map[string]struct {
		TargetNamespace string                  `json:"targetNamespace"`
		Imports         []string                `json:"imports"`
		Elements        map[string]string       `json:"elements"`
		ComplexTypes    map[string][]structElem `json:"complexTypes"`
		SimpleTypes     map[string]struct {
			Base        string   `json:"base"`
			Enumeration []string `json:"enumeration"`
		} `json:"simpleTypes"`
	} `json:"schemas"`
}

func (s *structure) expand(v string) string {
	p, l, _ := strings.Cut(v, ":")
	return "{" + s.Prefixes[p] + "}" + l
}

// TestDocumentsMatchResurs compares the served WSDL and XSDs, element by
// element, with testdata/aftershop-structure.json, a hand-made transcript
// of Resurs's real documents: names, order, types, minOccurs, maxOccurs,
// nillable, enumerations, imports and schemaLocations on our own base.
func TestDocumentsMatchResurs(t *testing.T) {
	raw, err := os.ReadFile("testdata/aftershop-structure.json")
	require.NoError(t, err)
	var want structure
	require.NoError(t, json.Unmarshal(raw, &want))
	e := newEnv(t)
	get := func(q string) *xnode {
		r := e.do(http.MethodGet, resurssim.PathAfterShop+"?"+q, "", "", resurssim.TestUser, resurssim.TestPassword)
		require.Equal(t, http.StatusOK, r.status, q)
		return parseX(t, []byte(r.body))
	}
	base := e.srv.URL + resurssim.PathAfterShop

	w := get("wsdl")
	assert.Equal(t, want.WSDL.TargetNamespace, w.attrs["targetNamespace"])
	var imports []string
	for _, imp := range w.all("import") {
		loc, ok := strings.CutPrefix(imp.attrs["schemaLocation"], base+"?xsd=")
		assert.True(t, ok, "schemaLocation on our base: %s", imp.attrs["schemaLocation"])
		imports = append(imports, loc)
	}
	assert.Equal(t, want.WSDL.Imports, imports)
	pt := w.kid("portType")
	require.NotNil(t, pt)
	assert.Equal(t, want.WSDL.PortType, pt.attrs["name"])
	var ops []string
	for _, op := range pt.kids {
		ops = append(ops, op.attrs["name"])
		assert.Equal(t, "{"+want.WSDL.TargetNamespace+"}"+op.attrs["name"], op.qname(op.kid("input").attrs["message"]))
	}
	assert.ElementsMatch(t, want.WSDL.Operations, ops)
	assert.Len(t, ops, 13)
	b := w.kid("binding")
	assert.Equal(t, want.WSDL.Binding, b.attrs["name"])
	assert.Equal(t, want.WSDL.Style, b.kid("binding").attrs["style"])
	for _, op := range b.all("operation") {
		if a, ok := op.attrs["soapAction"]; ok {
			assert.Equal(t, want.WSDL.SoapAction, a)
		}
	}
	svc := w.kid("service")
	assert.Equal(t, want.WSDL.Service, svc.attrs["name"])
	assert.Equal(t, want.WSDL.Port, svc.kid("port").attrs["name"])
	assert.Equal(t, base, svc.kid("port").kid("address").attrs["location"])
	for _, m := range w.all("message") {
		part := m.kid("part")
		wantElem := want.expand("msg:" + m.attrs["name"])
		if m.attrs["name"] == "ECommerceErrorException" {
			wantElem = want.expand("exc:ECommerceError")
		}
		assert.Equal(t, wantElem, part.qname(part.attrs["element"]), m.attrs["name"])
	}

	for file, ws := range want.Schemas {
		t.Run(file, func(t *testing.T) {
			x := get("xsd=" + file)
			assert.Equal(t, ws.TargetNamespace, x.attrs["targetNamespace"])
			var imps []string
			for _, imp := range x.all("import") {
				loc, ok := strings.CutPrefix(imp.attrs["schemaLocation"], base+"?xsd=")
				assert.True(t, ok, imp.attrs["schemaLocation"])
				imps = append(imps, loc)
			}
			if len(ws.Imports) == 0 {
				assert.Empty(t, imps)
			} else {
				assert.Equal(t, ws.Imports, imps)
			}
			gotElems := map[string]string{}
			gotCT := map[string][]structElem{}
			gotST := map[string][2]string{}
			for _, k := range x.kids {
				switch k.name.Local {
				case "element":
					gotElems[k.attrs["name"]] = k.qname(k.attrs["type"])
				case "complexType":
					var seq []structElem
					if s := k.kid("sequence"); s != nil {
						for _, el := range s.kids {
							se := structElem{Name: el.attrs["name"], Type: el.qname(el.attrs["type"]), MinOccurs: 1, MaxOccurs: "1", Nillable: el.attrs["nillable"] == "true"}
							if v, ok := el.attrs["minOccurs"]; ok {
								se.MinOccurs, _ = strconv.Atoi(v)
							}
							if v, ok := el.attrs["maxOccurs"]; ok {
								se.MaxOccurs = v
							}
							seq = append(seq, se)
						}
					}
					gotCT[k.attrs["name"]] = seq
				case "simpleType":
					r := k.kid("restriction")
					var enums []string
					for _, en := range r.all("enumeration") {
						enums = append(enums, en.attrs["value"])
					}
					gotST[k.attrs["name"]] = [2]string{r.qname(r.attrs["base"]), strings.Join(enums, ",")}
				}
			}
			wantElems := map[string]string{}
			for n, typ := range ws.Elements {
				wantElems[n] = want.expand(typ)
			}
			assert.Equal(t, wantElems, gotElems)
			require.Len(t, gotCT, len(ws.ComplexTypes))
			for name, seq := range ws.ComplexTypes {
				got, ok := gotCT[name]
				if !assert.True(t, ok, "complexType %s", name) {
					continue
				}
				exp := make([]structElem, len(seq))
				for i, se := range seq {
					se.Type = want.expand(se.Type)
					exp[i] = se
				}
				if len(exp) == 0 {
					assert.Empty(t, got, name)
				} else {
					assert.Equal(t, exp, got, name)
				}
			}
			require.Len(t, gotST, len(ws.SimpleTypes))
			for name, st := range ws.SimpleTypes {
				assert.Equal(t, [2]string{want.expand(st.Base), strings.Join(st.Enumeration, ",")}, gotST[name], name)
			}
		})
	}
	r := e.do(http.MethodGet, resurssim.PathAfterShop+"?xsd=schemas/other.xsd", "", "", resurssim.TestUser, resurssim.TestPassword)
	assert.Equal(t, http.StatusNotFound, r.status)
}
