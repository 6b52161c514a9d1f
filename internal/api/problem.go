package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"go.uber.org/zap"

	"github.com/posd/posd/internal/register"
)

// ProblemBase prefixes every problem type URI. The URIs are identifiers, not
// pages that must resolve; they are stable and listed in api/openapi.yaml.
const ProblemBase = "https://posd.dev/problems/"

// Problem is an RFC 9457 problem detail. Field names the JSON path (or the
// header or query parameter) that is wrong, when one is known.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	Field    string `json:"field,omitempty"`

	retryAfter   int  // seconds; 0 = no Retry-After header
	invalidToken bool // 401 for a token that was sent but is wrong (RFC 6750 error="invalid_token")
}

// requestError is an error of the request itself (malformed JSON, a missing
// header, an unknown field): 400, with the field named.
type requestError struct {
	Field   string
	Message string
}

func (e *requestError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// httpError is a problem the HTTP layer itself decides (401, 403, 404, 405,
// 413, 415) rather than the register.
type httpError struct {
	status int
	slug   string
	title  string
	detail string

	invalidToken bool
	retryAfter   int // seconds; 0 = no Retry-After header
}

func (e *httpError) Error() string { return e.detail }

// internalDetail is all a client learns of an unexpected error: the cause
// may carry anything, so it goes to the log instead.
const internalDetail = "internal error; the cause is in posd's log"

// problemFor is the one place that maps an error to a problem. Register
// sentinels keep their message as the detail: register words them for the
// cashier and never puts secrets in them.
func problemFor(err error) Problem {
	var (
		ve  *register.ValidationError
		re  *requestError
		he  *httpError
		mbe *http.MaxBytesError
	)
	p := func(status int, slug, title string) Problem {
		return Problem{Type: ProblemBase + slug, Title: title, Status: status, Detail: err.Error()}
	}
	switch {
	case errors.As(err, &he):
		return Problem{Type: ProblemBase + he.slug, Title: he.title, Status: he.status, Detail: he.detail,
			invalidToken: he.invalidToken, retryAfter: he.retryAfter}
	case errors.As(err, &mbe):
		return Problem{Type: ProblemBase + "payload-too-large", Title: "Request body too large", Status: http.StatusRequestEntityTooLarge,
			Detail: "request body is larger than " + strconv.FormatInt(mbe.Limit, 10) + " bytes"}
	case errors.As(err, &re):
		return Problem{Type: ProblemBase + "invalid-request", Title: "Invalid request", Status: http.StatusBadRequest, Detail: re.Error(), Field: re.Field}
	case errors.As(err, &ve):
		return Problem{Type: ProblemBase + "validation", Title: "Invalid value", Status: http.StatusUnprocessableEntity, Detail: ve.Error(), Field: ve.Field}
	case errors.Is(err, register.ErrNotFound):
		return p(http.StatusNotFound, "not-found", "Not found")
	case errors.Is(err, register.ErrRefundOutcomeUnknown):
		// No Retry-After: a second refund could pay the customer twice.
		return p(http.StatusConflict, "outcome-unknown", "Refund outcome unknown")
	case errors.Is(err, register.ErrOutcomeUnknown):
		// No Retry-After either: an annulment or debit may have been made.
		return p(http.StatusConflict, "outcome-unknown", "Outcome unknown")
	case errors.Is(err, register.ErrOffline):
		q := p(http.StatusServiceUnavailable, "offline", "Payment provider unreachable")
		q.retryAfter = 5
		return q
	case errors.Is(err, register.ErrNotReady):
		q := p(http.StatusServiceUnavailable, "not-ready", "Recovering open payments")
		q.retryAfter = 1
		return q
	case errors.Is(err, register.ErrNotRegistered):
		return p(http.StatusConflict, "not-registered", "Terminal not registered")
	case errors.Is(err, register.ErrNoSeqrID):
		return p(http.StatusConflict, "no-seqr-id", "Terminal has no SEQR id")
	case errors.Is(err, register.ErrAlreadyRegistered):
		return p(http.StatusConflict, "already-registered", "Terminal already registered")
	case errors.Is(err, register.ErrStorage):
		q := p(http.StatusServiceUnavailable, "storage", "Storage unavailable")
		q.retryAfter = 5
		return q
	case errors.Is(err, register.ErrIdempotencyKey):
		q := p(http.StatusUnprocessableEntity, "idempotency-key", "Idempotency key reused with another request")
		q.Field = "Idempotency-Key"
		return q
	case errors.Is(err, register.ErrInvalidState):
		return p(http.StatusConflict, "invalid-state", "Not allowed in the payment's current state")
	case errors.Is(err, register.ErrRefundExceeds):
		q := p(http.StatusUnprocessableEntity, "refund-exceeds", "Refunds would exceed the amount paid")
		q.Field = "amount"
		return q
	case errors.Is(err, register.ErrScanTimeout):
		return p(http.StatusRequestTimeout, "scan-timeout", "No scan before the timeout")
	case errors.Is(err, register.ErrCustomerPaid):
		// Before provider-rejected, which it wraps: SEQR refused the cancel
		// because the customer has paid. The front end must not void the sale.
		return p(http.StatusConflict, "customer-paid", "The customer has paid; do not void the sale")
	case errors.Is(err, register.ErrProviderRejected):
		return p(http.StatusBadGateway, "provider-rejected", "Payment provider refused the request")
	case errors.Is(err, register.ErrReportNotReady):
		q := p(http.StatusServiceUnavailable, "report-not-ready", "Reconciliation report not ready")
		q.retryAfter = 10
		return q
	case errors.Is(err, register.ErrNoScanner):
		return p(http.StatusConflict, "no-scanner", "No scanner configured")
	case errors.Is(err, register.ErrPaymentOpen):
		return p(http.StatusConflict, "payment-open", "Another payment is still open on this till")
	case errors.Is(err, register.ErrProviderNotReady):
		return p(http.StatusConflict, "provider-not-ready", "Payment provider not ready")
	case errors.Is(err, register.ErrNotSupported):
		return p(http.StatusNotImplemented, "not-supported", "Not supported by the configured payment providers")
	}
	return Problem{Type: ProblemBase + "internal", Title: "Internal error", Status: http.StatusInternalServerError, Detail: internalDetail}
}

// writeProblem answers with the problem for err. Unexpected errors (500) are
// logged here, once, with the request; every other error is the client's
// answer and is not logged.
func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, err error) {
	pr := problemFor(err)
	pr.Instance = r.URL.Path
	if pr.Status == http.StatusInternalServerError {
		if r.Context().Err() != nil || errors.Is(err, context.Canceled) {
			// The client went away or posd is stopping; nobody reads this answer.
			s.log.Debug("request abandoned", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err))
		} else {
			s.log.Error("request failed", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err))
		}
	}
	writeProblemValue(w, pr)
}

func writeProblemValue(w http.ResponseWriter, pr Problem) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Del("Content-Length")
	if pr.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(pr.retryAfter))
	}
	if pr.Status == http.StatusUnauthorized {
		if pr.invalidToken {
			h.Set("WWW-Authenticate", `Bearer realm="posd", error="invalid_token"`)
		} else {
			h.Set("WWW-Authenticate", `Bearer realm="posd"`)
		}
	}
	w.WriteHeader(pr.Status)
	b, _ := json.Marshal(pr)
	_, _ = w.Write(append(b, '\n'))
}
