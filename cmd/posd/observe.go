package main

import (
	"sync/atomic"
	"time"

	"github.com/posd/posd/internal/metrics"
	"github.com/posd/posd/internal/register"
)

// observer turns the register's events into the metrics of GET /metrics.
// Methods never block (register.Observer's rule).
type observer struct {
	created   *metrics.Counter
	finished  *metrics.Counter
	poll      *metrics.Histogram
	pollErrs  *metrics.Counter
	skipped   *metrics.Counter
	appends   *metrics.Counter
	appendDur *metrics.Histogram
	backlog   atomic.Int64
}

var _ register.Observer = (*observer)(nil)

func newObserver(reg *metrics.Registry) *observer {
	o := &observer{
		created:   reg.Counter("posd_payments_created_total", "Payments created, by method.", "method"),
		finished:  reg.Counter("posd_payments_finished_total", "Payments that reached a final state, by method and state.", "method", "state"),
		poll:      reg.Histogram("posd_seqr_poll_seconds", "getPaymentStatus round trip.", metrics.DefaultBuckets()),
		pollErrs:  reg.Counter("posd_seqr_poll_errors_total", "getPaymentStatus calls that failed."),
		skipped:   reg.Counter("posd_seqr_poll_skipped_total", "Poll ticks skipped because the previous call was still in flight."),
		appends:   reg.Counter("posd_journal_appends_total", "Receipt file appends, by result.", "result"),
		appendDur: reg.Histogram("posd_journal_append_seconds", "Receipt file append including fsync.", metrics.ExponentialBuckets(0.0005, 2, 12)),
	}
	reg.GaugeFunc("posd_outbox_backlog", "Calls waiting in the outbox (submitPaymentReceipt).", func() float64 { return float64(o.backlog.Load()) })
	return o
}

func (o *observer) PaymentCreated()                  { o.created.Inc("seqr") }
func (o *observer) PaymentFinished(s register.State) { o.finished.Inc("seqr", string(s)) }
func (o *observer) PollSkipped()                     { o.skipped.Inc() }
func (o *observer) OutboxBacklog(n int)              { o.backlog.Store(int64(n)) }
func (o *observer) PollRoundTrip(d time.Duration, err error) {
	o.poll.ObserveDuration(d)
	if err != nil {
		o.pollErrs.Inc()
	}
}

func (o *observer) JournalAppend(d time.Duration, err error) {
	o.appendDur.ObserveDuration(d)
	if err != nil {
		o.appends.Inc("error")
		return
	}
	o.appends.Inc("ok")
}
