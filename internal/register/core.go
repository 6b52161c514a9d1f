package register

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/printer"
	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/scanner"
	"github.com/posd/posd/internal/store"
)

// Register is the register's brain. Create it with New, then Run it.
type Register struct {
	cfg      Config
	db       *store.DB
	provs    []*prov          // in the order given
	byName   map[string]*prov // "seqr" -> its provider
	byMethod map[string]*prov // "resurs_later" -> its provider
	enroller payment.Enroller // the provider whose till must be enrolled (SEQR), or nil
	journal  Journal
	log      *zap.Logger
	now      func() time.Time
	obs      Observer
	scan     ScannerStatus
	printer  PrinterStatus
	crash    func(point string) // Deps.Crash

	ready     chan struct{}
	readyOnce sync.Once
	done      chan struct{} // closed when Run's loops have stopped
	spawn     chan spawnReq // work Run must start in its wait group

	mu         sync.Mutex
	trackers   map[string]*tracker
	live       map[string]liveState
	subs       map[string]map[*subscriber]struct{}
	storage    string // "ok" or why the last storage check failed
	held       holds  // recordings held in memory because storage failed (D1)
	scanWait   chan scanner.Scan
	runStarted bool

	printerKick chan struct{}  // a printer status or a receipt stream to look at (printer.go)
	printerSt   printer.Status // the latest status from PrinterStatusChanged
	printerSeen bool

	periodMu sync.Mutex // one period close at a time
	payLocks keyedMutex // one provider call changing a paid payment at a time (adjust.go)

	dbCorrupt error         // set: the database's full check failed; new payments are refused
	lists     chan struct{} // a semaphore: list pages built at once (list.go)

	fullCheckBeforeReady int64 // fullCheckBeforeReady, or a test's
}

// prov is one configured provider and the offline gate's view of it
// (status is guarded by Register.mu).
type prov struct {
	payment.Provider
	name   string
	status ProviderStatus
}

// holds are the recordings held in memory because storage failed (D1):
// while any is held, new payments are refused. Typed by what is held.
type holds struct {
	paid    map[string]bool  // payment ids whose PAID is being recorded
	refunds map[string]bool  // refund ids done at the provider, not yet saved
	posts   map[postKey]bool // transaction posts not yet in the receipt file
}

type postKey struct{ provider, ref string }

func (h holds) count() int { return len(h.paid) + len(h.refunds) + len(h.posts) }

// liveState is what a check loop knows that is not written on every check.
type liveState struct {
	pollCount   int
	progress    int64
	outageSince time.Time
	err         string
}

type spawnReq struct {
	p      store.Payment
	record *recordReq     // set: finish recording a PAID instead of checking
	posts  []receipt.Post // set: write these transaction posts once storage allows
	refund *refundSave    // set: save a refund the provider made once storage allows
	find   bool           // set: find the session a lost start reply may have created (Finder)
	spread time.Duration  // delay the first check by up to this (long-lived payments after a restart)
	t      *tracker       // the loop's handle, made by startLoop
}

