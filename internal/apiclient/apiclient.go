// Package apiclient is the one client of posd's local HTTP API, used by the
// posd command line, the end-to-end test harness and the benchmarks: typed
// calls for each route, the bearer token on every request, an
// Idempotency-Key where the API requires one, the event stream read as
// Server-Sent Events, and an answer other than 2xx decoded from
// problem+json (RFC 9457) into *Error.
//
// Request bodies are passed through as given (any value that encodes to
// JSON), so that tests can send what a typed request could not; answers are
// the register's own types, which are what the API encodes.
package apiclient

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/register"
)

// maxAnswer bounds an answer read into memory (a journal page is the
// largest).
const maxAnswer = 4 << 20

// ErrUnreachable marks an error where no answer came from posd: it is not
// running, the socket or address is wrong, or the connection broke.
var ErrUnreachable = errors.New("posd unreachable")

// Config says how to reach posd.
type Config struct {
	// Listen is posd's api.listen: "host:port", or "unix:/path/api.sock".
	Listen string
	// Token is the bearer token (the content of posd's token file).
	Token string
	// Timeout bounds each call except the event stream; 0: no bound
	// beyond the context's.
	Timeout time.Duration
	// ResponseHeaderTimeout bounds the wait for an answer's head; 0: 90 s,
	// long enough for a scan of the SEQR sticker.
	ResponseHeaderTimeout time.Duration
	// MaxIdleConns is how many idle connections are kept for reuse; 0: 2.
	// A load generator wants as many as it runs calls at once.
	MaxIdleConns int
}

// Client calls one posd. Safe for concurrent use. New starts nothing.
type Client struct {
	base    string
	hc      *http.Client
	token   string
	timeout time.Duration
}

// New returns a client for cfg.
func New(cfg Config) *Client {
	headerTimeout := cfg.ResponseHeaderTimeout
	if headerTimeout == 0 {
		headerTimeout = 90 * time.Second
	}
	idle := cfg.MaxIdleConns
	if idle == 0 {
		idle = 2
	}
	dialer := &net.Dialer{Timeout: 3 * time.Second}
	tr := &http.Transport{
		DialContext:           dialer.DialContext,
		ResponseHeaderTimeout: headerTimeout,
		MaxIdleConns:          idle,
		MaxIdleConnsPerHost:   idle,
	}
	base := "http://" + cfg.Listen
	if sock, ok := strings.CutPrefix(cfg.Listen, "unix:"); ok {
		// The host is a placeholder: every connection goes to the socket.
		base = "http://localhost"
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "unix", sock)
		}
	}
	// No overall client timeout: it would cut the event stream. Calls are
	// bounded by Timeout through their context instead.
	return &Client{base: base, hc: &http.Client{Transport: tr}, token: cfg.Token, timeout: cfg.Timeout}
}

// Problem is an RFC 9457 problem detail as posd writes it.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	Field    string `json:"field,omitempty"` // the JSON path, header or query parameter at fault
}

// Slug is the last part of the problem's type URI ("offline" for
// https://posd.dev/problems/offline), what callers branch on.
func (p Problem) Slug() string {
	return p.Type[strings.LastIndexByte(p.Type, '/')+1:]
}

// Error is an answer other than 2xx. Problem is decoded from the body when
// it is problem+json; Body keeps the start of the body either way.
type Error struct {
	Method, Path string
	Status       int
	Problem      Problem
	Body         string // at most the first 4 KiB, for messages
}

// Error is one line: what was asked, the status, and the problem's title,
// detail and field.
func (e *Error) Error() string {
	msg := e.Problem.Title
	if e.Problem.Detail != "" {
		if msg != "" {
			msg += ": "
		}
		msg += e.Problem.Detail
	}
	if e.Problem.Field != "" && !strings.Contains(msg, e.Problem.Field) {
		msg += " (" + e.Problem.Field + ")"
	}
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, msg)
}

// ProblemOf returns the problem of an API error anywhere in err's chain.
// Status is set even when the body was not problem+json.
func ProblemOf(err error) (Problem, bool) {
	var e *Error
	if !errors.As(err, &e) {
		return Problem{}, false
	}
	p := e.Problem
	if p.Status == 0 {
		p.Status = e.Status
	}
	return p, true
}

