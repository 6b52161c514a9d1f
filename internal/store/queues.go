package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// OutboxItem is one call that must eventually succeed.
type OutboxItem struct {
	ID            int64
	Provider      string // whose task it is
	Kind          string // the provider's task kind, e.g. "submitPaymentReceipt"
	PaymentID     string
	Payload       []byte
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	DoneAt        time.Time
	CreatedAt     time.Time
}

// EnqueueOutbox adds an outbox item due now, inside the caller's transaction.
func (t *Tx) EnqueueOutbox(provider, kind, paymentID string, payload []byte) error {
	_, err := t.tx.ExecContext(t.ctx, `INSERT INTO outbox (provider, kind, payment_id, payload, next_attempt_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, provider, kind, nullString(paymentID), string(payload), fmtTime(t.now), fmtTime(t.now))
	if err != nil {
		return fmt.Errorf("enqueue %s: %w", kind, err)
	}
	return nil
}

// EnqueuePrintJob adds a pending print job inside the caller's transaction.
func (t *Tx) EnqueuePrintJob(paymentID, kind string, payload []byte, copy bool) error {
	_, err := t.tx.ExecContext(t.ctx, `INSERT INTO print_jobs (payment_id, kind, payload, copy, state, created_at)
		VALUES (?, ?, ?, ?, 'pending', ?)`, nullString(paymentID), kind, payload, copy, fmtTime(t.now))
	if err != nil {
		return fmt.Errorf("enqueue print job: %w", err)
	}
	return nil
}

// EnqueueOutbox adds an outbox item due now in its own transaction.
func (db *DB) EnqueueOutbox(ctx context.Context, provider, kind, paymentID string, payload []byte) error {
	now := db.now()
	return db.write(ctx, func(tx *sql.Tx) error {
		return (&Tx{tx: tx, ctx: ctx, now: now}).EnqueueOutbox(provider, kind, paymentID, payload)
	})
}

// DueOutbox returns up to limit undone items whose next attempt is at or before now.
func (db *DB) DueOutbox(ctx context.Context, now time.Time, limit int) ([]OutboxItem, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, provider, kind, COALESCE(payment_id, ''), payload, attempts, next_attempt_at,
		last_error, created_at FROM outbox WHERE done_at IS NULL AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`,
		fmtTime(now), limit)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	var out []OutboxItem
	for rows.Next() {
		var it OutboxItem
		var payload string
		var next, created sql.NullString
		if err := rows.Scan(&it.ID, &it.Provider, &it.Kind, &it.PaymentID, &payload, &it.Attempts, &next, &it.LastError, &created); err != nil {
			return nil, fmt.Errorf("read outbox: %w", err)
		}
		it.Payload = []byte(payload)
		if it.NextAttemptAt, err = parseTime(next); err != nil {
			return nil, err
		}
		if it.CreatedAt, err = parseTime(created); err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// OutboxItems lists every item of a kind for a payment (tests, status).
func (db *DB) OutboxItems(ctx context.Context, paymentID string) ([]OutboxItem, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, provider, kind, payload, attempts, last_error, done_at FROM outbox
		WHERE payment_id = ? ORDER BY id`, paymentID)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	var out []OutboxItem
	for rows.Next() {
		it := OutboxItem{PaymentID: paymentID}
		var payload string
		var done sql.NullString
		if err := rows.Scan(&it.ID, &it.Provider, &it.Kind, &payload, &it.Attempts, &it.LastError, &done); err != nil {
			return nil, fmt.Errorf("read outbox: %w", err)
		}
		it.Payload = []byte(payload)
		if it.DoneAt, err = parseTime(done); err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// OutboxDone marks an item done; it is never attempted again.
func (db *DB) OutboxDone(ctx context.Context, id int64) error {
	now := db.now()
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE outbox SET done_at = ?, attempts = attempts + 1, last_error = '' WHERE id = ?", fmtTime(now), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("outbox %d done: %w", id, err)
	}
	return nil
}

// OutboxRetry records a failed attempt and when to try next.
func (db *DB) OutboxRetry(ctx context.Context, id int64, next time.Time, reason string) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?",
			fmtTime(next), reason, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("outbox %d retry: %w", id, err)
	}
	return nil
}

// OutboxBacklog counts items not done.
func (db *DB) OutboxBacklog(ctx context.Context) (int, error) {
	var n int
	if err := db.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM outbox WHERE done_at IS NULL").Scan(&n); err != nil {
		return 0, fmt.Errorf("count outbox: %w", err)
	}
	return n, nil
}

// PrintJob is one print_jobs row.
type PrintJob struct {
	ID        int64
	PaymentID string
	Kind      string
	Payload   []byte
	Copy      bool
	Started   bool // an earlier attempt began sending bytes
	State     string
	Attempts  int
	LastError string
	CreatedAt time.Time
}

// EnqueuePrintJob adds a pending job in its own transaction.
func (db *DB) EnqueuePrintJob(ctx context.Context, paymentID, kind string, payload []byte, copy bool) (int64, error) {
	now := db.now()
	var id int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO print_jobs (payment_id, kind, payload, copy, state, created_at)
			VALUES (?, ?, ?, ?, 'pending', ?)`, nullString(paymentID), kind, payload, copy, fmtTime(now))
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("enqueue print job: %w", err)
	}
	return id, nil
}

