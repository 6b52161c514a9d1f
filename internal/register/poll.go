package register

// How SEQR answers move a payment (reliability P5: only a final SEQR status,
// a successful cancelInvoice or code 95 makes a payment "not paid"):
//
//	sendInvoice   0 with a reference      -> polling, window 1
//	              any result code         -> failed (SEQR answered; no invoice to poll)
//	              not sent (refused conn) -> failed (nothing pending)
//	              other transport/fault   -> unknown (may have arrived; never resent;
//	                                         an unpolled payment is reversed by SEQR)
//	status        PAID                    -> paid (reference, journal post, then state)
//	              CANCELED                -> canceled; FAILED, EXPIRED -> failed
//	              ISSUED, PENDING_..., RESERVED, unknown strings -> keep polling
//	              90, 93, 94, transport   -> keep polling, outageSince set
//	              20, 21, 29, 33, 37, 49, 54, any other code -> keep polling, error shown:
//	                                         none of them says the customer did not pay
//	cancelInvoice 0, 95                   -> canceled
//	              50                      -> poll at once (or as soon as the poll in flight
//	                                         returns); recorded paid. The cancel is answered
//	                                         by a poll started after the 50: paid, or
//	                                         ErrCustomerPaid if it was not PAID yet
//	              48, 51                  -> keep polling (customer confirming)
//	              any other code/transport -> keep polling; when posd itself cancels
//	                                         after DecisionLimit and SEQR refuses with a
//	                                         non-transient code: unknown, still polled

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/posd/posd/internal/seqr"
	"github.com/posd/posd/internal/store"
)

// ErrCustomerPaid answers a cancel that SEQR refused with 50
// (CANNOT_CANCEL_PAID_INVOICE) when no poll since has confirmed PAID yet:
// the customer has paid, posd is recording the payment, and the sale must
// not be voided. It wraps ErrProviderRejected (SEQR refused the cancel);
// the API answers it with its own 409 problem type, customer-paid.
var ErrCustomerPaid = fmt.Errorf("%w: the customer has paid (cancelInvoice 50); recording the payment: do not void the sale", ErrProviderRejected)

// tracker is the handle of one payment's poll loop. Cashier decisions go
// through cmds so the loop is the only goroutine that decides the payment.
type tracker struct {
	id     string
	cmds   chan trackerCmd
	exited chan struct{}
}

type trackerCmd struct {
	kind  string // "retry" or "cancel"
	actor string
	reply chan cmdReply
}

type cmdReply struct {
	p   store.Payment
	err error
}

type pollResult struct {
	st  seqr.PaymentStatus
	err error
	rtt time.Duration
	seq int // which poll of the loop (1, 2, ...)
}

// pollWaiter is a cancel answered 50, waiting for a poll started after the
// 50 (seq >= minSeq): an older poll's answer says nothing about it.
type pollWaiter struct {
	reply  chan cmdReply
	minSeq int
}

type cancelResult struct {
	err   error
	actor string
	auto  bool
	reply chan cmdReply
}

func (r *Register) newTracker(id string) *tracker {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.trackers[id]; ok {
		return nil
	}
	t := &tracker{id: id, cmds: make(chan trackerCmd), exited: make(chan struct{})}
	r.trackers[id] = t
	return t
}

func (r *Register) untrack(t *tracker) {
	r.mu.Lock()
	delete(r.trackers, t.id)
	delete(r.live, t.id)
	r.mu.Unlock()
	close(t.exited)
}

// openStates are the states a poll loop may leave.
var openStates = []string{string(StatePolling), string(StateAwaitingDecision), string(StateUnknown)}

// loop is the state of one payment's poll loop.
type loop struct {
	r              *Register
	t              *tracker
	p              store.Payment
	live           liveState
	principal      seqr.Principal
	havePrincipal  bool
	results        chan pollResult
	cancels        chan cancelResult
	inFlight       bool
	cancelInFlight bool
	cancelAuto     bool         // the cancel in flight is posd's own (decision limit)
	pollSeq        int          // polls started
	pollSoon       bool         // poll again as soon as the one in flight returns (after a 50)
	waitPoll       []pollWaiter // cancels answered 50, owed a reply from a later poll
	nextAutoCancel time.Time
}

