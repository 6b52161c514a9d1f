package api

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/posd/posd/internal/register"
)

// spyRegister is the real register (a fakeStack: real SQLite, receipt file
// and paymenttest.Fake as the provider) behind a thin spy that adds only
// what the HTTP layer's tests cannot get from the real one:
//
//   - Mutations counts the calls that changed state, to prove a refused
//     request never reached the register;
//   - an injected error, for the problem mapping of every sentinel;
//   - hand-made event streams (script), for the stream handler's edge
//     cases: printer events after paid, a duplicate final state, a client
//     that stops reading.
//
// Everything else (payments, idempotency, states, refunds, terminal,
// journal, period) is the real register's answer.
type spyRegister struct {
	*register.Register
	st *fakeStack

	mu        sync.Mutex
	err       error
	mutations int
	scanWait  time.Duration
	scripted  map[string]bool // payment ids whose streams are hand-made
	scriptAll bool            // every payment's streams are hand-made
	subs      map[string][]*scriptSub
	receipts  map[string]bool // scripted: the paid payment's receipt waits, its streams stay open

	subscribed   chan string // receives the id on every Subscribe
	unsubscribed chan string // receives the id on every cancel
}

var _ Register = (*spyRegister)(nil)

// newSpy returns the spy over a running (ready) register.
func newSpy(t testing.TB) *spyRegister { return spyOn(newFakeStack(t).run()) }

// newRecoveringSpy returns the spy over a register that is not running
// yet: it is recovering, and says so (ErrNotReady).
func newRecoveringSpy(t testing.TB) *spyRegister { return spyOn(newFakeStack(t)) }

func spyOn(st *fakeStack) *spyRegister {
	return &spyRegister{Register: st.reg, st: st, scripted: map[string]bool{}, subs: map[string][]*scriptSub{},
		receipts: map[string]bool{}, subscribed: make(chan string, 16), unsubscribed: make(chan string, 16)}
}

// setErr makes Status, CreatePayment and AssignSeqrIDByScan answer err
// (nil: the register's own answers again).
func (s *spyRegister) setErr(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

func (s *spyRegister) fail() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// changed counts a call that changed state (err == nil) and passes err on.
func (s *spyRegister) changed(err error) error {
	if err == nil {
		s.mu.Lock()
		s.mutations++
		s.mu.Unlock()
	}
	return err
}

// Mutations is how many calls changed the register's state.
func (s *spyRegister) Mutations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mutations
}

func (s *spyRegister) Status(ctx context.Context) (register.Status, error) {
	if err := s.fail(); err != nil {
		return register.Status{}, err
	}
	return s.Register.Status(ctx)
}

func (s *spyRegister) RegisterTerminal(ctx context.Context, req register.RegisterTerminalRequest) (register.Terminal, error) {
	t, err := s.Register.RegisterTerminal(ctx, req)
	return t, s.changed(err)
}

func (s *spyRegister) UnregisterTerminal(ctx context.Context) error {
	return s.changed(s.Register.UnregisterTerminal(ctx))
}

func (s *spyRegister) AssignSeqrID(ctx context.Context, seqrID string) (register.Terminal, error) {
	t, err := s.Register.AssignSeqrID(ctx, seqrID)
	return t, s.changed(err)
}

func (s *spyRegister) AssignSeqrIDByScan(ctx context.Context, timeout time.Duration) (register.Terminal, error) {
	s.mu.Lock()
	s.scanWait = timeout
	s.mu.Unlock()
	if err := s.fail(); err != nil {
		return register.Terminal{}, err
	}
	t, err := s.Register.AssignSeqrIDByScan(ctx, timeout)
	return t, s.changed(err)
}

func (s *spyRegister) CreatePayment(ctx context.Context, key string, req register.PaymentRequest) (register.Payment, bool, error) {
	if err := s.fail(); err != nil {
		return register.Payment{}, false, err
	}
	p, created, err := s.Register.CreatePayment(ctx, key, req)
	if created {
		err = s.changed(err)
	}
	return p, created, err
}

func (s *spyRegister) Retry(ctx context.Context, id string) (register.Payment, error) {
	p, err := s.Register.Retry(ctx, id)
	return p, s.changed(err)
}

func (s *spyRegister) Cancel(ctx context.Context, id string) (register.Payment, error) {
	p, err := s.Register.Cancel(ctx, id)
	return p, s.changed(err)
}

