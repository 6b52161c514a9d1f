package register

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/seqr"
	"github.com/posd/posd/internal/store"
)

const (
	postTextPayment = "SEQR payment"
	postTextRefund  = "SEQR refund"
	outboxSubmit    = "submitPaymentReceipt"
)

// recordReq is a PAID to record.
type recordReq struct {
	ers    string
	paidAt time.Time
	origin string
}

type submitPayload struct {
	PaymentID    string `json:"paymentId"`
	ERSReference string `json:"ersReference"`
}

// record makes a PAID durable, in an order that survives a crash at any
// point: (1) commit the ersReference (UNIQUE) while the state stays open,
// (2) append the transaction post to the receipt file (fsync), (3) commit
// state paid together with the submitPaymentReceipt outbox item and the
// print job. Only then does the API show paid. Each step is idempotent; a
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
			// SEQR gave a reference already recorded for another payment,
			// or one the receipt file cannot hold: never a second record of
			// one transaction, and never a retry that blocks every later
			// sale. Raised for manual handling (the period report settles
			// it).
			r.unblock(p.ID)
			msg := "SEQR reported PAID with ersReference " + rq.ers + ", already recorded for another payment; check the period report"
			if errors.Is(err, receipt.ErrInvalidPost) {
				msg = "SEQR reported PAID, but its ersReference cannot be written to the receipt file (" + err.Error() + "); check the period report"
			}
			r.log.Error("paid payment raised for manual handling", zap.String("payment", p.ID), zap.String("ersReference", rq.ers), zap.Error(err))
			if next, terr := r.db.Transition(context.WithoutCancel(ctx), p.ID, openStates,
				store.Audit{Actor: "posd", Event: "paid_received", Outcome: "failure: duplicate ersReference", Origin: rq.origin, Detail: msg},
				func(q *store.Payment) error { q.State, q.Error = string(StateUnknown), msg; return nil }); terr == nil {
				r.publishState(next, msg)
				return next, false
			}
			return p, false
		}
		r.block(p.ID)
		if attempt == 1 || attempt%30 == 0 {
			r.log.Error("record paid payment; held in memory and retried", zap.String("payment", p.ID),
				zap.String("ersReference", rq.ers), zap.Int("attempt", attempt), zap.Error(err))
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
	r.blocked[id] = true
	r.mu.Unlock()
}

func (r *Register) unblock(id string) {
	r.mu.Lock()
	delete(r.blocked, id)
	r.mu.Unlock()
}

func (r *Register) recordOnce(ctx context.Context, p store.Payment, rq recordReq) (store.Payment, error) {
	if State(p.State) == StatePaid {
		return p, nil
	}
	live := r.liveOf(p.ID)
	if p.ERSReference == "" {
		r.crashAt(CrashPaidSeen)
		next, err := r.db.Transition(ctx, p.ID, openStates,
			store.Audit{Actor: "posd", Event: "paid_received", Outcome: "success", Origin: rq.origin,
				Detail: "SEQR status PAID; recording"},
			func(q *store.Payment) error {
				q.ERSReference, q.PaidAt = rq.ers, rq.paidAt
				if live != nil {
					q.PollCount, q.InvoiceVersion = live.pollCount, live.version
				}
				return nil
			})
		if errors.Is(err, store.ErrStateConflict) {
			return r.db.Payment(ctx, p.ID)
		}
		if err != nil {
			return p, err
		}
		p = next
		r.crashAt(CrashERSCommitted)
	}
	if p.PaidAt.IsZero() {
		p.PaidAt = r.now()
	}
	if err := r.appendPost(receipt.Post{Time: p.PaidAt, PaymentID: p.ID, Kind: "payment", Text: postTextPayment,
		Amount: p.Amount, Currency: p.Currency, Reference: p.ERSReference}); err != nil {
		return p, err
	}
	r.crashAt(CrashJournalAppended)
	payload, _ := json.Marshal(submitPayload{PaymentID: p.ID, ERSReference: p.ERSReference})
	var docJSON []byte
	if doc, err := r.document(p, nil); err == nil {
		docJSON, err = json.Marshal(doc)
		if err != nil {
			docJSON = nil
		}
	}
	next, err := r.db.Transition(ctx, p.ID, openStates,
		store.Audit{Actor: "posd", Event: "paid", Outcome: "success", Origin: rq.origin,
			Detail: "transaction post written; receipt queued"},
		func(q *store.Payment) error {
			q.State, q.Error, q.OutageSince = string(StatePaid), "", time.Time{}
			if q.PaidAt.IsZero() {
				q.PaidAt = p.PaidAt
			}
			return nil
		},
		func(tx *store.Tx) error { return tx.EnqueueOutbox(outboxSubmit, p.ID, payload) },
		func(tx *store.Tx) error {
			// Printing comes after recording and never decides it: a job
			// that cannot be built is logged, not fatal.
			if docJSON == nil {
				return nil
			}
			return tx.EnqueuePrintJob(p.ID, "receipt", docJSON, false)
		})
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
	r.obs.PaymentFinished(StatePaid)
	r.log.Info("payment paid", zap.String("payment", p.ID), zap.String("ersReference", next.ERSReference),
		zap.String("amount", next.Amount.String()))
	r.publishState(next, "payment completed")
	return next, nil
}

