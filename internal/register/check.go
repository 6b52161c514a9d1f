package register

// How a provider's answers move a payment (reliability P5: only a final
// status, a successful cancel or "already canceled" makes a payment "not
// paid"; the provider's adapter maps its own codes onto these):
//
//	Start   session                     -> polling (window 1 when the policy has windows)
//	        refused or definitely not sent -> failed
//	        anything else               -> unknown (may have arrived; never resent)
//	Check   paid                        -> paid (reference, journal post, then state)
//	        canceled, failed            -> canceled, failed (the provider's reason kept)
//	        pending                     -> keep checking (the note shown)
//	        refused                     -> keep checking, error shown
//	        any other error             -> keep checking, outageSince set
//	Cancel  cancelled                   -> canceled
//	        too late (the customer paid) -> check at once (or as soon as the check in
//	                                      flight returns); recorded paid. The cancel is
//	                                      answered by a check started after it: paid,
//	                                      or ErrCustomerPaid if it was not paid yet
//	        not yet (customer confirming) -> keep checking
//	        error                       -> keep checking; when posd itself cancels after
//	                                      the decision limit and the provider refuses:
//	                                      unknown, still checked

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"

	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/store"
)

// ErrCustomerPaid answers a cancel the provider refused because the
// customer has paid, when no check since has confirmed the payment yet:
// posd is recording it, and the sale must not be voided. It wraps
// ErrProviderRejected; the API answers it with its own 409 problem type.
var ErrCustomerPaid = fmt.Errorf("%w: the customer has paid; recording the payment: do not void the sale", ErrProviderRejected)

// tracker is the handle of one payment's check loop. Cashier decisions go
// through cmds so the loop is the only goroutine that decides the payment.
type tracker struct {
	id     string
	cmds   chan trackerCmd
	hint   chan struct{} // check now (a provider's notification); buffered 1
	exited chan struct{}
}

type cmdKind int

const (
	cmdRetry cmdKind = iota
	cmdCancel
)

func (k cmdKind) String() string {
	if k == cmdRetry {
		return "try again"
	}
	return "cancel"
}

type trackerCmd struct {
	kind  cmdKind
	actor string
	reply chan cmdReply
}

type cmdReply struct {
	p   store.Payment
	err error
}

type checkResult struct {
	c   payment.Check
	err error
	rtt time.Duration
	seq int // which check of the loop (1, 2, ...)
}

// checkWaiter is a cancel answered "too late", waiting for a check started
// after that answer (seq >= minSeq): an older check says nothing about it.
type checkWaiter struct {
	reply  chan cmdReply
	minSeq int
}

type cancelResult struct {
	outcome payment.CancelOutcome
	err     error
	actor   string
	auto    bool
	reply   chan cmdReply
}