// track polls one payment on a fixed cadence until it is final or ctx ends.
// time.Ticker keeps the cadence independent of the round trip; a tick that
// finds the previous call still in flight is skipped, never queued.
func (r *Register) track(ctx context.Context, t *tracker, p store.Payment) {
	defer r.untrack(t)
	l := &loop{r: r, t: t, p: p,
		live:    liveState{pollCount: p.PollCount, version: p.InvoiceVersion, outageSince: p.OutageSince},
		results: make(chan pollResult, 1),
		cancels: make(chan cancelResult, 1),
	}
	l.setLive()
	ticker := time.NewTicker(r.cfg.PollInterval)
	defer ticker.Stop()
	defer l.drain()

	l.poll(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			l.tick(ctx)
			l.poll(ctx)
		case res := <-l.results:
			l.inFlight = false
			if l.onPoll(ctx, res) {
				return
			}
			if l.pollSoon {
				l.pollSoon = false
				l.poll(ctx)
			}
		case cmd := <-t.cmds:
			if l.onCommand(ctx, cmd) {
				return
			}
		case res := <-l.cancels:
			l.cancelInFlight = false
			if l.onCancel(ctx, res) {
				return
			}
		}
	}
}

// drain waits for calls in flight so no goroutine outlives the loop, and
// answers anyone still waiting.
func (l *loop) drain() {
	if l.inFlight {
		<-l.results
	}
	if l.cancelInFlight {
		res := <-l.cancels
		if res.reply != nil {
			// A poll decided the payment while the cancel was on its way
			// (CANCELED, or PAID: the customer won): the caller sees the
			// final state. Otherwise the loop ends because posd stops.
			var err error
			if !State(l.p.State).Final() {
				err = fmt.Errorf("cancel %s: posd is stopping; the payment is still open: %w", l.p.ID, ErrInvalidState)
			}
			res.reply <- cmdReply{p: l.p, err: err}
		}
	}
	for _, w := range l.waitPoll {
		w.reply <- l.cancel50Reply()
	}
	l.waitPoll = nil
}

// cancel50Reply is the answer to a cancel that SEQR refused with 50: the
// payment as recorded once a poll confirmed PAID (or another final state);
// otherwise ErrCustomerPaid, never the open payment as if nothing happened.
func (l *loop) cancel50Reply() cmdReply {
	if State(l.p.State).Final() {
		return cmdReply{p: l.p}
	}
	return cmdReply{p: l.p, err: fmt.Errorf("cancel %s: %w", l.p.ID, ErrCustomerPaid)}
}

func (l *loop) setLive() {
	l.r.mu.Lock()
	l.r.live[l.p.ID] = l.live
	l.r.mu.Unlock()
}

func (l *loop) ensurePrincipal(ctx context.Context) bool {
	if l.havePrincipal {
		return true
	}
	t, err := l.r.terminal(ctx)
	if err != nil {
		l.live.err = "cannot poll: " + err.Error()
		return false
	}
	l.principal, l.havePrincipal = t.principal(), true
	return true
}

func (l *loop) poll(ctx context.Context) {
	if l.inFlight {
		l.r.obs.PollSkipped()
		return
	}
	if !l.ensurePrincipal(ctx) {
		return
	}
	l.inFlight = true
	l.pollSeq++
	ref, ver, p, seq := l.p.InvoiceReference, l.live.version, l.principal, l.pollSeq
	go func() {
		cctx, cancel := context.WithTimeout(ctx, l.r.cfg.PollTimeout)
		defer cancel()
		start := time.Now()
		st, err := l.r.seqr.GetPaymentStatus(cctx, p, ref, ver)
		l.results <- pollResult{st: st, err: err, rtt: time.Since(start), seq: seq}
	}()
}

