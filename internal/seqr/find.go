package seqr

import (
	"context"
	"errors"
	"fmt"

	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/soap"
)

// Find recovers the invoice a sendInvoice whose reply was lost may have
// issued (payment.Finder): getPaymentStatus with an empty invoiceReference
// answers with the terminal's current invoice. Only a PAID answer carries
// the invoice's data: it is o's when its clientInvoiceId is o's payment id
// and its amount o's amount, and then its invoiceReference is the session.
// An invoice still open is unidentified (payment.ErrNotYet; asking again
// also keeps SEQR from reversing it); no current invoice (54), or one that
// ended or is another's, is payment.ErrNoSession.
func (a *Adapter) Find(ctx context.Context, o payment.Order) (payment.Session, error) {
	p, err := a.principal(ctx)
	if err != nil {
		return payment.Session{}, err
	}
	cs, ok := a.client.(currentStatuser)
	if !ok {
		return payment.Session{}, fmt.Errorf("find a lost invoice: the SEQR client cannot ask for the current invoice: %w", errors.ErrUnsupported)
	}
	st, err := cs.CurrentPaymentStatus(ctx, p)
	if code, ok := Code(err); ok && code == ResultInvalidInvoiceReference {
		return payment.Session{}, fmt.Errorf("getPaymentStatus without a reference: no current invoice (54): %w", payment.ErrNoSession)
	}
	if err != nil {
		return payment.Session{}, checkError("getPaymentStatus", err)
	}
	switch st.Status {
	case StatusPaid:
		rc := st.Receipt
		if rc == nil || rc.InvoiceReference == "" {
			return payment.Session{}, fmt.Errorf("current invoice PAID without its receipt: %w", payment.ErrNotYet)
		}
		if rc.ClientInvoiceID != o.PaymentID || (rc.Total != 0 && rc.Total != o.Amount) {
			return payment.Session{}, fmt.Errorf("current invoice %s is another payment's (clientInvoiceId %q, %s): %w",
				rc.InvoiceReference, rc.ClientInvoiceID, rc.Total, payment.ErrNoSession)
		}
		return payment.Session{Ref: rc.InvoiceReference, Method: o.Method, PaymentID: o.PaymentID}, nil
	case StatusIssued, StatusPendingIssuerAcknowledge, StatusReserved:
		return payment.Session{}, fmt.Errorf("current invoice %s: %w", st.Status, payment.ErrNotYet)
	}
	return payment.Session{}, fmt.Errorf("current invoice %s: %w", st.Status, payment.ErrNoSession)
}

// currentStatuser is the optional call Find needs (*Client has it; kept
// out of Operations so that fakes of the other calls stay as they are).
type currentStatuser interface {
	CurrentPaymentStatus(ctx context.Context, p Principal) (PaymentStatus, error)
}

// CurrentPaymentStatus is getPaymentStatus without an invoiceReference: SEQR
// answers with the terminal's current invoice (the reference is optional
// for physical shops). Used only to find an invoice whose sendInvoice reply
// was lost (Adapter.Find).
func (c *Client) CurrentPaymentStatus(ctx context.Context, p Principal) (PaymentStatus, error) {
	w := soap.NewWriter(c.env)
	c.begin(w, opGetPaymentStatus, p)
	w.Elem("invoiceReference", "")
	w.Int("invoiceVersion", 0)
	body, err := end(w, opGetPaymentStatus)
	if err != nil {
		return PaymentStatus{}, invalid(opGetPaymentStatus, err)
	}
	var ps PaymentStatus
	err = c.call(ctx, opGetPaymentStatus, body, []string{p.Password}, func(ret *soap.Node) (err error) {
		ps, err = paymentStatusOf(ret)
		return err
	})
	if err != nil {
		return PaymentStatus{}, err
	}
	return ps, nil
}
