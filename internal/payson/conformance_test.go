package payson_test

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/payment/conformance"
	"github.com/posd/posd/internal/payson"
	"github.com/posd/posd/internal/payson/paysonsim"
	"github.com/posd/posd/internal/register"
	"github.com/posd/posd/internal/simctl"
	"github.com/posd/posd/internal/store"
)

// TestConformance runs the payment seam's conformance suite: Payson
// through the real register against paysonsim on a loopback socket. The
// emulator's notification sender (Sim.Run) is not started: notifications
// are only hints to check, and the till must not need them.
func TestConformance(t *testing.T) {
	conformance.Run(t, paysonHarness{})
}

type paysonHarness struct{}

func (paysonHarness) Method() string { return payson.Method }

// Traits: a create whose answer was lost is looked up by the payment's
// reference (merchant.reference) and goes on with the checkout found.
func (paysonHarness) Traits() conformance.Traits        { return conformance.Traits{LostStartFound: true} }
func (paysonHarness) Skip(conformance.Behaviour) string { return "" }
func (paysonHarness) NewEmulator(t *testing.T) conformance.Emulator {
	return newPaysonEmulator(t)
}

type paysonEmulator struct {
	sim    *paysonsim.Sim
	srv    *httptest.Server
	calls  *simctl.CallLog
	faults *simctl.Faults
}

func newPaysonEmulator(t *testing.T) *paysonEmulator {
	calls, faults := simctl.NewCallLog(0), simctl.NewFaults(nil)
	sim := paysonsim.New(paysonsim.Options{Calls: calls, Faults: faults, Logger: zaptest.NewLogger(t).Named("paysonsim")})
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return &paysonEmulator{sim: sim, srv: srv, calls: calls, faults: faults}
}

func (e *paysonEmulator) Provider(t *testing.T, _ *store.DB, timings payment.Policy) payment.Provider {
	a, err := payson.NewAdapter(payson.AdapterConfig{URL: e.srv.URL + "/2.0/", AgentID: paysonsim.TestAgentID,
		APIKey: paysonsim.TestAPIKey, CheckoutURI: "https://shop.example/checkout", ConfirmationURI: "https://shop.example/confirm",
		NotificationURI: "https://chain.example/payson/notify", TermsURI: "https://shop.example/terms",
		CheckInterval: timings.CheckInterval, Window: timings.Window, DecisionLimit: timings.DecisionLimit,
		HTTPClient: e.srv.Client(), Logger: zaptest.NewLogger(t).Named("payson")})
	require.NoError(t, err)
	return a
}

// Prepare has nothing to do: Payson needs only the configured agent and key.
func (e *paysonEmulator) Prepare(*testing.T, *register.Register) {}

func (e *paysonEmulator) Pay(s conformance.Session) error {
	return e.sim.Pay(s.Ref, paysonsim.PayRequest{Method: "card"})
}

func (e *paysonEmulator) Reject(s conformance.Session) error {
	return e.sim.Pay(s.Ref, paysonsim.PayRequest{Method: "invoice", Outcome: "denied"})
}

func (e *paysonEmulator) LoseNextStartReply(t *testing.T) {
	require.NoError(t, e.faults.Set([]simctl.Rule{{Service: paysonsim.Service, Operation: paysonsim.OpCreate,
		Mode: simctl.ModeDrop, Process: true, Count: 1}}))
}

func (e *paysonEmulator) Outage(t *testing.T, on bool) {
	if !on {
		e.faults.Clear()
		return
	}
	require.NoError(t, e.faults.Set([]simctl.Rule{{Service: paysonsim.Service, Operation: "*", Mode: simctl.ModeReset}}))
}

// StartCalls counts checkout creations (POST /2.0/Checkouts).
func (e *paysonEmulator) StartCalls() int {
	return len(e.calls.Calls(simctl.Filter{Operation: paysonsim.OpCreate}))
}
