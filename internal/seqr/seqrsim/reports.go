package seqrsim

import (
	"encoding/base64"
	"slices"
	"strconv"
	"time"

	"github.com/posd/posd/internal/money"
)

// Reconciliation reports (spec 5.6). The root names of 001-004 are the
// documented ones; 005 (refund details), 006 and 007 are guessed (spec G12).
// Amounts carry five decimals, as in the samples ("93.31000").

type report struct {
	name        string // STD_RECON_00N
	root        string
	perTerminal bool
}

func reportKind(id string) (report, bool) {
	switch id {
	case "Reconciliation/Shop.xml", "Reconciliation/STD_RECON_001.xml":
		return report{name: "STD_RECON_001", root: "ResellerTransactionSummary"}, true
	case "Reconciliation/STD_RECON_002.xml":
		return report{name: "STD_RECON_002", root: "TerminalTransactionSummary"}, true
	case "Reconciliation/STD_RECON_003.xml":
		return report{name: "STD_RECON_003", root: "TransactionDetails"}, true
	case "Reconciliation/STD_RECON_004.xml":
		return report{name: "STD_RECON_004", root: "CashierTransactionSummary"}, true
	case "Reconciliation/STD_RECON_005.xml":
		return report{name: "STD_RECON_005", root: "RefundDetails"}, true
	case "Reconciliation/STD_RECON_006.xml":
		return report{name: "STD_RECON_006", root: "TerminalTransactionSummary", perTerminal: true}, true
	case "Reconciliation/STD_RECON_007.xml":
		return report{name: "STD_RECON_007", root: "TerminalTransactionDetails", perTerminal: true}, true
	}
	return report{}, false
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

type sums struct {
	sales, refunds           int
	salesTotal, refundsTotal money.Amount
}

// renderReport builds the report XML over the period's payments (PAID and
// not reversed as of now) and refunds, restricted to term when non-nil.
func (s *Sim) renderReport(k report, p *period, term *terminal, now time.Time) []byte {
	in := func(t time.Time) bool { return t.After(p.start) && !t.After(p.end) }
	var pays []*invoice
	for _, inv := range s.st.paidList {
		s.refresh(inv, now)
		if inv.status != StatusPaid || inv.term.reseller != p.reseller || !in(inv.paidAt) {
			continue
		}
		if term != nil && inv.term != term {
			continue
		}
		pays = append(pays, inv)
	}
	var refs []*refund
	for _, rf := range s.st.refundList {
		if rf.term.reseller != p.reseller || !in(rf.at) || (term != nil && rf.term != term) {
			continue
		}
		refs = append(refs, rf)
	}
	w := &xw{}
	w.Open(k.root)
	w.Open("Meta")
	w.Text("ResellerId", p.reseller.id)
	if term != nil {
		w.Text("TerminalId", term.id)
	}
	w.Text("TransactionPeriodId", p.id)
	w.Text("GeneratedAt", now.In(s.loc).Format("2006-01-02 15:04"))
	w.Close("Meta")
	amt := func(name string, a money.Amount) { w.Text(name, a.Decimals(5)) }
	count := func(name string, n int) { w.Text(name, strconv.Itoa(n)) }
	group := func(key func(*invoice) string, rkey func(*refund) string) ([]string, map[string]*sums) {
		m := map[string]*sums{}
		get := func(k string) *sums {
			if m[k] == nil {
				m[k] = &sums{}
			}
			return m[k]
		}
		for _, inv := range pays {
			g := get(key(inv))
			g.sales++
			g.salesTotal += inv.paid
		}
		for _, rf := range refs {
			g := get(rkey(rf))
			g.refunds++
			g.refundsTotal += rf.amount
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return keys, m
	}
	summary := func(g *sums) {
		count("SalesCount", g.sales)
		amt("SalesTotal", g.salesTotal)
		count("RefundCount", g.refunds)
		amt("RefundTotal", g.refundsTotal)
	}
	switch k.name {
	case "STD_RECON_001", "STD_RECON_006":
		_, m := group(func(*invoice) string { return "" }, func(*refund) string { return "" })
		g := m[""]
		if g == nil {
			g = &sums{}
		}
		w.Open("Row")
		summary(g)
		w.Close("Row")
	case "STD_RECON_002":
		keys, m := group(func(i *invoice) string { return i.term.id }, func(r *refund) string { return r.term.id })
		for _, k := range keys {
			w.Open("Row")
			w.Text("TerminalId", k)
			summary(m[k])
			w.Close("Row")
		}
	case "STD_RECON_004":
		keys, m := group(func(i *invoice) string { return i.data.cashier() }, func(r *refund) string { return r.cashier })
		for _, k := range keys {
			w.Open("Row")
			w.Text("CashierId", k)
			summary(m[k])
			w.Close("Row")
		}
	case "STD_RECON_003", "STD_RECON_007":
		for _, inv := range pays {
			w.Open("Row")
			if k.name == "STD_RECON_003" {
				w.Text("TerminalId", inv.term.id)
			}
			w.Text("CashierId", inv.data.cashier())
			amt("SalesAmount", inv.paid)
			w.Text("ErsReference", inv.ersRef)
			w.Text("InvoiceReference", inv.ref)
			w.Text("PaymentDate", inv.paidAt.In(s.loc).Format("2006-01-02 15:04:05"))
			w.Close("Row")
		}
	case "STD_RECON_005":
		for _, rf := range refs {
			w.Open("Row")
			w.Text("TerminalId", rf.term.id)
			w.Text("CashierId", rf.cashier)
			amt("RefundAmount", rf.amount)
			w.Text("ErsReference", rf.ersRef)
			w.Text("PaymentErsReference", rf.inv.ersRef)
			w.Close("Row")
		}
	}
	w.Close(k.root)
	return w.Bytes()
}
