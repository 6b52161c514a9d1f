package payson_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/posd/posd/internal/payson"
	"github.com/posd/posd/internal/payson/paysonsim"
	"github.com/posd/posd/internal/simctl"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

type env struct {
	t      testing.TB
	sim    *paysonsim.Sim
	srv    *httptest.Server
	faults *simctl.Faults
	calls  *simctl.CallLog
	clock  *simctl.Clock
}

func newEnv(t testing.TB) *env {
	t.Helper()
	clock := simctl.NewClock(nil)
	faults := simctl.NewFaults(nil)
	calls := simctl.NewCallLog(0)
	sim := paysonsim.New(paysonsim.Options{Clock: clock, Faults: faults, Calls: calls, PageSize: 3})
	srv := httptest.NewServer(sim.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = sim.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; srv.Close() })
	return &env{t: t, sim: sim, srv: srv, faults: faults, calls: calls, clock: clock}
}

// logger is the test's logger; benchmarks log nothing (a debug dump per
// call would be what they measure).
func (e *env) logger() *zap.Logger {
	if _, ok := e.t.(*testing.B); ok {
		return zap.NewNop()
	}
	return zaptest.NewLogger(e.t)
}

func (e *env) base() string { return e.srv.URL + "/2.0/" }

func (e *env) client(key string) *payson.Client {
	e.t.Helper()
	c, err := payson.New(payson.Config{URL: e.base(), AgentID: paysonsim.TestAgentID, APIKey: key,
		HTTPClient: &http.Client{Timeout: 5 * time.Second}, Logger: e.logger()})
	require.NoError(e.t, err)
	return c
}

func (e *env) adapter() *payson.Adapter {
	e.t.Helper()
	a, err := payson.NewAdapter(payson.AdapterConfig{URL: e.base(), AgentID: paysonsim.TestAgentID, APIKey: paysonsim.TestAPIKey,
		CheckoutURI: "https://shop.example/checkout", ConfirmationURI: "https://shop.example/confirm",
		NotificationURI: "https://chain.example/payson/notify", TermsURI: "https://shop.example/terms",
		HTTPClient: &http.Client{Timeout: 5 * time.Second}, Logger: e.logger()})
	require.NoError(e.t, err)
	return a
}

func merchant(ref string) payson.Merchant {
	return payson.Merchant{CheckoutURI: "https://shop.example/checkout", ConfirmationURI: "https://shop.example/confirm",
		NotificationURI: "https://shop.example/notify?ref=co2", TermsURI: "https://shop.example/terms", Reference: ref}
}

func shirt() payson.NewCheckout {
	return payson.NewCheckout{Merchant: merchant("P-1"), Currency: "SEK",
		Items: []payson.Item{{Name: "Shirt", UnitPrice: 39900, Quantity: "1", TaxRate: "0.25"}}}
}
