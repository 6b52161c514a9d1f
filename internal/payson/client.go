package payson

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
)

// Transport limits. A create whose answer does not come within 10 s is
// given up; its outcome is unknown (the adapter then looks it up).
const (
	dialTimeout           = 3 * time.Second
	tlsHandshakeTimeout   = 5 * time.Second
	responseHeaderTimeout = 10 * time.Second
	overallTimeout        = 10 * time.Second
	maxResponse           = 4 << 20
	// maxListPages bounds one FindByReference walk per status.
	maxListPages = 50
)

// Config is the client's identity and transport.
type Config struct {
	// URL is the API base up to and including "/2.0/", e.g.
	// https://test-api.payson.se/2.0/.
	URL        string
	AgentID    string
	APIKey     string
	HTTPClient *http.Client   // nil: explicit timeouts, TLS 1.2 minimum, no redirects
	RootCAs    *x509.CertPool // roots for the default client; nil: the system's
	Logger     *zap.Logger    // nil: no logging
}

// Client calls Payson Checkout 2.0. Safe for concurrent use.
type Client struct {
	base       *url.URL
	auth       string
	key        string
	http       *http.Client
	log        *zap.Logger
	tracesConn bool
}

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
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   4,
		},
		// Payson never redirects an API call; following one would re-send the
		// API key elsewhere and turn a POST into a GET.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// New checks cfg and returns a client. It starts nothing and sends nothing.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("payson: config url must be an http:// or https:// URL with a host")
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	u.RawQuery, u.Fragment = "", ""
	if cfg.AgentID == "" || cfg.APIKey == "" {
		return nil, errors.New("payson: config agent_id and api_key are required")
	}
	if strings.ContainsAny(cfg.AgentID, ":\r\n") || strings.ContainsAny(cfg.APIKey, "\r\n") {
		return nil, errors.New("payson: config agent_id or api_key has a forbidden character")
	}
	req, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	req.SetBasicAuth(cfg.AgentID, cfg.APIKey)
	c := &Client{base: u, auth: req.Header.Get("Authorization"), key: cfg.APIKey, http: cfg.HTTPClient, log: cfg.Logger}
	if c.http == nil {
		c.http = defaultHTTPClient(cfg.RootCAs)
	}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	switch c.http.Transport.(type) {
	case nil, *http.Transport:
		c.tracesConn = true
	}
	return c, nil
}

// BaseURL is the API base the client calls.
func (c *Client) BaseURL() string { return c.base.String() }

// Account reads the merchant's account (GET /Accounts). It changes nothing.
func (c *Client) Account(ctx context.Context) (Account, error) {
	b, _, err := c.do(ctx, "account", http.MethodGet, "Accounts", nil, http.StatusOK)
	if err != nil {
		return Account{}, err
	}
	a, err := decodeAccount(b)
	if err != nil {
		return Account{}, fmt.Errorf("payson account: %w", err)
	}
	return a, nil
}

// Create creates a checkout (POST /Checkouts). The request is checked
// first (required fields, lengths, rates, purchase limits): a refused one
// is ErrInvalidRequest and ErrNotSent. Payson has no idempotency: after an
// error that is not ErrNotSent and not an *APIError the checkout may exist;
// look it up with FindByReference before creating another.
func (c *Client) Create(ctx context.Context, nc NewCheckout) (Checkout, error) {
	const op = "create checkout"
	if err := ValidateNew(nc); err != nil {
		return Checkout{}, invalid(op, err)
	}
	body, err := encodeCreate(nc)
	if err != nil {
		return Checkout{}, invalid(op, err)
	}
	b, hr, err := c.do(ctx, op, http.MethodPost, "Checkouts", body, http.StatusCreated)
	if err != nil {
		return Checkout{}, err
	}
	co, err := decodeCheckout(b)
	if err != nil {
		return Checkout{}, fmt.Errorf("payson %s: %w", op, err)
	}
	// The Location header is where real clients find the id; it must agree.
	if loc := hr.Header.Get("Location"); loc != "" && !strings.HasSuffix(strings.TrimSuffix(loc, "/"), "/"+co.ID) {
		return Checkout{}, fmt.Errorf("payson %s: Location %q does not name checkout %s", op, loc, co.ID)
	}
	return co, nil
}

// Get reads one checkout (GET /Checkouts/{id}).
func (c *Client) Get(ctx context.Context, id string) (Checkout, error) {
	const op = "get checkout"
	if err := checkID(id); err != nil {
		return Checkout{}, invalid(op, err)
	}
	b, _, err := c.do(ctx, op, http.MethodGet, "Checkouts/"+url.PathEscape(id), nil, http.StatusOK)
	if err != nil {
		return Checkout{}, err
	}
	co, err := decodeCheckout(b)
	if err != nil {
		return Checkout{}, fmt.Errorf("payson %s: %w", op, err)
	}
	return co, nil
}

