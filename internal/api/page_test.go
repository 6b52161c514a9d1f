package api

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPageLanguage: the page's language follows Accept-Language, Swedish
// unless the browser prefers English; the answer varies on the header.
func TestPageLanguage(t *testing.T) {
	ts := startServer(t, newSpy(t), nil)
	cases := []struct{ accept, want string }{
		{"", "sv"},
		{"sv-SE,sv;q=0.9,en;q=0.8", "sv"},
		{"en-US,en;q=0.9", "en"},
		{"en-GB", "en"},
		{"de-DE,de;q=0.9", "sv"},
		{"de-DE,en;q=0.5", "en"},
		{"nonsense;;;", "sv"},
	}
	for _, c := range cases {
		t.Run(c.accept, func(t *testing.T) {
			resp := ts.do(t, "GET", "/", "", func(r *http.Request) {
				r.Header.Del("Authorization")
				if c.accept != "" {
					r.Header.Set("Accept-Language", c.accept)
				}
			})
			defer resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.True(t, strings.Contains(string(b), `<html lang="`+c.want+`">`), "lang %s for %q", c.want, c.accept)
			assert.Equal(t, "Accept-Language", resp.Header.Get("Vary"))
			assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "script-src 'self'")
		})
	}
}

// TestPageAssets: every script and stylesheet the page names is served
// from this origin (no inline code: the CSP forbids it).
func TestPageAssets(t *testing.T) {
	ts := startServer(t, newSpy(t), nil)
	resp := ts.do(t, "GET", "/", "", nil)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	page := string(b)
	assert.NotContains(t, page, "<script>", "no inline script")
	assert.NotContains(t, page, "style=", "no inline style")
	for _, a := range []string{"app.js", "qr.js", "app.css"} {
		require.Contains(t, page, "/assets/"+a)
		r := ts.do(t, "GET", "/assets/"+a, "", nil)
		r.Body.Close()
		assert.Equal(t, http.StatusOK, r.StatusCode, a)
	}
}
