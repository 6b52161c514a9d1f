package api

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func pageCSPHeader(t *testing.T, origins []string) string {
	t.Helper()
	srv, err := New(Config{Token: testToken, FrameOrigins: origins}, newSpy(t))
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	srv.handler(false, nil).ServeHTTP(rec, httptest.NewRequest("GET", "http://127.0.0.1/", nil))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	return rec.Header().Get("Content-Security-Policy")
}

// The cashier page may frame the configured checkout origins and nothing
// else; a value that is not a plain origin adds nothing to the policy.
func TestPageCSPFrameOrigins(t *testing.T) {
	csp := pageCSPHeader(t, nil)
	assert.NotContains(t, csp, "frame-src", "no provider with a checkout: default-src 'none' forbids frames")
	assert.Contains(t, csp, "default-src 'none'")

	csp = pageCSPHeader(t, []string{
		"https://postest.resurs.com/", "HTTP://127.0.0.1:9999", "https://postest.resurs.com",
		"https://evil.example; script-src *", "javascript:alert(1)", "https://x.example/path", "https://u:p@x.example", "",
	})
	assert.Contains(t, csp, "; frame-src https://postest.resurs.com http://127.0.0.1:9999")
	assert.NotContains(t, csp, "evil")
	assert.NotContains(t, csp, "script-src *")
	assert.NotContains(t, csp, "javascript")
	assert.NotContains(t, csp, "x.example")
	assert.Contains(t, csp, "frame-ancestors 'none'")
}
