package register

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/payment/paymenttest"
	"github.com/posd/posd/internal/store"
)

// adjustHarness is a register over a fake provider that annuls and debits,
// with a fast outbox, and one paid 40.00 payment.
func adjustHarness(t *testing.T, f *paymenttest.Fake, a *paymenttest.Adjuster, cfg ...Config) (*harness, Payment) {
	t.Helper()
	c := Config{OutboxInterval: 5 * time.Millisecond, OutboxRetryMin: 5 * time.Millisecond, OutboxRetryMax: 10 * time.Millisecond}
	if len(cfg) > 0 {
		c = cfg[0]
	}
	f.MethodList = []string{MethodResursLater}
	f.PolicyFn = func(string) payment.Policy {
		return payment.Policy{CheckInterval: 5 * time.Millisecond, LongLived: true, CallTimeout: 5 * time.Second}
	}
	h := newHarness(t, nil, harnessOpt{provider: paymenttest.WithAdjuster(f, a), noTerminal: true, cfg: c})
	t.Cleanup(h.close)
	req := sale("40.00")
	req.Method = MethodResursLater
	p, _, err := h.r.CreatePayment(context.Background(), "sale", req)
	require.NoError(t, err)
	ch, cancel := h.r.Subscribe(p.ID)
	defer cancel()
	f.Pay(p.ProviderRef, "TX-"+p.ProviderRef)
	paid := waitState(t, ch, StatePaid)
	return h, paid.Payment
}

// An annulment never reaches the provider while the payment's capture runs
// in the outbox: it waits for it (Resurs has no idempotency; the two would
// race at the bank).
func TestAnnulNeverCrossesARunningTask(t *testing.T) {
	ctx := context.Background()
	started, release := make(chan struct{}), make(chan struct{})
	var running, crossed atomic.Bool
	f := &paymenttest.Fake{
		AfterPaidFn: func(payment.Order, payment.Session, payment.Check) []payment.Task {
			return []payment.Task{{Kind: "capture", Payload: []byte(`{}`)}}
		},
		RunTaskFn: func(ctx context.Context, _ payment.Task) error {
			running.Store(true)
			defer running.Store(false)
			close(started)
			<-release
			return nil
		},
	}
	a := &paymenttest.Adjuster{AnnulFn: func(context.Context, payment.RefundOrder) (payment.Refunded, error) {
		crossed.Store(running.Load())
		return payment.Refunded{Ref: "ANNUL-1"}, nil
	}}
	h, p := adjustHarness(t, f, a)
	<-started
	type result struct {
		rf  Refund
		err error
	}
	done := make(chan result, 1)
	go func() {
		rf, _, err := h.r.Annul(ctx, p.ID, "annul-1", AnnulRequest{CashierID: "bob"})
		done <- result{rf, err}
	}()
	require.Eventually(t, func() bool {
		rfs, err := h.db.Refunds(ctx, p.ID)
		return err == nil && len(rfs) == 1
	}, 5*time.Second, time.Millisecond, "the annulment is recorded sending")
	assert.Zero(t, f.Count(paymenttest.OpAnnul), "not sent while the capture runs")
	close(release)
	res := <-done
	require.NoError(t, res.err)
	assert.False(t, crossed.Load(), "the annulment crossed the running capture")
	assert.Equal(t, store.KindAnnul, res.rf.Kind)
	assert.Equal(t, money.MustParse("40.00"), res.rf.Amount, "all that is left, when no amount is given")
	got, err := h.r.Payment(ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, money.MustParse("40.00"), got.Annulled)
	assert.Equal(t, []string{"refund", "annul", "debit"}, got.Actions)
}

// An annulment without an answer is unknown: never sent again, and every
// other refund, annulment or debit of the payment is refused until it is
// settled. One that was refused is failed and may be tried again.
func TestAnnulOutcomeUnknownBlocksTheOthers(t *testing.T) {
	ctx := context.Background()
	var answer atomic.Pointer[error]
	set := func(err error) { answer.Store(&err) }
	f := &paymenttest.Fake{}
	a := &paymenttest.Adjuster{AnnulFn: func(context.Context, payment.RefundOrder) (payment.Refunded, error) {
		return payment.Refunded{}, *answer.Load()
	}}
	h, p := adjustHarness(t, f, a)

	set(&payment.RefusedError{Code: "NOT_DEBITABLE", Message: "finalized; refund it instead", Err: payment.ErrNotSent})
	_, _, err := h.r.Annul(ctx, p.ID, "annul-1", AnnulRequest{Amount: money.MustParse("10.00")})
	require.ErrorIs(t, err, ErrProviderRejected)
	assert.Contains(t, err.Error(), "refund it instead")

	set(errors.New("connection reset by peer"))
	_, _, err = h.r.Annul(ctx, p.ID, "annul-1", AnnulRequest{Amount: money.MustParse("10.00")})
	require.ErrorIs(t, err, ErrOutcomeUnknown, "the failed one is tried again, and its answer lost")
	_, _, err = h.r.Annul(ctx, p.ID, "annul-1", AnnulRequest{Amount: money.MustParse("10.00")})
	require.ErrorIs(t, err, ErrOutcomeUnknown, "a replay is never sent again")
	assert.Equal(t, 2, f.Count(paymenttest.OpAnnul))

	_, _, err = h.r.Refund(ctx, p.ID, "refund-1", RefundRequest{Amount: money.MustParse("1.00")})
	require.ErrorIs(t, err, ErrInvalidState)
	assert.Contains(t, err.Error(), "annulment")
	_, _, err = h.r.AdditionalDebit(ctx, p.ID, "debit-1", DebitRequest{Rows: sale("5.00").Rows})
	require.ErrorIs(t, err, ErrInvalidState)
	assert.Zero(t, f.Count(paymenttest.OpRefund)+f.Count(paymenttest.OpDebit))
}

