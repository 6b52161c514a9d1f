package register

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/store"
)

// AuditEntry is one row of a payment's audit trail: who did what, when,
// with which outcome.
type AuditEntry struct {
	At        time.Time `json:"at"`
	Actor     string    `json:"actor"`
	Action    string    `json:"action"`
	FromState string    `json:"fromState,omitempty"`
	ToState   string    `json:"toState,omitempty"`
	Outcome   string    `json:"outcome"`
	Origin    string    `json:"origin,omitempty"`
	Detail    string    `json:"detail,omitempty"`
}

// Detail is one payment with everything the back office shows of it: its
// rows, its audit trail and, once paid, the receipt as printed (text).
type Detail struct {
	Payment
	Rows        []Row        `json:"rows"`
	Audit       []AuditEntry `json:"audit"`
	ReceiptText string       `json:"receiptText,omitempty"`
	// Adjustments are its refunds, annulments and debits, any state.
	Adjustments []Refund `json:"adjustments,omitempty"`
}

// receiptColumns is the width of the receipt text shown and sent to
// providers (SEQR's submitPaymentReceipt): a 42-column slip.
const receiptColumns = 42

// PaymentDetail returns a payment with its rows, audit trail and receipt.
func (r *Register) PaymentDetail(ctx context.Context, id string) (Detail, error) {
	p, err := r.Payment(ctx, id)
	if err != nil {
		return Detail{}, err
	}
	sp, err := r.db.Payment(ctx, id)
	if err != nil {
		return Detail{}, err
	}
	req, err := requestOf(sp)
	if err != nil {
		return Detail{}, err
	}
	trail, err := r.db.AuditTrail(ctx, id)
	if err != nil {
		return Detail{}, err
	}
	d := Detail{Payment: p, Rows: req.Rows, Audit: make([]AuditEntry, 0, len(trail))}
	if d.Rows == nil {
		d.Rows = []Row{}
	}
	for _, a := range trail {
		d.Audit = append(d.Audit, AuditEntry{At: a.At.UTC(), Actor: a.Actor, Action: a.Event, FromState: a.FromState,
			ToState: a.ToState, Outcome: a.Outcome, Origin: a.Origin, Detail: a.Detail})
	}
	if p.State == StatePaid {
		if doc, err := r.ReceiptDocument(ctx, id); err == nil {
			d.ReceiptText = doc.Text(receiptColumns)
		}
		rfs, err := r.db.Refunds(ctx, id)
		if err != nil {
			return Detail{}, err
		}
		for _, rf := range rfs {
			v := refundView(rf)
			v.State, v.Error = rf.State, rf.Error
			d.Adjustments = append(d.Adjustments, v)
		}
	}
	return d, nil
}

// TestPrint queues a test slip on the receipt printer: the shop's header,
// the time, and the printer's own check that every character prints.
func (r *Register) TestPrint(ctx context.Context) error {
	doc := receipt.Document{
		Header: append(append([]string(nil), r.cfg.ReceiptHeader...), "TESTUTSKRIFT / TEST PRINT"),
		Rows:   []receipt.Row{{Description: "ÅÄÖ åäö é ü € 0123456789", Quantity: "1"}},
		Time:   r.now().UTC(),
		Footer: []string{"Detta är inget kvitto / Not a receipt"},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encode test print: %w", err)
	}
	if _, err := r.db.EnqueuePrintJob(ctx, "", "receipt", b, false); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return err
		}
		return fmt.Errorf("%w: %v", ErrStorage, err)
	}
	r.wakePrinter()
	return nil
}
