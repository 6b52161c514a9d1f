package resurs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/posd/posd/internal/payment"
)

// MAPIConfig configures the Merchant API client (spec C): the OAuth2
// token and the payment widget's backend calls.
type MAPIConfig struct {
	// URL is the API gateway base, e.g. https://apigw.integration.resurs.com/api.
	URL string
	// TokenURL defaults to URL + "/oauth2/token".
	TokenURL string
	// WidgetURL is the widget service base; defaults to URL +
	// "/mock_payment_widget_service" (the integration route, C.3).
	WidgetURL    string
	ClientID     string
	ClientSecret string
	Scope        string // default "mock-merchant-api"
	// Margin is how long before its expiry a token or widget session is
	// renewed; default 60 s.
	Margin time.Duration
	Now    func() time.Time // nil: time.Now
	Transport
}

// MAPI is the Merchant API client. The access token is cached until its
// expiry minus Margin and fetched again once when a call answers 401. The
// token and the client secret are never logged nor put in an error.
// Safe for concurrent use.
type MAPI struct {
	tokenURL, widgetURL string
	id, secret, scope   string
	margin              time.Duration
	now                 func() time.Time
	http                *http.Client
	log                 *zap.Logger

	mu      sync.Mutex // guards the fields below; held while a token is fetched
	token   string
	expiry  time.Time
	fetches int // token requests made, for tests and metrics

	wmu     sync.Mutex
	widgets map[string]WidgetSession // by store id
}

// NewMAPI checks cfg and returns a client. It sends nothing.
func NewMAPI(cfg MAPIConfig) (*MAPI, error) {
	base, err := checkBase("mapi_url", cfg.URL)
	if err != nil {
		return nil, err
	}
	c := &MAPI{
		tokenURL: cfg.TokenURL, widgetURL: cfg.WidgetURL,
		id: cfg.ClientID, secret: cfg.ClientSecret, scope: cfg.Scope,
		margin: cfg.Margin, now: cfg.Now, http: cfg.client(),
		log:     cfg.logger().With(zap.String("component", "resurs-mapi")),
		widgets: map[string]WidgetSession{},
	}
	if c.tokenURL == "" {
		c.tokenURL = base + "/oauth2/token"
	} else if c.tokenURL, err = checkBase("mapi token URL", c.tokenURL); err != nil {
		return nil, err
	}
	if c.widgetURL == "" {
		c.widgetURL = base + "/mock_payment_widget_service"
	} else if c.widgetURL, err = checkBase("widget URL", c.widgetURL); err != nil {
		return nil, err
	}
	if c.scope == "" {
		c.scope = "mock-merchant-api"
	}
	if c.margin <= 0 {
		c.margin = time.Minute
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// ProblemError is an error answer of the Merchant API: an RFC 9457 problem
// body (type, title, status, detail, instance, errors[] with JSON pointers),
// or MAPI's own {traceId, code, message}.
type ProblemError struct {
	Op       string
	Status   int // HTTP status
	Type     string
	Title    string
	Detail   string
	Instance string
	Code     string // MAPI error code, or OAuth2 "error"
	TraceID  string
	Errors   []ProblemField
}

// ProblemField is one entry of a problem's errors[].
type ProblemField struct {
	Pointer string // RFC 6901 pointer into the request, e.g. "/storeId"
	Detail  string
}

func (e *ProblemError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "resurs %s: HTTP %d", e.Op, e.Status)
	for _, s := range []string{e.Code, e.Title, e.Detail} {
		if s != "" {
			b.WriteString(": " + s)
		}
	}
	for _, f := range e.Errors {
		fmt.Fprintf(&b, "; %s %s", f.Pointer, f.Detail)
	}
	return b.String()
}

// Is makes a 401 (or OAuth2 invalid_client) match ErrUnauthorized.
func (e *ProblemError) Is(target error) bool {
	return target == ErrUnauthorized && (e.Status == 401 || e.Code == "invalid_client")
}

func problemOf(op string, r restResult) *ProblemError {
	e := &ProblemError{Op: op, Status: r.status}
	var b struct {
		Type, Title, Detail, Instance string
		Message                       string          `json:"message"`
		Code                          json.RawMessage `json:"code"`
		Error                         string          `json:"error"`
		ErrorDescription              string          `json:"error_description"`
		TraceID                       string          `json:"traceId"`
		Errors                        []struct {
			Pointer, Detail, Message, Field string
		} `json:"errors"`
	}
	if err := json.Unmarshal(r.body, &b); err != nil {
		e.Detail = snippet(r.body)
		return e
	}
	e.Type, e.Title, e.Instance, e.TraceID = b.Type, b.Title, b.Instance, b.TraceID
	e.Detail = firstNonEmpty(b.Detail, b.Message, b.ErrorDescription)
	e.Code = firstNonEmpty(rawScalar(b.Code), b.Error)
	for _, f := range b.Errors {
		e.Errors = append(e.Errors, ProblemField{Pointer: firstNonEmpty(f.Pointer, f.Field), Detail: firstNonEmpty(f.Detail, f.Message)})
	}
	return e
}

const opToken = "token"

// Token returns a valid access token, fetching one when none is cached or
// the cached one expires within the margin.
func (c *MAPI) Token(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && c.now().Before(c.expiry.Add(-c.margin)) {
		return c.token, nil
	}
	return c.fetchLocked(ctx)
}

// TokenFetches returns how many token requests the client has made.
func (c *MAPI) TokenFetches() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fetches
}