// Update puts the whole checkout back (PUT /Checkouts/{id}): status changes
// (shipped, canceled) and credits (raised creditedAmount) go this way. co is
// normally a Get result, modified: every item keeps its itemId.
func (c *Client) Update(ctx context.Context, co Checkout) (Checkout, error) {
	const op = "update checkout"
	if err := checkID(co.ID); err != nil {
		return Checkout{}, invalid(op, err)
	}
	body, err := encodeUpdate(co)
	if err != nil {
		return Checkout{}, invalid(op, err)
	}
	b, _, err := c.do(ctx, op, http.MethodPut, "Checkouts/"+url.PathEscape(co.ID), body, http.StatusOK)
	if err != nil {
		return Checkout{}, err
	}
	out, err := decodeCheckout(b)
	if err != nil {
		return Checkout{}, fmt.Errorf("payson %s: %w", op, err)
	}
	return out, nil
}

// List reads one page (1-based) of the checkouts in status.
func (c *Client) List(ctx context.Context, status Status, page int) (List, error) {
	const op = "list checkouts"
	if page < 1 {
		page = 1
	}
	q := url.Values{"status": {string(status)}, "page": {strconv.Itoa(page)}}
	b, _, err := c.do(ctx, op, http.MethodGet, "Checkouts?"+q.Encode(), nil, http.StatusOK)
	if err != nil {
		return List{}, err
	}
	l, err := decodeList(b)
	if err != nil {
		return List{}, fmt.Errorf("payson %s: %w", op, err)
	}
	return l, nil
}

// ListAll walks every page of status (at most 50 pages) and returns the
// checkouts for which keep returns true (nil: all).
func (c *Client) ListAll(ctx context.Context, status Status, keep func(Checkout) bool) ([]Checkout, error) {
	var out []Checkout
	for page := 1; page <= maxListPages; page++ {
		l, err := c.List(ctx, status, page)
		if err != nil {
			return nil, err
		}
		for _, co := range l.Data {
			if keep == nil || keep(co) {
				out = append(out, co)
			}
		}
		if len(l.Data) == 0 || page >= l.TotalPages {
			return out, nil
		}
	}
	return out, fmt.Errorf("payson list checkouts %s: more than %d pages", status, maxListPages)
}

// FindByReference lists the checkouts whose merchant.reference is ref, in
// the given statuses (none: every status). Payson filters lists by status
// only, so the reference is matched here.
func (c *Client) FindByReference(ctx context.Context, ref string, sts ...Status) ([]Checkout, error) {
	if ref == "" {
		return nil, invalid("find checkout", errors.New("merchant.reference is empty"))
	}
	if len(sts) == 0 {
		sts = statuses
	}
	var out []Checkout
	seen := map[string]bool{}
	for _, st := range sts {
		found, err := c.ListAll(ctx, st, func(co Checkout) bool { return co.Merchant.Reference == ref })
		if err != nil {
			return nil, err
		}
		for _, co := range found {
			if !seen[co.ID] {
				seen[co.ID] = true
				out = append(out, co)
			}
		}
	}
	return out, nil
}

func checkID(id string) error {
	if id == "" || len(id) > 100 || strings.ContainsAny(id, "/?#% ") {
		return fmt.Errorf("checkout id %q is not an id", id)
	}
	return nil
}

// do sends one request and returns the body of a `want` answer. Errors:
// ErrNotSent (no connection was obtained), *APIError (Payson answered an
// error status), or another error after which the request may have arrived.
func (c *Client) do(ctx context.Context, op, method, path string, body []byte, want int) (resp []byte, hr *http.Response, err error) {
	start := time.Now()
	status := 0
	defer func() {
		if ce := c.log.Check(zap.DebugLevel, "payson call"); ce != nil {
			fields := []zap.Field{zap.String("op", op), zap.String("method", method), zap.String("path", path),
				zap.Duration("duration", time.Since(start)), zap.Int("status", status)}
			if body != nil {
				fields = append(fields, zap.ByteString("request", body))
			}
			if resp != nil {
				fields = append(fields, zap.ByteString("response", resp))
			}
			if err != nil {
				fields = append(fields, zap.Error(err))
			}
			ce.Write(fields...)
		}
	}()
	if err := ctx.Err(); err != nil {
		return nil, nil, notSent(op, err)
	}
	ref, err := url.Parse(path)
	if err != nil {
		return nil, nil, invalid(op, err)
	}
	var gotConn atomic.Bool
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) }}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), method, c.base.ResolveReference(ref).String(), rd)
	if err != nil {
		return nil, nil, notSent(op, err)
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hr, err = c.http.Do(req)
	if err != nil {
		err = c.scrub(err)
		if c.neverSent(err, gotConn.Load()) {
			return nil, nil, notSent(op, err)
		}
		return nil, nil, fmt.Errorf("payson %s: %w", op, err)
	}
	defer hr.Body.Close()
	status = hr.StatusCode
	resp, err = readBody(hr)
	if err != nil {
		return nil, nil, fmt.Errorf("payson %s: read response (HTTP %d): %w", op, hr.StatusCode, err)
	}
	// A create answered 200 instead of the documented 201 still made it.
	if hr.StatusCode == want || (want == http.StatusCreated && hr.StatusCode == http.StatusOK) {
		return resp, hr, nil
	}
	if hr.StatusCode >= 400 && hr.StatusCode < 500 {
		msg, errs := decodeError(resp)
		return nil, nil, &APIError{Op: op, Status: hr.StatusCode, Message: msg, Errors: errs}
	}
	// 5xx, a redirect or an unexpected 2xx: Payson may have acted on it.
	msg, errs := decodeError(resp)
	return nil, nil, fmt.Errorf("payson %s: unexpected HTTP %d: %w", op, hr.StatusCode,
		&APIError{Op: op, Status: hr.StatusCode, Message: msg, Errors: errs})
}

