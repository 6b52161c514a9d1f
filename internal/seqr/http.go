package seqr

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
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Transport limits. The overall 10 s is reliability.md N2: a sendInvoice
// whose answer does not come within 10 s is given up (outcome unknown).
const (
	dialTimeout           = 3 * time.Second
	tlsHandshakeTimeout   = 5 * time.Second
	responseHeaderTimeout = 10 * time.Second
	overallTimeout        = 10 * time.Second

	// maxResponse bounds a response body; the largest legitimate one is a
	// reconciliation report.
	maxResponse = 4 << 20
)

// defaultHTTPClient is the client used when Config.HTTPClient is nil: explicit
// timeouts, TLS 1.2 or newer, certificates always verified.
func defaultHTTPClient(roots *x509.CertPool) *http.Client {
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	return &http.Client{
		Timeout: overallTimeout,
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
		// SOAP is never redirected; following one would re-send the password elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// multiError is an error with its own message that wraps several errors, so
// that "not sent" can be both a sentinel and the underlying cause.
type multiError struct {
	msg  string
	errs []error
}

func (e *multiError) Error() string   { return e.msg }
func (e *multiError) Unwrap() []error { return e.errs }

func notSent(op string, cause error) error {
	return &multiError{msg: "seqr " + op + ": not sent: " + cause.Error(), errs: []error{ErrNotSent, cause}}
}

func invalid(op string, cause error) error {
	return &multiError{
		msg:  "seqr " + op + ": invalid request: " + cause.Error(),
		errs: []error{ErrInvalidRequest, ErrNotSent, cause},
	}
}

// call sends one request, checks the response and hands its <return> to
// decode (which may be nil) when the resultCode is 0. Every error it returns
// names the operation. secrets are the passwords in the request: they are
// masked in the debug dump and in any error text, whatever the server echoes.
func (c *Client) call(ctx context.Context, op string, body []byte, secrets []string, decode func(*node) error) (err error) {
	start := time.Now()
	var resp []byte
	code := -1
	defer func() {
		if err != nil {
			err = scrubError(err, secrets)
		}
		if ce := c.log.Check(zap.DebugLevel, "seqr call"); ce != nil {
			fields := []zap.Field{
				zap.String("op", op),
				zap.Duration("duration", time.Since(start)),
				zap.ByteString("request", scrub(body, secrets)),
			}
			if code >= 0 {
				fields = append(fields, zap.Int("resultCode", code))
			}
			if resp != nil {
				fields = append(fields, zap.ByteString("response", scrub(resp, secrets)))
			}
			if err != nil {
				fields = append(fields, zap.Error(err))
			}
			ce.Write(fields...)
		}
	}()

	if err := ctx.Err(); err != nil {
		return notSent(op, err)
	}
	var gotConn atomic.Bool
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, c.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return notSent(op, err)
	}
	// Set as map entries: Header.Set would send "Soapaction".
	req.Header["Content-Type"] = []string{"text/xml; charset=UTF-8"}
	req.Header["SOAPAction"] = []string{`""`}
	req.Header["Accept"] = []string{"text/xml"}

	hr, err := c.http.Do(req)
	if err != nil {
		if c.neverSent(err, gotConn.Load()) {
			return notSent(op, err)
		}
		return fmt.Errorf("seqr %s: %w", op, err)
	}
	defer hr.Body.Close()
	resp, err = readHTTPBody(hr)
	if err != nil {
		return fmt.Errorf("seqr %s: read response (HTTP %d): %w", op, hr.StatusCode, err)
	}

	ret, rc, err := parseResponse(op, resp)
	if err == nil || rc != 0 {
		code = rc
	}
	var fault *FaultError
	var result *ResultError
	switch {
	case errors.As(err, &fault):
		return fault // a fault is a fault whatever the status (normally 500)
	case hr.StatusCode != http.StatusOK:
		return fmt.Errorf("seqr %s: HTTP %s (%s) without a SOAP fault", op, hr.Status, contentType(hr))
	case errors.As(err, &result):
		return result
	case err != nil:
		return fmt.Errorf("seqr %s: bad response (HTTP %d, %s): %w", op, hr.StatusCode, contentType(hr), err)
	}
	if decode != nil {
		if err := decode(ret); err != nil {
			return fmt.Errorf("seqr %s: %w", op, err)
		}
	}
	return nil
}

// neverSent reports whether a failed round trip certainly put nothing on the
// wire. With net/http's transport that is exactly "no connection was obtained"
// (dial, DNS, proxy CONNECT and TLS handshake all happen before); with another
// transport only a dial error is trusted.
func (c *Client) neverSent(err error, gotConn bool) bool {
	if c.tracesConn {
		return !gotConn
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

func readHTTPBody(hr *http.Response) ([]byte, error) {
	var buf bytes.Buffer
	if n := hr.ContentLength; n > 0 && n <= maxResponse {
		buf.Grow(int(n) + 1)
	} else if n > maxResponse {
		return nil, fmt.Errorf("response of %d bytes exceeds the %d byte limit", n, maxResponse)
	}
	n, err := buf.ReadFrom(io.LimitReader(hr.Body, maxResponse+1))
	if err != nil {
		return nil, err
	}
	if n > maxResponse {
		return nil, errors.New("response exceeds the " + strconv.Itoa(maxResponse) + " byte limit")
	}
	return buf.Bytes(), nil
}

func contentType(hr *http.Response) string {
	ct := hr.Header.Get("Content-Type")
	if ct == "" {
		return "no content type"
	}
	if mt, _, err := mime.ParseMediaType(ct); err == nil {
		return mt
	}
	return "content type " + strconv.Quote(ct)
}