func (r *Register) newTracker(id string) *tracker {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.trackers[id]; ok {
		return nil
	}
	t := &tracker{id: id, cmds: make(chan trackerCmd), hint: make(chan struct{}, 1), exited: make(chan struct{})}
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

// loop is the state of one payment's check loop.
type loop struct {
	r              *Register
	pv             *prov
	pol            payment.Policy
	t              *tracker
	p              store.Payment
	live           liveState
	results        chan checkResult
	cancels        chan cancelResult
	inFlight       bool
	cancelInFlight bool
	cancelAuto     bool          // the cancel in flight is posd's own (decision limit)
	checkSeq       int           // checks started
	checkSoon      bool          // check again as soon as the one in flight returns (after "too late")
	waitCheck      []checkWaiter // cancels answered "too late", owed a reply from a later check
	nextAutoCancel time.Time
}

// track checks one payment on a fixed cadence until it is final or ctx ends.
// time.Ticker keeps the cadence independent of the round trip; a tick that
// finds the previous call still in flight is skipped, never queued. spread
// delays the first check by a random part of it (long-lived payments after
// a restart, so that many are no burst).
func (r *Register) track(ctx context.Context, t *tracker, p store.Payment, spread time.Duration) {
	defer r.untrack(t)
	pv, err := r.providerOf(p)
	if err != nil {
		r.log.Error("cannot check payment", zap.Error(err))
		return
	}
	l := &loop{r: r, pv: pv, pol: r.policy(pv, p.Method), t: t, p: p,
		live:    liveState{pollCount: p.PollCount, progress: p.Progress, outageSince: p.OutageSince},
		results: make(chan checkResult, 1),
		cancels: make(chan cancelResult, 1),
	}
	l.setLive()
	defer l.drain()
	if spread > 0 && !l.waitFirst(ctx, spread) {
		return
	}
	ticker := time.NewTicker(l.pol.CheckInterval)
	defer ticker.Stop()

	l.check(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			l.tick(ctx)
			l.check(ctx)
		case res := <-l.results:
			l.inFlight = false
			if l.onCheck(ctx, res) {
				return
			}
			if l.checkSoon {
				l.checkSoon = false
				l.check(ctx)
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
		case <-t.hint:
			l.check(ctx) // skipped if one is in flight: its answer is as fresh
		}
	}
}

// waitFirst waits a random part of spread before the first check, still
// answering the cashier meanwhile; false when ctx ended or a command ended
// the payment.
func (l *loop) waitFirst(ctx context.Context, spread time.Duration) bool {
	timer := time.NewTimer(rand.N(spread))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
			return true
		case cmd := <-l.t.cmds:
			if l.onCommand(ctx, cmd) {
				return false
			}
		case res := <-l.cancels:
			l.cancelInFlight = false
			if l.onCancel(ctx, res) {
				return false
			}
		case res := <-l.results:
			l.inFlight = false
			if l.onCheck(ctx, res) {
				return false
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
			// A check decided the payment while the cancel was on its way
			// (canceled, or paid: the customer won): the caller sees the
			// final state. Otherwise the loop ends because posd stops.
			var err error
			if !State(l.p.State).Final() {
				err = fmt.Errorf("cancel %s: posd is stopping; the payment is still open: %w", l.p.ID, ErrInvalidState)
			}
			res.reply <- cmdReply{p: l.p, err: err}
		}
	}
	for _, w := range l.waitCheck {
		w.reply <- l.tooLateReply()
	}
	l.waitCheck = nil
}

