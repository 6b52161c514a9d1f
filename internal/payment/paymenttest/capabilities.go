package paymenttest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/posd/posd/internal/payment"
)

// Enroller is a fake payment.Enroller keeping the till's enrolment in
// memory. Nil function fields take the defaults: Enroll registers the till
// (ErrAlreadyEnrolled when it is), Unenroll forgets it (ErrNotEnrolled when
// it is not), AssignID sets the id (ErrNotEnrolled before Enroll), ValidID
// accepts any non-empty id.
type Enroller struct {
	// Log, when set, receives the calls too (pass the Fake it wraps).
	Log *Fake

	EnrollFn   func(ctx context.Context, req payment.EnrollRequest) (payment.Enrollment, error)
	UnenrollFn func(ctx context.Context) error
	AssignIDFn func(ctx context.Context, id string) (payment.Enrollment, error)
	ValidIDFn  func(id string) error

	mu    sync.Mutex
	state payment.Enrollment
}

var _ payment.Enroller = (*Enroller)(nil)

// Enrolled returns an Enroller whose till is already enrolled with id.
func Enrolled(log *Fake, id string) *Enroller {
	return &Enroller{Log: log, state: payment.Enrollment{Registered: true, TerminalID: "fake-terminal",
		Name: "fake till", ID: id, RegisteredAt: time.Now().UTC()}}
}

func (e *Enroller) log(op, ref string) {
	if e.Log != nil {
		e.Log.log(Call{Op: op, Ref: ref})
	}
}

// Enrollment implements payment.Enroller.
func (e *Enroller) Enrollment(context.Context) (payment.Enrollment, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state, nil
}

