// Package store is posd's SQLite database: opening it with the durability
// pragmas, applying the embedded migrations, and every query. It is the only
// package that speaks SQL. Every write runs in BEGIN IMMEDIATE through one
// writer connection; reads use a separate read-only pool.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
	"go.uber.org/zap"

	"github.com/posd/posd/migrations"
)

// Sentinel errors callers branch on.
var (
	ErrNotFound           = errors.New("store: not found")
	ErrSchemaTooNew       = errors.New("store: database schema is newer than this posd")
	ErrCorrupt            = errors.New("store: database file is corrupt")
	ErrStateConflict      = errors.New("store: payment is not in an expected state")
	ErrDuplicateReference = errors.New("store: provider reference already recorded")
	ErrIdempotencyKey     = errors.New("store: idempotency key used with another request")
	ErrRefundExceeds      = errors.New("store: refunds would exceed the amount paid")
	ErrRefundPending      = errors.New("store: another refund of the payment may have been made (sending or outcome unknown)")
)

// timeLayout is fixed-width so that text order in SQL is time order.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// Options tune Open. The zero value is usable.
type Options struct {
	Logger *zap.Logger
	Now    func() time.Time // clock for created/updated/audit times; nil: time.Now
	// Migrations overrides the embedded migrations (tests of the runner only).
	Migrations fs.FS
	// FullCheckBelow overrides the size up to which Open checks the whole
	// file (0: 8 MiB); tests of the large-file path only.
	FullCheckBelow int64
}

// DB is the open database.
type DB struct {
	w       *sql.DB // the one writer connection (BEGIN IMMEDIATE)
	r       *sql.DB // read-only pool
	log     *zap.Logger
	now     func() time.Time
	path    string
	applied []int

	fullCheckBelow int64
	fullyChecked   bool // Open ran the whole quick_check (a small file)
}

// Migration is one embedded schema step.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Open opens (creating it with mode 0600 if needed) the database at file,
// checks it (PRAGMA quick_check), refuses a schema newer than this binary and
// applies pending migrations, each in its own transaction.
func Open(ctx context.Context, file string, opt Options) (*DB, error) {
	log := opt.Logger
	if log == nil {
		log = zap.NewNop()
	}
	now := opt.Now
	if now == nil {
		now = time.Now
	}
	mfs := opt.Migrations
	if mfs == nil {
		mfs = migrations.FS
	}
	migs, err := loadMigrations(mfs)
	if err != nil {
		return nil, err
	}
	// Create the file ourselves so it (and the -wal/-shm files SQLite derives
	// from it) is readable by the service user only: it holds the terminal password.
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", file, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("open database %s: %w", file, err)
	}
	if err := os.Chmod(file, 0o600); err != nil {
		return nil, fmt.Errorf("open database %s: %w", file, err)
	}

	base := "file:" + (&url.URL{Path: file}).EscapedPath()
	w, err := sql.Open("sqlite3", base+"?mode=rw&_journal_mode=WAL&_synchronous=FULL&_foreign_keys=on&_busy_timeout=5000&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", file, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	db := &DB{w: w, log: log, now: now, path: file, fullCheckBelow: opt.FullCheckBelow}
	if db.fullCheckBelow == 0 {
		db.fullCheckBelow = fullCheckBelow
	}
	if err := db.check(ctx); err != nil {
		_ = w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite3", base+"?mode=ro&_foreign_keys=on&_busy_timeout=5000")
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open database %s: %w", file, err)
	}
	r.SetMaxOpenConns(4)
	db.r = r
	applied, err := db.migrate(ctx, migs)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	db.applied = applied
	return db, nil
}

// Migrate opens the database at file, applies pending migrations and closes
// it; it returns the versions applied (posd migrate).
func Migrate(ctx context.Context, file string, opt Options) ([]int, error) {
	db, err := Open(ctx, file, opt)
	if err != nil {
		return nil, err
	}
	applied := db.Applied()
	return applied, db.Close()
}

// Applied returns the migration versions Open applied.
func (db *DB) Applied() []int { return append([]int(nil), db.applied...) }

// Close closes both pools.
func (db *DB) Close() error {
	var first error
	if db.r != nil {
		first = db.r.Close()
	}
	if err := db.w.Close(); err != nil && first == nil {
		first = err
	}
	return first
}

// startCheckTables are the tables a start reads in full or depends on:
// checked at every open whatever the size of the history. The payments,
// audit and other history tables are checked by QuickCheck, which a caller
// runs after start-up (its time grows with history: about 6 s at a million
// payments).
var startCheckTables = []string{"sqlite_schema", "schema_migrations", "terminal", "heartbeat", "periods", "journal_watermark", "outbox", "print_jobs"}

// fullCheckBelow is the database size up to which Open runs the whole
// PRAGMA quick_check (about 30 ms at 8 MB, 5 000 payments); above it only the start-up
// tables are checked at open.
const fullCheckBelow = 8 << 20

// check turns an unreadable or damaged file into ErrCorrupt (never a panic):
// the whole file when it is small, else the header, the schema and the
// tables a start reads.
func (db *DB) check(ctx context.Context) error {
	if fi, err := os.Stat(db.path); err == nil && fi.Size() < db.fullCheckBelow {
		db.fullyChecked = true
		return db.quickCheck(ctx, db.w, "PRAGMA quick_check")
	}
	var existing []string
	rows, err := db.w.QueryContext(ctx, "SELECT name FROM sqlite_schema WHERE type = 'table'")
	if err != nil {
		return db.classify(err)
	}
	have := map[string]bool{"sqlite_schema": true}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return db.classify(err)
		}
		have[n] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return db.classify(err)
	}
	for _, t := range startCheckTables {
		if have[t] {
			existing = append(existing, t)
		}
	}
	for _, t := range existing {
		if err := db.quickCheck(ctx, db.w, "PRAGMA quick_check("+t+")"); err != nil {
			return err
		}
	}
	return nil
}