// Do sends body (nil: none) as JSON with the headers hdr, and decodes a 2xx
// JSON answer into out (nil: ignored; an empty answer leaves out as it is).
// It is the way to any route the typed calls do not cover.
func (c *Client) Do(ctx context.Context, method, path string, body, out any, hdr http.Header) error {
	b, err := c.roundTrip(ctx, method, path, body, hdr)
	if err != nil || out == nil || len(b) == 0 {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// roundTrip sends one request and returns a 2xx answer's body.
func (c *Client) roundTrip(ctx context.Context, method, path string, body any, hdr http.Header) ([]byte, error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	resp, err := c.send(ctx, method, path, body, hdr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s %s: read answer: %w", method, path, ctx.Err())
		}
		return nil, fmt.Errorf("%s %s: read answer: %w: %w", method, path, ErrUnreachable, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, apiError(method, path, resp.StatusCode, b)
	}
	return b, nil
}

func (c *Client) send(ctx context.Context, method, path string, body any, hdr http.Header) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	for k, v := range hdr {
		req.Header[http.CanonicalHeaderKey(k)] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		// The *url.Error repeats method and URL; say them once.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if ctx.Err() != nil { // the caller gave up or timed out: posd may be fine
			return nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
		return nil, fmt.Errorf("%s %s: %w: %w", method, path, ErrUnreachable, err)
	}
	return resp, nil
}

func apiError(method, path string, status int, body []byte) *Error {
	e := &Error{Method: method, Path: path, Status: status}
	_ = json.Unmarshal(body, &e.Problem) // a body that is not JSON still gives the status
	if len(body) > 4096 {
		body = body[:4096]
	}
	e.Body = strings.TrimSpace(strings.ToValidUTF8(string(body), "?"))
	return e
}

// Metrics is GET /metrics: the Prometheus text exposition.
func (c *Client) Metrics(ctx context.Context) ([]byte, error) {
	return c.roundTrip(ctx, http.MethodGet, "/metrics", nil, nil)
}

// Status is GET /v1/status.
func (c *Client) Status(ctx context.Context) (register.Status, error) {
	var st register.Status
	err := c.Do(ctx, http.MethodGet, "/v1/status", nil, &st, nil)
	return st, err
}

// CreatePayment is POST /v1/payments with the Idempotency-Key key: sent
// again with the same key and body, it answers the same payment. req is a
// register.PaymentRequest, or any value that encodes to the request's JSON.
func (c *Client) CreatePayment(ctx context.Context, key string, req any) (register.Payment, error) {
	var p register.Payment
	err := c.Do(ctx, http.MethodPost, "/v1/payments", req, &p, http.Header{"Idempotency-Key": {key}})
	return p, err
}

// Payment is GET /v1/payments/{id}.
func (c *Client) Payment(ctx context.Context, id string) (register.Payment, error) {
	var p register.Payment
	err := c.Do(ctx, http.MethodGet, paymentPath(id, ""), nil, &p, nil)
	return p, err
}

// Payments is GET /v1/payments, oldest first; state "" lists every state.
func (c *Client) Payments(ctx context.Context, state register.State) ([]register.Payment, error) {
	path := "/v1/payments"
	if state != "" {
		path += "?state=" + url.QueryEscape(string(state))
	}
	var resp struct {
		Payments []register.Payment `json:"payments"`
	}
	err := c.Do(ctx, http.MethodGet, path, nil, &resp, nil)
	return resp.Payments, err
}

// Cancel is POST /v1/payments/{id}/cancel.
func (c *Client) Cancel(ctx context.Context, id string) (register.Payment, error) {
	var p register.Payment
	err := c.Do(ctx, http.MethodPost, paymentPath(id, "/cancel"), struct{}{}, &p, nil)
	return p, err
}

// Retry is POST /v1/payments/{id}/retry: the customer gets another window.
func (c *Client) Retry(ctx context.Context, id string) (register.Payment, error) {
	var p register.Payment
	err := c.Do(ctx, http.MethodPost, paymentPath(id, "/retry"), struct{}{}, &p, nil)
	return p, err
}

// Refund is POST /v1/payments/{id}/refunds with the Idempotency-Key key. req
// is a register.RefundRequest, or any value that encodes to its JSON.
func (c *Client) Refund(ctx context.Context, id, key string, req any) (register.Refund, error) {
	var rf register.Refund
	err := c.Do(ctx, http.MethodPost, paymentPath(id, "/refunds"), req, &rf, http.Header{"Idempotency-Key": {key}})
	return rf, err
}

// Annul is POST /v1/payments/{id}/annul with the Idempotency-Key key. req
// is a register.AnnulRequest, or any value that encodes to its JSON.
func (c *Client) Annul(ctx context.Context, id, key string, req any) (register.Refund, error) {
	var rf register.Refund
	err := c.Do(ctx, http.MethodPost, paymentPath(id, "/annul"), req, &rf, http.Header{"Idempotency-Key": {key}})
	return rf, err
}

// AdditionalDebit is POST /v1/payments/{id}/debits with the Idempotency-Key
// key. req is a register.DebitRequest, or any value that encodes to its JSON.
func (c *Client) AdditionalDebit(ctx context.Context, id, key string, req any) (register.Refund, error) {
	var rf register.Refund
	err := c.Do(ctx, http.MethodPost, paymentPath(id, "/debits"), req, &rf, http.Header{"Idempotency-Key": {key}})
	return rf, err
}

// ReprintReceipt is POST /v1/payments/{id}/receipt/print: a copy is queued.
func (c *Client) ReprintReceipt(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodPost, paymentPath(id, "/receipt/print"), struct{}{}, nil, nil)
}

