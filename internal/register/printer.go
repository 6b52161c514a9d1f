package register

import (
	"context"
	"strings"

	"go.uber.org/zap"

	"github.com/posd/posd/internal/printer"
	"github.com/posd/posd/internal/store"
)

// The printer on a payment's event stream (issue 5: paper out or cover open
// is shown on /v1/status and on the payment's event stream within 2 s).
//
// A paid payment's stream does not end at the paid event while its receipt
// waits to be printed (a printer is wired and a print job of the payment is
// pending): it carries "printer" events whenever the printer's condition
// changes, and ends with a last "printer" event once the receipt is printed
// ("printer ok: receipt printed") or dropped ("receipt not printed: ...").
// When the printer cannot print at the moment of payment, a "printer" event
// saying so comes just before the paid state event, so a client that stops
// reading at the final state (posd pay) still learns that the receipt waits;
// the API's SSE handler forwards the later printer events too. Without a
// printer, or without a pending job, the stream ends at the final state
// event as before.

// printerWaker is the print worker's Wake; Deps.Printer may implement it.
type printerWaker interface{ Wake() }

// wakePrinter tells the print worker a job was queued, so it prints now
// rather than at its next queue poll.
func (r *Register) wakePrinter() {
	if w, ok := r.printer.(printerWaker); ok {
		w.Wake()
	}
}

// PrinterStatusChanged receives the print worker's status on every change
// (printer.WorkerConfig.OnStatus). It never blocks: the payment streams are
// told by Run's printer loop.
func (r *Register) PrinterStatusChanged(st printer.Status) {
	r.mu.Lock()
	r.printerSt, r.printerSeen = st, true
	r.mu.Unlock()
	r.kickPrinter()
}

func (r *Register) kickPrinter() {
	select {
	case r.printerKick <- struct{}{}:
	default:
	}
}

// printerStatus is the printer's latest status; false without a printer.
func (r *Register) printerStatus() (printer.Status, bool) {
	if r.printer == nil {
		return printer.Status{}, false
	}
	r.mu.Lock()
	st, seen := r.printerSt, r.printerSeen
	r.mu.Unlock()
	if !seen {
		st = r.printer.Status()
	}
	return st, true
}

// printerProblem says why the printer cannot print now, "" when it can.
func printerProblem(st printer.Status) string {
	switch {
	case !st.Online:
		if st.LastError == "" {
			return "printer offline: receipt waits"
		}
		return "printer offline: " + st.LastError + ": receipt waits"
	case st.Paper == "out":
		return "printer out of paper: receipt waits"
	case st.CoverOpen:
		return "printer cover open: receipt waits"
	case st.LastError != "" && !strings.HasPrefix(st.LastError, "no status"):
		// "no status: ..." is a write-only device that prints blind.
		return "printer error: " + st.LastError + ": receipt waits"
	}
	return ""
}

const (
	msgPrinterOK      = "printer ok: printing"
	msgReceiptPrinted = "printer ok: receipt printed"
)

// receiptWaits reports whether a paid payment's stream stays open for its
// receipt: a printer is wired and a print job of the payment is pending.
func (r *Register) receiptWaits(ctx context.Context, id string) bool {
	if r.printer == nil {
		return false
	}
	ok, err := r.db.HasPendingPrintJob(ctx, id)
	if err != nil {
		r.log.Warn("read print queue", zap.String("payment", id), zap.Error(err))
		return false
	}
	return ok
}

// printerLoop tells the streams of payments whose receipt waits about the
// printer, and ends them once the receipt is printed or dropped.
func (r *Register) printerLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.printerKick:
		}
		st, ok := r.printerStatus()
		if !ok {
			continue
		}
		msg := printerProblem(st)
		if msg == "" {
			msg = msgPrinterOK
		}
		r.updateReceiptStreams(ctx, msg)
	}
}

func (r *Register) updateReceiptStreams(ctx context.Context, msg string) {
	ids := map[string]bool{} // payment -> one of its receipt streams is not told msg yet
	r.mu.Lock()
	for id, subs := range r.subs {
		for s := range subs {
			if s.receipt {
				ids[id] = ids[id] || s.told != msg
			}
		}
	}
	r.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	pending, err := r.db.PendingPrintPayments(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("read print queue", zap.Error(err))
		}
		return
	}
	for id, untold := range ids {
		if pending[id] {
			if untold {
				r.publishPrinter(ctx, id, msg, false)
			}
			continue
		}
		end := msgReceiptPrinted
		if j, ok, err := r.db.LastPrintJob(ctx, id); err == nil && ok && j.State == "dropped" {
			end = "receipt not printed: " + j.LastError
		}
		r.publishPrinter(ctx, id, end, true)
	}
}

// publishPrinter sends a printer event to the payment's receipt streams
// not yet told msg, or to all of them, ending them, when last is set.
func (r *Register) publishPrinter(ctx context.Context, id, msg string, last bool) {
	sp, err := r.db.Payment(ctx, id)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("read payment for printer event", zap.String("payment", id), zap.Error(err))
		}
		return
	}
	p := r.view(sp, nil, store.Totals{})
	ev := Event{Type: "printer", PaymentID: id, State: p.State, Message: msg, Payment: p, At: r.now().UTC()}
	r.mu.Lock()
	defer r.mu.Unlock()
	for s := range r.subs[id] {
		if !s.receipt || (!last && s.told == msg) {
			continue
		}
		s.told = msg
		r.deliver(s, ev, true)
		if last {
			r.closeSub(id, s)
		}
	}
}
