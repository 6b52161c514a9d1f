package simctl

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"
)

// Mode is what an injected fault does to a call.
type Mode string

const (
	// ModeNone only adds the rule's latency.
	ModeNone Mode = ""
	// ModeDrop holds the request for the rule's latency, then closes the
	// connection without an answer: the client cannot know whether it arrived.
	ModeDrop Mode = "drop"
	// ModeReset closes the connection with a TCP RST.
	ModeReset Mode = "reset"
	// ModeHTTP500 answers HTTP 500 with the provider's own error body (a SOAP fault for SEQR).
	ModeHTTP500 Mode = "http500"
	// ModeResultCode answers a well-formed response carrying Code.
	ModeResultCode Mode = "resultCode"
)

// MaxLatency bounds a rule's added latency.
const MaxLatency = 10 * time.Minute

// Rule is one fault-injection rule of POST /sim/faults.
type Rule struct {
	Service   string `json:"service,omitempty"`   // "" matches every emulator
	Operation string `json:"operation,omitempty"` // "" or "*" matches every operation
	LatencyMs int64  `json:"latencyMs,omitempty"`
	// FailureRate is the probability that a matching call is affected;
	// absent means 1 (every matching call).
	FailureRate *float64 `json:"failureRate,omitempty"`
	Mode        Mode     `json:"mode,omitempty"`
	Code        int      `json:"code,omitempty"`  // ModeResultCode only
	Count       int      `json:"count,omitempty"` // affect at most Count calls; 0: no limit
	// Process runs the operation first and then drops, resets or fails the
	// answer: the request took effect but the client never learns it.
	Process bool `json:"process,omitempty"`
	Fired   int  `json:"fired"` // calls affected so far (read-only)
}

// Validate reports the first bad field of r.
func (r Rule) Validate() error {
	switch r.Mode {
	case ModeNone, ModeDrop, ModeReset, ModeHTTP500:
		if r.Code != 0 {
			return &FieldError{Field: "code", Msg: "only allowed with mode resultCode"}
		}
	case ModeResultCode:
		if r.Code <= 0 {
			return &FieldError{Field: "code", Msg: "mode resultCode needs a positive code"}
		}
	default:
		return &FieldError{Field: "mode", Msg: fmt.Sprintf("unknown mode %q (drop, reset, http500, resultCode)", r.Mode)}
	}
	if r.LatencyMs < 0 || time.Duration(r.LatencyMs)*time.Millisecond > MaxLatency {
		return &FieldError{Field: "latencyMs", Msg: fmt.Sprintf("must be between 0 and %d", MaxLatency.Milliseconds())}
	}
	if r.FailureRate != nil && (*r.FailureRate < 0 || *r.FailureRate > 1 || *r.FailureRate != *r.FailureRate) {
		return &FieldError{Field: "failureRate", Msg: "must be between 0 and 1"}
	}
	if r.Count < 0 {
		return &FieldError{Field: "count", Msg: "must not be negative"}
	}
	if r.Process && r.Mode == ModeResultCode {
		return &FieldError{Field: "process", Msg: "not allowed with mode resultCode"}
	}
	return nil
}

// FieldError names the request field that is wrong.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Action is what a matched rule asks the emulator to do with one call.
type Action struct {
	Latency time.Duration
	Mode    Mode
	Code    int
	Process bool
}

// Faults holds the active rules. Safe for concurrent use.
type Faults struct {
	mu    sync.Mutex
	rng   *rand.Rand
	rules []Rule
}

// NewFaults returns an empty rule set drawing failure rates from rng
// (nil: a generator seeded from the clock; pass a seeded one in tests).
func NewFaults(rng *rand.Rand) *Faults {
	if rng == nil {
		now := uint64(time.Now().UnixNano())
		rng = rand.New(rand.NewPCG(now, now>>7|1))
	}
	return &Faults{rng: rng}
}

