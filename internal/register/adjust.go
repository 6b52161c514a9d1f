package register

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/store"
)

// Annulments and additional debits: the two adjustments besides a refund
// that a provider whose payments stay authorized until captured offers
// (Resurs's annulPayment and additionalDebitOfPayment). Each has a
// refund's life (refund.go): recorded "sending" under its Idempotency-Key
// before the provider is asked, never sent twice, its own reference and
// its own receipt-file post; an annulment is posted as money given back,
// a debit as money taken.
//
// An annulment and the payment's capture must not cross: Resurs has no
// idempotency, and a finalize racing an annul would fail one of them at
// Resurs or annul what was just captured. So every provider call that
// changes a paid payment (an outbox task, a refund, an annulment, a debit)
// holds the payment's lock; an annulment that finds the capture done is
// refused by the provider's own rules (refund it instead), and a capture
// queued behind an annulment captures what is left, or nothing.

// AnnulRequest is the body of POST /v1/payments/{id}/annul.
type AnnulRequest struct {
	// Amount to annul; 0 (left out): all that the payment still takes.
	Amount    money.Amount `json:"amount,omitempty"`
	CashierID string       `json:"cashierId"`
	Reason    string       `json:"reason"`
}

// DebitRequest is the body of POST /v1/payments/{id}/debits: rows added to
// a paid payment, charged on the customer's same invoice or account.
type DebitRequest struct {
	Rows      []Row  `json:"rows"`
	CashierID string `json:"cashierId"`
	Reason    string `json:"reason"`
}

// Annul annuls all or part of what a paid payment authorized and has not
// captured yet ("Betala sen" before posd's finalize ran). The provider
// refuses what its rules forbid (captured already: refund instead; frozen;
// a card payment in part). Idempotent by key, as Refund.
func (r *Register) Annul(ctx context.Context, id, idempotencyKey string, req AnnulRequest) (Refund, bool, error) {
	if err := validateKey(idempotencyKey); err != nil {
		return Refund{}, false, err
	}
	if err := ValidateAnnul(req); err != nil {
		return Refund{}, false, err
	}
	return r.adjust(ctx, id, idempotencyKey, adjustment{kind: store.KindAnnul, amount: req.Amount, cashierID: req.CashierID,
		reason: req.Reason, hash: adjustmentHash(store.KindAnnul, id, req)})
}

// AdditionalDebit adds rows to a paid payment: the customer is charged
// their sum on the same payment, within the provider's limit. Idempotent by
// key, as Refund.
func (r *Register) AdditionalDebit(ctx context.Context, id, idempotencyKey string, req DebitRequest) (Refund, bool, error) {
	if err := validateKey(idempotencyKey); err != nil {
		return Refund{}, false, err
	}
	sum, err := ValidateDebit(req)
	if err != nil {
		return Refund{}, false, err
	}
	return r.adjust(ctx, id, idempotencyKey, adjustment{kind: store.KindDebit, amount: sum, cashierID: req.CashierID,
		reason: req.Reason, rows: append([]Row(nil), req.Rows...), hash: adjustmentHash(store.KindDebit, id, req)})
}

// ValidateAnnul checks an annulment before anything is looked up.
func ValidateAnnul(req AnnulRequest) error {
	if req.Amount < 0 {
		return &ValidationError{Field: "amount", Message: fmt.Sprintf("must be greater than 0, or left out to annul all that is left, got %s", req.Amount)}
	}
	if req.Amount > MaxAmount {
		return &ValidationError{Field: "amount", Message: fmt.Sprintf("at most %s", MaxAmount)}
	}
	if err := line("cashierId", req.CashierID, MaxID); err != nil {
		return err
	}
	return line("reason", req.Reason, MaxReason)
}

// ValidateDebit checks a debit's rows (the rules of a payment's rows) and
// returns their sum, which must be above 0.
func ValidateDebit(req DebitRequest) (money.Amount, error) {
	if len(req.Rows) == 0 {
		return 0, &ValidationError{Field: "rows", Message: "at least one row is required"}
	}
	if len(req.Rows) > MaxRows {
		return 0, &ValidationError{Field: "rows", Message: fmt.Sprintf("at most %d rows", MaxRows)}
	}
	var sum money.Amount
	for i, row := range req.Rows {
		if err := validateRow(fmt.Sprintf("rows[%d].", i), row); err != nil {
			return 0, err
		}
		sum += row.TotalAmount // bounded: MaxRows rows of at most MaxAmount
	}
	if sum <= 0 || sum > MaxAmount {
		return 0, &ValidationError{Field: "rows", Message: fmt.Sprintf("the rows must add up to more than 0 and at most %s, got %s", MaxAmount, sum)}
	}
	if err := line("cashierId", req.CashierID, MaxID); err != nil {
		return 0, err
	}
	return sum, line("reason", req.Reason, MaxReason)
}

// adjustmentHash identifies an adjustment request's body for its
// Idempotency-Key: the kind, the payment and the body as sent.
func adjustmentHash(kind, paymentID string, body any) string {
	b, _ := json.Marshal(struct {
		Kind      string `json:"kind"`
		PaymentID string `json:"paymentId"`
		Body      any    `json:"body"`
	}{kind, paymentID, body}) // plain structs: cannot fail
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// actionsOf lists what a paid payment of provider may be asked: "refund",
// and "annul" and "debit" where the provider offers them. The provider's
// own rules may still refuse one (an annulment after the capture).
func (r *Register) actionsOf(provider string) []string {
	pv := r.byName[provider]
	if pv == nil {
		return nil
	}
	out := []string{store.KindRefund}
	if _, ok := pv.Provider.(payment.Annuller); ok {
		out = append(out, store.KindAnnul)
	}
	if _, ok := pv.Provider.(payment.Debiter); ok {
		out = append(out, store.KindDebit)
	}
	return out
}

// keyedMutex is a mutex per key, held only while used.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu    sync.Mutex
	users int
}

// lock locks key and returns its unlock.
func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedEntry{}
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.users++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		if e.users--; e.users == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
