package register

import (
	"cmp"
	"context"
	"math"
	"time"

	"github.com/posd/posd/internal/store"
)

// subscriber is one event stream. Poll events are dropped when its buffer is
// full; state and printer events are not (an older event is dropped to make
// room). The final state event is the last one before the channel closes,
// except while a paid payment's receipt waits to be printed (see printer.go):
// then printer events follow, the last one when the receipt is printed or
// dropped.
type subscriber struct {
	ch      chan Event
	closed  bool
	receipt bool   // after the paid event, kept open while the receipt waits
	told    string // the printer condition this stream was last told
}

const subscriberBuffer = 64

// Subscribe streams a payment's events: each state change and one "poll"
// event per poll, ending with the final state, after which the channel is
// closed. For a payment already final, that state is sent at once. A paid
// payment whose receipt waits for the printer (a printer is wired and the
// job is pending) keeps its stream open for "printer" events until the
// receipt is printed or dropped; see printer.go. cancel stops the stream
// early and must always be called.
func (r *Register) Subscribe(id string) (<-chan Event, func()) {
	s := &subscriber{ch: make(chan Event, subscriberBuffer)}
	r.mu.Lock()
	if r.subs[id] == nil {
		r.subs[id] = map[*subscriber]struct{}{}
	}
	r.subs[id][s] = struct{}{}
	r.mu.Unlock()

	cancel := func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.closeSub(id, s)
	}
	ctx := context.Background()
	p, err := r.Payment(ctx, id)
	if err != nil || p.State.Final() {
		keep := err == nil && p.State == StatePaid && r.receiptWaits(ctx, id)
		problem := ""
		if st, ok := r.printerStatus(); keep && ok {
			problem = printerProblem(st)
		}
		r.mu.Lock()
		if !s.closed && err == nil {
			now := r.now().UTC()
			r.deliver(s, Event{Type: "state", PaymentID: id, State: p.State, Payment: p, At: now}, true)
			if problem != "" {
				r.deliver(s, Event{Type: "printer", PaymentID: id, State: p.State, Message: problem, Payment: p, At: now}, true)
			}
		}
		if keep {
			s.receipt, s.told = true, cmp.Or(problem, msgPrinterOK)
		} else {
			r.closeSub(id, s)
		}
		r.mu.Unlock()
		if keep {
			r.kickPrinter() // the receipt may have been printed meanwhile
		}
	}
	return s.ch, cancel
}

// closeSub must be called with r.mu held.
func (r *Register) closeSub(id string, s *subscriber) {
	if s.closed {
		return
	}
	s.closed = true
	close(s.ch)
	delete(r.subs[id], s)
	if len(r.subs[id]) == 0 {
		delete(r.subs, id)
	}
}

// deliver must be called with r.mu held; it never blocks.
func (r *Register) deliver(s *subscriber, ev Event, mustKeep bool) {
	select {
	case s.ch <- ev:
		return
	default:
	}
	if !mustKeep {
		return
	}
	select { // make room by dropping the oldest event
	case <-s.ch:
	default:
	}
	select {
	case s.ch <- ev:
	default:
	}
}

func (r *Register) publish(ev Event) {
	final := ev.Type == "state" && ev.State.Final()
	// A paid payment's streams stay open while its receipt waits; if the
	// printer cannot print now, a printer event saying so comes first, so
	// that a client that stops at the paid event sees it too.
	keep := final && ev.State == StatePaid && r.receiptWaits(context.Background(), ev.PaymentID)
	problem := ""
	if st, ok := r.printerStatus(); keep && ok {
		problem = printerProblem(st)
	}
	r.mu.Lock()
	for s := range r.subs[ev.PaymentID] {
		if problem != "" {
			r.deliver(s, Event{Type: "printer", PaymentID: ev.PaymentID, State: ev.State, Message: problem,
				Payment: ev.Payment, At: ev.At}, true)
		}
		r.deliver(s, ev, ev.Type != "poll")
		switch {
		case final && keep:
			s.receipt, s.told = true, cmp.Or(problem, msgPrinterOK)
		case final:
			r.closeSub(ev.PaymentID, s)
		}
	}
	r.mu.Unlock()
	if keep {
		r.kickPrinter() // the receipt may have been printed meanwhile
	}
}

// publishState sends a state event for a freshly committed row.
func (r *Register) publishState(sp store.Payment, msg string) {
	p := r.view(sp, r.liveOf(sp.ID), store.Totals{})
	r.publish(Event{Type: "state", PaymentID: p.ID, State: p.State, SecondsLeft: secondsLeft(p, r.now()),
		Message: msg, Payment: p, At: r.now().UTC()})
}

func (r *Register) publishPoll(sp store.Payment, msg string) {
	p := r.view(sp, r.liveOf(sp.ID), store.Totals{})
	r.publish(Event{Type: "poll", PaymentID: p.ID, State: p.State, SecondsLeft: secondsLeft(p, r.now()),
		Message: msg, Payment: p, At: r.now().UTC()})
}

func secondsLeft(p Payment, now time.Time) int {
	if p.WindowEndsAt == nil || p.State != StatePolling {
		return 0
	}
	d := p.WindowEndsAt.Sub(now)
	if d <= 0 {
		return 0
	}
	return int(math.Ceil(d.Seconds()))
}

func (r *Register) liveOf(id string) *liveState {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.live[id]
	if !ok {
		return nil
	}
	return &l
}