// appendPost writes a transaction post unless the file already has its reference.
func (r *Register) appendPost(post receipt.Post) error {
	if r.journal.Has(post.Reference) {
		return nil
	}
	start := time.Now()
	_, err := r.journal.Append(post)
	r.obs.JournalAppend(time.Since(start), err)
	if errors.Is(err, receipt.ErrReferenceConflict) {
		// The file already holds this reference with other content: never
		// a second post for one reference. Raised for manual handling.
		r.log.Error("journal holds this reference with other content", zap.String("reference", post.Reference), zap.Error(err))
		return nil
	}
	if err != nil {
		return fmt.Errorf("append transaction post %s: %w", post.Reference, err)
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
// It runs before Ready on every start, so it is cheap in the usual case of a
// complete file: only the references of paid payments and done refunds are
// read (one column, no ordering) and checked against the file's index; the
// full row is loaded only for a reference the file lacks. Every paid
// payment and done refund is checked, whatever its age: no time cut-off, so
// a file restored from an old backup is completed too. Missing posts are
// appended in the order of the old full scan: payments, then refunds, each
// by creation time.
func (r *Register) reappendPosts(ctx context.Context, wg *sync.WaitGroup) error {
	var missingPaid, missingRefunds []string
	if err := r.db.PaidReferences(ctx, func(ers string) {
		if !r.journal.Has(ers) {
			missingPaid = append(missingPaid, ers)
		}
	}); err != nil {
		return fmt.Errorf("re-append posts: %w", err)
	}
	if err := r.db.DoneRefundReferences(ctx, func(ers string) {
		if !r.journal.Has(ers) {
			missingRefunds = append(missingRefunds, ers)
		}
	}); err != nil {
		return fmt.Errorf("re-append posts: %w", err)
	}
	if len(missingPaid) == 0 && len(missingRefunds) == 0 {
		return nil
	}
	paid := make([]store.Payment, 0, len(missingPaid))
	for _, ers := range missingPaid {
		p, err := r.db.PaymentByReference(ctx, ers)
		if err != nil {
			return fmt.Errorf("re-append posts: %w", err)
		}
		paid = append(paid, p)
	}
	slices.SortFunc(paid, func(a, b store.Payment) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	refunds := make([]store.Refund, 0, len(missingRefunds))
	for _, ers := range missingRefunds {
		rf, err := r.db.RefundByReference(ctx, ers)
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
		posts = append(posts, paymentPost(p))
	}
	for _, rf := range refunds {
		posts = append(posts, refundPost(rf))
	}
	var failed []receipt.Post
	n := 0
	for _, post := range posts {
		if r.journal.Has(post.Reference) {
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

func paymentPost(p store.Payment) receipt.Post {
	return receipt.Post{Time: p.PaidAt, PaymentID: p.ID, Kind: "payment", Text: postTextPayment,
		Amount: p.Amount, Currency: p.Currency, Reference: p.ERSReference}
}

// appendLater retries posts until they are written or ctx ends.
func (r *Register) appendLater(ctx context.Context, posts []receipt.Post) {
	for len(posts) > 0 {
		key := "post:" + posts[0].Reference
		r.block(key)
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
		r.unblock(key)
		posts = posts[1:]
	}
}

func refundPost(rf store.Refund) receipt.Post {
	t := rf.UpdatedAt
	return receipt.Post{Time: t, PaymentID: rf.PaymentID, Kind: "refund", Text: postTextRefund,
		Amount: rf.Amount, Currency: rf.Currency, Reference: rf.ERSReference}
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
		Payments:  []receipt.Payment{{Method: postTextPayment, Amount: p.Amount, Reference: p.ERSReference}},
		Time:      p.PaidAt.UTC(),
		SaleID:    p.SaleID,
		CashierID: p.CashierID,
		Barcode:   p.ERSReference,
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
		if rf.State == "done" {
			doc.Refunds = append(doc.Refunds, receipt.Refund{Method: postTextRefund, Amount: rf.Amount,
				Reference: rf.ERSReference, Time: rf.UpdatedAt.UTC()})
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

// Journal returns the transaction posts after sequence number after.
func (r *Register) Journal(ctx context.Context, after int64) ([]receipt.Post, error) {
	if after < 0 {
		return nil, &ValidationError{Field: "after", Message: "must be 0 or greater"}
	}
	posts := r.journal.Posts(after)
	if posts == nil {
		posts = []receipt.Post{}
	}
	return posts, ctx.Err()
}

// outboxLoop sends due outbox items (submitPaymentReceipt) until SEQR
// answers 0, backing off per item.
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
		err := r.sendOutbox(ctx, it)
		if err == nil {
			if derr := r.db.OutboxDone(context.WithoutCancel(ctx), it.ID); derr != nil {
				r.log.Warn("mark outbox item done", zap.Int64("item", it.ID), zap.Error(derr))
			}
			continue
		}
		if ctx.Err() != nil {
			return
		}
		delay := r.cfg.OutboxRetryMin << min(it.Attempts, 20)
		if delay > r.cfg.OutboxRetryMax || delay <= 0 {
			delay = r.cfg.OutboxRetryMax
		}
		if it.Attempts == 0 || it.Attempts%10 == 0 {
			r.log.Warn("outbox call failed; retrying", zap.Int64("item", it.ID), zap.String("kind", it.Kind),
				zap.Int("attempts", it.Attempts+1), zap.Duration("next", delay), zap.Error(err))
		}
		if rerr := r.db.OutboxRetry(context.WithoutCancel(ctx), it.ID, r.now().Add(delay), err.Error()); rerr != nil {
			r.log.Warn("reschedule outbox item", zap.Int64("item", it.ID), zap.Error(rerr))
		}
	}
	if n, err := r.db.OutboxBacklog(ctx); err == nil {
		r.obs.OutboxBacklog(n)
	}
}

func (r *Register) sendOutbox(ctx context.Context, it store.OutboxItem) error {
	switch it.Kind {
	case outboxSubmit:
		var pl submitPayload
		if err := json.Unmarshal(it.Payload, &pl); err != nil {
			return fmt.Errorf("outbox item %d: %w", it.ID, err)
		}
		term, err := r.terminal(ctx)
		if err != nil {
			return err
		}
		doc, err := r.ReceiptDocument(ctx, pl.PaymentID)
		if err != nil {
			return err
		}
		body := "<html><body><pre>" + html.EscapeString(doc.Text(42)) + "</pre></body></html>"
		cctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
		defer cancel()
		r.crashAt(CrashSubmitBefore)
		err = r.seqr.SubmitPaymentReceipt(cctx, term.principal(), pl.ERSReference,
			seqr.ReceiptDocument{MimeType: "text/html", Data: []byte(body), Type: "PAYMENT_RECEIPT"})
		if err != nil {
			return providerError("submitPaymentReceipt", err, term.Password)
		}
		r.crashAt(CrashSubmitAfter)
		return nil
	}
	return fmt.Errorf("outbox item %d: unknown kind %q", it.ID, it.Kind)
}
