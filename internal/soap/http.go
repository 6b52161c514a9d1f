package soap

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// ErrNotSent marks an error where the request certainly never reached the
// server: no connection was ever obtained (refused, DNS, TLS handshake, a
// context that ended first), or the client refused to build the request.
// Any other transport error may have been delivered.
var ErrNotSent = errors.New("request not sent")

// MaxResponse bounds a response body.
const MaxResponse = 4 << 20

// Transport limits of NewHTTPClient.
const (
	dialTimeout           = 3 * time.Second
	tlsHandshakeTimeout   = 5 * time.Second
	responseHeaderTimeout = 10 * time.Second
)

// NewHTTPClient returns an HTTP client with explicit timeouts (overall is
// the whole round trip), TLS 1.2 or newer with certificates verified against
// roots (nil: the system's), and redirects never followed: following one would
// send the credentials elsewhere.
func NewHTTPClient(roots *x509.CertPool, overall time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	return &http.Client{
		Timeout: overall,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dialer.DialContext,
			TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots},
			TLSHandshakeTimeout:   tlsHandshakeTimeout,
			ResponseHeaderTimeout: responseHeaderTimeout,
			ExpectContinueTimeout: time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   4,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// NotSentError is an error that certainly put nothing on the wire. It
// matches ErrNotSent and unwraps to its cause.
type NotSentError struct{ Err error }

func (e *NotSentError) Error() string        { return "not sent: " + e.Err.Error() }
func (e *NotSentError) Unwrap() error        { return e.Err }
func (e *NotSentError) Is(target error) bool { return target == ErrNotSent }

// HTTPError is an answer that is neither a SOAP response nor a fault (a 401
// before any SOAP, a proxy's 502 page). The request arrived somewhere.
type HTTPError struct {
	Status      int
	ContentType string
	Body        []byte // at most the first 512 bytes, for logs
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("HTTP %d %s (%s) without a SOAP response", e.Status, http.StatusText(e.Status), e.ContentType)
}

// Caller posts SOAP requests to one endpoint. Safe for concurrent use.
type Caller struct {
	URL      string
	HTTP     *http.Client // required
	Username string       // Basic auth, sent up front when set
	Password string
	// Header is added to every request (e.g. a User-Agent).
	Header http.Header
}

// Response is a SOAP round trip's answer: its HTTP status and raw body (for
// debug dumps, which the caller redacts) and the Body's first element.
type Response struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   *Node
}

// MediaType names the answer's media type for error messages, as ContentType.
func (r *Response) MediaType() string { return mediaType(r.Header.Get("Content-Type")) }

// Call posts doc and reads the answer. A fault is returned as *Fault
// whatever the HTTP status (normally 500); a non-200 answer without a fault
// as *HTTPError; anything that certainly never left as an error matching
// ErrNotSent. Response.Raw is set whenever a body was read, even with an error.
func (c *Caller) Call(ctx context.Context, doc []byte) (*Response, error) {
	return c.call(ctx, doc, Body)
}

// CallLocal is Call for a service read by local name only: the answer is
// read with BodyLocal.
func (c *Caller) CallLocal(ctx context.Context, doc []byte) (*Response, error) {
	return c.call(ctx, doc, BodyLocal)
}

func (c *Caller) call(ctx context.Context, doc []byte, parse func([]byte) (*Node, error)) (*Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, &NotSentError{Err: err}
	}
	var gotConn atomic.Bool
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, c.URL, bytes.NewReader(doc))
	if err != nil {
		return nil, &NotSentError{Err: err}
	}
	for k, v := range c.Header {
		req.Header[k] = v
	}
	// Set as map entries: Header.Set would send "Soapaction".
	req.Header["Content-Type"] = []string{"text/xml; charset=UTF-8"}
	req.Header["SOAPAction"] = []string{`""`}
	req.Header["Accept"] = []string{"text/xml"}
	if c.Username != "" || c.Password != "" {
		req.SetBasicAuth(c.Username, c.Password)
	}
	hr, err := c.HTTP.Do(req)
	if err != nil {
		if NeverSent(c.HTTP, err, gotConn.Load()) {
			return nil, &NotSentError{Err: err}
		}
		return nil, err
	}
	defer hr.Body.Close()
	raw, err := ReadBody(hr)
	resp := &Response{Status: hr.StatusCode, Header: hr.Header, Raw: raw}
	if err != nil {
		return resp, fmt.Errorf("read response (HTTP %d): %w", hr.StatusCode, err)
	}
	body, err := parse(raw)
	if err != nil {
		if f := (*Fault)(nil); errors.As(err, &f) {
			return resp, f
		}
	}
	switch {
	case hr.StatusCode != http.StatusOK:
		return resp, &HTTPError{Status: hr.StatusCode, ContentType: resp.MediaType(), Body: head(raw, 512)}
	case err != nil:
		return resp, fmt.Errorf("bad response (HTTP %d, %s): %w", hr.StatusCode, resp.MediaType(), err)
	}
	resp.Body = body
	return resp, nil
}

// NeverSent reports whether a failed round trip certainly put nothing on the
// wire. With net/http's own transport that is exactly "no connection was
// obtained" (dial, DNS, proxy CONNECT and TLS handshake come before); with
// another transport only a dial or DNS error is trusted.
func NeverSent(hc *http.Client, err error, gotConn bool) bool {
	switch hc.Transport.(type) {
	case nil, *http.Transport:
		return !gotConn
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// ReadBody reads a response body of at most MaxResponse bytes.
func ReadBody(hr *http.Response) ([]byte, error) {
	if n := hr.ContentLength; n > MaxResponse {
		return nil, fmt.Errorf("response of %d bytes exceeds the %d byte limit", n, MaxResponse)
	}
	var buf bytes.Buffer
	if n := hr.ContentLength; n > 0 {
		buf.Grow(int(n) + 1)
	}
	n, err := buf.ReadFrom(io.LimitReader(hr.Body, MaxResponse+1))
	if err != nil {
		return buf.Bytes(), err
	}
	if n > MaxResponse {
		return nil, errors.New("response exceeds the " + strconv.Itoa(MaxResponse) + " byte limit")
	}
	return buf.Bytes(), nil
}

// ContentType names a response's media type for error messages.
func ContentType(hr *http.Response) string { return mediaType(hr.Header.Get("Content-Type")) }

func mediaType(ct string) string {
	if ct == "" {
		return "no content type"
	}
	if mt, _, err := mime.ParseMediaType(ct); err == nil {
		return mt
	}
	return "content type " + strconv.Quote(ct)
}

func head(b []byte, n int) []byte {
	if len(b) > n {
		b = b[:n]
	}
	return []byte(strings.ToValidUTF8(string(b), "?"))
}
