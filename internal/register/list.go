package register

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/posd/posd/internal/store"
)

// List limits (issue 9 item 1): a page's memory is bounded by MaxListLimit
// payments without their rows, whatever the history.
const (
	DefaultListLimit = 50
	MaxListLimit     = store.MaxListLimit
	concurrentLists  = 3 // pages built at once (the till has 2 cores)
)

// ListQuery selects a page of payments. Zero fields match everything.
type ListQuery struct {
	Limit    int    // 0: DefaultListLimit; at most MaxListLimit
	Cursor   string // Next of the previous page; "" starts the listing
	Desc     bool   // newest first
	State    State
	Provider string
	SaleID   string
	From, To time.Time // created in [From, To)
	Q        string    // a payment id, sale id or provider reference
}

// PaymentPage is one page of a listing. Next continues it; "" when the
// listing has no more payments.
type PaymentPage struct {
	Payments []Payment `json:"payments"`
	Next     string    `json:"next,omitempty"`
}

// Payments returns one page of payments in creation order (oldest first,
// newest first with Desc), keyed by (created time, id) so a page is stable
// while payments are added. Rows are not listed: the payment's own route
// has them.
func (r *Register) Payments(ctx context.Context, q ListQuery) (PaymentPage, error) {
	switch {
	case q.Limit == 0:
		q.Limit = DefaultListLimit
	case q.Limit < 0 || q.Limit > MaxListLimit:
		return PaymentPage{}, &ValidationError{Field: "limit", Message: fmt.Sprintf("must be 1 to %d", MaxListLimit)}
	}
	if q.State != "" && !q.State.Valid() {
		return PaymentPage{}, &ValidationError{Field: "state", Message: fmt.Sprintf("unknown state %q", q.State)}
	}
	if q.Provider != "" && r.byName[q.Provider] == nil {
		// A provider no longer configured still has history: listed, not refused.
		if !validName(q.Provider) {
			return PaymentPage{}, &ValidationError{Field: "provider", Message: "not a provider name"}
		}
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return PaymentPage{}, &ValidationError{Field: "from", Message: "must be before to"}
	}
	after, err := decodeCursor(q.Cursor)
	if err != nil {
		return PaymentPage{}, err
	}
	// A few pages are built at once; more listings wait their turn, so
	// memory stays bounded however many clients page at once.
	select {
	case r.lists <- struct{}{}:
		defer func() { <-r.lists }()
	case <-ctx.Done():
		return PaymentPage{}, ctx.Err()
	}
	// One more than asked says whether a next page exists.
	list, err := r.db.ListPayments(ctx, store.ListFilter{Limit: q.Limit + 1, Desc: q.Desc, After: after,
		State: string(q.State), Provider: q.Provider, SaleID: q.SaleID, From: q.From, To: q.To, Q: q.Q})
	if err != nil {
		return PaymentPage{}, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	page := PaymentPage{Payments: make([]Payment, 0, min(len(list), q.Limit))}
	if len(list) > q.Limit {
		list = list[:q.Limit]
		last := list[len(list)-1]
		page.Next = encodeCursor(store.ListKey{CreatedAt: last.CreatedAt, ID: last.ID})
	}
	var paid []string
	for _, sp := range list {
		if State(sp.State) == StatePaid {
			paid = append(paid, sp.ID)
		}
	}
	refunded, err := r.db.RefundedTotals(ctx, paid)
	if err != nil {
		return PaymentPage{}, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	for _, sp := range list {
		page.Payments = append(page.Payments, r.view(sp, r.liveOf(sp.ID), refunded[sp.ID]))
	}
	return page, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// A cursor is the last listed payment's (created time, id), opaque to the
// front end: base64url of "<unix nanoseconds>.<id>".
func encodeCursor(k store.ListKey) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%d.%s", k.CreatedAt.UnixNano(), k.ID))
}

func decodeCursor(c string) (store.ListKey, error) {
	if c == "" {
		return store.ListKey{}, nil
	}
	bad := &ValidationError{Field: "cursor", Message: "not a cursor of this listing; start again without one"}
	if len(c) > 256 {
		return store.ListKey{}, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return store.ListKey{}, bad
	}
	ns, id, ok := strings.Cut(string(b), ".")
	var n int64
	if _, err := fmt.Sscanf(ns, "%d", &n); !ok || err != nil || id == "" || fmt.Sprint(n) != ns {
		return store.ListKey{}, bad
	}
	return store.ListKey{CreatedAt: time.Unix(0, n).UTC(), ID: id}, nil
}
