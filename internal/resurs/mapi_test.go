package resurs

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

const storeUUID = "5f0c7b1e-3d5a-4c8e-9a2b-1f2e3d4c5b6a"

// mapiStub is a Merchant API with an injected token lifetime: it issues
// tokens tok-1, tok-2, ... and accepts only the newest.
type mapiStub struct {
	mu        sync.Mutex
	issued    int
	tokenBody []map[string]string
	widgetN   int
	expiresAt time.Time
}

func (s *mapiStub) handler(t *testing.T) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		var b map[string]string
		require.NoError(t, json.NewDecoder(r.Body).Decode(&b))
		s.tokenBody = append(s.tokenBody, b)
		if b["client_secret"] != "posd_test_secret" {
			w.WriteHeader(400)
			io.WriteString(w, `{"error":"invalid_client","error_description":"bad secret `+b["client_secret"]+`"}`)
			return
		}
		s.issued++
		io.WriteString(w, `{"access_token":"tok-`+itoa(s.issued)+`","token_type":"Bearer","expires_in":3599}`)
	})
	check := func(w http.ResponseWriter, r *http.Request) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		if a := r.Header.Get("Authorization"); a != "Bearer tok-"+itoa(s.issued) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(401)
			io.WriteString(w, `{"title":"Unauthorized","status":401}`)
			return false
		}
		return true
	}
	mux.HandleFunc("POST /api/mock_payment_widget_service/session", func(w http.ResponseWriter, r *http.Request) {
		if !check(w, r) {
			return
		}
		var b map[string]string
		json.NewDecoder(r.Body).Decode(&b)
		if !isUUID(b["storeId"]) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(400)
			io.WriteString(w, `{"type":"about:blank","title":"Bad Request","status":400,"detail":"invalid storeId","errors":[{"pointer":"/storeId","detail":"must be a UUID"}]}`)
			return
		}
		s.mu.Lock()
		s.widgetN++
		n, exp := s.widgetN, s.expiresAt
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"data":{"token":"rpmw_`+itoa(n)+`","expiresAt":"`+exp.Format(time.RFC3339)+`"}}`)
	})
	mux.HandleFunc("POST /api/mock_payment_widget_service/payment-methods/types", func(w http.ResponseWriter, r *http.Request) {
		if !check(w, r) {
			return
		}
		var b struct {
			StoreID         string   `json:"storeId"`
			CustomerType    string   `json:"customerType"`
			PaymentMethodID []string `json:"paymentMethodId"`
		}
		json.NewDecoder(r.Body).Decode(&b)
		if b.CustomerType != "B2C" && b.CustomerType != "B2B" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(400)
			io.WriteString(w, `{"type":"https://docs.resurs.com/problems/validation","title":"Validation failed","status":400,"instance":"/payment-methods/types","errors":[{"pointer":"/customerType","detail":"must be B2B or B2C"}]}`)
			return
		}
		out := map[string]map[string]string{"types": {}}
		for i, id := range b.PaymentMethodID {
			out["types"][id] = []string{"RESURS_INVOICE", "SWISH"}[i%2]
		}
		json.NewEncoder(w).Encode(out)
	})
	return mux
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newMAPI(t *testing.T, secret string, log *zap.Logger) (*MAPI, *mapiStub, *fakeClock) {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)}
	stub := &mapiStub{expiresAt: clock.t.Add(30 * time.Minute)}
	srv := httptest.NewServer(stub.handler(t))
	t.Cleanup(srv.Close)
	c, err := NewMAPI(MAPIConfig{URL: srv.URL + "/api", ClientID: "posd_test_client", ClientSecret: secret, Now: clock.Now, Transport: Transport{Logger: log}})
	require.NoError(t, err)
	return c, stub, clock
}

// E.25: the token is requested as Resurs's clients do, cached until its
// expiry minus the margin, and a wrong secret is ErrUnauthorized.
func TestTokenCachedUntilExpiryMinusMargin(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	c, stub, clock := newMAPI(t, "posd_test_secret", zap.New(core))
	ctx := context.Background()
	tok, err := c.Token(ctx)
	require.NoError(t, err)
	assert.Equal(t, "tok-1", tok)
	assert.Equal(t, map[string]string{"grant_type": "client_credentials", "client_id": "posd_test_client", "client_secret": "posd_test_secret", "scope": "mock-merchant-api"}, stub.tokenBody[0])

	clock.Add(3599*time.Second - 5*time.Second - time.Second)
	tok, err = c.Token(ctx)
	require.NoError(t, err)
	assert.Equal(t, "tok-1", tok, "still before expiry minus the token margin (5 s): at most one token request an hour")
	clock.Add(time.Second)
	tok, err = c.Token(ctx)
	require.NoError(t, err)
	assert.Equal(t, "tok-2", tok, "renewed at expiry minus the margin")
	assert.Equal(t, 2, c.TokenFetches())

	for _, e := range logs.All() {
		b, _ := json.Marshal(e.ContextMap())
		assert.NotContains(t, e.Message+string(b), "tok-", "the token is never logged")
		assert.NotContains(t, e.Message+string(b), "posd_test_secret")
	}
}

func TestTokenWrongSecret(t *testing.T) {
	c, _, _ := newMAPI(t, "wrong", nil)
	_, err := c.Token(context.Background())
	require.ErrorIs(t, err, ErrUnauthorized)
	assert.NotContains(t, err.Error(), "wrong", "the echoed secret is masked")
	assert.Contains(t, err.Error(), "bad secret ***")
	var pe *ProblemError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "invalid_client", pe.Code)
}

func TestTokenNotConfiguredIsNotSent(t *testing.T) {
	c, _, _ := newMAPI(t, "", nil)
	_, err := c.Token(context.Background())
	require.ErrorIs(t, err, ErrNotSent)
}

// E.25: a token the server no longer accepts is replaced once, then the call succeeds.
func TestRefreshedOnceOn401(t *testing.T) {
	c, stub, _ := newMAPI(t, "posd_test_secret", nil)
	ctx := context.Background()
	_, err := c.WidgetSession(ctx, storeUUID)
	require.NoError(t, err)
	// The server revokes tok-1 and has issued tok-2 elsewhere: our cached
	// token is answered 401 while its expiry says it is fine.
	stub.mu.Lock()
	stub.issued++ // tok-2 now the only valid one; the client still holds tok-1
	stub.mu.Unlock()
	_, err = c.PaymentMethodTypes(ctx, storeUUID, "B2C", []string{"a"})
	require.NoError(t, err)
	assert.Equal(t, 2, c.TokenFetches(), "one refresh after the 401")

}

func TestRefreshGivesUpAfterOneRetry(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/oauth2/token") {
			io.WriteString(w, `{"access_token":"t","token_type":"Bearer","expires_in":3599}`)
			return
		}
		calls++
		w.WriteHeader(401)
	}))
	defer srv.Close()
	c, err := NewMAPI(MAPIConfig{URL: srv.URL + "/api", ClientID: "a", ClientSecret: "b"})
	require.NoError(t, err)
	_, err = c.WidgetSession(context.Background(), storeUUID)
	require.ErrorIs(t, err, ErrUnauthorized)
	assert.Equal(t, 2, calls, "the call and one retry with a fresh token")
	assert.Equal(t, 2, c.TokenFetches())
}

// E.26: a widget session is cached until its expiry minus the margin.
func TestWidgetSessionCached(t *testing.T) {
	c, stub, clock := newMAPI(t, "posd_test_secret", nil)
	ctx := context.Background()
	ws, err := c.WidgetSession(ctx, storeUUID)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(ws.Token, "rpmw_"))
	assert.True(t, ws.ExpiresAt.Equal(stub.expiresAt))
	again, err := c.WidgetSession(ctx, storeUUID)
	require.NoError(t, err)
	assert.Equal(t, ws, again)
	clock.Add(29 * time.Minute)
	stub.mu.Lock()
	stub.expiresAt = clock.Now().Add(30 * time.Minute)
	stub.mu.Unlock()
	fresh, err := c.WidgetSession(ctx, storeUUID)
	require.NoError(t, err)
	assert.NotEqual(t, ws.Token, fresh.Token)

	_, err = c.WidgetSession(ctx, "not-a-uuid")
	require.ErrorIs(t, err, ErrInvalidRequest)
}

// E.27: types for two ids; a bad customerType is a problem with a pointer.
func TestPaymentMethodTypesAndProblems(t *testing.T) {
	c, _, _ := newMAPI(t, "posd_test_secret", nil)
	ctx := context.Background()
	types, err := c.PaymentMethodTypes(ctx, storeUUID, "B2C", []string{"id-1", "id-2"})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"id-1": "RESURS_INVOICE", "id-2": "SWISH"}, types)

	_, err = c.PaymentMethodTypes(ctx, storeUUID, "NATURAL", []string{"id-1"})
	var pe *ProblemError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, 400, pe.Status)
	assert.Equal(t, "Validation failed", pe.Title)
	assert.Equal(t, "/payment-methods/types", pe.Instance)
	assert.Equal(t, []ProblemField{{Pointer: "/customerType", Detail: "must be B2B or B2C"}}, pe.Errors)
	assert.False(t, errors.Is(err, ErrUnauthorized))
}

func TestProblemOfMAPIErrorBody(t *testing.T) {
	pe := problemOf("x", restResult{status: 409, body: []byte(`{"traceId":"abc","code":"CONFLICT","message":"already","timestamp":"2026-12-02T08:00:00Z"}`)})
	assert.Equal(t, "abc", pe.TraceID)
	assert.Equal(t, "CONFLICT", pe.Code)
	assert.Equal(t, "already", pe.Detail)
	pe = problemOf("x", restResult{status: 502, body: []byte(`<html>`)})
	assert.Equal(t, "<html>", pe.Detail)
}

func FuzzProblem(f *testing.F) {
	f.Add([]byte(`{"title":"t","status":400,"errors":[{"pointer":"/a","detail":"d"}]}`))
	f.Add([]byte(`{"error":"invalid_client"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		pe := problemOf("x", restResult{status: 400, body: b})
		_ = pe.Error()
		ae := apiErrorOf("x", restResult{status: 400, body: b})
		_ = ae.Error()
	})
}

// Issue 13's number: at most one token request an hour in steady state.
// Ten hours of widget-type calls, one a minute, on the injected clock.
func TestTokenRequestsAtMostOneAnHour(t *testing.T) {
	c, stub, clock := newMAPI(t, "posd_test_secret", nil)
	ctx := context.Background()
	for range 600 {
		_, err := c.PaymentMethodTypes(ctx, storeUUID, "B2C", []string{"id-1"})
		require.NoError(t, err)
		clock.Add(time.Minute)
	}
	assert.LessOrEqual(t, c.TokenFetches(), 11)
	assert.GreaterOrEqual(t, c.TokenFetches(), 10, "a token lives 3599 s less the margin")
	stub.mu.Lock()
	defer stub.mu.Unlock()
	assert.Equal(t, c.TokenFetches(), len(stub.tokenBody))
}
