package register

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/store"
)

// findWindows is how many check windows findSession asks for a session it
// cannot identify yet before it gives up: the customer had that long to pay.
const findWindows = 2

// findSession follows a payment whose start's reply was lost (issue 11 item
// 7): the provider's Finder is asked at the check interval until it finds
// the session (the payment goes back to polling, with its reference, and is
// followed as usual, so a customer who pays completes the sale), says there
// is none (canceled: nothing to charge), or the payment stays unidentified
// for findWindows windows (canceled: nobody checks it, and SEQR reverses
// what nobody checks). If posd stops meanwhile it stays unknown and the
// next start asks again.
func (r *Register) findSession(ctx context.Context, sp store.Payment) {
	pv, err := r.providerOf(sp)
	if err != nil {
		return
	}
	f, ok := pv.Provider.(payment.Finder)
	if !ok {
		return
	}
	pol := r.policy(pv, sp.Method)
	order, err := orderOf(sp, sp.CreatedAt)
	if err != nil {
		r.log.Error("find a lost session: rebuild the order", zap.String("payment", sp.ID), zap.Error(err))
		return
	}
	limit := pol.Window * findWindows
	if limit <= 0 {
		limit = 60 * time.Second
	}
	deadline := r.now().Add(limit)
	tick := time.NewTicker(pol.CheckInterval)
	defer tick.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, pol.CheckTimeout)
		sess, err := f.Find(cctx, order)
		cancel()
		if ctx.Err() != nil {
			return
		}
		switch {
		case err == nil && sess.Ref != "":
			r.foundSession(ctx, sp, sess, pol)
			return
		case errors.Is(err, payment.ErrNoSession):
			r.noSession(ctx, sp, "the provider has no session of it: "+err.Error())
			return
		case errors.Is(err, errors.ErrUnsupported):
			r.log.Warn("cannot look for a lost session; the payment stays unknown", zap.String("payment", sp.ID), zap.Error(err))
			return
		}
		if !r.now().Before(deadline) {
			r.noSession(ctx, sp, "not identified within "+limit.String()+" (last answer: "+errText(err)+")")
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func errText(err error) string {
	if err == nil {
		return "none"
	}
	return err.Error()
}

func (r *Register) foundSession(ctx context.Context, sp store.Payment, sess payment.Session, pol payment.Policy) {
	now := r.now()
	view, _ := viewJSON(sess.View)
	next, err := r.transition(context.WithoutCancel(ctx), sp.ID, evRecoverFound, StatePolling, change{origin: "recovery",
		detail: "the session of a start whose reply was lost found at the provider: " + sess.Ref,
		edit: func(p *store.Payment) {
			p.SessionRef, p.ProviderData, p.CustomerView, p.Progress, p.Error = sess.Ref, sess.Data, view, sess.Progress, ""
			if pol.Window > 0 {
				p.Window, p.WindowEndsAt = max(p.Window, 1), now.Add(pol.Window)
			}
		}})
	if err != nil {
		r.log.Error("record a found session", zap.String("payment", sp.ID), zap.String("session", sess.Ref), zap.Error(err))
		return
	}
	r.log.Info("lost session found; following it", zap.String("payment", sp.ID), zap.String("session", sess.Ref))
	r.publishState(next, "payment found at the provider")
	r.startLoop(ctx, spawnReq{p: next})
}

func (r *Register) noSession(ctx context.Context, sp store.Payment, why string) {
	msg := "posd stopped while starting the payment; " + why + "; not charged"
	next, err := r.transition(context.WithoutCancel(ctx), sp.ID, evRecoverNone, StateCanceled, change{origin: "recovery",
		detail: why, edit: func(p *store.Payment) { p.Error = msg }})
	if err != nil {
		r.log.Error("cancel an unmatched payment", zap.String("payment", sp.ID), zap.Error(err))
		return
	}
	r.log.Warn("payment whose start reply was lost canceled", zap.String("payment", sp.ID), zap.String("why", why))
	r.obs.PaymentFinished(sp.Provider, StateCanceled)
	r.publishState(next, msg)
}
