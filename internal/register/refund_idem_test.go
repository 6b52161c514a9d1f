package register

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/seqr"
	"github.com/posd/posd/internal/store"
)

func paidFake() *fakeSEQR {
	return &fakeSEQR{status: func(n int, ref string, v int) (seqr.PaymentStatus, error) { return paidStatus("ERS-" + ref), nil }}
}

// A refund whose reply is lost is never sent a second time: the retry with
// the same key answers the same unknown outcome, a retry with a new key is
// refused while the first may have been made, and the answer is not an
// "offline, retry later" invitation.
func TestRefundLostReplyNotPaidTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := paidFake()
		h := newHarness(t, fake, harnessOpt{})
		defer h.close()
		ctx := context.Background()
		p := paidPayment(t, h, "k", "100.00")
		fake.mu.Lock()
		fake.refund = func(string, seqr.Invoice) (string, error) { return "", errTransport }
		fake.mu.Unlock()
		half := RefundRequest{Amount: money.MustParse("50.00"), CashierID: "bob"}

		_, _, err := h.r.Refund(ctx, p.ID, "rk1", half)
		require.ErrorIs(t, err, ErrRefundOutcomeUnknown)
		require.NotErrorIs(t, err, ErrOffline, "not an invitation to try again")
		assert.Contains(t, err.Error(), "check the period report")

		_, _, err = h.r.Refund(ctx, p.ID, "rk1", half)
		require.ErrorIs(t, err, ErrRefundOutcomeUnknown, "same key: the same outcome")
		_, _, err = h.r.Refund(ctx, p.ID, "rk2", half)
		require.ErrorIs(t, err, ErrInvalidState, "another refund may have been made")
		assert.Contains(t, err.Error(), "may have been made")
		_, _, err = h.r.Refund(ctx, p.ID, "rk1", RefundRequest{Amount: money.MustParse("40.00"), CashierID: "bob"})
		require.ErrorIs(t, err, ErrIdempotencyKey)
		assert.Equal(t, 1, fake.count("refundPayment"), "one refundPayment, ever")
		got, err := h.r.Payment(ctx, p.ID)
		require.NoError(t, err)
		assert.Zero(t, got.Refunded)
	})
}

func TestRefundIdempotentReplay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := paidFake()
		h := newHarness(t, fake, harnessOpt{})
		defer h.close()
		ctx := context.Background()
		p := paidPayment(t, h, "k", "20.00")
		req := RefundRequest{Amount: money.MustParse("5.00"), CashierID: "bob", Reason: "broken"}

		_, _, err := h.r.Refund(ctx, p.ID, "", req)
		var ve *ValidationError
		require.ErrorAs(t, err, &ve)
		assert.Equal(t, "Idempotency-Key", ve.Field)

		r1, created, err := h.r.Refund(ctx, p.ID, "rk1", req)
		require.NoError(t, err)
		assert.True(t, created)
		r2, created, err := h.r.Refund(ctx, p.ID, "rk1", req)
		require.NoError(t, err)
		assert.False(t, created, "replayed")
		assert.Equal(t, r1, r2)
		assert.Equal(t, 1, fake.count("refundPayment"))
		_, _, err = h.r.Refund(ctx, p.ID, "rk1", RefundRequest{Amount: money.MustParse("6.00"), CashierID: "bob", Reason: "broken"})
		require.ErrorIs(t, err, ErrIdempotencyKey)

		// Not sent (connection refused): nothing happened at SEQR, so the
		// retry with the same key sends it.
		fake.mu.Lock()
		fake.refund = func(string, seqr.Invoice) (string, error) { return "", seqr.ErrNotSent }
		fake.mu.Unlock()
		_, _, err = h.r.Refund(ctx, p.ID, "rk2", req)
		require.ErrorIs(t, err, ErrOffline)
		fake.mu.Lock()
		fake.refund = nil
		fake.mu.Unlock()
		r3, created, err := h.r.Refund(ctx, p.ID, "rk2", req)
		require.NoError(t, err)
		assert.True(t, created)
		assert.NotEqual(t, r1.ERSReference, r3.ERSReference)
		got, err := h.r.Payment(ctx, p.ID)
		require.NoError(t, err)
		assert.Equal(t, money.MustParse("10.00"), got.Refunded)
	})
}

