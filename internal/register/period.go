package register

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/store"
)

// ClosePeriod closes a provider's transaction period and reconciles it:
// the provider marks the period, posd stores it at once (so a crash before
// the report re-reads the same period), then reads the provider's report,
// retried while not ready every ReportRetry up to ReportTimeout, and compares
// it with the payments recorded paid in the period. provider "" is the
// first configured provider that has a period report (SEQR when configured).
func (r *Register) ClosePeriod(ctx context.Context, provider string) (PeriodReport, error) {
	pv, rec, err := r.reconciler(provider)
	if err != nil {
		return PeriodReport{}, err
	}
	r.periodMu.Lock()
	defer r.periodMu.Unlock()
	if err := pv.Ready(ctx); err != nil {
		return PeriodReport{}, readyError(err)
	}
	period, ok, err := r.db.UnreportedPeriod(ctx, pv.name)
	if err != nil {
		return PeriodReport{}, err
	}
	if !ok {
		// A payment still open could be paid at the provider before the
		// mark and recorded here after it (or the other way round): refuse
		// until it is final. A period already marked is re-read regardless.
		if err := r.checkNoneInFlight(ctx, pv.name); err != nil {
			return PeriodReport{}, err
		}
		if period, err = r.markPeriod(ctx, pv, rec); err != nil {
			return PeriodReport{}, err
		}
		// SEQR asks for a pause between mark and report.
		if !sleepCtx(ctx, r.cfg.ReportRetry) {
			return PeriodReport{}, ctx.Err()
		}
	} else {
		r.log.Info("re-reading a period marked earlier", zap.String("provider", pv.name), zap.String("period", period.Ref))
	}
	remote, err := r.report(ctx, rec, period)
	if err != nil {
		return PeriodReport{}, err
	}
	rep, matched, err := r.compare(ctx, period, remote)
	if err != nil {
		return PeriodReport{}, err
	}
	rep.SettledRefunds = r.settleRefunds(ctx, period, remote)
	return rep, r.finishPeriod(ctx, period, rep, matched)
}

func (r *Register) reconciler(provider string) (*prov, payment.Reconciler, error) {
	if provider != "" {
		pv := r.byName[provider]
		if pv == nil {
			return nil, nil, &ValidationError{Field: "provider", Message: fmt.Sprintf("provider %q is not configured", provider)}
		}
		rec, ok := pv.Provider.(payment.Reconciler)
		if !ok {
			return nil, nil, fmt.Errorf("close period of %s: %w", provider, ErrNotSupported)
		}
		return pv, rec, nil
	}
	for _, pv := range r.provs {
		if rec, ok := pv.Provider.(payment.Reconciler); ok {
			return pv, rec, nil
		}
	}
	return nil, nil, fmt.Errorf("close period: %w", ErrNotSupported)
}

func (r *Register) finishPeriod(ctx context.Context, period store.Period, rep PeriodReport, matched []string) error {
	b, _ := json.Marshal(rep)
	outcome := "success: match"
	if !rep.Match {
		outcome = fmt.Sprintf("failure: mismatch, only at %s %v, only local %v", period.Provider, rep.OnlyRemote, rep.OnlyLocal)
	}
	if err := r.db.FinishPeriod(ctx, period.ID, b, store.Audit{Provider: period.Provider, Actor: "posd", Event: "period_report",
		Outcome: outcome, Origin: "api", Detail: "period " + period.Ref}, matched...); err != nil {
		return fmt.Errorf("%w: %v", ErrStorage, err)
	}
	if !rep.Match {
		r.log.Warn("period does not reconcile", zap.String("provider", period.Provider), zap.String("period", rep.PeriodRef),
			zap.Strings("onlyRemote", rep.OnlyRemote), zap.Strings("onlyLocal", rep.OnlyLocal),
			zap.Int("remoteCount", rep.RemoteCount), zap.Int("localCount", rep.LocalCount))
	}
	return nil
}

// checkNoneInFlight refuses a period close while any payment of the
// provider is being checked, awaiting the cashier's decision or being
// recorded (also a paid payment held in memory for want of storage).
// Long-lived payments waiting for their customer ("Betala sen") do not
// hold it up: their sale is in the period they are paid in.
func (r *Register) checkNoneInFlight(ctx context.Context, provider string) error {
	pv := r.byName[provider]
	var waiting []string
	for _, m := range pv.Methods() {
		if r.policy(pv, m).LongLived {
			waiting = append(waiting, m)
		}
	}
	n, err := r.db.CountInFlight(ctx, provider, waiting...)
	if err != nil {
		return err
	}
	r.mu.Lock()
	held := make([]string, 0, len(r.held.paid))
	for id := range r.held.paid {
		held = append(held, id)
	}
	r.mu.Unlock()
	for _, id := range held {
		if sp, err := r.db.Payment(ctx, id); err == nil && sp.Provider == provider &&
			State(sp.State) != StatePolling && State(sp.State) != StateAwaitingDecision {
			n++ // not counted above
		}
	}
	if n > 0 {
		return fmt.Errorf("close period: %d payments still open: finish or cancel them before closing the period: %w", n, ErrInvalidState)
	}
	return nil
}

