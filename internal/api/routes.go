package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/register"
)

// route is one entry of the single route table: it registers the mux and
// is compared with api/openapi.yaml by TestOpenAPIMatchesRoutes.
type route struct {
	Method  string
	Pattern string // http.ServeMux path pattern
	Public  bool   // no token needed
	Handler http.HandlerFunc
}

// OpenAPIPath is the pattern as api/openapi.yaml writes it.
func (rt route) OpenAPIPath() string { return strings.TrimSuffix(rt.Pattern, "{$}") }

func (s *Server) routes(stopping <-chan struct{}) []route {
	return append([]route{
		{"GET", "/healthz", true, s.healthz},
		{"GET", "/{$}", true, s.page},
		{"GET", "/assets/{name}", true, s.asset},
		{"GET", "/metrics", false, s.metrics},
		{"GET", "/v1/status", false, s.status},
		{"GET", "/v1/terminal", false, s.terminal},
		{"POST", "/v1/terminal/register", false, s.registerTerminal},
		{"DELETE", "/v1/terminal", false, s.unregisterTerminal},
		{"PUT", "/v1/terminal/seqr-id", false, s.assignSeqrID},
		{"POST", "/v1/terminal/seqr-id/scan", false, s.scanSeqrID(stopping)},
		{"POST", "/v1/payments", false, s.createPayment},
		{"GET", "/v1/payments", false, s.listPayments},
		{"GET", "/v1/payments/{id}", false, s.payment},
		{"GET", "/v1/payments/{id}/events", false, s.events(stopping)},
		{"POST", "/v1/payments/{id}/retry", false, s.retry},
		{"POST", "/v1/payments/{id}/cancel", false, s.cancel},
		{"POST", "/v1/payments/{id}/refunds", false, s.refund},
		{"POST", "/v1/payments/{id}/annul", false, s.annul},
		{"POST", "/v1/payments/{id}/debits", false, s.debit},
		{"POST", "/v1/payments/{id}/receipt/print", false, s.reprint},
		{"POST", "/v1/printer/test-print", false, s.testPrint},
		{"GET", "/v1/journal", false, s.journal},
		{"POST", "/v1/periods/close", false, s.closePeriod},
	}, s.providerRoutes()...)
}

// writeJSON marshals first, so a marshal error is still a clean 500.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// untilStopping is the request's context, also ended when the server shuts
// down, for handlers that may wait long (scans, event streams).
func untilStopping(ctx context.Context, stopping <-chan struct{}) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// detached is the context for writes: once the register has started a
// write (an invoice sent, a refund asked for), a client that hangs up must
// not cut it off halfway. The register bounds its own provider calls.
func detached(r *http.Request) context.Context { return context.WithoutCancel(r.Context()) }

func (s *Server) isReady() bool {
	select {
	case <-s.reg.Ready():
		return true
	default:
		return false
	}
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, r, http.StatusOK, struct {
		Status string `json:"status"`
		Ready  bool   `json:"ready"`
	}{"ok", s.isReady()})
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Metrics == nil {
		s.writeProblem(w, r, &httpError{status: http.StatusNotFound, slug: "not-found", title: "Not found", detail: "metrics are not enabled"})
		return
	}
	s.cfg.Metrics.ServeHTTP(w, r)
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	st, err := s.reg.Status(r.Context())
	s.respond(w, r, st, err)
}

func (s *Server) terminal(w http.ResponseWriter, r *http.Request) {
	t, err := s.reg.Terminal(r.Context())
	s.respond(w, r, t, err)
}

func (s *Server) registerTerminal(w http.ResponseWriter, r *http.Request) {
	if err := checkContentType(r); err != nil {
		s.writeProblem(w, r, err)
		return
	}
	req, err := decodeRegisterTerminal(r.Body)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	t, err := s.reg.RegisterTerminal(detached(r), req)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusCreated, t)
}

