package soap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const aftNS = "http://ecommerce.resurs.com/v4/msg/aftershopflow"

func TestWriterWrapperNamespacedChildrenUnqualified(t *testing.T) {
	w := NewWriter(Envelope{Prefix: "soapenv", Namespaces: []Namespace{{"aft", aftNS}}, Header: true})
	w.Start("aft:finalizePayment")
	w.Elem("paymentId", `P<1>&"x"`)
	w.Opt("createdBy", "")
	w.Decimal("totalAmount", "250.00")
	w.Int("n", -3)
	w.Bool("frozen", false)
	w.End("aft:finalizePayment")
	got, err := w.Finish()
	require.NoError(t, err)
	want := `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:aft="` + aftNS + `">` +
		`<soapenv:Header/><soapenv:Body><aft:finalizePayment><paymentId>P&lt;1&gt;&amp;"x"</paymentId>` +
		`<totalAmount>250.00</totalAmount><n>-3</n><frozen>false</frozen></aft:finalizePayment></soapenv:Body></soapenv:Envelope>`
	assert.Equal(t, want, string(got))

	// What we write, we read back by namespace, whatever the prefix.
	n, err := Body(got)
	require.NoError(t, err)
	assert.True(t, n.Is(aftNS, "finalizePayment"))
	assert.Equal(t, `P<1>&"x"`, n.Str("paymentId"))
	assert.Equal(t, "", n.Child("paymentId").Space, "children are unqualified")
}

func TestWriterRefusesWhatXMLCannotCarry(t *testing.T) {
	for name, tc := range map[string]func(w *Writer){
		"control char":  func(w *Writer) { w.Elem("description", "a\x01b") },
		"invalid utf-8": func(w *Writer) { w.Elem("description", "a\xffb") },
		"U+FFFE":        func(w *Writer) { w.Elem("description", "a\uFFFEb") },
		"bad decimal":   func(w *Writer) { w.Decimal("quantity", "1e3") },
		"empty":         func(w *Writer) { w.Required("paymentId", "") },
	} {
		t.Run(name, func(t *testing.T) {
			w := NewWriter(Envelope{Prefix: "s"})
			w.Where("specLines 2: ")
			tc(w)
			_, err := w.Finish()
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "specLines 2: "), err.Error())
		})
	}
	w := NewWriter(Envelope{Prefix: "s"})
	w.Elem("d", "tab\tnl\ncr\r")
	b, err := w.Finish()
	require.NoError(t, err)
	assert.Contains(t, string(b), "<d>tab\tnl\ncr&#xD;</d>")
}

func TestIsDecimal(t *testing.T) {
	for s, want := range map[string]bool{
		"0": true, "12.5": true, "-3": true, "0.00001": true, "30.00000": true,
		"": false, "-": false, ".5": false, "5.": false, "1e3": false, "+1": false, " 1": false, "1.2.3": false,
	} {
		assert.Equal(t, want, IsDecimal(s), s)
	}
}

func TestBodyReadsByNamespaceWhateverThePrefixes(t *testing.T) {
	doc := `<?xml version="1.0"?>
<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <S:Header><x:h xmlns:x="urn:x">ignored</x:h></S:Header>
 <S:Body>
  <ns3:getPaymentResponse xmlns:ns3="` + aftNS + `" xmlns:ns2="urn:other">
   <return xmlns="">
     <id>P1</id><finalized xsi:nil="true"/><unknownNew>x</unknownNew>
     <totalAmount>1100.00000</totalAmount>
     <status>DEBITABLE</status><status>IS_DEBITED</status>
     <note><![CDATA[a<b]]></note>
   </return>
  </ns3:getPaymentResponse>
 </S:Body>
</S:Envelope>`
	n, err := Body([]byte(doc))
	require.NoError(t, err)
	assert.True(t, n.Is(aftNS, "getPaymentResponse"))
	ret := n.Child("return")
	require.NotNil(t, ret)
	assert.Equal(t, "", ret.Space)
	assert.Equal(t, "P1", ret.Str("id"))
	assert.Nil(t, ret.Child("finalized"), "xsi:nil reads as absent")
	assert.Equal(t, "1100.00000", ret.Str("totalAmount"))
	assert.Len(t, ret.Children("status"), 2)
	assert.Equal(t, "a<b", ret.Str("note"))
	assert.Equal(t, "", ret.Str("missing"))
	var nilNode *Node
	assert.Nil(t, nilNode.Child("x"))
}

func TestBodyEmptyWrapper(t *testing.T) {
	n, err := Body([]byte(`<soap:Envelope xmlns:soap="` + EnvelopeNS + `"><soap:Body><ns2:finalizePaymentResponse xmlns:ns2="` + aftNS + `"/></soap:Body></soap:Envelope>`))
	require.NoError(t, err)
	assert.True(t, n.Is(aftNS, "finalizePaymentResponse"))
	assert.Empty(t, n.Kids)
}

