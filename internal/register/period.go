package register

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/seqr"
	"github.com/posd/posd/internal/store"
)

// Report ids of SEQR's per-terminal reconciliation (spec 5.6).
const (
	reportSummary = "Reconciliation/STD_RECON_006.xml" // SalesCount, SalesTotal
	reportDetails = "Reconciliation/STD_RECON_007.xml" // one Row per transaction
)

// ClosePeriod closes the till's SEQR transaction period and reconciles it:
// markTransactionPeriod for this terminal, the period stored at once (so a
// crash before the report re-reads the same period), then executeReport
// STD_RECON_006 and 007, retried on REPORT_NOT_READY every ReportRetry up to
// ReportTimeout, compared with the payments recorded paid in the period.
//
// The TERMINALID principal is used: reseller credentials are never stored
// (spec G5: the server accepts the terminal for these calls).
func (r *Register) ClosePeriod(ctx context.Context) (PeriodReport, error) {
	r.periodMu.Lock()
	defer r.periodMu.Unlock()
	term, err := r.terminal(ctx)
	if err != nil {
		return PeriodReport{}, err
	}
	period, ok, err := r.db.UnreportedPeriod(ctx)
	if err != nil {
		return PeriodReport{}, err
	}
	if !ok {
		// A payment still open could be paid at SEQR before the mark and
		// recorded here after it (or the other way round): refuse until
		// it is final. A period already marked is re-read regardless.
		if err := r.checkNoneInFlight(ctx); err != nil {
			return PeriodReport{}, err
		}
		if period, err = r.markPeriod(ctx, term); err != nil {
			return PeriodReport{}, err
		}
		// SEQR asks for a pause between mark and report.
		if !sleepCtx(ctx, r.cfg.ReportRetry) {
			return PeriodReport{}, ctx.Err()
		}
	} else {
		r.log.Info("re-reading a period marked earlier", zap.String("period", period.TransactionPeriodID))
	}

	params := []seqr.Param{{Key: "transactionPeriodId", Value: period.TransactionPeriodID}, {Key: "TERMINALID", Value: term.TerminalID}}
	deadline := time.Now().Add(r.cfg.ReportTimeout)
	summary, err := r.report(ctx, term, reportSummary, params, deadline)
	if err != nil {
		return PeriodReport{}, err
	}
	details, err := r.report(ctx, term, reportDetails, params, deadline)
	if err != nil {
		return PeriodReport{}, err
	}
	rep, err := r.compare(ctx, period, summary, details)
	if err != nil {
		return PeriodReport{}, err
	}
	b, _ := json.Marshal(rep)
	outcome := "success: match"
	if !rep.Match {
		outcome = fmt.Sprintf("failure: mismatch, only at SEQR %v, only local %v", rep.OnlyRemote, rep.OnlyLocal)
	}
	if err := r.db.FinishPeriod(ctx, period.ID, b, store.Audit{Actor: "posd", Event: "period_report", Outcome: outcome,
		Origin: "api", Detail: "period " + period.TransactionPeriodID}); err != nil {
		return PeriodReport{}, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	if !rep.Match {
		r.log.Warn("period does not reconcile", zap.String("period", rep.TransactionPeriodID),
			zap.Strings("onlySEQR", rep.OnlyRemote), zap.Strings("onlyLocal", rep.OnlyLocal),
			zap.Int("remoteCount", rep.RemoteCount), zap.Int("localCount", rep.LocalCount))
	}
	return rep, nil
}

// checkNoneInFlight refuses a period close while any payment is polling,
// awaiting the cashier's decision or being recorded (also a PAID held in
// memory for want of storage).
func (r *Register) checkNoneInFlight(ctx context.Context) error {
	n, err := r.db.CountInFlight(ctx)
	if err != nil {
		return err
	}
	r.mu.Lock()
	for key := range r.blocked {
		if !strings.Contains(key, ":") { // a payment id: its PAID is held in memory
			if sp, err := r.db.Payment(ctx, key); err == nil && State(sp.State) != StatePolling && State(sp.State) != StateAwaitingDecision {
				n++ // not counted above
			}
		}
	}
	r.mu.Unlock()
	if n > 0 {
		return fmt.Errorf("close period: %d payments still open: finish or cancel them before closing the period: %w", n, ErrInvalidState)
	}
	return nil
}

func (r *Register) markPeriod(ctx context.Context, term terminalCreds) (store.Period, error) {
	start := time.Time{}
	if last, ok, err := r.db.LastPeriod(ctx); err != nil {
		return store.Period{}, err
	} else if ok {
		start = last.MarkedAt
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
	defer cancel()
	id, err := r.seqr.MarkTransactionPeriod(cctx, term.principal(), []seqr.Param{{Key: "TERMINALID", Value: term.TerminalID}})
	if err != nil {
		return store.Period{}, providerError("markTransactionPeriod", err, term.Password)
	}
	p, err := r.db.SavePeriod(context.WithoutCancel(ctx), store.Period{TransactionPeriodID: id, Start: start, MarkedAt: r.now()},
		store.Audit{Actor: "posd", Event: "mark_period", Outcome: "success", Origin: "api", Detail: "period " + id})
	if err != nil {
		return store.Period{}, fmt.Errorf("%w: period %s marked at SEQR but not stored: %v", ErrStorage, id, err)
	}
	return p, nil
}

// report runs executeReport until it is ready or the deadline passes.
func (r *Register) report(ctx context.Context, term terminalCreds, reportID string, params []seqr.Param, deadline time.Time) (seqr.ReconReport, error) {
	for {
		cctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
		rep, err := r.seqr.ExecuteReport(cctx, term.principal(), reportID, "en", params)
		cancel()
		if err == nil {
			parsed, perr := seqr.ParseReconReport(rep.XML())
			if perr != nil {
				return seqr.ReconReport{}, fmt.Errorf("%s: %w: %v", reportID, ErrProviderRejected, perr)
			}
			return parsed, nil
		}
		if code, ok := seqr.Code(err); !ok || code != seqr.ResultReportNotReady {
			return seqr.ReconReport{}, providerError("executeReport "+reportID, err, term.Password)
		}
		if time.Now().Add(r.cfg.ReportRetry).After(deadline) {
			return seqr.ReconReport{}, fmt.Errorf("%s: %w (waited %s)", reportID, ErrReportNotReady, r.cfg.ReportTimeout)
		}
		if !sleepCtx(ctx, r.cfg.ReportRetry) {
			return seqr.ReconReport{}, ctx.Err()
		}
	}
}

// field reads a report field by any of its names, ignoring case.
func field(m map[string]string, names ...string) (string, bool) {
	for k, v := range m {
		for _, n := range names {
			if strings.EqualFold(k, n) {
				return v, true
			}
		}
	}
	return "", false
}

func (r *Register) compare(ctx context.Context, period store.Period, summary, details seqr.ReconReport) (PeriodReport, error) {
	rep := PeriodReport{TransactionPeriodID: period.TransactionPeriodID, MarkedAt: period.MarkedAt.UTC(),
		OnlyRemote: []string{}, OnlyLocal: []string{}}
	// The summary is one row (or the Meta) with SalesCount and SalesTotal.
	sources := append([]map[string]string{summary.Meta}, summary.Rows...)
	var haveCount, haveTotal bool
	for _, m := range sources {
		if s, ok := field(m, "SalesCount", "Count"); ok && !haveCount {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return rep, fmt.Errorf("%s SalesCount %q: %w", reportSummary, s, ErrProviderRejected)
			}
			rep.RemoteCount, haveCount = n, true
		}
		if s, ok := field(m, "SalesTotal", "Total", "SalesAmount"); ok && !haveTotal {
			a, err := money.Parse(strings.TrimSpace(s))
			if err != nil {
				return rep, fmt.Errorf("%s SalesTotal %q: %w", reportSummary, s, ErrProviderRejected)
			}
			rep.RemoteTotal, haveTotal = a, true
		}
	}
	if !haveCount || !haveTotal {
		return rep, fmt.Errorf("%s has no SalesCount/SalesTotal: %w", reportSummary, ErrProviderRejected)
	}

	remote := map[string]money.Amount{}
	remoteInvoice := map[string]string{} // ersReference -> invoiceReference
	for i, row := range details.Rows {
		ref, ok := field(row, "ErsReference", "PaymentReference", "Reference")
		if !ok || ref == "" {
			return rep, fmt.Errorf("%s row %d has no ErsReference: %w", reportDetails, i+1, ErrProviderRejected)
		}
		amt, _ := field(row, "SalesAmount", "Amount")
		a, err := money.Parse(strings.TrimSpace(amt))
		if err != nil {
			a = 0
		}
		remote[ref] = a
		if inv, ok := field(row, "InvoiceReference"); ok {
			remoteInvoice[ref] = inv
		}
	}

	paid, err := r.db.PaidBetween(ctx, period.Start, period.MarkedAt)
	if err != nil {
		return rep, err
	}
	local := map[string]money.Amount{}
	for _, p := range paid {
		local[p.ERSReference] = p.Amount
		rep.LocalCount++
		rep.LocalTotal += p.Amount
	}
	// STD_RECON_007 names SEQR's transactions by ersReference: a payment
	// SEQR counts in this period that posd recorded paid just outside the
	// period's local bounds (paid at SEQR before the mark, polled after)
	// is matched by its reference, not reported missing.
	for ref := range remote {
		if _, ok := local[ref]; ok {
			continue
		}
		if p, err := r.db.PaymentByReference(ctx, ref); err == nil && State(p.State) == StatePaid {
			r.log.Info("period: payment recorded outside the period's bounds matched by ersReference",
				zap.String("payment", p.ID), zap.String("ersReference", ref), zap.Time("paidAt", p.PaidAt),
				zap.String("period", period.TransactionPeriodID))
			local[ref] = p.Amount
			rep.LocalCount++
			rep.LocalTotal += p.Amount
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
		r.flagUnknownPaid(ctx, rep.OnlyRemote, remoteInvoice)
	}
	sort.Strings(rep.OnlyRemote)
	sort.Strings(rep.OnlyLocal)
	rep.Match = rep.RemoteCount == rep.LocalCount && rep.RemoteTotal == rep.LocalTotal &&
		len(rep.OnlyRemote) == 0 && len(rep.OnlyLocal) == 0
	return rep, nil
}

// flagUnknownPaid raises, for manual handling, local payments whose outcome
// posd never learned but which SEQR reports paid (reliability E2). They are
// never refunded or marked paid automatically.
func (r *Register) flagUnknownPaid(ctx context.Context, onlyRemote []string, invoiceOf map[string]string) {
	open, err := r.db.Payments(ctx, string(StateUnknown), string(StatePolling), string(StateAwaitingDecision))
	if err != nil {
		return
	}
	byInvoice := map[string]store.Payment{}
	for _, p := range open {
		if p.InvoiceReference != "" {
			byInvoice[p.InvoiceReference] = p
		}
	}
	for _, ers := range onlyRemote {
		if p, ok := byInvoice[invoiceOf[ers]]; ok {
			r.log.Warn("SEQR reports paid a payment posd holds as not final: manual handling needed",
				zap.String("payment", p.ID), zap.String("state", p.State), zap.String("ersReference", ers),
				zap.String("invoiceReference", p.InvoiceReference))
			r.audit(ctx, p.ID, "posd", "period_report", "failure: paid at SEQR, "+p.State+" locally",
				"ersReference "+ers+"; raised for manual handling, not changed automatically")
		}
	}
}