// Journal is GET /v1/journal: the receipt file's posts after sequence
// number after, at most limit of them (0: the server's default).
func (c *Client) Journal(ctx context.Context, after int64, limit int) ([]receipt.Post, error) {
	path := "/v1/journal?after=" + strconv.FormatInt(after, 10)
	if limit > 0 {
		path += "&limit=" + strconv.Itoa(limit)
	}
	var resp struct {
		Posts []receipt.Post `json:"posts"`
	}
	err := c.Do(ctx, http.MethodGet, path, nil, &resp, nil)
	return resp.Posts, err
}

// ClosePeriod is POST /v1/periods/close for provider ("": the API's
// default) and returns the reconciliation.
func (c *Client) ClosePeriod(ctx context.Context, provider string) (register.PeriodReport, error) {
	path := "/v1/periods/close"
	if provider != "" {
		path += "?provider=" + url.QueryEscape(provider)
	}
	var rep register.PeriodReport
	err := c.Do(ctx, http.MethodPost, path, struct{}{}, &rep, nil)
	return rep, err
}

// Terminal is GET /v1/terminal: the till's SEQR registration.
func (c *Client) Terminal(ctx context.Context) (register.Terminal, error) {
	var t register.Terminal
	err := c.Do(ctx, http.MethodGet, "/v1/terminal", nil, &t, nil)
	return t, err
}

// RegisterTerminal is POST /v1/terminal/register.
func (c *Client) RegisterTerminal(ctx context.Context, req register.RegisterTerminalRequest) (register.Terminal, error) {
	var t register.Terminal
	err := c.Do(ctx, http.MethodPost, "/v1/terminal/register", req, &t, nil)
	return t, err
}

// UnregisterTerminal is DELETE /v1/terminal.
func (c *Client) UnregisterTerminal(ctx context.Context) error {
	return c.Do(ctx, http.MethodDelete, "/v1/terminal", nil, nil, nil)
}

// AssignSeqrID is PUT /v1/terminal/seqr-id with a typed SEQR id.
func (c *Client) AssignSeqrID(ctx context.Context, seqrID string) (register.Terminal, error) {
	var t register.Terminal
	err := c.Do(ctx, http.MethodPut, "/v1/terminal/seqr-id", map[string]string{"seqrId": seqrID}, &t, nil)
	return t, err
}

// ScanSeqrID is POST /v1/terminal/seqr-id/scan: posd waits up to timeout
// (whole seconds) for a scan of the sticker.
func (c *Client) ScanSeqrID(ctx context.Context, timeout time.Duration) (register.Terminal, error) {
	var t register.Terminal
	body := map[string]int{"timeoutSeconds": int(timeout / time.Second)}
	err := c.Do(ctx, http.MethodPost, "/v1/terminal/seqr-id/scan", body, &t, nil)
	return t, err
}

// Events follows GET /v1/payments/{id}/events, calling fn for each event in
// order, until the stream ends (nil), ctx ends or the connection breaks. An
// event whose data does not decode is skipped. Config.Timeout does not apply.
func (c *Client) Events(ctx context.Context, id string, fn func(register.Event)) error {
	path := paymentPath(id, "/events")
	resp, err := c.send(ctx, http.MethodGet, path, nil, http.Header{"Accept": {"text/event-stream"}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return apiError(http.MethodGet, path, resp.StatusCode, b)
	}
	if err := ReadEvents(resp.Body, fn); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("GET %s: %w", path, ctx.Err())
		}
		return fmt.Errorf("GET %s: %w: %w", path, ErrUnreachable, err)
	}
	return nil
}

// ReadEvents parses a Server-Sent Events stream: "event:" and "data:" lines
// up to a blank line form one event; comments, "id:" and "retry:" are
// skipped. An event without a type in its data takes the SSE event name.
func ReadEvents(r io.Reader, fn func(register.Event)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var data strings.Builder
	name := ""
	flush := func() {
		if data.Len() > 0 {
			var ev register.Event
			if err := json.Unmarshal([]byte(data.String()), &ev); err == nil {
				if ev.Type == "" {
					ev.Type = name
				}
				fn(ev)
			}
		}
		data.Reset()
		name = ""
	}
	for sc.Scan() {
		line := sc.Text()
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch {
		case line == "":
			flush()
		case field == "data":
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(value)
		case field == "event":
			name = value
		}
	}
	flush()
	return sc.Err()
}

func paymentPath(id, rest string) string {
	return "/v1/payments/" + url.PathEscape(id) + rest
}
