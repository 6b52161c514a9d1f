package api

import (
	"context"
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
		st, ok := s.openStream(w, id)
		if !ok {
			return
		}
		first := register.Event{Type: "state", PaymentID: p.ID, State: p.State, SecondsLeft: secondsLeft(p), Payment: p, At: time.Now().UTC()}
		if !st.send(first) {
			return
		}
		ctx, cancel := untilStopping(r.Context(), stopping)
		defer cancel()
		s.pump(ctx, st, ch, p.State.Final())
	}
}

// stream is one open event stream: its writer, its sequence numbers and a
// write deadline renewed before every write.
type stream struct {
	s   *Server
	w   http.ResponseWriter
	rc  *http.ResponseController
	id  string
	seq int
}

// openStream writes the stream's headers and the retry hint. Every write
// and flush gets a fresh deadline, so a client that stops reading (its
// socket buffers full) cannot pin the handler and the register's
// subscription: the write fails after StreamWriteTimeout and the handler
// returns. Between writes the old deadline may pass unnoticed; the next
// write sets a new one.
func (s *Server) openStream(w http.ResponseWriter, id string) (*stream, bool) {
	st := &stream{s: s, w: w, rc: http.NewResponseController(w), id: id}
	if !st.deadline() {
		s.log.Warn("event stream: no write deadline", zap.String("payment", id))
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// retry: tells EventSource clients how soon to reconnect.
	_, err := fmt.Fprint(w, "retry: 2000\n\n")
	return st, err == nil
}

func (st *stream) deadline() bool {
	return st.rc.SetWriteDeadline(time.Now().Add(st.s.cfg.StreamWriteTimeout)) == nil
}

func (st *stream) send(ev register.Event) bool {
	b, err := json.Marshal(ev)
	if err != nil {
		st.s.log.Error("encode event", zap.String("payment", st.id), zap.Error(err))
		return false
	}
	st.seq++
	typ := ev.Type
	if typ == "" {
		typ = "state"
	}
	st.deadline()
	if _, err := fmt.Fprintf(st.w, "id: %d\nevent: %s\ndata: %s\n\n", st.seq, typ, b); err != nil {
		return false
	}
	return st.rc.Flush() == nil
}

func (st *stream) heartbeat() bool {
	st.deadline()
	_, err := fmt.Fprint(st.w, ": heartbeat "+strconv.FormatInt(time.Now().Unix(), 10)+"\n\n")
	return err == nil && st.rc.Flush() == nil
}

// pump forwards the register's events until the register closes the
// channel, the client goes away or posd stops, with a heartbeat comment
// between them. After the final state only printer events follow; a final
// payment's channel is closed at once unless its receipt waits.
func (s *Server) pump(ctx context.Context, st *stream, ch <-chan register.Event, final bool) {
	heartbeat := time.NewTicker(s.cfg.Heartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-heartbeat.C:
			if !st.heartbeat() {
				return
			}
		case ev, ok := <-ch:
			if !ok {
				return // the register ended the stream
			}
			if final && (ev.Type == "state" || ev.Type == "poll") {
				// The register's copy of a final state already sent (it
				// reached the channel before or after Payment was read);
				// the final state stays the last state event.
				continue
			}
			if !st.send(ev) {
				return
			}
			if ev.Type == "state" && (ev.State.Final() || ev.Payment.State.Final()) {
				final = true
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