func (s *Server) unregisterTerminal(w http.ResponseWriter, r *http.Request) {
	if err := s.reg.UnregisterTerminal(detached(r)); err != nil {
		s.writeProblem(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) assignSeqrID(w http.ResponseWriter, r *http.Request) {
	var body struct {
		SeqrID string `json:"seqrId"`
	}
	if err := decodeJSON(r, &body); err != nil {
		s.writeProblem(w, r, err)
		return
	}
	// The id's rule is its provider's (SEQR: letters and digits): the
	// register asks it and names the field.
	t, err := s.reg.AssignSeqrID(detached(r), body.SeqrID)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, t)
}

func (s *Server) scanSeqrID(stopping <-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body := struct {
			TimeoutSeconds *int `json:"timeoutSeconds"`
		}{}
		// The body is optional: no body means the default 30 s.
		if r.ContentLength != 0 {
			if err := decodeJSON(r, &body); err != nil && !isEmptyBody(err) {
				s.writeProblem(w, r, err)
				return
			}
		}
		secs := 30
		if body.TimeoutSeconds != nil {
			secs = *body.TimeoutSeconds
		}
		if secs < 1 || secs > maxScanSeconds {
			s.writeProblem(w, r, &register.ValidationError{Field: "timeoutSeconds", Message: "must be from 1 to " + strconv.Itoa(maxScanSeconds)})
			return
		}
		ctx, cancel := untilStopping(r.Context(), stopping)
		defer cancel()
		t, err := s.reg.AssignSeqrIDByScan(ctx, time.Duration(secs)*time.Second)
		if err != nil {
			s.writeProblem(w, r, err)
			return
		}
		s.writeJSON(w, r, http.StatusOK, t)
	}
}

func isEmptyBody(err error) bool {
	re, ok := err.(*requestError)
	return ok && re.Message == emptyBody
}

func (s *Server) createPayment(w http.ResponseWriter, r *http.Request) {
	key, err := idempotencyKey(r)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	if err := checkContentType(r); err != nil {
		s.writeProblem(w, r, err)
		return
	}
	req, err := DecodePaymentRequest(r.Body)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	// Recovery first: a new payment must not race the re-polling of the
	// open ones (ARCHITECTURE.md, money path step 8).
	if !s.isReady() {
		s.writeProblem(w, r, register.ErrNotReady)
		return
	}
	p, created, err := s.reg.CreatePayment(detached(r), key, req)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/payments/"+url.PathEscape(p.ID))
	if !created {
		w.Header().Set("Idempotent-Replayed", "true")
		s.writeJSON(w, r, http.StatusOK, p)
		return
	}
	s.writeJSON(w, r, http.StatusAccepted, p)
}

// listPayments is one page of payments: ?limit=50&cursor=C&state=&provider=
// &from=&to=&saleId=&q=&order=asc|desc -> {"payments":[...],"next":"C2"}.
// Rows are left out (GET /v1/payments/{id} has them), so an answer is at
// most register.MaxListLimit small items whatever the history.
func (s *Server) listPayments(w http.ResponseWriter, r *http.Request) {
	q, err := listQuery(r.URL.Query())
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	page, err := s.reg.Payments(r.Context(), q)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	// Streamed item by item: the answer is never held whole in memory, so
	// concurrent listings cost a page of items each, not their JSON twice.
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 16<<10)
	_, _ = bw.WriteString(`{"payments":[`)
	for i, p := range page.Payments {
		b, err := json.Marshal(p)
		if err != nil {
			return // cannot happen for this plain struct; the client sees a truncated body
		}
		if i > 0 {
			_ = bw.WriteByte(',')
		}
		_, _ = bw.Write(b)
		page.Payments[i] = register.Payment{} // done with it
	}
	_, _ = bw.WriteString("]")
	if page.Next != "" {
		b, _ := json.Marshal(page.Next)
		_, _ = bw.WriteString(`,"next":`)
		_, _ = bw.Write(b)
	}
	_, _ = bw.WriteString("}\n")
	_ = bw.Flush()
}

// listQuery reads the list parameters; each may be given once.
func listQuery(v url.Values) (register.ListQuery, error) {
	var q register.ListQuery
	known := map[string]bool{"limit": true, "cursor": true, "state": true, "provider": true, "from": true, "to": true,
		"saleId": true, "q": true, "order": true}
	for k, vs := range v {
		if !known[k] {
			return q, &requestError{Field: k, Message: "unknown parameter"}
		}
		if len(vs) > 1 {
			return q, &requestError{Field: k, Message: "given more than once"}
		}
		if len(vs[0]) > 256 {
			return q, &requestError{Field: k, Message: "too long"}
		}
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > register.MaxListLimit {
			return q, &requestError{Field: "limit", Message: fmt.Sprintf("must be a whole number from 1 to %d", register.MaxListLimit)}
		}
		q.Limit = n
	}
	q.Cursor = v.Get("cursor")
	q.State = register.State(v.Get("state"))
	if q.State != "" && !q.State.Valid() {
		return q, &requestError{Field: "state",
			Message: "must be one of created, polling, awaiting_decision, paid, canceled, failed, unknown"}
	}
	q.Provider, q.SaleID, q.Q = v.Get("provider"), v.Get("saleId"), v.Get("q")
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		if s := v.Get(f.name); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return q, &requestError{Field: f.name, Message: "must be an RFC 3339 time, e.g. 2026-11-30T00:00:00Z"}
			}
			*f.dst = t
		}
	}
	switch v.Get("order") {
	case "", "asc":
	case "desc":
		q.Desc = true
	default:
		return q, &requestError{Field: "order", Message: "must be asc or desc"}
	}
	return q, nil
}

