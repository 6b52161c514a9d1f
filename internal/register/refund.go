package register

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/seqr"
	"github.com/posd/posd/internal/store"
)

// ErrRefundOutcomeUnknown: refundPayment may have reached SEQR but no answer
// came back, so the refund may have been made. It is never sent again
// automatically, and no other refund of the payment is accepted until the
// period report settles it.
var ErrRefundOutcomeUnknown = errors.New("refund outcome unknown: the refund may have been made; check the period report before trying again")

// Refund refunds part or all of a paid payment. The total of refunds that
// may have happened never exceeds the amount paid: checked locally, in the
// same transaction that records the refund, before refundPayment is sent.
// Each refund gets its own reference and its own transaction post.
//
// idempotencyKey follows the rules of CreatePayment: the same key with the
// same body gives the same refund (created=false) and never a second
// refundPayment; with another body ErrIdempotencyKey. A refund whose
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
	term, err := r.terminal(ctx)
	if err != nil {
		return Refund{}, false, err
	}
	if err := r.storageGate(ctx); err != nil {
		return Refund{}, false, err
	}
	actor := actorOf(req.CashierID)
	rf, begun, err := r.db.BeginRefundIdempotent(ctx, store.Refund{ID: newID(), IdempotencyKey: idempotencyKey, RequestHash: hash,
		PaymentID: id, Amount: req.Amount, Currency: p.Currency, CashierID: req.CashierID, Reason: req.Reason}, p.Amount,
		store.Audit{Actor: actor, Event: "refund_begin", Outcome: "success", Origin: "api",
			Detail: fmt.Sprintf("refund %s %s of %s", req.Amount, p.Currency, p.ERSReference)})
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

	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.CallTimeout)
	defer cancel()
	ersRef, err := r.seqr.RefundPayment(cctx, term.principal(), p.ERSReference, seqr.Invoice{
		Title: "Refund", CashierID: req.CashierID, Total: req.Amount, Currency: p.Currency,
	})
	if err == nil && strings.TrimSpace(ersRef) == "" {
		// Nothing to record or post, yet the refund may have been made.
		err = errors.New("refundPayment answered 0 without an ersReference")
	}
	rctx := context.WithoutCancel(ctx)
	finish := func(state, ers, errText string) (store.Refund, error) {
		outcome := "success"
		if errText != "" {
			outcome = "failure: " + errText
		}
		return r.db.FinishRefund(rctx, rf.ID, state, ers, errText,
			store.Audit{Actor: actor, Event: "refund", Outcome: outcome, Origin: "api", Detail: "refund " + rf.ID})
	}
	if err != nil {
		state, ret := "unknown", fmt.Errorf("refund %s: %w (%v)", rf.ID, ErrRefundOutcomeUnknown, err)
		code, isCode := seqr.Code(err)
		switch {
		case isCode && code == seqr.ResultRefundExceedsOriginal:
			state, ret = "failed", fmt.Errorf("refund %s: %w (SEQR 98)", rf.ID, ErrRefundExceeds)
		case isCode:
			state, ret = "failed", fmt.Errorf("refund %s: %w: %d %s", rf.ID, ErrProviderRejected, code, seqr.ResultName(code))
		case errors.Is(err, seqr.ErrNotSent):
			state, ret = "failed", fmt.Errorf("refund %s: %w: not sent", rf.ID, ErrOffline)
		}
		if state == "unknown" {
			r.log.Error("refund outcome unknown: never sent again; check the period report", zap.String("payment", id),
				zap.String("refund", rf.ID), zap.String("amount", req.Amount.String()), zap.Error(err))
		}
		if _, ferr := finish(state, "", describe("refundPayment", err)); ferr != nil {
			// The row stays "sending": it still blocks other refunds of the
			// payment and becomes "unknown" at the next start.
			r.log.Error("record refund outcome", zap.String("refund", rf.ID), zap.Error(ferr))
		}
		return Refund{}, false, ret
	}
	done, err := finish("done", ersRef, "")
	if err != nil {
		// SEQR refunded: hold the reference in memory and retry the save,
		// refusing new payments meanwhile (as record does for a PAID).
		r.log.Error("refund done at SEQR but not recorded; held in memory and retried", zap.String("payment", id),
			zap.String("refund", rf.ID), zap.String("ersReference", ersRef), zap.String("amount", req.Amount.String()), zap.Error(err))
		r.block(refundHoldKey(rf.ID))
		go r.saveRefundLater(rctx, rf.ID, ersRef, finish)
		return Refund{}, false, fmt.Errorf("%w: refund %s done at SEQR (%s) but not recorded yet; posd keeps trying: %v",
			ErrStorage, rf.ID, ersRef, err)
	}
	r.postRefund(ctx, done)
	return refundView(done), true, nil
}

