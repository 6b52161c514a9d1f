package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testToken = "0123456789abcdef0123456789abcdef"

type testServer struct {
	srv    *Server
	spy    *spyRegister
	base   string // http://127.0.0.1:PORT
	port   string
	client *http.Client
	stop   func() error // cancels Serve and returns its error
}

func startServer(t testing.TB, spy *spyRegister, mod func(*Config)) *testServer {
	t.Helper()
	return startServerWith(t, spy, spy, mod)
}

// startServerWith serves the API in front of reg; spy is reg when it is
// the spy (nil for the bare register).
func startServerWith(t testing.TB, reg Register, spy *spyRegister, mod func(*Config)) *testServer {
	t.Helper()
	cfg := Config{Token: testToken, Heartbeat: time.Hour}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := New(cfg, reg)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	<-srv.Listening()
	var stopped bool
	var stopErr error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			stopErr = <-done
		}
		return stopErr
	}
	t.Cleanup(func() { _ = stop() })
	_, port, _ := net.SplitHostPort(srv.Addr().String())
	return &testServer{srv: srv, spy: spy, base: "http://" + srv.Addr().String(), port: port,
		client: &http.Client{Transport: &http.Transport{}}, stop: stop}
}

// do sends a request with the token; mod may change it before sending.
func (ts *testServer) do(t testing.TB, method, path, body string, mod func(*http.Request)) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.base+path, rd)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if mod != nil {
		mod(req)
	}
	resp, err := ts.client.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readProblem(t testing.TB, resp *http.Response) Problem {
	t.Helper()
	require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
	var p Problem
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&p))
	require.Equal(t, resp.StatusCode, p.Status)
	return p
}

const validPayment = `{"method":"seqr","saleId":"S1","cashierId":"C1","title":"Sale","amount":"20.00","currency":"SEK",
"receiptTotal":"20.00","rows":[{"description":"Kaffe","quantity":"1","unitPrice":"20.00","totalAmount":"20.00","taxRate":"12"}]}`

func withKey(k string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Idempotency-Key", k) }
}

func TestAuth(t *testing.T) {
	ts := startServer(t, newSpy(t), nil)
	tests := []struct {
		name, method, path, auth string
		want                     int
	}{
		{"no token", "GET", "/v1/status", "", 401},
		{"wrong token", "GET", "/v1/status", "Bearer nope", 401},
		{"wrong scheme", "GET", "/v1/status", "Basic " + testToken, 401},
		{"token of other length", "GET", "/v1/status", "Bearer " + testToken + "x", 401},
		{"right token", "GET", "/v1/status", "Bearer " + testToken, 200},
		{"lower-case scheme", "GET", "/v1/status", "bearer " + testToken, 200},
		{"healthz is public", "GET", "/healthz", "", 200},
		{"page is public", "GET", "/", "", 200},
		{"asset is public", "GET", "/assets/app.js", "", 200},
		{"metrics needs token", "GET", "/metrics", "", 401},
		{"write needs token", "POST", "/v1/payments/p1/cancel", "", 401},
		{"unknown route needs token", "GET", "/v1/nothing", "", 401},
		{"unknown route with token", "GET", "/v1/nothing", "Bearer " + testToken, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := ts.do(t, tt.method, tt.path, "", func(r *http.Request) {
				r.Header.Del("Authorization")
				if tt.auth != "" {
					r.Header.Set("Authorization", tt.auth)
				}
			})
			require.Equal(t, tt.want, resp.StatusCode)
			if tt.want == 401 {
				want := `Bearer realm="posd"`
				if tt.auth != "" {
					want += `, error="invalid_token"`
				}
				assert.Equal(t, want, resp.Header.Get("WWW-Authenticate"))
				p := readProblem(t, resp)
				assert.Equal(t, ProblemBase+"unauthorized", p.Type)
				assert.NotContains(t, p.Detail, testToken)
			}
		})
	}
	assert.Zero(t, ts.spy.Mutations(), "a refused request reached the register")
}

