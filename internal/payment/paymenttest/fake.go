// Package paymenttest is a fake payment.Provider for tests of anything that
// consumes the payment contract (the register, the API, cmd/posd).
//
// Fake follows litestream's mock.ReplicaClient: one function field per
// method, each optional. A nil field takes a sensible default: Start makes a
// session "fake-N", Check answers what Settle recorded for the session (else
// pending), Cancel cancels, Refund makes a reference "fake-refund-N", and the
// rest succeed. Every call is logged, and a test can wait for a call
// without sleeping (WaitCalls). A Fake is safe for concurrent use; set its
// fields before handing it over, or later through Set (and Settle).
//
// The optional capabilities (payment.Enroller, payment.Reconciler) are
// small wrappers, because the register discovers them by type assertion:
// a Fake that always implemented them would make every fake provider an
// enrolling one.
package paymenttest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/posd/posd/internal/payment"
)

// Default name and method of a Fake whose Provider and Method fields are empty.
const DefaultName = "fake"

// Operation names in the call log.
const (
	OpPolicy    = "Policy"
	OpReady     = "Ready"
	OpProbe     = "Probe"
	OpStart     = "Start"
	OpCheck     = "Check"
	OpCancel    = "Cancel"
	OpRefund    = "Refund"
	OpAfterPaid = "AfterPaid"
	OpRunTask   = "RunTask"
	OpEnroll    = "Enroll"
	OpUnenroll  = "Unenroll"
	OpAssignID  = "AssignID"
	OpMark      = "MarkPeriod"
	OpReport    = "Report"
)

// Call is one call the Fake received.
type Call struct {
	Op        string
	Ref       string // the session's reference (Check, Cancel), the refund's id, the task's kind
	PaymentID string
	Method    string
	At        time.Time
}

// Fake is a payment.Provider made of function fields. The zero value is
// ready to use (named "fake", taking method "fake").
type Fake struct {
	// ProviderName is Name(); "" is DefaultName.
	ProviderName string
	// MethodList is Methods(); nil is []string{Name()}.
	MethodList []string

	PolicyFn    func(method string) payment.Policy
	ReadyFn     func(ctx context.Context) error
	ProbeFn     func(ctx context.Context) error
	StartFn     func(ctx context.Context, o payment.Order) (payment.Session, error)
	CheckFn     func(ctx context.Context, s payment.Session) (payment.Check, error)
	CancelFn    func(ctx context.Context, s payment.Session) (payment.CancelOutcome, error)
	RefundFn    func(ctx context.Context, r payment.RefundOrder) (payment.Refunded, error)
	AfterPaidFn func(o payment.Order, s payment.Session, paid payment.Check) []payment.Task
	RunTaskFn   func(ctx context.Context, t payment.Task) error

	mu      sync.Mutex
	calls   []Call
	changed chan struct{} // closed and replaced on every call
	seq     int
	settled map[string]payment.Check // session ref -> the default Check's answer
}

var _ payment.Provider = (*Fake)(nil)

// field reads one of f's fields under its lock (Set may be changing it).
func field[T any](f *Fake, p *T) T {
	f.mu.Lock()
	defer f.mu.Unlock()
	return *p
}

// log records a call and wakes WaitCalls.
func (f *Fake) log(c Call) {
	c.At = time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
	if f.changed != nil {
		close(f.changed)
		f.changed = nil
	}
}

// next returns the next number for a made-up reference.
func (f *Fake) next() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	return f.seq
}

// Calls returns the calls so far, in order; with ops, only those operations.
func (f *Fake) Calls(ops ...string) []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Call, 0, len(f.calls))
	for _, c := range f.calls {
		if len(ops) == 0 || slices.Contains(ops, c.Op) {
			out = append(out, c)
		}
	}
	return out
}

// Count is how many calls of op the Fake received.
func (f *Fake) Count(op string) int { return len(f.Calls(op)) }

// Set changes the Fake's fields under its lock, so a test may change a
// function field while the register is using the Fake:
//
//	f.Set(func(f *Fake) { f.RefundFn = ... })
func (f *Fake) Set(change func(f *Fake)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f)
}

// WaitCalls blocks until the Fake has received at least n calls of op, or
// ctx ends (then it returns ctx's error naming how many came).
func (f *Fake) WaitCalls(ctx context.Context, op string, n int) error {
	for {
		f.mu.Lock()
		got := 0
		for _, c := range f.calls {
			if c.Op == op {
				got++
			}
		}
		if got >= n {
			f.mu.Unlock()
			return nil
		}
		if f.changed == nil {
			f.changed = make(chan struct{})
		}
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for %d %s calls (got %d): %w", n, op, got, ctx.Err())
		}
	}
}

