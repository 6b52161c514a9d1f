package register

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/seqr"
	"github.com/posd/posd/internal/store"
)

// Refund refunds part or all of a paid payment. The total of refunds that
// may have happened never exceeds the amount paid: checked locally, in the
// same transaction that records the refund, before refundPayment is sent.
// Each refund gets its own reference and its own transaction post.
func (r *Register) Refund(ctx context.Context, id string, req RefundRequest) (Refund, error) {
	if req.Amount <= 0 {
		return Refund{}, &ValidationError{Field: "amount", Message: fmt.Sprintf("must be greater than 0, got %s", req.Amount)}
	}
	if len(req.CashierID) > 64 {
		return Refund{}, &ValidationError{Field: "cashierId", Message: "at most 64 characters"}
	}
	if len(req.Reason) > 200 || strings.ContainsAny(req.Reason, "\x00") {
		return Refund{}, &ValidationError{Field: "reason", Message: "at most 200 characters"}
	}
	p, err := r.db.Payment(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Refund{}, fmt.Errorf("payment %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Refund{}, err
	}
	if State(p.State) != StatePaid {
		return Refund{}, fmt.Errorf("refund payment %s in state %s: %w", id, p.State, ErrInvalidState)
	}
	term, err := r.terminal(ctx)
	if err != nil {
		return Refund{}, err
	}
	if err := r.storageGate(ctx); err != nil {
		return Refund{}, err
	}
	actor := actorOf(req.CashierID)
	rf, err := r.db.BeginRefund(ctx, store.Refund{ID: newID(), PaymentID: id, Amount: req.Amount, Currency: p.Currency,
		CashierID: req.CashierID, Reason: req.Reason}, p.Amount,
		store.Audit{Actor: actor, Event: "refund_begin", Outcome: "success", Origin: "api",
			Detail: fmt.Sprintf("refund %s %s of %s", req.Amount, p.Currency, p.ERSReference)})
	if errors.Is(err, store.ErrRefundExceeds) {
		return Refund{}, fmt.Errorf("refund %s of payment %s (paid %s): %w", req.Amount, id, p.Amount, ErrRefundExceeds)
	}
	if err != nil {
		return Refund{}, fmt.Errorf("%w: %v", ErrStorage, err)
	}

	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.CallTimeout)
	defer cancel()
	ersRef, err := r.seqr.RefundPayment(cctx, term.principal(), p.ERSReference, seqr.Invoice{
		Title: "Refund", CashierID: req.CashierID, Total: req.Amount, Currency: p.Currency,
	})
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
		state, ret := "unknown", fmt.Errorf("refund %s: %w: outcome unknown: %v", rf.ID, ErrOffline, err)
		code, isCode := seqr.Code(err)
		switch {
		case isCode && code == seqr.ResultRefundExceedsOriginal:
			state, ret = "failed", fmt.Errorf("refund %s: %w (SEQR 98)", rf.ID, ErrRefundExceeds)
		case isCode:
			state, ret = "failed", fmt.Errorf("refund %s: %w: %d %s", rf.ID, ErrProviderRejected, code, seqr.ResultName(code))
		case errors.Is(err, seqr.ErrNotSent):
			state, ret = "failed", fmt.Errorf("refund %s: %w: not sent", rf.ID, ErrOffline)
		}
		if _, ferr := finish(state, "", describe("refundPayment", err)); ferr != nil {
			r.log.Error("record refund outcome", zap.String("refund", rf.ID), zap.Error(ferr))
		}
		return Refund{}, ret
	}
	done, err := finish("done", ersRef, "")
	if err != nil {
		// SEQR refunded; the row stays "sending" and counts against the limit.
		r.log.Error("record refund", zap.String("refund", rf.ID), zap.String("ersReference", ersRef), zap.Error(err))
		return Refund{}, fmt.Errorf("%w: refund %s done at SEQR (%s) but not recorded: %v", ErrStorage, rf.ID, ersRef, err)
	}
	if err := r.appendPost(refundPost(done)); err != nil {
		r.log.Error("refund post not written yet; retrying", zap.String("refund", rf.ID), zap.Error(err))
		key := "post:" + done.ERSReference
		r.block(key) // refuse new payments until the post is written (D1)
		r.startLoop(ctx, spawnReq{posts: []receipt.Post{refundPost(done)}})
	}
	r.log.Info("refund done", zap.String("payment", id), zap.String("refund", rf.ID), zap.String("ersReference", ersRef),
		zap.String("amount", req.Amount.String()))
	return Refund{ID: done.ID, PaymentID: done.PaymentID, Amount: done.Amount, Currency: done.Currency,
		ERSReference: done.ERSReference, CashierID: done.CashierID, Reason: done.Reason, CreatedAt: done.CreatedAt.UTC()}, nil
}
