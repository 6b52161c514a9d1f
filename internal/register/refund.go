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
	hash := refundHash(id, req)
	if rf, err := r.db.RefundByKey(ctx, idempotencyKey); err == nil {
		if rf.RequestHash != hash || rf.PaymentID != id {
			return Refund{}, false, ErrIdempotencyKey
		}
		if rf.State != "failed" {
			out, err := r.replayRefund(rf)
			return out, false, err
		}
		// failed: nothing was refunded; it is tried again below.
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
		return Refund{}, false, fmt.Errorf("refund payment %s in state %s: %w", id, p.State, ErrInvalidState)
	}
	pv, err := r.providerOf(p)
	if err != nil {
		return Refund{}, false, err
	}
	if err := pv.Ready(ctx); err != nil {
		return Refund{}, false, readyError(err)
	}
	if err := r.storageGate(ctx); err != nil {
		return Refund{}, false, err
	}
	actor := actorOf(req.CashierID)
	rf, begun, err := r.db.BeginRefundIdempotent(ctx, store.Refund{ID: newID(), IdempotencyKey: idempotencyKey, RequestHash: hash,
		PaymentID: id, Provider: p.Provider, Amount: req.Amount, Currency: p.Currency, CashierID: req.CashierID, Reason: req.Reason}, p.Amount,
		store.Audit{Actor: actor, Event: "refund_begin", Outcome: "success", Origin: "api",
			Detail: fmt.Sprintf("refund %s %s of %s %s", req.Amount, p.Currency, p.Provider, p.TransactionRef)})
	switch {
	case errors.Is(err, store.ErrRefundExceeds):
		return Refund{}, false, fmt.Errorf("refund %s of payment %s (paid %s): %w", req.Amount, id, p.Amount, ErrRefundExceeds)
	case errors.Is(err, store.ErrRefundPending):
		return Refund{}, false, fmt.Errorf("refund payment %s: %v: it may have been made; check the period report before trying again: %w",
			id, strings.TrimPrefix(err.Error(), store.ErrRefundPending.Error()+": "), ErrInvalidState)
	case errors.Is(err, store.ErrIdempotencyKey):
		return Refund{}, false, ErrIdempotencyKey
	case err != nil:
		return Refund{}, false, fmt.Errorf("%w: %v", ErrStorage, err)
	case !begun: // a concurrent copy with the same key won
		out, err := r.replayRefund(rf)
		return out, false, err
	}

	return r.sendRefund(ctx, pv, p, rf, req)
}

// sendRefund asks the provider for a refund recorded "sending" and records
// the outcome: refused or not sent -> failed; anything else without a
// reference -> unknown (never sent again).
func (r *Register) sendRefund(ctx context.Context, pv *prov, p store.Payment, rf store.Refund, req RefundRequest) (Refund, bool, error) {
	refunded, err := r.refunded(ctx, p)
	if err != nil {
		return Refund{}, false, err
	}
	order, err := orderOf(p, p.CreatedAt)
	if err != nil {
		return Refund{}, false, err
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.policy(pv, p.Method).CallTimeout)
	defer cancel()
	res, err := pv.Refund(cctx, payment.RefundOrder{RefundID: rf.ID, PaymentID: p.ID, Method: p.Method, Session: sessionOf(p),
		TransactionRef: p.TransactionRef, Amount: req.Amount, Currency: p.Currency, Full: refunded+req.Amount == p.Amount,
		Paid: p.Amount, Refunded: refunded, CashierID: req.CashierID, Reason: req.Reason, Order: order})
	if err == nil && strings.TrimSpace(res.Ref) == "" {
		// Nothing to record or post, yet the refund may have been made.
		err = errors.New("the provider confirmed the refund without a reference")
	}
	actor := actorOf(req.CashierID)
	rctx := context.WithoutCancel(ctx)
	finish := func(state, ref, errText string) (store.Refund, error) {
		outcome := "success"
		if errText != "" {
			outcome = "failure: " + errText
		}
		return r.db.FinishRefund(rctx, rf.ID, state, ref, errText,
			store.Audit{Actor: actor, Event: "refund", Outcome: outcome, Origin: "api", Detail: "refund " + rf.ID})
	}
	if err != nil {
		return Refund{}, false, r.refundFailed(p, rf, err, finish)
	}
	done, err := finish("done", res.Ref, "")
	if err != nil {
		// The provider refunded: hold the reference in memory and retry the
		// save, refusing new payments meanwhile (as record does for a paid).
		r.log.Error("refund done at the provider but not recorded; held in memory and retried", zap.String("payment", p.ID),
			zap.String("refund", rf.ID), zap.String("reference", res.Ref), zap.String("amount", req.Amount.String()), zap.Error(err))
		r.mu.Lock()
		r.held.refunds[rf.ID] = true
		r.mu.Unlock()
		r.startLoop(ctx, spawnReq{refund: &refundSave{id: rf.ID, ref: res.Ref, finish: finish}})
		return Refund{}, false, fmt.Errorf("%w: refund %s done at %s (%s) but not recorded yet; posd keeps trying: %v",
			ErrStorage, rf.ID, p.Provider, res.Ref, err)
	}
	r.postRefund(ctx, done)
	return refundView(done), true, nil
}

