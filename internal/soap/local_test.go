package soap

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A CXF answer with a SOAP 1.2 envelope namespace and an odd prefix: read by
// local name it is understood, by namespace it is not a SOAP 1.1 envelope.
const localDoc = `<S:Envelope xmlns:S="http://www.w3.org/2003/05/soap-envelope"><S:Header><t xmlns="urn:x">1</t></S:Header><S:Body>` +
	`<ns1:opResponse xmlns:ns1="urn:op"><return><a> x </a><gone xsi:nil="true" xmlns:xsi="` + XSINS + `"/><b><c>1</c></b></return></ns1:opResponse>` +
	`<second/></S:Body></S:Envelope>`

func TestBodyLocalReadsByLocalNameWhateverTheNamespace(t *testing.T) {
	n, err := BodyLocal([]byte(localDoc))
	require.NoError(t, err)
	assert.Equal(t, "opResponse", n.Local)
	assert.Empty(t, n.Space, "local reading keeps no namespaces")
	ret := n.Child("return")
	assert.Equal(t, "x", ret.Str("a"))
	assert.Nil(t, ret.Child("gone"), "xsi:nil reads as absent")
	assert.Equal(t, "1", ret.Child("b").Str("c"))

	_, err = Body([]byte(localDoc))
	require.ErrorContains(t, err, "not a SOAP Envelope")
}

func TestBodyLocalFaultByLocalName(t *testing.T) {
	doc := `<a:Envelope xmlns:a="x"><a:Body><a:Fault><faultcode>a:Client</faultcode><faultstring> bad </faultstring>` +
		`<detail><e:Err xmlns:e="urn:e"><code>7</code></e:Err></detail></a:Fault></a:Body></a:Envelope>`
	_, err := BodyLocal([]byte(doc))
	var f *Fault
	require.ErrorAs(t, err, &f)
	assert.Equal(t, "a:Client", f.Code)
	assert.Equal(t, "bad", f.String)
	assert.Equal(t, "7", f.DetailElement("", "Err").Str("code"))
	assert.Equal(t, `<e:Err xmlns:e="urn:e"><code>7</code></e:Err>`, string(f.Detail))
}

func TestBodyLocalRefusesMalformed(t *testing.T) {
	for name, tc := range map[string]struct{ doc, want string }{
		"empty":            {"", "empty document"},
		"text before root": {"hi <a:Envelope/>", "text before the root element"},
		"not an envelope":  {"<html/>", "not a SOAP Envelope"},
		"mismatched tags":  {`<a:Envelope xmlns:a="x"><a:Body><p></q></a:Body></a:Envelope>`, "<p> closed by </q>"},
		"body closed":      {`<a:Envelope xmlns:a="x"><a:Body><p/></a:Envelope>`, "malformed XML"},
		"no body":          {`<a:Envelope xmlns:a="x"><a:Header/></a:Envelope>`, "no Body"},
		"empty body":       {`<a:Envelope xmlns:a="x"><a:Body> </a:Body></a:Envelope>`, "Body is empty"},
		"content after":    {`<a:Envelope xmlns:a="x"><a:Body><p/></a:Body></a:Envelope><p/>`, "content after the SOAP Envelope"},
		"text after":       {`<a:Envelope xmlns:a="x"><a:Body><p/></a:Body></a:Envelope>junk`, "text after the SOAP Envelope"},
		"truncated":        {`<a:Envelope xmlns:a="x"><a:Body><p/></a:Body>`, "malformed XML"},
		"too deep":         {`<a:Envelope xmlns:a="x"><a:Body>` + strings.Repeat("<p>", MaxDepth) + strings.Repeat("</p>", MaxDepth) + `</a:Body></a:Envelope>`, "nested deeper"},
	} {
		t.Run(name, func(t *testing.T) {
			n, err := BodyLocal([]byte(tc.doc))
			assert.Nil(t, n)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestDocumentReadsAnyRoot(t *testing.T) {
	n, err := Document([]byte(`<?xml version="1.0"?><r:Report xmlns:r="urn:r"><Row><A>1</A></Row><Row><A>2</A></Row></r:Report>`))
	require.NoError(t, err)
	assert.Equal(t, "Report", n.Local)
	rows := n.Children("Row")
	require.Len(t, rows, 2)
	assert.Equal(t, "2", rows[1].Str("A"))

	_, err = Document([]byte(`<R/><R/>`))
	require.ErrorContains(t, err, "content after the root element")
	_, err = Document([]byte(`<R><Row>`))
	require.ErrorContains(t, err, "malformed XML")
}

func TestFragmentWritesNoEnvelope(t *testing.T) {
	w := NewFragment()
	w.Start("context")
	w.Elem("channel", "a<b")
	w.End("context")
	got, err := w.Finish()
	require.NoError(t, err)
	assert.Equal(t, "<context><channel>a&lt;b</channel></context>", string(got))

	w = NewFragment()
	w.Text("password", "x\x01")
	_, err = w.Finish()
	require.ErrorContains(t, err, "password contains control character")
}

func TestWhereItemNamesTheRepeatedElement(t *testing.T) {
	w := NewFragment()
	w.WhereItem("invoiceRow", 2)
	w.Decimal("itemQuantity", "1e3")
	_, err := w.Finish()
	require.EqualError(t, err, `invoiceRow 2: itemQuantity "1e3" is not a decimal number`)

	w = NewFragment()
	w.WhereItem("invoiceRow", 2)
	w.Where("")
	w.Required("title", "")
	_, err = w.Finish()
	require.EqualError(t, err, "title is empty", "Where clears the item")
}

func TestWriterBase64AndTime(t *testing.T) {
	w := NewFragment()
	w.Base64("receiptData", []byte("hej\xff"))
	w.Time("issueDate", time.Date(2015, 12, 25, 12, 34, 56, 0, time.FixedZone("", 3600)), "2006-01-02T15:04:05Z07:00")
	got, err := w.Finish()
	require.NoError(t, err)
	assert.Equal(t, "<receiptData>aGVq/w==</receiptData><issueDate>2015-12-25T12:34:56+01:00</issueDate>", string(got))
}

func TestCallLocalReadsByLocalName(t *testing.T) {
	c := newCaller(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
		io.WriteString(w, localDoc)
	})
	resp, err := c.CallLocal(context.Background(), []byte("<x/>"))
	require.NoError(t, err)
	assert.Equal(t, "opResponse", resp.Body.Local)
	assert.Equal(t, "text/xml", resp.MediaType())

	_, err = c.Call(context.Background(), []byte("<x/>"))
	require.ErrorContains(t, err, "bad response (HTTP 200, text/xml)")
}
