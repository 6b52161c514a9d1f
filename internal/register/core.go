package register

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/posd/posd/internal/printer"
	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/scanner"
	"github.com/posd/posd/internal/store"
)

// Register is the register's brain. Create it with New, then Run it.
type Register struct {
	cfg     Config
	db      *store.DB
	seqr    SEQR
	journal Journal
	log     *zap.Logger
	now     func() time.Time
	obs     Observer
	scan    ScannerStatus
	printer PrinterStatus
	crash   func(point string) // Deps.Crash

	ready     chan struct{}
	readyOnce sync.Once
	done      chan struct{} // closed when Run's loops have stopped
	spawn     chan spawnReq // payments whose loop Run must start

	mu         sync.Mutex
	trackers   map[string]*tracker
	live       map[string]liveState
	subs       map[string]map[*subscriber]struct{}
	provider   ProviderStatus
	storage    string          // "ok" or why the last storage check failed
	blocked    map[string]bool // recordings held in memory because storage failed (D1)
	scanWait   chan scanner.Scan
	runStarted bool

	printerKick chan struct{}  // a printer status or a receipt stream to look at (printer.go)
	printerSt   printer.Status // the latest status from PrinterStatusChanged
	printerSeen bool

	periodMu sync.Mutex // one period close at a time
}

// liveState is what a poll loop knows that is not written on every poll.
type liveState struct {
	pollCount   int
	version     int
	outageSince time.Time
	err         string
}

type spawnReq struct {
	p      store.Payment
	record *recordReq     // set: finish recording a PAID instead of polling
	posts  []receipt.Post // set: write these transaction posts once storage allows
}

// New checks the dependencies and builds a register. It starts nothing.
func New(cfg Config, deps Deps) (*Register, error) {
	if deps.Store == nil || deps.SEQR == nil || deps.Journal == nil {
		return nil, errors.New("register: Store, SEQR and Journal are required")
	}
	log := deps.Logger
	if log == nil {
		log = zap.NewNop()
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	obs := deps.Observer
	if obs == nil {
		obs = nopObserver{}
	}
	return &Register{
		cfg:      cfg.withDefaults(),
		db:       deps.Store,
		seqr:     deps.SEQR,
		journal:  deps.Journal,
		log:      log,
		now:      now,
		obs:      obs,
		scan:     deps.Scanner,
		printer:  deps.Printer,
		crash:    deps.Crash,
		ready:    make(chan struct{}),
		done:     make(chan struct{}),
		spawn:    make(chan spawnReq),
		trackers: map[string]*tracker{},
		live:     map[string]liveState{},
		subs:     map[string]map[*subscriber]struct{}{},
		blocked:  map[string]bool{},

		printerKick: make(chan struct{}, 1),
		storage:     "unchecked",
		provider:    ProviderStatus{Name: "seqr"},
	}, nil
}

// Ready is closed once recovery has resumed every open payment; until then
// CreatePayment answers ErrNotReady.
func (r *Register) Ready() <-chan struct{} { return r.ready }

func (r *Register) isReady() bool {
	select {
	case <-r.ready:
		return true
	default:
		return false
	}
}

// Run recovers open payments (first poll at once), then runs the probe,
// outbox and poll loops until ctx ends. It returns after every loop has
// stopped; a payment being recorded finishes its current step first.
func (r *Register) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.runStarted {
		r.mu.Unlock()
		return errors.New("register: Run called twice")
	}
	r.runStarted = true
	r.mu.Unlock()
	defer close(r.done)

	var wg sync.WaitGroup
	defer wg.Wait()
	start := func(req spawnReq) {
		if req.posts != nil {
			wg.Go(func() { r.appendLater(ctx, req.posts) })
			return
		}
		if req.record != nil {
			wg.Go(func() { r.finishRecording(ctx, req.p, *req.record) })
			return
		}
		t := r.newTracker(req.p.ID)
		if t == nil {
			return // already tracked
		}
		wg.Go(func() { r.track(ctx, t, req.p) })
	}

	reqs, err := r.recover(ctx)
	if err != nil {
		return err
	}
	if err := r.recoverRefunds(ctx); err != nil {
		return err
	}
	for _, req := range reqs {
		start(req)
	}
	if err := r.reappendPosts(ctx, &wg); err != nil {
		r.log.Error("re-append journal posts", zap.Error(err))
	}
	r.readyOnce.Do(func() { close(r.ready) })
	r.log.Info("register ready", zap.Int("resumed", len(reqs)))

	wg.Go(func() { r.probeLoop(ctx) })
	wg.Go(func() { r.outboxLoop(ctx) })
	wg.Go(func() { r.printerLoop(ctx) })
	for {
		select {
		case <-ctx.Done():
			return nil
		case req := <-r.spawn:
			start(req)
		}
	}
}

