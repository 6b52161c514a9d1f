package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Watermark is how far the receipt file is known complete: every payment
// recorded paid and every refund recorded done by an audit row up to
// AuditID has its transaction post in the file, whose last post then was
// JournalSeq (reference JournalRef).
type Watermark struct {
	AuditID    int64
	JournalSeq int64
	JournalRef string
}

// JournalWatermark returns the stored watermark; ok is false when none has
// been stored yet (a database from before 0004, or a first start).
func (db *DB) JournalWatermark(ctx context.Context) (Watermark, bool, error) {
	var w Watermark
	err := db.r.QueryRowContext(ctx, "SELECT audit_id, journal_seq, journal_ref FROM journal_watermark WHERE id = 1").
		Scan(&w.AuditID, &w.JournalSeq, &w.JournalRef)
	if errors.Is(err, sql.ErrNoRows) {
		return Watermark{}, false, nil
	}
	if err != nil {
		return Watermark{}, false, fmt.Errorf("read journal watermark: %w", err)
	}
	return w, true, nil
}

// SetJournalWatermark stores w unless the stored one is further on (two
// checks that overlap never move it back).
func (db *DB) SetJournalWatermark(ctx context.Context, w Watermark) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO journal_watermark (id, audit_id, journal_seq, journal_ref, at) VALUES (1, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET audit_id = excluded.audit_id, journal_seq = excluded.journal_seq,
			journal_ref = excluded.journal_ref, at = excluded.at WHERE excluded.audit_id >= journal_watermark.audit_id`, w.AuditID, w.JournalSeq, w.JournalRef, fmtTime(db.now()))
		return err
	})
	if err != nil {
		return fmt.Errorf("store journal watermark: %w", err)
	}
	return nil
}

// MaxAuditID returns the id of the newest audit row (0 if none).
func (db *DB) MaxAuditID(ctx context.Context) (int64, error) {
	var id int64
	if err := db.r.QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) FROM audit").Scan(&id); err != nil {
		return 0, fmt.Errorf("read newest audit id: %w", err)
	}
	return id, nil
}

// Posted is a money movement that must have a transaction post: a payment
// now paid or a refund now done, named by an audit row.
type Posted struct {
	AuditID  int64
	Provider string
	Ref      string
	Refund   bool
}

// PostedAfter returns up to limit audit rows after auditID that name a
// transaction reference of a payment now paid or a refund now done, in
// audit order, and the id of the last audit row examined (auditID when
// none): rows after it are for the next call. It walks the audit table by
// its primary key from auditID, so its cost follows the rows written since,
// not the history.
func (db *DB) PostedAfter(ctx context.Context, auditID int64, limit int) ([]Posted, int64, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT a.id, a.provider, a.transaction_ref,
			EXISTS (SELECT 1 FROM payments p WHERE p.provider = a.provider AND p.transaction_ref = a.transaction_ref AND p.state = 'paid'),
			EXISTS (SELECT 1 FROM refunds r WHERE r.provider = a.provider AND r.provider_ref = a.transaction_ref AND r.state = 'done')
		FROM audit a WHERE a.id > ? ORDER BY a.id LIMIT ?`, auditID, limit)
	if err != nil {
		return nil, auditID, fmt.Errorf("read audit after %d: %w", auditID, err)
	}
	defer rows.Close()
	last := auditID
	var out []Posted
	seen := map[Posted]bool{}
	for rows.Next() {
		var id int64
		var provider, ref string
		var paid, refunded bool
		if err := rows.Scan(&id, &provider, &ref, &paid, &refunded); err != nil {
			return nil, auditID, fmt.Errorf("read audit after %d: %w", auditID, err)
		}
		last = id
		if ref == "" || (!paid && !refunded) {
			continue
		}
		p := Posted{Provider: provider, Ref: ref, Refund: !paid}
		if seen[p] {
			continue // a payment's later audit rows carry its reference too
		}
		seen[p] = true
		p.AuditID = id
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, auditID, fmt.Errorf("read audit after %d: %w", auditID, err)
	}
	return out, last, nil
}
