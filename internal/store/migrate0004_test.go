package store

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMigration0004 upgrades a release-3 database with a payment: the rows
// stay, the list indexes replace payments_state, no watermark exists yet
// (the first start checks the whole receipt file), and period_id is empty.
func TestMigration0004(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "posd.db")
	db, err := Open(ctx, path, Options{Migrations: upTo(t, 3)})
	require.NoError(t, err)
	_, _, err = db.CreatePayment(ctx, testPayment("p1", "k1"), Audit{Actor: "t", Event: "create", Outcome: "success"})
	require.NoError(t, err)
	require.NoError(t, db.Close())

	db, err = Open(ctx, path, Options{})
	require.NoError(t, err)
	defer db.Close()
	assert.Contains(t, db.Applied(), 4)
	p, err := db.Payment(ctx, "p1")
	require.NoError(t, err)
	assert.Equal(t, "created", p.State)
	var n int
	require.NoError(t, db.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM payments WHERE period_id IS NULL").Scan(&n))
	assert.Equal(t, 1, n)
	indexes := map[string]bool{}
	rows, err := db.r.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'payments'")
	require.NoError(t, err)
	for rows.Next() {
		var name string
		require.NoError(t, rows.Scan(&name))
		indexes[name] = true
	}
	require.NoError(t, rows.Close())
	for _, want := range []string{"payments_state_created", "payments_provider_created", "payments_sale_created",
		"payments_session_ref", "payments_transaction_ref", "payments_created"} {
		assert.True(t, indexes[want], want)
	}
	assert.False(t, indexes["payments_state"], "replaced by payments_state_created")
	_, ok, err := db.JournalWatermark(ctx)
	require.NoError(t, err)
	assert.False(t, ok)
}

func TestJournalWatermarkNeverMovesBack(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "posd.db"), Options{})
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.SetJournalWatermark(ctx, Watermark{AuditID: 10, JournalSeq: 5, JournalRef: "A"}))
	require.NoError(t, db.SetJournalWatermark(ctx, Watermark{AuditID: 8, JournalSeq: 4, JournalRef: "B"}))
	w, ok, err := db.JournalWatermark(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, Watermark{AuditID: 10, JournalSeq: 5, JournalRef: "A"}, w)
	require.NoError(t, db.SetJournalWatermark(ctx, Watermark{AuditID: 12, JournalSeq: 3, JournalRef: "C"}))
	w, _, err = db.JournalWatermark(ctx)
	require.NoError(t, err)
	assert.Equal(t, Watermark{AuditID: 12, JournalSeq: 3, JournalRef: "C"}, w)
}

// TestPostedAfter names paid payments and done refunds recorded after an
// audit id, once each, and reports how far it read.
func TestPostedAfter(t *testing.T) {
	ctx := context.Background()
	db, _ := listDB(t, 4) // p004 (i=0) and p001 (i=3) paid
	got, last, err := db.PostedAfter(ctx, 0, 1000)
	require.NoError(t, err)
	top, err := db.MaxAuditID(ctx)
	require.NoError(t, err)
	assert.Equal(t, top, last)
	var refs []string
	for _, p := range got {
		refs = append(refs, p.Ref)
		assert.False(t, p.Refund)
	}
	assert.Equal(t, []string{"ers-0", "ers-3"}, refs)
	got, last2, err := db.PostedAfter(ctx, 0, 2)
	require.NoError(t, err)
	assert.Less(t, last2, last, "a batch stops at its limit")
	assert.Len(t, got, 1)
	got, last3, err := db.PostedAfter(ctx, top, 10)
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.Equal(t, top, last3)

	rf, err := db.BeginRefund(ctx, Refund{ID: "r1", PaymentID: "p004", Provider: "seqr", Amount: 100, Currency: "SEK"}, 2000,
		Audit{Actor: "t", Event: "refund_begin", Outcome: "success"})
	require.NoError(t, err)
	_, err = db.FinishRefund(ctx, rf.ID, "done", "rf-1", "", Audit{Actor: "t", Event: "refund", Outcome: "success"})
	require.NoError(t, err)
	got, _, err = db.PostedAfter(ctx, top, 10)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, Posted{AuditID: got[0].AuditID, Provider: "seqr", Ref: "rf-1", Refund: true}, got[0])
}
