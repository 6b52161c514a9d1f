package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// TestLargeDatabaseCheckedAfterOpen: above the full-check size Open checks
// only the tables a start reads, so damage in the history tables is found
// by QuickCheck (run by the register after start-up), not missed.
func TestLargeDatabaseCheckedAfterOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "posd.db")
	db, err := Open(ctx, path, Options{})
	require.NoError(t, err)
	assert.True(t, db.FullyChecked(), "a small file is checked whole at open")
	for i := range 400 {
		p := testPayment(fmt.Sprintf("p%04d", i), fmt.Sprintf("k%04d", i))
		p.RowsJSON = []byte(`[{"description":"` + strings.Repeat("x", 300) + `"}]`)
		_, _, err := db.CreatePayment(ctx, p, Audit{Actor: "t", Event: "create", Outcome: "success"})
		require.NoError(t, err)
	}
	var pages, leaf int64
	require.NoError(t, db.r.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages))
	// The root page of the payments table: its children hold the history.
	require.NoError(t, db.r.QueryRowContext(ctx, "SELECT rootpage FROM sqlite_schema WHERE name = 'payments'").Scan(&leaf))
	require.NoError(t, db.Close())

	db, err = Open(ctx, path, Options{FullCheckBelow: 1})
	require.NoError(t, err)
	assert.False(t, db.FullyChecked())
	require.NoError(t, db.QuickCheck(ctx))
	require.NoError(t, db.Close())

	// Damage one page of the payments table's history (not its root).
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	const pageSize = 4096
	damaged := false
	for pg := pages; pg > leaf+1 && !damaged; pg-- {
		off := (pg - 1) * pageSize
		if off+pageSize <= int64(len(b)) && b[off] == 0x0d { // a table leaf page
			for i := off + 8; i < off+pageSize; i += 13 {
				b[i] ^= 0xff
			}
			damaged = true
		}
	}
	require.True(t, damaged)
	require.NoError(t, os.WriteFile(path, b, 0o600))
	db, err = Open(ctx, path, Options{FullCheckBelow: 1})
	if err != nil {
		require.ErrorIs(t, err, ErrCorrupt) // the damage reached a start table: also a clear error
		return
	}
	defer db.Close()
	require.ErrorIs(t, db.QuickCheck(ctx), ErrCorrupt)
}
