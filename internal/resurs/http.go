package resurs

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/posd/posd/internal/soap"
	"go.uber.org/zap"
)

// DefaultTimeout bounds one round trip of the default HTTP client.
const DefaultTimeout = 15 * time.Second

// Transport is what every Resurs client shares: the HTTP client and the logger.
type Transport struct {
	HTTP   *http.Client // nil: explicit timeouts, TLS 1.2 minimum, no redirects
	Roots  *x509.CertPool
	Logger *zap.Logger // nil: no logging
}

func (t Transport) client() *http.Client {
	if t.HTTP != nil {
		return t.HTTP
	}
	return soap.NewHTTPClient(t.Roots, DefaultTimeout)
}

func (t Transport) logger() *zap.Logger {
	if t.Logger != nil {
		return t.Logger
	}
	return zap.NewNop()
}

// checkBase checks that s is an absolute http(s) URL with a host and returns
// it without a trailing slash.
func checkBase(what, s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("resurs: config %s %q must be an http:// or https:// URL with a host", what, s)
	}
	if u.User != nil {
		return "", fmt.Errorf("resurs: config %s must not carry credentials", what)
	}
	return strings.TrimRight(s, "/"), nil
}

// restResult is an answered REST call.
type restResult struct {
	status int
	header http.Header
	body   []byte
}

// rest sends one JSON request. in (may be nil) is the JSON body; auth sets
// the credentials. An error is returned only when no answer was read: it
// matches ErrNotSent when nothing certainly left.
func rest(ctx context.Context, hc *http.Client, log *zap.Logger, op, method, u string, in any, auth func(*http.Request)) (restResult, error) {
	start := time.Now()
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return restResult{}, invalid(op, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return restResult{}, &soap.NotSentError{Err: err}
	}
	var gotConn atomic.Bool
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) }}
	var rd io.Reader // stays a nil interface for a GET (a nil *bytes.Reader would not be)
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), method, u, rd)
	if err != nil {
		return restResult{}, invalid(op, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != nil {
		auth(req)
	}
	hr, err := hc.Do(req)
	if err != nil {
		log.Debug("resurs call", zap.String("op", op), zap.Duration("duration", time.Since(start)), zap.Error(err))
		if soap.NeverSent(hc, err, gotConn.Load()) {
			return restResult{}, fmt.Errorf("resurs %s: %w", op, &soap.NotSentError{Err: err})
		}
		return restResult{}, fmt.Errorf("resurs %s: %w", op, err)
	}
	defer hr.Body.Close()
	raw, err := soap.ReadBody(hr)
	// Bodies are not logged: they carry customers' personal data.
	log.Debug("resurs call", zap.String("op", op), zap.Int("status", hr.StatusCode), zap.Duration("duration", time.Since(start)))
	if err != nil {
		return restResult{}, fmt.Errorf("resurs %s: read response (HTTP %d): %w", op, hr.StatusCode, err)
	}
	return restResult{status: hr.StatusCode, header: hr.Header, body: raw}, nil
}

// apiErrorOf reads any of the error shapes of A.4.
func apiErrorOf(op string, r restResult) *APIError {
	e := &APIError{Op: op, Status: r.status}
	var b struct {
		Message         string          `json:"message"`
		Description     string          `json:"description"`
		DetailedMessage string          `json:"detailedMessage"`
		ErrorMessage    string          `json:"errorMessage"`
		ErrorCode       json.RawMessage `json:"errorCode"`
		Code            json.RawMessage `json:"code"`
		SessionStatus   string          `json:"sessionStatus"`
		UserMessage     string          `json:"userMessage"`
		ValidTo         json.RawMessage `json:"validTo"`
	}
	if err := json.Unmarshal(r.body, &b); err != nil {
		e.Message = snippet(r.body)
		return e
	}
	e.Message = firstNonEmpty(b.Message, b.DetailedMessage, b.Description, b.ErrorMessage)
	e.SessionStatus, e.UserMessage = strings.ToUpper(strings.TrimSpace(b.SessionStatus)), strings.TrimSpace(b.UserMessage)
	if len(b.ValidTo) > 0 {
		_ = e.ValidTo.UnmarshalJSON(b.ValidTo) // a hint only: unreadable means absent
	}
	e.Code = rawScalar(b.ErrorCode)
	if e.Code == "" {
		e.Code = rawScalar(b.Code)
	}
	return e
}

// rawScalar renders a JSON string or number as text.
func rawScalar(m json.RawMessage) string {
	s := strings.TrimSpace(string(m))
	if s == "" || s == "null" {
		return ""
	}
	var str string
	if json.Unmarshal(m, &str) == nil {
		return str
	}
	if jsonNumber(s) {
		return s
	}
	return ""
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return ""
}

// snippet is the start of a non-JSON body, for an error message.
func snippet(b []byte) string {
	s := strings.ToValidUTF8(strings.TrimSpace(string(b)), "?")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

var errEmptyBody = errors.New("empty response body")
