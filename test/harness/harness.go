// Package harness runs posd and paysim as built binaries, as separate
// processes on loopback, for the end-to-end tests (test/e2e) and the
// benchmark commands (bench/). It waits for posd the way systemd does: for
// READY=1 on a NOTIFY_SOCKET of its own.
package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/posd/posd/internal/apiclient"
)

// Binaries are the posd and paysim executables.
type Binaries struct {
	Posd, Paysim string
}

// Build compiles cmd/posd and cmd/paysim into dir (cgo on: posd needs SQLite).
func Build(ctx context.Context, dir string) (Binaries, error) {
	b := Binaries{Posd: filepath.Join(dir, "posd"), Paysim: filepath.Join(dir, "paysim")}
	for _, c := range []struct{ out, pkg string }{
		{b.Posd, "github.com/posd/posd/cmd/posd"},
		{b.Paysim, "github.com/posd/posd/cmd/paysim"},
	} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", c.out, c.pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			return Binaries{}, fmt.Errorf("go build %s: %w\n%s", c.pkg, err, out)
		}
	}
	return b, nil
}

// Output collects a process's output and passes each line to a watcher.
type Output struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines chan string
}

func newOutput() *Output { return &Output{lines: make(chan string, 256)} }

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		select {
		case o.lines <- l:
		default: // nobody is watching; the buffer keeps it
		}
	}
	return len(p), nil
}

// String is everything the process wrote so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// Proc is one running process.
type Proc struct {
	Cmd     *exec.Cmd
	Out     *Output
	Started time.Time
	exited  chan struct{}
}

func start(cmd *exec.Cmd) (*Proc, error) {
	p := &Proc{Cmd: cmd, Out: newOutput(), exited: make(chan struct{})}
	cmd.Stdout = p.Out
	cmd.Stderr = p.Out
	p.Started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// Exited is closed when the process has ended.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Kill sends SIGKILL and waits until the process is gone.
func (p *Proc) Kill() {
	_ = p.Cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// Stop sends SIGTERM and waits up to limit, then SIGKILL.
func (p *Proc) Stop(limit time.Duration) {
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(limit):
		p.Kill()
	}
}

// StartPaysim runs the emulator on a free loopback port and returns it with its base URL.
func StartPaysim(bin Binaries, extra ...string) (*Proc, string, error) {
	args := append([]string{"--listen", "127.0.0.1:0", "--log-format", "json", "--log-level", "warn"}, extra...)
	p, err := start(exec.Command(bin.Paysim, args...))
	if err != nil {
		return nil, "", err
	}
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l := <-p.Out.lines:
			if base, ok := strings.CutPrefix(l, "paysim listening on "); ok {
				return p, strings.TrimSpace(base), nil
			}
		case <-p.exited:
			return nil, "", fmt.Errorf("paysim exited before listening:\n%s", p.Out.String())
		case <-deadline:
			p.Kill()
			return nil, "", fmt.Errorf("paysim did not say where it listens:\n%s", p.Out.String())
		}
	}
}

// StartPosd runs `posd serve` with its state in stateDir, its API on a unix
// socket there, and SEQR at seqrURL. It returns once posd sent READY=1, with
// the time from start to READY. StartPosdWith configures several providers.
func StartPosd(bin Binaries, stateDir, seqrURL string, env ...string) (*Proc, time.Duration, error) {
	return startPosd(bin, stateDir, append([]string{"POSD_PROVIDERS_SEQR_URL=" + seqrURL}, env...))
}