// QuickCheck runs SQLite's PRAGMA quick_check over the whole file. Open runs
// it itself on a small database; on a large one the register runs it after
// start-up and refuses new payments if it fails. It reads the whole file
// through the read pool (writes go on meanwhile), with SQLite's bounded
// page cache; ctx interrupts it.
func (db *DB) QuickCheck(ctx context.Context) error {
	return db.quickCheck(ctx, db.r, "PRAGMA quick_check")
}

// FullyChecked reports whether Open checked the whole file (a small one).
func (db *DB) FullyChecked() bool { return db.fullyChecked }

func (db *DB) quickCheck(ctx context.Context, pool *sql.DB, pragma string) error {
	rows, err := pool.QueryContext(ctx, pragma)
	if err != nil {
		return db.classify(err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return db.classify(err)
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := rows.Err(); err != nil {
		return db.classify(err)
	}
	if len(problems) > 0 {
		if len(problems) > 3 {
			problems = append(problems[:3], "...")
		}
		return fmt.Errorf("check database %s: %w: %s", db.path, ErrCorrupt, strings.Join(problems, "; "))
	}
	return nil
}

func (db *DB) classify(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrCorrupt || se.Code == sqlite3.ErrNotADB) {
		return fmt.Errorf("check database %s: %w: %v (restore a backup or move the file aside)", db.path, ErrCorrupt, err)
	}
	return fmt.Errorf("check database %s: %w", db.path, err)
}

func loadMigrations(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	var out []Migration
	seen := map[int]string{}
	for _, n := range names {
		num, rest, ok := strings.Cut(path.Base(n), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", n)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migration %s: version %d also used by %s", n, v, prev)
		}
		seen[v] = n
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", n, err)
		}
		out = append(out, Migration{Version: v, Name: strings.TrimSuffix(rest, ".sql"), SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

func (db *DB) migrate(ctx context.Context, migs []Migration) ([]int, error) {
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		return nil, db.classify(err)
	}
	var current int
	if err := db.w.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return nil, fmt.Errorf("read schema version: %w", err)
	}
	known := 0
	if len(migs) > 0 {
		known = migs[len(migs)-1].Version
	}
	if current > known {
		return nil, fmt.Errorf("database %s has schema version %d, this posd knows up to %d: %w; run a newer posd or restore a backup made by this version",
			db.path, current, known, ErrSchemaTooNew)
	}
	var applied []int
	for _, m := range migs {
		if m.Version <= current {
			continue
		}
		err := db.applyMigration(ctx, m)
		if err != nil {
			return applied, fmt.Errorf("apply migration %04d_%s: %w", m.Version, m.Name, err)
		}
		db.log.Info("applied migration", zap.Int("version", m.Version), zap.String("name", m.Name))
		applied = append(applied, m.Version)
	}
	return applied, nil
}

// fkOffDirective, as a migration's first line, applies it with foreign keys
// off, as SQLite's procedure for rebuilding a table requires (a DROP TABLE
// with foreign keys on deletes through them); the keys are checked with
// PRAGMA foreign_key_check before the commit, so no dangling reference can
// be committed.
const fkOffDirective = "-- posd:foreign_keys=off"

func (db *DB) applyMigration(ctx context.Context, m Migration) error {
	fkOff := strings.HasPrefix(m.SQL, fkOffDirective)
	if fkOff {
		// The writer pool has one connection: the pragma applies to the
		// connection the transaction below runs on. It cannot change
		// inside a transaction.
		if _, err := db.w.ExecContext(ctx, "PRAGMA foreign_keys = OFF"); err != nil {
			return err
		}
		defer func() {
			if _, err := db.w.ExecContext(context.WithoutCancel(ctx), "PRAGMA foreign_keys = ON"); err != nil {
				db.log.Error("foreign keys back on after migration", zap.Error(err))
			}
		}()
	}
	return db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return err
		}
		if fkOff {
			if err := foreignKeyCheck(ctx, tx); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
			m.Version, m.Name, fmtTime(db.now())); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(m.Version))
		return err
	})
}

// foreignKeyCheck fails when any row references a row that does not exist.
func foreignKeyCheck(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return err
	}
	defer rows.Close()
	if rows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fkid int
		if err := rows.Scan(&table, &rowid, &parent, &fkid); err != nil {
			return err
		}
		return fmt.Errorf("foreign key check: a row of %s (rowid %d) references a missing %s row", table, rowid.Int64, parent)
	}
	return rows.Err()
}

// SchemaVersion returns the highest applied migration.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := db.r.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// CheckWritable performs a durable test write (the storage gate: nothing is
// sent to a provider unless the database can take a commit).
func (db *DB) CheckWritable(ctx context.Context) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO heartbeat (id, at) VALUES (1, ?)
			ON CONFLICT (id) DO UPDATE SET at = excluded.at`, fmtTime(db.now()))
		return err
	})
	if err != nil {
		return fmt.Errorf("storage test write: %w", err)
	}
	return nil
}

// write runs fn in one BEGIN IMMEDIATE transaction on the writer connection.
func (db *DB) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func fmtTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return fmtTime(t)
}

func parseTime(s sql.NullString) (time.Time, error) {
	if !s.Valid || s.String == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(timeLayout, s.String)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse time %q: %w", s.String, err)
	}
	return t, nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func isUnique(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintUnique
}