// tooLateReply is the answer to a cancel the provider refused because the
// customer paid: the payment as recorded once a check confirmed it (or
// another final state); otherwise ErrCustomerPaid.
func (l *loop) tooLateReply() cmdReply {
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

func (l *loop) check(ctx context.Context) {
	if l.inFlight {
		l.r.obs.PollSkipped(l.pv.name)
		return
	}
	l.inFlight = true
	l.checkSeq++
	s, seq := sessionOf(l.p), l.checkSeq
	s.Progress = l.live.progress
	go func() {
		cctx, cancel := context.WithTimeout(ctx, l.pol.CheckTimeout)
		defer cancel()
		start := time.Now()
		c, err := l.pv.Check(cctx, s)
		l.results <- checkResult{c: c, err: err, rtt: time.Since(start), seq: seq}
	}()
}

func (l *loop) startCancel(ctx context.Context, actor string, auto bool, reply chan cmdReply) {
	l.cancelInFlight, l.cancelAuto = true, auto
	s := sessionOf(l.p)
	go func() {
		cctx, cancel := context.WithTimeout(ctx, l.pol.CallTimeout)
		defer cancel()
		out, err := l.pv.Cancel(cctx, s)
		l.cancels <- cancelResult{outcome: out, err: err, actor: actor, auto: auto, reply: reply}
	}()
}

// tick ends a window (awaiting the cashier's decision) and, past the
// decision limit, cancels the session on posd's own account.
func (l *loop) tick(ctx context.Context) {
	r := l.r
	now := r.now()
	switch State(l.p.State) {
	case StatePolling:
		if l.p.WindowEndsAt.IsZero() || now.Before(l.p.WindowEndsAt) {
			return
		}
		live := l.live
		next, err := r.transition(context.WithoutCancel(ctx), l.p.ID, evWindowElapsed, StateAwaitingDecision, change{origin: "poll",
			detail: fmt.Sprintf("no final status in window %d; checking continues while the cashier decides", l.p.Window),
			edit: func(p *store.Payment) {
				p.DecisionDeadline = now.Add(l.pol.DecisionLimit)
				p.PollCount, p.Progress = live.pollCount, live.progress
			}})
		if err != nil {
			r.log.Error("end window", zap.String("payment", l.p.ID), zap.Error(err))
			return
		}
		l.p = next
		r.publishState(next, "not paid yet: try again or cancel")
	case StateAwaitingDecision:
		if l.cancelInFlight || l.p.DecisionDeadline.IsZero() || now.Before(l.p.DecisionDeadline) || now.Before(l.nextAutoCancel) {
			return
		}
		l.nextAutoCancel = now.Add(r.cfg.AutoCancelRetry)
		r.log.Info("decision limit reached: canceling", zap.String("payment", l.p.ID))
		l.startCancel(ctx, "posd", true, nil)
	}
}

// onCheck handles one Check answer; true when the payment is final.
//
// Only a final status decides (reliability P5): every failed call keeps the
// payment open. A refusal is shown as the payment's error while checking
// continues; any other error marks an outage.
func (l *loop) onCheck(ctx context.Context, res checkResult) bool {
	r := l.r
	r.obs.PollRoundTrip(l.pv.name, res.rtt, res.err)
	defer l.flushWaitCheck(res.seq)
	if res.err != nil {
		l.onCheckError(ctx, res.err)
		return false
	}
	l.live.pollCount++
	wasOutage := !l.live.outageSince.IsZero()
	l.live.err = ""
	l.live.outageSince = time.Time{}
	switch {
	case wasOutage:
		l.live.progress = res.c.Progress
		l.persistProgress(ctx, "outage_end", "success", res.c.Data)
	case res.c.Data != nil:
		// Provider data is stored before anything else reads the session
		// (a paid payment's follow-up tasks are built from it).
		l.live.progress = res.c.Progress
		l.persistProgress(ctx, "-", "", res.c.Data)
	case res.c.Progress != l.live.progress:
		l.live.progress = res.c.Progress
		if res.c.Status == payment.Pending {
			// A final answer's progress is written with its recording:
			// one commit less between the answer and "paid".
			l.persistProgress(ctx, "-", "", nil)
		}
	}
	l.setLive()

	switch res.c.Status {
	case payment.Paid:
		if res.c.TransactionRef == "" {
			l.live.err = "the provider said paid without a transaction reference; checking again"
			l.setLive()
			r.publishPoll(l.p, l.live.err)
			return false
		}
		p, ok := r.record(ctx, l.p, recordReq{ref: res.c.TransactionRef, methodName: res.c.MethodName, paidAt: r.now(), origin: "poll"})
		if ok {
			l.p = p
		}
		return true // recorded, or ctx ended and recovery finishes it
	case payment.Canceled:
		return l.final(ctx, StateCanceled, "posd", res.c.Note, res.c.Note)
	case payment.Failed:
		return l.final(ctx, StateFailed, "posd", res.c.Note, res.c.Note)
	}
	r.publishPoll(l.p, res.c.Note)
	return false
}

func (l *loop) onCheckError(ctx context.Context, err error) {
	r := l.r
	msg := err.Error() + " (payment still open)"
	changed := l.live.err != msg
	l.live.err = msg
	if _, refused := payment.Refused(err); !refused && l.live.outageSince.IsZero() {
		l.live.outageSince = r.now()
		l.persistProgress(ctx, "outage", "failure: "+msg, nil)
	} else if changed {
		r.log.Warn("check failed", zap.String("payment", l.p.ID), zap.String("error", msg))
	}
	l.setLive()
	r.publishPoll(l.p, msg)
}

// flushWaitCheck answers the cancels answered "too late" after check seq:
// each once the payment is final (recorded paid), or once a check started
// after its answer has come back without paid (ErrCustomerPaid). A check
// started before the answer answers nobody; the follow-up check is then
// started at once.
func (l *loop) flushWaitCheck(seq int) {
	keep := l.waitCheck[:0]
	for _, w := range l.waitCheck {
		if State(l.p.State).Final() || seq >= w.minSeq {
			w.reply <- l.tooLateReply()
			continue
		}
		keep = append(keep, w)
		l.checkSoon = true
	}
	l.waitCheck = keep
}

// persistProgress writes the check counters, outage mark and new provider
// data; an audit row is added unless auditEvent is "-".
func (l *loop) persistProgress(ctx context.Context, auditEvent, outcome string, data []byte) {
	live := l.live
	next, err := l.r.transition(context.WithoutCancel(ctx), l.p.ID, evProgress, "", change{origin: "poll",
		auditEvent: auditEvent, outcome: outcome,
		edit: func(p *store.Payment) {
			p.PollCount, p.Progress, p.OutageSince = live.pollCount, live.progress, live.outageSince
			if data != nil {
				p.ProviderData = data
			}
		}})
	if err != nil {
		// Progress is advisory; the loop goes on with what it has in memory.
		l.r.log.Warn("save check progress", zap.String("payment", l.p.ID), zap.Error(err))
		return
	}
	l.p = next
}

// final commits a final state other than paid; true when the loop must end.
func (l *loop) final(ctx context.Context, to State, actor, detail, errText string) bool {
	r := l.r
	live := l.live
	for {
		next, err := r.transition(context.WithoutCancel(ctx), l.p.ID, evFinal, to, change{actor: actor, origin: "poll", detail: detail,
			edit: func(p *store.Payment) {
				p.Error, p.OutageSince = errText, time.Time{}
				p.PollCount, p.Progress = live.pollCount, live.progress
			}})
		if err == nil {
			l.p = next
			r.obs.PaymentFinished(l.pv.name, to)
			r.log.Info("payment final", zap.String("payment", l.p.ID), zap.String("state", string(to)), zap.String("detail", detail))
			r.publishState(next, detail)
			return true
		}
		if errors.Is(err, store.ErrStateConflict) {
			return true
		}
		r.log.Error("record final state; retrying", zap.String("payment", l.p.ID), zap.Error(err))
		if !sleepCtx(ctx, r.cfg.RecordRetry) {
			return true // the next start checks it again and sees the same final status
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
	if cmd.kind == cmdCancel {
		if l.cancelInFlight {
			cmd.reply <- cmdReply{p: l.p, err: fmt.Errorf("cancel %s: a cancel is already in progress: %w", l.p.ID, ErrInvalidState)}
			return false
		}
		l.startCancel(ctx, cmd.actor, false, cmd.reply)
		return false
	}
	if l.cancelInFlight {
		// The cancel may still succeed and close the payment: a new window
		// now would tell the cashier the opposite.
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
	r := l.r
	now := r.now()
	live := l.live
	next, err := r.transition(context.WithoutCancel(ctx), l.p.ID, evRetry, StatePolling, change{actor: cmd.actor, origin: "api",
		detail: fmt.Sprintf("window %d, same session", l.p.Window+1),
		edit: func(p *store.Payment) {
			p.Window, p.WindowEndsAt = p.Window+1, now.Add(l.pol.Window)
			p.DecisionDeadline = time.Time{}
			p.PollCount, p.Progress = live.pollCount, live.progress
		}})
	if err != nil {
		cmd.reply <- cmdReply{p: l.p, err: fmt.Errorf("%w: %v", ErrStorage, err)}
		return false
	}
	l.p = next
	r.publishState(next, "trying again")
	cmd.reply <- cmdReply{p: next}
	return false
}

// onCancel handles the provider's answer to a cancel: cancelled ends the
// payment; too late means it is paid (checked at once to record it); not
// yet and every error leave it open.
func (l *loop) onCancel(ctx context.Context, res cancelResult) bool {
	r := l.r
	reply := func(err error) {
		if res.reply != nil {
			res.reply <- cmdReply{p: l.p, err: err}
		}
	}
	switch {
	case res.err == nil && res.outcome == payment.Cancelled:
		detail, reason := "canceled at the provider", ""
		if res.auto {
			// Not the cashier's doing: the payment says why it ended.
			detail += " (decision limit reached)"
			reason = fmt.Sprintf("canceled by posd: nobody chose try again or cancel within %s", l.pol.DecisionLimit)
		}
		done := l.final(ctx, StateCanceled, res.actor, detail, reason)
		reply(nil)
		return done
	case res.err == nil && res.outcome == payment.TooLate:
		r.audit(ctx, l.p, res.actor, "cancel", "failure: the customer has paid", "recording the payment")
		// Only a check started from now on can show the payment.
		if res.reply != nil {
			l.waitCheck = append(l.waitCheck, checkWaiter{reply: res.reply, minSeq: l.checkSeq + 1})
		}
		if l.inFlight {
			l.checkSoon = true
		} else {
			l.check(ctx)
		}
		return false
	case res.err == nil: // payment.NotYet
		r.audit(ctx, l.p, res.actor, "cancel", "failure: the customer is confirming", "payment still open; checking continues")
		reply(fmt.Errorf("cancel %s: %w: the customer is confirming the payment; checking continues", l.p.ID, ErrProviderRejected))
		return false
	}
	msg := "cancel: " + res.err.Error()
	r.audit(ctx, l.p, res.actor, "cancel", "failure: "+msg, "payment still open; checking continues")
	refused, isRefused := payment.Refused(res.err)
	if res.auto && isRefused {
		// posd cannot close it and nobody decides anymore: the outcome is
		// unknown until the provider gives a final status (checking goes
		// on) or the period report settles it.
		next, err := r.transition(context.WithoutCancel(ctx), l.p.ID, evDecisionLimit, StateUnknown, change{origin: "poll",
			outcome: "failure: " + msg, edit: func(p *store.Payment) { p.Error = msg + "; outcome unknown" }})
		if err == nil {
			l.p = next
			r.publishState(next, next.Error)
		}
	}
	if isRefused {
		reply(fmt.Errorf("cancel %s: %w: %s; the payment is still open", l.p.ID, ErrProviderRejected, refused.Message))
	} else {
		reply(fmt.Errorf("cancel %s: %w: %v; the payment is still open", l.p.ID, ErrOffline, res.err))
	}
	return false
}

// audit adds an audit row about a payment that changes nothing in it.
func (r *Register) audit(ctx context.Context, p store.Payment, actor, event, outcome, detail string) {
	if err := r.db.AddAudit(context.WithoutCancel(ctx), p.ID, store.Audit{Provider: p.Provider, Actor: actor, Event: event,
		Outcome: outcome, Origin: "api", Detail: detail}); err != nil {
		r.log.Error("audit", zap.String("payment", p.ID), zap.String("event", event), zap.Error(err))
	}
}

// Retry is the cashier's "try again": a new window, same session. Pressed
// on a payment already checking in a fresh window it answers that payment.
func (r *Register) Retry(ctx context.Context, id string) (Payment, error) {
	return r.command(ctx, id, cmdRetry)
}

// Cancel is the cashier's "cancel". The payment is canceled only when the
// provider confirms; "too late" means it is paid and is recorded so.
// Repeated on a payment already canceled (a retry after a lost answer), it
// answers that payment.
func (r *Register) Cancel(ctx context.Context, id string) (Payment, error) {
	return r.command(ctx, id, cmdCancel)
}

func (r *Register) command(ctx context.Context, id string, kind cmdKind) (Payment, error) {
	r.mu.Lock()
	t := r.trackers[id]
	r.mu.Unlock()
	if t == nil {
		return r.notTracked(ctx, id, kind)
	}
	sp, err := r.db.Payment(ctx, id)
	if err != nil {
		return Payment{}, err
	}
	reply := make(chan cmdReply, 1)
	select {
	case t.cmds <- trackerCmd{kind: kind, actor: actorOf(sp.CashierID), reply: reply}:
	case <-t.exited:
		return r.notTracked(ctx, id, kind)
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

// notTracked answers a command on a payment no loop follows: a cancel of a
// payment already canceled answers it (idempotent, issue: a retried cancel
// after a lost answer); anything else is refused naming the state.
func (r *Register) notTracked(ctx context.Context, id string, kind cmdKind) (Payment, error) {
	p, err := r.Payment(ctx, id)
	if err != nil {
		return Payment{}, err
	}
	if kind == cmdCancel && p.State == StateCanceled {
		return p, nil
	}
	return p, fmt.Errorf("%s payment %s in state %s: %w", kind, id, p.State, ErrInvalidState)
}

// Hint is a provider's notification or callback about a session (Payson's
// notificationUri, Resurs's callbacks): a reason to check that payment now,
// never a decision. It reports whether an open payment was found.
func (r *Register) Hint(ctx context.Context, provider, sessionRef string) (bool, error) {
	id, err := r.db.PaymentBySession(ctx, provider, sessionRef)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	r.mu.Lock()
	t := r.trackers[id]
	r.mu.Unlock()
	if t == nil {
		return false, nil
	}
	select {
	case t.hint <- struct{}{}:
	default: // one is pending already
	}
	return true, nil
}
