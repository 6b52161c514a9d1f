package seqrsim

import (
	_ "embed"
	"net/http"
	"strings"
)

// wsdlSchema is the inline schema (types of every operation), written from
// the spec and checked against SEQR's own WSDL; WSDL builds the documents
// around it.
//
//go:embed wsdl_schema.xml
var wsdlSchema string

// Namespaces of the WSDL documents.
const (
	// nsExt (xmlin.go) holds the operations: portType, messages, body
	// elements, types. nsCashRegister holds cashregister-2's binding and service, which SEQR
	// implements in another Java package than the interface (spec 1.2).
	nsCashRegister = "http://externalclientservice.cashregister.seamless.com/"
	nsWSDL         = "http://schemas.xmlsoap.org/wsdl/"
	nsWSDLSOAP     = "http://schemas.xmlsoap.org/wsdl/soap/"
	nsXSD          = "http://www.w3.org/2001/XMLSchema"
)

// WSDLInterfacePart is the document cashregister-2's WSDL imports (at
// ?wsdl=WSDLInterfacePart): types, messages and portType in the operations'
// namespace, as CXF serves them when service and interface live apart.
const WSDLInterfacePart = "ERSWSExternalClientService.wsdl"

// wsdlOps are the 19 operations of SEQR's ERSWSExternalClientService: the 13
// merchant operations the emulator implements and the six others it answers
// with 91 UNSUPPORTED_OPERATION (spec 3.2).
var wsdlOps = []string{
	"registerTerminal", "unregisterTerminal", "assignSeqrId", "sendInvoice", "updateInvoice",
	"getPaymentStatus", "cancelInvoice", "commitReservation", "submitPaymentReceipt", "refundPayment",
	"markTransactionPeriod", "executeReport", "benchmarkingNop",
	"changePrincipalPassword", "confirmCustomerRegistration", "requestPrincipalInformation",
	"requestPurchase", "requestTopup", "requestTransfer",
}

// WSDL returns the WSDL served at path?wsdl (path one of the Path
// constants) with the given soap:address location.
//
// On /extclientproxy/service[/v2] it is one document, as in SEQR's published
// sample: everything in the operations' namespace, service
// ERSWSExternalClientServiceService. On cashregister-2 (spec 1.2) the
// service ERSWSExternalClientServiceImplService, its port and binding are in
// http://externalclientservice.cashregister.seamless.com/, and the document
// imports the operations (portType, messages, types) from
// location?wsdl=WSDLInterfacePart, so the port type stays in the operations'
// namespace.
func WSDL(path, location string) string {
	var b strings.Builder
	b.Grow(len(wsdlSchema) + 16<<10)
	if path != PathCashRegister2 {
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
		b.WriteString(`<wsdl:definitions name="ERSWSExternalClientServiceService" targetNamespace="` + nsExt + `" xmlns:wsdl="` + nsWSDL + `" xmlns:tns="` + nsExt + `" xmlns:xsd="` + nsXSD + `" xmlns:soap="` + nsWSDLSOAP + `">` + "\n")
		wsdlInterface(&b)
		wsdlBinding(&b, "ERSWSExternalClientServiceServiceSoapBinding", "tns:ERSWSExternalClientService")
		wsdlService(&b, "ERSWSExternalClientServiceService", "ERSWSExternalClientServicePort", "tns:ERSWSExternalClientServiceServiceSoapBinding", location)
		b.WriteString("</wsdl:definitions>\n")
		return b.String()
	}
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<wsdl:definitions name="ERSWSExternalClientServiceImplService" targetNamespace="` + nsCashRegister + `" xmlns:wsdl="` + nsWSDL + `" xmlns:tns="` + nsCashRegister + `" xmlns:ns1="` + nsExt + `" xmlns:xsd="` + nsXSD + `" xmlns:soap="` + nsWSDLSOAP + `">` + "\n")
	b.WriteString(`  <wsdl:import location="` + xmlAttr(location+"?wsdl="+WSDLInterfacePart) + `" namespace="` + nsExt + `"/>` + "\n")
	wsdlBinding(&b, "ERSWSExternalClientServiceImplServiceSoapBinding", "ns1:ERSWSExternalClientService")
	wsdlService(&b, "ERSWSExternalClientServiceImplService", "ERSWSExternalClientServiceImplPort", "tns:ERSWSExternalClientServiceImplServiceSoapBinding", location)
	b.WriteString("</wsdl:definitions>\n")
	return b.String()
}

// WSDLPart returns a document a WSDL at path imports (path?wsdl=part), and
// false when there is none: only cashregister-2 imports one,
// WSDLInterfacePart.
func WSDLPart(path, part string) (string, bool) {
	if path != PathCashRegister2 || part != WSDLInterfacePart {
		return "", false
	}
	var b strings.Builder
	b.Grow(len(wsdlSchema) + 8<<10)
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<wsdl:definitions name="ERSWSExternalClientService" targetNamespace="` + nsExt + `" xmlns:wsdl="` + nsWSDL + `" xmlns:tns="` + nsExt + `" xmlns:xsd="` + nsXSD + `">` + "\n")
	wsdlInterface(&b)
	b.WriteString("</wsdl:definitions>\n")
	return b.String(), true
}

