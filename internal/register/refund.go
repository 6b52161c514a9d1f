package register

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/store"
)

// ErrRefundOutcomeUnknown: the refund may have reached the provider but no
// answer came back, so the refund may have been made. It is never sent again
// automatically, and no other refund of the payment is accepted until the
// period report settles it.
var ErrRefundOutcomeUnknown = errors.New("refund outcome unknown: the refund may have been made; check the period report before trying again")

// ErrOutcomeUnknown is ErrRefundOutcomeUnknown for an annulment or an
// additional debit: it may have been made, is never sent again, and blocks
// every other adjustment of the payment.
var ErrOutcomeUnknown = errors.New("outcome unknown: it may have been made at the provider; check the payment there before trying again")

// Refund refunds part or all of a paid payment. The total of refunds that
// may have happened never exceeds the amount paid: checked locally, in the
// same transaction that records the refund, before the provider is asked.
// Each refund gets its own reference and its own transaction post.
//
// idempotencyKey follows the rules of CreatePayment: the same key with the
// same body gives the same refund (created=false) and never a second
// provider call; with another body ErrIdempotencyKey. A refund whose
// outcome is unknown, and every new refund of a payment while one is being
// sent or unknown, is refused: a retry must never refund twice.
func (r *Register) Refund(ctx context.Context, id, idempotencyKey string, req RefundRequest) (Refund, bool, error) {
	if err := validateKey(idempotencyKey); err != nil {
		return Refund{}, false, err
	}
	if err := ValidateRefund(req); err != nil {
		return Refund{}, false, err
	}
	return r.adjust(ctx, id, idempotencyKey, adjustment{kind: store.KindRefund, amount: req.Amount, cashierID: req.CashierID,
		reason: req.Reason, rows: append([]Row(nil), req.Rows...), hash: refundHash(id, req)})
}

// adjustment is one money movement on a paid payment after it was paid: a
// refund, an annulment or an additional debit (store.Kind*).
type adjustment struct {
	kind      string
	amount    money.Amount // 0 for an annulment: all that is left
	cashierID string
	reason    string
	rows      []Row // a debit's
	hash      string
}

// what names an adjustment kind for the cashier.
func what(kind string) string {
	switch kind {
	case store.KindAnnul:
		return "annulment"
	case store.KindDebit:
		return "additional debit"
	}
	return "refund"
}