func (s *spyRegister) Refund(ctx context.Context, id, key string, req register.RefundRequest) (register.Refund, bool, error) {
	rf, created, err := s.Register.Refund(ctx, id, key, req)
	if created {
		err = s.changed(err)
	}
	return rf, created, err
}

func (s *spyRegister) ClosePeriod(ctx context.Context, provider string) (register.PeriodReport, error) {
	rep, err := s.Register.ClosePeriod(ctx, provider)
	return rep, s.changed(err)
}

func (s *spyRegister) ReprintReceipt(ctx context.Context, id string) error {
	return s.changed(s.Register.ReprintReceipt(ctx, id))
}

func (s *spyRegister) TestPrint(ctx context.Context) error {
	return s.changed(s.Register.TestPrint(ctx))
}

// scriptSub is one hand-made event stream, closed like the register's:
// after the final state event, or, while the payment's receipt waits, only
// by endReceipt.
type scriptSub struct {
	ch     chan register.Event
	closed bool
}

// script makes the streams of payment id hand-made from now on: they carry
// only what publish and endReceipt send.
func (s *spyRegister) script(id string) {
	s.mu.Lock()
	s.scripted[id] = true
	s.mu.Unlock()
}

// scriptEvery makes every payment's streams hand-made, also those of
// payments not created yet (a page that starts its own payment).
func (s *spyRegister) scriptEvery() {
	s.mu.Lock()
	s.scriptAll = true
	s.mu.Unlock()
}

// Subscribe is the register's stream, or the hand-made one of a scripted
// payment; either way the test hears of the subscription and its end.
func (s *spyRegister) Subscribe(id string) (<-chan register.Event, func()) {
	s.mu.Lock()
	scripted := s.scriptAll || s.scripted[id]
	s.mu.Unlock()
	var ch <-chan register.Event
	var cancel func()
	if scripted {
		ch, cancel = s.subscribeScript(id)
	} else {
		ch, cancel = s.Register.Subscribe(id)
	}
	s.subscribed <- id
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			cancel()
			s.unsubscribed <- id
		})
	}
}

func (s *spyRegister) subscribeScript(id string) (<-chan register.Event, func()) {
	sub := &scriptSub{ch: make(chan register.Event, 64)}
	// As the register: a payment already final sends its state at once.
	p, err := s.Register.Payment(context.Background(), id)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subs[id] = append(s.subs[id], sub)
	if err == nil && p.State.Final() {
		s.send(id, sub, register.Event{Type: "state", PaymentID: id, State: p.State, Payment: p, At: time.Now().UTC()})
	}
	return sub.ch, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		subs := s.subs[id]
		for i, c := range subs {
			if c == sub {
				s.subs[id] = append(subs[:i], subs[i+1:]...)
				break
			}
		}
		closeScript(sub)
	}
}

// send must be called with s.mu held; like the register, it never blocks.
func (s *spyRegister) send(id string, sub *scriptSub, ev register.Event) {
	if sub.closed {
		return
	}
	select {
	case sub.ch <- ev:
	default:
		panic("spyRegister: subscriber buffer full")
	}
	if ev.Type == "state" && ev.State.Final() && !(ev.State == register.StatePaid && s.receipts[id]) {
		closeScript(sub)
	}
}

func closeScript(sub *scriptSub) {
	if !sub.closed {
		sub.closed = true
		close(sub.ch)
	}
}

// publish sends ev to every scripted stream of its payment, closing them
// after a final state as the register does.
func (s *spyRegister) publish(ev register.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sub := range s.subs[ev.PaymentID] {
		s.send(ev.PaymentID, sub, ev)
	}
}

// receiptWaits keeps a scripted paid payment's streams open for printer
// events, as the register does while its receipt waits for the printer.
func (s *spyRegister) receiptWaits(id string) {
	s.mu.Lock()
	s.receipts[id] = true
	s.mu.Unlock()
}

// endReceipt sends a last printer event (the receipt printed or dropped)
// and closes the payment's scripted streams.
func (s *spyRegister) endReceipt(ev register.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.receipts, ev.PaymentID)
	for _, sub := range s.subs[ev.PaymentID] {
		s.send(ev.PaymentID, sub, ev)
		closeScript(sub)
	}
}
