package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/posd/posd/internal/money"
)

// Kinds of refunds rows (migration 0005): a refund gives back what was
// captured, an annulment releases what was authorized and not captured, a
// debit adds rows to the payment. All three share the refund's life.
const (
	KindRefund = "refund"
	KindAnnul  = "annul"
	KindDebit  = "debit"
)

// Refund is one refunds row. State is "sending" (committed before the call),
// "done", "failed" (SEQR answered with an error, or nothing was sent) or
// "unknown" (the call may have arrived; it still counts against the limit).
// IdempotencyKey is the key of the API request that made it ("" for rows
// from before migration 0002); RequestHash identifies that request's body.
type Refund struct {
	ID             string
	Kind           string // KindRefund ("" is taken as it), KindAnnul or KindDebit
	Rows           string // a debit's rows as JSON
	IdempotencyKey string
	RequestHash    string
	PaymentID      string
	Provider       string
	Amount         money.Amount
	Currency       string
	ProviderRef    string // the refund's own provider reference
	CashierID      string
	Reason         string
	State          string
	Error          string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

const refundCols = `id, payment_id, provider, amount, currency, provider_ref, cashier_id, reason, state, error, created_at, updated_at,
	idempotency_key, request_hash, kind, rows_json`

func scanRefund(s scanner) (Refund, error) {
	var r Refund
	var ers, created, updated, key sql.NullString
	if err := s.Scan(&r.ID, &r.PaymentID, &r.Provider, &r.Amount, &r.Currency, &ers, &r.CashierID, &r.Reason, &r.State, &r.Error, &created, &updated,
		&key, &r.RequestHash, &r.Kind, &r.Rows); err != nil {
		return Refund{}, err
	}
	r.ProviderRef, r.IdempotencyKey = ers.String, key.String
	var err error
	if r.CreatedAt, err = parseTime(created); err != nil {
		return Refund{}, err
	}
	r.UpdatedAt, err = parseTime(updated)
	return r, err
}

// BeginRefund is BeginRefundIdempotent for a refund without an
// Idempotency-Key: it records refund r (state "sending") or fails with
// ErrRefundExceeds or ErrRefundPending.
func (db *DB) BeginRefund(ctx context.Context, r Refund, limit money.Amount, a Audit) (Refund, error) {
	r.IdempotencyKey = ""
	out, _, err := db.BeginRefundIdempotent(ctx, r, limit, a)
	return out, err
}

// BeginRefundIdempotent records refund r (state "sending") and reports begun=true,
// unless one of these holds, all checked in one BEGIN IMMEDIATE transaction
// so that concurrent requests cannot both pass:
//
//   - a refund with r's IdempotencyKey exists: with another RequestHash,
//     ErrIdempotencyKey; in state "failed" (SEQR refused it or it was never
//     sent, so nothing was refunded) it is made "sending" again and returned
//     with begun=true; otherwise it is returned as it is with begun=false;
//   - another row of the payment (of any kind) is "sending" or "unknown"
//     (it may have been made): ErrRefundPending, naming it;
//   - r is a refund or annulment that, with the refunds and annulments of its
//     payment that may have happened (all but "failed"), would exceed limit
//     plus the payment's done debits: ErrRefundExceeds.
func (db *DB) BeginRefundIdempotent(ctx context.Context, r Refund, limit money.Amount, a Audit) (Refund, bool, error) {
	now := db.now()
	if r.Kind == "" {
		r.Kind = KindRefund
	}
	r.State, r.Error, r.CreatedAt, r.UpdatedAt = "sending", "", now, now
	out, begun := r, true
	err := db.write(ctx, func(tx *sql.Tx) error {
		retry := false
		if r.IdempotencyKey != "" {
			old, err := scanRefund(tx.QueryRowContext(ctx, "SELECT "+refundCols+" FROM refunds WHERE idempotency_key = ?", r.IdempotencyKey))
			switch {
			case err == nil:
				if old.RequestHash != r.RequestHash || old.PaymentID != r.PaymentID {
					return ErrIdempotencyKey
				}
				if old.State != "failed" {
					out, begun = old, false
					return nil
				}
				retry = true
				r.ID, r.CreatedAt = old.ID, old.CreatedAt
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
		}
		var openID, openState, openKind string
		err := tx.QueryRowContext(ctx, `SELECT id, state, kind FROM refunds WHERE payment_id = ? AND state IN ('sending', 'unknown')
			ORDER BY created_at, id LIMIT 1`, r.PaymentID).Scan(&openID, &openState, &openKind)
		switch {
		case err == nil:
			what := "refund"
			switch openKind {
			case KindAnnul:
				what = "annulment"
			case KindDebit:
				what = "additional debit"
			}
			return fmt.Errorf("%w: %s %s of this payment is %s", ErrRefundPending, what, openID, openState)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		var back, debited int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(CASE WHEN kind = 'debit' THEN 0 ELSE amount END), 0),
			COALESCE(SUM(CASE WHEN kind = 'debit' AND state = 'done' THEN amount ELSE 0 END), 0)
			FROM refunds WHERE payment_id = ? AND state != 'failed'`, r.PaymentID).Scan(&back, &debited); err != nil {
			return err
		}
		if r.Kind != KindDebit && money.Amount(back)+r.Amount > limit+money.Amount(debited) {
			return ErrRefundExceeds
		}
		if retry {
			_, err = tx.ExecContext(ctx, "UPDATE refunds SET state = 'sending', error = '', updated_at = ? WHERE id = ?", fmtTime(now), r.ID)
		} else {
			_, err = tx.ExecContext(ctx, "INSERT INTO refunds ("+refundCols+") VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, '', ?, ?, ?, ?, ?, ?)",
				r.ID, r.PaymentID, r.Provider, int64(r.Amount), r.Currency, r.CashierID, r.Reason, r.State, fmtTime(now), fmtTime(now),
				nullString(r.IdempotencyKey), r.RequestHash, r.Kind, r.Rows)
		}
		if err != nil {
			return err
		}
		out = r
		return insertAudit(ctx, tx, r.PaymentID, r.Provider, "", "", "", "", a, now)
	})
	if errors.Is(err, ErrRefundExceeds) || errors.Is(err, ErrRefundPending) || errors.Is(err, ErrIdempotencyKey) {
		return Refund{}, false, err
	}
	if err != nil {
		return Refund{}, false, fmt.Errorf("begin refund %s: %w", r.ID, err)
	}
	return out, begun, nil
}

// RefundByKey returns the refund made with an Idempotency-Key, or ErrNotFound.
func (db *DB) RefundByKey(ctx context.Context, key string) (Refund, error) {
	r, err := scanRefund(db.r.QueryRowContext(ctx, "SELECT "+refundCols+" FROM refunds WHERE idempotency_key = ?", key))
	if errors.Is(err, sql.ErrNoRows) {
		return Refund{}, fmt.Errorf("refund with key: %w", ErrNotFound)
	}
	if err != nil {
		return Refund{}, fmt.Errorf("read refund by key: %w", err)
	}
	return r, nil
}

// MarkSendingRefundsUnknown makes every refund still "sending" (posd
// stopped while refundPayment was on its way) "unknown" with errText and an
// audit row each, and returns them. Run at start-up, before the API is ready.
func (db *DB) MarkSendingRefundsUnknown(ctx context.Context, errText string, a Audit) ([]Refund, error) {
	now := db.now()
	var out []Refund
	err := db.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT "+refundCols+" FROM refunds WHERE state = 'sending' ORDER BY created_at, id")
		if err != nil {
			return err
		}
		var list []Refund
		for rows.Next() {
			r, err := scanRefund(rows)
			if err != nil {
				rows.Close()
				return err
			}
			list = append(list, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range list {
			if _, err := tx.ExecContext(ctx, "UPDATE refunds SET state = 'unknown', error = ?, updated_at = ? WHERE id = ?",
				errText, fmtTime(now), r.ID); err != nil {
				return err
			}
			ra := a
			if ra.Detail == "" {
				ra.Detail = fmt.Sprintf("%s %s of %s %s: %s", r.Kind, r.ID, r.Amount, r.Currency, errText)
			}
			if err := insertAudit(ctx, tx, r.PaymentID, r.Provider, "", "", "", "", ra, now); err != nil {
				return err
			}
			r.State, r.Error, r.UpdatedAt = "unknown", errText, now
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mark sending refunds unknown: %w", err)
	}
	return out, nil
}

// OutboxTask is a provider's task committed with the row that needs it.
type OutboxTask struct {
	Provider, Kind string
	Payload        []byte
}

// FinishRefund sets a refund's outcome with its audit row and, in the same
// transaction, queues tasks (a done debit's capture) in the outbox.
func (db *DB) FinishRefund(ctx context.Context, id, state, providerRef, errText string, a Audit, tasks ...OutboxTask) (Refund, error) {
	now := db.now()
	var out Refund
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE refunds SET state = ?, provider_ref = ?, error = ?, updated_at = ? WHERE id = ?",
			state, nullString(providerRef), errText, fmtTime(now), id)
		if isUnique(err) {
			return ErrDuplicateReference
		}
		if err != nil {
			return err
		}
		out, err = scanRefund(tx.QueryRowContext(ctx, "SELECT "+refundCols+" FROM refunds WHERE id = ?", id))
		if err != nil {
			return err
		}
		for _, t := range tasks {
			if err := (&Tx{tx: tx, ctx: ctx, now: now}).EnqueueOutbox(t.Provider, t.Kind, out.PaymentID, t.Payload); err != nil {
				return err
			}
		}
		return insertAudit(ctx, tx, out.PaymentID, out.Provider, "", "", "", providerRef, a, now)
	})
	if err != nil {
		return Refund{}, fmt.Errorf("finish refund %s: %w", id, err)
	}
	return out, nil
}

// Refunds lists refunds of a payment ("" = all), oldest first.
func (db *DB) Refunds(ctx context.Context, paymentID string) ([]Refund, error) {
	q := "SELECT " + refundCols + " FROM refunds"
	var args []any
	if paymentID != "" {
		q += " WHERE payment_id = ?"
		args = append(args, paymentID)
	}
	return db.queryRefunds(ctx, "list refunds", q+" ORDER BY created_at, id", args...)
}

// queryRefunds runs a query of refundCols and scans every row.
func (db *DB) queryRefunds(ctx context.Context, op, q string, args ...any) ([]Refund, error) {
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer rows.Close()
	var out []Refund
	for rows.Next() {
		r, err := scanRefund(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

// DoneRefundReferences calls fn with the provider and reference of every
// refund in state "done" that has one, in no particular order; fn must not
// use the database.
func (db *DB) DoneRefundReferences(ctx context.Context, fn func(provider, ref string)) error {
	return db.eachPair(ctx, "list refund references",
		"SELECT provider, provider_ref FROM refunds WHERE state = 'done' AND provider_ref IS NOT NULL AND provider_ref != ''", fn)
}

// RefundByReference returns the refund with this provider reference, or ErrNotFound.
func (db *DB) RefundByReference(ctx context.Context, provider, ref string) (Refund, error) {
	r, err := scanRefund(db.r.QueryRowContext(ctx, "SELECT "+refundCols+" FROM refunds WHERE provider = ? AND provider_ref = ?", provider, ref))
	if errors.Is(err, sql.ErrNoRows) {
		return Refund{}, fmt.Errorf("refund with %s reference %s: %w", provider, ref, ErrNotFound)
	}
	if err != nil {
		return Refund{}, fmt.Errorf("refund with %s reference %s: %w", provider, ref, err)
	}
	return r, nil
}

// UnknownRefunds lists a provider's refunds and annulments whose outcome is
// unknown, oldest first (few: each is raised for manual handling). Debits
// are left out: a report's refund line can never settle one.
func (db *DB) UnknownRefunds(ctx context.Context, provider string) ([]Refund, error) {
	return db.queryRefunds(ctx, "list unknown refunds",
		"SELECT "+refundCols+" FROM refunds WHERE state = 'unknown' AND provider = ? AND kind != 'debit' ORDER BY created_at, id", provider)
}

// SettleUnknownRefund records refund id, still "unknown", as done with the
// provider's reference (read from a period report), with its audit row.
// ErrStateConflict when it is no longer unknown; ErrDuplicateReference
// when the reference is another refund's.
func (db *DB) SettleUnknownRefund(ctx context.Context, id, providerRef string, a Audit, tasks ...OutboxTask) (Refund, error) {
	now := db.now()
	var out Refund
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE refunds SET state = 'done', provider_ref = ?, error = '', updated_at = ? WHERE id = ? AND state = 'unknown'",
			providerRef, fmtTime(now), id)
		if isUnique(err) {
			return ErrDuplicateReference
		}
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrStateConflict
		}
		out, err = scanRefund(tx.QueryRowContext(ctx, "SELECT "+refundCols+" FROM refunds WHERE id = ?", id))
		if err != nil {
			return err
		}
		for _, t := range tasks {
			if err := (&Tx{tx: tx, ctx: ctx, now: now}).EnqueueOutbox(t.Provider, t.Kind, out.PaymentID, t.Payload); err != nil {
				return err
			}
		}
		return insertAudit(ctx, tx, out.PaymentID, out.Provider, "", "", "", providerRef, a, now)
	})
	if err != nil {
		return Refund{}, fmt.Errorf("settle refund %s: %w", id, err)
	}
	return out, nil
}

// DoneBetween lists a provider's refunds, annulments and debits recorded
// done in (from, to], oldest first: the local side of a period report.
func (db *DB) DoneBetween(ctx context.Context, provider string, from, to time.Time) ([]Refund, error) {
	return db.queryRefunds(ctx, "list refunds done in a period", "SELECT "+refundCols+` FROM refunds
		WHERE state = 'done' AND provider = ? AND updated_at > ? AND updated_at <= ? ORDER BY updated_at, id`,
		provider, fmtTime(from), fmtTime(to))
}

// UnknownAdjustments lists a provider's refunds, annulments and debits
// whose outcome is unknown, oldest first.
func (db *DB) UnknownAdjustments(ctx context.Context, provider string) ([]Refund, error) {
	return db.queryRefunds(ctx, "list unknown adjustments",
		"SELECT "+refundCols+" FROM refunds WHERE state = 'unknown' AND provider = ? ORDER BY created_at, id", provider)
}

// FailUnknownRefund records a refund, annulment or debit still "unknown" as
// failed (the provider shows it was never made), with its audit row.
// ErrStateConflict when it is no longer unknown.
func (db *DB) FailUnknownRefund(ctx context.Context, id, errText string, a Audit) (Refund, error) {
	now := db.now()
	var out Refund
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE refunds SET state = 'failed', error = ?, updated_at = ? WHERE id = ? AND state = 'unknown'",
			errText, fmtTime(now), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrStateConflict
		}
		out, err = scanRefund(tx.QueryRowContext(ctx, "SELECT "+refundCols+" FROM refunds WHERE id = ?", id))
		if err != nil {
			return err
		}
		return insertAudit(ctx, tx, out.PaymentID, out.Provider, "", "", "", "", a, now)
	})
	if err != nil {
		return Refund{}, fmt.Errorf("fail refund %s: %w", id, err)
	}
	return out, nil
}
