package seqr

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posd/posd/internal/money"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// closedAddr returns a loopback address nobody listens on any more.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestNotSentConnectionRefused(t *testing.T) {
	url := "http://" + closedAddr(t) + PathCashRegister2
	wrapped := &http.Transport{}
	t.Cleanup(wrapped.CloseIdleConnections)
	clients := map[string]*http.Client{
		"default":           nil,
		"custom transport":  {Transport: roundTripFunc(wrapped.RoundTrip)}, // no connection tracing assumed
		"http.Transport":    {Transport: &http.Transport{}},
		"nil transport too": {},
	}
	for name, hc := range clients {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(url)
			cfg.HTTPClient = hc
			c := newTestClient(t, cfg)
			_, err := c.SendInvoice(context.Background(), testTerminal,
				Invoice{Title: "x", Total: money.MustParse("1.00"), Currency: "SEK"}, nil)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrNotSent)
			assert.NotErrorIs(t, err, ErrInvalidRequest)
			assert.Contains(t, err.Error(), "seqr sendInvoice: not sent:")
			assert.Contains(t, err.Error(), "connection refused")
		})
	}
}

func TestNotSentDNSFailure(t *testing.T) {
	resolver := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("no DNS server in this test")
	}}
	dialer := &net.Dialer{Resolver: resolver, Timeout: time.Second}
	for name, rt := range map[string]http.RoundTripper{
		"http.Transport": &http.Transport{DialContext: dialer.DialContext},
		"custom":         roundTripFunc((&http.Transport{DialContext: dialer.DialContext}).RoundTrip),
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig("http://seqr.invalid/soap")
			cfg.HTTPClient = &http.Client{Transport: rt}
			c := newTestClient(t, cfg)
			_, err := c.GetPaymentStatus(context.Background(), testTerminal, "1", 0)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrNotSent)
			var dns *net.DNSError
			assert.ErrorAs(t, err, &dns)
		})
	}
}

// rawServer accepts one connection, reads the whole request, then does what
// act says with the connection and closes it.
func rawServer(t *testing.T, act func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		req, err := http.ReadRequest(bufio.NewReader(conn))
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		act(conn)
	}()
	return "http://" + ln.Addr().String() + "/soap"
}

func TestMaybeSentIsNotErrNotSent(t *testing.T) {
	full := envelope(opSendInvoice, successReturns[opSendInvoice])
	tests := map[string]func(net.Conn){
		"close before answering": func(net.Conn) {},
		"close mid-headers": func(c net.Conn) {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n")
		},
		"close mid-body": func(c net.Conn) {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: "+itoa(len(full))+"\r\n\r\n"+full[:len(full)/2])
		},
		"reset": func(c net.Conn) {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
		},
	}
	for name, act := range tests {
		t.Run(name, func(t *testing.T) {
			c := newTestClient(t, testConfig(rawServer(t, act)))
			_, err := c.SendInvoice(context.Background(), testTerminal,
				Invoice{Title: "x", Total: money.MustParse("1.00"), Currency: "SEK"}, nil)
			require.Error(t, err)
			assert.NotErrorIs(t, err, ErrNotSent, "the request reached the server: the outcome is unknown")
			assert.True(t, strings.HasPrefix(err.Error(), "seqr sendInvoice: "), err.Error())
		})
	}
}

// holdingServer reads each request, calls received, and then answers nothing
// until the client goes away or the test ends.
func holdingServer(t *testing.T, received func()) *httptest.Server {
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // lets the server notice the client leaving
		received()
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(done) }) // runs before srv.Close
	return srv
}

func TestContextCancellation(t *testing.T) {
	t.Run("canceled while the server holds the request", func(t *testing.T) {
		received := make(chan struct{})
		srv := holdingServer(t, func() { close(received) })
		c := newTestClient(t, testConfig(srv.URL))
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			<-received
			cancel()
		}()
		_, err := c.GetPaymentStatus(ctx, testTerminal, "1", 0)
		require.Error(t, err)
		assert.ErrorIs(t, err, context.Canceled)
		assert.NotErrorIs(t, err, ErrNotSent)
	})
	t.Run("canceled before the call", func(t *testing.T) {
		srv := newFakeServer(t, nil)
		c := newTestClient(t, testConfig(srv.URL))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.GetPaymentStatus(ctx, testTerminal, "1", 0)
		assert.ErrorIs(t, err, context.Canceled)
		assert.ErrorIs(t, err, ErrNotSent)
		assert.Zero(t, srv.count())
	})
	t.Run("deadline", func(t *testing.T) {
		srv := holdingServer(t, func() {})
		c := newTestClient(t, testConfig(srv.URL))
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		err := c.CancelInvoice(ctx, testTerminal, "1")
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.NotErrorIs(t, err, ErrNotSent)
	})
}

