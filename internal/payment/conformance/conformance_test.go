package conformance_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/payment/conformance"
	"github.com/posd/posd/internal/payment/paymenttest"
	"github.com/posd/posd/internal/register"
	"github.com/posd/posd/internal/store"
)

// TestFakeProviderConforms runs the suite against paymenttest.Fake playing
// a well-behaved provider: it checks the suite itself (every row can be
// passed by following the contract) and that the fake other packages use
// behaves as the contract says.
func TestFakeProviderConforms(t *testing.T) {
	conformance.Run(t, fakeHarness{})
}

type fakeHarness struct{}

// The register takes only the product's methods; the fake borrows one.
func (fakeHarness) Method() string                              { return register.MethodPayson }
func (fakeHarness) Traits() conformance.Traits                  { return conformance.Traits{} }
func (fakeHarness) Skip(conformance.Behaviour) string           { return "" }
func (fakeHarness) NewEmulator(*testing.T) conformance.Emulator { return newFakeEmulator() }

// errLost is a transport error after the request was sent: its outcome is unknown.
var errLost = errors.New("read tcp 127.0.0.1:4242: connection reset by peer")

// fakeEmulator is the provider's side kept by the Fake itself: Settle is
// the customer's answer (the default Check and Cancel follow it), Set
// injects the faults.
type fakeEmulator struct{ f *paymenttest.Fake }

func newFakeEmulator() *fakeEmulator {
	return &fakeEmulator{f: &paymenttest.Fake{ProviderName: "fake", MethodList: []string{register.MethodPayson}}}
}

// Provider follows the suite's timings, as an adapter takes them from its config.
func (e *fakeEmulator) Provider(_ *testing.T, _ *store.DB, timings payment.Policy) payment.Provider {
	e.f.Set(func(f *paymenttest.Fake) {
		f.PolicyFn = func(string) payment.Policy { return timings }
	})
	return e.f
}

func (e *fakeEmulator) Prepare(*testing.T, *register.Register) {}

// Pay is refused once the cashier has canceled the session.
func (e *fakeEmulator) Pay(s conformance.Session) error {
	for _, c := range e.f.Calls(paymenttest.OpCancel) {
		if c.Ref == s.Ref {
			return fmt.Errorf("session %s is canceled", s.Ref)
		}
	}
	e.f.Pay(s.Ref, "T-"+s.Ref)
	return nil
}

func (e *fakeEmulator) Reject(s conformance.Session) error {
	e.f.Settle(s.Ref, payment.Check{Status: payment.Failed, Note: "rejected"})
	return nil
}

// LoseNextStartReply: the next Start is received (logged) and its answer lost.
func (e *fakeEmulator) LoseNextStartReply(*testing.T) {
	e.f.Set(func(f *paymenttest.Fake) {
		f.StartFn = func(context.Context, payment.Order) (payment.Session, error) {
			e.f.Set(func(f *paymenttest.Fake) { f.StartFn = nil })
			return payment.Session{}, errLost
		}
	})
}

func (e *fakeEmulator) Outage(_ *testing.T, on bool) {
	e.f.Set(func(f *paymenttest.Fake) {
		f.CheckFn = nil
		if on {
			f.CheckFn = func(context.Context, payment.Session) (payment.Check, error) { return payment.Check{}, errLost }
		}
	})
}

func (e *fakeEmulator) StartCalls() int { return e.f.Count(paymenttest.OpStart) }