func startPosd(bin Binaries, stateDir string, env []string) (*Proc, time.Duration, error) {
	notifyPath := filepath.Join(stateDir, fmt.Sprintf("notify-%d.sock", time.Now().UnixNano()))
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		return nil, 0, fmt.Errorf("notify socket: %w", err)
	}
	defer os.Remove(notifyPath)
	defer notify.Close()

	cmd := exec.Command(bin.Posd, "serve")
	cmd.Env = append(os.Environ(),
		"POSD_STATE_DIR="+stateDir,
		"POSD_API_LISTEN=unix:"+SocketPath(stateDir),
		"POSD_LOG_FORMAT=json",
		"NOTIFY_SOCKET="+notifyPath,
	)
	cmd.Env = append(cmd.Env, env...)
	p, err := start(cmd)
	if err != nil {
		return nil, 0, err
	}
	ready := make(chan time.Time, 1)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := notify.ReadFromUnix(buf)
			if err != nil {
				return
			}
			for _, l := range strings.Split(string(buf[:n]), "\n") {
				if l == "READY=1" {
					ready <- time.Now()
					return
				}
			}
		}
	}()
	select {
	case at := <-ready:
		return p, at.Sub(p.Started), nil
	case <-p.exited:
		return nil, 0, fmt.Errorf("posd exited before READY=1:\n%s", p.Out.String())
	case <-time.After(30 * time.Second):
		p.Kill()
		return nil, 0, fmt.Errorf("posd sent no READY=1 in 30 s:\n%s", p.Out.String())
	}
}

// SocketPath is where StartPosd puts the local API.
func SocketPath(stateDir string) string { return filepath.Join(stateDir, "api.sock") }

// API is a client of posd's local API over its unix socket: the shared
// apiclient (typed calls through Client), with Do in the harness's argument
// order.
type API struct {
	Client *apiclient.Client
	// Token is for the raw requests no client makes (a stream never read).
	Token string
}

// NewAPI reads the token posd created in stateDir and reaches posd on its
// unix socket there.
func NewAPI(stateDir string) (*API, error) {
	tok, err := os.ReadFile(filepath.Join(stateDir, "api-token"))
	if err != nil {
		return nil, fmt.Errorf("read api token: %w", err)
	}
	return NewAPIAt("unix:"+SocketPath(stateDir), strings.TrimSpace(string(tok))), nil
}

// NewAPIAt reaches posd at listen (its api.listen: "host:port" or
// "unix:/path") with token.
func NewAPIAt(listen, token string) *API {
	return &API{Token: token, Client: apiclient.New(apiclient.Config{
		Listen:       listen,
		Token:        token,
		Timeout:      30 * time.Second,
		MaxIdleConns: 256, // the benches run that many calls at once
	})}
}

// StatusError is a non-2xx answer of paysim's control API. (posd's API
// answers *apiclient.Error.)
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Code, e.Body) }

// Do sends a JSON request and decodes a 2xx JSON answer into out. A non-2xx
// answer is an *apiclient.Error (see ProblemOf).
func (a *API) Do(ctx context.Context, method, path string, body any, hdr map[string]string, out any) error {
	var h http.Header
	if len(hdr) > 0 {
		h = make(http.Header, len(hdr))
		for k, v := range hdr {
			h.Set(k, v)
		}
	}
	return a.Client.Do(ctx, method, path, body, out, h)
}

// Sim is a client of paysim's control API.
type Sim struct {
	Base string
	HTTP *http.Client
}

// NewSim talks to the paysim at base.
func NewSim(base string) *Sim {
	return &Sim{Base: base, HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// Do sends a JSON request to the control API.
func (s *Sim) Do(ctx context.Context, method, path string, body, out any) error {
	req, err := newJSONRequest(ctx, method, s.Base+path, body)
	if err != nil {
		return err
	}
	return doJSON(s.HTTP, req, out)
}

// Call is one entry of paysim's call log.
type Call struct {
	Time      time.Time     `json:"time"`
	Operation string        `json:"operation"`
	Reference string        `json:"invoiceReference"`
	Duration  time.Duration `json:"durationNs"`
}

// Calls lists the SEQR calls of one operation (and reference, if not empty), in order.
func (s *Sim) Calls(ctx context.Context, op, ref string) ([]Call, error) {
	var resp struct {
		Calls []Call `json:"calls"`
	}
	err := s.Do(ctx, "GET", "/sim/calls?service=seqr&op="+op+"&ref="+ref, nil, &resp)
	return resp.Calls, err
}

func newJSONRequest(ctx context.Context, method, url string, body any) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

func doJSON(c *http.Client, req *http.Request, out any) error {
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, &StatusError{Code: resp.StatusCode, Body: strings.TrimSpace(string(b))})
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode %q: %w", req.Method, req.URL.Path, b, err)
		}
	}
	return nil
}