// New checks the dependencies and builds a register. It starts nothing.
func New(cfg Config, deps Deps) (*Register, error) {
	if deps.Store == nil || deps.Journal == nil || len(deps.Providers) == 0 {
		return nil, errors.New("register: Store, Journal and at least one provider are required")
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
	r := &Register{
		cfg:      cfg.withDefaults(),
		db:       deps.Store,
		byName:   map[string]*prov{},
		byMethod: map[string]*prov{},
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
		held:     holds{paid: map[string]bool{}, refunds: map[string]bool{}, posts: map[postKey]bool{}},

		printerKick: make(chan struct{}, 1),
		lists:       make(chan struct{}, concurrentLists),

		fullCheckBeforeReady: fullCheckBeforeReady,
		storage:              "unchecked",
	}
	for _, p := range deps.Providers {
		name := p.Name()
		if _, dup := r.byName[name]; dup || name == "" {
			return nil, fmt.Errorf("register: provider %q configured twice or unnamed", name)
		}
		pv := &prov{Provider: p, name: name, status: ProviderStatus{Name: name, Methods: p.Methods()}}
		for _, m := range p.Methods() {
			if other, dup := r.byMethod[m]; dup {
				return nil, fmt.Errorf("register: method %q served by both %s and %s", m, other.name, name)
			}
			r.byMethod[m] = pv
		}
		r.byName[name] = pv
		r.provs = append(r.provs, pv)
		if e, ok := p.(payment.Enroller); ok {
			if r.enroller != nil {
				return nil, errors.New("register: two providers need enrolment; posd keeps one till registration")
			}
			r.enroller = e
		}
	}
	return r, nil
}

// policy is how payments of method are followed, with defaults filled in.
func (r *Register) policy(pv *prov, method string) payment.Policy {
	return policyDefaults(pv.Policy(method))
}

// providerOf returns the provider of a stored payment.
func (r *Register) providerOf(sp store.Payment) (*prov, error) {
	pv := r.byName[sp.Provider]
	if pv == nil {
		return nil, fmt.Errorf("payment %s: provider %q is not configured", sp.ID, sp.Provider)
	}
	return pv, nil
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
		switch {
		case req.posts != nil:
			wg.Go(func() { r.appendLater(ctx, req.posts) })
		case req.record != nil:
			wg.Go(func() { r.finishRecording(ctx, req.p, *req.record) })
		case req.refund != nil:
			wg.Go(func() { r.saveRefundLater(ctx, *req.refund) })
		case req.find:
			wg.Go(func() { r.findSession(ctx, req.p) })
		default:
			t := req.t
			if t == nil {
				if t = r.newTracker(req.p.ID); t == nil {
					return // already tracked
				}
			}
			wg.Go(func() { r.track(ctx, t, req.p, req.spread) })
		}
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

	if !r.db.FullyChecked() {
		wg.Go(func() { r.checkHistory(ctx) })
	}
	wg.Go(func() { r.probeLoop(ctx) })
	wg.Go(func() { r.outboxLoop(ctx) })
	wg.Go(func() { r.confirmLoop(ctx) })
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
// A payment to check gets its tracker here, before Run picks it up, so that
// a cashier's command right after CreatePayment finds the loop's handle.
func (r *Register) startLoop(ctx context.Context, req spawnReq) {
	if req.record == nil && req.posts == nil && req.refund == nil {
		if req.t = r.newTracker(req.p.ID); req.t == nil {
			return // already tracked
		}
	}
	select {
	case r.spawn <- req:
	case <-r.done:
		if req.t != nil {
			r.untrack(req.t)
		}
	case <-ctx.Done():
		if req.t != nil {
			r.untrack(req.t)
		}
	}
}

// recover prepares every payment left open by the previous run.
// Long-lived payments ("Betala sen") are resumed with their first check
// spread over their interval, so 200 of them are no burst.
func (r *Register) recover(ctx context.Context) ([]spawnReq, error) {
	open, err := r.db.Payments(ctx, string(StateCreated), string(StatePolling), string(StateAwaitingDecision), string(StateUnknown))
	if err != nil {
		return nil, fmt.Errorf("recover: %w", err)
	}
	var reqs []spawnReq
	lost := map[string]store.Payment{} // provider -> its newest payment whose start reply was lost
	for _, p := range open {
		switch {
		case p.TransactionRef != "":
			// Paid was seen and its reference committed, but the journal
			// post or the final commit did not happen: finish it.
			reqs = append(reqs, spawnReq{p: p, record: &recordReq{ref: p.TransactionRef, methodName: p.MethodName,
				paidAt: p.PaidAt, origin: "recovery"}})
		case State(p.State) == StateCreated:
			// Crashed before or while starting: the session may exist at
			// the provider, but a second Start is never allowed.
			q, err := r.transition(ctx, p.ID, evRecoverUnsent, StateUnknown, change{origin: "recovery",
				outcome: "failure: outcome unknown", detail: "posd stopped before the provider answered the start; never resent",
				edit: func(p *store.Payment) {
					p.Error = "posd stopped while starting the payment; not confirmed, not charged"
				}})
			if err != nil {
				return nil, fmt.Errorf("recover: %w", err)
			}
			r.publishState(q, "not confirmed")
			lost[q.Provider] = q
		case p.SessionRef != "":
			req := spawnReq{p: p}
			if pv, err := r.providerOf(p); err != nil {
				r.log.Error("open payment of a provider no longer configured: not checked", zap.String("payment", p.ID),
					zap.String("provider", p.Provider))
				continue
			} else if pol := r.policy(pv, p.Method); pol.LongLived {
				req.spread = pol.CheckInterval
			}
			reqs = append(reqs, req)
		default: // unknown with no reference: its start's reply was lost
			lost[p.Provider] = p
		}
	}
	// Only a provider's newest such payment can be the session it holds
	// now (SEQR: one current invoice per terminal); older ones stay unknown.
	for _, p := range lost {
		if pv, err := r.providerOf(p); err == nil {
			if _, ok := pv.Provider.(payment.Finder); ok {
				reqs = append(reqs, spawnReq{p: p, find: true})
			}
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
	ready := make([]error, len(r.provs))
	for i, pv := range r.provs {
		ready[i] = pv.Ready(ctx)
	}
	r.mu.Lock()
	st := Status{
		Version:  r.cfg.Version,
		Ready:    r.isReady(),
		Terminal: t,
		Open:     open,
		Storage:  r.storage,
	}
	for i, pv := range r.provs {
		ps := pv.status
		ps.Methods = slices.Clone(ps.Methods)
		ps.Ready, ps.NotReady = ready[i] == nil, ""
		if ready[i] != nil {
			ps.NotReady = ready[i].Error()
		}
		for _, t := range []**time.Time{&ps.LastChecked, &ps.OutageSince} {
			if *t != nil {
				c := **t
				*t = &c
			}
		}
		st.Providers = append(st.Providers, ps)
	}
	if n := r.held.count(); n > 0 {
		st.Storage = fmt.Sprintf("recording of %d payment(s) waiting for storage", n)
	}
	r.mu.Unlock()
	st.Provider = st.Providers[0]
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
		for _, pv := range r.provs {
			_ = r.probe(ctx, pv) // kept for Status() and the gate
		}
		_ = r.checkDurable(ctx) // the database and the receipt file; kept for Status()
		r.confirmPosts(ctx)     // keeps the next start's journal check short
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// probe asks a provider whether it answers, within OfflineTimeout.
func (r *Register) probe(ctx context.Context, pv *prov) error {
	pctx, cancel := context.WithTimeout(ctx, r.cfg.OfflineTimeout)
	defer cancel()
	err := pv.Probe(pctx)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	now := r.now().UTC()
	r.mu.Lock()
	defer r.mu.Unlock()
	st := &pv.status
	was := st.Reachable
	st.LastChecked = &now
	if err != nil {
		st.Reachable, st.LastError = false, err.Error()
		if st.OutageSince == nil {
			st.OutageSince = &now
		}
		if was {
			r.log.Warn("payment provider unreachable", zap.String("provider", pv.name), zap.Error(err))
		}
		return err
	}
	if !was && st.LastError != "" {
		r.log.Info("payment provider reachable again", zap.String("provider", pv.name))
	}
	st.Reachable, st.LastError, st.OutageSince = true, "", nil
	return nil
}

// checkHistory runs the database's full check after start-up when Open
// checked only what a start reads (a large history): a damaged file fails
// closed, new payments are refused, as when storage cannot take a write.
func (r *Register) checkHistory(ctx context.Context) {
	start := time.Now()
	err := r.db.QuickCheck(ctx)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		r.log.Error("database check failed: new payments are refused; restore a backup", zap.Error(err))
		r.mu.Lock()
		r.dbCorrupt, r.storage = err, err.Error()
		r.mu.Unlock()
		return
	}
	r.log.Info("database checked", zap.Duration("took", time.Since(start)))
}

func (r *Register) checkStorage(ctx context.Context) error {
	err := r.db.CheckWritable(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil && r.dbCorrupt != nil {
		err = r.dbCorrupt
	}
	if err != nil {
		r.storage = err.Error()
		return err
	}
	r.storage = "ok"
	return nil
}
