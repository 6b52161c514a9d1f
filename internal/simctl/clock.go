package simctl

import (
	"fmt"
	"net/http"
	"sync"
	"time"
)

// MaxAdvance bounds one POST /sim/clock/advance: a typo such as "2400000h"
// should be refused, not expire every session of a long demo run.
const MaxAdvance = 400 * 24 * time.Hour

// Clock is an emulator-wide clock that runs with a base clock (normally
// time.Now) plus an offset the harness can only move forward. Emulators read
// it for every time rule, so "10 days after shipping" or "retried for 24 h"
// can be tested in a second. Safe for concurrent use.
type Clock struct {
	base func() time.Time

	mu      sync.Mutex
	offset  time.Duration
	changed chan struct{} // closed and replaced on every Advance
}

// NewClock returns a clock following base (nil: time.Now) with no offset.
func NewClock(base func() time.Time) *Clock {
	if base == nil {
		base = time.Now
	}
	return &Clock{base: base, changed: make(chan struct{})}
}

// Now is the emulator's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	off := c.offset
	c.mu.Unlock()
	return c.base().Add(off)
}

// Offset is how far the clock has been advanced in total.
func (c *Clock) Offset() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offset
}

// Advance moves the clock forward by d (d <= 0 does nothing) and wakes every
// waiter of Changed, so loops waiting for an emulator-time deadline re-check.
func (c *Clock) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	c.offset += d
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// Changed returns a channel closed at the next Advance. A loop waiting until
// an emulator time selects on it beside a real timer for the remaining time.
func (c *Clock) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// ClockResponse is the body answered by POST /sim/clock/advance and GET /sim/clock.
type ClockResponse struct {
	Now    time.Time `json:"now"`
	Offset string    `json:"offset"` // total advance, Go duration text
}

func (c *Clock) response() ClockResponse {
	c.mu.Lock()
	off := c.offset
	c.mu.Unlock()
	return ClockResponse{Now: c.base().Add(off), Offset: off.String()}
}

func (c *Clock) getClock(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusOK, c.response())
}

// advance serves POST /sim/clock/advance {"by":"240h"}.
func (c *Clock) advance(w http.ResponseWriter, r *http.Request) {
	var body struct {
		By string `json:"by"`
	}
	if !DecodeJSON(w, r, &body) {
		return
	}
	d, err := time.ParseDuration(body.By)
	if err != nil {
		WriteProblem(w, http.StatusBadRequest, "invalid duration", "by", err.Error())
		return
	}
	if d <= 0 || d > MaxAdvance {
		WriteProblem(w, http.StatusBadRequest, "invalid duration", "by",
			fmt.Sprintf("must be positive and at most %s (the clock never goes back)", MaxAdvance))
		return
	}
	c.Advance(d)
	WriteJSON(w, http.StatusOK, c.response())
}
