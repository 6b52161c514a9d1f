package register

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/store"
)

// view turns a row into the API's Payment. live overlays what the check
// loop keeps in memory (check count, outage) between commits.
func (r *Register) view(sp store.Payment, live *liveState, tot store.Totals) Payment {
	p := Payment{
		ID:           sp.ID,
		Provider:     sp.Provider,
		Method:       sp.Method,
		State:        State(sp.State),
		Amount:       sp.Amount,
		Currency:     sp.Currency,
		ReceiptTotal: sp.ReceiptTotal,
		Balancing:    Balancing(sp.Balancing),
		SaleID:       sp.SaleID,
		CashierID:    sp.CashierID,
		Title:        sp.Title,
		ProviderRef:  sp.SessionRef,
		Window:       sp.Window,
		PollCount:    sp.PollCount,
		Refunded:     tot.Refunded,
		Annulled:     tot.Annulled,
		Debited:      tot.Debited,
		Error:        sp.Error,
		CreatedAt:    sp.CreatedAt.UTC(),
		UpdatedAt:    sp.UpdatedAt.UTC(),
	}
	// The reference is committed before the journal post; it is shown only
	// once the payment counts as paid.
	if p.State == StatePaid {
		p.TransactionRef, p.MethodName = sp.TransactionRef, sp.MethodName
		p.Actions = r.actionsOf(sp.Provider)
	}
	if sp.Provider == "seqr" { // the names of release 1, kept for one release
		p.InvoiceReference, p.ERSReference = p.ProviderRef, p.TransactionRef
	}
	if len(sp.CustomerView) > 0 && !p.State.Final() {
		var v View
		if json.Unmarshal(sp.CustomerView, &v) == nil && (v.URL != "" || v.HTML != "") {
			p.CustomerView = &v
		}
	}
	if x, err := extraOf(sp); err == nil && x.ValidUntil != nil {
		t := x.ValidUntil.UTC()
		p.ValidUntil = &t
	}
	if !sp.WindowEndsAt.IsZero() {
		t := sp.WindowEndsAt.UTC()
		p.WindowEndsAt = &t
	}
	outage := sp.OutageSince
	if live != nil && !p.State.Final() {
		if live.pollCount > p.PollCount {
			p.PollCount = live.pollCount
		}
		outage = live.outageSince
		if live.err != "" {
			p.Error = live.err
		}
	}
	if !outage.IsZero() && !p.State.Final() {
		t := outage.UTC()
		p.OutageSince = &t
	}
	return p
}