func TestBodyRefusesMalformed(t *testing.T) {
	env := `<soap:Envelope xmlns:soap="` + EnvelopeNS + `">`
	for name, doc := range map[string]string{
		"empty":        ``,
		"not xml":      `hello`,
		"not envelope": `<Envelope><Body><x/></Body></Envelope>`,
		"soap 1.2":     `<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><x/></e:Body></e:Envelope>`,
		"truncated":    env + `<soap:Body><x>`,
		"mismatched":   env + `<soap:Body><x></y></soap:Body></soap:Envelope>`,
		"no body":      env + `</soap:Envelope>`,
		"empty body":   env + `<soap:Body/></soap:Envelope>`,
		"trailing":     env + `<soap:Body><x/></soap:Body></soap:Envelope><more/>`,
		"text outside": env + `<soap:Body><x/></soap:Body></soap:Envelope>junk`,
		"too deep":     env + `<soap:Body>` + strings.Repeat("<a>", MaxDepth+1) + strings.Repeat("</a>", MaxDepth+1) + `</soap:Body></soap:Envelope>`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Body([]byte(doc))
			require.Error(t, err)
			var f *Fault
			assert.False(t, errors.As(err, &f))
		})
	}
}

const resursFault = `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>
<faultcode>soap:Server</faultcode><faultstring>No payment P9 (technical)</faultstring>
<detail><ns3:ECommerceError xmlns:ns3="http://ecommerce.resurs.com/v4/msg/exception">
<errorTypeDescription>REFERENCED_DATA_DONT_EXISTS</errorTypeDescription>
<errorTypeId>8</errorTypeId><fixableByYou>true</fixableByYou>
<userErrorMessage>Betalningen finns inte</userErrorMessage>
</ns3:ECommerceError></detail></soap:Fault></soap:Body></soap:Envelope>`

func TestFaultDecoded(t *testing.T) {
	_, err := Body([]byte(resursFault))
	var f *Fault
	require.ErrorAs(t, err, &f)
	assert.Equal(t, "soap:Server", f.Code)
	assert.Equal(t, "Server", f.CodeLocal())
	assert.Equal(t, "No payment P9 (technical)", f.String)
	e := f.DetailElement("http://ecommerce.resurs.com/v4/msg/exception", "ECommerceError")
	require.NotNil(t, e)
	assert.Equal(t, "8", e.Str("errorTypeId"))
	assert.Equal(t, "Betalningen finns inte", e.Str("userErrorMessage"))
	assert.Nil(t, f.DetailElement("urn:other", "ECommerceError"))
	assert.NotNil(t, f.DetailElement("", "ECommerceError"))
	assert.True(t, strings.HasPrefix(strings.TrimSpace(string(f.Detail)), "<ns3:ECommerceError"), string(f.Detail))
	assert.True(t, strings.HasSuffix(strings.TrimSpace(string(f.Detail)), "</ns3:ECommerceError>"), string(f.Detail))
	assert.Contains(t, f.Error(), "soap:Server")
}

func TestFaultSOAP12Fields(t *testing.T) {
	_, err := Body([]byte(`<s:Envelope xmlns:s="` + EnvelopeNS + `"><s:Body><s:Fault><Code><Value>s:Sender</Value></Code><Reason><Text>bad</Text></Reason></s:Fault></s:Body></s:Envelope>`))
	var f *Fault
	require.ErrorAs(t, err, &f)
	assert.Equal(t, "s:Sender", f.Code)
	assert.Equal(t, "bad", f.String)
	assert.Nil(t, f.Detail)
}

func newCaller(t *testing.T, h http.HandlerFunc) *Caller {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &Caller{URL: srv.URL + "/ws", HTTP: NewHTTPClient(nil, 5*time.Second), Username: "posd_test", Password: "posd_test_pw"}
}

func TestCallSendsBasicAuthUpFrontAndSOAPHeaders(t *testing.T) {
	var got *http.Request
	var body []byte
	c := newCaller(t, func(w http.ResponseWriter, r *http.Request) {
		got = r
		body, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, `<soap:Envelope xmlns:soap="`+EnvelopeNS+`"><soap:Body><ns2:addMetaDataResponse xmlns:ns2="`+aftNS+`"/></soap:Body></soap:Envelope>`)
	})
	resp, err := c.Call(context.Background(), []byte("<x/>"))
	require.NoError(t, err)
	assert.True(t, resp.Body.Is(aftNS, "addMetaDataResponse"))
	assert.Equal(t, "Basic "+base64.StdEncoding.EncodeToString([]byte("posd_test:posd_test_pw")), got.Header.Get("Authorization"))
	assert.Equal(t, `""`, got.Header.Get("SOAPAction"))
	assert.Equal(t, "text/xml; charset=UTF-8", got.Header.Get("Content-Type"))
	assert.Equal(t, "/ws", got.URL.Path)
	assert.Equal(t, "<x/>", string(body))
}