func TestDefaultHTTPClient(t *testing.T) {
	c := newTestClient(t, testConfig("https://extdev.seqr.com"+PathCashRegister2))
	hc := c.soap.HTTP
	require.NotSame(t, http.DefaultClient, hc)
	assert.Equal(t, 10*time.Second, hc.Timeout)
	tr, ok := hc.Transport.(*http.Transport)
	require.True(t, ok)
	assert.Equal(t, 5*time.Second, tr.TLSHandshakeTimeout)
	assert.Equal(t, 10*time.Second, tr.ResponseHeaderTimeout)
	require.NotNil(t, tr.TLSClientConfig)
	assert.Equal(t, uint16(tls.VersionTLS12), tr.TLSClientConfig.MinVersion)
	assert.False(t, tr.TLSClientConfig.InsecureSkipVerify)
}

// TestTLS is reliability.md S1: no handshake below TLS 1.2, no unverified
// certificate, and in those cases no request body (it carries the password)
// reaches the server.
func TestTLS(t *testing.T) {
	newTLS := func(t *testing.T, cfg *tls.Config, hit *atomic.Int32) *httptest.Server {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hit.Add(1)
			_, _ = io.Copy(io.Discard, r.Body)
			if r.TLS == nil || r.TLS.Version < tls.VersionTLS12 {
				http.Error(w, "old TLS", http.StatusInternalServerError)
				return
			}
			_, _ = io.WriteString(w, envelope(opGetPaymentStatus, successReturns[opGetPaymentStatus]))
		}))
		srv.TLS = cfg
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshakes are the point
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv
	}
	rootsOf := func(srv *httptest.Server) *x509.CertPool {
		pool := x509.NewCertPool()
		pool.AddCert(srv.Certificate())
		return pool
	}
	tests := []struct {
		name    string
		tls     *tls.Config
		trusted bool
		host    string // replaces 127.0.0.1 in the URL
		ok      bool
	}{
		{"TLS 1.2+ trusted", nil, true, "", true},
		{"TLS 1.0/1.1 only", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, true, "", false},
		{"TLS 1.0 only", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10}, true, "", false},
		{"self-signed, not in roots", nil, false, "", false},
		{"wrong host", nil, true, "localhost", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hit atomic.Int32
			srv := newTLS(t, tc.tls, &hit)
			cfg := testConfig(srv.URL)
			if tc.host != "" {
				cfg.URL = strings.Replace(srv.URL, "127.0.0.1", tc.host, 1)
			}
			if tc.trusted {
				cfg.RootCAs = rootsOf(srv)
			}
			c := newTestClient(t, cfg)
			ps, err := c.GetPaymentStatus(context.Background(), testTerminal, "1", 0)
			if tc.ok {
				require.NoError(t, err)
				assert.Equal(t, StatusIssued, ps.Status)
				assert.Equal(t, int32(1), hit.Load())
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrNotSent, "a failed handshake sends nothing")
			assert.Zero(t, hit.Load(), "the handler received a request")
			assert.NotContains(t, err.Error(), testTerminal.Password)
		})
	}
}

func TestNoRedirects(t *testing.T) {
	var hit atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit.Add(1) }))
	t.Cleanup(target.Close)
	srv := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
	t.Cleanup(srv.Close)
	c := newTestClient(t, testConfig(srv.URL))
	_, err := c.GetPaymentStatus(context.Background(), testTerminal, "1", 0)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "HTTP 307")
	assert.Zero(t, hit.Load(), "the password was re-sent to the redirect target")
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"no password here", "no password here"},
		{`<password>1234</password>`, `<password>***</password>`},
		{`<context><password>a&amp;b</password></context><password>k3J</password>`,
			`<context><password>***</password></context><password>***</password>`},
		{`<ns1:password xmlns:ns1="x">s</ns1:password>`, `<ns1:password xmlns:ns1="x">***</ns1:password>`},
		{`<password a="1"><![CDATA[p<w>]]></password>`, `<password a="1">***</password>`},
		{`<password/><id>x</id>`, `<password/><id>x</id>`},
		{`<password></password>`, `<password>***</password>`},
		{`<passwordHint>h</passwordHint><newpassword>n</newpassword>`, `<passwordHint>h</passwordHint><newpassword>n</newpassword>`},
		{`<password>truncated secr`, `<password>***`},
		{`<password>s</wrong><x/>`, `<password>***`},
		{`<passw`, `<passw`},
		{`a < b <password>s</password> >`, `a < b <password>***</password> >`},
	}
	for _, tc := range tests {
		in := []byte(tc.in)
		assert.Equal(t, tc.want, string(Redact(in)), tc.in)
		assert.Equal(t, tc.in, string(in), "Redact changed its input")
	}
	c := newTestClient(t, testConfig("http://127.0.0.1:1/"))
	body, err := c.buildRegisterTerminal(testReseller, "Shop 1/POS 2", "k3Jd8sLq0PzX2mA", "My Shop, till 2")
	require.NoError(t, err)
	red := string(Redact(body))
	assert.NotContains(t, red, "1234</")
	assert.NotContains(t, red, "k3Jd8sLq0PzX2mA")
	assert.Equal(t, 2, strings.Count(red, "<password>***</password>"))
}

