package api

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/register"
	"github.com/posd/posd/internal/resurs"
	"github.com/posd/posd/internal/resurs/resurssim"
	"github.com/posd/posd/internal/simctl"
)

// startResursStack is the API before the real register with the Resurs
// adapter against the Resurs emulator over loopback; mapi says whether the
// Merchant API (the widget's backend) is configured.
func startResursStack(t *testing.T, mapi bool) (*realStack, *simctl.CallLog) {
	t.Helper()
	return startResursStackWith(t, resursStackOptions{mapi: mapi})
}

// resursStackOptions tune startResursStackWith.
type resursStackOptions struct {
	mapi   bool
	sim    resurssim.Options           // Calls is set by the stack
	adapt  func(*resurs.AdapterConfig) // nil: as configured by the stack
	config register.Config
}

func startResursStackWith(t *testing.T, o resursStackOptions) (*realStack, *simctl.CallLog) {
	t.Helper()
	mapi := o.mapi
	b := newStackBase(t)
	db, journal := b.db, b.journal
	calls := simctl.NewCallLog(0)
	o.sim.Calls = calls
	sim := resurssim.New(o.sim)
	simSrv := httptest.NewServer(sim.Handler())
	cfg := resurs.AdapterConfig{POSURL: simSrv.URL + "/pos", AfterShopURL: simSrv.URL + resurssim.PathAfterShop,
		Username: resurssim.TestUser, Password: resurssim.TestPassword, StoreID: resurssim.TestStoreID,
		Transport: resurs.Transport{HTTP: simSrv.Client()}}
	if mapi {
		cfg.MAPIURL, cfg.ClientID, cfg.ClientSecret = simSrv.URL+"/api", resurssim.TestClientID, resurssim.TestClientSecret
	}
	if o.adapt != nil {
		o.adapt(&cfg)
	}
	prov, err := resurs.NewAdapter(cfg)
	require.NoError(t, err)
	reg, err := register.New(o.config, register.Deps{Store: db, Providers: []payment.Provider{prov}, Journal: journal})
	require.NoError(t, err)
	base := b.serve(t, reg, Config{Token: testToken, Heartbeat: time.Hour}, false, simSrv.Close)
	return &realStack{base: base, client: &http.Client{Transport: &http.Transport{}}, reg: reg, calls: calls,
		resurs: sim, db: db}, calls
}

func countCalls(calls *simctl.CallLog, op string) int {
	n := 0
	for _, c := range calls.Calls(simctl.Filter{}) {
		if c.Operation == op {
			n++
		}
	}
	return n
}

// The widget session comes from Resurs once and then from posd's cache
// until it expires; the token is never cached by anything in between.
func TestResursWidgetSession(t *testing.T) {
	s, calls := startResursStack(t, true)
	a := s.send(t, "GET", "/v1/resurs/widget-session", nil, nil)
	require.Equal(t, http.StatusOK, a.status, a.raw)
	tok, _ := a.body["token"].(string)
	require.NotEmpty(t, tok, a.raw)
	exp, err := time.Parse(time.RFC3339Nano, a.body["expiresAt"].(string))
	require.NoError(t, err, a.raw)
	assert.True(t, exp.After(time.Now()), "expires in the future: %s", exp)

	again := s.send(t, "GET", "/v1/resurs/widget-session", nil, nil)
	require.Equal(t, http.StatusOK, again.status, again.raw)
	assert.Equal(t, tok, again.body["token"], "cached until it expires")
	assert.Equal(t, 1, countCalls(calls, "widgetSession"), "one widget session asked of Resurs")

	req, err := http.NewRequest("GET", s.base+"/v1/resurs/widget-session", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := s.client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))

	// The token is needed like on every other route.
	req.Header.Del("Authorization")
	resp, err = s.client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func TestResursPaymentMethodTypes(t *testing.T) {
	s, _ := startResursStack(t, true)
	// The emulator's INVOICE and NETS_CARD methods by their Merchant API ids.
	const invoice, card = "8e1b8f5a-3c1d-4f57-9a0e-3f1c2b7d6a01", "8e1b8f5a-3c1d-4f57-9a0e-3f1c2b7d6a03"
	a := s.send(t, "GET", "/v1/resurs/payment-method-types?customerType=B2C&paymentMethodId="+invoice+"&paymentMethodId="+card, nil, nil)
	require.Equal(t, http.StatusOK, a.status, a.raw)
	types, ok := a.body["types"].(map[string]any)
	require.True(t, ok, a.raw)
	assert.Equal(t, map[string]any{invoice: "RESURS_INVOICE", card: "CARD"}, types)

	// Resurs's own refusal (ids that are not UUIDs) is the provider's answer.
	a = s.send(t, "GET", "/v1/resurs/payment-method-types?paymentMethodId=INVOICE", nil, nil)
	assert.Equal(t, http.StatusBadGateway, a.status, a.raw)
	assert.Contains(t, a.problem.Detail, "UUID")

	for _, tc := range []struct {
		query  string
		status int
		field  string
	}{
		{"customerType=B2X&paymentMethodId=INVOICE", http.StatusUnprocessableEntity, "customerType"},
		{"customerType=B2C", http.StatusUnprocessableEntity, "paymentMethodId"},
		{"paymentMethodId=INVOICE&store=1", http.StatusBadRequest, "store"},
		{"customerType=B2C&customerType=B2B&paymentMethodId=INVOICE", http.StatusBadRequest, "customerType"},
	} {
		a := s.send(t, "GET", "/v1/resurs/payment-method-types?"+tc.query, nil, nil)
		assert.Equal(t, tc.status, a.status, "%s: %s", tc.query, a.raw)
		assert.Equal(t, tc.field, a.problem.Field, "%s: %s", tc.query, a.raw)
	}
}

// Without the Merchant API, or without Resurs at all, the widget routes
// answer 501 not-supported naming what to configure.
func TestResursWidgetNotConfigured(t *testing.T) {
	t.Run("no mapi_url", func(t *testing.T) {
		s, _ := startResursStack(t, false)
		a := s.send(t, "GET", "/v1/resurs/widget-session", nil, nil)
		assert.Equal(t, http.StatusNotImplemented, a.status, a.raw)
		assert.Equal(t, ProblemBase+"not-supported", a.problem.Type)
		assert.Contains(t, a.problem.Detail, "mapi_url")
	})
	t.Run("SEQR only", func(t *testing.T) {
		s := startRealStack(t, false)
		for _, path := range []string{"/v1/resurs/widget-session", "/v1/resurs/payment-method-types?paymentMethodId=INVOICE"} {
			a := s.send(t, "GET", path, nil, nil)
			assert.Equal(t, http.StatusNotImplemented, a.status, a.raw)
			assert.Contains(t, a.problem.Detail, "providers.resurs")
		}
	})
	t.Run("a register without the capability", func(t *testing.T) {
		srv, err := New(Config{Token: testToken}, newSpy(t))
		require.NoError(t, err)
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "http://127.0.0.1/v1/resurs/widget-session", nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		srv.handler(false, nil).ServeHTTP(rec, req)
		assert.Equal(t, http.StatusNotImplemented, rec.Code, rec.Body.String())
	})
}
