package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Period is one provider's transaction period: stored when marked, completed when
// its report has been compared.
type Period struct {
	ID         int64
	Provider   string
	Ref        string    // the provider's period reference (SEQR transactionPeriodId)
	Start      time.Time // end of the previous period (zero for the first)
	MarkedAt   time.Time
	ReportedAt time.Time
	ResultJSON []byte
}

const periodCols = "id, provider, period_ref, period_start, marked_at, reported_at, result_json"

func scanPeriod(s scanner) (Period, error) {
	var p Period
	var start, marked, reported sql.NullString
	var result string
	if err := s.Scan(&p.ID, &p.Provider, &p.Ref, &start, &marked, &reported, &result); err != nil {
		return Period{}, err
	}
	p.ResultJSON = []byte(result)
	var err error
	if p.Start, err = parseTime(start); err != nil {
		return Period{}, err
	}
	if p.MarkedAt, err = parseTime(marked); err != nil {
		return Period{}, err
	}
	p.ReportedAt, err = parseTime(reported)
	return p, err
}

// SavePeriod records a freshly marked period.
func (db *DB) SavePeriod(ctx context.Context, p Period, a Audit) (Period, error) {
	now := db.now()
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO periods (provider, period_ref, period_start, marked_at) VALUES (?, ?, ?, ?)`,
			p.Provider, p.Ref, fmtTime(p.Start), fmtTime(p.MarkedAt))
		if err != nil {
			return err
		}
		if p.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		return insertAudit(ctx, tx, "", p.Provider, "", "", "", p.Ref, a, now)
	})
	if err != nil {
		return Period{}, fmt.Errorf("save period %s: %w", p.Ref, err)
	}
	return p, nil
}

// UnreportedPeriod returns a provider's latest period marked but not yet reported.
func (db *DB) UnreportedPeriod(ctx context.Context, provider string) (Period, bool, error) {
	return db.onePeriod(ctx, "WHERE provider = ? AND reported_at IS NULL ORDER BY id DESC LIMIT 1", provider)
}

// LastPeriod returns a provider's latest marked period, reported or not.
func (db *DB) LastPeriod(ctx context.Context, provider string) (Period, bool, error) {
	return db.onePeriod(ctx, "WHERE provider = ? ORDER BY id DESC LIMIT 1", provider)
}

func (db *DB) onePeriod(ctx context.Context, where string, args ...any) (Period, bool, error) {
	p, err := scanPeriod(db.r.QueryRowContext(ctx, "SELECT "+periodCols+" FROM periods "+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return Period{}, false, nil
	}
	if err != nil {
		return Period{}, false, fmt.Errorf("read period: %w", err)
	}
	return p, true, nil
}

// FinishPeriod stores a period's comparison result and, in the same
// transaction, which payments it reconciled outside its own bounds
// (matched by reference across a boundary), so that the next period does
// not count them again.
func (db *DB) FinishPeriod(ctx context.Context, id int64, result []byte, a Audit, matched ...string) error {
	now := db.now()
	err := db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE periods SET reported_at = ?, result_json = ? WHERE id = ?", fmtTime(now), string(result), id); err != nil {
			return err
		}
		for _, pid := range matched {
			if _, err := tx.ExecContext(ctx, "UPDATE payments SET period_id = ? WHERE id = ? AND period_id IS NULL", id, pid); err != nil {
				return err
			}
		}
		return insertAudit(ctx, tx, "", a.Provider, "", "", "", "", a, now)
	})
	if err != nil {
		return fmt.Errorf("finish period %d: %w", id, err)
	}
	return nil
}
