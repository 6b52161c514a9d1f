package simctl

import (
	"sync"
	"time"
)

// Call is one request an emulator received, as the test harness sees it.
type Call struct {
	Seq         int64     `json:"seq"`
	Time        time.Time `json:"time"` // receive time on the emulator's clock; JSON is RFC 3339 with nanoseconds
	Service     string    `json:"service"`
	Operation   string    `json:"operation"`
	Path        string    `json:"path,omitempty"`
	PrincipalID string    `json:"principalId,omitempty"`
	Reference   string    `json:"invoiceReference,omitempty"`
	// ResultCode is the provider result code answered; nil when no business
	// answer was given (SOAP fault, dropped or reset connection).
	ResultCode *int              `json:"resultCode"`
	Fault      string            `json:"fault,omitempty"` // fault string or injected fault mode
	Duration   time.Duration     `json:"durationNs"`
	Detail     map[string]string `json:"detail,omitempty"` // provider-specific extras (status, invoiceVersion)
}

// Filter selects calls; empty fields match everything.
type Filter struct {
	Service   string
	Operation string
	Reference string
}

func (f Filter) match(c *Call) bool {
	return (f.Service == "" || f.Service == c.Service) &&
		(f.Operation == "" || f.Operation == c.Operation) &&
		(f.Reference == "" || f.Reference == c.Reference)
}

// DefaultMaxCalls bounds a CallLog created with max 0: a long demo run must
// not grow without limit.
const DefaultMaxCalls = 200_000

// CallLog records calls in arrival order. Safe for concurrent use.
type CallLog struct {
	mu    sync.Mutex
	max   int
	seq   int64
	calls []Call
}

// NewCallLog returns an empty log keeping at most max calls (0: DefaultMaxCalls);
// the oldest are forgotten first.
func NewCallLog(max int) *CallLog {
	if max <= 0 {
		max = DefaultMaxCalls
	}
	return &CallLog{max: max}
}

// Add appends c, assigns its sequence number and returns it.
func (l *CallLog) Add(c Call) Call {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	c.Seq = l.seq
	if len(l.calls) >= l.max {
		// Drop the oldest half at once so Add stays amortised O(1).
		n := copy(l.calls, l.calls[len(l.calls)/2:])
		clear(l.calls[n:])
		l.calls = l.calls[:n]
	}
	l.calls = append(l.calls, c)
	return c
}

// Calls returns the matching calls in arrival order (a copy).
func (l *CallLog) Calls(f Filter) []Call {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Call, 0, 16)
	for i := range l.calls {
		if f.match(&l.calls[i]) {
			out = append(out, l.calls[i])
		}
	}
	return out
}

// Reset forgets every call (sequence numbers keep increasing).
func (l *CallLog) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = nil
}
