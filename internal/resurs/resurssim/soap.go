package resurssim

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/posd/posd/internal/simctl"
	"go.uber.org/zap"
)

// service returns the SOAP service name of a request path.
func service(path string) string {
	return path[strings.LastIndexByte(path, '/')+1:]
}

// serveSOAP answers the three SOAP services: Basic auth first (401 with a
// challenge, also for ?wsdl and ?xsd=, spec I.2), then the documents on GET
// and the operations on POST.
func (s *Sim) serveSOAP(w http.ResponseWriter, r *http.Request) {
	if !s.basicOK(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+basicRealm+`"`)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, "401 Unauthorized\n")
		s.calls.Add(simctl.Call{Time: s.Now(), Service: Service, Operation: service(r.URL.Path), Path: r.URL.Path, Fault: "401 unauthorized"})
		return
	}
	switch r.Method {
	case http.MethodGet:
		s.serveDocument(w, r)
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	start := time.Now()
	now := s.Now()
	entry := simctl.Call{Time: now, Service: Service, Path: r.URL.Path}
	logCall := func(ref string, f *Fault, faultMsg string) {
		entry.Reference = ref
		if f != nil {
			code := f.ID
			entry.ResultCode = &code
			entry.Fault = errorTypeName(f.ID) + ": " + f.Technical
			entry.Detail = map[string]string{"errorTypeId": strconv.Itoa(f.ID)}
		} else if faultMsg != "" {
			entry.Fault = faultMsg
		} else {
			zero := 0
			entry.ResultCode = &zero
		}
		entry.Duration = time.Since(start)
		s.calls.Add(entry)
		s.log.Debug("soap call", zap.String("op", entry.Operation), zap.String("ref", ref), zap.String("fault", entry.Fault))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		m := "Error reading request body: " + err.Error()
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			m = fmt.Sprintf("Request body larger than %d bytes", s.maxBody)
		}
		logCall("", nil, m)
		writeSOAP(w, http.StatusInternalServerError, plainFault("soap:Client", m))
		return
	}
	op, fn, wrapper, perr := s.parseOperation(service(r.URL.Path), body)
	entry.Operation = op
	c := &call{op: op, wrapper: wrapper, now: now}
	if wrapper != nil {
		c.ref = wrapper.strv("paymentId")
	}
	run := func() ([]byte, *Fault) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.tick(c.now)
		return fn(s, c)
	}
	if act, hit := s.faults.Match(Service, op); hit {
		if act.Process && act.Mode != simctl.ModeNone && perr == nil {
			_, _ = run()
		}
		if err := simctl.Wait(r.Context(), act.Latency); err != nil {
			logCall(c.ref, nil, "client gone during injected latency")
			return
		}
		switch act.Mode {
		case simctl.ModeDrop:
			logCall(c.ref, nil, "injected drop")
			_ = simctl.Drop(w)
			return
		case simctl.ModeReset:
			logCall(c.ref, nil, "injected reset")
			_ = simctl.Reset(w)
			return
		case simctl.ModeHTTP500:
			logCall(c.ref, nil, "injected http500")
			writeSOAP(w, http.StatusInternalServerError, plainFault("soap:Server", "Fault injected by the emulator"))
			return
		case simctl.ModeResultCode:
			f := fault(act.Code, false, "Ett fel uppstod (injicerat av emulatorn).", "Fault injected by the emulator")
			logCall(c.ref, f, "")
			writeSOAP(w, http.StatusInternalServerError, faultXML(f))
			return
		}
	}
	if perr != nil {
		logCall(c.ref, nil, perr.msg)
		writeSOAP(w, http.StatusInternalServerError, plainFault(perr.code, perr.msg))
		return
	}
	if q := wrapper.qualifiedKid(); q != "" {
		// Resurs's JAX-WS stack does not bind qualified children: the
		// field is then missing (spec E.20).
		f := argError(q, "namespace-qualified child elements are not part of the message schema; children of the wrapper must be unqualified")
		logCall(c.ref, f, "")
		writeSOAP(w, http.StatusInternalServerError, faultXML(f))
		return
	}
	resp, f := s.safeRun(run, op)
	if f != nil {
		logCall(c.ref, f, "")
		writeSOAP(w, http.StatusInternalServerError, faultXML(f))
		return
	}
	logCall(c.ref, nil, "")
	writeSOAP(w, http.StatusOK, resp)
}