// refundHoldKey marks, in r.blocked, a refund SEQR made whose result is
// held in memory until it is saved.
func refundHoldKey(id string) string { return "refund:" + id }

// saveRefundLater retries saving a refund SEQR has made until it is saved
// or the register stops (the row stays "sending" and the next start
// reports it as unknown).
func (r *Register) saveRefundLater(ctx context.Context, id, ers string, finish func(state, ers, errText string) (store.Refund, error)) {
	for {
		select {
		case <-r.done:
			return
		case <-ctx.Done():
			return
		case <-time.After(r.cfg.RecordRetry):
		}
		done, err := finish("done", ers, "")
		if err != nil {
			continue
		}
		r.unblock(refundHoldKey(id))
		r.log.Info("held refund recorded", zap.String("refund", id), zap.String("ersReference", ers))
		r.postRefund(ctx, done)
		return
	}
}

// postRefund writes a recorded refund's transaction post, or hands it to
// the background retry (new payments refused until it is written).
func (r *Register) postRefund(ctx context.Context, done store.Refund) {
	if err := r.appendPost(refundPost(done)); err != nil {
		if errors.Is(err, receipt.ErrInvalidPost) {
			// The file refuses this post whatever the disk does: retrying
			// would refuse every new payment forever. Raised for manual
			// handling; the refund stays recorded in the database.
			r.log.Error("refund post refused by the receipt file; raised for manual handling", zap.String("payment", done.PaymentID),
				zap.String("refund", done.ID), zap.String("ersReference", done.ERSReference), zap.Error(err))
			r.audit(ctx, done.PaymentID, "posd", "refund_post", "failure: "+err.Error(),
				"refund "+done.ID+" ("+done.ERSReference+") recorded in the database but refused by the receipt file")
			return
		}
		r.log.Error("refund post not written yet; retrying", zap.String("refund", done.ID), zap.Error(err))
		r.block("post:" + done.ERSReference) // refuse new payments until the post is written (D1)
		r.startLoop(ctx, spawnReq{posts: []receipt.Post{refundPost(done)}})
	}
	r.log.Info("refund done", zap.String("payment", done.PaymentID), zap.String("refund", done.ID),
		zap.String("ersReference", done.ERSReference), zap.String("amount", done.Amount.String()))
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
	held := r.blocked[refundHoldKey(rf.ID)]
	r.mu.Unlock()
	if held {
		return Refund{}, fmt.Errorf("%w: refund %s done at SEQR but not recorded yet; posd keeps trying", ErrStorage, rf.ID)
	}
	return Refund{}, fmt.Errorf("refund %s with this Idempotency-Key is still being sent; look at the payment shortly: %w", rf.ID, ErrInvalidState)
}

func refundView(rf store.Refund) Refund {
	return Refund{ID: rf.ID, PaymentID: rf.PaymentID, Amount: rf.Amount, Currency: rf.Currency,
		ERSReference: rf.ERSReference, CashierID: rf.CashierID, Reason: rf.Reason, CreatedAt: rf.CreatedAt.UTC()}
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
	marked, err := r.db.MarkSendingRefundsUnknown(ctx, "posd stopped while refundPayment was on its way; outcome unknown, never resent",
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
