package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Terminal is the till's SEQR registration. Password is a secret: never log it.
type Terminal struct {
	TerminalID         string
	Password           string
	SeqrID             string
	ExternalTerminalID string
	Name               string
	RegisteredAt       time.Time
}

// Terminal reads the registration; ErrNotFound when the till is not registered.
func (db *DB) Terminal(ctx context.Context) (Terminal, error) {
	var t Terminal
	var at sql.NullString
	err := db.r.QueryRowContext(ctx, `SELECT terminal_id, password, seqr_id, external_terminal_id, name, registered_at
		FROM terminal WHERE id = 1`).Scan(&t.TerminalID, &t.Password, &t.SeqrID, &t.ExternalTerminalID, &t.Name, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return Terminal{}, fmt.Errorf("terminal: %w", ErrNotFound)
	}
	if err != nil {
		return Terminal{}, fmt.Errorf("read terminal: %w", err)
	}
	if t.RegisteredAt, err = parseTime(at); err != nil {
		return Terminal{}, err
	}
	return t, nil
}

// SaveTerminal stores a new registration (replacing none) with its audit row.
func (db *DB) SaveTerminal(ctx context.Context, t Terminal, a Audit) error {
	now := db.now()
	if t.RegisteredAt.IsZero() {
		t.RegisteredAt = now
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO terminal (id, terminal_id, password, seqr_id, external_terminal_id, name, registered_at)
			VALUES (1, ?, ?, ?, ?, ?, ?)`, t.TerminalID, t.Password, t.SeqrID, t.ExternalTerminalID, t.Name, fmtTime(t.RegisteredAt)); err != nil {
			return err
		}
		return insertAudit(ctx, tx, "", a.Provider, "", "", "", "", a, now)
	})
	if err != nil {
		return fmt.Errorf("save terminal: %w", err)
	}
	return nil
}

// SetSeqrID stores the till's SEQR id.
func (db *DB) SetSeqrID(ctx context.Context, seqrID string, a Audit) error {
	now := db.now()
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE terminal SET seqr_id = ? WHERE id = 1", seqrID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return insertAudit(ctx, tx, "", a.Provider, "", "", "", "", a, now)
	})
	if err != nil {
		return fmt.Errorf("set seqr id: %w", err)
	}
	return nil
}

// DeleteTerminal removes the registration.
func (db *DB) DeleteTerminal(ctx context.Context, a Audit) error {
	now := db.now()
	err := db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM terminal WHERE id = 1"); err != nil {
			return err
		}
		return insertAudit(ctx, tx, "", a.Provider, "", "", "", "", a, now)
	})
	if err != nil {
		return fmt.Errorf("delete terminal: %w", err)
	}
	return nil
}
