package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/posd/posd/internal/register"
)

func TestProblemForEverySentinel(t *testing.T) {
	tests := []struct {
		err        error
		status     int
		slug       string
		field      string
		retryAfter int
	}{
		{&register.ValidationError{Field: "rows[2].totalAmount", Message: "bad"}, 422, "validation", "rows[2].totalAmount", 0},
		{register.ErrNotFound, 404, "not-found", "", 0},
		{register.ErrOffline, 503, "offline", "", 5},
		{register.ErrNotReady, 503, "not-ready", "", 1},
		{register.ErrNotRegistered, 409, "not-registered", "", 0},
		{register.ErrNoSeqrID, 409, "no-seqr-id", "", 0},
		{register.ErrAlreadyRegistered, 409, "already-registered", "", 0},
		{register.ErrStorage, 503, "storage", "", 5},
		{register.ErrIdempotencyKey, 422, "idempotency-key", "Idempotency-Key", 0},
		{register.ErrInvalidState, 409, "invalid-state", "", 0},
		{register.ErrRefundExceeds, 422, "refund-exceeds", "amount", 0},
		{register.ErrScanTimeout, 408, "scan-timeout", "", 0},
		{register.ErrProviderRejected, 502, "provider-rejected", "", 0},
		{register.ErrRefundOutcomeUnknown, 409, "outcome-unknown", "", 0},
		{register.ErrCustomerPaid, 409, "customer-paid", "", 0},
		{register.ErrReportNotReady, 503, "report-not-ready", "", 10},
		{&requestError{Field: "amount", Message: "must be a string"}, 400, "invalid-request", "amount", 0},
		{&http.MaxBytesError{Limit: MaxBodyBytes}, 413, "payload-too-large", "", 0},
		{context.Canceled, 500, "internal", "", 0},
		{errors.New("boom"), 500, "internal", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.slug, func(t *testing.T) {
			// Wrapped as register wraps them: the mapping must see through.
			err := fmt.Errorf("create payment p1: %w", tt.err)
			p := problemFor(err)
			assert.Equal(t, tt.status, p.Status)
			assert.Equal(t, ProblemBase+tt.slug, p.Type)
			assert.NotEmpty(t, p.Title)
			assert.NotEmpty(t, p.Detail)
			assert.Equal(t, tt.field, p.Field)
			assert.Equal(t, tt.retryAfter, p.retryAfter)
			if _, isHTTP := tt.err.(*http.MaxBytesError); !isHTTP && tt.status != 500 {
				assert.Contains(t, p.Detail, tt.err.Error(), "the register's message reaches the cashier")
			}
		})
	}
}

func TestMissingStepIsNamed(t *testing.T) {
	assert.Contains(t, problemFor(register.ErrNotRegistered).Detail, "register the till")
	assert.Contains(t, problemFor(register.ErrNoSeqrID).Detail, "assign")
}

// TestProblemsOverHTTP drives each sentinel through a route and checks the
// wire form: content type, status, Retry-After, instance.
func TestProblemsOverHTTP(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	spy := newSpy(t)
	ts := startServer(t, spy, func(c *Config) { c.Logger = zap.New(core) })
	tests := []struct {
		err    error
		status int
		retry  string
	}{
		{register.ErrOffline, 503, "5"},
		{register.ErrNotReady, 503, "1"},
		{register.ErrNotRegistered, 409, ""},
		{register.ErrNoSeqrID, 409, ""},
		{register.ErrStorage, 503, "5"},
		{register.ErrIdempotencyKey, 422, ""},
		{&register.ValidationError{Field: "rows[0].taxRate", Message: "no such rate"}, 422, ""},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			spy.setErr(tt.err)
			resp := ts.do(t, "POST", "/v1/payments", validPayment, withKey("k"))
			require.Equal(t, tt.status, resp.StatusCode)
			assert.Equal(t, tt.retry, resp.Header.Get("Retry-After"))
			p := readProblem(t, resp)
			assert.Equal(t, "/v1/payments", p.Instance)
		})
	}
	assert.Zero(t, logs.FilterMessage("request failed").Len(), "client errors are answers, not log lines")

	t.Run("unexpected errors are generic and logged once", func(t *testing.T) {
		const canary = "canary-password-7f3a"
		spy.setErr(fmt.Errorf("soap fault: password %s rejected", canary))
		resp := ts.do(t, "GET", "/v1/status", "", nil)
		require.Equal(t, 500, resp.StatusCode)
		p := readProblem(t, resp)
		assert.Equal(t, ProblemBase+"internal", p.Type)
		assert.NotContains(t, p.Detail, canary)
		assert.Equal(t, internalDetail, p.Detail)
		entries := logs.FilterMessage("request failed").All()
		require.Len(t, entries, 1)
	})
}

func TestProblemTypesAreDocumented(t *testing.T) {
	doc := readOpenAPI(t)
	for _, slug := range []string{"validation", "invalid-request", "unauthorized", "forbidden-host", "cross-origin", "not-found",
		"method-not-allowed", "payload-too-large", "unsupported-media-type", "offline", "not-ready", "not-registered",
		"no-seqr-id", "already-registered", "storage", "idempotency-key", "invalid-state", "refund-exceeds", "scan-timeout",
		"provider-rejected", "report-not-ready", "outcome-unknown", "customer-paid", "internal",
		"header-too-large", "too-many-streams", "too-busy", "payment-open", "provider-not-ready", "no-scanner", "not-supported"} {
		assert.True(t, strings.Contains(doc.raw, ProblemBase+slug), "problem type %s missing from api/openapi.yaml", slug)
	}
}