func (l *loop) startCancel(ctx context.Context, actor string, auto bool, reply chan cmdReply) {
	l.cancelInFlight, l.cancelAuto = true, auto
	ref, p := l.p.InvoiceReference, l.principal
	go func() {
		cctx, cancel := context.WithTimeout(ctx, l.r.cfg.CallTimeout)
		defer cancel()
		err := l.r.seqr.CancelInvoice(cctx, p, ref)
		l.cancels <- cancelResult{err: err, actor: actor, auto: auto, reply: reply}
	}()
}

// tick ends a window (awaiting the cashier's decision) and, past the
// decision limit, cancels the invoice on posd's own account.
func (l *loop) tick(ctx context.Context) {
	r := l.r
	now := r.now()
	switch State(l.p.State) {
	case StatePolling:
		if l.p.WindowEndsAt.IsZero() || now.Before(l.p.WindowEndsAt) {
			return
		}
		next, err := r.db.Transition(context.WithoutCancel(ctx), l.p.ID, []string{string(StatePolling)},
			store.Audit{Actor: "posd", Event: "window_elapsed", Outcome: "success", Origin: "poll",
				Detail: fmt.Sprintf("no final status in window %d; polling continues while the cashier decides", l.p.Window)},
			func(p *store.Payment) error {
				p.State, p.DecisionDeadline = string(StateAwaitingDecision), now.Add(r.cfg.DecisionLimit)
				p.PollCount, p.InvoiceVersion = l.live.pollCount, l.live.version
				return nil
			})
		if err != nil {
			r.log.Error("end poll window", zap.String("payment", l.p.ID), zap.Error(err))
			return
		}
		l.p = next
		r.publishState(next, "not paid yet: try again or cancel")
	case StateAwaitingDecision:
		if l.cancelInFlight || l.p.DecisionDeadline.IsZero() || now.Before(l.p.DecisionDeadline) || now.Before(l.nextAutoCancel) {
			return
		}
		if !l.ensurePrincipal(ctx) {
			return
		}
		l.nextAutoCancel = now.Add(r.cfg.AutoCancelRetry)
		r.log.Info("decision limit reached: canceling the invoice", zap.String("payment", l.p.ID))
		l.startCancel(ctx, "posd", true, nil)
	}
}

// transient reports whether a failed call says nothing about the invoice:
// transport errors, SOAP faults and SEQR's 90/93/94.
func transient(err error) bool {
	code, ok := seqr.Code(err)
	if !ok {
		return true
	}
	return code == seqr.ResultSystemError || code == seqr.ResultSystemBusy || code == seqr.ResultServiceUnavailable
}

func describe(op string, err error) string {
	if code, ok := seqr.Code(err); ok {
		return fmt.Sprintf("%s: %d %s", op, code, seqr.ResultName(code))
	}
	return op + ": " + err.Error()
}

