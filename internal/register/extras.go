package register

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/store"
)

// Provider-specific operations behind the contract's optional capabilities
// (payment.Widget, payment.Slipper). The register finds the configured
// provider that has the capability; without one the answer is
// ErrNotSupported, which the API shows as 501.

// widget is the first configured provider with a payment widget.
func (r *Register) widget() (payment.Widget, string, error) {
	for _, pv := range r.provs {
		if w, ok := pv.Provider.(payment.Widget); ok {
			return w, pv.name, nil
		}
	}
	return nil, "", fmt.Errorf("payment widget: %w: no configured provider has one (configure providers.resurs)", ErrNotSupported)
}

// widgetError maps a widget call's error: a provider that lacks its
// configuration (the Merchant API URL) is "not supported" here, anything
// else is the provider's failure.
func widgetError(op string, err error) error {
	var nr *payment.NotReadyError
	if errors.As(err, &nr) {
		return fmt.Errorf("%s: %w: %s", op, ErrNotSupported, nr.Message)
	}
	return fmt.Errorf("%s: %w: %v", op, ErrProviderRejected, err)
}

// WidgetSession returns the payment widget's session token and its expiry;
// the provider caches it until it expires, so a front end may ask often.
func (r *Register) WidgetSession(ctx context.Context) (payment.WidgetSession, error) {
	w, name, err := r.widget()
	if err != nil {
		return payment.WidgetSession{}, err
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
	defer cancel()
	ws, err := w.WidgetSession(cctx)
	if err != nil {
		r.log.Warn("widget session", zap.String("provider", name), zap.Error(err))
		return payment.WidgetSession{}, widgetError("widget session", err)
	}
	ws.ExpiresAt = ws.ExpiresAt.UTC()
	return ws, nil
}

// Limits of a payment-method types request: the widget asks for the few
// methods of one store.
const (
	maxMethodIDs   = 50
	maxMethodIDLen = 100
)

// PaymentMethodTypes maps the provider's payment method ids to their types
// (RESURS_INVOICE, SWISH, ...) for customerType "B2C" or "B2B".
func (r *Register) PaymentMethodTypes(ctx context.Context, customerType string, methodIDs []string) (map[string]string, error) {
	switch customerType {
	case "B2C", "B2B":
	default:
		return nil, &ValidationError{Field: "customerType", Message: fmt.Sprintf("must be B2C or B2B, got %q", customerType)}
	}
	if len(methodIDs) == 0 || len(methodIDs) > maxMethodIDs {
		return nil, &ValidationError{Field: "paymentMethodId", Message: fmt.Sprintf("give 1 to %d payment method ids", maxMethodIDs)}
	}
	for i, id := range methodIDs {
		if strings.TrimSpace(id) == "" || len(id) > maxMethodIDLen {
			return nil, &ValidationError{Field: fmt.Sprintf("paymentMethodId[%d]", i), Message: fmt.Sprintf("must be 1 to %d characters", maxMethodIDLen)}
		}
	}
	w, name, err := r.widget()
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
	defer cancel()
	types, err := w.PaymentMethodTypes(cctx, customerType, methodIDs)
	if err != nil {
		r.log.Warn("payment method types", zap.String("provider", name), zap.Error(err))
		return nil, widgetError("payment method types", err)
	}
	return types, nil
}

// startSlip is the print job of the slip a payment prints when it starts
// ("Betala sen": the till is free at once, so the customer leaves with the
// reference and the valid-to on paper). It commits with the start, so a
// started payment always has its slip queued. nil: no slip.
func (r *Register) startSlip(pv *prov, sp store.Payment, sess payment.Session) []func(*store.Tx) error {
	sl, ok := pv.Provider.(payment.Slipper)
	if !ok {
		return nil
	}
	slip, ok := sl.StartSlip(sess)
	if !ok {
		return nil
	}
	doc, err := r.slipDocument(sp, slip)
	if err != nil {
		r.log.Error("pay-later slip", zap.String("payment", sp.ID), zap.Error(err))
		return nil
	}
	b, err := json.Marshal(doc)
	if err != nil {
		r.log.Error("pay-later slip", zap.String("payment", sp.ID), zap.Error(err))
		return nil
	}
	return []func(*store.Tx) error{func(tx *store.Tx) error { return tx.EnqueuePrintJob(sp.ID, "receipt", b, false) }}
}

// slipDocument lays a slip out as a receipt document without a payment
// line: the sale's rows and total (with what is paid otherwise, as the
// receipt will show it), the reference as text and as a code, and the
// valid-to.
func (r *Register) slipDocument(sp store.Payment, slip payment.Slip) (receipt.Document, error) {
	req, err := requestOf(sp)
	if err != nil {
		return receipt.Document{}, err
	}
	doc := receipt.Document{
		Header:    append(append([]string(nil), r.cfg.ReceiptHeader...), "", slip.Title),
		Total:     sp.ReceiptTotal,
		Currency:  sp.Currency,
		Time:      r.now().UTC(),
		CashierID: sp.CashierID, // no SaleID: the layout would call the slip "Kvitto"
		Barcode:   slip.Reference,
		BarcodeAs: r.cfg.ReferenceCode,
	}
	for _, row := range req.Rows {
		doc.Rows = append(doc.Rows, receipt.Row{Description: row.Description, Quantity: row.Quantity,
			UnitPrice: row.UnitPrice, Total: row.TotalAmount, TaxRate: row.TaxRate})
	}
	if Balancing(sp.Balancing) == BalancingOther {
		doc.LeftToPay = sp.ReceiptTotal - sp.Amount // the rest is paid otherwise, as on the receipt
	}
	doc.Footer = append(doc.Footer, "Referens: "+slip.Reference)
	if sp.SaleID != "" {
		doc.Footer = append(doc.Footer, "Köp: "+sp.SaleID)
	}
	if !slip.ValidUntil.IsZero() {
		// In the receipts' time zone, so the slip's clock agrees with the
		// time printed at its top.
		doc.Footer = append(doc.Footer, "Giltig till: "+slip.ValidUntil.In(receipt.Stockholm()).Format("2006-01-02 15:04"))
	}
	doc.Footer = append(doc.Footer, slip.Lines...)
	doc.Footer = append(doc.Footer, "Detta är inget kvitto / Not a receipt")
	return doc, nil
}
