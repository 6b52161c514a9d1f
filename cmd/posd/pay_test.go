package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/register"
)

// fakePosd is the part of the local API that `posd pay` follows: one
// payment, its event stream, retry and cancel.
type fakePosd struct {
	mu      sync.Mutex
	state   register.State
	events  chan register.State
	actions []string
}

func (f *fakePosd) payment() register.Payment {
	f.mu.Lock()
	defer f.mu.Unlock()
	return register.Payment{ID: "p1", State: f.state, Amount: money.MustParse("20.00"), Currency: "SEK", ERSReference: ersFor(f.state)}
}

func ersFor(s register.State) string {
	if s == register.StatePaid {
		return "ERS42"
	}
	return ""
}

func (f *fakePosd) set(s register.State) {
	f.mu.Lock()
	f.state = s
	f.mu.Unlock()
	f.events <- s
}

func (f *fakePosd) handler(t *testing.T, after map[string]register.State) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/payments/p1/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		fl.Flush()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-f.events:
				p := f.payment()
				b, err := json.Marshal(register.Event{Type: "state", PaymentID: "p1", State: p.State, SecondsLeft: 0, Payment: p, At: time.Now()})
				require.NoError(t, err)
				fmt.Fprintf(w, "event: state\ndata: %s\n\n", b)
				fl.Flush()
				if p.State.Final() {
					return
				}
			}
		}
	})
	mux.HandleFunc("GET /v1/payments/p1", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(f.payment())
	})
	for _, action := range []string{"retry", "cancel"} {
		mux.HandleFunc("POST /v1/payments/p1/"+action, func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			f.actions = append(f.actions, action)
			f.mu.Unlock()
			next := after[action]
			// Answer first, then let the stream report the outcome.
			_ = json.NewEncoder(w).Encode(register.Payment{ID: "p1", State: register.StatePolling})
			go f.set(next)
		})
	}
	return mux
}

func TestPayFollowsTheCashiersDecision(t *testing.T) {
	cases := []struct {
		name        string
		interactive bool
		stdin       string
		wantState   register.State
		wantAction  string
		wantOut     string
	}{
		{"try again, then paid", true, "t\n", register.StatePaid, "retry", "trying again"},
		{"cancel by answer", true, "c\n", register.StateCanceled, "cancel", "cancelling"},
		{"end of input cancels", true, "", register.StateCanceled, "cancel", "cancelling"},
		{"no terminal: cancel with a message", false, "t\n", register.StateCanceled, "cancel", "stdin is not a terminal: cancelling"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakePosd{state: register.StatePolling, events: make(chan register.State, 4)}
			ts := httptest.NewServer(f.handler(t, map[string]register.State{"retry": register.StatePaid, "cancel": register.StateCanceled}))
			defer ts.Close()
			var out, errOut syncBuffer
			c := &cli{getenv: func(string) string { return "" }, stdin: strings.NewReader(tc.stdin), stdout: &out, stderr: &errOut}
			ac := newAPIClientToken(strings.TrimPrefix(ts.URL, "http://"), "tok")

			go f.set(register.StateAwaitingDecision) // the customer's window ran out
			p, err := follow(t.Context(), c, ac, f.payment(), tc.interactive)
			assert.Equal(t, tc.wantState, p.State, "stdout: %s", out.String())
			if tc.wantState == register.StatePaid {
				require.NoError(t, err)
				assert.Contains(t, out.String(), "paid: 20.00 SEK, ersReference ERS42")
			} else {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "canceled")
			}
			if tc.interactive {
				assert.Contains(t, out.String(), "[t]ry again or [c]ancel?")
			}
			assert.Contains(t, out.String(), tc.wantOut)
			f.mu.Lock()
			assert.Equal(t, []string{tc.wantAction}, f.actions)
			f.mu.Unlock()
		})
	}
}

// TestPayShowsPrinterAndEndsAtPaid: the stream of a paid payment whose
// receipt waits stays open for printer events; `posd pay` shows the
// printer's problem that comes with the paid event and returns at paid
// without waiting for the stream to end.
func TestPayShowsPrinterAndEndsAtPaid(t *testing.T) {
	paid := register.Payment{ID: "p1", State: register.StatePaid, Amount: money.MustParse("20.00"), Currency: "SEK", ERSReference: "ERS42"}
	streamGone := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/payments/p1/events", func(w http.ResponseWriter, r *http.Request) {
		defer close(streamGone)
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range []register.Event{
			{Type: "printer", PaymentID: "p1", State: register.StatePaid, Message: "printer out of paper: receipt waits", Payment: paid},
			{Type: "state", PaymentID: "p1", State: register.StatePaid, Payment: paid},
		} {
			b, err := json.Marshal(ev)
			require.NoError(t, err)
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Type, b)
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the receipt waits: the stream stays open
	})
	mux.HandleFunc("GET /v1/payments/p1", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(register.Payment{ID: "p1", State: register.StatePolling})
	})
	ts := httptest.NewServer(mux)
	defer ts.Close()
	var out, errOut syncBuffer
	c := &cli{getenv: func(string) string { return "" }, stdin: strings.NewReader(""), stdout: &out, stderr: &errOut}
	ac := newAPIClientToken(strings.TrimPrefix(ts.URL, "http://"), "tok")

	p, err := follow(t.Context(), c, ac, register.Payment{ID: "p1", State: register.StatePolling}, false)
	require.NoError(t, err)
	assert.Equal(t, register.StatePaid, p.State)
	assert.Contains(t, out.String(), "paid: 20.00 SEK, ersReference ERS42")
	assert.Contains(t, out.String(), "printer out of paper: receipt waits")
	<-streamGone // follow closed the stream on return
}
