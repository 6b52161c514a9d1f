package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/posd/posd/internal/register"
)

// events streams a payment's events as Server-Sent Events:
//
//	id: 1
//	event: state            (or poll, printer)
//	data: {...register.Event...}
//
// The first event is the payment as it is now (type "state"), so a client
// that connects late still starts from the truth. The final state event is
// the last state event. The stream ends with it, except while a paid
// payment's receipt waits for the printer: the register then keeps the
// subscription open for "printer" events (paper out, cover open, printed,
// dropped) and closes it after the last one, and the stream ends then (or
// when the client goes away or the server stops). Comment lines keep
// proxies and idle timers from closing a quiet stream while the cashier
// decides or the receipt waits.
func (s *Server) events(stopping <-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		// Subscribe before reading the current state, so that nothing
		// happening in between is lost (a duplicate state is harmless).
		ch, unsubscribe := s.reg.Subscribe(id)
		defer unsubscribe()
		p, err := s.reg.Payment(r.Context(), id)
		if err != nil {
			s.writeProblem(w, r, err)
			return
		}
		rc := http.NewResponseController(w)
		// Every write and flush gets a fresh deadline, so a client that
		// stops reading (its socket buffers full) cannot pin this handler
		// and the register's subscription: the write fails after
		// StreamWriteTimeout and the handler returns. Between writes the
		// old deadline may pass unnoticed; the next write sets a new one.
		deadline := func() bool {
			return rc.SetWriteDeadline(time.Now().Add(s.cfg.StreamWriteTimeout)) == nil
		}
		if !deadline() {
			s.log.Warn("event stream: no write deadline", zap.String("payment", id))
		}
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)

		ctx, cancel := untilStopping(r.Context(), stopping)
		defer cancel()
		var seq int
		send := func(ev register.Event) bool {
			b, err := json.Marshal(ev)
			if err != nil {
				s.log.Error("encode event", zap.String("payment", id), zap.Error(err))
				return false
			}
			seq++
			typ := ev.Type
			if typ == "" {
				typ = "state"
			}
			deadline()
			if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", seq, typ, b); err != nil {
				return false
			}
			return rc.Flush() == nil
		}
		// retry: tells EventSource clients how soon to reconnect.
		if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
			return
		}
		first := register.Event{Type: "state", PaymentID: p.ID, State: p.State, SecondsLeft: secondsLeft(p), Payment: p, At: time.Now().UTC()}
		if !send(first) {
			return
		}
		// After the final state only printer events follow, until the
		// register closes the channel; a final payment's channel is closed
		// at once unless its receipt waits.
		final := p.State.Final()
		heartbeat := time.NewTicker(s.cfg.Heartbeat)
		defer heartbeat.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-heartbeat.C:
				deadline()
				if _, err := fmt.Fprint(w, ": heartbeat "+strconv.FormatInt(time.Now().Unix(), 10)+"\n\n"); err != nil || rc.Flush() != nil {
					return
				}
			case ev, ok := <-ch:
				if !ok {
					return // the register ended the stream
				}
				if final && (ev.Type == "state" || ev.Type == "poll") {
					// The register's copy of a final state already sent
					// (it reached the channel before or after Payment was
					// read); the final state stays the last state event.
					continue
				}
				if !send(ev) {
					return
				}
				if ev.Type == "state" && (ev.State.Final() || ev.Payment.State.Final()) {
					final = true
				}
			}
		}
	}
}

func secondsLeft(p register.Payment) int {
	if p.WindowEndsAt == nil || p.State.Final() {
		return 0
	}
	d := time.Until(*p.WindowEndsAt)
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}
