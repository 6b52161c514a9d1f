package seqrsim

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/posd/posd/internal/simctl"
	"go.uber.org/zap"
)

// SOAP endpoint paths (spec 1.1). All serve the same operations.
const (
	PathCashRegister2 = "/soap/merchant/cashregister-2"
	PathServiceV2     = "/extclientproxy/service/v2"
	PathServiceV1     = "/extclientproxy/service"
)

const (
	faultClient          = "soap:Client"
	faultServer          = "soap:Server"
	faultVersionMismatch = "soap:VersionMismatch"
)

// Handler serves the three SOAP endpoints (POST; GET ?wsdl returns the WSDL)
// and the SEQR control API under /sim/seqr/ plus the customer page at /sim/.
// The provider-independent routes (/sim/calls, /sim/faults) are served by
// simctl.Control.
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, p := range []string{PathCashRegister2, PathServiceV2, PathServiceV1} {
		mux.HandleFunc(p, s.serveSOAP)
	}
	mux.HandleFunc("POST /sim/seqr/scan", s.handleScan)
	mux.HandleFunc("POST /sim/seqr/pay", s.handlePay)
	mux.HandleFunc("GET /sim/seqr/invoices/{ref}", s.handleInvoice)
	mux.HandleFunc("GET /sim/seqr/tills", s.handleTills)
	mux.HandleFunc("GET /sim/seqr/{$}", s.handlePage)
	mux.HandleFunc("GET /sim/{$}", s.handlePage)
	return mux
}

// soapFault is a protocol-level failure answered with HTTP 500.
type soapFault struct{ code, msg string }

// parseEnvelope checks the SOAP 1.1 envelope and returns the operation name
// and its wrapper element, or the fault the real server would answer (TV13).
func parseEnvelope(body []byte) (string, *node, *soapFault) {
	root, err := parseTree(body)
	if err != nil {
		return "", nil, &soapFault{faultClient, "Error reading XMLStreamReader: " + err.Error()}
	}
	if root.local != "Envelope" || root.space != nsSOAP11 {
		if root.local == "Envelope" || root.space == nsSOAP12 {
			return "", nil, &soapFault{faultVersionMismatch, "Invalid SOAP version"}
		}
		return "", nil, &soapFault{faultClient, "Message is not a SOAP 1.1 envelope: {" + root.space + "}" + root.local}
	}
	var body11 *node
	for _, k := range root.kids {
		if k.space == nsSOAP11 && k.local == "Body" {
			body11 = k
			break
		}
	}
	if body11 == nil || len(body11.kids) == 0 {
		return "", nil, &soapFault{faultClient, "No operation element in the SOAP Body"}
	}
	w := body11.kids[0]
	return w.local, w, nil
}

func unknownPart(w *node) *soapFault {
	return &soapFault{faultClient, "Message part {" + w.space + "}" + w.local + " was not recognized. (Does it exist in service WSDL?)"}
}

func (s *Sim) serveSOAP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	recv := s.now()
	if r.Method == http.MethodGet {
		if r.URL.Query().Has("wsdl") || r.URL.Query().Has("WSDL") {
			s.serveWSDL(w, r)
			return
		}
		writeSOAP(w, http.StatusInternalServerError, fault(faultClient, "No such operation: (HTTP GET PATH_INFO: "+r.URL.Path+")"))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	entry := simctl.Call{Time: recv, Service: Service, Path: r.URL.Path}
	logCall := func(res result, faultMsg string) {
		entry.PrincipalID = res.principal
		if entry.Reference == "" {
			entry.Reference = res.ref
		}
		entry.Detail = res.detail
		if faultMsg == "" {
			code := res.code
			entry.ResultCode = &code
		}
		entry.Fault = faultMsg
		entry.Duration = time.Since(start)
		s.calls.Add(entry)
		s.log.Debug("soap call", zap.String("op", entry.Operation), zap.String("ref", entry.Reference),
			zap.Int("resultCode", res.code), zap.String("fault", faultMsg))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		msg := "Error reading request body: " + err.Error()
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			msg = fmt.Sprintf("Request body larger than %d bytes", s.maxBody)
		}
		logCall(result{}, msg)
		writeSOAP(w, http.StatusInternalServerError, fault(faultClient, msg))
		return
	}
	op, wrapper, sf := parseEnvelope(body)
	entry.Operation = op
	var fn func(*call) result
	if sf == nil {
		var known bool
		fn, known = s.operation(op)
		if wrapper.space != nsExt || !known {
			sf = unknownPart(wrapper)
		}
	}
	c := &call{op: op, wrapper: wrapper, now: recv, legacyV1: r.URL.Path == PathServiceV1}
	if sf == nil {
		c.ctx = readContext(wrapper.child("context"))
		entry.PrincipalID = c.principalID()
		entry.Reference = wrapper.strv("invoiceReference")
	}
	if act, hit := s.faults.Match(Service, op); hit {
		// With Process the operation takes effect first and the answer is
		// then held for the latency: a client that gives up meanwhile sees
		// exactly "the request arrived, the reply never came" (N2).
		var processed *result
		if act.Process && act.Mode != simctl.ModeNone && sf == nil {
			res := s.run(fn, c)
			processed = &res
		}
		if err := simctl.Wait(r.Context(), act.Latency); err != nil {
			if processed != nil {
				logCall(*processed, "client gone during injected latency; the operation took effect")
				return
			}
			logCall(result{principal: entry.PrincipalID}, "client gone during injected latency")
			return
		}
		if act.Mode != simctl.ModeNone {
			res := result{principal: entry.PrincipalID}
			if processed != nil {
				res = *processed
			}
			switch act.Mode {
			// Log first: once the connection is gone the client may already
			// be asking the call log what happened.
			case simctl.ModeDrop:
				logCall(res, "injected drop")
				_ = simctl.Drop(w)
			case simctl.ModeReset:
				logCall(res, "injected reset")
				_ = simctl.Reset(w)
			case simctl.ModeHTTP500:
				logCall(res, "injected http500")
				writeSOAP(w, http.StatusInternalServerError, fault(faultServer, "Fault injected by the emulator"))
			case simctl.ModeResultCode:
				res.code = act.Code
				logCall(res, "")
				writeSOAP(w, http.StatusOK, errorResult(op, act.Code))
			}
			return
		}
	}
	if sf != nil {
		logCall(result{}, sf.msg)
		writeSOAP(w, http.StatusInternalServerError, fault(sf.code, sf.msg))
		return
	}
	res := s.run(fn, c)
	if res.body == nil {
		logCall(res, "internal server error")
		writeSOAP(w, http.StatusInternalServerError, fault(faultServer, "Internal server error"))
		return
	}
	logCall(res, "")
	writeSOAP(w, http.StatusOK, res.body)
}