// onPoll handles one getPaymentStatus answer; true when the payment is final.
//
// Only a final SEQR status decides (reliability P5): every failed call keeps
// the payment open. 90/93/94 and transport errors mark an outage; any other
// code (20, 21, 29, 33, 37, 49, 54 ...) is shown as the payment's error while
// polling continues, because none of them says the customer did not pay.
func (l *loop) onPoll(ctx context.Context, res pollResult) bool {
	r := l.r
	r.obs.PollRoundTrip(res.rtt, res.err)
	defer l.flushWaitPoll(res.seq)
	if res.err != nil {
		msg := describe("getPaymentStatus", res.err) + " (payment still open)"
		changed := l.live.err != msg
		l.live.err = msg
		if transient(res.err) && l.live.outageSince.IsZero() {
			l.live.outageSince = r.now()
			l.persistProgress(ctx, "outage", "failure: "+msg)
		} else if changed {
			r.log.Warn("poll failed", zap.String("payment", l.p.ID), zap.String("error", msg))
		}
		l.setLive()
		r.publishPoll(l.p, msg)
		return false
	}
	l.live.pollCount++
	wasOutage := !l.live.outageSince.IsZero()
	l.live.err = ""
	l.live.outageSince = time.Time{}
	switch {
	case wasOutage:
		l.live.version = res.st.Version
		l.persistProgress(ctx, "outage_end", "success")
	case res.st.Version != l.live.version:
		l.live.version = res.st.Version
		l.persistProgress(ctx, "", "")
	}
	l.setLive()

	switch res.st.Status {
	case seqr.StatusPaid:
		ers := res.st.ERSReference
		if ers == "" && res.st.Receipt != nil {
			ers = res.st.Receipt.PaymentReference
		}
		if ers == "" {
			l.live.err = "SEQR said PAID without an ersReference; polling again"
			l.setLive()
			r.publishPoll(l.p, l.live.err)
			return false
		}
		p, ok := r.record(ctx, l.p, recordReq{ers: ers, paidAt: r.now(), origin: "poll"})
		if ok {
			l.p = p
		}
		return true // recorded, or ctx ended and recovery finishes it
	case seqr.StatusCanceled:
		return l.final(ctx, StateCanceled, "posd", "SEQR status CANCELED", "")
	case seqr.StatusFailed:
		return l.final(ctx, StateFailed, "posd", "SEQR status FAILED", "SEQR: payment failed")
	case seqr.StatusExpired:
		return l.final(ctx, StateFailed, "posd", "SEQR status EXPIRED", "SEQR: invoice expired")
	}
	r.publishPoll(l.p, string(res.st.Status))
	return false
}

// flushWaitPoll answers the cancels answered 50 after poll seq: each once
// the payment is final (recorded paid), or once a poll started after its 50
// has come back without PAID (ErrCustomerPaid). A poll started before the
// 50 answers nobody; the follow-up poll is then started at once.
func (l *loop) flushWaitPoll(seq int) {
	keep := l.waitPoll[:0]
	for _, w := range l.waitPoll {
		if State(l.p.State).Final() || seq >= w.minSeq {
			w.reply <- l.cancel50Reply()
			continue
		}
		keep = append(keep, w)
		l.pollSoon = true
	}
	l.waitPoll = keep
}

// persistProgress writes the poll counters and outage mark; an audit row is
// added when event is set.
func (l *loop) persistProgress(ctx context.Context, event, outcome string) {
	live := l.live
	next, err := l.r.db.Transition(context.WithoutCancel(ctx), l.p.ID, openStates,
		store.Audit{Actor: "posd", Event: event, Outcome: outcome, Origin: "poll"},
		func(p *store.Payment) error {
			p.PollCount, p.InvoiceVersion, p.OutageSince = live.pollCount, live.version, live.outageSince
			return nil
		})
	if err != nil {
		// Progress is advisory; the loop goes on with what it has in memory.
		l.r.log.Warn("save poll progress", zap.String("payment", l.p.ID), zap.Error(err))
		return
	}
	l.p = next
}

