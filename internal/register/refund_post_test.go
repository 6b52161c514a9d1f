package register

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/seqr"
)

// refundPayment answered 0 without an ersReference (a provider client that
// lets it through): the refund's outcome is unknown, and new payments are
// not blocked by a post that can never be written.
func TestRefundWithoutReferenceDoesNotBlockPayments(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := paidFake()
		fake.refund = func(ers string, inv seqr.Invoice) (string, error) { return "", nil }
		h := newHarness(t, fake, harnessOpt{})
		defer h.close()
		ctx := context.Background()
		p := paidPayment(t, h, "k1", "100.00")
		_, _, err := h.r.Refund(ctx, p.ID, "rk1", RefundRequest{Amount: money.MustParse("10.00"), CashierID: "bob"})
		require.ErrorIs(t, err, ErrRefundOutcomeUnknown)
		list, err := h.db.Refunds(ctx, p.ID)
		require.NoError(t, err)
		assert.Equal(t, "unknown", list[0].State)
		time.Sleep(time.Minute)
		synctest.Wait()
		_, _, err = h.r.CreatePayment(ctx, "k2", sale("5.00"))
		require.NoError(t, err, "new payments go on")
	})
}

// invalidPostJournal refuses refund posts as invalid (a field rule the post
// breaks): retrying can never write it.
type invalidPostJournal struct{ *receipt.Journal }

func (j *invalidPostJournal) Append(p receipt.Post) (receipt.Post, error) {
	if p.Kind == "refund" {
		return receipt.Post{}, fmt.Errorf("append %s: %w: text too long", p.Reference, receipt.ErrInvalidPost)
	}
	return j.Journal.Append(p)
}

// A refund post the receipt file refuses as invalid is raised (error log
// and audit row), not retried forever, and does not block payments.
func TestRefundInvalidPostRaisedNotRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		core, logs := observer.New(zapcore.InfoLevel)
		fake := paidFake()
		h := newHarness(t, fake, harnessOpt{logger: zap.New(core),
			wrap: func(j *receipt.Journal) Journal { return &invalidPostJournal{Journal: j} }})
		defer h.close()
		ctx := context.Background()
		p := paidPayment(t, h, "k1", "100.00")
		rf, created, err := h.r.Refund(ctx, p.ID, "rk1", RefundRequest{Amount: money.MustParse("10.00"), CashierID: "bob"})
		require.NoError(t, err, "SEQR refunded and it is recorded")
		assert.True(t, created)
		time.Sleep(time.Minute)
		synctest.Wait()
		_, _, err = h.r.CreatePayment(ctx, "k2", sale("5.00"))
		require.NoError(t, err, "new payments go on")
		assert.Equal(t, 1, logs.FilterMessageSnippet("raised for manual handling").FilterField(zap.String("reference", rf.ProviderRef)).Len())
		trail, err := h.db.AuditTrail(ctx, p.ID)
		require.NoError(t, err)
		found := false
		for _, a := range trail {
			if a.Event == "refund_post" {
				found = true
				assert.Contains(t, a.Outcome, "failure")
				assert.Contains(t, a.Detail, rf.ERSReference)
			}
		}
		assert.True(t, found, "audit row for the refused post")
	})
}

// invalidPaymentPostJournal refuses payment posts as invalid.
type invalidPaymentPostJournal struct{ *receipt.Journal }

func (j *invalidPaymentPostJournal) Append(p receipt.Post) (receipt.Post, error) {
	if p.Kind == "payment" {
		return receipt.Post{}, fmt.Errorf("append %s: %w: reference too long", p.Reference, receipt.ErrInvalidPost)
	}
	return j.Journal.Append(p)
}

// A PAID whose post the receipt file refuses as invalid is never shown paid
// without its post, is raised for manual handling once, and does not keep
// every later sale blocked.
func TestPaidInvalidPostRaisedNotRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		core, logs := observer.New(zapcore.InfoLevel)
		h := newHarness(t, paidFake(), harnessOpt{logger: zap.New(core),
			wrap: func(j *receipt.Journal) Journal { return &invalidPaymentPostJournal{Journal: j} }})
		defer h.close()
		ctx := context.Background()
		p, _, err := h.r.CreatePayment(ctx, "k1", sale("10.00"))
		require.NoError(t, err)
		ch, cancel := h.r.Subscribe(p.ID)
		defer cancel()
		// Bounded in fake time: a recording retried for ever never gets here.
		limit := time.After(10 * time.Minute)
		var got Payment
		// The raise may come before the subscription: unknown is not final,
		// so the stream would not replay it.
		if now, err := h.r.Payment(ctx, p.ID); err == nil && now.State == StateUnknown {
			got = now
		}
	wait:
		for got.State != StateUnknown {
			select {
			case ev := <-ch:
				if ev.Type == "state" && ev.State == StateUnknown {
					got = ev.Payment
					break wait
				}
			case <-limit:
				t.Fatal("the paid payment was never raised for manual handling: its recording is retried for ever")
			}
		}
		assert.Contains(t, got.Error, "cannot be written to the receipt file")
		time.Sleep(time.Minute)
		synctest.Wait()
		assert.Equal(t, 1, logs.FilterMessageSnippet("raised for manual handling").Len())
		_, _, err = h.r.CreatePayment(ctx, "k2", sale("5.00"))
		require.NoError(t, err, "new payments go on")
	})
}