// invalidate drops tok if it is still the cached token (a 401 answered it).
func (c *MAPI) invalidate(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == tok {
		c.token = ""
	}
}

func (c *MAPI) fetchLocked(ctx context.Context) (string, error) {
	if c.id == "" || c.secret == "" {
		return "", invalid(opToken, errors.New("client_id or client_secret is not configured"))
	}
	c.fetches++
	// JSON, as Resurs's own clients send it (I.1). No Authorization header.
	body := map[string]string{"grant_type": "client_credentials", "client_id": c.id, "client_secret": c.secret, "scope": c.scope}
	r, err := rest(ctx, c.http, c.log, opToken, http.MethodPost, c.tokenURL, body, nil)
	if err != nil {
		return "", err
	}
	if r.status != http.StatusOK {
		// A server may echo the request in its error: keep the secret out.
		pe := problemOf(opToken, r)
		for _, f := range []*string{&pe.Title, &pe.Detail, &pe.Code, &pe.Type, &pe.Instance} {
			*f = strings.ReplaceAll(*f, c.secret, "***")
		}
		for i := range pe.Errors {
			pe.Errors[i].Detail = strings.ReplaceAll(pe.Errors[i].Detail, c.secret, "***")
		}
		return "", pe
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(r.body, &tr); err != nil {
		return "", fmt.Errorf("resurs %s: bad token response: %w", opToken, err)
	}
	if tr.AccessToken == "" || tr.ExpiresIn <= 0 {
		return "", fmt.Errorf("resurs %s: response without access_token or expires_in", opToken)
	}
	if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer") {
		return "", fmt.Errorf("resurs %s: token_type %q is not Bearer", opToken, tr.TokenType)
	}
	c.token = tr.AccessToken
	c.expiry = c.now().Add(time.Duration(tr.ExpiresIn) * time.Second)
	c.log.Debug("resurs token fetched", zap.Time("expires", c.expiry))
	return c.token, nil
}

// authorized sends a JSON request with the bearer token and decodes a 2xx
// answer into out. A 401 drops the token and the call is made once more
// with a fresh one.
func (c *MAPI) authorized(ctx context.Context, op, method, u string, in, out any) error {
	for attempt := 0; ; attempt++ {
		tok, err := c.Token(ctx)
		if err != nil {
			return err
		}
		r, err := rest(ctx, c.http, c.log, op, method, u, in, func(req *http.Request) {
			req.Header.Set("Authorization", "Bearer "+tok)
		})
		if err != nil {
			return err
		}
		if r.status == http.StatusUnauthorized && attempt == 0 {
			c.invalidate(tok)
			continue
		}
		if r.status/100 != 2 {
			return problemOf(op, r)
		}
		if err := json.Unmarshal(r.body, out); err != nil {
			return fmt.Errorf("resurs %s: bad response: %w", op, err)
		}
		return nil
	}
}

// WidgetSession is a payment widget session for the front end: the
// contract's type, so that the adapter is a payment.Widget as it stands.
type WidgetSession = payment.WidgetSession

const (
	opWidgetSession = "widgetSession"
	opMethodTypes   = "paymentMethodTypes"
)

// WidgetSession returns a widget session for storeID (a UUID), reusing the
// cached one until its expiry minus the margin (C.3).
func (c *MAPI) WidgetSession(ctx context.Context, storeID string) (WidgetSession, error) {
	if !isUUID(storeID) {
		return WidgetSession{}, invalid(opWidgetSession, fmt.Errorf("storeId %q is not a UUID", storeID))
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if ws, ok := c.widgets[storeID]; ok && c.now().Before(ws.ExpiresAt.Add(-c.margin)) {
		return ws, nil
	}
	var resp struct {
		Data *struct {
			Token     string `json:"token"`
			ExpiresAt Time   `json:"expiresAt"`
		} `json:"data"`
	}
	if err := c.authorized(ctx, opWidgetSession, http.MethodPost, c.widgetURL+"/session", map[string]string{"storeId": storeID}, &resp); err != nil {
		return WidgetSession{}, err
	}
	if resp.Data == nil || resp.Data.Token == "" || resp.Data.ExpiresAt.IsZero() {
		return WidgetSession{}, fmt.Errorf("resurs %s: response without data.token or data.expiresAt", opWidgetSession)
	}
	ws := WidgetSession{Token: resp.Data.Token, ExpiresAt: resp.Data.ExpiresAt.Time}
	c.widgets[storeID] = ws
	return ws, nil
}

// PaymentMethodTypes maps payment method ids to their types
// (RESURS_INVOICE, SWISH, ...) for customerType "B2C" or "B2B".
func (c *MAPI) PaymentMethodTypes(ctx context.Context, storeID, customerType string, methodIDs []string) (map[string]string, error) {
	if !isUUID(storeID) {
		return nil, invalid(opMethodTypes, fmt.Errorf("storeId %q is not a UUID", storeID))
	}
	body := struct {
		StoreID         string   `json:"storeId"`
		CustomerType    string   `json:"customerType"`
		PaymentMethodID []string `json:"paymentMethodId"`
	}{storeID, customerType, methodIDs}
	var resp struct {
		Types map[string]string `json:"types"`
	}
	if err := c.authorized(ctx, opMethodTypes, http.MethodPost, c.widgetURL+"/payment-methods/types", body, &resp); err != nil {
		return nil, err
	}
	if resp.Types == nil {
		return nil, fmt.Errorf("resurs %s: response without types", opMethodTypes)
	}
	return resp.Types, nil
}

// isUUID checks the 8-4-4-4-12 hex form.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}