// final commits a final state other than paid; true when the loop must end.
func (l *loop) final(ctx context.Context, to State, actor, detail, errText string) bool {
	r := l.r
	live := l.live
	for {
		next, err := r.db.Transition(context.WithoutCancel(ctx), l.p.ID, openStates,
			store.Audit{Actor: actor, Event: "final", Outcome: "success", Origin: "poll", Detail: detail},
			func(p *store.Payment) error {
				p.State, p.Error, p.OutageSince = string(to), errText, time.Time{}
				p.PollCount, p.InvoiceVersion = live.pollCount, live.version
				return nil
			})
		if err == nil {
			l.p = next
			r.obs.PaymentFinished(to)
			r.log.Info("payment final", zap.String("payment", l.p.ID), zap.String("state", string(to)), zap.String("detail", detail))
			r.publishState(next, detail)
			return true
		}
		if errors.Is(err, store.ErrStateConflict) {
			return true
		}
		r.log.Error("record final state; retrying", zap.String("payment", l.p.ID), zap.Error(err))
		if !sleepCtx(ctx, r.cfg.RecordRetry) {
			return true // the next start polls it again and sees the same final status
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// onCommand handles a cashier's "try again" or "cancel".
func (l *loop) onCommand(ctx context.Context, cmd trackerCmd) bool {
	r := l.r
	switch cmd.kind {
	case "retry":
		if l.cancelInFlight {
			// The cancel may still succeed and close the payment: a new
			// window now would tell the cashier the opposite.
			who := "the cashier's cancel"
			if l.cancelAuto {
				who = "posd's cancel after the decision limit"
			}
			cmd.reply <- cmdReply{p: l.p, err: fmt.Errorf("try again %s: %s is in progress; wait for its outcome: %w", l.p.ID, who, ErrInvalidState)}
			return false
		}
		switch State(l.p.State) {
		case StatePolling:
			cmd.reply <- cmdReply{p: l.p} // pressed twice: the window is already running
			return false
		case StateAwaitingDecision:
		default:
			cmd.reply <- cmdReply{p: l.p, err: fmt.Errorf("try again in state %s: %w", l.p.State, ErrInvalidState)}
			return false
		}
		now := r.now()
		live := l.live
		next, err := r.db.Transition(context.WithoutCancel(ctx), l.p.ID, []string{string(StateAwaitingDecision)},
			store.Audit{Actor: cmd.actor, Event: "retry", Outcome: "success", Origin: "api",
				Detail: fmt.Sprintf("window %d, same invoice reference", l.p.Window+1)},
			func(p *store.Payment) error {
				p.State, p.Window, p.WindowEndsAt = string(StatePolling), p.Window+1, now.Add(r.cfg.Window)
				p.DecisionDeadline = time.Time{}
				p.PollCount, p.InvoiceVersion = live.pollCount, live.version
				return nil
			})
		if err != nil {
			cmd.reply <- cmdReply{p: l.p, err: fmt.Errorf("%w: %v", ErrStorage, err)}
			return false
		}
		l.p = next
		r.publishState(next, "trying again")
		cmd.reply <- cmdReply{p: next}
	case "cancel":
		if l.cancelInFlight {
			cmd.reply <- cmdReply{p: l.p, err: fmt.Errorf("cancel %s: a cancel is already in progress: %w", l.p.ID, ErrInvalidState)}
			return false
		}
		if !l.ensurePrincipal(ctx) {
			cmd.reply <- cmdReply{p: l.p, err: ErrNotRegistered}
			return false
		}
		l.startCancel(ctx, cmd.actor, false, cmd.reply)
	}
	return false
}

// onCancel handles cancelInvoice's answer: 0 or 95 canceled; 50 the payment
// is paid (polled at once to get its reference); 51/48 and every other
// answer leave it open.
func (l *loop) onCancel(ctx context.Context, res cancelResult) bool {
	r := l.r
	reply := func(err error) {
		if res.reply != nil {
			res.reply <- cmdReply{p: l.p, err: err}
		}
	}
	code, isCode := seqr.Code(res.err)
	switch {
	case res.err == nil || (isCode && code == seqr.ResultInvoiceAlreadyCanceled):
		detail := "cancelInvoice: 0 SUCCESS"
		if res.err != nil {
			detail = "cancelInvoice: 95 INVOICE_ALREADY_CANCELED"
		}
		if res.auto {
			detail += " (decision limit reached)"
		}
		done := l.final(ctx, StateCanceled, res.actor, detail, "")
		reply(nil)
		return done
	case isCode && code == seqr.ResultCannotCancelPaidInvoice:
		r.audit(ctx, l.p.ID, res.actor, "cancel", "failure: 50 CANNOT_CANCEL_PAID_INVOICE", "the customer has paid; recording the payment")
		// Only a poll started from now on can show the PAID behind the 50.
		if res.reply != nil {
			l.waitPoll = append(l.waitPoll, pollWaiter{reply: res.reply, minSeq: l.pollSeq + 1})
		}
		if l.inFlight {
			l.pollSoon = true
		} else {
			l.poll(ctx)
		}
		return false
	}
	msg := describe("cancelInvoice", res.err)
	r.audit(ctx, l.p.ID, res.actor, "cancel", "failure: "+msg, "payment still open; polling continues")
	if res.auto && isCode && !transient(res.err) && code != seqr.ResultCannotCancelInvoiceInProgress && code != seqr.ResultPaymentInProgress {
		// posd cannot close it and nobody decides anymore: the outcome is
		// unknown until SEQR gives a final status (polling goes on) or the
		// period report settles it.
		next, err := r.db.Transition(context.WithoutCancel(ctx), l.p.ID, []string{string(StateAwaitingDecision)},
			store.Audit{Actor: "posd", Event: "decision_limit", Outcome: "failure: " + msg, Origin: "poll"},
			func(p *store.Payment) error {
				p.State, p.Error = string(StateUnknown), msg+"; outcome unknown"
				return nil
			})
		if err == nil {
			l.p = next
			r.publishState(next, next.Error)
		}
	}
	switch {
	case isCode && (code == seqr.ResultCannotCancelInvoiceInProgress || code == seqr.ResultPaymentInProgress):
		reply(fmt.Errorf("cancel %s: %w: the customer is confirming the payment (%d %s); polling continues",
			l.p.ID, ErrProviderRejected, code, seqr.ResultName(code)))
	case isCode:
		reply(fmt.Errorf("cancel %s: %w: %d %s; the payment is still open", l.p.ID, ErrProviderRejected, code, seqr.ResultName(code)))
	default:
		reply(fmt.Errorf("cancel %s: %w: %v; the payment is still open", l.p.ID, ErrOffline, res.err))
	}
	return false
}

func (r *Register) audit(ctx context.Context, paymentID, actor, event, outcome, detail string) {
	if err := r.db.AddAudit(context.WithoutCancel(ctx), paymentID, store.Audit{Actor: actor, Event: event, Outcome: outcome, Origin: "api", Detail: detail}); err != nil {
		r.log.Error("audit", zap.String("payment", paymentID), zap.String("event", event), zap.Error(err))
	}
}

// Retry is the cashier's "try again": a new window, same invoice reference.
func (r *Register) Retry(ctx context.Context, id string) (Payment, error) {
	return r.command(ctx, id, "retry")
}

// Cancel is the cashier's "cancel": cancelInvoice. The payment is canceled
// only when SEQR confirms (0 or 95); 50 means it is paid and is recorded so.
func (r *Register) Cancel(ctx context.Context, id string) (Payment, error) {
	return r.command(ctx, id, "cancel")
}

func (r *Register) command(ctx context.Context, id, kind string) (Payment, error) {
	r.mu.Lock()
	t := r.trackers[id]
	r.mu.Unlock()
	if t == nil {
		p, err := r.Payment(ctx, id)
		if err != nil {
			return Payment{}, err
		}
		return p, fmt.Errorf("%s payment %s in state %s: %w", kind, id, p.State, ErrInvalidState)
	}
	sp, err := r.db.Payment(ctx, id)
	if err != nil {
		return Payment{}, err
	}
	reply := make(chan cmdReply, 1)
	select {
	case t.cmds <- trackerCmd{kind: kind, actor: actorOf(sp.CashierID), reply: reply}:
	case <-t.exited:
		p, err := r.Payment(ctx, id)
		if err != nil {
			return Payment{}, err
		}
		return p, fmt.Errorf("%s payment %s in state %s: %w", kind, id, p.State, ErrInvalidState)
	case <-ctx.Done():
		return Payment{}, ctx.Err()
	}
	var res cmdReply
	select {
	case res = <-reply:
	case <-ctx.Done():
		return Payment{}, ctx.Err()
	}
	p, err := r.Payment(context.WithoutCancel(ctx), id)
	if err != nil {
		return Payment{}, err
	}
	return p, res.err
}