// refundFailed records a refund the provider did not confirm and says why.
func (r *Register) refundFailed(p store.Payment, rf store.Refund, err error, finish func(state, ref, errText string) (store.Refund, error)) error {
	state, ret := "unknown", fmt.Errorf("refund %s: %w (%v)", rf.ID, ErrRefundOutcomeUnknown, err)
	refused, isRefused := payment.Refused(err)
	switch {
	case isRefused && errors.Is(err, payment.ErrExceeds):
		state, ret = "failed", fmt.Errorf("refund %s: %w (%s)", rf.ID, ErrRefundExceeds, refused.Message)
	case isRefused:
		state, ret = "failed", fmt.Errorf("refund %s: %w: %s", rf.ID, ErrProviderRejected, refused.Message)
	case errors.Is(err, payment.ErrNotSent):
		state, ret = "failed", fmt.Errorf("refund %s: %w: not sent", rf.ID, ErrOffline)
	}
	if state == "unknown" {
		r.log.Error("refund outcome unknown: never sent again; check the period report", zap.String("payment", p.ID),
			zap.String("refund", rf.ID), zap.String("amount", rf.Amount.String()), zap.Error(err))
	}
	if _, ferr := finish(state, "", "refund: "+err.Error()); ferr != nil {
		// The row stays "sending": it still blocks other refunds of the
		// payment and becomes "unknown" at the next start.
		r.log.Error("record refund outcome", zap.String("refund", rf.ID), zap.Error(ferr))
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
			r.log.Error("refund post refused by the receipt file; raised for manual handling", zap.String("payment", done.PaymentID),
				zap.String("refund", done.ID), zap.String("reference", done.ProviderRef), zap.Error(err))
			r.auditID(ctx, done.PaymentID, done.Provider, "refund_post", "failure: "+err.Error(),
				"refund "+done.ID+" ("+done.ProviderRef+") recorded in the database but refused by the receipt file")
			return
		}
		r.log.Error("refund post not written yet; retrying", zap.String("refund", done.ID), zap.Error(err))
		r.mu.Lock()
		r.held.posts[postKey{done.Provider, done.ProviderRef}] = true // refuse new payments until the post is written (D1)
		r.mu.Unlock()
		r.startLoop(ctx, spawnReq{posts: []receipt.Post{r.refundPost(done)}})
	}
	r.log.Info("refund done", zap.String("payment", done.PaymentID), zap.String("refund", done.ID),
		zap.String("reference", done.ProviderRef), zap.String("amount", done.Amount.String()))
}

// replayRefund answers a request whose Idempotency-Key already made rf.
func (r *Register) replayRefund(rf store.Refund) (Refund, error) {
	switch rf.State {
	case "done":
		return refundView(rf), nil
	case "unknown":
		return Refund{}, fmt.Errorf("refund %s: %w", rf.ID, ErrRefundOutcomeUnknown)
	}
	r.mu.Lock()
	held := r.held.refunds[rf.ID]
	r.mu.Unlock()
	if held {
		return Refund{}, fmt.Errorf("%w: refund %s done at the provider but not recorded yet; posd keeps trying", ErrStorage, rf.ID)
	}
	return Refund{}, fmt.Errorf("refund %s with this Idempotency-Key is still being sent; look at the payment shortly: %w", rf.ID, ErrInvalidState)
}

func refundView(rf store.Refund) Refund {
	v := Refund{ID: rf.ID, PaymentID: rf.PaymentID, Provider: rf.Provider, Amount: rf.Amount, Currency: rf.Currency,
		ProviderRef: rf.ProviderRef, CashierID: rf.CashierID, Reason: rf.Reason, CreatedAt: rf.CreatedAt.UTC()}
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
	}{paymentID, req.Amount, req.CashierID, req.Reason}) // plain struct: cannot fail
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
