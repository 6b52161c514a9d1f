package seqr

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/payment"
)

// Report ids of SEQR's per-terminal reconciliation (spec 5.6).
const (
	ReportSummary = "Reconciliation/STD_RECON_006.xml" // SalesCount, SalesTotal
	ReportDetails = "Reconciliation/STD_RECON_007.xml" // one Row per transaction
)

// MarkPeriod closes the terminal's transaction period. The TERMINALID
// principal is used: reseller credentials are never stored (spec G5).
func (a *Adapter) MarkPeriod(ctx context.Context, _, _ time.Time) (string, error) {
	reg, ok, err := a.registration(ctx)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", notRegistered()
	}
	id, err := a.client.MarkTransactionPeriod(ctx, Terminal(reg.TerminalID, reg.Password),
		[]Param{{Key: "TERMINALID", Value: reg.TerminalID}})
	if err != nil {
		return "", apiError("markTransactionPeriod", err, reg.Password)
	}
	return id, nil
}

// Report reads STD_RECON_006 (count, total) and STD_RECON_007 (one row per
// transaction, by ersReference) of a marked period. Code 2 is
// payment.ErrReportNotReady.
func (a *Adapter) Report(ctx context.Context, period string, _, _ time.Time) (payment.Report, error) {
	reg, ok, err := a.registration(ctx)
	if err != nil {
		return payment.Report{}, err
	}
	if !ok {
		return payment.Report{}, notRegistered()
	}
	p := Terminal(reg.TerminalID, reg.Password)
	params := []Param{{Key: "transactionPeriodId", Value: period}, {Key: "TERMINALID", Value: reg.TerminalID}}
	summary, err := a.report(ctx, p, ReportSummary, params)
	if err != nil {
		return payment.Report{}, err
	}
	details, err := a.report(ctx, p, ReportDetails, params)
	if err != nil {
		return payment.Report{}, err
	}
	return reconcile(summary, details)
}

func (a *Adapter) report(ctx context.Context, p Principal, id string, params []Param) (ReconReport, error) {
	rep, err := a.client.ExecuteReport(ctx, p, id, "en", params)
	if code, ok := Code(err); ok && code == ResultReportNotReady {
		return ReconReport{}, fmt.Errorf("%s: %w", id, payment.ErrReportNotReady)
	}
	if err != nil {
		return ReconReport{}, apiError("executeReport "+id, err, p.Password)
	}
	parsed, err := ParseReconReport(rep.XML())
	if err != nil {
		return ReconReport{}, &payment.RefusedError{Message: fmt.Sprintf("%s: %v", id, err), Err: err}
	}
	return parsed, nil
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

var errReport = errors.New("report not understood")

// reconcile turns the two reports into the neutral form.
func reconcile(summary, details ReconReport) (payment.Report, error) {
	var rep payment.Report
	// The summary is one row (or the Meta) with SalesCount and SalesTotal.
	sources := append([]map[string]string{summary.Meta}, summary.Rows...)
	var haveCount, haveTotal bool
	for _, m := range sources {
		if s, ok := field(m, "SalesCount", "Count"); ok && !haveCount {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return rep, fmt.Errorf("%s SalesCount %q: %w", ReportSummary, s, errReport)
			}
			rep.Count, haveCount = n, true
		}
		if s, ok := field(m, "SalesTotal", "Total", "SalesAmount"); ok && !haveTotal {
			amt, err := money.Parse(strings.TrimSpace(s))
			if err != nil {
				return rep, fmt.Errorf("%s SalesTotal %q: %w", ReportSummary, s, errReport)
			}
			rep.Total, haveTotal = amt, true
		}
	}
	if !haveCount || !haveTotal {
		return rep, fmt.Errorf("%s has no SalesCount/SalesTotal: %w", ReportSummary, errReport)
	}
	for i, row := range details.Rows {
		ref, ok := field(row, "ErsReference", "PaymentReference", "Reference")
		if !ok || ref == "" {
			return rep, fmt.Errorf("%s row %d has no ErsReference: %w", ReportDetails, i+1, errReport)
		}
		amt, _ := field(row, "SalesAmount", "Amount")
		a, err := money.Parse(strings.TrimSpace(amt))
		if err != nil {
			a = 0
		}
		line := payment.ReportLine{Ref: ref, Amount: a}
		if inv, ok := field(row, "InvoiceReference"); ok {
			line.SessionRef = inv
		}
		rep.Lines = append(rep.Lines, line)
	}
	return rep, nil
}