// Enroll implements payment.Enroller.
func (e *Enroller) Enroll(ctx context.Context, req payment.EnrollRequest) (payment.Enrollment, error) {
	e.log(OpEnroll, req.ExternalTerminalID)
	if e.EnrollFn != nil {
		en, err := e.EnrollFn(ctx, req)
		if err == nil {
			e.set(en)
		}
		return en, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state.Registered {
		return e.state, payment.ErrAlreadyEnrolled
	}
	e.state = payment.Enrollment{Registered: true, TerminalID: "fake-terminal", ExternalTerminalID: req.ExternalTerminalID,
		Name: req.Name, RegisteredAt: time.Now().UTC()}
	return e.state, nil
}

// Unenroll implements payment.Enroller.
func (e *Enroller) Unenroll(ctx context.Context) error {
	e.log(OpUnenroll, "")
	if e.UnenrollFn != nil {
		if err := e.UnenrollFn(ctx); err != nil {
			return err
		}
		e.set(payment.Enrollment{})
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.state.Registered {
		return payment.ErrNotEnrolled
	}
	e.state = payment.Enrollment{}
	return nil
}

// AssignID implements payment.Enroller.
func (e *Enroller) AssignID(ctx context.Context, id string) (payment.Enrollment, error) {
	e.log(OpAssignID, id)
	if e.AssignIDFn != nil {
		en, err := e.AssignIDFn(ctx, id)
		if err == nil {
			e.set(en)
		}
		return en, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.state.Registered {
		return e.state, payment.ErrNotEnrolled
	}
	e.state.ID = id
	return e.state, nil
}

// ValidID implements payment.Enroller.
func (e *Enroller) ValidID(id string) error {
	if e.ValidIDFn != nil {
		return e.ValidIDFn(id)
	}
	if id == "" {
		return &payment.RefusedError{Code: "id", Message: "empty id", Err: payment.ErrInvalidID}
	}
	return nil
}

func (e *Enroller) set(en payment.Enrollment) {
	e.mu.Lock()
	e.state = en
	e.mu.Unlock()
}

// Reconciler is a fake payment.Reconciler. Nil function fields take the
// defaults: MarkPeriod returns "fake-period-N", Report returns an empty
// report.
type Reconciler struct {
	// Log, when set, receives the calls too (pass the Fake it wraps).
	Log *Fake

	MarkPeriodFn func(ctx context.Context, from, to time.Time) (string, error)
	ReportFn     func(ctx context.Context, period string, from, to time.Time) (payment.Report, error)

	mu  sync.Mutex
	seq int
}

var _ payment.Reconciler = (*Reconciler)(nil)

// MarkPeriod implements payment.Reconciler.
func (r *Reconciler) MarkPeriod(ctx context.Context, from, to time.Time) (string, error) {
	if r.Log != nil {
		r.Log.log(Call{Op: OpMark})
	}
	if r.MarkPeriodFn != nil {
		return r.MarkPeriodFn(ctx, from, to)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	return fmt.Sprintf("fake-period-%d", r.seq), nil
}

// Report implements payment.Reconciler.
func (r *Reconciler) Report(ctx context.Context, period string, from, to time.Time) (payment.Report, error) {
	if r.Log != nil {
		r.Log.log(Call{Op: OpReport, Ref: period})
	}
	if r.ReportFn != nil {
		return r.ReportFn(ctx, period, from, to)
	}
	if period == "" {
		return payment.Report{}, errors.New("paymenttest: report of an unnamed period")
	}
	return payment.Report{}, nil
}

// EnrollingProvider is a Fake with the Enroller capability.
type EnrollingProvider struct {
	*Fake
	*Enroller
}

// ReconcilingProvider is a Fake with the Reconciler capability.
type ReconcilingProvider struct {
	*Fake
	*Reconciler
}

// FullProvider is a Fake with both optional capabilities (as SEQR has).
type FullProvider struct {
	*Fake
	*Enroller
	*Reconciler
}

// WithEnroller gives f the Enroller capability.
func WithEnroller(f *Fake, e *Enroller) EnrollingProvider {
	return EnrollingProvider{Fake: f, Enroller: e}
}

// WithReconciler gives f the Reconciler capability.
func WithReconciler(f *Fake, r *Reconciler) ReconcilingProvider {
	return ReconcilingProvider{Fake: f, Reconciler: r}
}

// WithBoth gives f both optional capabilities.
func WithBoth(f *Fake, e *Enroller, r *Reconciler) FullProvider {
	return FullProvider{Fake: f, Enroller: e, Reconciler: r}
}

var (
	_ payment.Provider   = EnrollingProvider{}
	_ payment.Enroller   = EnrollingProvider{}
	_ payment.Provider   = ReconcilingProvider{}
	_ payment.Reconciler = ReconcilingProvider{}
	_ payment.Enroller   = FullProvider{}
	_ payment.Reconciler = FullProvider{}
)

// Operation names of the Adjuster in the Fake's call log.
const (
	OpAnnul = "Annul"
	OpDebit = "AdditionalDebit"
)

// Adjuster is the Annuller and Debiter capabilities made of function
// fields, logged in its Fake's call log. Nil fields succeed with references
// "fake-annul-N" and "fake-debit-N".
type Adjuster struct {
	log     *Fake
	AnnulFn func(ctx context.Context, r payment.RefundOrder) (payment.Refunded, error)
	DebitFn func(ctx context.Context, d payment.DebitOrder) (payment.Debited, error)
	// ConfirmFn answers Confirm; nil: it cannot tell (an error that is
	// neither made nor payment.ErrNotMade).
	ConfirmFn func(ctx context.Context, kind string, r payment.RefundOrder) (payment.Debited, error)
}

// OpConfirm is Confirm's name in the Fake's call log.
const OpConfirm = "Confirm"

// Confirm implements payment.Confirmer.
func (a *Adjuster) Confirm(ctx context.Context, kind string, r payment.RefundOrder) (payment.Debited, error) {
	a.log.log(Call{Op: OpConfirm, Ref: r.RefundID, PaymentID: r.PaymentID, Method: kind})
	if a.ConfirmFn != nil {
		return a.ConfirmFn(ctx, kind, r)
	}
	return payment.Debited{}, errors.New("paymenttest: cannot tell")
}

// Annul implements payment.Annuller.
func (a *Adjuster) Annul(ctx context.Context, r payment.RefundOrder) (payment.Refunded, error) {
	a.log.log(Call{Op: OpAnnul, Ref: r.RefundID, PaymentID: r.PaymentID, Method: r.Method})
	if a.AnnulFn != nil {
		return a.AnnulFn(ctx, r)
	}
	return payment.Refunded{Ref: fmt.Sprintf("fake-annul-%d", a.log.next())}, nil
}

// AdditionalDebit implements payment.Debiter.
func (a *Adjuster) AdditionalDebit(ctx context.Context, d payment.DebitOrder) (payment.Debited, error) {
	a.log.log(Call{Op: OpDebit, Ref: d.DebitID, PaymentID: d.PaymentID, Method: d.Method})
	if a.DebitFn != nil {
		return a.DebitFn(ctx, d)
	}
	return payment.Debited{Ref: fmt.Sprintf("fake-debit-%d", a.log.next())}, nil
}

// AdjustingProvider is a Fake with the Annuller and Debiter capabilities.
type AdjustingProvider struct {
	*Fake
	*Adjuster
}

// WithAdjuster gives f the Annuller and Debiter capabilities; a's calls are
// logged in f's call log.
func WithAdjuster(f *Fake, a *Adjuster) AdjustingProvider {
	a.log = f
	return AdjustingProvider{Fake: f, Adjuster: a}
}

var (
	_ payment.Annuller  = AdjustingProvider{}
	_ payment.Debiter   = AdjustingProvider{}
	_ payment.Confirmer = AdjustingProvider{}
)
