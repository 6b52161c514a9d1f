package resurs_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/payment/conformance"
	"github.com/posd/posd/internal/register"
	"github.com/posd/posd/internal/resurs"
	"github.com/posd/posd/internal/resurs/resurssim"
	"github.com/posd/posd/internal/simctl"
	"github.com/posd/posd/internal/store"
)

// TestConformance runs the payment seam's conformance suite: Resurs Bank
// Checkout POS (method "resurs") through the real register against
// resurssim on a loopback socket.
func TestConformance(t *testing.T) {
	conformance.Run(t, resursHarness{method: resurs.MethodPOS})
}

// TestConformanceLater runs the suite for "Betala sen" (resurs_later): a
// long-lived payment the customer pays later through a link, then
// finalized by posd through the outbox.
func TestConformanceLater(t *testing.T) {
	conformance.Run(t, resursHarness{method: resurs.MethodLater})
}

type resursHarness struct{ method string }

func (h resursHarness) Method() string           { return h.method }
func (resursHarness) Traits() conformance.Traits { return conformance.Traits{} }

func (h resursHarness) Skip(b conformance.Behaviour) string {
	if h.method != resurs.MethodLater {
		return ""
	}
	switch b {
	case conformance.PaysAfterTryAgain, conformance.NeverAnswers:
		return "a Betala sen payment has no window: it never holds the till, so the cashier never decides \"try again\" or \"cancel\" on a window's end"
	}
	return ""
}

func (h resursHarness) NewEmulator(t *testing.T) conformance.Emulator {
	e := newResursEmulator(t)
	e.later = h.method == resurs.MethodLater
	return e
}

// Test persons of the emulator (resurssim/testdata.go): one approved, one
// rejected by the credit check.
const (
	approvedPerson = "198305147715"
	rejectedPerson = "197211072793"
)

type resursEmulator struct {
	later  bool // "Betala sen": the customer completes through the link
	sim    *resurssim.Sim
	srv    *httptest.Server
	calls  *simctl.CallLog
	faults *simctl.Faults
}

func newResursEmulator(t *testing.T) *resursEmulator {
	calls, faults := simctl.NewCallLog(0), simctl.NewFaults(nil)
	sim := resurssim.New(resurssim.Options{Calls: calls, Faults: faults, Logger: zaptest.NewLogger(t).Named("resurssim")})
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return &resursEmulator{sim: sim, srv: srv, calls: calls, faults: faults}
}

func (e *resursEmulator) Provider(t *testing.T, _ *store.DB, timings payment.Policy) payment.Provider {
	a, err := resurs.NewAdapter(resurs.AdapterConfig{
		POSURL: e.srv.URL + "/pos", AfterShopURL: e.srv.URL + resurssim.PathAfterShop,
		Username: resurssim.TestUser, Password: resurssim.TestPassword, StoreID: resurssim.TestStoreID,
		SuccessURL: "https://shop.example/success", BackURL: "https://shop.example/back", ShopURL: "https://shop.example",
		RefPrefix:     "C1T1-",
		CheckInterval: timings.CheckInterval, Window: timings.Window, DecisionLimit: timings.DecisionLimit,
		LaterCheckInterval: timings.CheckInterval,
		Transport:          resurs.Transport{HTTP: e.srv.Client(), Logger: zaptest.NewLogger(t).Named("resurs")},
	})
	require.NoError(t, err)
	return a
}

// Prepare has nothing to do: Resurs needs only the configured credentials.
func (e *resursEmulator) Prepare(*testing.T, *register.Register) {}

// sessionID reads the checkout session's id from the adapter's data.
func sessionID(s conformance.Session) (string, error) {
	var d struct {
		SessionID string `json:"sessionId"`
	}
	if err := json.Unmarshal(s.Data, &d); err != nil || d.SessionID == "" {
		return "", fmt.Errorf("payment %s: no checkout session id in %q: %v", s.PaymentID, s.Data, err)
	}
	return d.SessionID, nil
}

func (e *resursEmulator) complete(s conformance.Session, person string) error {
	id, err := sessionID(s)
	if err != nil {
		return err
	}
	_, err = e.sim.CompleteSession(id, resurssim.Complete{GovernmentID: person, Method: "invoice", Later: e.later})
	return err
}

func (e *resursEmulator) Pay(s conformance.Session) error    { return e.complete(s, approvedPerson) }
func (e *resursEmulator) Reject(s conformance.Session) error { return e.complete(s, rejectedPerson) }

func (e *resursEmulator) LoseNextStartReply(t *testing.T) {
	require.NoError(t, e.faults.Set([]simctl.Rule{{Service: resurssim.Service, Operation: "createPayment",
		Mode: simctl.ModeDrop, Process: true, Count: 1}}))
}

func (e *resursEmulator) Outage(t *testing.T, on bool) {
	if !on {
		e.faults.Clear()
		return
	}
	require.NoError(t, e.faults.Set([]simctl.Rule{{Service: resurssim.Service, Operation: "*", Mode: simctl.ModeReset}}))
}

// StartCalls counts the session creations (POST /pos/payments/{ref}).
func (e *resursEmulator) StartCalls() int {
	return len(e.calls.Calls(simctl.Filter{Operation: "createPayment"}))
}
