package api

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/payment/paymenttest"
	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/register"
	"github.com/posd/posd/internal/scanner"
	"github.com/posd/posd/internal/store"
)

// fakeStack is the real register (real SQLite and receipt file in a temp
// dir) in front of paymenttest.Fake playing SEQR: enrolled with a SEQR id,
// with a period report. The API tests that need no injected register error
// and no hand-made event run against it, so what they assert is what the
// register really answers.
type fakeStack struct {
	reg  *register.Register
	prov *paymenttest.Fake
	enr  *paymenttest.Enroller
	rec  *paymenttest.Reconciler
	db   *store.DB

	t      testing.TB
	cancel context.CancelFunc
	done   chan error
}

// stackSeqrID is the till's SEQR id in the stack.
const stackSeqrID = "ABC123"

// newFakeStack builds the stack; Run it with run (until then it is
// recovering: not ready).
func newFakeStack(t testing.TB) *fakeStack {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(context.Background(), filepath.Join(dir, "posd.db"), store.Options{})
	require.NoError(t, err)
	journal, _, err := receipt.OpenJournal(filepath.Join(dir, "receipts.journal"), time.Now)
	require.NoError(t, err)
	fake := &paymenttest.Fake{ProviderName: "seqr",
		PolicyFn: func(string) payment.Policy {
			return payment.Policy{CheckInterval: 10 * time.Millisecond, Window: 30 * time.Second, DecisionLimit: time.Minute}
		}}
	enr := paymenttest.Enrolled(fake, stackSeqrID)
	enr.ValidIDFn = func(id string) error { // SEQR's rule: 1 to 64 letters or digits
		if id == "" || len(id) > 64 || strings.Trim(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != "" {
			return &payment.RefusedError{Code: "seqrId", Message: "must be 1 to 64 letters or digits, got " + id, Err: payment.ErrInvalidID}
		}
		return nil
	}
	s := &fakeStack{prov: fake, enr: enr, db: db, t: t}
	s.rec = &paymenttest.Reconciler{Log: fake, ReportFn: s.report}
	reg, err := register.New(register.Config{Version: "test", ReportRetry: 10 * time.Millisecond, OutboxInterval: 10 * time.Millisecond},
		register.Deps{Store: db, Journal: journal, Providers: []payment.Provider{paymenttest.WithBoth(fake, enr, s.rec)},
			Scanner: connectedScanner{}})
	require.NoError(t, err)
	s.reg = reg
	t.Cleanup(func() {
		s.stop()
		require.NoError(t, journal.Close())
		require.NoError(t, db.Close())
	})
	return s
}

// connectedScanner is the till's scanner as the register's Status sees it:
// present, so assign-by-scan waits for a scan (the test feeds HandleScan).
type connectedScanner struct{}

func (connectedScanner) Status() scanner.Status {
	return scanner.Status{Device: "/dev/pts/test", Connected: true}
}

// run runs the register until the test ends and waits until it is ready.
func (s *fakeStack) run() *fakeStack {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan error, 1)
	go func() { s.done <- s.reg.Run(ctx) }()
	select {
	case <-s.reg.Ready():
	case err := <-s.done:
		s.cancel = nil
		s.t.Fatalf("register ended before ready: %v", err)
	}
	return s
}

func (s *fakeStack) stop() {
	if s.cancel != nil {
		s.cancel()
		require.NoError(s.t, <-s.done)
		s.cancel = nil
	}
}

// report is the provider's period report: every payment the Fake was told
// was paid, as SEQR's report lists them.
func (s *fakeStack) report(ctx context.Context, _ string, _, _ time.Time) (payment.Report, error) {
	page, err := s.reg.Payments(ctx, register.ListQuery{State: register.StatePaid, Limit: register.MaxListLimit})
	if err != nil {
		return payment.Report{}, err
	}
	var rep payment.Report
	for _, p := range page.Payments {
		rep.Count++
		rep.Total += p.Amount
		rep.Lines = append(rep.Lines, payment.ReportLine{Ref: p.TransactionRef, Amount: p.Amount, SessionRef: p.ProviderRef})
	}
	return rep, nil
}

// sale is validPayment as the register takes it.
func stackSale() register.PaymentRequest {
	amount := money.MustParse("20.00")
	return register.PaymentRequest{Method: "seqr", SaleID: "S1", CashierID: "C1", Title: "Sale", Amount: amount, Currency: "SEK",
		ReceiptTotal: amount, Rows: []register.Row{{Description: "Kaffe", Quantity: "1", UnitPrice: amount, TotalAmount: amount, TaxRate: "12"}}}
}

// open creates a payment the customer has not paid (checking).
func (s *fakeStack) open(key string) register.Payment {
	s.t.Helper()
	p, _, err := s.reg.CreatePayment(context.Background(), key, stackSale())
	require.NoError(s.t, err)
	require.Equal(s.t, register.StatePolling, p.State)
	return p
}

// paid creates a payment and has the customer pay it; it returns once the
// register has recorded it.
func (s *fakeStack) paid(key string) register.Payment {
	s.t.Helper()
	p := s.open(key)
	s.prov.Pay(p.ProviderRef, "tx-"+key)
	return s.waitState(p.ID, register.StatePaid)
}

// waitState waits on the payment's event stream until it reaches want.
func (s *fakeStack) waitState(id string, want register.State) register.Payment {
	s.t.Helper()
	ch, cancel := s.reg.Subscribe(id)
	defer cancel()
	timer := time.NewTimer(10 * time.Second) // a bound on failure, not synchronisation
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				p, err := s.reg.Payment(context.Background(), id)
				require.NoError(s.t, err)
				require.Equal(s.t, want, p.State, "stream ended")
				return p
			}
			if ev.Type == "state" && ev.State == want {
				return ev.Payment
			}
		case <-timer.C:
			s.t.Fatalf("payment %s did not reach %s", id, want)
		}
	}
}

// startStackServer serves the API in front of the stack's register.
func startStackServer(t testing.TB, s *fakeStack, mod func(*Config)) *testServer {
	t.Helper()
	return startServerWith(t, s.reg, nil, mod)
}
