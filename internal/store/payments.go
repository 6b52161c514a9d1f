package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/posd/posd/internal/money"
)

// Payment is one payments row. Zero times are NULL.
type Payment struct {
	ID               string
	IdempotencyKey   string
	RequestHash      string
	Provider         string // "seqr", "resurs", "payson"
	Method           string
	State            string
	Amount           money.Amount
	Currency         string
	ReceiptTotal     money.Amount
	Balancing        string
	SaleID           string
	CashierID        string
	Title            string
	RowsJSON         []byte
	ExtraJSON        []byte // what else the provider was asked (customer pre-fill, validUntil)
	SessionRef       string // the provider's session: SEQR invoice, Resurs order, Payson checkout
	TransactionRef   string // the provider's transaction once paid; unique per provider
	MethodName       string // the payment method as the provider names it once paid
	ProviderData     []byte // provider-private, stored verbatim
	CustomerView     []byte // JSON {url, html}: what the cashier page shows
	Window           int
	WindowEndsAt     time.Time
	Progress         int64
	PollCount        int
	OutageSince      time.Time
	DecisionDeadline time.Time
	NextCheckAt      time.Time // long-lived payments: when the next check is due
	PaidAt           time.Time
	Error            string
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Audit is one audit row: who did what, with which outcome. Transition fills
// the payment id, states, references and time.
type Audit struct {
	Provider string // AddAudit only (Transition takes the payment's)
	Actor    string // cashier id, or "posd"
	Event    string // e.g. "create", "send_invoice", "poll", "cancel", "paid"
	Outcome  string // "success" or "failure: ..."
	Origin   string // e.g. "api", "poll", "recovery"
	Detail   string
}

// AuditRow is an audit row as read back.
type AuditRow struct {
	ID             int64
	PaymentID      string
	Provider       string
	Actor          string
	Event          string
	FromState      string
	ToState        string
	Outcome        string
	SessionRef     string
	TransactionRef string
	Origin         string
	Detail         string
	At             time.Time
}

const paymentCols = `id, idempotency_key, request_hash, provider, method, state, amount, currency, receipt_total,
	balancing, sale_id, cashier_id, title, rows_json, extra_json, session_ref, transaction_ref, method_name,
	provider_data, customer_view, poll_window, window_ends_at, progress, poll_count, outage_since,
	decision_deadline, next_check_at, paid_at, error, created_at, updated_at`

type scanner interface{ Scan(dest ...any) error }

func scanPayment(s scanner) (Payment, error) {
	var p Payment
	var rows, extra, view string
	var data []byte
	var sess, txn, wEnds, outage, deadline, nextCheck, paid sql.NullString
	var created, updated sql.NullString
	err := s.Scan(&p.ID, &p.IdempotencyKey, &p.RequestHash, &p.Provider, &p.Method, &p.State, &p.Amount, &p.Currency,
		&p.ReceiptTotal, &p.Balancing, &p.SaleID, &p.CashierID, &p.Title, &rows, &extra, &sess, &txn, &p.MethodName,
		&data, &view, &p.Window, &wEnds, &p.Progress, &p.PollCount, &outage, &deadline, &nextCheck, &paid, &p.Error,
		&created, &updated)
	if err != nil {
		return Payment{}, err
	}
	p.RowsJSON = []byte(rows)
	if extra != "" {
		p.ExtraJSON = []byte(extra)
	}
	if view != "" {
		p.CustomerView = []byte(view)
	}
	p.ProviderData = data
	p.SessionRef, p.TransactionRef = sess.String, txn.String
	for _, f := range []struct {
		dst *time.Time
		src sql.NullString
	}{{&p.WindowEndsAt, wEnds}, {&p.OutageSince, outage}, {&p.DecisionDeadline, deadline}, {&p.NextCheckAt, nextCheck},
		{&p.PaidAt, paid}, {&p.CreatedAt, created}, {&p.UpdatedAt, updated}} {
		if *f.dst, err = parseTime(f.src); err != nil {
			return Payment{}, fmt.Errorf("payment %s: %w", p.ID, err)
		}
	}
	return p, nil
}

// CreatePayment inserts p (state "created") and its audit row in one
// transaction, unless a payment with the same idempotency key exists: then
// that payment is returned with created=false, or ErrIdempotencyKey when its
// request hash differs. BEGIN IMMEDIATE serialises concurrent copies, so
// exactly one of them creates the row.
func (db *DB) CreatePayment(ctx context.Context, p Payment, a Audit) (Payment, bool, error) {
	return db.createPayment(ctx, p, a, false)
}

// OpenPaymentError is CreateSolePayment's refusal: another payment of the
// same provider is still being started, checked or awaiting a decision.
type OpenPaymentError struct{ ID string }

func (e *OpenPaymentError) Error() string { return "payment " + e.ID + " is still open" }

// CreateSolePayment is CreatePayment for a provider that takes one payment
// at a time: in the same transaction (so concurrent requests cannot both
// pass), it refuses with *OpenPaymentError while another payment of
// p.Provider is created, polling or awaiting a decision. The same key still
// replays.
func (db *DB) CreateSolePayment(ctx context.Context, p Payment, a Audit) (Payment, bool, error) {
	return db.createPayment(ctx, p, a, true)
}

func (db *DB) createPayment(ctx context.Context, p Payment, a Audit, sole bool) (Payment, bool, error) {
	now := db.now()
	p.CreatedAt, p.UpdatedAt = now, now
	var out Payment
	created := false
	err := db.write(ctx, func(tx *sql.Tx) error {
		existing, err := scanPayment(tx.QueryRowContext(ctx, "SELECT "+paymentCols+" FROM payments WHERE idempotency_key = ?", p.IdempotencyKey))
		switch {
		case err == nil:
			if existing.RequestHash != p.RequestHash {
				return ErrIdempotencyKey
			}
			out = existing
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if sole {
			var open string
			err := tx.QueryRowContext(ctx, `SELECT id FROM payments WHERE provider = ?
				AND state IN ('created','polling','awaiting_decision') ORDER BY created_at, id LIMIT 1`, p.Provider).Scan(&open)
			if err == nil {
				return &OpenPaymentError{ID: open}
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		if err := insertPayment(ctx, tx, p); err != nil {
			return err
		}
		if err := insertAudit(ctx, tx, p.ID, p.Provider, "", p.State, p.SessionRef, p.TransactionRef, a, now); err != nil {
			return err
		}
		out, created = p, true
		return nil
	})
	if err != nil {
		var open *OpenPaymentError
		if errors.Is(err, ErrIdempotencyKey) || errors.As(err, &open) {
			return Payment{}, false, err
		}
		return Payment{}, false, fmt.Errorf("create payment %s: %w", p.ID, err)
	}
	return out, created, nil
}

func insertPayment(ctx context.Context, tx *sql.Tx, p Payment) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO payments ("+paymentCols+`) VALUES
		(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.IdempotencyKey, p.RequestHash, p.Provider, p.Method, p.State, int64(p.Amount), p.Currency, int64(p.ReceiptTotal),
		p.Balancing, p.SaleID, p.CashierID, p.Title, string(p.RowsJSON), string(p.ExtraJSON), nullString(p.SessionRef),
		nullString(p.TransactionRef), p.MethodName, p.ProviderData, string(p.CustomerView), p.Window, nullTime(p.WindowEndsAt),
		p.Progress, p.PollCount, nullTime(p.OutageSince), nullTime(p.DecisionDeadline), nullTime(p.NextCheckAt),
		nullTime(p.PaidAt), p.Error, fmtTime(p.CreatedAt), fmtTime(p.UpdatedAt))
	return err
}

// Payment reads one payment.
func (db *DB) Payment(ctx context.Context, id string) (Payment, error) {
	p, err := scanPayment(db.r.QueryRowContext(ctx, "SELECT "+paymentCols+" FROM payments WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return Payment{}, fmt.Errorf("payment %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Payment{}, fmt.Errorf("read payment %s: %w", id, err)
	}
	return p, nil
}

// PaymentByKey reads the payment created with an idempotency key.
func (db *DB) PaymentByKey(ctx context.Context, key string) (Payment, error) {
	p, err := scanPayment(db.r.QueryRowContext(ctx, "SELECT "+paymentCols+" FROM payments WHERE idempotency_key = ?", key))
	if errors.Is(err, sql.ErrNoRows) {
		return Payment{}, fmt.Errorf("payment with key: %w", ErrNotFound)
	}
	if err != nil {
		return Payment{}, fmt.Errorf("read payment by key: %w", err)
	}
	return p, nil
}

// Payments lists payments in the given states (all when none), oldest first.
func (db *DB) Payments(ctx context.Context, states ...string) ([]Payment, error) {
	q := "SELECT " + paymentCols + " FROM payments"
	args := make([]any, 0, len(states))
	if len(states) > 0 {
		q += " WHERE state IN (?" + strings.Repeat(", ?", len(states)-1) + ")"
		for _, s := range states {
			args = append(args, s)
		}
	}
	q += " ORDER BY created_at, id"
	return db.queryPayments(ctx, q, args...)
}

// PaidBetween lists a provider's payments that became paid in (from, to],
// by paid time: a period runs from the previous mark (exclusive) to its own.
// Rows and provider data are not read. A payment already reconciled in another period (matched by reference
// across a boundary, FinishPeriod) is left out; periodID's own are kept.
func (db *DB) PaidBetween(ctx context.Context, provider string, periodID int64, from, to time.Time) ([]Payment, error) {
	// Without the rows (listCols): a period left open for months holds many
	// payments, and the comparison needs only references and amounts.
	return db.queryPayments(ctx, "SELECT "+listCols+` FROM payments
		WHERE state = 'paid' AND provider = ? AND paid_at > ? AND paid_at <= ? AND (period_id IS NULL OR period_id = ?)
		ORDER BY paid_at, id`, provider, fmtTime(from), fmtTime(to), periodID)
}

func (db *DB) queryPayments(ctx context.Context, q string, args ...any) ([]Payment, error) {
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list payments: %w", err)
	}
	defer rows.Close()
	var out []Payment
	for rows.Next() {
		p, err := scanPayment(rows)
		if err != nil {
			return nil, fmt.Errorf("list payments: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list payments: %w", err)
	}
	return out, nil
}

// CountOpen counts payments not in a final state that can still change. An
// "unknown" payment with neither an invoice nor an ersReference is left out:
// it can never be polled (SEQR reverses any payment nobody polls), so it
// stays unknown, listed by Payments("unknown"), without blocking anything.
func (db *DB) CountOpen(ctx context.Context) (int, error) {
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM payments
		WHERE state IN ('created','polling','awaiting_decision')
		   OR (state = 'unknown' AND (COALESCE(session_ref, '') != '' OR COALESCE(transaction_ref, '') != ''))`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count open payments: %w", err)
	}
	return n, nil
}

// CountInFlight counts a provider's payments that may still become paid, or whose PAID is
// being recorded: created, polling, awaiting_decision, and any not yet paid
// with its ersReference committed. A period is not closed while there are
// any, so no payment is paid on one side of the mark and recorded on the other.
//
// Payments of the methods in waiting (long-lived: "Betala sen", pending for
// days) are counted only once their transaction reference is committed: a
// period close must not wait for a customer who pays next week.
func (db *DB) CountInFlight(ctx context.Context, provider string, waiting ...string) (int, error) {
	var n int
	notWaiting := "1"
	if len(waiting) > 0 {
		notWaiting = "method NOT IN (?" + strings.Repeat(", ?", len(waiting)-1) + ")"
	}
	q := `SELECT COUNT(*) FROM payments WHERE provider = ?
		AND ((state IN ('created','polling','awaiting_decision') AND ` + notWaiting + `)
		   OR (state != 'paid' AND COALESCE(transaction_ref, '') != ''))`
	args := []any{provider}
	for _, m := range waiting {
		args = append(args, m)
	}
	err := db.r.QueryRowContext(ctx, q, args...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count payments in flight: %w", err)
	}
	return n, nil
}

// Transition changes payment id in one transaction: it reads the row, checks
// that its state is one of from (any state when from is empty), lets change
// edit it, writes the row back and, when a.Event is set, appends the audit
// row with the old and new state. The state check makes concurrent deciders
// (poll loop, cashier, recovery) safe: the loser gets ErrStateConflict.
// Extra statements (outbox, print job) may run in the same transaction via
// Tx hooks passed in also.
func (db *DB) Transition(ctx context.Context, id string, from []string, a Audit, change func(p *Payment) error, also ...func(tx *Tx) error) (Payment, error) {
	now := db.now()
	var out Payment
	err := db.write(ctx, func(tx *sql.Tx) error {
		p, err := scanPayment(tx.QueryRowContext(ctx, "SELECT "+paymentCols+" FROM payments WHERE id = ?", id))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if len(from) > 0 && !contains(from, p.State) {
			return fmt.Errorf("%w: state is %s", ErrStateConflict, p.State)
		}
		old := p.State
		if err := change(&p); err != nil {
			return err
		}
		p.UpdatedAt = now
		_, err = tx.ExecContext(ctx, `UPDATE payments SET state = ?, session_ref = ?, transaction_ref = ?,
			method_name = ?, provider_data = ?, customer_view = ?, poll_window = ?, window_ends_at = ?, progress = ?,
			poll_count = ?, outage_since = ?, decision_deadline = ?, next_check_at = ?, paid_at = ?, error = ?,
			updated_at = ? WHERE id = ?`,
			p.State, nullString(p.SessionRef), nullString(p.TransactionRef), p.MethodName, p.ProviderData,
			string(p.CustomerView), p.Window, nullTime(p.WindowEndsAt), p.Progress, p.PollCount, nullTime(p.OutageSince),
			nullTime(p.DecisionDeadline), nullTime(p.NextCheckAt), nullTime(p.PaidAt), p.Error, fmtTime(p.UpdatedAt), p.ID)
		if isUnique(err) {
			return ErrDuplicateReference
		}
		if err != nil {
			return err
		}
		if a.Event != "" {
			if err := insertAudit(ctx, tx, p.ID, p.Provider, old, p.State, p.SessionRef, p.TransactionRef, a, now); err != nil {
				return err
			}
		}
		for _, f := range also {
			if err := f(&Tx{tx: tx, ctx: ctx, now: now}); err != nil {
				return err
			}
		}
		out = p
		return nil
	})
	if err != nil {
		return Payment{}, fmt.Errorf("payment %s %s: %w", id, a.Event, err)
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func insertAudit(ctx context.Context, tx *sql.Tx, paymentID, provider, from, to, session, txn string, a Audit, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO audit (payment_id, provider, actor, event, from_state, to_state, outcome,
		session_ref, transaction_ref, origin, detail, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		nullString(paymentID), provider, a.Actor, a.Event, from, to, a.Outcome, session, txn, a.Origin, a.Detail, fmtTime(at))
	return err
}

// AddAudit appends an audit row not tied to a state change (terminal
// set-up, period close, refused requests).
func (db *DB) AddAudit(ctx context.Context, paymentID string, a Audit) error {
	now := db.now()
	err := db.write(ctx, func(tx *sql.Tx) error {
		return insertAudit(ctx, tx, paymentID, a.Provider, "", "", "", "", a, now)
	})
	if err != nil {
		return fmt.Errorf("audit %s: %w", a.Event, err)
	}
	return nil
}

// AuditTrail returns the audit rows of a payment ("" = rows of no payment), oldest first.
func (db *DB) AuditTrail(ctx context.Context, paymentID string) ([]AuditRow, error) {
	q := `SELECT id, COALESCE(payment_id, ''), provider, actor, event, from_state, to_state, outcome, session_ref,
		transaction_ref, origin, detail, at FROM audit WHERE `
	var args []any
	if paymentID == "" {
		q += "payment_id IS NULL"
	} else {
		q += "payment_id = ?"
		args = append(args, paymentID)
	}
	rows, err := db.r.QueryContext(ctx, q+" ORDER BY id", args...)
	if err != nil {
		return nil, fmt.Errorf("read audit: %w", err)
	}
	defer rows.Close()
	var out []AuditRow
	for rows.Next() {
		var a AuditRow
		var at sql.NullString
		if err := rows.Scan(&a.ID, &a.PaymentID, &a.Provider, &a.Actor, &a.Event, &a.FromState, &a.ToState, &a.Outcome,
			&a.SessionRef, &a.TransactionRef, &a.Origin, &a.Detail, &at); err != nil {
			return nil, fmt.Errorf("read audit: %w", err)
		}
		if a.At, err = parseTime(at); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Tx lets Transition callers add statements to the same transaction.
type Tx struct {
	tx  *sql.Tx
	ctx context.Context
	now time.Time
}

// PaidReferences calls fn with the provider and transaction reference of
// every paid payment that has one, in no particular order. It reads two
// columns through the state index, so a start-up check over 100 000
// payments stays cheap; fn runs while the query is open and must not use
// the database.
func (db *DB) PaidReferences(ctx context.Context, fn func(provider, ref string)) error {
	return db.eachPair(ctx, "list paid references",
		"SELECT provider, transaction_ref FROM payments WHERE state = 'paid' AND transaction_ref IS NOT NULL AND transaction_ref != ''", fn)
}

// PaymentByReference returns the payment with this provider transaction reference, or ErrNotFound.
func (db *DB) PaymentByReference(ctx context.Context, provider, ref string) (Payment, error) {
	p, err := scanPayment(db.r.QueryRowContext(ctx, "SELECT "+paymentCols+" FROM payments WHERE provider = ? AND transaction_ref = ?", provider, ref))
	if errors.Is(err, sql.ErrNoRows) {
		return Payment{}, fmt.Errorf("payment with %s reference %s: %w", provider, ref, ErrNotFound)
	}
	if err != nil {
		return Payment{}, fmt.Errorf("payment with %s reference %s: %w", provider, ref, err)
	}
	return p, nil
}

// eachPair runs a query of two text columns and calls fn per row.
func (db *DB) eachPair(ctx context.Context, what, q string, fn func(a, b string), args ...any) error {
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var a, b string
	for rows.Next() {
		if err := rows.Scan(&a, &b); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		fn(a, b)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// PaymentBySession returns the id of the payment with this provider session, or ErrNotFound.
func (db *DB) PaymentBySession(ctx context.Context, provider, sessionRef string) (string, error) {
	var id string
	err := db.r.QueryRowContext(ctx, "SELECT id FROM payments WHERE provider = ? AND session_ref = ? ORDER BY created_at DESC LIMIT 1",
		provider, sessionRef).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("payment with %s session %s: %w", provider, sessionRef, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("payment with %s session %s: %w", provider, sessionRef, err)
	}
	return id, nil
}