func (s *Server) payment(w http.ResponseWriter, r *http.Request) {
	d, err := s.reg.PaymentDetail(r.Context(), r.PathValue("id"))
	s.respond(w, r, d, err)
}

func (s *Server) testPrint(w http.ResponseWriter, r *http.Request) {
	if err := s.reg.TestPrint(detached(r)); err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusAccepted, struct {
		Status string `json:"status"`
	}{"queued"})
}

func (s *Server) retry(w http.ResponseWriter, r *http.Request) {
	p, err := s.reg.Retry(detached(r), r.PathValue("id"))
	s.respond(w, r, p, err)
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request) {
	p, err := s.reg.Cancel(detached(r), r.PathValue("id"))
	s.respond(w, r, p, err)
}

// refund needs an Idempotency-Key like createPayment: a retry after a lost
// answer must never refund twice. The same key and body gives the same
// refund (200, Idempotent-Replayed) or the same outcome.
func (s *Server) refund(w http.ResponseWriter, r *http.Request) {
	s.adjust(w, r, func(key string) (register.Refund, bool, error) {
		req, err := decodeRefund(r.Body)
		if err != nil {
			return register.Refund{}, false, err
		}
		return s.reg.Refund(detached(r), r.PathValue("id"), key, req)
	})
}

func (s *Server) annul(w http.ResponseWriter, r *http.Request) {
	s.adjust(w, r, func(key string) (register.Refund, bool, error) {
		req, err := decodeAnnul(r.Body)
		if err != nil {
			return register.Refund{}, false, err
		}
		return s.reg.Annul(detached(r), r.PathValue("id"), key, req)
	})
}

func (s *Server) debit(w http.ResponseWriter, r *http.Request) {
	s.adjust(w, r, func(key string) (register.Refund, bool, error) {
		req, err := decodeDebit(r.Body)
		if err != nil {
			return register.Refund{}, false, err
		}
		return s.reg.AdditionalDebit(detached(r), r.PathValue("id"), key, req)
	})
}

// adjust answers a refund, annulment or debit: 201 when made now, 200 with
// Idempotent-Replayed when the key made it before.
func (s *Server) adjust(w http.ResponseWriter, r *http.Request, do func(key string) (register.Refund, bool, error)) {
	key, err := idempotencyKey(r)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	if err := checkContentType(r); err != nil {
		s.writeProblem(w, r, err)
		return
	}
	rf, created, err := do(key)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	if !created {
		w.Header().Set("Idempotent-Replayed", "true")
		s.writeJSON(w, r, http.StatusOK, rf)
		return
	}
	s.writeJSON(w, r, http.StatusCreated, rf)
}

func (s *Server) reprint(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.reg.ReprintReceipt(detached(r), id); err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusAccepted, struct {
		PaymentID string `json:"paymentId"`
		Status    string `json:"status"`
		Copy      bool   `json:"copy"`
	}{id, "queued", true})
}

func (s *Server) journal(w http.ResponseWriter, r *http.Request) {
	var after int64
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			s.writeProblem(w, r, &requestError{Field: "after", Message: "must be a sequence number, 0 or more"})
			return
		}
		after = n
	}
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			s.writeProblem(w, r, &requestError{Field: "limit", Message: "must be a whole number from 1 to 1000"})
			return
		}
		limit = n
	}
	posts, err := s.reg.Journal(r.Context(), after, limit)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	if posts == nil {
		posts = []receipt.Post{}
	}
	s.writeJSON(w, r, http.StatusOK, struct {
		Posts []receipt.Post `json:"posts"`
	}{posts})
}

func (s *Server) closePeriod(w http.ResponseWriter, r *http.Request) {
	rep, err := s.reg.ClosePeriod(detached(r), r.URL.Query().Get("provider"))
	s.respond(w, r, rep, err)
}

// respond answers a read or a command: the problem for err, else v as JSON
// with 200.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, v)
}