// scrub keeps the API key out of an error text (a URL in a transport error
// never carries it, but a proxy's answer might echo a header).
func (c *Client) scrub(err error) error {
	if c.key == "" || !strings.Contains(err.Error(), c.key) {
		return err
	}
	return &multiError{msg: strings.ReplaceAll(err.Error(), c.key, "***"), errs: []error{err}}
}

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

func readBody(hr *http.Response) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(hr.Body, maxResponse+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxResponse {
		return nil, fmt.Errorf("response exceeds the %d byte limit", maxResponse)
	}
	return b, nil
}

// ValidateNew checks a create request as Payson would (D.3), so that a
// refusal costs no round trip and names the property. It also checks the
// purchase limits against the totals computed per D.7.
func ValidateNew(nc NewCheckout) error {
	m := nc.Merchant
	for _, f := range []struct{ name, v string }{
		{"merchant.checkoutUri", m.CheckoutURI}, {"merchant.confirmationUri", m.ConfirmationURI},
		{"merchant.notificationUri", m.NotificationURI}, {"merchant.termsUri", m.TermsURI},
	} {
		if err := checkURI(f.name, f.v); err != nil {
			return err
		}
	}
	if m.ValidationURI != "" {
		if err := checkURI("merchant.validationUri", m.ValidationURI); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"merchant.reference", m.Reference, 100}, {"merchant.partnerId", m.PartnerID, 100},
		{"merchant.integrationInfo", m.IntegrationInfo, 100}} {
		if utf8.RuneCountInString(f.v) > f.max {
			return fmt.Errorf("%s: longer than %d characters", f.name, f.max)
		}
	}
	lim, ok := limits[nc.Currency]
	if !ok {
		return fmt.Errorf("order.currency: %q is not SEK or EUR", nc.Currency)
	}
	if len(nc.Items) == 0 {
		return errors.New("order.items: at least one item is required")
	}
	for i, it := range nc.Items {
		if err := checkItem(i, it); err != nil {
			return err
		}
	}
	t, err := OrderTotals(nc.Items)
	if err != nil {
		return err
	}
	if t.IncludingTax < lim[0] || t.IncludingTax > lim[1] {
		return fmt.Errorf("order.totalPriceIncludingTax: %s %s is outside Payson's limits %s..%s",
			t.IncludingTax, nc.Currency, lim[0], lim[1])
	}
	return nil
}

func checkURI(name, v string) error {
	n := utf8.RuneCountInString(v)
	if n < 9 || n > 2000 {
		return fmt.Errorf("%s: required, 9 to 2000 characters", name)
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s: %q is not an absolute http(s) URL", name, v)
	}
	return nil
}

func checkItem(i int, it Item) error {
	p := fmt.Sprintf("order.items[%d].", i)
	if n := utf8.RuneCountInString(it.Name); n < 1 || n > 200 {
		return fmt.Errorf("%sname: 1 to 200 characters", p)
	}
	if utf8.RuneCountInString(it.Reference) > 100 {
		return fmt.Errorf("%sreference: longer than 100 characters", p)
	}
	q, err := parseDec(it.Quantity)
	if err != nil || q.Sign() <= 0 {
		return fmt.Errorf("%squantity: must be a positive decimal", p)
	}
	for _, f := range []struct{ name, v string }{{"taxRate", it.TaxRate}, {"discountRate", it.DiscountRate}} {
		if f.v == "" {
			continue
		}
		r, err := parseDec(f.v)
		if err != nil || r.Sign() < 0 || r.Cmp(ratOf(100)) > 0 {
			return fmt.Errorf("%s%s: %q must be a fraction between 0 and 1 (0.25 for 25 %%)", p, f.name, f.v)
		}
	}
	if it.EAN != "" {
		if len(it.EAN) < 8 || len(it.EAN) > 18 || strings.Trim(it.EAN, "0123456789") != "" {
			return fmt.Errorf("%sean: 8 to 18 digits", p)
		}
	}
	switch it.Type {
	case "", ItemPhysical, ItemService, ItemFee, ItemDiscount:
	default:
		return fmt.Errorf("%stype: %q is not physical, service, fee or discount", p, it.Type)
	}
	return nil
}
