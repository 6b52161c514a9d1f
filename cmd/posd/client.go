package main

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
	"strings"
	"time"

	"github.com/posd/posd/internal/config"
	"github.com/posd/posd/internal/register"
)

// apiClient is the CLI's client of a running posd's local API.
type apiClient struct {
	base  string
	hc    *http.Client
	token string
}

// newAPIClient reaches the posd described by cfg: its listen address and the
// token file (which must be readable only by its owner, like any secret).
func newAPIClient(cfg config.Config) (*apiClient, error) {
	tok, err := config.ReadSecret(cfg.API.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("read API token (run as the posd user, or pass --set api.token_file=PATH): %w", err)
	}
	return newAPIClientToken(cfg.API.Listen, tok.Reveal()), nil
}

func newAPIClientToken(listen, token string) *apiClient {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
		ResponseHeaderTimeout: 90 * time.Second, // assign-seqr-id --scan waits for a scan
		MaxIdleConns:          2,
	}
	base := "http://" + listen
	if sock, ok := strings.CutPrefix(listen, "unix:"); ok {
		base = "http://localhost"
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}
	}
	return &apiClient{base: base, hc: &http.Client{Transport: tr}, token: token}
}

// problem is an RFC 9457 problem+json body.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Field  string `json:"field,omitempty"`
}

// apiError is a non-2xx answer, shown as one line.
type apiError struct {
	Method, Path string
	Status       int
	Problem      problem
}

func (e *apiError) Error() string {
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

func (a *apiClient) request(ctx context.Context, method, path string, body any, hdr http.Header) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	return req, nil
}

// do sends a JSON request and decodes a JSON answer into out (if not nil).
func (a *apiClient) do(ctx context.Context, method, path string, body, out any, hdr http.Header) error {
	req, err := a.request(ctx, method, path, body, hdr)
	if err != nil {
		return err
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w (is posd running? `systemctl status posd`)", method, path, unwrapURLError(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		e := &apiError{Method: method, Path: path, Status: resp.StatusCode}
		_ = json.Unmarshal(b, &e.Problem) // a non-JSON error body still gives the status
		return e
	}
	if out == nil || len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

func unwrapURLError(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

// events follows a payment's Server-Sent Events until the stream ends or ctx
// is done, calling fn for each event.
func (a *apiClient) events(ctx context.Context, id string, fn func(register.Event)) error {
	path := "/v1/payments/" + id + "/events"
	req, err := a.request(ctx, http.MethodGet, path, nil, http.Header{"Accept": {"text/event-stream"}})
	if err != nil {
		return err
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e := &apiError{Method: http.MethodGet, Path: path, Status: resp.StatusCode}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		_ = json.Unmarshal(b, &e.Problem)
		return e
	}
	return readSSE(resp.Body, fn)
}

// readSSE parses an event stream: "data:" lines up to a blank line form one event.
func readSSE(r io.Reader, fn func(register.Event)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var data strings.Builder
	flush := func() {
		if data.Len() == 0 {
			return
		}
		var ev register.Event
		if err := json.Unmarshal([]byte(data.String()), &ev); err == nil {
			fn(ev)
		}
		data.Reset()
	}
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			flush()
		case strings.HasPrefix(line, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	flush()
	return sc.Err()
}