// startLoop hands a payment to Run. If Run has stopped, the payment stays
// open in SQLite and the next start's recovery resumes it.
func (r *Register) startLoop(ctx context.Context, req spawnReq) {
	select {
	case r.spawn <- req:
	case <-r.done:
	case <-ctx.Done():
	}
}

// recover prepares every payment left open by the previous run.
func (r *Register) recover(ctx context.Context) ([]spawnReq, error) {
	open, err := r.db.Payments(ctx, string(StateCreated), string(StatePolling), string(StateAwaitingDecision), string(StateUnknown))
	if err != nil {
		return nil, fmt.Errorf("recover: %w", err)
	}
	var reqs []spawnReq
	for _, p := range open {
		switch {
		case p.ERSReference != "":
			// PAID was seen and its reference committed, but the journal
			// post or the final commit did not happen: finish it.
			reqs = append(reqs, spawnReq{p: p, record: &recordReq{ers: p.ERSReference, paidAt: p.PaidAt, origin: "recovery"}})
		case State(p.State) == StateCreated:
			// Crashed before or while sending: the invoice may exist, but a
			// second sendInvoice is never allowed. Without a reference it
			// cannot be polled; SEQR reverses any payment nobody polls.
			q, err := r.db.Transition(ctx, p.ID, []string{string(StateCreated)},
				store.Audit{Actor: "posd", Event: "recover_unsent", Outcome: "failure: outcome unknown", Origin: "recovery",
					Detail: "posd stopped before sendInvoice answered; never resent"},
				func(p *store.Payment) error {
					p.State, p.Error = string(StateUnknown), "posd stopped while sending the invoice; not confirmed, not charged"
					return nil
				})
			if err != nil {
				return nil, fmt.Errorf("recover: %w", err)
			}
			r.publishState(q, "not confirmed")
		case p.InvoiceReference != "":
			reqs = append(reqs, spawnReq{p: p})
		}
	}
	return reqs, nil
}

func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // the kernel's CSPRNG failing is not recoverable
	}
	return hex.EncodeToString(b[:])
}

// Status is GET /v1/status. It reads cached probe results and never writes.
func (r *Register) Status(ctx context.Context) (Status, error) {
	t, err := r.Terminal(ctx)
	if err != nil {
		return Status{}, err
	}
	open, err := r.db.CountOpen(ctx)
	if err != nil {
		return Status{}, err
	}
	r.mu.Lock()
	st := Status{
		Version:  r.cfg.Version,
		Ready:    r.isReady(),
		Terminal: t,
		Provider: r.provider,
		Open:     open,
		Storage:  r.storage,
	}
	if len(r.blocked) > 0 {
		st.Storage = fmt.Sprintf("recording of %d payment(s) waiting for storage", len(r.blocked))
	}
	r.mu.Unlock()
	if st.Provider.LastChecked != nil {
		lc := *st.Provider.LastChecked
		st.Provider.LastChecked = &lc
	}
	if r.scan != nil {
		s := r.scan.Status()
		st.Scanner = &s
	}
	if r.printer != nil {
		p := r.printer.Status()
		st.Printer = &p
	}
	return st, nil
}

// probeLoop keeps the offline gate's and the storage check's view current.
func (r *Register) probeLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.ProbeInterval)
	defer t.Stop()
	for {
		r.probe(ctx)
		_ = r.checkDurable(ctx) // the database and the receipt file; kept for Status()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// probe calls benchmarkingNop (no credentials) within OfflineTimeout.
func (r *Register) probe(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, r.cfg.OfflineTimeout)
	defer cancel()
	err := r.seqr.BenchmarkingNop(pctx)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	now := r.now().UTC()
	r.mu.Lock()
	defer r.mu.Unlock()
	was := r.provider.Reachable
	r.provider.LastChecked = &now
	if err != nil {
		r.provider.Reachable, r.provider.LastError = false, err.Error()
		if was {
			r.log.Warn("payment provider unreachable", zap.Error(err))
		}
		return err
	}
	if !was && r.provider.LastError != "" {
		r.log.Info("payment provider reachable again")
	}
	r.provider.Reachable, r.provider.LastError = true, ""
	return nil
}

func (r *Register) checkStorage(ctx context.Context) error {
	err := r.db.CheckWritable(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.storage = err.Error()
		return err
	}
	r.storage = "ok"
	return nil
}
