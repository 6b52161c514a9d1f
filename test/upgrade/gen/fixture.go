package main

import (
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	_ "github.com/mattn/go-sqlite3" // checkpoint and read the database posd left

	"github.com/posd/posd/test/upgrade"
)

// writeFixture checkpoints the database posd left, copies the state files
// to a scratch directory, checks there that the database alone (no -wal)
// and the receipt file hold what the API showed, and only then replaces
// the fixture in out.
func (g *gen) writeFixture(exp upgrade.Expected, out string) error {
	db := filepath.Join(g.stateDir, "posd.db")
	if err := checkpoint(db); err != nil {
		return err
	}
	scratch := filepath.Join(g.work, "fixture")
	if err := copyState(g.stateDir, scratch); err != nil {
		return err
	}
	if err := checkDB(filepath.Join(scratch, "posd.db"), exp); err != nil {
		return fmt.Errorf("the checkpointed database disagrees with the API: %w", err)
	}
	if b, err := exec.CommandContext(g.ctx, g.bin.Posd, "journal", "verify", "--file", filepath.Join(scratch, "receipts.journal")).CombinedOutput(); err != nil {
		return fmt.Errorf("posd journal verify: %w\n%s", err, b)
	}
	if err := os.RemoveAll(out); err != nil {
		return fmt.Errorf("clear %s: %w", out, err)
	}
	if err := copyState(scratch, out); err != nil {
		return err
	}
	if err := upgrade.WriteExpected(out, exp); err != nil {
		return err
	}
	fmt.Fprintf(g.log, "wrote %s: %d payments, %d refund(s), %d period(s), %d journal posts\n",
		out, len(exp.Payments), len(exp.Refunds), len(exp.Periods), len(exp.Journal))
	return nil
}

// checkpoint folds the WAL into the database file and truncates it, so that
// posd.db alone is complete.
func checkpoint(path string) error {
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	var busy, logFrames, done int
	if err := db.QueryRow("PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if busy != 0 {
		return fmt.Errorf("checkpoint %s: database busy (is posd still running?)", path)
	}
	return db.Close()
}

func copyState(from, to string) error {
	if err := os.MkdirAll(to, 0o755); err != nil {
		return fmt.Errorf("mkdir %s: %w", to, err)
	}
	for _, name := range upgrade.StateFiles {
		if err := copyFile(filepath.Join(from, name), filepath.Join(to, name)); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return fmt.Errorf("copy %s: %w", from, err)
	}
	return dst.Close()
}

// checkDB reads the copied database with today's schema (the generator runs
// only with the code that wrote it) and compares it with the API's view.
func checkDB(path string, exp upgrade.Expected) error {
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	for _, p := range exp.Payments {
		var state, inv, ers string
		err := db.QueryRow(`SELECT state, COALESCE(invoice_reference, ''), COALESCE(ers_reference, '') FROM payments WHERE id = ?`, p.ID).
			Scan(&state, &inv, &ers)
		if err != nil {
			return fmt.Errorf("payment %s: %w", p.ID, err)
		}
		if state != p.State || inv != p.InvoiceReference || ers != p.ERSReference {
			return fmt.Errorf("payment %s: database has %s %q %q, API showed %s %q %q",
				p.ID, state, inv, ers, p.State, p.InvoiceReference, p.ERSReference)
		}
	}
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM payments`).Scan(&n); err != nil || n != len(exp.Payments) {
		return fmt.Errorf("database holds %d payments (%v), API showed %d", n, err, len(exp.Payments))
	}
	for _, rf := range exp.Refunds {
		var ers, state string
		if err := db.QueryRow(`SELECT COALESCE(ers_reference, ''), state FROM refunds WHERE id = ?`, rf.ID).Scan(&ers, &state); err != nil {
			return fmt.Errorf("refund %s: %w", rf.ID, err)
		}
		if ers != rf.ERSReference || state != "done" {
			return fmt.Errorf("refund %s: database has %s %q, want done %q", rf.ID, state, ers, rf.ERSReference)
		}
	}
	for _, pr := range exp.Periods {
		var reported sql.NullString
		if err := db.QueryRow(`SELECT reported_at FROM periods WHERE transaction_period_id = ?`, pr.TransactionPeriodID).Scan(&reported); err != nil {
			return fmt.Errorf("period %s: %w", pr.TransactionPeriodID, err)
		}
		if !reported.Valid {
			return fmt.Errorf("period %s is not reported", pr.TransactionPeriodID)
		}
	}
	return nil
}