// Payment is the part of posd's payment the harness reads.
type Payment struct {
	ID               string `json:"id"`
	State            string `json:"state"`
	InvoiceReference string `json:"invoiceReference"`
	ERSReference     string `json:"ersReference"`
	Window           int    `json:"window"`
	PollCount        int    `json:"pollCount"`
}

// Sale is a one-row SEQR payment request of amount (a decimal string).
func Sale(saleID, amount string) map[string]any {
	return map[string]any{
		"method": "seqr", "saleId": saleID, "cashierId": "c1", "title": "Test sale",
		"amount": amount, "currency": "SEK", "receiptTotal": amount,
		"rows": []map[string]string{{"description": "Kaffe", "quantity": "1", "unitPrice": amount, "totalAmount": amount, "taxRate": "12"}},
	}
}

// Setup registers the till with the public test reseller and assigns seqrID.
func Setup(ctx context.Context, api *API, seqrID string) error {
	if err := api.Do(ctx, "POST", "/v1/terminal/register", map[string]string{
		"resellerId": "public_test_shop", "resellerUserId": "9900", "resellerPassword": "1234",
		"externalTerminalId": "harness/1", "name": "Harness till",
	}, nil, nil); err != nil {
		return fmt.Errorf("register terminal: %w", err)
	}
	if err := api.Do(ctx, "PUT", "/v1/terminal/seqr-id", map[string]string{"seqrId": seqrID}, nil, nil); err != nil {
		return fmt.Errorf("assign seqr id: %w", err)
	}
	return nil
}

// ErrTimeout is returned by WaitFor when the condition did not hold in time.
var ErrTimeout = errors.New("timed out")

