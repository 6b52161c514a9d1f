package store

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/money"
)

// A refund carries its Idempotency-Key: the same key and body returns the
// row (begun=false), another body is ErrIdempotencyKey, a failed refund is
// attempted again under its key, and a new refund is refused while another
// of the same payment is sending or unknown.
func TestRefundIdempotencyAndPending(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	a := Audit{Actor: "c", Event: "refund", Outcome: "success"}
	_, _, err := db.CreatePayment(ctx, testPayment("p1", "k1"), a)
	require.NoError(t, err)
	limit := money.MustParse("100.00")
	r := func(id, key, hash, amt string) Refund {
		return Refund{ID: id, PaymentID: "p1", Amount: money.MustParse(amt), Currency: "SEK", IdempotencyKey: key, RequestHash: hash}
	}

	r1, begun, err := db.BeginRefundIdempotent(ctx, r("r1", "rk1", "h1", "50.00"), limit, a)
	require.NoError(t, err)
	assert.True(t, begun)
	assert.Equal(t, "sending", r1.State)
	assert.Equal(t, "rk1", r1.IdempotencyKey)

	again, begun, err := db.BeginRefundIdempotent(ctx, r("r1b", "rk1", "h1", "50.00"), limit, a)
	require.NoError(t, err)
	assert.False(t, begun, "same key, same body: the stored refund")
	assert.Equal(t, "r1", again.ID)
	_, _, err = db.BeginRefundIdempotent(ctx, r("r1c", "rk1", "other", "40.00"), limit, a)
	require.ErrorIs(t, err, ErrIdempotencyKey)

	_, _, err = db.BeginRefundIdempotent(ctx, r("r2", "rk2", "h2", "10.00"), limit, a)
	require.ErrorIs(t, err, ErrRefundPending, "r1 is still sending")
	_, err = db.FinishRefund(ctx, "r1", "unknown", "", "transport", a)
	require.NoError(t, err)
	_, _, err = db.BeginRefundIdempotent(ctx, r("r2", "rk2", "h2", "10.00"), limit, a)
	require.ErrorIs(t, err, ErrRefundPending, "r1's outcome is unknown")
	assert.Contains(t, err.Error(), "r1")

	byKey, err := db.RefundByKey(ctx, "rk1")
	require.NoError(t, err)
	assert.Equal(t, "unknown", byKey.State)
	_, err = db.RefundByKey(ctx, "nope")
	require.ErrorIs(t, err, ErrNotFound)

	// A failed refund (SEQR answered, or nothing was sent) is tried again
	// under its own key.
	_, _, err = db.CreatePayment(ctx, testPayment("p2", "k2"), a)
	require.NoError(t, err)
	f := Refund{ID: "r3", PaymentID: "p2", Amount: money.MustParse("5.00"), Currency: "SEK", IdempotencyKey: "rk3", RequestHash: "h3"}
	_, _, err = db.BeginRefundIdempotent(ctx, f, limit, a)
	require.NoError(t, err)
	_, err = db.FinishRefund(ctx, "r3", "failed", "", "not sent", a)
	require.NoError(t, err)
	f.ID = "r3-second"
	again, begun, err = db.BeginRefundIdempotent(ctx, f, limit, a)
	require.NoError(t, err)
	assert.True(t, begun)
	assert.Equal(t, "r3", again.ID, "the same row, sending again")
	assert.Equal(t, "sending", again.State)
	assert.Empty(t, again.Error)
}

func TestMarkSendingRefundsUnknown(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	a := Audit{Actor: "c", Event: "refund", Outcome: "success"}
	_, _, err := db.CreatePayment(ctx, testPayment("p1", "k1"), a)
	require.NoError(t, err)
	_, _, err = db.BeginRefundIdempotent(ctx, Refund{ID: "r1", PaymentID: "p1", Amount: 500, Currency: "SEK", IdempotencyKey: "rk1"}, 2000, a)
	require.NoError(t, err)
	marked, err := db.MarkSendingRefundsUnknown(ctx, "posd stopped while refundPayment was on its way",
		Audit{Actor: "posd", Event: "recover_refund", Outcome: "failure: outcome unknown", Origin: "recovery"})
	require.NoError(t, err)
	require.Len(t, marked, 1)
	assert.Equal(t, "r1", marked[0].ID)
	assert.Equal(t, "unknown", marked[0].State)
	list, err := db.Refunds(ctx, "p1")
	require.NoError(t, err)
	assert.Equal(t, "unknown", list[0].State)
	assert.Contains(t, list[0].Error, "posd stopped")
	trail, err := db.AuditTrail(ctx, "p1")
	require.NoError(t, err)
	assert.Equal(t, "recover_refund", trail[len(trail)-1].Event)
	marked, err = db.MarkSendingRefundsUnknown(ctx, "x", Audit{Actor: "posd", Event: "recover_refund", Outcome: "failure"})
	require.NoError(t, err)
	assert.Empty(t, marked)
}
