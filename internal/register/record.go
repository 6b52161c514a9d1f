package register

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/store"
)

// recordReq is a paid payment to record.
type recordReq struct {
	ref        string // the provider's transaction reference
	methodName string
	paidAt     time.Time
	origin     string
}

// label names a money movement in the receipt file and on the receipt:
// the provider's own words where it has them ("SEQR payment"), else its
// name and the method ("payson Kort payment").
func (r *Register) label(provider, kind, methodName string) string {
	if pv := r.byName[provider]; pv != nil {
		if l, ok := pv.Provider.(payment.Labeler); ok {
			return l.Label(kind, methodName)
		}
	}
	text := provider
	if methodName != "" {
		text += " " + methodName
	}
	return text + " " + kind
}

// record makes a paid payment durable, in an order that survives a crash
// at any point: (1) commit the transaction reference (unique per provider)
// while the state stays open, (2) append the transaction post to the
// receipt file (fsync), (3) commit state paid together with the provider's
// follow-up tasks (outbox) and the print job. Only then does the API show paid. Each step is idempotent; a
// failing step (disk full) is retried every RecordRetry with the PAID held
// in memory, and new payments are refused meanwhile (D1). Recovery finishes
// a recording interrupted by a crash from step (1)'s row.
func (r *Register) record(ctx context.Context, p store.Payment, rq recordReq) (store.Payment, bool) {
	for attempt := 1; ; attempt++ {
		next, err := r.recordOnce(context.WithoutCancel(ctx), p, rq)
		if err == nil {
			r.unblock(p.ID)
			return next, true
		}
		if errors.Is(err, store.ErrDuplicateReference) || errors.Is(err, receipt.ErrInvalidPost) {
			// The provider gave a reference already recorded for another
			// payment, or one the receipt file cannot hold: never a second
			// record of one transaction, and never a retry that blocks
			// every later sale. Raised for manual handling (the period
			// report settles it).
			r.unblock(p.ID)
			msg := fmt.Sprintf("%s reported the payment paid with reference %s, already recorded for another payment; check the period report", p.Provider, rq.ref)
			if errors.Is(err, receipt.ErrInvalidPost) {
				msg = fmt.Sprintf("%s reported the payment paid, but its reference cannot be written to the receipt file (%v); check the period report", p.Provider, err)
			}
			r.log.Error("paid payment raised for manual handling", zap.String("payment", p.ID), zap.String("reference", rq.ref), zap.Error(err))
			if next, terr := r.transition(context.WithoutCancel(ctx), p.ID, evRaise, StateUnknown, change{origin: rq.origin,
				auditEvent: "paid_received", outcome: "failure: duplicate transaction reference", detail: msg,
				edit: func(q *store.Payment) { q.Error = msg }}); terr == nil {
				r.publishState(next, msg)
				return next, false
			}
			return p, false
		}
		r.block(p.ID)
		if attempt == 1 || attempt%30 == 0 {
			r.log.Error("record paid payment; held in memory and retried", zap.String("payment", p.ID),
				zap.String("reference", rq.ref), zap.Int("attempt", attempt), zap.Error(err))
		}
		if !sleepCtx(ctx, r.cfg.RecordRetry) {
			return p, false
		}
		if fresh, err := r.db.Payment(context.WithoutCancel(ctx), p.ID); err == nil {
			p = fresh
		}
	}
}

func (r *Register) block(id string) {
	r.mu.Lock()
	r.held.paid[id] = true
	r.mu.Unlock()
}

func (r *Register) unblock(id string) {
	r.mu.Lock()
	delete(r.held.paid, id)
	r.mu.Unlock()
}