// WaitFor checks cond on a short ticker until it holds, fails, or limit
// passes. Separate processes share no channel, so a bounded wait on an
// observable condition is how they synchronise.
func WaitFor(ctx context.Context, limit time.Duration, cond func() (bool, error)) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(limit)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-tick.C:
		case <-deadline:
			return fmt.Errorf("after %s: %w", limit, ErrTimeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ---- fault injection and the emulator's view (network-fault tests, bench/faultbench) ----

// FaultRule is one rule of paysim's POST /sim/faults (internal/simctl.Rule).
type FaultRule struct {
	Service     string   `json:"service,omitempty"`
	Operation   string   `json:"operation,omitempty"` // "" or "*": every operation
	LatencyMs   int64    `json:"latencyMs,omitempty"`
	FailureRate *float64 `json:"failureRate,omitempty"` // nil: every matching call
	Mode        string   `json:"mode,omitempty"`        // "", drop, reset, http500, resultCode
	Code        int      `json:"code,omitempty"`
	Count       int      `json:"count,omitempty"` // 0: no limit
	Process     bool     `json:"process,omitempty"`
	Fired       int      `json:"fired,omitempty"` // read-only
}

// Rate is a FailureRate value.
func Rate(f float64) *float64 { return &f }

// SetFaults replaces paysim's fault rules and returns them as paysim holds them.
func (s *Sim) SetFaults(ctx context.Context, rules ...FaultRule) ([]FaultRule, error) {
	if rules == nil {
		rules = []FaultRule{}
	}
	var resp struct {
		Rules []FaultRule `json:"rules"`
	}
	err := s.Do(ctx, "POST", "/sim/faults", rules, &resp)
	return resp.Rules, err
}

// Faults returns the active rules with their fired counters.
func (s *Sim) Faults(ctx context.Context) ([]FaultRule, error) {
	var resp struct {
		Rules []FaultRule `json:"rules"`
	}
	err := s.Do(ctx, "GET", "/sim/faults", nil, &resp)
	return resp.Rules, err
}

// ClearFaults removes every fault rule.
func (s *Sim) ClearFaults(ctx context.Context) error {
	return s.Do(ctx, "DELETE", "/sim/faults", nil, nil)
}

// SimCall is one entry of paysim's call log with everything it records.
type SimCall struct {
	Seq        int64             `json:"seq"`
	Time       time.Time         `json:"time"`
	Operation  string            `json:"operation"`
	Reference  string            `json:"invoiceReference"`
	ResultCode *int              `json:"resultCode"` // nil: no business answer (fault, drop, reset)
	Fault      string            `json:"fault"`      // "injected drop", "injected reset", a fault string
	Duration   time.Duration     `json:"durationNs"`
	Detail     map[string]string `json:"detail"`
}

// End is when the emulator finished the call (receive time + duration).
func (c SimCall) End() time.Time { return c.Time.Add(c.Duration) }

// CallLog lists the SEQR calls of op (all if empty) and ref (all if empty), in order.
func (s *Sim) CallLog(ctx context.Context, op, ref string) ([]SimCall, error) {
	var resp struct {
		Calls []SimCall `json:"calls"`
	}
	err := s.Do(ctx, "GET", "/sim/calls?service=seqr&op="+op+"&ref="+ref, nil, &resp)
	return resp.Calls, err
}

// Invoice is the emulator's snapshot of one SEQR invoice.
type Invoice struct {
	InvoiceReference string     `json:"invoiceReference"`
	Status           string     `json:"status"`
	Version          int        `json:"version"`
	ERSReference     string     `json:"ersReference"`
	Reversed         bool       `json:"reversed"`
	Polls            int        `json:"polls"`
	LastPollAt       *time.Time `json:"lastPollAt"`
	PaidAt           *time.Time `json:"paidAt"`
	Receipts         int        `json:"receipts"` // submitPaymentReceipt calls accepted
}

// Invoice reads the invoice ref at the emulator (time rules such as the
// reversal of an unpolled payment applied as of now).
func (s *Sim) Invoice(ctx context.Context, ref string) (Invoice, error) {
	var inv Invoice
	err := s.Do(ctx, "GET", "/sim/seqr/invoices/"+ref, nil, &inv)
	return inv, err
}

// Pay is the customer answering invoice ref on the phone: outcome "paid" or "reject".
func (s *Sim) Pay(ctx context.Context, ref, outcome string) (Invoice, error) {
	var inv Invoice
	err := s.Do(ctx, "POST", "/sim/seqr/pay", map[string]string{"invoiceReference": ref, "outcome": outcome}, &inv)
	return inv, err
}

// Problem is the RFC 9457 body of a non-2xx answer of posd's API.
type Problem = apiclient.Problem

// ProblemOf returns the problem carried by an API error (an
// *apiclient.Error), or the status of a control API error (*StatusError).
func ProblemOf(err error) (Problem, bool) {
	if p, ok := apiclient.ProblemOf(err); ok {
		return p, true
	}
	var se *StatusError
	if !errors.As(err, &se) {
		return Problem{}, false
	}
	var p Problem
	if json.Unmarshal([]byte(se.Body), &p) != nil {
		return Problem{Status: se.Code}, true
	}
	if p.Status == 0 {
		p.Status = se.Code
	}
	return p, true
}

// PaymentDetail is Payment with the fields the network-fault tests read too.
type PaymentDetail struct {
	Payment
	OutageSince *time.Time `json:"outageSince"`
	Error       string     `json:"error"`
}

// Journal returns the posts of posd's receipt file after sequence number after.
func (a *API) Journal(ctx context.Context, after int64) ([]JournalPost, error) {
	var resp struct {
		Posts []JournalPost `json:"posts"`
	}
	err := a.Do(ctx, "GET", fmt.Sprintf("/v1/journal?after=%d", after), nil, nil, &resp)
	return resp.Posts, err
}

// JournalPost is one transaction post of the receipt file.
type JournalPost struct {
	Seq       int64  `json:"seq"`
	PaymentID string `json:"paymentId"`
	Kind      string `json:"kind"`
	Text      string `json:"text"`
	Amount    string `json:"amount"`
	Reference string `json:"reference"`
}

// Payments lists every payment posd holds, oldest first, page by page
// (GET /v1/payments answers at most 500 a page and says where to go on).
func (a *API) Payments(ctx context.Context) ([]PaymentDetail, error) {
	var all []PaymentDetail
	cursor := ""
	for {
		var resp struct {
			Payments []PaymentDetail `json:"payments"`
			Next     string          `json:"next"`
		}
		path := "/v1/payments?limit=500"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		if err := a.Do(ctx, "GET", path, nil, nil, &resp); err != nil {
			return all, err
		}
		all = append(all, resp.Payments...)
		if resp.Next == "" {
			return all, nil
		}
		cursor = resp.Next
	}
}
