package simxml_test

import (
	"encoding/xml"
	"strings"
	"testing"

	"github.com/posd/posd/internal/simctl/simxml"
	"github.com/stretchr/testify/require"
)

type node struct {
	name xml.Name
	attr []xml.Attr
	text string
	kids []*node
}

func parse(doc string) (*node, error) {
	return simxml.Parse([]byte(doc), simxml.Builder[*node]{
		Start: func(parent *node, root bool, e xml.StartElement) *node {
			n := &node{name: e.Name, attr: e.Attr}
			if root {
				if parent != nil {
					panic("root element given a parent")
				}
			} else {
				parent.kids = append(parent.kids, n)
			}
			return n
		},
		Text: func(n *node, data []byte) { n.text += string(data) },
	})
}

func nested(depth int) string {
	return strings.Repeat("<a>", depth) + strings.Repeat("</a>", depth)
}

func TestParseBuildsTreeWithExpandedNames(t *testing.T) {
	doc := `<?xml version="1.0" encoding="UTF-8"?>` +
		`<s:Envelope xmlns:s="urn:env"><s:Body><op xmlns="urn:ops"><x xmlns="">1<!-- c -->2</x><p:y xmlns:p="urn:p">&amp;&lt;</p:y></op></s:Body></s:Envelope>`
	root, err := parse(doc)
	require.NoError(t, err)
	require.Equal(t, xml.Name{Space: "urn:env", Local: "Envelope"}, root.name)
	require.Len(t, root.kids, 1)
	body := root.kids[0]
	require.Equal(t, xml.Name{Space: "urn:env", Local: "Body"}, body.name)
	op := body.kids[0]
	require.Equal(t, xml.Name{Space: "urn:ops", Local: "op"}, op.name)
	require.Len(t, op.kids, 2)
	require.Equal(t, xml.Name{Space: "", Local: "x"}, op.kids[0].name, "xmlns=\"\" undeclares the default namespace")
	require.Equal(t, "12", op.kids[0].text, "character data around a comment is joined")
	require.Equal(t, xml.Name{Space: "urn:p", Local: "y"}, op.kids[1].name)
	require.Equal(t, "&<", op.kids[1].text)
}

func TestParseKeepsAttributesForTheBuilder(t *testing.T) {
	root, err := parse(`<r xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><k xsi:nil="true"/></r>`)
	require.NoError(t, err)
	require.Equal(t, []xml.Attr{{Name: xml.Name{Space: "http://www.w3.org/2001/XMLSchema-instance", Local: "nil"}, Value: "true"}}, root.kids[0].attr)
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct{ name, doc, err string }{
		{"DOCTYPE", `<!DOCTYPE r [<!ENTITY a "aaaa">]><r>&a;</r>`, "DOCTYPE is not allowed"},
		{"too deep", nested(simxml.MaxDepth + 1), "elements nested too deeply"},
		{"too many elements", "<r>" + strings.Repeat("<a/>", simxml.MaxElements) + "</r>", "too many elements"},
		{"two roots", `<a/><b/>`, "more than one root element"},
		{"text outside the root", `<a/>junk`, "text outside the root element"},
		{"latin-1", `<?xml version="1.0" encoding="ISO-8859-1"?><r/>`, `unsupported encoding "ISO-8859-1"`},
		{"no root", `<?xml version="1.0"?>  `, "no root element"},
		{"unclosed", `<a><b></b>`, "unexpected EOF"},
		{"mismatched", `<a></b>`, "element <a> closed by </b>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(tc.doc)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.err)
		})
	}
	_, err := parse(" ")
	require.ErrorIs(t, err, simxml.ErrNoRoot)
}

func TestParseAcceptsUpToTheLimits(t *testing.T) {
	_, err := parse(nested(simxml.MaxDepth))
	require.NoError(t, err)
	_, err = parse("<r>" + strings.Repeat("<a/>", simxml.MaxElements-1) + "</r>")
	require.NoError(t, err)
	for _, enc := range []string{"utf-8", "UTF8", "us-ascii", "ASCII"} {
		_, err := parse(`<?xml version="1.0" encoding="` + enc + `"?><r/>`)
		require.NoError(t, err, enc)
	}
}

func TestWriterEscapes(t *testing.T) {
	in := "a&b<c>d\"e\rf\tg\x01h\xffi\uFFFEj åäö"
	var cxf simxml.Writer
	cxf.Text("v", in)
	require.Equal(t, "<v>a&amp;b&lt;c&gt;d\"e&#xD;f\tg\uFFFDh\uFFFDi\uFFFDj åäö</v>", string(cxf.Bytes()))

	jaxws := simxml.Writer{EscapeQuotes: true}
	jaxws.Text("v", in)
	require.Equal(t, "<v>a&amp;b&lt;c&gt;d&quot;e&#xD;f\tg\uFFFDh\uFFFDi\uFFFDj åäö</v>", string(jaxws.Bytes()))
}

func TestWriterElements(t *testing.T) {
	var w simxml.Writer
	w.Grow(64)
	w.Raw(`<ns2:r xmlns:ns2="urn:x">`)
	w.Open("a")
	w.Text("empty", "")
	w.Int("n", -42)
	w.Close("a")
	w.RawBytes([]byte(`</ns2:r>`))
	want := `<ns2:r xmlns:ns2="urn:x"><a><empty></empty><n>-42</n></a></ns2:r>`
	require.Equal(t, want, string(w.Bytes()))
	require.Equal(t, len(want), w.Len())
}