func (r *Register) recordOnce(ctx context.Context, p store.Payment, rq recordReq) (store.Payment, error) {
	if State(p.State) == StatePaid {
		return p, nil
	}
	live := r.liveOf(p.ID)
	if p.TransactionRef == "" {
		r.crashAt(CrashPaidSeen)
		next, err := r.transition(ctx, p.ID, evPaidReceived, "", change{origin: rq.origin,
			detail: p.Provider + " reported paid; recording",
			edit: func(q *store.Payment) {
				q.TransactionRef, q.MethodName, q.PaidAt = rq.ref, rq.methodName, rq.paidAt
				if live != nil {
					q.PollCount, q.Progress = live.pollCount, live.progress
				}
			}})
		if errors.Is(err, store.ErrStateConflict) {
			return r.db.Payment(ctx, p.ID)
		}
		if err != nil {
			return p, err
		}
		p = next
		r.crashAt(CrashRefCommitted)
	}
	if p.PaidAt.IsZero() {
		p.PaidAt = r.now()
	}
	if err := r.appendPost(r.paymentPost(p)); err != nil {
		return p, err
	}
	r.crashAt(CrashJournalAppended)
	also, docJSON := r.afterPaid(p)
	next, err := r.transition(ctx, p.ID, evPaid, StatePaid, change{origin: rq.origin,
		detail: "transaction post written; receipt queued",
		edit: func(q *store.Payment) {
			q.Error, q.OutageSince, q.CustomerView = "", time.Time{}, nil
			if q.PaidAt.IsZero() {
				q.PaidAt = p.PaidAt
			}
		}}, also...)
	if errors.Is(err, store.ErrStateConflict) {
		return r.db.Payment(ctx, p.ID)
	}
	if err != nil {
		return p, err
	}
	r.crashAt(CrashPaidCommitted)
	if docJSON == nil {
		r.log.Error("receipt document not built; nothing queued for printing", zap.String("payment", p.ID))
	} else {
		r.wakePrinter()
	}
	r.unblock(p.ID) // before the event: whoever sees "paid" may start the next sale
	r.obs.PaymentFinished(p.Provider, StatePaid)
	r.log.Info("payment paid", zap.String("payment", p.ID), zap.String("provider", p.Provider),
		zap.String("reference", next.TransactionRef), zap.String("amount", next.Amount.String()))
	r.publishState(next, "payment completed")
	return next, nil
}

// afterPaid returns what commits with the paid state: the provider's
// follow-up tasks (outbox) and the print job, and the receipt it prints.
func (r *Register) afterPaid(p store.Payment) ([]func(*store.Tx) error, []byte) {
	var also []func(*store.Tx) error
	if pv, err := r.providerOf(p); err == nil {
		order, oerr := orderOf(p, p.CreatedAt)
		if oerr != nil {
			r.log.Error("rebuild order for follow-up tasks", zap.String("payment", p.ID), zap.Error(oerr))
		}
		paid := payment.Check{Status: payment.Paid, TransactionRef: p.TransactionRef, MethodName: p.MethodName, Progress: p.Progress}
		for _, t := range pv.AfterPaid(order, sessionOf(p), paid) {
			also = append(also, func(tx *store.Tx) error { return tx.EnqueueOutbox(p.Provider, t.Kind, p.ID, t.Payload) })
		}
	}
	var docJSON []byte
	if doc, err := r.document(p, nil); err == nil {
		if b, err := json.Marshal(doc); err == nil {
			docJSON = b
		}
	}
	if docJSON != nil {
		// Printing comes after recording and never decides it: a job that
		// cannot be built is logged, not fatal.
		also = append(also, func(tx *store.Tx) error { return tx.EnqueuePrintJob(p.ID, "receipt", docJSON, false) })
	}
	return also, docJSON
}

// appendPost writes a transaction post unless the file already has its reference.
func (r *Register) appendPost(post receipt.Post) error {
	if r.journal.Has(post.Provider, post.Reference) {
		return nil
	}
	start := time.Now()
	_, err := r.journal.Append(post)
	r.obs.JournalAppend(time.Since(start), err)
	if errors.Is(err, receipt.ErrReferenceConflict) {
		// The file already holds this reference with other content: never
		// a second post for one reference. Raised for manual handling.
		r.log.Error("journal holds this reference with other content", zap.String("provider", post.Provider),
			zap.String("reference", post.Reference), zap.Error(err))
		return nil
	}
	if err != nil {
		return fmt.Errorf("append transaction post %s %s: %w", post.Provider, post.Reference, err)
	}
	return nil
}

