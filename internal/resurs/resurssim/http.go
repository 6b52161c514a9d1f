package resurssim

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/posd/posd/internal/simctl"
	"go.uber.org/zap"
)

// Paths of the services, relative to the emulator's base (spec A.1, B.1, C.1, C.3).
const (
	PathPOS              = "/pos/payments/"
	PathCheckout         = "/checkout/payments/"
	PathAfterShop        = "/ecommerce-test/ws/V4/AfterShopFlowService"
	PathSimplifiedShop   = "/ecommerce-test/ws/V4/SimplifiedShopFlowService"
	PathConfiguration    = "/ecommerce-test/ws/V4/ConfigurationService"
	PathToken            = "/api/oauth2/token"
	PathWidgetSession    = "/api/mock_payment_widget_service/session"
	PathWidgetTypes      = "/api/mock_payment_widget_service/payment-methods/types"
	PathCheckoutPage     = "/web/dist/omni-checkout.html"
	basicRealm           = "ecommerce"
	prodAfterShopPrefix  = "/ws/V4/"
	testAfterShopPrefix  = "/ecommerce-test/ws/V4/"
	soapContentType      = "text/xml;charset=UTF-8"
	problemJSONMediaType = "application/problem+json"
)

// Prefixes are the path prefixes Handler answers, for a mux shared with
// other emulators (cmd/paysim, posd demo): the real service paths, the
// checkout page behind the POS iframe and the control API.
func Prefixes() []string {
	return []string{"/pos/", "/checkout/", "/ecommerce-test/", prodAfterShopPrefix, "/api/", "/web/", "/sim/resurs/"}
}

// Handler serves every Resurs route and the Resurs control API
// (/sim/resurs/...). The provider-independent routes (/sim/calls,
// /sim/faults) are simctl.Control's.
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, prefix := range []string{"/pos", "/checkout"} {
		mux.HandleFunc("POST "+prefix+"/payments/{ref}", s.restPOS(s.posCreate))
		mux.HandleFunc("PUT "+prefix+"/payments/{ref}", s.restPOS(s.posUpdate))
		mux.HandleFunc("PUT "+prefix+"/payments/{ref}/updatePaymentReference", s.restPOS(s.posRename))
		mux.HandleFunc("GET "+prefix+"/payments/{ref}", s.restPOS(func(w http.ResponseWriter, r *http.Request, _ []byte, rec *recorder) {
			s.posGet(w, r, rec)
		}))
	}
	for _, prefix := range []string{testAfterShopPrefix, prodAfterShopPrefix} {
		mux.HandleFunc(prefix+"AfterShopFlowService", s.serveSOAP)
		mux.HandleFunc(prefix+"SimplifiedShopFlowService", s.serveSOAP)
		mux.HandleFunc(prefix+"ConfigurationService", s.serveSOAP)
	}
	mux.HandleFunc("POST "+PathToken, s.restMAPI("token", false, s.mapiToken))
	mux.HandleFunc("POST "+PathWidgetSession, s.restMAPI("widgetSession", true, s.widgetSession))
	mux.HandleFunc("POST "+PathWidgetTypes, s.restMAPI("paymentMethodTypes", true, s.widgetTypes))
	s.registerPage(mux)
	s.registerControl(mux)
	return mux
}

// recorder collects what a REST handler wants in the call log.
type recorder struct {
	ref    string
	detail map[string]string
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController hijack for drop and reset faults.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type discard struct{ h http.Header }

func (d discard) Header() http.Header         { return d.h }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}

type restFunc func(w http.ResponseWriter, r *http.Request, body []byte, rec *recorder)

// serveREST runs fn with the call log and fault injection around it.
// inject answers an injected http500 or resultCode in the API's own shape.
func (s *Sim) serveREST(w http.ResponseWriter, r *http.Request, op string, authorize func(http.ResponseWriter, *http.Request) bool,
	inject func(w http.ResponseWriter, code int, text string), fn restFunc) {
	start := time.Now()
	entry := simctl.Call{Time: s.Now(), Service: Service, Operation: op, Path: r.URL.Path}
	rec := &recorder{detail: map[string]string{}}
	sw := &statusWriter{ResponseWriter: w}
	log := func(faultMsg string) {
		entry.Reference = rec.ref
		if len(rec.detail) > 0 {
			entry.Detail = rec.detail
		}
		if faultMsg == "" && sw.status != 0 {
			code := sw.status
			entry.ResultCode = &code
		}
		entry.Fault = faultMsg
		entry.Duration = time.Since(start)
		s.calls.Add(entry)
		s.log.Debug("rest call", zap.String("op", op), zap.String("ref", rec.ref), zap.Int("status", sw.status), zap.String("fault", faultMsg))
	}
	if !authorize(sw, r) {
		log("")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		msg := "cannot read body: " + err.Error()
		if errors.As(err, &mbe) {
			msg = fmt.Sprintf("body larger than %d bytes", s.maxBody)
		}
		inject(sw, http.StatusBadRequest, msg)
		log(msg)
		return
	}
	if act, hit := s.faults.Match(Service, op); hit {
		if act.Process && act.Mode != simctl.ModeNone {
			fn(discard{h: http.Header{}}, r, body, rec)
		}
		if err := simctl.Wait(r.Context(), act.Latency); err != nil {
			log("client gone during injected latency")
			return
		}
		switch act.Mode {
		case simctl.ModeDrop:
			log("injected drop")
			_ = simctl.Drop(w)
			return
		case simctl.ModeReset:
			log("injected reset")
			_ = simctl.Reset(w)
			return
		case simctl.ModeHTTP500:
			inject(sw, http.StatusInternalServerError, "")
			log("injected http500")
			return
		case simctl.ModeResultCode:
			inject(sw, act.Code, "Injected error")
			log("")
			return
		}
	}
	fn(sw, r, body, rec)
	log("")
}

func (s *Sim) basicOK(r *http.Request) bool {
	u, p, ok := r.BasicAuth()
	return ok && subtle.ConstantTimeCompare([]byte(u), []byte(TestUser)) == 1 &&
		subtle.ConstantTimeCompare([]byte(p), []byte(TestPassword)) == 1
}

func (s *Sim) restPOS(fn restFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		auth := func(w http.ResponseWriter, r *http.Request) bool {
			if s.basicOK(r) {
				return true
			}
			writeMessage(w, http.StatusUnauthorized, msg{"Bad credentials"})
			return false
		}
		// inject answers in Checkout POS's own error shapes (spec A.4); a
		// forced code outside 4xx/5xx becomes {"errorCode": code} with 500.
		inject := func(w http.ResponseWriter, code int, text string) {
			switch {
			case code == http.StatusInternalServerError && text == "":
				writeMessage(w, code, msg{"Internal error"})
			case code >= 400 && code <= 599:
				writeMessage(w, code, msg{text})
			default:
				writeMessage(w, http.StatusInternalServerError, struct {
					ErrorCode   int    `json:"errorCode"`
					Description string `json:"description"`
				}{code, text})
			}
		}
		s.serveREST(w, r, posOp(r), auth, inject, fn)
	}
}