// A debit's tasks are committed with it and run through the outbox; it is
// posted as money taken and raises what refunds may give back.
func TestAdditionalDebitQueuesItsTasksAndRaisesTheRefundLimit(t *testing.T) {
	ctx := context.Background()
	f := &paymenttest.Fake{}
	a := &paymenttest.Adjuster{DebitFn: func(_ context.Context, d payment.DebitOrder) (payment.Debited, error) {
		return payment.Debited{Ref: "DEBIT-" + d.DebitID[:8], Tasks: []payment.Task{{Kind: "capture", Payload: []byte(`{"n":1}`)}}}, nil
	}}
	h, p := adjustHarness(t, f, a)

	rows := []Row{{Description: "Filter", Quantity: "2", UnitPrice: money.MustParse("5.00"), TotalAmount: money.MustParse("10.00"), TaxRate: "25"}}
	_, _, err := h.r.AdditionalDebit(ctx, p.ID, "debit-0", DebitRequest{Rows: []Row{{Description: "Rabatt", Quantity: "1", TotalAmount: -100}}})
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "rows", ve.Field)

	d, created, err := h.r.AdditionalDebit(ctx, p.ID, "debit-1", DebitRequest{Rows: rows, CashierID: "bob"})
	require.NoError(t, err)
	assert.True(t, created)
	assert.Equal(t, money.MustParse("10.00"), d.Amount)
	assert.Equal(t, rows, d.Rows)
	again, created, err := h.r.AdditionalDebit(ctx, p.ID, "debit-1", DebitRequest{Rows: rows, CashierID: "bob"})
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, d.ID, again.ID)
	_, _, err = h.r.AdditionalDebit(ctx, p.ID, "debit-1", DebitRequest{Rows: rows, CashierID: "eve"})
	require.ErrorIs(t, err, ErrIdempotencyKey)
	assert.Equal(t, 1, f.Count(paymenttest.OpDebit))

	doc, err := h.r.ReceiptDocument(ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, money.MustParse("50.00"), doc.Total, "the receipt's total includes the added rows")
	require.Len(t, doc.Rows, 2)
	assert.Equal(t, "Filter", doc.Rows[1].Description)
	require.Len(t, doc.Payments, 2)
	assert.Equal(t, money.MustParse("10.00"), doc.Payments[1].Amount)

	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	require.NoError(t, f.WaitCalls(wctx, paymenttest.OpRunTask, 1))
	assert.Equal(t, p.ID, f.Calls(paymenttest.OpRunTask)[0].PaymentID)

	_, _, err = h.r.Refund(ctx, p.ID, "refund-1", RefundRequest{Amount: money.MustParse("50.01")})
	require.ErrorIs(t, err, ErrRefundExceeds)
	_, _, err = h.r.Refund(ctx, p.ID, "refund-2", RefundRequest{Amount: money.MustParse("50.00")})
	require.NoError(t, err, "paid 40.00 + debited 10.00")

	var kinds []string
	for _, post := range allPosts(t, h.journal) {
		kinds = append(kinds, post.Kind+" "+post.Amount.String()+" "+post.Text)
	}
	assert.Equal(t, []string{"payment 40.00 fake Fake payment", "payment 10.00 fake debit", "refund 50.00 fake refund"}, kinds)
}

