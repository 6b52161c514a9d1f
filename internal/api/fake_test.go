package api

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/register"
)

// fakeRegister is a hand-written in-memory Register for the HTTP layer's
// tests. err, when set, is returned by every method that can fail.
type fakeRegister struct {
	mu         sync.Mutex
	ready      chan struct{}
	err        error
	payments   map[string]register.Payment
	lastList   register.ListQuery // the query of the last Payments call
	keys       map[string]string  // idempotency key -> payment id
	refundKeys map[string]register.RefundRequest
	subs       map[string][]*fakeSub
	receipts   map[string]bool // payment id -> its receipt waits: streams stay open after paid
	mutations  int             // calls that would change state
	scanWait   time.Duration
	seqrID     string

	subscribed   chan string // receives the id on every Subscribe
	unsubscribed chan string // receives the id on every cancel
}

var _ Register = (*fakeRegister)(nil)

func newFake() *fakeRegister {
	ready := make(chan struct{})
	close(ready)
	return &fakeRegister{
		ready:        ready,
		payments:     map[string]register.Payment{},
		keys:         map[string]string{},
		subs:         map[string][]*fakeSub{},
		receipts:     map[string]bool{},
		subscribed:   make(chan string, 16),
		unsubscribed: make(chan string, 16),
	}
}

func (f *fakeRegister) fail() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *fakeRegister) mutate() {
	f.mu.Lock()
	f.mutations++
	f.mu.Unlock()
}

func (f *fakeRegister) Mutations() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mutations
}

func (f *fakeRegister) Ready() <-chan struct{} { return f.ready }

func (f *fakeRegister) Status(ctx context.Context) (register.Status, error) {
	if err := f.fail(); err != nil {
		return register.Status{}, err
	}
	return register.Status{Version: "test", Ready: true, Terminal: register.Terminal{Registered: true, TerminalID: "T1", SeqrID: "ABC123"},
		Provider: register.ProviderStatus{Name: "seqr", Reachable: true}, Storage: "ok"}, nil
}

func (f *fakeRegister) Terminal(ctx context.Context) (register.Terminal, error) {
	if err := f.fail(); err != nil {
		return register.Terminal{}, err
	}
	return register.Terminal{Registered: true, TerminalID: "T1", SeqrID: f.seqrID}, nil
}

func (f *fakeRegister) RegisterTerminal(ctx context.Context, req register.RegisterTerminalRequest) (register.Terminal, error) {
	f.mutate()
	if err := f.fail(); err != nil {
		return register.Terminal{}, err
	}
	return register.Terminal{Registered: true, TerminalID: "T1", ExternalTerminalID: req.ExternalTerminalID, Name: req.Name}, nil
}

func (f *fakeRegister) UnregisterTerminal(ctx context.Context) error {
	f.mutate()
	return f.fail()
}

