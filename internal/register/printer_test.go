package register

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/printer"
	"github.com/posd/posd/internal/seqr"
)

// fakePrinter is the print worker as the register sees it: a status and Wake.
type fakePrinter struct {
	mu    sync.Mutex
	st    printer.Status
	wakes int
}

func (f *fakePrinter) Status() printer.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

func (f *fakePrinter) Wake() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.wakes++
}

func (f *fakePrinter) set(st printer.Status) {
	f.mu.Lock()
	f.st = st
	f.mu.Unlock()
}

func (f *fakePrinter) wakeCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.wakes
}

var (
	printerOK       = printer.Status{Device: "virtual:x", Online: true, Paper: "ok"}
	printerPaperOut = printer.Status{Device: "virtual:x", Online: true, Paper: "out", LastError: "paper out"}
)

// nextEvent returns the stream's next event; ok is false when it has ended.
func nextEvent(t *testing.T, ch <-chan Event) (Event, bool) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		return ev, ok
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10 s")
		return Event{}, false
	}
}

func paidByRef() *fakeSEQR {
	return &fakeSEQR{status: func(n int, ref string, v int) (seqr.PaymentStatus, error) {
		return paidStatus("ERS-" + ref), nil
	}}
}

// Paper runs out while a paid payment's receipt waits: its stream says so,
// then says the printer is back, then that the receipt was printed, and
// ends. Every queued job wakes the print worker once.
func TestPrinterEventsWhileReceiptWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		fp := &fakePrinter{st: printerOK}
		h := newHarness(t, paidByRef(), harnessOpt{printer: fp})
		defer h.close()
		p, _, err := h.r.CreatePayment(ctx, "k", sale("20.00"))
		require.NoError(t, err)
		ch, cancel := h.r.Subscribe(p.ID)
		defer cancel()
		waitState(t, ch, StatePaid)
		assert.Equal(t, 1, fp.wakeCount(), "the paid receipt's job wakes the worker")

		fp.set(printerPaperOut)
		h.r.PrinterStatusChanged(printerPaperOut)
		ev, ok := nextEvent(t, ch)
		require.True(t, ok, "the stream stays open while the receipt waits")
		assert.Equal(t, "printer", ev.Type)
		assert.Equal(t, p.ID, ev.PaymentID)
		assert.Equal(t, StatePaid, ev.State)
		assert.Equal(t, "printer out of paper: receipt waits", ev.Message)

		// A change that is not a change of condition (the queue length) says nothing.
		again := printerPaperOut
		again.Queued = 1
		h.r.PrinterStatusChanged(again)
		fp.set(printerOK)
		h.r.PrinterStatusChanged(printerOK)
		ev, ok = nextEvent(t, ch)
		require.True(t, ok)
		assert.Equal(t, "printer", ev.Type)
		assert.Equal(t, "printer ok: printing", ev.Message)

		job, ok, err := h.db.NextPrintJob(ctx)
		require.NoError(t, err)
		require.True(t, ok)
		require.NoError(t, h.db.PrintJobStarted(ctx, job.ID))
		require.NoError(t, h.db.PrintJobPrinted(ctx, job.ID))
		h.r.PrinterStatusChanged(printer.Status{Device: "virtual:x", Online: true, Paper: "ok", Queued: 0})
		ev, ok = nextEvent(t, ch)
		require.True(t, ok)
		assert.Equal(t, "printer", ev.Type)
		assert.Equal(t, "printer ok: receipt printed", ev.Message)
		_, ok = nextEvent(t, ch)
		assert.False(t, ok, "the stream ends once the receipt is printed")

		require.NoError(t, h.r.ReprintReceipt(ctx, p.ID))
		assert.Equal(t, 2, fp.wakeCount(), "a reprint wakes the worker")
	})
}

// Paper out at the moment of payment: the printer event comes just before
// the paid event (a client that stops at the paid event sees it), and a
// late subscriber hears it after the current state. A dropped receipt ends
// the stream saying so.
func TestPrinterProblemBeforePaidEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		fp := &fakePrinter{st: printerPaperOut}
		h := newHarness(t, paidByRef(), harnessOpt{printer: fp})
		defer h.close()
		p, _, err := h.r.CreatePayment(ctx, "k", sale("20.00"))
		require.NoError(t, err)
		ch, cancel := h.r.Subscribe(p.ID)
		defer cancel()
		var last Event
		for {
			ev, ok := nextEvent(t, ch)
			require.True(t, ok, "stream ended before paid")
			if ev.Type == "state" && ev.State == StatePaid {
				break
			}
			last = ev
		}
		assert.Equal(t, "printer", last.Type, "the event before paid")
		assert.Equal(t, "printer out of paper: receipt waits", last.Message)

		late, cancelLate := h.r.Subscribe(p.ID)
		defer cancelLate()
		ev, ok := nextEvent(t, late)
		require.True(t, ok)
		assert.Equal(t, "state", ev.Type)
		assert.Equal(t, StatePaid, ev.State)
		ev, ok = nextEvent(t, late)
		require.True(t, ok)
		assert.Equal(t, "printer", ev.Type)
		assert.Equal(t, "printer out of paper: receipt waits", ev.Message)

		job, ok, err := h.db.NextPrintJob(ctx)
		require.NoError(t, err)
		require.True(t, ok)
		require.NoError(t, h.db.PrintJobDropped(ctx, job.ID, "receipt 1h0m1s old, limit 1h0m0s"))
		h.r.PrinterStatusChanged(printerPaperOut)
		for _, c := range []<-chan Event{ch, late} {
			ev, ok = nextEvent(t, c)
			require.True(t, ok)
			assert.Equal(t, "receipt not printed: receipt 1h0m1s old, limit 1h0m0s", ev.Message)
			_, ok = nextEvent(t, c)
			assert.False(t, ok, "the stream ends once the receipt is dropped")
		}
	})
}

// Without a printer the stream ends at the paid event, as before.
func TestNoPrinterStreamEndsAtPaid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		h := newHarness(t, paidByRef(), harnessOpt{})
		defer h.close()
		p, _, err := h.r.CreatePayment(ctx, "k", sale("20.00"))
		require.NoError(t, err)
		ch, cancel := h.r.Subscribe(p.ID)
		defer cancel()
		waitState(t, ch, StatePaid)
		_, ok := nextEvent(t, ch)
		assert.False(t, ok)
	})
}

func TestPrinterProblem(t *testing.T) {
	for _, tt := range []struct {
		st   printer.Status
		want string
	}{
		{printerOK, ""},
		{printer.Status{Online: true, Paper: "near_end"}, ""},
		{printerPaperOut, "printer out of paper: receipt waits"},
		{printer.Status{Online: true, Paper: "ok", CoverOpen: true, LastError: "cover open"}, "printer cover open: receipt waits"},
		{printer.Status{Online: false, Paper: "ok", LastError: "virtual printer x: unplugged"}, "printer offline: virtual printer x: unplugged: receipt waits"},
		{printer.Status{Online: true, Paper: "ok", LastError: "autocutter error"}, "printer error: autocutter error: receipt waits"},
		{printer.Status{Online: true, Paper: "ok", LastError: "no status: write-only device, paper and cover unknown"}, ""},
	} {
		assert.Equal(t, tt.want, printerProblem(tt.st), "%+v", tt.st)
	}
}