// finishRecording completes a PAID interrupted by a crash (recovery).
func (r *Register) finishRecording(ctx context.Context, p store.Payment, rq recordReq) {
	if rq.paidAt.IsZero() {
		rq.paidAt = r.now()
	}
	r.record(ctx, p, rq)
}

// reappendPosts writes every recorded payment and refund that the receipt
// file lacks (a torn tail moved aside, a file restored from backup), keyed
// by reference. Posts that cannot be written now are retried in the background.
//
// It runs before Ready on every start, so its cost must not grow with
// history (issue 11 item 8). The journal watermark (watermark.go) says up to
// which audit row every paid payment and done refund was confirmed in the
// file: only the rows after it are checked, unless the file now ends before
// the post it had then (a torn tail moved aside below the watermark, an older
// file restored), when every paid payment and done refund is checked, as
// before the watermark, and the watermark is set again.
func (r *Register) reappendPosts(ctx context.Context, wg *sync.WaitGroup) error {
	if w, ok, err := r.watermark(ctx); err != nil {
		r.log.Error("journal watermark unreadable; checking the whole history", zap.Error(err))
	} else if ok {
		_, err := r.advanceWatermark(ctx, wg, w, true)
		return err
	}
	top, err := r.db.MaxAuditID(ctx)
	if err != nil {
		return fmt.Errorf("re-append posts: %w", err)
	}
	full := func() error {
		if err := r.reappendAll(ctx, wg); err != nil {
			return err
		}
		// Every row up to top was checked (rows written meanwhile come after it).
		return r.setWatermark(ctx, top)
	}
	if top <= r.fullCheckBeforeReady {
		return full()
	}
	// A long history without a watermark (the first start after the
	// upgrade that brought it, or a file that lost posts below it) is
	// checked after READY, so start-up stays flat: a missing post is
	// appended a little later, and every new payment is recorded as usual.
	r.log.Warn("checking every paid payment and refund against the receipt file in the background", zap.Int64("auditRows", top))
	wg.Go(func() {
		start := time.Now()
		if err := full(); err != nil && ctx.Err() == nil {
			r.log.Error("re-append journal posts", zap.Error(err))
			return
		}
		r.log.Info("receipt file checked against the database", zap.Duration("took", time.Since(start)))
	})
	return nil
}

// fullCheckBeforeReady is the history (audit rows) up to which a start
// without a usable watermark checks every paid payment before READY.
const fullCheckBeforeReady = 50_000