// SEQR refunded but the result cannot be saved: the ersReference is held
// in memory and the save retried; new payments are refused meanwhile; the
// reference is logged once; a replay answers once it is saved.
func TestRefundSaveRetriedAfterSEQRRefunded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		core, logs := observer.New(zapcore.InfoLevel)
		fake := paidFake()
		h := newHarness(t, fake, harnessOpt{logger: zap.New(core)})
		defer h.close()
		ctx := context.Background()
		p := paidPayment(t, h, "k", "20.00")

		raw, err := sql.Open("sqlite3", "file:"+h.dir+"/posd.db?_busy_timeout=5000")
		require.NoError(t, err)
		defer raw.Close()
		var mu sync.Mutex
		var ers string
		fake.mu.Lock()
		fake.refund = func(string, seqr.Invoice) (string, error) {
			// The disk fails between SEQR's answer and our commit.
			_, err := raw.Exec(`CREATE TRIGGER refund_fail BEFORE UPDATE ON refunds WHEN NEW.state = 'done'
				BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`)
			require.NoError(t, err)
			mu.Lock()
			ers = "2015103011000000001032799"
			mu.Unlock()
			return ers, nil
		}
		fake.mu.Unlock()
		req := RefundRequest{Amount: money.MustParse("5.00"), CashierID: "bob"}
		_, _, err = h.r.Refund(ctx, p.ID, "rk1", req)
		require.ErrorIs(t, err, ErrStorage)
		assert.Contains(t, err.Error(), "2015103011000000001032799")

		time.Sleep(10 * time.Second)
		synctest.Wait()
		_, _, err = h.r.CreatePayment(ctx, "k2", sale("10.00"))
		require.ErrorIs(t, err, ErrStorage, "refused while a refund is held in memory")
		_, _, err = h.r.Refund(ctx, p.ID, "rk1", req)
		require.ErrorIs(t, err, ErrStorage, "replay while held: not recorded yet")
		list, err := h.db.Refunds(ctx, p.ID)
		require.NoError(t, err)
		require.Len(t, list, 1)
		assert.Equal(t, "sending", list[0].State)

		_, err = raw.Exec("DROP TRIGGER refund_fail")
		require.NoError(t, err)
		time.Sleep(3 * time.Second)
		synctest.Wait()
		list, err = h.db.Refunds(ctx, p.ID)
		require.NoError(t, err)
		assert.Equal(t, "done", list[0].State)
		assert.Equal(t, "2015103011000000001032799", list[0].ProviderRef)
		assert.True(t, h.journal.Has("seqr", "2015103011000000001032799"))
		rf, created, err := h.r.Refund(ctx, p.ID, "rk1", req)
		require.NoError(t, err)
		assert.False(t, created)
		assert.Equal(t, "2015103011000000001032799", rf.ERSReference)
		_, _, err = h.r.CreatePayment(ctx, "k2", sale("10.00"))
		require.NoError(t, err)
		assert.Equal(t, 1, fake.count("refundPayment"))

		n := 0
		for _, e := range logs.FilterLevelExact(zapcore.ErrorLevel).All() {
			if ref, _ := e.ContextMap()["reference"].(string); strings.Contains(ref, "2015103011000000001032799") {
				n++
			}
		}
		assert.Equal(t, 1, n, "the held reference is logged once")
	})
}

// At start-up a refund still "sending" (posd stopped mid-call) becomes
// "unknown", is reported, and blocks further refunds of its payment.
func TestRecoverRefundsMarksSendingUnknown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		core, logs := observer.New(zapcore.InfoLevel)
		fake := paidFake()
		h := newHarness(t, fake, harnessOpt{logger: zap.New(core)})
		defer h.close()
		ctx := context.Background()
		p := paidPayment(t, h, "k", "20.00")
		_, _, err := h.db.BeginRefundIdempotent(ctx, store.Refund{ID: "rf1", PaymentID: p.ID, Amount: 500, Currency: "SEK", IdempotencyKey: "rk1"},
			p.Amount, store.Audit{Actor: "bob", Event: "refund_begin", Outcome: "success"})
		require.NoError(t, err)

		require.NoError(t, h.r.recoverRefunds(ctx))
		list, err := h.db.Refunds(ctx, p.ID)
		require.NoError(t, err)
		assert.Equal(t, "unknown", list[0].State)
		assert.Equal(t, 1, logs.FilterField(zap.String("refund", "rf1")).FilterLevelExact(zapcore.ErrorLevel).Len())
		_, _, err = h.r.Refund(ctx, p.ID, "rk2", RefundRequest{Amount: 100})
		require.ErrorIs(t, err, ErrInvalidState)
		assert.Zero(t, fake.count("refundPayment"))
	})
}