// TestPasswordNeverLeaks runs every kind of outcome with a canary password and
// looks for it in every error string and every log entry at debug level.
func TestPasswordNeverLeaks(t *testing.T) {
	const canary = "CANARY-pw-7f3a9e"
	p := Terminal("87e791f9e24148a6892c52aa85bb0331", canary)
	reseller := Principal{Type: PrincipalResellerUser, ID: "shop", UserID: "9900", Password: canary}

	// A hostile or buggy server that echoes the password everywhere it can.
	echo := `<password>` + canary + `</password>`
	responses := map[string]func(op string) (int, string){
		"success echoing": func(op string) (int, string) {
			return 200, envelope(op, success+`<status>ISSUED</status><version>1</version>`+echo)
		},
		"result error": func(op string) (int, string) {
			return 200, envelope(op, `<resultCode>20</resultCode><resultDescription>AUTHENTICATION_FAILED</resultDescription>`+echo)
		},
		"fault echoing": func(string) (int, string) {
			return 500, `<soap:Envelope xmlns:soap="x"><soap:Body><soap:Fault><faultcode>soap:Client</faultcode><faultstring>bad &lt;password&gt;` + canary + `&lt;/password&gt;</faultstring></soap:Fault></soap:Body></soap:Envelope>`
		},
		"500 html echoing":  func(string) (int, string) { return 500, `<html>` + echo + `</html>` },
		"garbage echoing":   func(string) (int, string) { return 200, `<<<` + echo },
		"bad field value":   func(op string) (int, string) { return 200, envelope(op, success+`<version>`+canary+`</version>`) },
		"truncated echoing": func(op string) (int, string) { return 200, envelope(op, success+echo)[:200] },
	}
	core, logs := observer.New(zapcore.DebugLevel)
	var errs []error
	for name, respond := range responses {
		t.Run(name, func(t *testing.T) {
			srv := newFakeServer(t, respond)
			cfg := testConfig(srv.URL)
			cfg.Logger = zap.New(core)
			c := newTestClient(t, cfg)
			ctx := context.Background()
			_, err := c.GetPaymentStatus(ctx, p, "1", 0)
			errs = append(errs, err)
			_, err = c.RegisterTerminal(ctx, reseller, "ext", canary, "till")
			errs = append(errs, err)
			errs = append(errs, c.CancelInvoice(ctx, p, "1"))
			assert.Contains(t, string(srv.last(t).body), canary, "the password must still go to the server")
		})
	}
	// Transport failure and a refused argument.
	cfg := testConfig("http://" + closedAddr(t) + "/")
	cfg.Logger = zap.New(core)
	c := newTestClient(t, cfg)
	_, err := c.GetPaymentStatus(context.Background(), p, "1", 0)
	errs = append(errs, err)
	_, err = c.SendInvoice(context.Background(), p, Invoice{Title: "\x01", Currency: "SEK"}, nil)
	errs = append(errs, err)

	for _, err := range errs {
		if err != nil {
			assert.NotContains(t, err.Error(), canary)
		}
	}
	require.NotZero(t, logs.Len())
	sawRequest := false
	for _, e := range logs.All() {
		assert.NotContains(t, e.Message, canary)
		for k, v := range e.ContextMap() {
			s, _ := v.(string)
			if s == "" {
				s = strings.TrimSpace(strings.ReplaceAll(fmtAny(v), "\n", " "))
			}
			assert.NotContains(t, s, canary, "log field %s", k)
			if k == "request" && strings.Contains(s, "<password>***</password>") {
				sawRequest = true
			}
		}
	}
	assert.True(t, sawRequest, "the debug log should carry the redacted request")
}

func fmtAny(v any) string {
	switch x := v.(type) {
	case []byte:
		return string(x)
	case error:
		return x.Error()
	case interface{ String() string }:
		return x.String()
	}
	return ""
}

func TestDebugLogFields(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	srv := newFakeServer(t, func(op string) (int, string) {
		return 200, envelope(op, `<resultCode>95</resultCode><resultDescription>INVOICE_ALREADY_CANCELED</resultDescription>`)
	})
	cfg := testConfig(srv.URL)
	cfg.Logger = zap.New(core)
	c := newTestClient(t, cfg)
	err := c.CancelInvoice(context.Background(), testTerminal, "1397222701693")
	code, _ := Code(err)
	require.Equal(t, 95, code)

	require.Equal(t, 1, logs.Len())
	e := logs.All()[0]
	assert.Equal(t, zapcore.DebugLevel, e.Level)
	m := e.ContextMap()
	assert.Equal(t, "cancelInvoice", m["op"])
	assert.Equal(t, int64(95), m["resultCode"])
	assert.Contains(t, m, "duration")
	assert.Contains(t, m["request"], "<invoiceReference>1397222701693</invoiceReference>")
	assert.Contains(t, m["response"], "INVOICE_ALREADY_CANCELED")

	// Above debug, a call logs nothing (log or return, not both).
	core2, logs2 := observer.New(zapcore.InfoLevel)
	cfg.Logger = zap.New(core2)
	c = newTestClient(t, cfg)
	_ = c.CancelInvoice(context.Background(), testTerminal, "1")
	assert.Zero(t, logs2.Len())
}