const printJobCols = `id, COALESCE(payment_id, ''), kind, payload, copy, started_at IS NOT NULL, state, attempts, last_error, created_at`

func scanPrintJob(s scanner) (PrintJob, error) {
	var j PrintJob
	var created sql.NullString
	if err := s.Scan(&j.ID, &j.PaymentID, &j.Kind, &j.Payload, &j.Copy, &j.Started, &j.State, &j.Attempts, &j.LastError, &created); err != nil {
		return PrintJob{}, err
	}
	var err error
	j.CreatedAt, err = parseTime(created)
	return j, err
}

// NextPrintJob returns the oldest pending job.
func (db *DB) NextPrintJob(ctx context.Context) (PrintJob, bool, error) {
	j, err := scanPrintJob(db.r.QueryRowContext(ctx, "SELECT "+printJobCols+" FROM print_jobs WHERE state = 'pending' ORDER BY id LIMIT 1"))
	if errors.Is(err, sql.ErrNoRows) {
		return PrintJob{}, false, nil
	}
	if err != nil {
		return PrintJob{}, false, fmt.Errorf("next print job: %w", err)
	}
	return j, true, nil
}

// PrintJobs lists the jobs of a payment, oldest first.
func (db *DB) PrintJobs(ctx context.Context, paymentID string) ([]PrintJob, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+printJobCols+" FROM print_jobs WHERE payment_id = ? ORDER BY id", paymentID)
	if err != nil {
		return nil, fmt.Errorf("list print jobs: %w", err)
	}
	defer rows.Close()
	var out []PrintJob
	for rows.Next() {
		j, err := scanPrintJob(rows)
		if err != nil {
			return nil, fmt.Errorf("list print jobs: %w", err)
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// PrintJobStarted records that bytes are about to be sent.
func (db *DB) PrintJobStarted(ctx context.Context, id int64) error {
	return db.updatePrintJob(ctx, "start", id, "UPDATE print_jobs SET started_at = COALESCE(started_at, ?), attempts = attempts + 1 WHERE id = ?", fmtTime(db.now()), id)
}

// PrintJobPrinted marks a job done.
func (db *DB) PrintJobPrinted(ctx context.Context, id int64) error {
	return db.updatePrintJob(ctx, "printed", id, "UPDATE print_jobs SET state = 'printed', done_at = ? WHERE id = ?", fmtTime(db.now()), id)
}

// PrintJobFailed records a failed attempt; the job stays pending.
func (db *DB) PrintJobFailed(ctx context.Context, id int64, reason string) error {
	return db.updatePrintJob(ctx, "failed", id, "UPDATE print_jobs SET last_error = ? WHERE id = ?", reason, id)
}

// PrintJobDropped marks a job never to be printed.
func (db *DB) PrintJobDropped(ctx context.Context, id int64, reason string) error {
	return db.updatePrintJob(ctx, "dropped", id, "UPDATE print_jobs SET state = 'dropped', last_error = ?, done_at = ? WHERE id = ?", reason, fmtTime(db.now()), id)
}

func (db *DB) updatePrintJob(ctx context.Context, op string, id int64, q string, args ...any) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("print job %d %s: %w", id, op, err)
	}
	return nil
}

// PendingPrintJobs counts jobs neither printed nor dropped.
func (db *DB) PendingPrintJobs(ctx context.Context) (int, error) {
	var n int
	if err := db.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM print_jobs WHERE state = 'pending'").Scan(&n); err != nil {
		return 0, fmt.Errorf("count print jobs: %w", err)
	}
	return n, nil
}

// PendingPrintPayments returns the payments that have a print job neither
// printed nor dropped (a small set: it reads the pending jobs' index).
func (db *DB) PendingPrintPayments(ctx context.Context) (map[string]bool, error) {
	out := map[string]bool{}
	err := db.eachPair(ctx, "list payments with pending print jobs",
		"SELECT DISTINCT payment_id, '' FROM print_jobs WHERE state = 'pending' AND payment_id IS NOT NULL",
		func(id, _ string) { out[id] = true })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// HasPendingPrintJob reports whether the payment has a print job neither printed nor dropped.
func (db *DB) HasPendingPrintJob(ctx context.Context, paymentID string) (bool, error) {
	var n int
	err := db.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM print_jobs WHERE state = 'pending' AND payment_id = ?", paymentID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("pending print jobs of payment %s: %w", paymentID, err)
	}
	return n > 0, nil
}

// LastPrintJob returns the newest print job of a payment; false if it has none.
func (db *DB) LastPrintJob(ctx context.Context, paymentID string) (PrintJob, bool, error) {
	j, err := scanPrintJob(db.r.QueryRowContext(ctx, "SELECT "+printJobCols+" FROM print_jobs WHERE payment_id = ? ORDER BY id DESC LIMIT 1", paymentID))
	if errors.Is(err, sql.ErrNoRows) {
		return PrintJob{}, false, nil
	}
	if err != nil {
		return PrintJob{}, false, fmt.Errorf("last print job of payment %s: %w", paymentID, err)
	}
	return j, true, nil
}