// Payment returns one payment as the API shows it.
func (r *Register) Payment(ctx context.Context, id string) (Payment, error) {
	sp, err := r.db.Payment(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Payment{}, fmt.Errorf("payment %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Payment{}, err
	}
	tot, err := r.totalsOf(ctx, sp)
	if err != nil {
		return Payment{}, err
	}
	return r.view(sp, r.liveOf(id), tot), nil
}

// CreatePayment starts a payment: validate; refuse unless ready, the
// method's provider is configured and ready, no other payment is open where
// the provider allows only one, storage is writable and the provider
// reachable; commit the payment (created) before anything is sent; Start
// exactly once; commit its session (polling) and start the check loop. The
// same key with the same body returns the same payment (created=false);
// with another body ErrIdempotencyKey.
func (r *Register) CreatePayment(ctx context.Context, idempotencyKey string, req PaymentRequest) (Payment, bool, error) {
	if !r.isReady() {
		return Payment{}, false, ErrNotReady
	}
	if err := validateKey(idempotencyKey); err != nil {
		return Payment{}, false, err
	}
	req = r.normalize(req)
	if err := r.validate(req); err != nil {
		return Payment{}, false, err
	}
	pv := r.byMethod[req.Method]
	hash := requestHash(req)

	if sp, err := r.db.PaymentByKey(ctx, idempotencyKey); err == nil {
		if sp.RequestHash != hash {
			return Payment{}, false, ErrIdempotencyKey
		}
		p, err := r.Payment(ctx, sp.ID)
		return p, false, err
	} else if !errors.Is(err, store.ErrNotFound) {
		return Payment{}, false, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	if err := r.gate(ctx, pv, req.Method); err != nil {
		return Payment{}, false, err
	}
	sp, created, err := r.insertPayment(ctx, pv, idempotencyKey, hash, req)
	if err != nil {
		return Payment{}, false, err
	}
	if !created { // a concurrent copy with the same key won the insert
		p, err := r.Payment(ctx, sp.ID)
		return p, false, err
	}
	sp = r.start(ctx, pv, sp)
	p, err := r.Payment(ctx, sp.ID)
	return p, true, err
}

// defaultMethod is the method of a request that names none: "seqr" when
// SEQR is configured (release 1 knew no other), else the first configured.
func (r *Register) defaultMethod() string {
	if _, ok := r.byMethod["seqr"]; ok || len(r.provs) == 0 {
		return "seqr"
	}
	return r.provs[0].Methods()[0]
}

func (r *Register) methods() []string {
	out := make([]string, 0, len(r.byMethod))
	for m := range r.byMethod {
		out = append(out, m)
	}
	slices.Sort(out)
	return out
}

// gate refuses a payment before anything is stored: the provider not ready
// (naming the missing step), storage unable to take a durable write, the
// provider unreachable. (Another payment open where the provider takes one
// at a time is refused by the insert itself, atomically.)
func (r *Register) gate(ctx context.Context, pv *prov, method string) error {
	if err := pv.Ready(ctx); err != nil {
		return readyError(err)
	}
	if err := r.storageGate(ctx); err != nil {
		return err
	}
	if err := r.probe(ctx, pv); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %s: %v", ErrOffline, pv.name, err)
	}
	return nil
}

// readyError turns a provider's NotReadyError into the register's sentinel.
func readyError(err error) error {
	var nr *payment.NotReadyError
	if !errors.As(err, &nr) {
		return fmt.Errorf("%w: %v", ErrProviderNotReady, err)
	}
	switch nr.Step {
	case "register":
		return fmt.Errorf("%w: %s", ErrNotRegistered, nr.Message)
	case "seqr_id":
		return fmt.Errorf("%w: %s", ErrNoSeqrID, nr.Message)
	}
	return fmt.Errorf("%w: %s: %s", ErrProviderNotReady, nr.Provider, nr.Message)
}

// extra is what a payment asked its provider besides rows and amounts.
type extra struct {
	Customer   *payment.Customer `json:"customer,omitempty"`
	ValidUntil *time.Time        `json:"validUntil,omitempty"`
}

func extraOf(sp store.Payment) (extra, error) {
	var x extra
	if len(sp.ExtraJSON) == 0 {
		return x, nil
	}
	err := json.Unmarshal(sp.ExtraJSON, &x)
	return x, err
}

// insertPayment commits the payment (state created) with its audit row.
func (r *Register) insertPayment(ctx context.Context, pv *prov, key, hash string, req PaymentRequest) (store.Payment, bool, error) {
	rowsJSON, err := json.Marshal(req.Rows)
	if err != nil {
		return store.Payment{}, false, fmt.Errorf("encode rows: %w", err)
	}
	var extraJSON []byte
	if req.Customer != nil || req.ValidUntil != nil {
		if extraJSON, err = json.Marshal(extra{Customer: req.Customer, ValidUntil: req.ValidUntil}); err != nil {
			return store.Payment{}, false, fmt.Errorf("encode request: %w", err)
		}
	}
	sp := store.Payment{
		ID:             newID(),
		IdempotencyKey: key,
		RequestHash:    hash,
		Provider:       pv.name,
		Method:         req.Method,
		State:          string(StateCreated),
		Amount:         req.Amount,
		Currency:       req.Currency,
		ReceiptTotal:   req.ReceiptTotal,
		Balancing:      string(balancingOf(req)),
		SaleID:         req.SaleID,
		CashierID:      req.CashierID,
		Title:          req.Title,
		RowsJSON:       rowsJSON,
		ExtraJSON:      extraJSON,
	}
	create := r.db.CreatePayment
	if r.policy(pv, req.Method).OneOpen {
		create = r.db.CreateSolePayment
	}
	sp, created, err := create(ctx, sp, store.Audit{Actor: actorOf(req.CashierID), Event: "create", Outcome: "success",
		Origin: "api", Detail: fmt.Sprintf("%s %s: amount %s %s, receipt total %s, balancing %s",
			pv.name, req.Method, req.Amount, req.Currency, req.ReceiptTotal, sp.Balancing)})
	var open *store.OpenPaymentError
	switch {
	case errors.Is(err, store.ErrIdempotencyKey):
		return store.Payment{}, false, ErrIdempotencyKey
	case errors.As(err, &open):
		return store.Payment{}, false, fmt.Errorf("payment %s is still open at %s, which takes one payment at a time: finish or cancel it first: %w",
			open.ID, pv.name, ErrPaymentOpen)
	}
	if err != nil {
		return store.Payment{}, false, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	if !created { // a concurrent copy with the same key won the insert
		return sp, false, nil
	}
	r.obs.PaymentCreated(pv.name)
	r.log.Info("payment created", zap.String("payment", sp.ID), zap.String("provider", pv.name), zap.String("method", sp.Method),
		zap.String("amount", sp.Amount.String()), zap.String("balancing", sp.Balancing), zap.String("cashier", sp.CashierID))
	return sp, true, nil
}

// start asks the provider for the payment's session and records the
// outcome. It is never called twice for a payment: definitely not sent or
// refused -> failed; anything else without a session -> unknown.
func (r *Register) start(ctx context.Context, pv *prov, sp store.Payment) store.Payment {
	order, err := orderOf(sp, r.now())
	if err != nil {
		r.log.Error("rebuild order", zap.String("payment", sp.ID), zap.Error(err))
	}
	pol := r.policy(pv, sp.Method)
	// The cashier's HTTP request going away must not cut the call short:
	// that would turn a clean answer into an unknown outcome.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pol.CallTimeout)
	defer cancel()
	var sess payment.Session
	if err == nil {
		sess, err = pv.Start(cctx, order)
	}
	rctx := context.WithoutCancel(ctx)
	c := change{actor: actorOf(sp.CashierID), origin: "api"}
	var next store.Payment
	var terr error
	var refused *payment.RefusedError
	switch {
	case err == nil && sess.Ref != "":
		r.crashAt(CrashStartReply)
		now := r.now()
		view, _ := viewJSON(sess.View)
		c.edit = func(p *store.Payment) {
			p.SessionRef, p.ProviderData, p.CustomerView, p.Progress = sess.Ref, sess.Data, view, sess.Progress
			if pol.Window > 0 {
				p.Window, p.WindowEndsAt = 1, now.Add(pol.Window)
			}
		}
		slip := r.startSlip(pv, sp, sess)
		if next, terr = r.transition(rctx, sp.ID, evStart, StatePolling, c, slip...); terr == nil {
			r.crashAt(CrashStartCommitted)
			if len(slip) > 0 {
				r.wakePrinter()
			}
			r.publishState(next, "payment started")
			r.startLoop(ctx, spawnReq{p: next})
			return next
		}
	case err == nil:
		next, terr = r.endStart(rctx, sp.ID, StateUnknown, c, "the provider answered the start without a session reference")
	case errors.Is(err, payment.ErrNotSent):
		next, terr = r.endStart(rctx, sp.ID, StateFailed, c, "not sent: "+err.Error())
	case errors.As(err, &refused):
		next, terr = r.endStart(rctx, sp.ID, StateFailed, c, refused.Message)
	default:
		// The request may have arrived: never send again. Resolved by the
		// provider's expiry or the period report.
		next, terr = r.endStart(rctx, sp.ID, StateUnknown, c, "outcome unknown (not confirmed, not charged): "+err.Error())
	}
	if terr != nil {
		// The row stays "created"; the next start's recovery makes it unknown.
		r.log.Error("record start outcome", zap.String("payment", sp.ID), zap.Error(terr), zap.NamedError("start", err))
		return sp
	}
	r.log.Warn("payment not started", zap.String("payment", sp.ID), zap.String("state", next.State), zap.String("error", next.Error))
	return next
}

func viewJSON(v *payment.CustomerView) ([]byte, error) {
	if v == nil || (v.URL == "" && v.HTML == "") {
		return nil, nil
	}
	return json.Marshal(View{URL: v.URL, HTML: v.HTML})
}

// endStart records a start that gave no session.
func (r *Register) endStart(ctx context.Context, id string, to State, c change, errText string) (store.Payment, error) {
	c.outcome = "failure: " + errText
	c.edit = func(p *store.Payment) { p.Error = errText }
	sp, err := r.transition(ctx, id, evStart, to, c)
	if err != nil {
		return store.Payment{}, err
	}
	r.publishState(sp, errText)
	if to.Final() {
		r.obs.PaymentFinished(sp.Provider, to)
	}
	return sp, nil
}

func actorOf(cashierID string) string {
	if cashierID == "" {
		return "posd"
	}
	return cashierID
}

// storageGate refuses new payments while storage cannot take a durable write
// or while a PAID is held in memory for want of storage (reliability B4, D1).
func (r *Register) storageGate(ctx context.Context) error {
	r.mu.Lock()
	blocked := r.held.count()
	r.mu.Unlock()
	if blocked > 0 {
		return fmt.Errorf("%w: %d paid payment(s) waiting to be recorded", ErrStorage, blocked)
	}
	if err := r.checkDurable(ctx); err != nil {
		return fmt.Errorf("%w: %v", ErrStorage, err)
	}
	return nil
}

// journalChecker is the receipt file's pre-flight check (*receipt.Journal):
// reopen if an earlier failure closed it, fsync, and room for more posts.
type journalChecker interface{ Check() error }

// checkDurable is the storage check of reliability B4: a test write to
// SQLite and the receipt file's Check. Both must pass before anything is
// sent to a provider; the first failure is also what Status shows.
func (r *Register) checkDurable(ctx context.Context) error {
	if err := r.checkStorage(ctx); err != nil {
		return err
	}
	jc, ok := r.journal.(journalChecker)
	if !ok {
		return nil
	}
	if err := jc.Check(); err != nil {
		err = fmt.Errorf("receipt file: %w", err)
		r.mu.Lock()
		r.storage = err.Error()
		r.mu.Unlock()
		return err
	}
	return nil
}

func balancingOf(req PaymentRequest) Balancing {
	switch {
	case req.Amount < req.ReceiptTotal:
		return BalancingOther
	case req.Amount > req.ReceiptTotal:
		return BalancingChange
	}
	return BalancingNone
}

func requestHash(req PaymentRequest) string {
	b, _ := json.Marshal(req) // plain structs: cannot fail
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// orderOf rebuilds what a stored payment asks its provider to take.
func orderOf(sp store.Payment, issued time.Time) (payment.Order, error) {
	req, err := requestOf(sp)
	if err != nil {
		return payment.Order{}, err
	}
	o := payment.Order{PaymentID: sp.ID, Method: sp.Method, Amount: sp.Amount, Currency: sp.Currency,
		ReceiptTotal: sp.ReceiptTotal, Title: sp.Title, CashierID: sp.CashierID, SaleID: sp.SaleID, IssuedAt: issued,
		Customer: req.Customer}
	if req.ValidUntil != nil {
		o.ValidUntil = *req.ValidUntil
	}
	for _, row := range req.Rows {
		o.Rows = append(o.Rows, payment.Row{Description: row.Description, Quantity: row.Quantity, UnitPrice: row.UnitPrice,
			Total: row.TotalAmount, TaxRate: row.TaxRate, SKU: row.SKU, EAN: row.EAN})
	}
	return o, nil
}

// sessionOf is the provider session stored with a payment.
func sessionOf(sp store.Payment) payment.Session {
	s := payment.Session{Ref: sp.SessionRef, Data: sp.ProviderData, Progress: sp.Progress, Method: sp.Method, PaymentID: sp.ID}
	if len(sp.CustomerView) > 0 {
		var v View
		if json.Unmarshal(sp.CustomerView, &v) == nil {
			s.View = &payment.CustomerView{URL: v.URL, HTML: v.HTML}
		}
	}
	return s
}

// requestOf rebuilds the request of a stored payment (rows, amounts).
func requestOf(sp store.Payment) (PaymentRequest, error) {
	var rows []Row
	if err := json.Unmarshal(sp.RowsJSON, &rows); err != nil {
		return PaymentRequest{}, fmt.Errorf("payment %s rows: %w", sp.ID, err)
	}
	x, err := extraOf(sp)
	if err != nil {
		return PaymentRequest{}, fmt.Errorf("payment %s request: %w", sp.ID, err)
	}
	return PaymentRequest{Method: sp.Method, SaleID: sp.SaleID, CashierID: sp.CashierID, Title: sp.Title,
		Amount: sp.Amount, Currency: sp.Currency, ReceiptTotal: sp.ReceiptTotal, Rows: rows,
		Customer: x.Customer, ValidUntil: x.ValidUntil}, nil
}