func (r *Register) markPeriod(ctx context.Context, pv *prov, rec payment.Reconciler) (store.Period, error) {
	start := time.Time{}
	if last, ok, err := r.db.LastPeriod(ctx, pv.name); err != nil {
		return store.Period{}, err
	} else if ok {
		start = last.MarkedAt
	}
	now := r.now()
	cctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
	defer cancel()
	id, err := rec.MarkPeriod(cctx, start, now)
	if err != nil {
		return store.Period{}, enrollError("mark period", err)
	}
	p, err := r.db.SavePeriod(context.WithoutCancel(ctx), store.Period{Provider: pv.name, Ref: id, Start: start, MarkedAt: now},
		store.Audit{Provider: pv.name, Actor: "posd", Event: "mark_period", Outcome: "success", Origin: "api", Detail: "period " + id})
	if err != nil {
		return store.Period{}, fmt.Errorf("%w: period %s marked at %s but not stored: %v", ErrStorage, id, pv.name, err)
	}
	return p, nil
}

// report asks for the period's report until it is ready or the deadline passes.
func (r *Register) report(ctx context.Context, rec payment.Reconciler, period store.Period) (payment.Report, error) {
	deadline := time.Now().Add(r.cfg.ReportTimeout)
	for {
		cctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
		rep, err := rec.Report(cctx, period.Ref, period.Start, period.MarkedAt)
		cancel()
		if err == nil {
			return rep, nil
		}
		if !errors.Is(err, payment.ErrReportNotReady) {
			return payment.Report{}, enrollError("period report", err)
		}
		if time.Now().Add(r.cfg.ReportRetry).After(deadline) {
			return payment.Report{}, fmt.Errorf("period %s: %w (waited %s)", period.Ref, ErrReportNotReady, r.cfg.ReportTimeout)
		}
		if !sleepCtx(ctx, r.cfg.ReportRetry) {
			return payment.Report{}, ctx.Err()
		}
	}
}

// compare matches the report with the payments recorded paid in the
// period; it also returns the payments it matched by reference outside the
// period's bounds, which belong to this period (FinishPeriod records it).
func (r *Register) compare(ctx context.Context, period store.Period, remoteRep payment.Report) (PeriodReport, []string, error) {
	rep := PeriodReport{Provider: period.Provider, PeriodRef: period.Ref, MarkedAt: period.MarkedAt.UTC(),
		RemoteCount: remoteRep.Count, RemoteTotal: remoteRep.Total, OnlyRemote: []string{}, OnlyLocal: []string{}}
	if period.Provider == "seqr" {
		rep.TransactionPeriodID = period.Ref
	}
	remote := map[string]money.Amount{}
	sessionOfRef := map[string]string{} // transaction reference -> session reference
	for _, l := range remoteRep.Lines {
		if l.Refund && !remoteRep.Net {
			continue
		}
		remote[l.Ref] = l.Amount
		if l.SessionRef != "" {
			sessionOfRef[l.Ref] = l.SessionRef
		}
	}
	paid, err := r.db.PaidBetween(ctx, period.Provider, period.ID, period.Start, period.MarkedAt)
	if err != nil {
		return rep, nil, err
	}
	var matched []string
	local := map[string]money.Amount{}
	for _, p := range paid {
		local[p.TransactionRef] = p.Amount
		rep.LocalCount++
		rep.LocalTotal += p.Amount
	}
	if err := r.localAdjustments(ctx, period, remoteRep.Net, local, &rep); err != nil {
		return rep, nil, err
	}
	// The report names transactions by reference: a payment the provider
	// counts in this period that posd recorded paid just outside the
	// period's local bounds (paid before the mark, checked after) is
	// matched by its reference, not reported missing.
	for ref := range remote {
		if _, ok := local[ref]; ok {
			continue
		}
		if p, err := r.db.PaymentByReference(ctx, period.Provider, ref); err == nil && State(p.State) == StatePaid {
			r.log.Info("period: payment recorded outside the period's bounds matched by reference",
				zap.String("payment", p.ID), zap.String("reference", ref), zap.Time("paidAt", p.PaidAt),
				zap.String("period", period.Ref))
			local[ref] = p.Amount
			rep.LocalCount++
			rep.LocalTotal += p.Amount
			matched = append(matched, p.ID)
		}
	}
	for ref := range remote {
		if _, ok := local[ref]; !ok {
			rep.OnlyRemote = append(rep.OnlyRemote, ref)
		}
	}
	for ref := range local {
		if _, ok := remote[ref]; !ok {
			rep.OnlyLocal = append(rep.OnlyLocal, ref)
		}
	}
	if len(rep.OnlyRemote) > 0 {
		r.flagUnknownPaid(ctx, period.Provider, rep.OnlyRemote, sessionOfRef)
	}
	sort.Strings(rep.OnlyRemote)
	sort.Strings(rep.OnlyLocal)
	rep.Match = rep.RemoteCount == rep.LocalCount && rep.RemoteTotal == rep.LocalTotal &&
		len(rep.OnlyRemote) == 0 && len(rep.OnlyLocal) == 0
	return rep, matched, nil
}

