package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/migrations"
)

func openTest(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "posd.db")
	db, err := Open(context.Background(), path, Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db, path
}

func testPayment(id, key string) Payment {
	return Payment{
		ID: id, IdempotencyKey: key, RequestHash: "h-" + key, Provider: "seqr", Method: "seqr", State: "created",
		Amount: money.MustParse("20.00"), Currency: "SEK", ReceiptTotal: money.MustParse("20.00"),
		Balancing: "none", RowsJSON: []byte(`[]`),
	}
}

func TestMigrationsApplyInOrderOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "posd.db")
	applied, err := Migrate(ctx, path, Options{})
	require.NoError(t, err)
	migs, err := loadMigrations(migrations.FS)
	require.NoError(t, err)
	require.NotEmpty(t, migs)
	require.Len(t, applied, len(migs))
	for i := 1; i < len(applied); i++ {
		assert.Less(t, applied[i-1], applied[i])
	}
	again, err := Migrate(ctx, path, Options{})
	require.NoError(t, err)
	assert.Empty(t, again, "a second run applies nothing")

	db, err := Open(ctx, path, Options{})
	require.NoError(t, err)
	defer db.Close()
	v, err := db.SchemaVersion(ctx)
	require.NoError(t, err)
	assert.Equal(t, migs[len(migs)-1].Version, v)
	var uv int
	require.NoError(t, db.r.QueryRowContext(ctx, "PRAGMA user_version").Scan(&uv))
	assert.Equal(t, v, uv)

	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "the db holds the terminal password")
}

func TestPragmas(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	tests := []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"foreign_keys", "1"},
		{"busy_timeout", "5000"},
	}
	for _, tt := range tests {
		t.Run(tt.pragma, func(t *testing.T) {
			var got string
			require.NoError(t, db.w.QueryRowContext(ctx, "PRAGMA "+tt.pragma).Scan(&got))
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestMigrationFailureRollsBack(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "posd.db")
	fsys := fstest.MapFS{
		"0001_a.sql": {Data: []byte("CREATE TABLE a (x INTEGER);")},
		"0002_b.sql": {Data: []byte("CREATE TABLE b (x INTEGER); THIS IS NOT SQL;")},
	}
	_, err := Open(ctx, path, Options{Migrations: fsys})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "0002_b")

	fsys["0002_b.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE b (x INTEGER);")}
	db, err := Open(ctx, path, Options{Migrations: fsys})
	require.NoError(t, err, "the failed step left nothing half-applied")
	defer db.Close()
	assert.Equal(t, []int{2}, db.Applied())
}

func TestSchemaTooNewIsRefused(t *testing.T) {
	ctx := context.Background()
	db, path := openTest(t)
	require.NoError(t, db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 'x')")
		return err
	}))
	require.NoError(t, db.Close())

	_, err := Open(ctx, path, Options{})
	require.ErrorIs(t, err, ErrSchemaTooNew)
	assert.Contains(t, err.Error(), "9999")
	assert.Contains(t, err.Error(), "newer")
}

func TestCorruptDatabaseIsAClearError(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		corrupt func(t *testing.T, path string)
	}{
		{"garbage file", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, []byte("this is not an sqlite database at all, just text that is long enough"), 0o600))
		}},
		{"flipped bytes in the pages", func(t *testing.T, path string) {
			db, err := Open(ctx, path, Options{})
			require.NoError(t, err)
			for i := range 200 {
				_, _, err := db.CreatePayment(ctx, testPayment(fmt.Sprintf("p%03d", i), fmt.Sprintf("k%03d", i)), Audit{Actor: "t", Event: "create", Outcome: "success"})
				require.NoError(t, err)
			}
			require.NoError(t, db.Close())
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Greater(t, len(b), 8192)
			for i := 4096 + 100; i < len(b); i += 97 {
				b[i] ^= 0x5a
			}
			require.NoError(t, os.WriteFile(path, b, 0o600))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "posd.db")
			tt.corrupt(t, path)
			var db *DB
			var err error
			require.NotPanics(t, func() { db, err = Open(ctx, path, Options{}) })
			if db != nil {
				_ = db.Close()
			}
			require.ErrorIs(t, err, ErrCorrupt)
			assert.Contains(t, err.Error(), path)
		})
	}
}

