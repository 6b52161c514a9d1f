package register

import (
	"context"
	"math"
	"time"

	"github.com/posd/posd/internal/store"
)

// subscriber is one event stream. Poll events are dropped when its buffer is
// full; state events are not (an older event is dropped to make room), and
// the final state event is always the last one before the channel closes.
type subscriber struct {
	ch     chan Event
	closed bool
}

const subscriberBuffer = 64

// Subscribe streams a payment's events: each state change and one "poll"
// event per poll, ending with the final state, after which the channel is
// closed. For a payment already final, that state is sent at once. cancel
// stops the stream early.
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
	p, err := r.Payment(context.Background(), id)
	if err != nil || p.State.Final() {
		r.mu.Lock()
		if !s.closed && err == nil {
			r.deliver(s, Event{Type: "state", PaymentID: id, State: p.State, Payment: p, At: r.now().UTC()}, true)
		}
		r.closeSub(id, s)
		r.mu.Unlock()
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
	r.mu.Lock()
	defer r.mu.Unlock()
	for s := range r.subs[ev.PaymentID] {
		r.deliver(s, ev, ev.Type != "poll")
		if ev.Type == "state" && ev.State.Final() {
			r.closeSub(ev.PaymentID, s)
		}
	}
}

// publishState sends a state event for a freshly committed row.
func (r *Register) publishState(sp store.Payment, msg string) {
	p := r.view(sp, r.liveOf(sp.ID), 0)
	r.publish(Event{Type: "state", PaymentID: p.ID, State: p.State, SecondsLeft: secondsLeft(p, r.now()),
		Message: msg, Payment: p, At: r.now().UTC()})
}

func (r *Register) publishPoll(sp store.Payment, msg string) {
	p := r.view(sp, r.liveOf(sp.ID), 0)
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
