package store

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/migrations"
)

// upTo returns the embedded migrations numbered at most n.
func upTo(t *testing.T, n int) fs.FS {
	t.Helper()
	migs, err := loadMigrations(migrations.FS)
	require.NoError(t, err)
	out := fstest.MapFS{}
	for _, m := range migs {
		if m.Version <= n {
			name, err := fs.Glob(migrations.FS, "*_"+m.Name+".sql")
			require.NoError(t, err)
			require.Len(t, name, 1)
			out[name[0]] = &fstest.MapFile{Data: []byte(m.SQL)}
		}
	}
	return out
}

// v2Database writes, with the schema of release 2 (SEQR only), a paid
// payment, a refund, its audit rows, an outbox item and a period.
func v2Database(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "posd.db")
	db, err := Open(ctx, path, Options{Migrations: upTo(t, 2)})
	require.NoError(t, err)
	for _, q := range []string{
		`INSERT INTO payments (id, idempotency_key, request_hash, method, state, amount, currency, receipt_total, balancing,
			rows_json, invoice_reference, ers_reference, poll_window, invoice_version, paid_at, created_at, updated_at)
			VALUES ('p1', 'k1', 'h1', 'seqr', 'paid', 2000, 'SEK', 2000, 'none', '[]', 'INV-1', '1234', 1, 3,
			'2026-11-01T10:00:00.000000000Z', '2026-11-01T09:59:00.000000000Z', '2026-11-01T10:00:00.000000000Z')`,
		`INSERT INTO payments (id, idempotency_key, request_hash, method, state, amount, currency, receipt_total, balancing,
			rows_json, invoice_reference, poll_window, invoice_version, created_at, updated_at)
			VALUES ('p2', 'k2', 'h2', 'seqr', 'polling', 500, 'SEK', 500, 'none', '[]', 'INV-2', 1, 7,
			'2026-11-01T11:00:00.000000000Z', '2026-11-01T11:00:00.000000000Z')`,
		`INSERT INTO audit (payment_id, actor, event, outcome, invoice_reference, ers_reference, at)
			VALUES ('p1', 'posd', 'paid', 'success', 'INV-1', '1234', '2026-11-01T10:00:00.000000000Z')`,
		`INSERT INTO refunds (id, payment_id, amount, currency, ers_reference, state, created_at, updated_at, idempotency_key)
			VALUES ('r1', 'p1', 500, 'SEK', '5678', 'done', '2026-11-02T10:00:00.000000000Z', '2026-11-02T10:00:00.000000000Z', 'rk1')`,
		`INSERT INTO outbox (kind, payment_id, payload, next_attempt_at, created_at)
			VALUES ('submitPaymentReceipt', 'p1', '{}', '2026-11-01T10:00:00.000000000Z', '2026-11-01T10:00:00.000000000Z')`,
		`INSERT INTO periods (transaction_period_id, period_start, marked_at) VALUES ('TP-1', '', '2026-11-03T10:00:00.000000000Z')`,
	} {
		_, err := db.w.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	require.NoError(t, db.Close())
	return path
}

func TestMigration0003KeepsEveryRowAsSEQRs(t *testing.T) {
	ctx := context.Background()
	path := v2Database(t)
	db, err := Open(ctx, path, Options{})
	require.NoError(t, err)
	defer db.Close()
	assert.Contains(t, db.Applied(), 3)

	p, err := db.Payment(ctx, "p1")
	require.NoError(t, err)
	assert.Equal(t, "seqr", p.Provider)
	assert.Equal(t, "INV-1", p.SessionRef)
	assert.Equal(t, "1234", p.TransactionRef)
	assert.Equal(t, int64(3), p.Progress)
	assert.Equal(t, "paid", p.State)
	open, err := db.Payment(ctx, "p2")
	require.NoError(t, err)
	assert.Equal(t, "INV-2", open.SessionRef)
	assert.Equal(t, int64(7), open.Progress)

	rf, err := db.RefundByReference(ctx, "seqr", "5678")
	require.NoError(t, err)
	assert.Equal(t, "r1", rf.ID)
	trail, err := db.AuditTrail(ctx, "p1")
	require.NoError(t, err)
	require.Len(t, trail, 1)
	assert.Equal(t, "seqr", trail[0].Provider)
	assert.Equal(t, "INV-1", trail[0].SessionRef)
	assert.Equal(t, "1234", trail[0].TransactionRef)
	items, err := db.OutboxItems(ctx, "p1")
	require.NoError(t, err)
	require.Len(t, items, 1)
	assert.Equal(t, "seqr", items[0].Provider)
	per, ok, err := db.LastPeriod(ctx, "seqr")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "TP-1", per.Ref)

	var kinds []string
	rows, err := db.r.QueryContext(ctx, "SELECT provider || ':' || kind || ':' || ref FROM provider_refs ORDER BY 1")
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		kinds = append(kinds, s)
	}
	assert.Equal(t, []string{"seqr:period:TP-1", "seqr:refund:5678", "seqr:session:INV-1", "seqr:session:INV-2", "seqr:transaction:1234"}, kinds)
}

func TestAuditStaysAppendOnlyAfterMigration0003(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, v2Database(t), Options{})
	require.NoError(t, err)
	defer db.Close()
	for _, q := range []string{"UPDATE audit SET actor = 'x'", "DELETE FROM audit"} {
		err := db.write(ctx, func(tx *sql.Tx) error { _, err := tx.ExecContext(ctx, q); return err })
		require.Error(t, err, q)
		assert.Contains(t, err.Error(), "audit is append-only", q)
	}
}

func TestForeignKeysOnAfterMigration0003(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, v2Database(t), Options{})
	require.NoError(t, err)
	defer db.Close()
	err = db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO refunds (id, payment_id, provider, amount, currency, state, created_at, updated_at)
			VALUES ('rx', 'no-such-payment', 'seqr', 1, 'SEK', 'sending', 'x', 'x')`)
		return err
	})
	require.Error(t, err, "the migration turned foreign keys back on")
}

func TestTransactionReferenceUniquePerProvider(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	a := Audit{Actor: "c", Event: "seed", Outcome: "success"}
	for i, prov := range []string{"seqr", "payson"} {
		p := testPayment([]string{"a", "b"}[i], []string{"ka", "kb"}[i])
		p.Provider, p.State = prov, "polling"
		_, _, err := db.CreatePayment(ctx, p, a)
		require.NoError(t, err)
		_, err = db.Transition(ctx, p.ID, nil, a, func(q *Payment) error { q.TransactionRef = "1001"; return nil })
		require.NoError(t, err, "the same reference at another provider is another transaction")
	}
	c := testPayment("c", "kc")
	c.State = "polling"
	_, _, err := db.CreatePayment(ctx, c, a)
	require.NoError(t, err)
	_, err = db.Transition(ctx, "c", nil, a, func(q *Payment) error { q.TransactionRef = "1001"; return nil })
	require.ErrorIs(t, err, ErrDuplicateReference, "one payment per provider transaction")
}