func TestCreatePaymentIdempotent(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	a := Audit{Actor: "c1", Event: "create", Outcome: "success", Origin: "api"}

	p1, created, err := db.CreatePayment(ctx, testPayment("p1", "k1"), a)
	require.NoError(t, err)
	assert.True(t, created)

	p2, created, err := db.CreatePayment(ctx, testPayment("p2", "k1"), a)
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, p1.ID, p2.ID)

	other := testPayment("p3", "k1")
	other.RequestHash = "different"
	_, _, err = db.CreatePayment(ctx, other, a)
	require.ErrorIs(t, err, ErrIdempotencyKey)

	// 10 concurrent copies: exactly one row created.
	var wg sync.WaitGroup
	var mu sync.Mutex
	createdN := 0
	for i := range 10 {
		wg.Go(func() {
			_, c, err := db.CreatePayment(ctx, testPayment(fmt.Sprintf("c%d", i), "k2"), a)
			assert.NoError(t, err)
			if c {
				mu.Lock()
				createdN++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 1, createdN)
}

func TestTransitionWritesAudit(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	_, _, err := db.CreatePayment(ctx, testPayment("p1", "k1"), Audit{Actor: "c1", Event: "create", Outcome: "success", Origin: "api"})
	require.NoError(t, err)

	ends := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	p, err := db.Transition(ctx, "p1", []string{"created"}, Audit{Actor: "posd", Event: "send_invoice", Outcome: "success"},
		func(p *Payment) error {
			p.State, p.SessionRef, p.Window, p.WindowEndsAt = "polling", "1397222701693", 1, ends
			return nil
		})
	require.NoError(t, err)
	assert.Equal(t, "polling", p.State)

	got, err := db.Payment(ctx, "p1")
	require.NoError(t, err)
	assert.Equal(t, ends, got.WindowEndsAt)
	assert.Equal(t, "1397222701693", got.SessionRef)

	_, err = db.Transition(ctx, "p1", []string{"created"}, Audit{Actor: "posd", Event: "x", Outcome: "success"},
		func(p *Payment) error { p.State = "failed"; return nil })
	require.ErrorIs(t, err, ErrStateConflict)

	trail, err := db.AuditTrail(ctx, "p1")
	require.NoError(t, err)
	require.Len(t, trail, 2)
	assert.Equal(t, "", trail[0].FromState)
	assert.Equal(t, "created", trail[0].ToState)
	assert.Equal(t, "c1", trail[0].Actor)
	assert.Equal(t, "created", trail[1].FromState)
	assert.Equal(t, "polling", trail[1].ToState)
	assert.Equal(t, "1397222701693", trail[1].SessionRef)
	assert.False(t, trail[1].At.IsZero())

	// The audit is append-only.
	err = db.write(ctx, func(tx *sql.Tx) error { _, err := tx.ExecContext(ctx, "DELETE FROM audit"); return err })
	require.Error(t, err)
	err = db.write(ctx, func(tx *sql.Tx) error { _, err := tx.ExecContext(ctx, "UPDATE audit SET actor = 'x'"); return err })
	require.Error(t, err)
}

func TestERSReferenceUnique(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	a := Audit{Actor: "posd", Event: "paid", Outcome: "success"}
	for _, id := range []string{"p1", "p2"} {
		_, _, err := db.CreatePayment(ctx, testPayment(id, "k"+id), a)
		require.NoError(t, err)
	}
	setERS := func(p *Payment) error { p.TransactionRef = "2015102910184861801032678"; return nil }
	_, err := db.Transition(ctx, "p1", nil, a, setERS)
	require.NoError(t, err)
	_, err = db.Transition(ctx, "p2", nil, a, setERS)
	require.ErrorIs(t, err, ErrDuplicateReference)
}

// D5: while another connection holds the write lock, a commit waits
// (busy_timeout) and then succeeds.
func TestCommitWaitsForAnotherWriter(t *testing.T) {
	db, path := openTest(t)
	ctx := context.Background()

	other, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	require.NoError(t, err)
	defer other.Close()
	conn, err := other.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(ctx, "BEGIN IMMEDIATE")
	require.NoError(t, err)
	_, err = conn.ExecContext(ctx, "INSERT INTO heartbeat (id, at) VALUES (1, 'other') ON CONFLICT (id) DO UPDATE SET at = 'other'")
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() {
		_, _, err := db.CreatePayment(ctx, testPayment("p1", "k1"), Audit{Actor: "c", Event: "create", Outcome: "success"})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("commit finished while another connection held the write lock: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	_, err = conn.ExecContext(ctx, "COMMIT")
	require.NoError(t, err)
	require.NoError(t, <-done, "the commit waited for the lock and succeeded")
	_, err = db.Payment(ctx, "p1")
	require.NoError(t, err)
}

// Many concurrent read-then-write transactions never see SQLITE_BUSY.
func TestConcurrentTransitionsNoBusy(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	_, _, err := db.CreatePayment(ctx, testPayment("p1", "k1"), Audit{Actor: "c", Event: "create", Outcome: "success"})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			_, err := db.Transition(ctx, "p1", nil, Audit{}, func(p *Payment) error { p.PollCount++; return nil })
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	p, err := db.Payment(ctx, "p1")
	require.NoError(t, err)
	assert.Equal(t, 200, p.PollCount)
}

func TestCheckWritable(t *testing.T) {
	db, _ := openTest(t)
	require.NoError(t, db.CheckWritable(context.Background()))
	require.NoError(t, db.Close())
	err := db.CheckWritable(context.Background())
	require.Error(t, err)
}

func TestRefundLimit(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	a := Audit{Actor: "c", Event: "refund", Outcome: "success"}
	_, _, err := db.CreatePayment(ctx, testPayment("p1", "k1"), a)
	require.NoError(t, err)
	limit := money.MustParse("20.00")
	r := func(id, amt string) Refund {
		return Refund{ID: id, PaymentID: "p1", Amount: money.MustParse(amt), Currency: "SEK"}
	}
	_, err = db.BeginRefund(ctx, r("r1", "15.00"), limit, a)
	require.NoError(t, err)
	_, err = db.BeginRefund(ctx, r("r2", "1.00"), limit, a)
	require.ErrorIs(t, err, ErrRefundPending, "one at a time: r1 may have been made")
	_, err = db.FinishRefund(ctx, "r1", "done", "2015103011000000001032699", "", a)
	require.NoError(t, err)
	_, err = db.BeginRefund(ctx, r("r2", "5.01"), limit, a)
	require.ErrorIs(t, err, ErrRefundExceeds)
	_, err = db.BeginRefund(ctx, r("r3", "5.00"), limit, a)
	require.NoError(t, err)
	_, err = db.FinishRefund(ctx, "r3", "failed", "", "98", a)
	require.NoError(t, err)
	_, err = db.BeginRefund(ctx, r("r4", "5.00"), limit, a)
	require.NoError(t, err, "a failed refund does not count")
	done, err := db.FinishRefund(ctx, "r4", "done", "2015103011000000001032700", "", a)
	require.NoError(t, err)
	assert.Equal(t, "done", done.State)
	_, err = db.BeginRefund(ctx, r("r5", "0.01"), limit, a)
	require.ErrorIs(t, err, ErrRefundExceeds)
	list, err := db.Refunds(ctx, "p1")
	require.NoError(t, err)
	require.Len(t, list, 3)
}

func TestOutboxAndPrintJobs(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	_, _, err := db.CreatePayment(ctx, testPayment("p1", "k1"), Audit{Actor: "c", Event: "create", Outcome: "success"})
	require.NoError(t, err)
	_, err = db.Transition(ctx, "p1", nil, Audit{Actor: "posd", Event: "paid", Outcome: "success"},
		func(p *Payment) error { p.State = "paid"; return nil },
		func(tx *Tx) error { return tx.EnqueueOutbox("seqr", "submitPaymentReceipt", "p1", []byte(`{}`)) },
		func(tx *Tx) error { return tx.EnqueuePrintJob("p1", "receipt", []byte(`{}`), false) })
	require.NoError(t, err)

	now := time.Now()
	due, err := db.DueOutbox(ctx, now.Add(time.Second), 10)
	require.NoError(t, err)
	require.Len(t, due, 1)
	require.NoError(t, db.OutboxRetry(ctx, due[0].ID, now.Add(time.Hour), "result 90"))
	due, err = db.DueOutbox(ctx, now.Add(time.Second), 10)
	require.NoError(t, err)
	assert.Empty(t, due)
	n, err := db.OutboxBacklog(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	items, err := db.OutboxItems(ctx, "p1")
	require.NoError(t, err)
	require.NoError(t, db.OutboxDone(ctx, items[0].ID))
	n, err = db.OutboxBacklog(ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, n)

	j, ok, err := db.NextPrintJob(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	assert.False(t, j.Started)
	require.NoError(t, db.PrintJobStarted(ctx, j.ID))
	j2, ok, err := db.NextPrintJob(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	assert.True(t, j2.Started, "an interrupted job is known to have started")
	require.NoError(t, db.PrintJobPrinted(ctx, j.ID))
	_, ok, err = db.NextPrintJob(ctx)
	require.NoError(t, err)
	assert.False(t, ok)
	assert.True(t, errors.Is(db.PrintJobPrinted(ctx, 999), ErrNotFound))
}

func TestPeriods(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	a := Audit{Actor: "posd", Event: "mark_period", Outcome: "success"}
	_, ok, err := db.UnreportedPeriod(ctx, "seqr")
	require.NoError(t, err)
	assert.False(t, ok)
	marked := time.Date(2026, 11, 21, 18, 0, 0, 0, time.UTC)
	p, err := db.SavePeriod(ctx, Period{Provider: "seqr", Ref: "2015120408534212001005262", MarkedAt: marked}, a)
	require.NoError(t, err)
	got, ok, err := db.UnreportedPeriod(ctx, "seqr")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, p.Ref, got.Ref)
	assert.Equal(t, marked, got.MarkedAt)
	require.NoError(t, db.FinishPeriod(ctx, p.ID, []byte(`{"match":true}`), a))
	_, ok, err = db.UnreportedPeriod(ctx, "seqr")
	require.NoError(t, err)
	assert.False(t, ok)
	last, ok, err := db.LastPeriod(ctx, "seqr")
	require.NoError(t, err)
	require.True(t, ok)
	assert.JSONEq(t, `{"match":true}`, string(last.ResultJSON))
}

func TestTerminal(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	a := Audit{Actor: "posd", Event: "register_terminal", Outcome: "success"}
	_, err := db.Terminal(ctx)
	require.ErrorIs(t, err, ErrNotFound)
	require.NoError(t, db.SaveTerminal(ctx, Terminal{TerminalID: "t1", Password: "pw", Name: "till"}, a))
	require.Error(t, db.SaveTerminal(ctx, Terminal{TerminalID: "t2", Password: "pw"}, a), "one terminal per till")
	require.NoError(t, db.SetSeqrID(ctx, "ACME0001", a))
	tm, err := db.Terminal(ctx)
	require.NoError(t, err)
	assert.Equal(t, "ACME0001", tm.SeqrID)
	require.NoError(t, db.DeleteTerminal(ctx, a))
	require.ErrorIs(t, db.SetSeqrID(ctx, "X", a), ErrNotFound)
}

// The start-up check reads references only; full rows by reference.
func TestReferencesAndLookups(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	a := Audit{Actor: "c", Event: "seed", Outcome: "success"}
	for _, p := range []struct{ id, state, ers string }{
		{"p1", "paid", "ERS-1"}, {"p2", "paid", "ERS-2"}, {"p3", "polling", ""}, {"p4", "unknown", "ERS-4"},
	} {
		q := testPayment(p.id, "k-"+p.id)
		q.State, q.TransactionRef = p.state, p.ers
		_, _, err := db.CreatePayment(ctx, q, a)
		require.NoError(t, err)
	}
	var paid []string
	require.NoError(t, db.PaidReferences(ctx, func(provider, ref string) { paid = append(paid, provider+":"+ref) }))
	assert.ElementsMatch(t, []string{"seqr:ERS-1", "seqr:ERS-2"}, paid)
	p, err := db.PaymentByReference(ctx, "seqr", "ERS-2")
	require.NoError(t, err)
	assert.Equal(t, "p2", p.ID)
	_, err = db.PaymentByReference(ctx, "payson", "ERS-2")
	require.ErrorIs(t, err, ErrNotFound, "references are keyed by provider")
	_, err = db.PaymentByReference(ctx, "seqr", "nope")
	require.ErrorIs(t, err, ErrNotFound)

	limit := money.MustParse("20.00")
	_, err = db.BeginRefund(ctx, Refund{ID: "r1", PaymentID: "p1", Provider: "seqr", Amount: money.MustParse("5.00"), Currency: "SEK"}, limit, a)
	require.NoError(t, err)
	_, err = db.FinishRefund(ctx, "r1", "done", "ERS-R1", "", a)
	require.NoError(t, err)
	_, err = db.BeginRefund(ctx, Refund{ID: "r2", PaymentID: "p1", Provider: "seqr", Amount: money.MustParse("5.00"), Currency: "SEK"}, limit, a)
	require.NoError(t, err)
	var refs []string
	require.NoError(t, db.DoneRefundReferences(ctx, func(provider, ref string) { refs = append(refs, provider+":"+ref) }))
	assert.Equal(t, []string{"seqr:ERS-R1"}, refs, "a refund still sending has no post")
	rf, err := db.RefundByReference(ctx, "seqr", "ERS-R1")
	require.NoError(t, err)
	assert.Equal(t, "r1", rf.ID)
	_, err = db.RefundByReference(ctx, "seqr", "nope")
	require.ErrorIs(t, err, ErrNotFound)
}
