package register

import (
	"context"
	"fmt"
	"slices"

	"github.com/posd/posd/internal/store"
)

// The one transition table. Every change of a payment's row goes through
// transition, which takes the allowed from-states from here and refuses a
// change that lands anywhere else; store.Transition re-checks the from-state
// inside the write transaction, so concurrent deciders (check loop, cashier,
// recovery) are safe: the loser gets store.ErrStateConflict.
//
//	created            --start-->          polling | failed | unknown
//	created            --recover_unsent--> unknown
//	unknown            --recover_found-->  polling   (its lost session found: Finder)
//	unknown            --recover_unmatched--> canceled (the provider has no session of it)
//	polling            --window_elapsed--> awaiting_decision
//	awaiting_decision  --retry-->          polling
//	awaiting_decision  --decision_limit--> unknown
//	open               --progress-->       (same state: counters, outage mark)
//	open               --paid_received-->  (same state: transaction reference committed)
//	open               --paid-->           paid
//	open               --final-->          canceled | failed
//	open               --raise-->          unknown (cannot be recorded: manual handling)
//
// where open is polling, awaiting_decision or unknown (an unknown payment
// with a session is still checked).
type event string

const (
	evStart         event = "start"
	evRecoverUnsent event = "recover_unsent"
	evRecoverFound  event = "recover_found"
	evRecoverNone   event = "recover_unmatched"
	evWindowElapsed event = "window_elapsed"
	evRetry         event = "retry"
	evDecisionLimit event = "decision_limit"
	evProgress      event = "progress"
	evPaidReceived  event = "paid_received"
	evPaid          event = "paid"
	evFinal         event = "final"
	evRaise         event = "raise"
)

// rule is one row of the table. An empty to means the state stays as it is.
type rule struct {
	from []State
	to   []State
}

var openSet = []State{StatePolling, StateAwaitingDecision, StateUnknown}

var transitions = map[event]rule{
	evStart:         {from: []State{StateCreated}, to: []State{StatePolling, StateFailed, StateUnknown}},
	evRecoverUnsent: {from: []State{StateCreated}, to: []State{StateUnknown}},
	evRecoverFound:  {from: []State{StateUnknown}, to: []State{StatePolling}},
	evRecoverNone:   {from: []State{StateUnknown}, to: []State{StateCanceled}},
	evWindowElapsed: {from: []State{StatePolling}, to: []State{StateAwaitingDecision}},
	evRetry:         {from: []State{StateAwaitingDecision}, to: []State{StatePolling}},
	evDecisionLimit: {from: []State{StateAwaitingDecision}, to: []State{StateUnknown}},
	evProgress:      {from: openSet},
	evPaidReceived:  {from: openSet},
	evPaid:          {from: openSet, to: []State{StatePaid}},
	evFinal:         {from: openSet, to: []State{StateCanceled, StateFailed}},
	evRaise:         {from: openSet, to: []State{StateUnknown}},
}

// allowed reports whether ev may move a payment from one state to another.
func allowed(ev event, from, to State) bool {
	r, ok := transitions[ev]
	if !ok || !slices.Contains(r.from, from) {
		return false
	}
	if len(r.to) == 0 {
		return to == from
	}
	return slices.Contains(r.to, to)
}

// change is one transition: the audit row (its Event defaults to the
// table's event name) and what to change besides the state.
type change struct {
	actor, origin, detail, outcome string
	auditEvent                     string // "" = the table's event; "-" = no audit row
	edit                           func(p *store.Payment)
}

// transition applies ev to payment id, moving it to to ("" = stay in the
// state it is in). It is the only function that writes a payment's state.
func (r *Register) transition(ctx context.Context, id string, ev event, to State, c change, also ...func(*store.Tx) error) (store.Payment, error) {
	rl, ok := transitions[ev]
	if !ok {
		return store.Payment{}, fmt.Errorf("payment %s: no transition %q", id, ev)
	}
	from := make([]string, len(rl.from))
	for i, s := range rl.from {
		from[i] = string(s)
	}
	name := c.auditEvent
	switch name {
	case "":
		name = string(ev)
	case "-":
		name = ""
	}
	outcome := c.outcome
	if outcome == "" {
		outcome = "success"
	}
	return r.db.Transition(ctx, id, from,
		store.Audit{Actor: orPosd(c.actor), Event: name, Outcome: outcome, Origin: c.origin, Detail: c.detail},
		func(p *store.Payment) error {
			old := State(p.State)
			if c.edit != nil {
				c.edit(p)
			}
			target := to
			if target == "" {
				target = old
			}
			if !allowed(ev, old, target) {
				return fmt.Errorf("%w: %s may not move a payment from %s to %s", store.ErrStateConflict, ev, old, target)
			}
			p.State = string(target)
			return nil
		}, also...)
}

func orPosd(actor string) string {
	if actor == "" {
		return "posd"
	}
	return actor
}
