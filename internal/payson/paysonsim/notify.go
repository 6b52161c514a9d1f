package paysonsim

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/posd/posd/internal/simctl"
	"go.uber.org/zap"
)

// delivery is one notification on its way to a merchant's notificationUri.
type delivery struct {
	id       string // checkout id
	uri      string // notificationUri with checkout={id} added
	status   string // the status it announces (for the log)
	first    time.Time
	next     time.Time
	attempts int
	inflight bool
}

// sweepEvery is how often Run re-applies the time rules without a clock
// change, so expiries and payouts are announced while nobody reads.
const sweepEvery = time.Second

// notifyURI adds checkout={id} to uri, keeping its own query (D.5).
func notifyURI(uri, id string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return uri
	}
	q := u.Query()
	q.Set("checkout", id)
	u.RawQuery = q.Encode()
	return u.String()
}

// enqueue queues one notification. Callers hold s.mu.
func (s *Sim) enqueue(id, uri, status string, at time.Time) {
	now := s.clock.Now()
	if at.After(now) {
		now = at
	}
	s.queue = append(s.queue, &delivery{id: id, uri: notifyURI(uri, id), status: status, first: now, next: now})
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// retryDelay is the wait after the n-th failed attempt: 1 min doubling to
// at most 1 h [I]; Payson only says "retried for up to 24 hours".
func retryDelay(n int) time.Duration {
	d := time.Minute << min(n-1, 6)
	return min(d, time.Hour)
}

// Pending is how many notifications are still queued or in flight.
func (s *Sim) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// Run delivers notifications and applies the time rules until ctx ends.
// Deliveries run in their own goroutines, so a merchant URI that hangs or
// refuses never delays an API answer or another delivery.
func (s *Sim) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		s.sweep()
		now := s.clock.Now()
		wait := sweepEvery
		s.mu.Lock()
		keep := s.queue[:0]
		for _, d := range s.queue {
			if !d.inflight && d.next.After(d.first.Add(s.retryFor)) {
				s.log.Info("notification given up", zap.String("checkout", d.id), zap.Int("attempts", d.attempts))
				continue
			}
			keep = append(keep, d)
			if d.inflight {
				continue
			}
			if !d.next.After(now) {
				d.inflight = true
				wg.Go(func() { s.deliver(ctx, d) })
			} else if w := d.next.Sub(now); w < wait {
				wait = w
			}
		}
		clear(s.queue[len(keep):])
		s.queue = keep
		s.mu.Unlock()
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-s.clock.Changed():
		case <-s.wake:
		case <-timer.C:
		}
	}
}

// deliver POSTs one notification and records its outcome.
func (s *Sim) deliver(ctx context.Context, d *delivery) {
	start := time.Now()
	code := 0
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.uri, http.NoBody)
	if err == nil {
		req.Header.Set("User-Agent", "paysonsim")
		var resp *http.Response
		if resp, err = s.notifier.Do(req); err == nil {
			code = resp.StatusCode
			_ = resp.Body.Close()
		}
	}
	// The queue is updated before the call is logged, so a harness that saw
	// the call also sees its consequence (retry scheduled or given up).
	s.mu.Lock()
	d.inflight = false
	d.attempts++
	done := code == http.StatusOK
	if !done {
		d.next = s.clock.Now().Add(retryDelay(d.attempts))
		if d.next.After(d.first.Add(s.retryFor)) {
			done = true
			s.log.Info("notification given up", zap.String("checkout", d.id), zap.Int("attempts", d.attempts))
		}
	}
	if done {
		for i, q := range s.queue {
			if q == d {
				s.queue = append(s.queue[:i], s.queue[i+1:]...)
				break
			}
		}
	}
	s.mu.Unlock()
	call := simctl.Call{Time: s.clock.Now(), Service: Service, Operation: OpNotify, Path: d.uri,
		Reference: d.id, ResultCode: &code, Duration: time.Since(start), Detail: map[string]string{"status": d.status}}
	if err != nil {
		call.Fault = err.Error()
	}
	s.calls.Add(call)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