// localAdjustments adds the period's done refunds, annulments and debits
// to the local side: debits are money taken, like payments; refunds and
// annulments count against the total when the report nets them (net).
func (r *Register) localAdjustments(ctx context.Context, period store.Period, net bool, local map[string]money.Amount, rep *PeriodReport) error {
	done, err := r.db.DoneBetween(ctx, period.Provider, period.Start, period.MarkedAt)
	if err != nil {
		return err
	}
	for _, rf := range done {
		switch {
		case rf.Kind == store.KindDebit:
			local[rf.ProviderRef] = rf.Amount
			rep.LocalCount++
			rep.LocalTotal += rf.Amount
		case net:
			local[rf.ProviderRef] = rf.Amount
			rep.LocalCount++
			rep.LocalTotal -= rf.Amount
		}
	}
	return nil
}

// settleRefunds settles refunds left unknown (posd stopped, or the answer
// was lost, while refundPayment was on its way) from the report's refund
// lines (issue 11 item 10): a line whose reference no refund of posd's has,
// for the same payment (by its transaction or session reference) and the
// same amount, is that refund, made: it is recorded done with the line's
// reference and its transaction post is written. Each line settles one
// refund at most. It returns the ids of the refunds settled.
func (r *Register) settleRefunds(ctx context.Context, period store.Period, rep payment.Report) []string {
	unknown, err := r.db.UnknownRefunds(ctx, period.Provider)
	if err != nil || len(unknown) == 0 {
		return nil
	}
	var settled []string
	used := map[int]bool{}
	for _, rf := range unknown {
		p, err := r.db.Payment(ctx, rf.PaymentID)
		if err != nil {
			continue
		}
		for i, l := range rep.Lines {
			if !l.Refund || used[i] || l.Ref == "" || l.Amount != rf.Amount {
				continue
			}
			same := (l.PaymentRef != "" && l.PaymentRef == p.TransactionRef) ||
				(l.SessionRef != "" && (l.SessionRef == p.SessionRef || l.SessionRef == p.TransactionRef))
			if !same {
				continue
			}
			if _, err := r.db.RefundByReference(ctx, period.Provider, l.Ref); err == nil {
				used[i] = true // another refund of posd's: already recorded
				continue
			}
			done, err := r.db.SettleUnknownRefund(ctx, rf.ID, l.Ref, store.Audit{Actor: "posd", Event: "refund_settled",
				Outcome: "success", Origin: "period", Detail: fmt.Sprintf("refund %s found in period %s as %s", rf.ID, period.Ref, l.Ref)})
			if err != nil {
				r.log.Error("settle an unknown refund from the period report", zap.String("refund", rf.ID), zap.Error(err))
				break
			}
			used[i] = true
			settled = append(settled, rf.ID)
			r.log.Info("unknown refund settled from the period report", zap.String("refund", rf.ID),
				zap.String("payment", rf.PaymentID), zap.String("reference", l.Ref), zap.String("period", period.Ref))
			r.postRefund(ctx, done)
			break
		}
	}
	return settled
}

// flagUnknownPaid raises, for manual handling, local payments whose outcome
// posd never learned but which the provider reports paid (reliability E2).
// They are never refunded or marked paid automatically.
func (r *Register) flagUnknownPaid(ctx context.Context, provider string, onlyRemote []string, sessionOf map[string]string) {
	open, err := r.db.Payments(ctx, string(StateUnknown), string(StatePolling), string(StateAwaitingDecision))
	if err != nil {
		return
	}
	bySession := map[string]store.Payment{}
	for _, p := range open {
		if p.Provider == provider && p.SessionRef != "" {
			bySession[p.SessionRef] = p
		}
	}
	for _, ref := range onlyRemote {
		if p, ok := bySession[sessionOf[ref]]; ok {
			r.log.Warn("the provider reports paid a payment posd holds as not final: manual handling needed",
				zap.String("payment", p.ID), zap.String("state", p.State), zap.String("reference", ref),
				zap.String("session", p.SessionRef))
			r.audit(ctx, p, "posd", "period_report", "failure: paid at "+provider+", "+p.State+" locally",
				"reference "+ref+"; raised for manual handling, not changed automatically")
		}
	}
}