// wsdlInterface writes types, messages and the portType: what every
// operation is, in the operations' namespace (prefix tns).
func wsdlInterface(b *strings.Builder) {
	b.WriteString("  <wsdl:types>\n")
	b.WriteString(wsdlSchema)
	b.WriteString("  </wsdl:types>\n")
	for _, op := range wsdlOps {
		for _, m := range [2]string{op, op + "Response"} {
			b.WriteString(`  <wsdl:message name="` + m + `">` + "\n")
			b.WriteString(`    <wsdl:part name="parameters" element="tns:` + m + `"/>` + "\n")
			b.WriteString("  </wsdl:message>\n")
		}
	}
	b.WriteString(`  <wsdl:portType name="ERSWSExternalClientService">` + "\n")
	for _, op := range wsdlOps {
		b.WriteString(`    <wsdl:operation name="` + op + `">` + "\n")
		b.WriteString(`      <wsdl:input name="` + op + `" message="tns:` + op + `"/>` + "\n")
		b.WriteString(`      <wsdl:output name="` + op + `Response" message="tns:` + op + `Response"/>` + "\n")
		b.WriteString("    </wsdl:operation>\n")
	}
	b.WriteString("  </wsdl:portType>\n")
}

// wsdlBinding writes the SOAP 1.1 document/literal binding of every
// operation, soapAction "" (the server dispatches on the body element).
func wsdlBinding(b *strings.Builder, name, portType string) {
	b.WriteString(`  <wsdl:binding name="` + name + `" type="` + portType + `">` + "\n")
	b.WriteString(`    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>` + "\n")
	for _, op := range wsdlOps {
		b.WriteString(`    <wsdl:operation name="` + op + `">` + "\n")
		b.WriteString(`      <soap:operation soapAction="" style="document"/>` + "\n")
		b.WriteString(`      <wsdl:input name="` + op + `">` + "\n")
		b.WriteString(`        <soap:body use="literal"/>` + "\n")
		b.WriteString("      </wsdl:input>\n")
		b.WriteString(`      <wsdl:output name="` + op + `Response">` + "\n")
		b.WriteString(`        <soap:body use="literal"/>` + "\n")
		b.WriteString("      </wsdl:output>\n")
		b.WriteString("    </wsdl:operation>\n")
	}
	b.WriteString("  </wsdl:binding>\n")
}

func wsdlService(b *strings.Builder, service, port, binding, location string) {
	b.WriteString(`  <wsdl:service name="` + service + `">` + "\n")
	b.WriteString(`    <wsdl:port name="` + port + `" binding="` + binding + `">` + "\n")
	b.WriteString(`      <soap:address location="` + xmlAttr(location) + `"/>` + "\n")
	b.WriteString("    </wsdl:port>\n")
	b.WriteString("  </wsdl:service>\n")
}

// xmlAttr escapes s for a double-quoted attribute value.
func xmlAttr(s string) string {
	w := &xw{}
	w.Escape(s)
	return strings.ReplaceAll(string(w.Bytes()), `"`, "&quot;")
}

func (s *Sim) serveWSDL(w http.ResponseWriter, r *http.Request) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	location := scheme + "://" + r.Host + r.URL.Path
	q := r.URL.Query()
	part := q.Get("wsdl")
	if part == "" {
		part = q.Get("WSDL")
	}
	body := ""
	if part == "" {
		body = WSDL(r.URL.Path, location)
	} else {
		var ok bool
		if body, ok = WSDLPart(r.URL.Path, part); !ok {
			http.Error(w, "no such WSDL document: "+part, http.StatusNotFound)
			return
		}
	}
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
