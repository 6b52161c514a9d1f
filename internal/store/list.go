package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/posd/posd/internal/money"
)

// MaxListLimit is the most payments one ListPayments call returns: a page's
// memory is bounded by it, whatever the history.
const MaxListLimit = 500

// ListFilter selects one page of payments in (created_at, id) order. After
// (the last key of the previous page) continues a listing; zero starts it.
// Empty filter fields match everything.
type ListFilter struct {
	Limit    int // 1..MaxListLimit+1 (one more than a page says whether another follows); else MaxListLimit
	Desc     bool
	After    ListKey
	State    string
	Provider string
	SaleID   string
	From, To time.Time // created in [From, To)
	Q        string    // the payment's id, sale id, session or transaction reference
}

// ListKey is a listing's position: the sort key of its last payment.
type ListKey struct {
	CreatedAt time.Time
	ID        string
}

// IsZero reports whether k is the start of a listing.
func (k ListKey) IsZero() bool { return k.ID == "" && k.CreatedAt.IsZero() }

// listCols is paymentCols without what a list never shows: the rows (the
// largest column; the detail route has them) and the provider's private
// data. scanPayment reads them as empty.
var listCols = strings.NewReplacer("rows_json,", "'' AS rows_json,", "provider_data,", "NULL AS provider_data,").Replace(paymentCols)

// ListPayments returns one page of payments matching f, oldest first (newest
// first with f.Desc), after f.After. The query walks an index whose last
// columns are (created_at, id) and stops after f.Limit rows, so its time
// and memory do not grow with history.
func (db *DB) ListPayments(ctx context.Context, f ListFilter) ([]Payment, error) {
	q, args := listQuery(f)
	return db.queryPayments(ctx, q, args...)
}

func listQuery(f ListFilter) (string, []any) {
	if f.Limit < 1 || f.Limit > MaxListLimit+1 {
		f.Limit = MaxListLimit
	}
	var where []string
	var args []any
	if f.State != "" {
		where, args = append(where, "state = ?"), append(args, f.State)
	}
	if f.Provider != "" {
		where, args = append(where, "provider = ?"), append(args, f.Provider)
	}
	if f.SaleID != "" {
		where, args = append(where, "sale_id = ?"), append(args, f.SaleID)
	}
	if !f.From.IsZero() {
		where, args = append(where, "created_at >= ?"), append(args, fmtTime(f.From))
	}
	if !f.To.IsZero() {
		where, args = append(where, "created_at < ?"), append(args, fmtTime(f.To))
	}
	if f.Q != "" {
		where = append(where, "(id = ? OR sale_id = ? OR session_ref = ? OR transaction_ref = ?)")
		args = append(args, f.Q, f.Q, f.Q, f.Q)
	}
	cmp, order := ">", "ASC"
	if f.Desc {
		cmp, order = "<", "DESC"
	}
	if !f.After.IsZero() {
		// Row values compare (created_at, id) as one key: the index's order.
		where = append(where, "(created_at, id) "+cmp+" (?, ?)")
		args = append(args, fmtTime(f.After.CreatedAt), f.After.ID)
	}
	q := "SELECT " + listCols + " FROM payments"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += fmt.Sprintf(" ORDER BY created_at %s, id %s LIMIT %d", order, order, f.Limit)
	return q, args
}

// Totals are a payment's done adjustments, summed by kind.
type Totals struct {
	Refunded, Annulled, Debited money.Amount
}

// RefundedTotals returns, for each of the given payments that has done
// refunds, annulments or debits, their sums: one query for a whole page.
func (db *DB) RefundedTotals(ctx context.Context, paymentIDs []string) (map[string]Totals, error) {
	out := map[string]Totals{}
	if len(paymentIDs) == 0 {
		return out, nil
	}
	args := make([]any, len(paymentIDs))
	for i, id := range paymentIDs {
		args[i] = id
	}
	rows, err := db.r.QueryContext(ctx, `SELECT payment_id, kind, SUM(amount) FROM refunds WHERE state = 'done'
		AND payment_id IN (?`+strings.Repeat(", ?", len(paymentIDs)-1)+`) GROUP BY payment_id, kind`, args...)
	if err != nil {
		return nil, fmt.Errorf("sum refunds: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, kind string
		var sum int64
		if err := rows.Scan(&id, &kind, &sum); err != nil {
			return nil, fmt.Errorf("sum refunds: %w", err)
		}
		t := out[id]
		switch kind {
		case KindAnnul:
			t.Annulled += money.Amount(sum)
		case KindDebit:
			t.Debited += money.Amount(sum)
		default:
			t.Refunded += money.Amount(sum)
		}
		out[id] = t
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sum refunds: %w", err)
	}
	return out, nil
}
