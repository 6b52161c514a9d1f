package register

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/store"
)

// A refund, annulment or debit whose answer was lost is "unknown": never
// sent again, and it blocks the payment's other adjustments. Where the
// provider can tell whether it was made (payment.Confirmer: Resurs keeps
// posd's id of each diff), posd asks at start and every ConfirmInterval:
// made -> done, with its post (and a debit's tasks); shown not made once
// it is older than UnknownFailAge (no request of it can still be on its
// way) -> failed, so the cashier may try again. Anything else leaves it
// unknown for the next round, or the day close.

// confirmLoop asks about unknown adjustments until ctx ends.
func (r *Register) confirmLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.ConfirmInterval)
	defer t.Stop()
	for {
		r.confirmUnknown(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *Register) confirmUnknown(ctx context.Context) {
	for _, pv := range r.provs {
		c, ok := pv.Provider.(payment.Confirmer)
		if !ok {
			continue
		}
		unknown, err := r.db.UnknownAdjustments(ctx, pv.name)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("list unknown adjustments", zap.String("provider", pv.name), zap.Error(err))
			}
			continue
		}
		for _, rf := range unknown {
			if ctx.Err() != nil {
				return
			}
			if err := r.confirm(ctx, pv, c, rf); err != nil {
				r.log.Info(what(rf.Kind)+" still unknown", zap.String("payment", rf.PaymentID), zap.String("refund", rf.ID), zap.Error(err))
			}
		}
	}
}

// confirm asks pv about one unknown adjustment and records what it shows.
func (r *Register) confirm(ctx context.Context, pv *prov, c payment.Confirmer, rf store.Refund) error {
	p, err := r.db.Payment(ctx, rf.PaymentID)
	if err != nil {
		return err
	}
	unlock := r.payLocks.lock(p.ID)
	cctx, cancel := context.WithTimeout(ctx, r.policy(pv, p.Method).CallTimeout)
	res, err := c.Confirm(cctx, labelKind(rf.Kind), payment.RefundOrder{RefundID: rf.ID, PaymentID: p.ID, Method: p.Method,
		Session: sessionOf(p), TransactionRef: p.TransactionRef, Amount: rf.Amount, Currency: rf.Currency,
		CashierID: rf.CashierID, Reason: rf.Reason})
	cancel()
	unlock()
	wctx := context.WithoutCancel(ctx)
	switch {
	case errors.Is(err, payment.ErrNotMade):
		if age := r.now().Sub(rf.UpdatedAt); age < r.cfg.UnknownFailAge {
			return fmt.Errorf("not made at %s yet; believed after %s (now %s)", pv.name, r.cfg.UnknownFailAge, age.Round(time.Second))
		}
		failed, err := r.db.FailUnknownRefund(wctx, rf.ID, fmt.Sprintf("%s shows it was never made (asked %s after it was sent)",
			pv.name, r.now().Sub(rf.CreatedAt).Round(time.Second)), store.Audit{Actor: "posd", Event: rf.Kind + "_not_made",
			Outcome: "success", Origin: "recovery", Detail: what(rf.Kind) + " " + rf.ID + " not made at " + pv.name})
		if err != nil {
			return err
		}
		r.log.Warn(what(rf.Kind)+" whose answer was lost was never made: recorded failed; it may be asked again",
			zap.String("payment", failed.PaymentID), zap.String("refund", failed.ID), zap.String("amount", failed.Amount.String()))
		return nil
	case err != nil:
		return err
	case res.Ref == "":
		return fmt.Errorf("%s confirmed it without a reference", pv.name)
	}
	var tasks []store.OutboxTask
	for _, t := range res.Tasks {
		tasks = append(tasks, store.OutboxTask{Provider: pv.name, Kind: t.Kind, Payload: t.Payload})
	}
	done, err := r.db.SettleUnknownRefund(wctx, rf.ID, res.Ref, store.Audit{Actor: "posd", Event: rf.Kind + "_confirmed",
		Outcome: "success", Origin: "recovery", Detail: fmt.Sprintf("%s %s found made at %s as %s", what(rf.Kind), rf.ID, pv.name, res.Ref)},
		tasks...)
	if err != nil {
		return err
	}
	r.log.Info(what(rf.Kind)+" whose answer was lost confirmed made", zap.String("payment", done.PaymentID),
		zap.String("refund", done.ID), zap.String("reference", done.ProviderRef))
	r.postRefund(ctx, done)
	return nil
}