func TestHostCheck(t *testing.T) {
	ts := startServer(t, newSpy(t), nil)
	tests := []struct {
		host string
		want int
	}{
		{"evil.example:" + ts.port, 403},
		{"evil.example", 403},
		{"127.0.0.1.nip.io:" + ts.port, 403},
		{"localhost.:" + ts.port, 403},
		{"10.0.0.1:" + ts.port, 403},
		{"unix", 403}, // only over a unix socket
		{"localhost:" + ts.port, 200},
		{"LOCALHOST:" + ts.port, 200},
		{"127.0.0.1:" + ts.port, 200},
		{"127.0.0.1", 200},
		{"[::1]:" + ts.port, 200},
		{"[::1]", 200},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			// healthz too: rebinding must not even learn that posd is there.
			for _, path := range []string{"/v1/status", "/healthz"} {
				resp := ts.do(t, "GET", path, "", func(r *http.Request) { r.Host = tt.host })
				require.Equal(t, tt.want, resp.StatusCode, path)
				if tt.want == 403 {
					assert.Equal(t, ProblemBase+"forbidden-host", readProblem(t, resp).Type)
				}
			}
		})
	}
}

func TestCrossOriginWrites(t *testing.T) {
	ts := startServer(t, newSpy(t), func(c *Config) { c.TrustedOrigins = []string{"http://pos.internal:3000"} })
	tests := []struct {
		name    string
		headers map[string]string
		want    int
	}{
		{"foreign origin", map[string]string{"Origin": "https://evil.example"}, 403},
		{"foreign origin with our port", map[string]string{"Origin": "http://evil.example:" + ts.port}, 403},
		{"null origin", map[string]string{"Origin": "null"}, 403},
		{"sec-fetch-site cross-site", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"sec-fetch-site same-site", map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"cross-site with loopback origin", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://localhost:9999"}, 403},
		{"same origin page", map[string]string{"Origin": "http://127.0.0.1:" + ts.port, "Sec-Fetch-Site": "same-origin"}, 202},
		{"no browser headers (curl)", nil, 202},
		{"trusted origin", map[string]string{"Origin": "http://pos.internal:3000", "Sec-Fetch-Site": "cross-site"}, 202},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := ts.spy.Mutations()
			resp := ts.do(t, "POST", "/v1/payments", validPayment, func(r *http.Request) {
				r.Header.Set("Idempotency-Key", fmt.Sprintf("k-%d", i))
				for k, v := range tt.headers {
					r.Header.Set(k, v)
				}
			})
			require.Equal(t, tt.want, resp.StatusCode, "case %d", i)
			assert.Empty(t, resp.Header.Values("Access-Control-Allow-Origin"))
			if tt.want == 403 {
				assert.Equal(t, ProblemBase+"cross-origin", readProblem(t, resp).Type)
				assert.Equal(t, before, ts.spy.Mutations(), "refused write reached the register")
			}
		})
	}
	t.Run("PUT and DELETE too", func(t *testing.T) {
		for _, m := range []struct{ method, path, body string }{
			{"PUT", "/v1/terminal/seqr-id", `{"seqrId":"ABC"}`},
			{"DELETE", "/v1/terminal", ""},
		} {
			resp := ts.do(t, m.method, m.path, m.body, func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") })
			assert.Equal(t, 403, resp.StatusCode, m.method)
		}
	})
	t.Run("safe methods with a foreign origin are served, without CORS", func(t *testing.T) {
		resp := ts.do(t, "GET", "/v1/status", "", func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") })
		assert.Equal(t, 200, resp.StatusCode)
		assert.Empty(t, resp.Header.Values("Access-Control-Allow-Origin"))
	})
}

// TestNoCORSHeaderAnywhere: no route, method or origin ever gets
// Access-Control-Allow-Origin, so a browser never lets another site read
// an answer.
func TestNoCORSHeaderAnywhere(t *testing.T) {
	ts := startServer(t, newSpy(t), nil)
	for _, rt := range ts.srv.routes(nil) {
		path := strings.ReplaceAll(strings.ReplaceAll(rt.Pattern, "{id}", "p1"), "{name}", "app.js")
		path = strings.TrimSuffix(path, "{$}")
		for _, method := range []string{"OPTIONS", rt.Method} {
			for _, origin := range []string{"https://evil.example", "http://localhost:1", "null"} {
				resp := ts.do(t, method, path, "", func(r *http.Request) {
					r.Header.Set("Origin", origin)
					r.Header.Set("Access-Control-Request-Method", "POST")
				})
				assert.Empty(t, resp.Header.Values("Access-Control-Allow-Origin"), "%s %s from %s", method, path, origin)
				assert.Empty(t, resp.Header.Values("Access-Control-Allow-Credentials"))
			}
		}
	}
}

// TestGetChangesNoState: every GET route leaves the register untouched, and
// GET (or HEAD) on a write route is a 405, never the write.
func TestGetChangesNoState(t *testing.T) {
	spy := newSpy(t)
	ts := startServer(t, spy, func(c *Config) { c.Metrics = http.NotFoundHandler() })
	ts.do(t, "POST", "/v1/payments", validPayment, withKey("k1"))
	before := spy.Mutations()
	for _, rt := range ts.srv.routes(nil) {
		path := strings.ReplaceAll(strings.ReplaceAll(rt.Pattern, "{id}", "p1"), "{name}", "app.js")
		path = strings.TrimSuffix(path, "{$}")
		if rt.Method == "GET" {
			if strings.HasSuffix(path, "/events") {
				continue // streams; covered in events_test.go
			}
			ts.do(t, "GET", path, "", nil)
			ts.do(t, "HEAD", path, "", nil)
			continue
		}
		for _, m := range []string{"GET", "HEAD"} {
			resp := ts.do(t, m, path, "", nil)
			if path == "/v1/terminal" || path == "/v1/payments" {
				continue // these paths also have a GET route
			}
			require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, "%s %s", m, path)
			assert.Contains(t, resp.Header.Get("Allow"), rt.Method)
			if m == "GET" {
				assert.Equal(t, ProblemBase+"method-not-allowed", readProblem(t, resp).Type)
			}
		}
	}
	assert.Equal(t, before, spy.Mutations(), "a GET or HEAD changed state")
}