func (f *fakeRegister) AssignSeqrID(ctx context.Context, seqrID string) (register.Terminal, error) {
	// As the real register: its provider's rule (SEQR: 1 to 64 letters or
	// digits) is checked before anything changes.
	if seqrID == "" || len(seqrID) > 64 || strings.Trim(seqrID, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != "" {
		return register.Terminal{}, &register.ValidationError{Field: "seqrId", Message: fmt.Sprintf("must be 1 to 64 letters or digits, got %.64q", seqrID)}
	}
	f.mutate()
	if err := f.fail(); err != nil {
		return register.Terminal{}, err
	}
	f.mu.Lock()
	f.seqrID = seqrID
	f.mu.Unlock()
	return register.Terminal{Registered: true, TerminalID: "T1", SeqrID: seqrID}, nil
}

func (f *fakeRegister) AssignSeqrIDByScan(ctx context.Context, timeout time.Duration) (register.Terminal, error) {
	f.mutate()
	f.mu.Lock()
	f.scanWait = timeout
	f.mu.Unlock()
	if err := f.fail(); err != nil {
		return register.Terminal{}, err
	}
	return register.Terminal{Registered: true, TerminalID: "T1", SeqrID: "SCANNED1"}, nil
}

func (f *fakeRegister) CreatePayment(ctx context.Context, key string, req register.PaymentRequest) (register.Payment, bool, error) {
	f.mutate()
	if err := f.fail(); err != nil {
		return register.Payment{}, false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if id, ok := f.keys[key]; ok {
		p := f.payments[id]
		if p.Amount != req.Amount {
			return register.Payment{}, false, register.ErrIdempotencyKey
		}
		return p, false, nil
	}
	id := "p" + strconv.Itoa(len(f.payments)+1)
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	p := register.Payment{ID: id, Method: req.Method, State: register.StatePolling, Amount: req.Amount, Currency: req.Currency,
		ReceiptTotal: req.ReceiptTotal, Balancing: register.BalancingNone, SaleID: req.SaleID, CashierID: req.CashierID,
		Window: 1, CreatedAt: now, UpdatedAt: now}
	f.payments[id] = p
	f.keys[key] = id
	return p, true, nil
}

func (f *fakeRegister) put(p register.Payment) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.payments[p.ID] = p
}

func (f *fakeRegister) Payment(ctx context.Context, id string) (register.Payment, error) {
	if err := f.fail(); err != nil {
		return register.Payment{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.payments[id]
	if !ok {
		return register.Payment{}, register.ErrNotFound
	}
	return p, nil
}

func (f *fakeRegister) Payments(ctx context.Context, q register.ListQuery) (register.PaymentPage, error) {
	if err := f.fail(); err != nil {
		return register.PaymentPage{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastList = q
	var out []register.Payment
	for _, p := range f.payments {
		if q.State == "" || p.State == q.State {
			out = append(out, p)
		}
	}
	return register.PaymentPage{Payments: out}, nil
}

// fakeSub is one event stream, closed like the register's: after the final
// state event, or, while the payment's receipt waits (receiptWaits), only
// by endReceipt, after the last printer event.
type fakeSub struct {
	ch     chan register.Event
	closed bool
}

// send must be called with f.mu held; like the register, it never blocks.
func (f *fakeRegister) send(id string, s *fakeSub, ev register.Event) {
	if s.closed {
		return
	}
	select {
	case s.ch <- ev:
	default:
		panic("fakeRegister: subscriber buffer full")
	}
	if ev.Type == "state" && ev.State.Final() && !(ev.State == register.StatePaid && f.receipts[id]) {
		f.closeSub(s)
	}
}

func (f *fakeRegister) closeSub(s *fakeSub) {
	if !s.closed {
		s.closed = true
		close(s.ch)
	}
}

// Subscribe behaves as register.Subscribe: for a payment already final its
// state is sent at once and the channel closed, unless the payment is paid
// and its receipt waits.
func (f *fakeRegister) Subscribe(id string) (<-chan register.Event, func()) {
	s := &fakeSub{ch: make(chan register.Event, 64)}
	f.mu.Lock()
	f.subs[id] = append(f.subs[id], s)
	if p, ok := f.payments[id]; ok && p.State.Final() {
		f.send(id, s, register.Event{Type: "state", PaymentID: id, State: p.State, Payment: p, At: time.Now().UTC()})
	}
	f.mu.Unlock()
	f.subscribed <- id
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			f.mu.Lock()
			subs := f.subs[id]
			for i, c := range subs {
				if c == s {
					f.subs[id] = append(subs[:i], subs[i+1:]...)
					break
				}
			}
			f.closeSub(s)
			f.mu.Unlock()
			f.unsubscribed <- id
		})
	}
}

// publish sends ev to every subscriber of its payment, closing the streams
// after a final state as the register does.
func (f *fakeRegister) publish(ev register.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.subs[ev.PaymentID] {
		f.send(ev.PaymentID, s, ev)
	}
}

// receiptWaits makes a paid payment's streams stay open for printer events,
// as the register does while the payment's receipt waits for the printer.
func (f *fakeRegister) receiptWaits(id string) {
	f.mu.Lock()
	f.receipts[id] = true
	f.mu.Unlock()
}

// endReceipt sends a last printer event (the receipt printed or dropped)
// and closes the payment's streams.
func (f *fakeRegister) endReceipt(ev register.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.receipts, ev.PaymentID)
	for _, s := range f.subs[ev.PaymentID] {
		f.send(ev.PaymentID, s, ev)
		f.closeSub(s)
	}
}

func (f *fakeRegister) transition(id string, st register.State) (register.Payment, error) {
	f.mutate()
	if err := f.fail(); err != nil {
		return register.Payment{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.payments[id]
	if !ok {
		return register.Payment{}, register.ErrNotFound
	}
	p.State = st
	f.payments[id] = p
	return p, nil
}

func (f *fakeRegister) Retry(ctx context.Context, id string) (register.Payment, error) {
	return f.transition(id, register.StatePolling)
}

func (f *fakeRegister) Cancel(ctx context.Context, id string) (register.Payment, error) {
	return f.transition(id, register.StateCanceled)
}

func (f *fakeRegister) Refund(ctx context.Context, id, key string, req register.RefundRequest) (register.Refund, bool, error) {
	f.mutate()
	if err := f.fail(); err != nil {
		return register.Refund{}, false, err
	}
	rf := register.Refund{ID: "r1", PaymentID: id, Amount: req.Amount, Currency: "SEK", ERSReference: "ers-r1",
		CashierID: req.CashierID, Reason: req.Reason}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refundKeys == nil {
		f.refundKeys = map[string]register.RefundRequest{}
	}
	if old, ok := f.refundKeys[key]; ok {
		if old != req {
			return register.Refund{}, false, register.ErrIdempotencyKey
		}
		return rf, false, nil
	}
	f.refundKeys[key] = req
	return rf, true, nil
}

func (f *fakeRegister) Journal(ctx context.Context, after int64, limit int) ([]receipt.Post, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return []receipt.Post{{Seq: after + 1, PaymentID: "p1", Kind: "payment", Text: "SEQR payment",
		Amount: money.MustParse("20.00"), Currency: "SEK", Reference: "ers-1"}}, nil
}

func (f *fakeRegister) ClosePeriod(ctx context.Context, provider string) (register.PeriodReport, error) {
	f.mutate()
	if err := f.fail(); err != nil {
		return register.PeriodReport{}, err
	}
	return register.PeriodReport{TransactionPeriodID: "tp1", Match: true, OnlyRemote: []string{}, OnlyLocal: []string{}}, nil
}

func (f *fakeRegister) ReprintReceipt(ctx context.Context, id string) error {
	f.mutate()
	if err := f.fail(); err != nil {
		return err
	}
	if _, err := f.Payment(ctx, id); err != nil {
		return err
	}
	return nil
}