func TestCallOutcomes(t *testing.T) {
	t.Run("fault at 500", func(t *testing.T) {
		c := newCaller(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
			io.WriteString(w, resursFault)
		})
		resp, err := c.Call(context.Background(), []byte("<x/>"))
		var f *Fault
		require.ErrorAs(t, err, &f)
		assert.Equal(t, 500, resp.Status)
		assert.False(t, errors.Is(err, ErrNotSent))
	})
	t.Run("401 before SOAP", func(t *testing.T) {
		c := newCaller(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("WWW-Authenticate", `Basic realm="x"`)
			http.Error(w, "no", 401)
		})
		_, err := c.Call(context.Background(), []byte("<x/>"))
		var he *HTTPError
		require.ErrorAs(t, err, &he)
		assert.Equal(t, 401, he.Status)
		assert.False(t, errors.Is(err, ErrNotSent))
	})
	t.Run("redirect not followed", func(t *testing.T) {
		c := newCaller(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusTemporaryRedirect)
		})
		_, err := c.Call(context.Background(), []byte("<x/>"))
		var he *HTTPError
		require.ErrorAs(t, err, &he)
		assert.Equal(t, 307, he.Status)
	})
	t.Run("garbage at 200", func(t *testing.T) {
		c := newCaller(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>") })
		_, err := c.Call(context.Background(), []byte("<x/>"))
		require.Error(t, err)
		assert.False(t, errors.Is(err, ErrNotSent))
	})
	t.Run("connection refused is not sent", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		l.Close()
		c := &Caller{URL: "http://" + addr + "/ws", HTTP: NewHTTPClient(nil, 5*time.Second)}
		_, err = c.Call(context.Background(), []byte("<x/>"))
		require.ErrorIs(t, err, ErrNotSent)
	})
	t.Run("ended context is not sent", func(t *testing.T) {
		c := newCaller(t, func(w http.ResponseWriter, r *http.Request) { t.Error("must not arrive") })
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.Call(ctx, []byte("<x/>"))
		require.ErrorIs(t, err, ErrNotSent)
		require.ErrorIs(t, err, context.Canceled)
	})
	t.Run("connection dropped after the request may have arrived", func(t *testing.T) {
		arrived := make(chan struct{})
		c := newCaller(t, func(w http.ResponseWriter, r *http.Request) {
			io.ReadAll(r.Body)
			close(arrived)
			hj, _ := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			conn.Close()
		})
		_, err := c.Call(context.Background(), []byte("<x/>"))
		<-arrived
		require.Error(t, err)
		assert.False(t, errors.Is(err, ErrNotSent), "the request arrived: %v", err)
	})
}

func FuzzBody(f *testing.F) {
	f.Add([]byte(resursFault))
	f.Add([]byte(`<s:Envelope xmlns:s="` + EnvelopeNS + `"><s:Body><a:x xmlns:a="urn:a"><y xsi:nil="true" xmlns:xsi="` + XSINS + `"/></a:x></s:Body></s:Envelope>`))
	f.Add([]byte(`<s:Envelope xmlns:s="` + EnvelopeNS + `"><s:Body/></s:Envelope>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		n, err := Body(doc)
		if err != nil {
			if n != nil {
				t.Fatal("node with error")
			}
			return
		}
		if n == nil {
			t.Fatal("nil node without error")
		}
		var walk func(*Node, int)
		walk = func(n *Node, d int) {
			if d > MaxDepth+1 {
				t.Fatalf("depth %d beyond limit", d)
			}
			for _, k := range n.Kids {
				if k == nil {
					t.Fatal("nil kid")
				}
				walk(k, d+1)
			}
		}
		walk(n, 3)
	})
}

func TestHTTPClientTLS12MinimumAndVerified(t *testing.T) {
	hc := NewHTTPClient(nil, 5*time.Second)
	tr := hc.Transport.(*http.Transport)
	assert.Equal(t, uint16(tls.VersionTLS12), tr.TLSClientConfig.MinVersion)
	assert.False(t, tr.TLSClientConfig.InsecureSkipVerify)
	assert.Equal(t, 5*time.Second, hc.Timeout)

	// A server that speaks TLS 1.1 at most: the handshake fails, so nothing
	// was sent.
	old := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("must not arrive") }))
	old.TLS = &tls.Config{MaxVersion: tls.VersionTLS11}
	old.StartTLS()
	defer old.Close()
	pool := x509.NewCertPool()
	pool.AddCert(old.Certificate())
	c := &Caller{URL: old.URL, HTTP: NewHTTPClient(pool, 5*time.Second)}
	_, err := c.Call(context.Background(), []byte("<x/>"))
	require.ErrorIs(t, err, ErrNotSent)

	// An unknown certificate is refused the same way.
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("must not arrive") }))
	defer srv.Close()
	c = &Caller{URL: srv.URL, HTTP: NewHTTPClient(x509.NewCertPool(), 5*time.Second)}
	_, err = c.Call(context.Background(), []byte("<x/>"))
	require.ErrorIs(t, err, ErrNotSent)
}