func TestBodyLimit(t *testing.T) {
	ts := startServer(t, newSpy(t), nil)
	big := `{"method":"seqr","title":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	t.Run("content-length", func(t *testing.T) {
		resp := ts.do(t, "POST", "/v1/payments", big, withKey("k"))
		require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
		assert.Equal(t, ProblemBase+"payload-too-large", readProblem(t, resp).Type)
	})
	t.Run("chunked", func(t *testing.T) {
		req, err := http.NewRequest("POST", ts.base+"/v1/payments", io.MultiReader(strings.NewReader(big)))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Idempotency-Key", "k")
		req.ContentLength = -1 // unknown: sent chunked
		resp, err := ts.client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	})
	t.Run("just under the limit is read", func(t *testing.T) {
		body := `{"seqrId":"` + strings.Repeat("A", MaxBodyBytes-20) + `"}`
		resp := ts.do(t, "PUT", "/v1/terminal/seqr-id", body, nil)
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode) // too long an id, but read
		assert.Equal(t, "seqrId", readProblem(t, resp).Field)
	})
	assert.Zero(t, ts.spy.Mutations())
}

func TestReadHeaderTimeout(t *testing.T) {
	t.Run("default is 5s", func(t *testing.T) {
		s, err := New(Config{Token: testToken}, newSpy(t))
		require.NoError(t, err)
		assert.Equal(t, 5*time.Second, s.cfg.ReadHeaderTimeout)
		assert.Equal(t, DefaultReadHeaderTimeout, 5*time.Second)
	})
	t.Run("a slow-header client is dropped", func(t *testing.T) {
		ts := startServer(t, newSpy(t), func(c *Config) { c.ReadHeaderTimeout = 100 * time.Millisecond })
		conn, err := net.Dial("tcp", ts.srv.Addr().String())
		require.NoError(t, err)
		defer conn.Close()
		// Half a request header, never finished (slowloris).
		_, err = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
		require.NoError(t, err)
		// A safety net only: the server must close long before this.
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(30*time.Second)))
		_, err = io.ReadAll(conn)
		var ne net.Error
		if errors.As(err, &ne) {
			require.False(t, ne.Timeout(), "server did not drop the slow client")
		}
	})
}

func TestListenMustBeLoopback(t *testing.T) {
	// Loopback addresses other than 127.0.0.1 and ::1 are refused too: the
	// Host check (hostAllowed) accepts only those names, so a client of
	// such a listener would get 403 on every request.
	for _, l := range []string{"0.0.0.0:8420", "192.168.1.5:8420", ":8420", "example.com:80", "unix:",
		"127.0.0.2:8420", "127.1.2.3:8420", "[::ffff:127.0.0.1]:8420", "[0:0:0:0:0:0:0:1]:8420"} {
		_, err := New(Config{Token: testToken, Listen: l}, newSpy(t))
		if assert.Error(t, err, l) {
			assert.ErrorContains(t, err, "api.listen", l)
		}
	}
	for _, l := range []string{"127.0.0.1:8420", "[::1]:8420", "localhost:0", "LocalHost:8420", "unix:/tmp/x.sock"} {
		_, err := New(Config{Token: testToken, Listen: l}, newSpy(t))
		assert.NoError(t, err, l)
	}
}

// Every TCP address checkListen accepts is one whose Host header (what a
// client sends for http://<listen>/) the Host check lets through.
func TestListenAndHostCheckAgree(t *testing.T) {
	for _, l := range []string{"127.0.0.1:8420", "[::1]:8420", "localhost:8420", "127.0.0.2:8420",
		"127.255.255.254:8420", "[::ffff:127.0.0.1]:8420", "[0:0:0:0:0:0:0:1]:8420", "[::0:1]:8420"} {
		u, err := url.Parse("http://" + l + "/")
		require.NoError(t, err, l)
		assert.Equal(t, checkListen(l) == nil, hostAllowed(u.Host, false),
			"listen %s: checkListen and hostAllowed disagree", l)
	}
}

func TestUnixSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "posd.sock")

	// A stale socket left by a crashed posd is removed.
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	require.NoError(t, err)
	stale.SetUnlinkOnClose(false)
	require.NoError(t, stale.Close())
	_, err = os.Lstat(sock)
	require.NoError(t, err, "stale socket should exist for the test")

	srv, err := New(Config{Listen: "unix:" + sock, StateDir: dir}, newSpy(t))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Listening():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	fi, err := os.Stat(sock)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o660), fi.Mode().Perm())

	tok, err := LoadOrCreateToken(dir)
	require.NoError(t, err)
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	for _, host := range []string{"localhost", "unix"} {
		req, _ := http.NewRequest("GET", "http://"+host+"/v1/status", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode, string(body))
	}
	req, _ := http.NewRequest("GET", "http://evil.example/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 403, resp.StatusCode)

	// A second server must not steal a live socket.
	srv2, err := New(Config{Listen: "unix:" + sock, StateDir: dir}, newSpy(t))
	require.NoError(t, err)
	err = srv2.Run(context.Background())
	require.ErrorContains(t, err, "another process")

	cancel()
	require.NoError(t, <-done)
	_, err = os.Lstat(sock)
	assert.True(t, errors.Is(err, os.ErrNotExist), "socket removed at shutdown")

	t.Run("a file that is not a socket is left alone", func(t *testing.T) {
		p := filepath.Join(dir, "file")
		require.NoError(t, os.WriteFile(p, []byte("x"), 0o600))
		s, err := New(Config{Listen: "unix:" + p, Token: testToken}, newSpy(t))
		require.NoError(t, err)
		require.ErrorContains(t, s.Run(context.Background()), "not a socket")
	})
}

func TestShutdownEndsStreams(t *testing.T) {
	spy := newSpy(t)
	p := spy.st.open("k1")
	ts := startServer(t, spy, nil)
	resp := ts.do(t, "GET", "/v1/payments/"+p.ID+"/events", "", nil)
	require.Equal(t, 200, resp.StatusCode)
	br := bufio.NewReader(resp.Body)
	_, err := br.ReadString('\n') // the stream is open
	require.NoError(t, err)
	require.NoError(t, ts.stop(), "shutdown must not wait for open streams")
}

// TestUnixSocketNeverPermissive: even under umask 0, the socket is never
// reachable at its path with a mode wider than 0660, not even between its
// creation and the chmod: it is created inside a private (0700) directory
// and renamed into place.
func TestUnixSocketNeverPermissive(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	sock := filepath.Join(dir, "posd.sock")
	var seen []string
	socketCreated = func(name string) {
		if fi, err := os.Lstat(sock); err == nil {
			seen = append(seen, fmt.Sprintf("%s reachable at once with mode %04o", sock, fi.Mode().Perm()))
			if fi.Mode().Perm()&^0o660 != 0 {
				seen = append(seen, "too permissive")
			}
		}
		if name != sock {
			fi, err := os.Stat(filepath.Dir(name))
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), "the socket is made in a private directory")
		}
	}
	defer func() { socketCreated = nil }()

	srv, err := New(Config{Listen: "unix:" + sock, Token: testToken}, newSpy(t))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Listening():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	assert.NotContains(t, seen, "too permissive", seen)
	fi, err := os.Stat(sock)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o660), fi.Mode().Perm())
	assert.Equal(t, "unix", srv.Addr().Network())
	assert.Equal(t, sock, srv.Addr().String())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary directory left behind")

	c, err := net.Dial("unix", sock)
	require.NoError(t, err)
	c.Close()
	cancel()
	require.NoError(t, <-done)
	_, err = os.Lstat(sock)
	assert.True(t, errors.Is(err, os.ErrNotExist), "socket removed at shutdown")
}
