package seqr_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/payment/conformance"
	"github.com/posd/posd/internal/register"
	"github.com/posd/posd/internal/seqr"
	"github.com/posd/posd/internal/seqr/seqrsim"
	"github.com/posd/posd/internal/simctl"
	"github.com/posd/posd/internal/store"
	"github.com/posd/posd/internal/store/seqrreg"
)

// TestConformance runs the payment seam's conformance suite: SEQR through
// the real register against seqrsim on a loopback socket.
func TestConformance(t *testing.T) {
	conformance.Run(t, seqrHarness{})
}

type seqrHarness struct{}

func (seqrHarness) Method() string                                { return "seqr" }
func (seqrHarness) Traits() conformance.Traits                    { return conformance.Traits{} }
func (seqrHarness) Skip(conformance.Behaviour) string             { return "" }
func (seqrHarness) NewEmulator(t *testing.T) conformance.Emulator { return newSeqrEmulator(t) }

// The till's SEQR id (the sticker) in every row.
const conformanceSeqrID = "CONF0001"

type seqrEmulator struct {
	sim    *seqrsim.Sim
	srv    *httptest.Server
	calls  *simctl.CallLog
	faults *simctl.Faults
}

func newSeqrEmulator(t *testing.T) *seqrEmulator {
	calls, faults := simctl.NewCallLog(0), simctl.NewFaults(nil)
	sim := seqrsim.New(seqrsim.Options{Calls: calls, Faults: faults, Logger: zaptest.NewLogger(t).Named("seqrsim")})
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return &seqrEmulator{sim: sim, srv: srv, calls: calls, faults: faults}
}

func (e *seqrEmulator) Provider(t *testing.T, db *store.DB, timings payment.Policy) payment.Provider {
	client, err := seqr.New(seqr.Config{URL: e.srv.URL + seqrsim.PathCashRegister2, ClientID: "posd",
		ClientReference: "posd conformance", HTTPClient: e.srv.Client(), Logger: zaptest.NewLogger(t).Named("seqr")})
	require.NoError(t, err)
	a, err := seqr.NewAdapter(client, seqrreg.Store{DB: db}, seqr.AdapterConfig{Policy: timings}, time.Now)
	require.NoError(t, err)
	return a
}

// Prepare registers the till and assigns its SEQR id through posd's own
// calls, as the shop does once.
func (e *seqrEmulator) Prepare(t *testing.T, r *register.Register) {
	ctx := context.Background()
	_, err := r.RegisterTerminal(ctx, register.RegisterTerminalRequest{ResellerID: seqrsim.TestResellerID,
		ResellerUserID: seqrsim.TestResellerUserID, ResellerPassword: seqrsim.TestResellerPassword,
		ExternalTerminalID: "Shop 1/POS 2", Name: "till 2"})
	require.NoError(t, err)
	_, err = r.AssignSeqrID(ctx, conformanceSeqrID)
	require.NoError(t, err)
}

func (e *seqrEmulator) Pay(s conformance.Session) error {
	_, err := e.sim.PayInvoice(s.Ref, seqrsim.OutcomePaid)
	return err
}

func (e *seqrEmulator) Reject(s conformance.Session) error {
	_, err := e.sim.PayInvoice(s.Ref, seqrsim.OutcomeReject)
	return err
}

func (e *seqrEmulator) LoseNextStartReply(t *testing.T) {
	require.NoError(t, e.faults.Set([]simctl.Rule{{Service: seqrsim.Service, Operation: "sendInvoice",
		Mode: simctl.ModeDrop, Process: true, Count: 1}}))
}

func (e *seqrEmulator) Outage(t *testing.T, on bool) {
	if !on {
		e.faults.Clear()
		return
	}
	require.NoError(t, e.faults.Set([]simctl.Rule{{Service: seqrsim.Service, Operation: "*", Mode: simctl.ModeReset}}))
}

func (e *seqrEmulator) StartCalls() int {
	return len(e.calls.Calls(simctl.Filter{Operation: "sendInvoice"}))
}
