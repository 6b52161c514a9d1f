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
		created:   reg.Counter("posd_payments_created_total", "Payments created, by provider.", "provider"),
		finished:  reg.Counter("posd_payments_finished_total", "Payments that reached a final state, by provider and state.", "provider", "state"),
		poll:      reg.Histogram("posd_provider_check_seconds", "One check of an open payment at its provider (SEQR: getPaymentStatus), by provider.", metrics.DefaultBuckets(), "provider"),
		pollErrs:  reg.Counter("posd_provider_check_errors_total", "Checks that failed, by provider.", "provider"),
		skipped:   reg.Counter("posd_provider_check_skipped_total", "Check ticks skipped because the previous call was still in flight, by provider.", "provider"),
		appends:   reg.Counter("posd_journal_appends_total", "Receipt file appends, by result.", "result"),
		appendDur: reg.Histogram("posd_journal_append_seconds", "Receipt file append including fsync.", metrics.ExponentialBuckets(0.0005, 2, 12)),
	}
	reg.GaugeFunc("posd_outbox_backlog", "Tasks waiting in the outbox (SEQR submitPaymentReceipt, Resurs finalize, Payson ship).", func() float64 { return float64(o.backlog.Load()) })
	return o
}

func (o *observer) PaymentCreated(provider string) { o.created.Inc(provider) }
func (o *observer) PaymentFinished(provider string, s register.State) {
	o.finished.Inc(provider, string(s))
}
func (o *observer) PollSkipped(provider string) { o.skipped.Inc(provider) }
func (o *observer) OutboxBacklog(n int)         { o.backlog.Store(int64(n)) }
func (o *observer) PollRoundTrip(provider string, d time.Duration, err error) {
	o.poll.ObserveDuration(d, provider)
	if err != nil {
		o.pollErrs.Inc(provider)
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
