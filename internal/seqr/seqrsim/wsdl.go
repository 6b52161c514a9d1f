package seqrsim

import (
	_ "embed"
	"net/http"
	"strings"
)

// wsdlTemplate is the WSDL with inline schema written from the spec; the
// service, port, binding and address are filled in per endpoint.
//
//go:embed wsdl.xml
var wsdlTemplate string

// WSDL returns the WSDL served at path (one of the Path constants) with the
// given soap:address location. On cashregister-2 the service and port carry
// the names of the Impl service (spec 1.2); there they live in the same
// namespace as the portType (the real WSDL imports them from another).
func WSDL(path, location string) string {
	service, port, binding := "ERSWSExternalClientServiceService", "ERSWSExternalClientServicePort", "ERSWSExternalClientServiceServiceSoapBinding"
	if path == PathCashRegister2 {
		service, port, binding = "ERSWSExternalClientServiceImplService", "ERSWSExternalClientServiceImplPort", "ERSWSExternalClientServiceImplServiceSoapBinding"
	}
	var b strings.Builder
	b.Grow(len(wsdlTemplate) + 256)
	w := &xw{}
	w.escape(location)
	loc := strings.ReplaceAll(string(w.b), `"`, "&quot;")
	r := strings.NewReplacer("{{SERVICE}}", service, "{{PORT}}", port, "{{BINDING}}", binding, "{{LOCATION}}", loc)
	_, _ = r.WriteString(&b, wsdlTemplate)
	return b.String()
}

func (s *Sim) serveWSDL(w http.ResponseWriter, r *http.Request) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	body := WSDL(r.URL.Path, scheme+"://"+r.Host+r.URL.Path)
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	_, _ = w.Write([]byte(body))
}

// page is the customer's phone: pick a till, scan, pay or reject.
//
//go:embed page.html
var page []byte

func (s *Sim) handlePage(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline' 'self'; style-src 'unsafe-inline'")
	_, _ = w.Write(page)
}