// safeRun turns a panic (a bug, never input) into an INTERNAL_ERROR fault.
func (s *Sim) safeRun(run func() ([]byte, *Fault), op string) (b []byte, f *Fault) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("operation panicked", zap.String("op", op), zap.Any("panic", p))
			b, f = nil, fault(3, false, "Ett tekniskt fel uppstod.", fmt.Sprint("internal error: ", p))
		}
	}()
	return run()
}

type soapErr struct{ code, msg string }

// parseOperation reads the envelope and finds the operation of svc.
func (s *Sim) parseOperation(svc string, body []byte) (string, opFunc, *node, *soapErr) {
	root, err := parseTree(body)
	if err != nil {
		return "", nil, nil, &soapErr{"soap:Client", "Error reading XMLStreamReader: " + err.Error()}
	}
	if root.space != nsSOAP11 || root.local != "Envelope" {
		if root.local == "Envelope" {
			return "", nil, nil, &soapErr{"soap:VersionMismatch", "Invalid SOAP version"}
		}
		return "", nil, nil, &soapErr{"soap:Client", "Message is not a SOAP 1.1 envelope"}
	}
	var b *node
	for _, k := range root.kids {
		if k.space == nsSOAP11 && k.local == "Body" {
			b = k
		}
	}
	if b == nil || len(b.kids) == 0 {
		return "", nil, nil, &soapErr{"soap:Client", "No operation element in the SOAP Body"}
	}
	w := b.kids[0]
	var fn opFunc
	switch svc {
	case "AfterShopFlowService":
		fn = afterShopOps[w.local]
		tokenOp := w.local == "issueCustomerIdentificationToken" || w.local == "invalidateCustomerIdentificationToken"
		if w.space != nsAfterShop && !(tokenOp && w.space == nsShopFlow) {
			fn = nil
		}
	case "SimplifiedShopFlowService":
		if w.space == nsSimplified || w.space == nsShopFlow {
			fn = simplifiedOps[w.local]
			if fn == nil {
				fn = (*Sim).opNotImplemented
			}
		}
	case "ConfigurationService":
		if w.space == nsConfig {
			fn = configOps[w.local]
			if fn == nil {
				fn = (*Sim).opNotImplemented
			}
		}
	}
	if fn == nil {
		return w.local, nil, w, &soapErr{"soap:Client", "Cannot find dispatch method for {" + w.space + "}" + w.local}
	}
	return w.local, fn, w, nil
}

func writeSOAP(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", soapContentType)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// ---- SimplifiedShopFlowService and ConfigurationService ----

var simplifiedOps = map[string]opFunc{
	"getPaymentMethods": (*Sim).opGetPaymentMethods,
}

var configOps = map[string]opFunc{
	"peekInvoiceSequence": (*Sim).opPeekInvoiceSequence,
	"setInvoiceSequence":  (*Sim).opSetInvoiceSequence,
}

// opGetPaymentMethods lists the store's methods ([I]: field set as the
// ShopFlow paymentMethod type, the emulator fills the ones clients read).
func (s *Sim) opGetPaymentMethods(c *call) ([]byte, *Fault) {
	return wrap("ns2", c.wrapper.space, "getPaymentMethodsResponse", func(w *xw) {
		for _, m := range methods {
			w.Open("return")
			w.Text("id", m.ID)
			w.Text("description", m.Name)
			w.dec("minLimit", m.MinLimit)
			w.dec("maxLimit", m.MaxLimit)
			w.Text("type", m.Type)
			w.Text("customerType", "NATURAL")
			w.Text("specificType", m.ID)
			w.Close("return")
		}
	}), nil
}

func (s *Sim) opPeekInvoiceSequence(c *call) ([]byte, *Fault) {
	n := s.st.invoiceSeq
	for s.st.invoiceIDs[strconv.FormatInt(n, 10)] {
		n++
	}
	return wrap("ns2", nsConfig, "peekInvoiceSequenceResponse", func(w *xw) { w.Int("nextInvoiceNumber", n) }), nil
}

func (s *Sim) opSetInvoiceSequence(c *call) ([]byte, *Fault) {
	v, ok := c.wrapper.str("nextInvoiceNumber")
	if !ok {
		return nil, argError("nextInvoiceNumber", "is required")
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 1 {
		return nil, argError("nextInvoiceNumber", fmt.Sprintf("%q must be a positive integer", v))
	}
	s.st.invoiceSeq = n
	return wrap("ns2", nsConfig, "setInvoiceSequenceResponse", nil), nil
}
