package seqr

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/posd/posd/internal/soap"
)

// overallTimeout bounds one round trip of the default client
// (reliability.md N2). Dial, TLS and header limits are soap.NewHTTPClient's.
const overallTimeout = 10 * time.Second

// maxResponse bounds a response body; the largest legitimate one is a
// reconciliation report.
const maxResponse = soap.MaxResponse

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
func (c *Client) call(ctx context.Context, op string, body []byte, secrets []string, decode func(*soap.Node) error) (err error) {
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

	r, err := c.soap.CallLocal(ctx, body)
	if r != nil {
		resp = r.Raw
	}
	if err != nil {
		return callError(op, err)
	}
	ret, rc, err := returnOf(op, r.Body)
	if err == nil || rc != 0 {
		code = rc
	}
	if err != nil {
		if result := (*ResultError)(nil); errors.As(err, &result) {
			return result
		}
		return fmt.Errorf("seqr %s: bad response (HTTP %d, %s): %w", op, r.Status, r.MediaType(), err)
	}
	if decode != nil {
		if err := decode(ret); err != nil {
			return fmt.Errorf("seqr %s: %w", op, err)
		}
	}
	return nil
}

// callError maps a failed SOAP round trip onto SEQR's errors. It is apart
// from call so that the error variables cost nothing on a successful poll.
func callError(op string, err error) error {
	var ns *soap.NotSentError
	var fault *soap.Fault
	var he *soap.HTTPError
	switch {
	case errors.As(err, &ns):
		return notSent(op, ns.Err)
	case errors.As(err, &fault):
		return faultOf(op, fault) // a fault is a fault whatever the status (normally 500)
	case errors.As(err, &he):
		return fmt.Errorf("seqr %s: HTTP %d %s (%s) without a SOAP fault", op, he.Status, http.StatusText(he.Status), he.ContentType)
	}
	return fmt.Errorf("seqr %s: %w", op, err)
}