// Settle makes the default Check answer c for the session ref from now on
// (the customer paid, rejected, ...). It has no effect when CheckFn is set.
func (f *Fake) Settle(ref string, c payment.Check) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.settled == nil {
		f.settled = map[string]payment.Check{}
	}
	f.settled[ref] = c
}

// Pay is Settle with a paid answer carrying transactionRef.
func (f *Fake) Pay(ref, transactionRef string) {
	f.Settle(ref, payment.Check{Status: payment.Paid, TransactionRef: transactionRef, MethodName: "Fake"})
}

func (f *Fake) settledCheck(ref string) (payment.Check, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.settled[ref]
	return c, ok
}

// Name implements payment.Provider.
func (f *Fake) Name() string {
	if f.ProviderName == "" {
		return DefaultName
	}
	return f.ProviderName
}

// Methods implements payment.Provider.
func (f *Fake) Methods() []string {
	if f.MethodList == nil {
		return []string{f.Name()}
	}
	return slices.Clone(f.MethodList)
}

// Policy implements payment.Provider; the default is the zero Policy (the
// register's defaults: a check a second, no window).
func (f *Fake) Policy(method string) payment.Policy {
	if fn := field(f, &f.PolicyFn); fn != nil {
		return fn(method)
	}
	return payment.Policy{}
}

// Ready implements payment.Provider (default: ready).
func (f *Fake) Ready(ctx context.Context) error {
	f.log(Call{Op: OpReady})
	if fn := field(f, &f.ReadyFn); fn != nil {
		return fn(ctx)
	}
	return nil
}

// Probe implements payment.Provider (default: reachable).
func (f *Fake) Probe(ctx context.Context) error {
	f.log(Call{Op: OpProbe})
	if fn := field(f, &f.ProbeFn); fn != nil {
		return fn(ctx)
	}
	return nil
}

// Start implements payment.Provider (default: session "fake-N").
func (f *Fake) Start(ctx context.Context, o payment.Order) (payment.Session, error) {
	f.log(Call{Op: OpStart, PaymentID: o.PaymentID, Method: o.Method})
	if fn := field(f, &f.StartFn); fn != nil {
		return fn(ctx, o)
	}
	return payment.Session{Ref: fmt.Sprintf("fake-%d", f.next()), Method: o.Method, PaymentID: o.PaymentID}, nil
}

// Check implements payment.Provider (default: what Settle recorded, else pending).
func (f *Fake) Check(ctx context.Context, s payment.Session) (payment.Check, error) {
	f.log(Call{Op: OpCheck, Ref: s.Ref, PaymentID: s.PaymentID, Method: s.Method})
	if fn := field(f, &f.CheckFn); fn != nil {
		return fn(ctx, s)
	}
	if c, ok := f.settledCheck(s.Ref); ok {
		return c, nil
	}
	return payment.Check{Status: payment.Pending, Progress: s.Progress}, nil
}

// Cancel implements payment.Provider (default: too late when Settle said
// paid, else cancelled; a cancelled session then checks as canceled).
func (f *Fake) Cancel(ctx context.Context, s payment.Session) (payment.CancelOutcome, error) {
	f.log(Call{Op: OpCancel, Ref: s.Ref, PaymentID: s.PaymentID, Method: s.Method})
	if fn := field(f, &f.CancelFn); fn != nil {
		return fn(ctx, s)
	}
	if c, ok := f.settledCheck(s.Ref); ok && c.Status == payment.Paid {
		return payment.TooLate, nil
	}
	f.Settle(s.Ref, payment.Check{Status: payment.Canceled, Note: "canceled"})
	return payment.Cancelled, nil
}

// Refund implements payment.Provider (default: reference "fake-refund-N").
func (f *Fake) Refund(ctx context.Context, r payment.RefundOrder) (payment.Refunded, error) {
	f.log(Call{Op: OpRefund, Ref: r.RefundID, PaymentID: r.PaymentID, Method: r.Method})
	if fn := field(f, &f.RefundFn); fn != nil {
		return fn(ctx, r)
	}
	return payment.Refunded{Ref: fmt.Sprintf("fake-refund-%d", f.next())}, nil
}

// AfterPaid implements payment.Provider (default: no tasks).
func (f *Fake) AfterPaid(o payment.Order, s payment.Session, paid payment.Check) []payment.Task {
	f.log(Call{Op: OpAfterPaid, Ref: s.Ref, PaymentID: o.PaymentID, Method: o.Method})
	if fn := field(f, &f.AfterPaidFn); fn != nil {
		return fn(o, s, paid)
	}
	return nil
}

// RunTask implements payment.Provider (default: done).
func (f *Fake) RunTask(ctx context.Context, t payment.Task) error {
	f.log(Call{Op: OpRunTask, Ref: t.Kind, PaymentID: t.PaymentID})
	if fn := field(f, &f.RunTaskFn); fn != nil {
		return fn(ctx, t)
	}
	return nil
}