// reappendAll checks every paid payment and done refund against the file:
// only the references are read (one column, no ordering) and checked
// against the file's index; the full row is loaded only for a reference the
// file lacks. Missing posts are appended payments first, then refunds, each
// by creation time.
func (r *Register) reappendAll(ctx context.Context, wg *sync.WaitGroup) error {
	var missingPaid, missingRefunds []postKey
	if err := r.db.PaidReferences(ctx, func(provider, ref string) {
		if !r.journal.Has(provider, ref) {
			missingPaid = append(missingPaid, postKey{provider, ref})
		}
	}); err != nil {
		return fmt.Errorf("re-append posts: %w", err)
	}
	if err := r.db.DoneRefundReferences(ctx, func(provider, ref string) {
		if !r.journal.Has(provider, ref) {
			missingRefunds = append(missingRefunds, postKey{provider, ref})
		}
	}); err != nil {
		return fmt.Errorf("re-append posts: %w", err)
	}
	if len(missingPaid) == 0 && len(missingRefunds) == 0 {
		return nil
	}
	paid := make([]store.Payment, 0, len(missingPaid))
	for _, k := range missingPaid {
		p, err := r.db.PaymentByReference(ctx, k.provider, k.ref)
		if err != nil {
			return fmt.Errorf("re-append posts: %w", err)
		}
		paid = append(paid, p)
	}
	slices.SortFunc(paid, func(a, b store.Payment) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	refunds := make([]store.Refund, 0, len(missingRefunds))
	for _, k := range missingRefunds {
		rf, err := r.db.RefundByReference(ctx, k.provider, k.ref)
		if err != nil {
			return fmt.Errorf("re-append posts: %w", err)
		}
		refunds = append(refunds, rf)
	}
	slices.SortFunc(refunds, func(a, b store.Refund) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	posts := make([]receipt.Post, 0, len(paid)+len(refunds))
	for _, p := range paid {
		posts = append(posts, r.paymentPost(p))
	}
	for _, rf := range refunds {
		posts = append(posts, r.refundPost(rf))
	}
	var failed []receipt.Post
	n := 0
	for _, post := range posts {
		if r.journal.Has(post.Provider, post.Reference) {
			continue
		}
		if err := r.appendPost(post); err != nil {
			failed = append(failed, post)
			continue
		}
		n++
	}
	if n > 0 {
		r.log.Warn("re-appended missing transaction posts from the database", zap.Int("posts", n))
	}
	if len(failed) > 0 {
		wg.Go(func() { r.appendLater(ctx, failed) })
		return fmt.Errorf("%d transaction post(s) not written yet; retrying", len(failed))
	}
	return nil
}

func (r *Register) paymentPost(p store.Payment) receipt.Post {
	return receipt.Post{Time: p.PaidAt, PaymentID: p.ID, Kind: "payment", Text: r.label(p.Provider, "payment", p.MethodName),
		Amount: p.Amount, Currency: p.Currency, Provider: p.Provider, Reference: p.TransactionRef}
}

// appendLater retries posts until they are written or ctx ends.
func (r *Register) appendLater(ctx context.Context, posts []receipt.Post) {
	for len(posts) > 0 {
		key := postKey{posts[0].Provider, posts[0].Reference}
		r.mu.Lock()
		r.held.posts[key] = true
		r.mu.Unlock()
		if !sleepCtx(ctx, r.cfg.RecordRetry) {
			return
		}
		if err := r.appendPost(posts[0]); err != nil {
			if !errors.Is(err, receipt.ErrInvalidPost) {
				continue
			}
			// A post the file can never hold must not block sales for ever.
			r.log.Error("transaction post cannot be written; raised for manual handling",
				zap.String("payment", posts[0].PaymentID), zap.String("reference", posts[0].Reference), zap.Error(err))
		}
		r.mu.Lock()
		delete(r.held.posts, key)
		r.mu.Unlock()
		posts = posts[1:]
	}
}

// An annulment is posted as money given back, a debit as money taken; the
// text says which it was ("Resurs Bank annulment").
func (r *Register) refundPost(rf store.Refund) receipt.Post {
	kind := "refund"
	if rf.Kind == store.KindDebit {
		kind = "payment"
	}
	return receipt.Post{Time: rf.UpdatedAt, PaymentID: rf.PaymentID, Kind: kind, Text: r.label(rf.Provider, labelKind(rf.Kind), ""),
		Amount: rf.Amount, Currency: rf.Currency, Provider: rf.Provider, Reference: rf.ProviderRef}
}

// labelKind is the Labeler's kind of an adjustment: "refund", "annul" or "debit".
func labelKind(kind string) string {
	if kind == "" {
		return store.KindRefund
	}
	return kind
}

// document builds the printed receipt of a paid payment.
func (r *Register) document(p store.Payment, refunds []store.Refund) (receipt.Document, error) {
	req, err := requestOf(p)
	if err != nil {
		return receipt.Document{}, err
	}
	doc := receipt.Document{
		Header:    append([]string(nil), r.cfg.ReceiptHeader...),
		Total:     p.ReceiptTotal,
		Currency:  p.Currency,
		Payments:  []receipt.Payment{{Method: r.label(p.Provider, "payment", p.MethodName), Amount: p.Amount, Reference: p.TransactionRef}},
		Time:      p.PaidAt.UTC(),
		SaleID:    p.SaleID,
		CashierID: p.CashierID,
		Barcode:   p.TransactionRef,
		BarcodeAs: r.cfg.ReferenceCode,
		Footer:    append([]string(nil), r.cfg.ReceiptFooter...),
	}
	for _, row := range req.Rows {
		doc.Rows = append(doc.Rows, receipt.Row{Description: row.Description, Quantity: row.Quantity,
			UnitPrice: row.UnitPrice, Total: row.TotalAmount, TaxRate: row.TaxRate})
	}
	switch Balancing(p.Balancing) {
	case BalancingOther:
		doc.LeftToPay = p.ReceiptTotal - p.Amount
	case BalancingChange:
		doc.Change = p.Amount - p.ReceiptTotal
	}
	for _, rf := range refunds {
		switch {
		case rf.State != "done":
		case rf.Kind == store.KindDebit:
			// The added rows are part of the sale now: its rows, total and
			// VAT summary include them, paid by the debit's own line.
			var rows []Row
			if err := json.Unmarshal([]byte(rf.Rows), &rows); err != nil {
				return receipt.Document{}, fmt.Errorf("debit %s rows: %w", rf.ID, err)
			}
			for _, row := range rows {
				doc.Rows = append(doc.Rows, receipt.Row{Description: row.Description, Quantity: row.Quantity,
					UnitPrice: row.UnitPrice, Total: row.TotalAmount, TaxRate: row.TaxRate})
				doc.Total += row.TotalAmount
			}
			doc.Payments = append(doc.Payments, receipt.Payment{Method: r.label(rf.Provider, store.KindDebit, ""), Amount: rf.Amount,
				Reference: rf.ProviderRef})
		default:
			doc.Refunds = append(doc.Refunds, receipt.Refund{Method: r.label(rf.Provider, labelKind(rf.Kind), ""), Amount: rf.Amount,
				Reference: rf.ProviderRef, Time: rf.UpdatedAt.UTC()})
		}
	}
	return doc, nil
}

// ReceiptDocument returns the receipt of a paid payment, with its refunds.
func (r *Register) ReceiptDocument(ctx context.Context, id string) (receipt.Document, error) {
	p, err := r.db.Payment(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return receipt.Document{}, fmt.Errorf("payment %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return receipt.Document{}, err
	}
	if State(p.State) != StatePaid {
		return receipt.Document{}, fmt.Errorf("receipt of payment %s in state %s: %w", id, p.State, ErrInvalidState)
	}
	refunds, err := r.db.Refunds(ctx, id)
	if err != nil {
		return receipt.Document{}, err
	}
	return r.document(p, refunds)
}

// ReprintReceipt queues a copy (printed marked COPY) of a paid payment's receipt.
func (r *Register) ReprintReceipt(ctx context.Context, id string) error {
	doc, err := r.ReceiptDocument(ctx, id)
	if err != nil {
		return err
	}
	doc.Copy = true
	b, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encode receipt %s: %w", id, err)
	}
	if _, err := r.db.EnqueuePrintJob(ctx, id, "receipt", b, true); err != nil {
		return fmt.Errorf("%w: %v", ErrStorage, err)
	}
	r.wakePrinter()
	return nil
}

// maxJournalPage bounds one answer of Journal: the file's history is not
// held in memory, and one call must not read it all.
const maxJournalPage = 1000

// Journal returns up to limit transaction posts after sequence number after
// (limit 0 or above maxJournalPage: maxJournalPage).
func (r *Register) Journal(ctx context.Context, after int64, limit int) ([]receipt.Post, error) {
	if after < 0 {
		return nil, &ValidationError{Field: "after", Message: "must be 0 or greater"}
	}
	if limit <= 0 || limit > maxJournalPage {
		limit = maxJournalPage
	}
	posts, err := r.journal.Posts(after, limit)
	if err != nil {
		return nil, fmt.Errorf("read receipt file: %w", err)
	}
	if posts == nil {
		posts = []receipt.Post{}
	}
	return posts, ctx.Err()
}

// outboxLoop runs due outbox tasks until their provider accepts each,
// backing off per item.
func (r *Register) outboxLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.OutboxInterval)
	defer t.Stop()
	for {
		r.drainOutbox(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *Register) drainOutbox(ctx context.Context) {
	items, err := r.db.DueOutbox(ctx, r.now(), 20)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("read outbox", zap.Error(err))
		}
		return
	}
	for _, it := range items {
		if ctx.Err() != nil {
			return
		}
		err := r.runTask(ctx, it)
		if err == nil {
			if derr := r.db.OutboxDone(context.WithoutCancel(ctx), it.ID); derr != nil {
				r.log.Warn("mark outbox item done", zap.Int64("item", it.ID), zap.Error(derr))
			}
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if re, ok := payment.Refused(err); ok && re.Permanent {
			r.log.Error("outbox task refused for good; raised for manual handling", zap.Int64("item", it.ID),
				zap.String("provider", it.Provider), zap.String("kind", it.Kind), zap.String("payment", it.PaymentID), zap.Error(err))
			if derr := r.db.OutboxDone(context.WithoutCancel(ctx), it.ID); derr != nil {
				r.log.Warn("mark outbox item done", zap.Int64("item", it.ID), zap.Error(derr))
			}
			r.auditID(ctx, it.PaymentID, it.Provider, "task_"+it.Kind, "failure: "+err.Error(), "refused for good; manual handling needed")
			continue
		}
		delay := r.cfg.OutboxRetryMin << min(it.Attempts, 20)
		if delay > r.cfg.OutboxRetryMax || delay <= 0 {
			delay = r.cfg.OutboxRetryMax
		}
		if it.Attempts == 0 || it.Attempts%10 == 0 {
			r.log.Warn("outbox task failed; retrying", zap.Int64("item", it.ID), zap.String("provider", it.Provider),
				zap.String("kind", it.Kind), zap.Int("attempts", it.Attempts+1), zap.Duration("next", delay), zap.Error(err))
		}
		if rerr := r.db.OutboxRetry(context.WithoutCancel(ctx), it.ID, r.now().Add(delay), err.Error()); rerr != nil {
			r.log.Warn("reschedule outbox item", zap.Int64("item", it.ID), zap.Error(rerr))
		}
	}
	if n, err := r.db.OutboxBacklog(ctx); err == nil {
		r.obs.OutboxBacklog(n)
	}
}

// runTask hands one outbox task to its provider, with the payment's receipt.
func (r *Register) runTask(ctx context.Context, it store.OutboxItem) error {
	pv := r.byName[it.Provider]
	if pv == nil {
		return fmt.Errorf("outbox item %d: provider %q is not configured", it.ID, it.Provider)
	}
	t := payment.Task{Kind: it.Kind, Payload: it.Payload, PaymentID: it.PaymentID}
	if it.PaymentID != "" {
		doc, err := r.ReceiptDocument(ctx, it.PaymentID)
		if err != nil {
			return err
		}
		t.Receipt = doc.Text(receiptColumns)
	}
	if it.PaymentID != "" {
		// An annulment of the payment waits for its capture, and the other
		// way round (adjust.go).
		defer r.payLocks.lock(it.PaymentID)()
	}
	cctx, cancel := context.WithTimeout(ctx, r.policy(pv, "").CallTimeout)
	defer cancel()
	r.crashAt(CrashTaskBefore)
	if err := pv.RunTask(cctx, t); err != nil {
		return fmt.Errorf("%s %s: %w", it.Provider, it.Kind, err)
	}
	r.crashAt(CrashTaskAfter)
	return nil
}

func (r *Register) auditID(ctx context.Context, paymentID, provider, event, outcome, detail string) {
	if err := r.db.AddAudit(context.WithoutCancel(ctx), paymentID, store.Audit{Provider: provider, Actor: "posd", Event: event,
		Outcome: outcome, Origin: "outbox", Detail: detail}); err != nil {
		r.log.Error("audit", zap.String("payment", paymentID), zap.String("event", event), zap.Error(err))
	}
}
