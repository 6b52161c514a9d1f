package resurssim

import (
	"embed"
	"net/http"
	"strings"
)

// The After Shop WSDL and its four schemas, written for the emulator from
// the facts of Resurs's public documents (names, order, types, minOccurs,
// nillable, namespaces); {{BASE}} becomes the service URL on the emulator's
// own host, as Resurs's documents carry absolute URLs (spec I.3).
//
//go:embed wsdl/*.wsdl wsdl/*.xsd
var wsdlFiles embed.FS

// xsdFiles maps the ?xsd= names of the real service to the embedded files.
var xsdFiles = map[string]string{
	"schemas/messages/AfterShopFlowServiceMessages.xsd": "wsdl/AfterShopFlowServiceMessages.xsd",
	"schemas/messages/Exceptions.xsd":                   "wsdl/Exceptions.xsd",
	"schemas/types/common.xsd":                          "wsdl/common.xsd",
	"schemas/types/aftershopflow.xsd":                   "wsdl/aftershopflow.xsd",
}

// Document returns the After Shop WSDL (xsd "") or one of its schemas with
// base (the service URL) filled in; ok is false for an unknown name.
func Document(xsd, base string) ([]byte, bool) {
	file := "wsdl/AfterShopFlowService.wsdl"
	if xsd != "" {
		f, ok := xsdFiles[xsd]
		if !ok {
			return nil, false
		}
		file = f
	}
	b, err := wsdlFiles.ReadFile(file)
	if err != nil {
		return nil, false
	}
	w := newXW()
	w.Escape(base)
	return []byte(strings.ReplaceAll(string(b), "{{BASE}}", string(w.Bytes()))), true
}

func (s *Sim) serveDocument(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if service(r.URL.Path) != "AfterShopFlowService" || !(q.Has("wsdl") || q.Has("WSDL") || q.Has("xsd")) {
		writeSOAP(w, http.StatusNotFound, plainFault("soap:Client", "The emulator serves documents for AfterShopFlowService only (?wsdl, ?xsd=schemas/...)"))
		return
	}
	b, ok := Document(q.Get("xsd"), baseURL(r)+r.URL.Path)
	if !ok {
		http.Error(w, "no such schema document", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", soapContentType)
	_, _ = w.Write(b)
}
