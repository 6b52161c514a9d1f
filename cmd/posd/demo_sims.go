package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/posd/posd/internal/payson/paysonsim"
	"github.com/posd/posd/internal/resurs/resurssim"
	"github.com/posd/posd/internal/seqr/seqrsim"
	"github.com/posd/posd/internal/simctl"
)

// demoNotifyPath stands in for the chain's server that takes Payson's
// notifications: a till listens on loopback only and checks by polling, so
// the notification is only acknowledged.
const demoNotifyPath = "/demo/payson/notify"

// demoResursCallbackPath stands in for the chain's server that takes
// Resurs's paymentCreatedCallbackUrl (a till listens on loopback only).
const demoResursCallbackPath = "/demo/resurs/booked"

// demoSims are the three emulators as cmd/paysim serves them: one port,
// one call log, one fault table, one clock, the providers' real paths and
// the control API (/sim/...).
type demoSims struct {
	seqr    *seqrsim.Sim
	resurs  *resurssim.Sim
	payson  *paysonsim.Sim
	handler http.Handler
}

func newDemoSims(log *zap.Logger) *demoSims {
	calls, faults := simctl.NewCallLog(0), simctl.NewFaults(nil)
	clock := simctl.NewClock(nil)
	s := &demoSims{
		seqr: seqrsim.New(seqrsim.Options{Logger: log.Named("seqrsim"), Calls: calls, Faults: faults, Now: clock.Now}),
		resurs: resurssim.New(resurssim.Options{Logger: log.Named("resurssim"), Calls: calls, Faults: faults, Clock: clock,
			ShadowLimitPct: 20}),
		payson: paysonsim.New(paysonsim.Options{Clock: clock, Calls: calls, Faults: faults, Logger: log.Named("paysonsim")}),
	}
	mux := http.NewServeMux()
	(&simctl.Control{Calls: calls, Faults: faults, Clock: clock}).Register(mux)
	rh := s.resurs.Handler()
	for _, p := range resurssim.Prefixes() {
		mux.Handle(p, rh)
	}
	mux.HandleFunc("POST "+demoNotifyPath, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("POST "+demoResursCallbackPath, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.Handle("/", s.seqr.Handler())
	// Payson's /2.0/ paths go first, before ServeMux would redirect the
	// .NET SDK's "/2.0//checkouts" (as in cmd/paysim).
	s.handler = s.payson.Wrap(mux)
	return s
}

// run runs the Payson emulator's notifier and the Resurs emulator's
// callbacks, each with its time rules, until ctx ends.
func (s *demoSims) run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := s.payson.Run(gctx); err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("demo: payson emulator: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		if err := s.resurs.Run(gctx); err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("demo: resurs emulator: %w", err)
		}
		return nil
	})
	return g.Wait()
}

// demoProviderOverrides configure posd's Resurs and Payson providers
// against the emulators at simURL with their seeded test accounts. The
// "Betala sen" cadence is the shortest posd allows, so the demo sees the
// customer's payment within seconds, not a minute.
func demoProviderOverrides(simURL string) map[string]string {
	return map[string]string{
		"providers.resurs.pos_url":          simURL + "/pos",
		"providers.resurs.aftershop_url":    simURL + resurssim.PathAfterShop,
		"providers.resurs.mapi_url":         simURL + "/api",
		"providers.resurs.username":         resurssim.TestUser,
		"providers.resurs.password":         resurssim.TestPassword,
		"providers.resurs.client_id":        resurssim.TestClientID,
		"providers.resurs.client_secret":    resurssim.TestClientSecret,
		"providers.resurs.store_id":         resurssim.TestStoreID,
		"providers.resurs.ref_prefix":       "DEMO-",
		"providers.resurs.callback_url":     simURL + demoResursCallbackPath + "?paymentId={paymentId}",
		"providers.resurs.later_interval":   "5s",
		"providers.payson.url":              simURL + "/2.0/",
		"providers.payson.agent_id":         paysonsim.TestAgentID,
		"providers.payson.api_key":          paysonsim.TestAPIKey,
		"providers.payson.checkout_uri":     simURL + "/demo/shop/checkout",
		"providers.payson.confirmation_uri": simURL + "/demo/shop/confirmation",
		"providers.payson.notification_uri": simURL + demoNotifyPath,
		"providers.payson.terms_uri":        simURL + "/demo/shop/terms",
	}
}

// resursSessionID is the checkout session of a Resurs payment: the query
// of its iframe's src (…/omni-checkout.html?<paymentSessionId>), which is
// what the cashier's browser opens.
func resursSessionID(viewURL string) (string, error) {
	u, err := url.Parse(viewURL)
	if err != nil || u.RawQuery == "" {
		return "", fmt.Errorf("no Resurs checkout session in %q", viewURL)
	}
	return u.RawQuery, nil
}