// Set replaces the rules after validating all of them.
func (f *Faults) Set(rules []Rule) error {
	for i, r := range rules {
		if err := r.Validate(); err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				return &FieldError{Field: fmt.Sprintf("rules[%d].%s", i, fe.Field), Msg: fe.Msg}
			}
			return err
		}
	}
	cp := make([]Rule, len(rules))
	copy(cp, rules)
	for i := range cp {
		cp[i].Fired = 0
	}
	f.mu.Lock()
	f.rules = cp
	f.mu.Unlock()
	return nil
}

// Clear removes every rule.
func (f *Faults) Clear() {
	f.mu.Lock()
	f.rules = nil
	f.mu.Unlock()
}

// Rules returns a copy of the rules with their fired counters.
func (f *Faults) Rules() []Rule {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Rule, len(f.rules))
	copy(out, f.rules)
	return out
}

// Match returns the action of the first rule that matches service and op,
// has calls left and wins its failure-rate draw. ok is false when the call
// proceeds untouched. A nil *Faults never matches.
func (f *Faults) Match(service, op string) (Action, bool) {
	if f == nil {
		return Action{}, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.rules {
		r := &f.rules[i]
		if r.Service != "" && r.Service != service {
			continue
		}
		if r.Operation != "" && r.Operation != "*" && r.Operation != op {
			continue
		}
		if r.Count > 0 && r.Fired >= r.Count {
			continue
		}
		if r.FailureRate != nil && f.rng.Float64() >= *r.FailureRate {
			continue
		}
		r.Fired++
		return Action{
			Latency: time.Duration(r.LatencyMs) * time.Millisecond,
			Mode:    r.Mode,
			Code:    r.Code,
			Process: r.Process,
		}, true
	}
	return Action{}, false
}

// Wait blocks for d or until ctx ends.
func Wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Drop closes the connection under w without writing an answer.
func Drop(w http.ResponseWriter) error {
	conn, err := hijack(w)
	if err != nil {
		return err
	}
	return conn.Close()
}

// Reset closes the connection under w with a TCP RST (linger 0), so the
// client sees "connection reset by peer".
func Reset(w http.ResponseWriter) error {
	conn, err := hijack(w)
	if err != nil {
		return err
	}
	if nc, ok := conn.(interface{ NetConn() net.Conn }); ok {
		conn = nc.NetConn()
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		if err := tc.SetLinger(0); err != nil {
			_ = conn.Close()
			return fmt.Errorf("reset connection: %w", err)
		}
	}
	return conn.Close()
}

func hijack(w http.ResponseWriter) (net.Conn, error) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, fmt.Errorf("hijack connection: %w", err)
	}
	return conn, nil
}

// Middleware applies the rules to a provider handler whose operation can be
// read from the request without consuming the body (REST emulators). respond
// writes the provider's answer for ModeHTTP500 and ModeResultCode; nil
// answers a bare HTTP 500. Emulators that must parse the body first (SOAP)
// call Match and Drop/Reset themselves.
func (f *Faults) Middleware(service string, opOf func(*http.Request) string, respond func(http.ResponseWriter, *http.Request, Action), next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := f.Match(service, opOf(r))
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		if err := Wait(r.Context(), a.Latency); err != nil {
			return
		}
		if a.Process && a.Mode != ModeNone {
			next.ServeHTTP(discardWriter{h: http.Header{}}, r)
		}
		switch a.Mode {
		case ModeNone:
			next.ServeHTTP(w, r)
		case ModeDrop:
			_ = Drop(w)
		case ModeReset:
			_ = Reset(w)
		default:
			if respond != nil {
				respond(w, r, a)
				return
			}
			http.Error(w, "injected fault", http.StatusInternalServerError)
		}
	})
}

// discardWriter swallows the answer of a request processed under Process.
type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header         { return d.h }
func (d discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d discardWriter) WriteHeader(int)             {}
