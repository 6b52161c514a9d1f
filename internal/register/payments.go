package register

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/seqr"
	"github.com/posd/posd/internal/store"
)

const (
	balancingOtherText  = "Other payment"
	balancingChangeText = "Change"
)

// view turns a row into the API's Payment. live overlays what the poll loop
// keeps in memory (poll count, outage) between commits.
func (r *Register) view(sp store.Payment, live *liveState, refunded money.Amount) Payment {
	p := Payment{
		ID:               sp.ID,
		Method:           sp.Method,
		State:            State(sp.State),
		Amount:           sp.Amount,
		Currency:         sp.Currency,
		ReceiptTotal:     sp.ReceiptTotal,
		Balancing:        Balancing(sp.Balancing),
		SaleID:           sp.SaleID,
		CashierID:        sp.CashierID,
		Title:            sp.Title,
		InvoiceReference: sp.InvoiceReference,
		Window:           sp.Window,
		PollCount:        sp.PollCount,
		Refunded:         refunded,
		Error:            sp.Error,
		CreatedAt:        sp.CreatedAt.UTC(),
		UpdatedAt:        sp.UpdatedAt.UTC(),
	}
	// The reference is committed before the journal post; it is shown only
	// once the payment counts as paid.
	if p.State == StatePaid {
		p.ERSReference = sp.ERSReference
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
	refunded, err := r.refunded(ctx, sp)
	if err != nil {
		return Payment{}, err
	}
	return r.view(sp, r.liveOf(id), refunded), nil
}

func (r *Register) refunded(ctx context.Context, sp store.Payment) (money.Amount, error) {
	if State(sp.State) != StatePaid {
		return 0, nil
	}
	refs, err := r.db.Refunds(ctx, sp.ID)
	if err != nil {
		return 0, err
	}
	var sum money.Amount
	for _, rf := range refs {
		if rf.State == "done" {
			sum += rf.Amount
		}
	}
	return sum, nil
}

// Payments lists payments in a state ("" = all), oldest first.
func (r *Register) Payments(ctx context.Context, state State) ([]Payment, error) {
	var states []string
	if state != "" {
		if !state.Valid() {
			return nil, &ValidationError{Field: "state", Message: fmt.Sprintf("unknown state %q", state)}
		}
		states = []string{string(state)}
	}
	list, err := r.db.Payments(ctx, states...)
	if err != nil {
		return nil, err
	}
	out := make([]Payment, 0, len(list))
	for _, sp := range list {
		refunded, err := r.refunded(ctx, sp)
		if err != nil {
			return nil, err
		}
		out = append(out, r.view(sp, r.liveOf(sp.ID), refunded))
	}
	return out, nil
}

// CreatePayment starts a SEQR payment: validate, refuse unless ready,
// registered, storage writable and SEQR reachable; commit the payment
// (created) before anything is sent; sendInvoice exactly once; commit its
// reference (polling, window 1) and start the poll loop. The same key with
// the same body returns the same payment (created=false); with another body
// ErrIdempotencyKey.
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

	term, err := r.terminal(ctx)
	if err != nil {
		return Payment{}, false, err
	}
	if term.SeqrID == "" {
		return Payment{}, false, ErrNoSeqrID
	}
	if err := r.storageGate(ctx); err != nil {
		return Payment{}, false, err
	}
	if err := r.probe(ctx); err != nil {
		if ctx.Err() != nil {
			return Payment{}, false, ctx.Err()
		}
		return Payment{}, false, fmt.Errorf("%w: %v", ErrOffline, err)
	}

	rowsJSON, err := json.Marshal(req.Rows)
	if err != nil {
		return Payment{}, false, fmt.Errorf("encode rows: %w", err)
	}
	sp := store.Payment{
		ID:             newID(),
		IdempotencyKey: idempotencyKey,
		RequestHash:    hash,
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
	}
	actor := actorOf(req.CashierID)
	sp, created, err := r.db.CreatePayment(ctx, sp, store.Audit{Actor: actor, Event: "create", Outcome: "success", Origin: "api",
		Detail: fmt.Sprintf("amount %s %s, receipt total %s, balancing %s", req.Amount, req.Currency, req.ReceiptTotal, sp.Balancing)})
	if errors.Is(err, store.ErrIdempotencyKey) {
		return Payment{}, false, ErrIdempotencyKey
	}
	if err != nil {
		return Payment{}, false, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	if !created { // a concurrent copy with the same key won the insert
		p, err := r.Payment(ctx, sp.ID)
		return p, false, err
	}
	r.obs.PaymentCreated()
	r.log.Info("payment created", zap.String("payment", sp.ID), zap.String("amount", sp.Amount.String()),
		zap.String("balancing", sp.Balancing), zap.String("cashier", sp.CashierID))

	sp = r.sendInvoice(ctx, sp, term, req)
	p, err := r.Payment(ctx, sp.ID)
	return p, true, err
}

// sendInvoice sends the one invoice of a payment and records the outcome.
// It is never called twice for a payment.
func (r *Register) sendInvoice(ctx context.Context, sp store.Payment, term terminalCreds, req PaymentRequest) store.Payment {
	// The cashier's HTTP request going away must not cut the call short:
	// that would turn a clean answer into an unknown outcome.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.CallTimeout)
	defer cancel()
	res, err := r.seqr.SendInvoice(cctx, term.principal(), r.invoice(sp, req), nil)
	rctx := context.WithoutCancel(ctx)
	actor := actorOf(sp.CashierID)
	var next store.Payment
	var terr error
	switch {
	case err == nil && res.InvoiceReference != "":
		r.crashAt(CrashInvoiceReply)
		now := r.now()
		next, terr = r.db.Transition(rctx, sp.ID, []string{string(StateCreated)},
			store.Audit{Actor: actor, Event: "send_invoice", Outcome: "success", Origin: "api"},
			func(p *store.Payment) error {
				p.State, p.InvoiceReference = string(StatePolling), res.InvoiceReference
				p.Window, p.WindowEndsAt = 1, now.Add(r.cfg.Window)
				return nil
			})
		if terr == nil {
			r.crashAt(CrashInvoiceCommitted)
			r.publishState(next, "invoice sent")
			r.startLoop(ctx, spawnReq{p: next})
			return next
		}
	case err == nil:
		next, terr = r.setState(rctx, sp.ID, StateCreated, StateUnknown, actor, "send_invoice",
			"sendInvoice answered without an invoice reference")
	case errors.Is(err, seqr.ErrNotSent):
		next, terr = r.setState(rctx, sp.ID, StateCreated, StateFailed, actor, "send_invoice",
			"not sent: "+err.Error())
	default:
		if code, ok := seqr.Code(err); ok {
			// SEQR answered and created no invoice we could poll.
			next, terr = r.setState(rctx, sp.ID, StateCreated, StateFailed, actor, "send_invoice",
				fmt.Sprintf("SEQR refused the invoice: %d %s", code, seqr.ResultName(code)))
		} else {
			// The request may have arrived: never send again. Unpolled, a
			// payment against it is reversed by SEQR.
			next, terr = r.setState(rctx, sp.ID, StateCreated, StateUnknown, actor, "send_invoice",
				"outcome unknown (not confirmed, not charged): "+err.Error())
		}
	}
	if terr != nil {
		// The row stays "created"; the next start's recovery makes it unknown.
		r.log.Error("record sendInvoice outcome", zap.String("payment", sp.ID), zap.Error(terr), zap.NamedError("sendInvoice", err))
		return sp
	}
	r.log.Warn("payment not started", zap.String("payment", sp.ID), zap.String("state", next.State), zap.String("error", next.Error))
	return next
}

// setState is a transition that only changes state and error.
func (r *Register) setState(ctx context.Context, id string, from, to State, actor, event, errText string) (store.Payment, error) {
	outcome := "success"
	if errText != "" {
		outcome = "failure: " + errText
	}
	sp, err := r.db.Transition(ctx, id, []string{string(from)},
		store.Audit{Actor: actor, Event: event, Outcome: outcome, Origin: "api"},
		func(p *store.Payment) error { p.State, p.Error = string(to), errText; return nil })
	if err != nil {
		return store.Payment{}, err
	}
	r.publishState(sp, errText)
	if to.Final() {
		r.obs.PaymentFinished(to)
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
	blocked := len(r.blocked)
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

// invoice builds the SEQR invoice. A balancing row makes the rows sum to the
// amount taken by SEQR, as SEQR requires: negative "Other payment" when the
// rest is paid otherwise, positive "Change" when change is given back.
func (r *Register) invoice(sp store.Payment, req PaymentRequest) seqr.Invoice {
	rows := make([]seqr.InvoiceRow, 0, len(req.Rows)+1)
	for _, row := range req.Rows {
		ir := seqr.InvoiceRow{Description: row.Description, Quantity: row.Quantity, TaxRate: row.TaxRate,
			Total: row.TotalAmount, SKU: row.SKU, EAN: row.EAN}
		if row.UnitPrice != 0 {
			u := row.UnitPrice
			ir.UnitPrice = &u
		}
		rows = append(rows, ir)
	}
	if diff := req.Amount - req.ReceiptTotal; diff != 0 {
		text := balancingOtherText
		if diff > 0 {
			text = balancingChangeText
		}
		rows = append(rows, seqr.InvoiceRow{Description: text, Quantity: "1", Total: diff})
	}
	return seqr.Invoice{
		PaymentMode:        "IMMEDIATE_DEBIT",
		AcknowledgmentMode: "NO_ACKNOWLEDGMENT",
		IssueDate:          r.now().Truncate(time.Second),
		Title:              req.Title,
		ClientInvoiceID:    sp.ID,
		Rows:               rows,
		Total:              req.Amount,
		Currency:           req.Currency,
		CashierID:          req.CashierID,
	}
}

// requestOf rebuilds the request of a stored payment (rows, amounts).
func requestOf(sp store.Payment) (PaymentRequest, error) {
	var rows []Row
	if err := json.Unmarshal(sp.RowsJSON, &rows); err != nil {
		return PaymentRequest{}, fmt.Errorf("payment %s rows: %w", sp.ID, err)
	}
	return PaymentRequest{Method: sp.Method, SaleID: sp.SaleID, CashierID: sp.CashierID, Title: sp.Title,
		Amount: sp.Amount, Currency: sp.Currency, ReceiptTotal: sp.ReceiptTotal, Rows: rows}, nil
}
