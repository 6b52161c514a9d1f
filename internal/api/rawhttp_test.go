package api

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawRoundTrip sends req as bytes (no client library to clean or refuse
// it) and reads one answer.
func rawRoundTrip(t *testing.T, addr, req string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	// A bound on failure only: every case is answered at once.
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = io.WriteString(conn, req)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

func requireProblem(t *testing.T, resp *http.Response, body []byte) Problem {
	t.Helper()
	require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"), "body: %s", body)
	var p Problem
	require.NoError(t, json.Unmarshal(body, &p), "body: %s", body)
	require.Equal(t, resp.StatusCode, p.Status)
	require.True(t, strings.HasPrefix(p.Type, ProblemBase), p.Type)
	require.NotEmpty(t, p.Title)
	assert.Empty(t, resp.Header.Get("Location"), "no API answer redirects")
	return p
}

// TestGoErrorsBecomeProblems: the answers net/http writes itself, before
// any handler, to requests it cannot parse are problem documents too.
func TestGoErrorsBecomeProblems(t *testing.T) {
	ts := startServer(t, newSpy(t), nil)
	addr := ts.srv.Addr().String()
	auth := "Authorization: Bearer " + testToken + "\r\n"
	for _, tc := range []struct {
		name   string
		req    string
		status int
		typ    string
		detail string
	}{
		{"malformed Host", "GET /v1/status HTTP/1.1\r\nHost: local host\r\n" + auth + "\r\n", 400, "invalid-request", "malformed Host header"},
		{"missing Host", "GET /v1/status HTTP/1.1\r\n" + auth + "\r\n", 400, "invalid-request", "missing required Host header"},
		{"bad percent escape", "GET /v1/payments/%zz HTTP/1.1\r\nHost: localhost\r\n" + auth + "\r\n", 400, "invalid-request", "malformed HTTP request"},
		{"invalid header name", "GET /v1/status HTTP/1.1\r\nHost: localhost\r\nBad Name: x\r\n" + auth + "\r\n", 400, "invalid-request", "invalid header name"},
		{"oversized header", "GET /v1/status HTTP/1.1\r\nHost: localhost\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\n" + auth + "\r\n",
			431, "header-too-large", "larger than 16 KiB"},
		{"unknown transfer coding", "POST /v1/payments HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n" + auth + "\r\n", 501, "invalid-request", "Transfer-Encoding"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := rawRoundTrip(t, addr, tc.req)
			require.Equal(t, tc.status, resp.StatusCode, "body: %s", body)
			p := requireProblem(t, resp, body)
			assert.Equal(t, ProblemBase+tc.typ, p.Type)
			assert.Contains(t, p.Detail, tc.detail)
			assert.True(t, resp.Close, "the connection is closed after the answer")
			assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
		})
	}
	assert.Zero(t, ts.spy.Mutations())
}

// TestNoRedirects: paths ServeMux would clean and redirect (307/301) are
// answered with a problem instead.
func TestNoRedirects(t *testing.T) {
	spy := newSpy(t)
	p := spy.st.open("k1")
	ts := startServer(t, spy, nil)
	addr := ts.srv.Addr().String()
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/v1/payments/..", 400},
		{"/v1/payments/.", 400},
		{"/v1/payments/p1/..", 400},
		{"/v1/payments/p1/../p1", 400},
		{"//v1/status", 400},
		{"/v1//status", 400},
		{"/v1/payments//p1", 400},
		{"/v1/status/", 404},
		{"/assets", 404},
		{"/v1/payments/", 404},
		{"/v1/payments/%2e%2e", 400},
	} {
		for _, method := range []string{"GET", "POST"} {
			t.Run(method+" "+tc.path, func(t *testing.T) {
				req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\nContent-Length: 0\r\n\r\n", method, tc.path, testToken)
				resp, body := rawRoundTrip(t, addr, req)
				if method == "POST" && tc.status == 404 && resp.StatusCode == 405 {
					tc.status = 405 // the route exists for another method
				}
				require.Equal(t, tc.status, resp.StatusCode, "body: %s", body)
				requireProblem(t, resp, body)
			})
		}
	}
	t.Run("a clean path still works", func(t *testing.T) {
		resp, body := rawRoundTrip(t, addr, "GET /v1/payments/"+p.ID+" HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer "+testToken+"\r\n\r\n")
		require.Equal(t, 200, resp.StatusCode, "body: %s", body)
	})
}

func TestProblemForGoErrorLeavesOtherWritesAlone(t *testing.T) {
	for _, b := range []string{
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nok",
		"HTTP/1.1 400 Bad Request\r\nCache-Control: no-store\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nx",
		"HTTP/1.1 400 Bad Request\r\nContent-Type: application/problem+json\r\nDate: x\r\n\r\n{}",
		`{"type":"x"}`,
		"HTTP/1.1 4",
		"",
	} {
		_, ok := problemForGoError([]byte(b))
		assert.False(t, ok, "%q", b)
	}
	p, ok := problemForGoError([]byte("HTTP/1.1 400 Bad Request: invalid header value" + goErrorHeaders + "400 Bad Request: invalid header value"))
	require.True(t, ok)
	assert.Equal(t, "invalid header value", p.Detail)
}