// run executes an operation; a panic (a bug, never input) becomes a
// soap:Server fault instead of a dropped connection.
func (s *Sim) run(fn func(*call) result, c *call) (res result) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("operation panicked", zap.String("op", c.op), zap.Any("panic", p))
			res = result{principal: c.principalID()}
		}
	}()
	return fn(c)
}

func writeSOAP(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// ---- control API ----

type scanRequest struct {
	SeqrID      string `json:"seqrId"`
	LoyaltyCard string `json:"loyaltyCard,omitempty"`
}

func (s *Sim) handleScan(w http.ResponseWriter, r *http.Request) {
	var req scanRequest
	if !simctl.DecodeJSON(w, r, &req) {
		return
	}
	if req.SeqrID == "" {
		simctl.WriteProblem(w, http.StatusBadRequest, "seqrId is required", "seqrId", "")
		return
	}
	wt, err := s.scan(req.SeqrID, req.LoyaltyCard)
	if err != nil {
		simctl.WriteProblem(w, http.StatusNotFound, "no invoice waiting on this till", "seqrId", err.Error())
		return
	}
	simctl.WriteJSON(w, http.StatusOK, wt)
}

type payRequest struct {
	SeqrID           string  `json:"seqrId,omitempty"`
	InvoiceReference string  `json:"invoiceReference,omitempty"`
	Outcome          Outcome `json:"outcome"`
}

func (s *Sim) handlePay(w http.ResponseWriter, r *http.Request) {
	var req payRequest
	if !simctl.DecodeJSON(w, r, &req) {
		return
	}
	switch {
	case req.SeqrID == "" && req.InvoiceReference == "":
		simctl.WriteProblem(w, http.StatusBadRequest, "seqrId or invoiceReference is required", "seqrId", "")
		return
	case req.SeqrID != "" && req.InvoiceReference != "":
		simctl.WriteProblem(w, http.StatusBadRequest, "give seqrId or invoiceReference, not both", "invoiceReference", "")
		return
	case req.Outcome != OutcomePaid && req.Outcome != OutcomeReject:
		simctl.WriteProblem(w, http.StatusBadRequest, `outcome must be "paid" or "reject"`, "outcome", "")
		return
	}
	var (
		info  InvoiceInfo
		err   error
		field string
	)
	if req.InvoiceReference != "" {
		info, err = s.PayInvoice(req.InvoiceReference, req.Outcome)
		field = "invoiceReference"
	} else {
		info, err = s.PayTill(req.SeqrID, req.Outcome)
		field = "seqrId"
	}
	switch {
	case err == nil:
		simctl.WriteJSON(w, http.StatusOK, info)
	case errors.Is(err, ErrNotFound):
		simctl.WriteProblem(w, http.StatusNotFound, "no such invoice", field, err.Error())
	case errors.Is(err, ErrNoInvoiceWaiting):
		simctl.WriteProblem(w, http.StatusNotFound, "no invoice waiting on this till", field, err.Error())
	case errors.Is(err, ErrAwaitingAck):
		simctl.WriteProblem(w, http.StatusConflict, "waiting for the till to acknowledge", field, err.Error())
	default:
		simctl.WriteProblem(w, http.StatusConflict, "invoice cannot be paid in its state", field, err.Error())
	}
}

func (s *Sim) handleInvoice(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("ref")
	info, ok := s.Invoice(ref)
	if !ok {
		simctl.WriteProblem(w, http.StatusNotFound, "no such invoice", "ref", "invoice "+ref+" is unknown")
		return
	}
	simctl.WriteJSON(w, http.StatusOK, info)
}

func (s *Sim) handleTills(w http.ResponseWriter, _ *http.Request) {
	simctl.WriteJSON(w, http.StatusOK, map[string]any{"tills": s.Tills()})
}
