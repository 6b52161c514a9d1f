package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/posd/posd/internal/money"
)

// Refund is one refunds row. State is "sending" (committed before the call),
// "done", "failed" (SEQR answered with an error) or "unknown" (the call may
// have arrived; it still counts against the limit).
type Refund struct {
	ID           string
	PaymentID    string
	Amount       money.Amount
	Currency     string
	ERSReference string
	CashierID    string
	Reason       string
	State        string
	Error        string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

const refundCols = `id, payment_id, amount, currency, ers_reference, cashier_id, reason, state, error, created_at, updated_at`

func scanRefund(s scanner) (Refund, error) {
	var r Refund
	var ers, created, updated sql.NullString
	if err := s.Scan(&r.ID, &r.PaymentID, &r.Amount, &r.Currency, &ers, &r.CashierID, &r.Reason, &r.State, &r.Error, &created, &updated); err != nil {
		return Refund{}, err
	}
	r.ERSReference = ers.String
	var err error
	if r.CreatedAt, err = parseTime(created); err != nil {
		return Refund{}, err
	}
	r.UpdatedAt, err = parseTime(updated)
	return r, err
}

// BeginRefund records refund r (state "sending") unless, with the refunds
// already recorded for its payment that may have happened (all but
// "failed"), it would exceed limit: then ErrRefundExceeds. The check and the
// insert share one BEGIN IMMEDIATE transaction, so two concurrent refunds
// cannot both pass.
func (db *DB) BeginRefund(ctx context.Context, r Refund, limit money.Amount, a Audit) (Refund, error) {
	now := db.now()
	r.State, r.CreatedAt, r.UpdatedAt = "sending", now, now
	err := db.write(ctx, func(tx *sql.Tx) error {
		var sum int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(amount), 0) FROM refunds
			WHERE payment_id = ? AND state != 'failed'`, r.PaymentID).Scan(&sum); err != nil {
			return err
		}
		if money.Amount(sum)+r.Amount > limit {
			return ErrRefundExceeds
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO refunds ("+refundCols+") VALUES (?, ?, ?, ?, NULL, ?, ?, ?, '', ?, ?)",
			r.ID, r.PaymentID, int64(r.Amount), r.Currency, r.CashierID, r.Reason, r.State, fmtTime(now), fmtTime(now)); err != nil {
			return err
		}
		return insertAudit(ctx, tx, r.PaymentID, "", "", "", "", a, now)
	})
	if errors.Is(err, ErrRefundExceeds) {
		return Refund{}, err
	}
	if err != nil {
		return Refund{}, fmt.Errorf("begin refund %s: %w", r.ID, err)
	}
	return r, nil
}

// FinishRefund sets a refund's outcome with its audit row.
func (db *DB) FinishRefund(ctx context.Context, id, state, ersRef, errText string, a Audit) (Refund, error) {
	now := db.now()
	var out Refund
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE refunds SET state = ?, ers_reference = ?, error = ?, updated_at = ? WHERE id = ?",
			state, nullString(ersRef), errText, fmtTime(now), id)
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
		return insertAudit(ctx, tx, out.PaymentID, "", "", "", ersRef, a, now)
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
	rows, err := db.r.QueryContext(ctx, q+" ORDER BY created_at, id", args...)
	if err != nil {
		return nil, fmt.Errorf("list refunds: %w", err)
	}
	defer rows.Close()
	var out []Refund
	for rows.Next() {
		r, err := scanRefund(rows)
		if err != nil {
			return nil, fmt.Errorf("list refunds: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// DoneRefundReferences calls fn with the ersReference of every refund in
// state "done" that has one, in no particular order; fn must not use the
// database.
func (db *DB) DoneRefundReferences(ctx context.Context, fn func(ers string)) error {
	return db.eachString(ctx, "list refund references",
		"SELECT ers_reference FROM refunds WHERE state = 'done' AND ers_reference IS NOT NULL AND ers_reference != ''", fn)
}

// RefundByReference returns the refund with this ersReference, or ErrNotFound.
func (db *DB) RefundByReference(ctx context.Context, ers string) (Refund, error) {
	r, err := scanRefund(db.r.QueryRowContext(ctx, "SELECT "+refundCols+" FROM refunds WHERE ers_reference = ?", ers))
	if errors.Is(err, sql.ErrNoRows) {
		return Refund{}, fmt.Errorf("refund with ersReference %s: %w", ers, ErrNotFound)
	}
	if err != nil {
		return Refund{}, fmt.Errorf("refund with ersReference %s: %w", ers, err)
	}
	return r, nil
}