// adjust records an adjustment "sending" (idempotently, within the
// payment's limits, none other of the payment pending) and sends it.
func (r *Register) adjust(ctx context.Context, id, idempotencyKey string, adj adjustment) (Refund, bool, error) {
	if rf, err := r.db.RefundByKey(ctx, idempotencyKey); err == nil {
		if rf.RequestHash != adj.hash || rf.PaymentID != id {
			return Refund{}, false, ErrIdempotencyKey
		}
		if rf.State != "failed" {
			out, err := r.replayRefund(rf)
			return out, false, err
		}
		// failed: nothing was done; it is tried again below.
	} else if !errors.Is(err, store.ErrNotFound) {
		return Refund{}, false, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	p, err := r.db.Payment(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Refund{}, false, fmt.Errorf("payment %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Refund{}, false, err
	}
	if State(p.State) != StatePaid {
		return Refund{}, false, fmt.Errorf("%s of payment %s in state %s: %w", what(adj.kind), id, p.State, ErrInvalidState)
	}
	pv, err := r.providerOf(p)
	if err != nil {
		return Refund{}, false, err
	}
	if err := supports(pv, adj.kind); err != nil {
		return Refund{}, false, err
	}
	if err := pv.Ready(ctx); err != nil {
		return Refund{}, false, readyError(err)
	}
	if err := r.storageGate(ctx); err != nil {
		return Refund{}, false, err
	}
	if adj.kind == store.KindAnnul && adj.amount == 0 {
		if adj.amount, err = r.leftOf(ctx, p); err != nil {
			return Refund{}, false, err
		}
		if adj.amount <= 0 {
			return Refund{}, false, fmt.Errorf("annul payment %s: nothing is left to annul (paid %s, all of it refunded or annulled): %w",
				id, p.Amount, ErrRefundExceeds)
		}
	}
	rowsJSON := ""
	if len(adj.rows) > 0 {
		b, err := json.Marshal(adj.rows)
		if err != nil {
			return Refund{}, false, fmt.Errorf("debit rows: %w", err)
		}
		rowsJSON = string(b)
	}
	actor := actorOf(adj.cashierID)
	rf, begun, err := r.db.BeginRefundIdempotent(ctx, store.Refund{ID: newID(), Kind: adj.kind, Rows: rowsJSON,
		IdempotencyKey: idempotencyKey, RequestHash: adj.hash, PaymentID: id, Provider: p.Provider, Amount: adj.amount,
		Currency: p.Currency, CashierID: adj.cashierID, Reason: adj.reason}, p.Amount,
		store.Audit{Actor: actor, Event: adj.kind + "_begin", Outcome: "success", Origin: "api",
			Detail: fmt.Sprintf("%s %s %s of %s %s", what(adj.kind), adj.amount, p.Currency, p.Provider, p.TransactionRef)})
	switch {
	case errors.Is(err, store.ErrRefundExceeds):
		return Refund{}, false, fmt.Errorf("%s %s of payment %s (paid %s): refunds and annulments would exceed what was paid: %w",
			what(adj.kind), adj.amount, id, p.Amount, ErrRefundExceeds)
	case errors.Is(err, store.ErrRefundPending):
		return Refund{}, false, fmt.Errorf("%s of payment %s: %v: it may have been made; check the period report before trying again: %w",
			what(adj.kind), id, strings.TrimPrefix(err.Error(), store.ErrRefundPending.Error()+": "), ErrInvalidState)
	case errors.Is(err, store.ErrIdempotencyKey):
		return Refund{}, false, ErrIdempotencyKey
	case err != nil:
		return Refund{}, false, fmt.Errorf("%w: %v", ErrStorage, err)
	case !begun: // a concurrent copy with the same key won
		out, err := r.replayRefund(rf)
		return out, false, err
	}
	// One call changing the payment at its provider at a time: an
	// annulment waits for a capture (finalize) running in the outbox.
	defer r.payLocks.lock(p.ID)()
	return r.sendRefund(ctx, pv, p, rf, adj)
}

// supports refuses an adjustment the payment's provider cannot make.
func supports(pv *prov, kind string) error {
	switch kind {
	case store.KindAnnul:
		if _, ok := pv.Provider.(payment.Annuller); !ok {
			return fmt.Errorf("annul a %s payment: %s captures at once, so there is nothing to annul; refund it instead: %w",
				pv.name, pv.name, ErrNotSupported)
		}
	case store.KindDebit:
		if _, ok := pv.Provider.(payment.Debiter); !ok {
			return fmt.Errorf("additional debit of a %s payment: %s takes none; start a new payment instead: %w", pv.name, pv.name, ErrNotSupported)
		}
	}
	return nil
}

// totalsOf sums a paid payment's adjustments done so far.
func (r *Register) totalsOf(ctx context.Context, sp store.Payment) (store.Totals, error) {
	var t store.Totals
	if State(sp.State) != StatePaid {
		return t, nil
	}
	refs, err := r.db.Refunds(ctx, sp.ID)
	if err != nil {
		return t, err
	}
	for _, rf := range refs {
		if rf.State != "done" {
			continue
		}
		switch rf.Kind {
		case store.KindAnnul:
			t.Annulled += rf.Amount
		case store.KindDebit:
			t.Debited += rf.Amount
		default:
			t.Refunded += rf.Amount
		}
	}
	return t, nil
}

// leftOf is what a payment still takes: paid plus debits done, less every
// refund and annulment that may have happened.
func (r *Register) leftOf(ctx context.Context, sp store.Payment) (money.Amount, error) {
	refs, err := r.db.Refunds(ctx, sp.ID)
	if err != nil {
		return 0, err
	}
	left := sp.Amount
	for _, rf := range refs {
		switch {
		case rf.Kind == store.KindDebit && rf.State == "done":
			left += rf.Amount
		case rf.Kind != store.KindDebit && rf.State != "failed":
			left -= rf.Amount
		}
	}
	return left, nil
}

// sendRefund asks the provider for an adjustment recorded "sending" and
// records the outcome: refused or not sent -> failed; anything else
// without a reference -> unknown (never sent again).
func (r *Register) sendRefund(ctx context.Context, pv *prov, p store.Payment, rf store.Refund, adj adjustment) (Refund, bool, error) {
	tot, err := r.totalsOf(ctx, p)
	if err != nil {
		return Refund{}, false, err
	}
	order, err := orderOf(p, p.CreatedAt)
	if err != nil {
		return Refund{}, false, err
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.policy(pv, p.Method).CallTimeout)
	defer cancel()
	back := tot.Refunded + tot.Annulled
	ro := payment.RefundOrder{RefundID: rf.ID, PaymentID: p.ID, Method: p.Method, Session: sessionOf(p),
		TransactionRef: p.TransactionRef, Amount: rf.Amount, Currency: p.Currency, Full: back+rf.Amount == p.Amount+tot.Debited,
		Paid: p.Amount + tot.Debited, Refunded: back, CashierID: adj.cashierID, Reason: adj.reason, Order: order}
	if adj.kind == store.KindRefund {
		ro.Rows = paymentRows(adj.rows)
	}
	var (
		ref   string
		tasks []store.OutboxTask
	)
	switch adj.kind {
	case store.KindAnnul:
		var res payment.Refunded
		res, err = pv.Provider.(payment.Annuller).Annul(cctx, ro)
		ref = res.Ref
	case store.KindDebit:
		var res payment.Debited
		res, err = pv.Provider.(payment.Debiter).AdditionalDebit(cctx, payment.DebitOrder{DebitID: rf.ID, PaymentID: p.ID,
			Method: p.Method, Session: sessionOf(p), TransactionRef: p.TransactionRef, Rows: paymentRows(adj.rows),
			Amount: rf.Amount, Currency: p.Currency, CashierID: adj.cashierID, Reason: adj.reason})
		ref = res.Ref
		for _, t := range res.Tasks {
			tasks = append(tasks, store.OutboxTask{Provider: pv.name, Kind: t.Kind, Payload: t.Payload})
		}
	default:
		var res payment.Refunded
		res, err = pv.Refund(cctx, ro)
		ref = res.Ref
	}
	if err == nil && strings.TrimSpace(ref) == "" {
		// Nothing to record or post, yet it may have been made.
		err = fmt.Errorf("the provider confirmed the %s without a reference", what(adj.kind))
	}
	actor := actorOf(adj.cashierID)
	rctx := context.WithoutCancel(ctx)
	finish := func(state, ref, errText string) (store.Refund, error) {
		outcome := "success"
		var with []store.OutboxTask
		if errText != "" {
			outcome = "failure: " + errText
		} else {
			with = tasks
		}
		return r.db.FinishRefund(rctx, rf.ID, state, ref, errText,
			store.Audit{Actor: actor, Event: adj.kind, Outcome: outcome, Origin: "api", Detail: what(adj.kind) + " " + rf.ID}, with...)
	}
	if err != nil {
		return Refund{}, false, r.refundFailed(p, rf, err, finish)
	}
	done, err := finish("done", ref, "")
	if err != nil {
		// The provider did it: hold the reference in memory and retry the
		// save, refusing new payments meanwhile (as record does for a paid).
		r.log.Error(what(adj.kind)+" done at the provider but not recorded; held in memory and retried", zap.String("payment", p.ID),
			zap.String("refund", rf.ID), zap.String("reference", ref), zap.String("amount", rf.Amount.String()), zap.Error(err))
		r.mu.Lock()
		r.held.refunds[rf.ID] = true
		r.mu.Unlock()
		r.startLoop(ctx, spawnReq{refund: &refundSave{id: rf.ID, ref: ref, finish: finish}})
		return Refund{}, false, fmt.Errorf("%w: %s %s done at %s (%s) but not recorded yet; posd keeps trying: %v",
			ErrStorage, what(adj.kind), rf.ID, p.Provider, ref, err)
	}
	r.postRefund(ctx, done)
	return refundView(done), true, nil
}

// paymentRows are API rows as the contract's.
func paymentRows(rows []Row) []payment.Row {
	out := make([]payment.Row, 0, len(rows))
	for _, row := range rows {
		out = append(out, payment.Row{Description: row.Description, Quantity: row.Quantity, UnitPrice: row.UnitPrice,
			Total: row.TotalAmount, TaxRate: row.TaxRate, SKU: row.SKU, EAN: row.EAN})
	}
	return out
}

// refundFailed records an adjustment the provider did not confirm and says why.
func (r *Register) refundFailed(p store.Payment, rf store.Refund, err error, finish func(state, ref, errText string) (store.Refund, error)) error {
	w := what(rf.Kind)
	state, ret := "unknown", fmt.Errorf("%s %s: %w (%v)", w, rf.ID, ErrRefundOutcomeUnknown, err)
	if rf.Kind != store.KindRefund {
		state, ret = "unknown", fmt.Errorf("%s %s: %w (%v)", w, rf.ID, ErrOutcomeUnknown, err)
	}
	refused, isRefused := payment.Refused(err)
	switch {
	case isRefused && errors.Is(err, payment.ErrExceeds):
		state, ret = "failed", fmt.Errorf("%s %s: %w (%s)", w, rf.ID, ErrRefundExceeds, refused.Message)
	case isRefused:
		state, ret = "failed", fmt.Errorf("%s %s: %w: %s", w, rf.ID, ErrProviderRejected, refused.Message)
	case errors.Is(err, payment.ErrNotSent):
		state, ret = "failed", fmt.Errorf("%s %s: %w: not sent", w, rf.ID, ErrOffline)
	}
	if state == "unknown" {
		r.log.Error(w+" outcome unknown: never sent again; check the period report", zap.String("payment", p.ID),
			zap.String("refund", rf.ID), zap.String("amount", rf.Amount.String()), zap.Error(err))
	}
	if _, ferr := finish(state, "", w+": "+err.Error()); ferr != nil {
		// The row stays "sending": it still blocks other adjustments of
		// the payment and becomes "unknown" at the next start.
		r.log.Error("record "+w+" outcome", zap.String("refund", rf.ID), zap.Error(ferr))
	}
	return ret
}

// refundSave is a refund the provider made that storage has not taken yet.
type refundSave struct {
	id, ref string
	finish  func(state, ref, errText string) (store.Refund, error)
}

// saveRefundLater retries saving a refund the provider has made until it
// is saved or the register stops (the row stays "sending" and the next
// start reports it as unknown). Run in Run's wait group.
func (r *Register) saveRefundLater(ctx context.Context, rs refundSave) {
	for {
		if !sleepCtx(ctx, r.cfg.RecordRetry) {
			return
		}
		done, err := rs.finish("done", rs.ref, "")
		if err != nil {
			continue
		}
		r.mu.Lock()
		delete(r.held.refunds, rs.id)
		r.mu.Unlock()
		r.log.Info("held refund recorded", zap.String("refund", rs.id), zap.String("reference", rs.ref))
		r.postRefund(ctx, done)
		return
	}
}

// postRefund writes a recorded refund's transaction post, or hands it to
// the background retry (new payments refused until it is written).
func (r *Register) postRefund(ctx context.Context, done store.Refund) {
	if err := r.appendPost(r.refundPost(done)); err != nil {
		if errors.Is(err, receipt.ErrInvalidPost) {
			// The file refuses this post whatever the disk does: retrying
			// would refuse every new payment forever. Raised for manual
			// handling; the refund stays recorded in the database.
			r.log.Error(what(done.Kind)+" post refused by the receipt file; raised for manual handling", zap.String("payment", done.PaymentID),
				zap.String("refund", done.ID), zap.String("reference", done.ProviderRef), zap.Error(err))
			r.auditID(ctx, done.PaymentID, done.Provider, done.Kind+"_post", "failure: "+err.Error(),
				what(done.Kind)+" "+done.ID+" ("+done.ProviderRef+") recorded in the database but refused by the receipt file")
			return
		}
		r.log.Error("refund post not written yet; retrying", zap.String("refund", done.ID), zap.Error(err))
		r.mu.Lock()
		r.held.posts[postKey{done.Provider, done.ProviderRef}] = true // refuse new payments until the post is written (D1)
		r.mu.Unlock()
		r.startLoop(ctx, spawnReq{posts: []receipt.Post{r.refundPost(done)}})
	}
	r.log.Info(what(done.Kind)+" done", zap.String("payment", done.PaymentID), zap.String("refund", done.ID),
		zap.String("reference", done.ProviderRef), zap.String("amount", done.Amount.String()))
}

// replayRefund answers a request whose Idempotency-Key already made rf.
func (r *Register) replayRefund(rf store.Refund) (Refund, error) {
	switch rf.State {
	case "done":
		return refundView(rf), nil
	case "unknown":
		if rf.Kind != store.KindRefund {
			return Refund{}, fmt.Errorf("%s %s: %w", what(rf.Kind), rf.ID, ErrOutcomeUnknown)
		}
		return Refund{}, fmt.Errorf("refund %s: %w", rf.ID, ErrRefundOutcomeUnknown)
	}
	r.mu.Lock()
	held := r.held.refunds[rf.ID]
	r.mu.Unlock()
	if held {
		return Refund{}, fmt.Errorf("%w: %s %s done at the provider but not recorded yet; posd keeps trying", ErrStorage, what(rf.Kind), rf.ID)
	}
	return Refund{}, fmt.Errorf("%s %s with this Idempotency-Key is still being sent; look at the payment shortly: %w", what(rf.Kind), rf.ID, ErrInvalidState)
}

func refundView(rf store.Refund) Refund {
	v := Refund{ID: rf.ID, Kind: rf.Kind, PaymentID: rf.PaymentID, Provider: rf.Provider, Amount: rf.Amount, Currency: rf.Currency,
		ProviderRef: rf.ProviderRef, CashierID: rf.CashierID, Reason: rf.Reason, CreatedAt: rf.CreatedAt.UTC()}
	if v.Kind == "" {
		v.Kind = store.KindRefund
	}
	if rf.Rows != "" {
		_ = json.Unmarshal([]byte(rf.Rows), &v.Rows) // written by adjust from []Row
	}
	if rf.Provider == "seqr" {
		v.ERSReference = rf.ProviderRef
	}
	return v
}

func refundHash(paymentID string, req RefundRequest) string {
	b, _ := json.Marshal(struct {
		PaymentID string       `json:"paymentId"`
		Amount    money.Amount `json:"amount"`
		CashierID string       `json:"cashierId"`
		Reason    string       `json:"reason"`
		Rows      []Row        `json:"rows,omitempty"` // absent: the hash of a refund from before rows
	}{paymentID, req.Amount, req.CashierID, req.Reason, req.Rows}) // plain struct: cannot fail
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// recoverRefunds runs at start-up, before Ready: a refund still "sending"
// was on its way when posd stopped, so it may have been made. It becomes
// "unknown" (never sent again; it blocks further refunds of its payment)
// and is reported for manual handling against the period report.
func (r *Register) recoverRefunds(ctx context.Context) error {
	marked, err := r.db.MarkSendingRefundsUnknown(ctx, "posd stopped while the refund was on its way; outcome unknown, never resent",
		store.Audit{Actor: "posd", Event: "recover_refund", Outcome: "failure: outcome unknown", Origin: "recovery"})
	if err != nil {
		return fmt.Errorf("recover refunds: %w", err)
	}
	for _, rf := range marked {
		r.log.Error("refund outcome unknown after restart: it may have been made; check the period report",
			zap.String("payment", rf.PaymentID), zap.String("refund", rf.ID), zap.String("amount", rf.Amount.String()),
			zap.Time("sentAt", rf.CreatedAt))
	}
	return nil
}