// A provider without annulments or debits refuses both before anything is
// recorded.
func TestAdjustmentsNotSupported(t *testing.T) {
	ctx := context.Background()
	f := &paymenttest.Fake{MethodList: []string{MethodPayson}}
	h := newHarness(t, nil, harnessOpt{provider: f, noTerminal: true})
	t.Cleanup(h.close)
	req := sale("40.00")
	req.Method = MethodPayson
	p, _, err := h.r.CreatePayment(ctx, "sale", req)
	require.NoError(t, err)
	ch, cancel := h.r.Subscribe(p.ID)
	f.Pay(p.ProviderRef, "TX-1")
	waitState(t, ch, StatePaid)
	cancel()
	_, _, err = h.r.Annul(ctx, p.ID, "a", AnnulRequest{})
	require.ErrorIs(t, err, ErrNotSupported)
	_, _, err = h.r.AdditionalDebit(ctx, p.ID, "d", DebitRequest{Rows: sale("1.00").Rows})
	require.ErrorIs(t, err, ErrNotSupported)
	rfs, err := h.db.Refunds(ctx, p.ID)
	require.NoError(t, err)
	assert.Empty(t, rfs)
}

// An annulment whose answer was lost is asked about where the provider can
// tell: found made, it is recorded done with its post; a debit found made
// brings its tasks. Never sent again.
func TestUnknownAdjustmentsConfirmedMade(t *testing.T) {
	ctx := context.Background()
	var made atomic.Bool
	f := &paymenttest.Fake{}
	a := &paymenttest.Adjuster{
		AnnulFn: func(context.Context, payment.RefundOrder) (payment.Refunded, error) {
			return payment.Refunded{}, errors.New("connection reset by peer")
		},
		ConfirmFn: func(_ context.Context, kind string, r payment.RefundOrder) (payment.Debited, error) {
			if !made.Load() {
				return payment.Debited{}, errors.New("provider unreachable")
			}
			return payment.Debited{Ref: "TX/" + kind + "-" + r.RefundID[:8]}, nil
		},
	}
	h, p := adjustHarness(t, f, a, Config{ConfirmInterval: 5 * time.Millisecond})
	_, _, err := h.r.Annul(ctx, p.ID, "annul-1", AnnulRequest{})
	require.ErrorIs(t, err, ErrOutcomeUnknown)
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	require.NoError(t, f.WaitCalls(wctx, paymenttest.OpConfirm, 2), "asked while it cannot tell, again and again")
	made.Store(true)
	require.Eventually(t, func() bool {
		got, err := h.r.Payment(ctx, p.ID)
		return err == nil && got.Annulled == money.MustParse("40.00")
	}, 5*time.Second, time.Millisecond)
	rf, created, err := h.r.Annul(ctx, p.ID, "annul-1", AnnulRequest{})
	require.NoError(t, err, "the same key now answers the confirmed annulment")
	assert.False(t, created)
	assert.Equal(t, 1, f.Count(paymenttest.OpAnnul), "never sent again")
	var texts []string
	for _, post := range allPosts(t, h.journal) {
		texts = append(texts, post.Kind+" "+post.Amount.String()+" "+post.Reference)
	}
	assert.Equal(t, []string{"payment 40.00 TX-" + p.ProviderRef, "refund 40.00 " + rf.ProviderRef}, texts)
}

// Shown not made, an unknown adjustment stays unknown while a request of
// it could still be on its way, and is then recorded failed: the cashier
// may try again.
func TestUnknownAdjustmentNotMadeFailsAfterItsAge(t *testing.T) {
	ctx := context.Background()
	f := &paymenttest.Fake{}
	var lost atomic.Bool
	lost.Store(true)
	a := &paymenttest.Adjuster{
		DebitFn: func(context.Context, payment.DebitOrder) (payment.Debited, error) {
			if lost.Load() {
				return payment.Debited{}, errors.New("i/o timeout")
			}
			return payment.Debited{Ref: "DEBIT-2"}, nil
		},
		ConfirmFn: func(context.Context, string, payment.RefundOrder) (payment.Debited, error) {
			return payment.Debited{}, payment.ErrNotMade
		},
	}
	h, p := adjustHarness(t, f, a, Config{ConfirmInterval: 5 * time.Millisecond, UnknownFailAge: 50 * time.Millisecond})
	req := DebitRequest{Rows: sale("5.00").Rows}
	_, _, err := h.r.AdditionalDebit(ctx, p.ID, "debit-1", req)
	require.ErrorIs(t, err, ErrOutcomeUnknown)
	rfs, err := h.db.Refunds(ctx, p.ID)
	require.NoError(t, err)
	require.Len(t, rfs, 1)
	assert.Equal(t, "unknown", rfs[0].State, "not believed before its age")
	require.Eventually(t, func() bool {
		rfs, err := h.db.Refunds(ctx, p.ID)
		return err == nil && rfs[0].State == "failed"
	}, 5*time.Second, time.Millisecond)
	assert.GreaterOrEqual(t, time.Since(rfs[0].UpdatedAt), 50*time.Millisecond)
	lost.Store(false)
	d, created, err := h.r.AdditionalDebit(ctx, p.ID, "debit-1", req)
	require.NoError(t, err, "a failed one is tried again with its key")
	assert.True(t, created)
	assert.Equal(t, "DEBIT-2", d.ProviderRef)
}
