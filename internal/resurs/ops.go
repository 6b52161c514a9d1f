package resurs

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strconv"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/payment"
)

// After Shop operations beyond the payment contract, for the register's
// annul and additional-debit actions. Each checks Resurs's amount and status
// rules (B.6) on a fresh getPayment before anything is sent, and refuses
// with a *payment.RefusedError that also matches payment.ErrNotSent.

// cardLike reports whether a payment method follows the card rules of B.6:
// finalized at 100 %, never partially annulled, no additional debit.
func cardLike(p Payment) bool {
	switch p.PaymentMethodType {
	case "CARD", "PAYMENT_PROVIDER":
		return true
	}
	return false
}

func ruleRefusal(code, msg string) error {
	return &payment.RefusedError{Code: code, Message: msg, Err: fmt.Errorf("%s: %w", code, payment.ErrNotSent)}
}

// Annul annuls amount of what is booked and not yet finalized (0: all of
// it). It reads the payment back before it is repeated after an unknown
// outcome, like every money call here.
func (a *Adapter) Annul(ctx context.Context, paymentID string, amount money.Amount, vatPct string) error {
	p, err := a.after.GetPayment(ctx, paymentID)
	if err != nil {
		return outcome("annul: read payment", "Resurs Bank refused the annulment", err)
	}
	debitable := p.Debitable()
	want := DecimalOfAmount(amount).Rat()
	switch {
	case p.Frozen:
		return ruleRefusal("FROZEN", "Resurs Bank: the payment is frozen (fraud check); it cannot be annulled now")
	case !p.Has(StatusDebitable) || debitable.Sign() <= 0:
		return ruleRefusal("NOT_DEBITABLE", "Resurs Bank: nothing on this payment is left to annul (it is finalized or annulled)")
	case amount < 0:
		return ruleRefusal("AMOUNT", "the amount to annul must be positive")
	case amount > 0 && want.Cmp(debitable) > 0:
		return ruleRefusal("AMOUNT", fmt.Sprintf("Resurs Bank can annul at most %s", decimalOfRat(debitable, 5).Round()))
	case amount > 0 && want.Cmp(debitable) < 0 && cardLike(p):
		return ruleRefusal("CARD", "Resurs Bank: a card payment cannot be partially annulled (finalize it, then credit)")
	}
	req := AnnulRequest{PaymentID: paymentID, CreatedBy: "posd"}
	if amount > 0 && want.Cmp(debitable) < 0 {
		spec, err := amountSpec("Annullering", DecimalOfAmount(amount), vatPct)
		if err != nil {
			return fmt.Errorf("resurs annul: %w: %v", payment.ErrNotSent, err)
		}
		req.Spec = spec
	}
	if err := a.after.AnnulPayment(ctx, req); err != nil {
		return outcome("annulPayment", "Resurs Bank refused the annulment", err)
	}
	return nil
}

// AdditionalDebit adds rows to a payment, within its limit: at most
// limit - totalAmount (B.6), for DEBITABLE or CREDITABLE payments of
// methods other than card.
func (a *Adapter) AdditionalDebit(ctx context.Context, paymentID string, rows []payment.Row) error {
	lines, err := LinesOf(rows)
	if err != nil {
		return fmt.Errorf("resurs additional debit: %w: %v", payment.ErrNotSent, err)
	}
	spec, err := specOfLines(lines)
	if err != nil {
		return fmt.Errorf("resurs additional debit: %w: %v", payment.ErrNotSent, err)
	}
	p, err := a.after.GetPayment(ctx, paymentID)
	if err != nil {
		return outcome("additional debit: read payment", "Resurs Bank refused the additional debit", err)
	}
	room := new(big.Rat).Sub(p.Limit.Rat(), p.TotalAmount.Rat())
	switch {
	case cardLike(p):
		return ruleRefusal("CARD", "Resurs Bank: card payments take no additional debit")
	case !p.Has(StatusDebitable) && !p.Has(StatusCreditable):
		return ruleRefusal("STATE", "Resurs Bank: the payment takes no additional debit in its state")
	case spec.TotalAmount.Rat().Cmp(room) > 0:
		return ruleRefusal("LIMIT", fmt.Sprintf("Resurs Bank can add at most %s to this payment (its limit)", decimalOfRat(room, 5).Round()))
	}
	if err := a.after.AdditionalDebitOfPayment(ctx, AdditionalDebitRequest{PaymentID: paymentID, Spec: *spec, CreatedBy: "posd"}); err != nil {
		return outcome("additionalDebitOfPayment", "Resurs Bank refused the additional debit", err)
	}
	return nil
}

// amountSpec is one line of an amount incl. VAT at vatPct ("" = 0 %).
func amountSpec(desc string, amount Decimal, vatPct string) (*Spec, error) {
	var rows []payment.Row
	if vatPct != "" {
		rows = []payment.Row{{TaxRate: vatPct}}
	}
	return refundSpec(payment.RefundOrder{Reason: desc, Order: payment.Order{Rows: rows}}, amount)
}

// specOfLines turns order lines into spec lines with their totals: VAT and
// gross per line as Resurs computes them (A.3), gross rounded to öre.
func specOfLines(lines []OrderLine) (*Spec, error) {
	spec := &Spec{}
	total, vat := new(big.Rat), new(big.Rat)
	for i, l := range lines {
		net := new(big.Rat).Mul(l.Quantity.Rat(), l.UnitAmountWithoutVat.Rat())
		gross := new(big.Rat).Mul(net, new(big.Rat).Add(big.NewRat(1, 1), new(big.Rat).Quo(l.VatPct.Rat(), big.NewRat(100, 1))))
		g := decimalOfRat(gross, 2)
		lv := decimalOfRat(new(big.Rat).Sub(g.Rat(), net), 2)
		spec.Lines = append(spec.Lines, SpecLine{ID: strconv.Itoa(i + 1), ArtNo: l.ArtNo, Description: l.Description, Quantity: l.Quantity,
			UnitMeasure: l.UnitMeasure, UnitAmountWithoutVat: l.UnitAmountWithoutVat, VatPct: l.VatPct, TotalVatAmount: lv, TotalAmount: g})
		total.Add(total, g.Rat())
		vat.Add(vat, lv.Rat())
	}
	if total.Sign() <= 0 {
		return nil, errors.New("the rows add nothing")
	}
	spec.TotalAmount, spec.TotalVatAmount = decimalOfRat(total, 2), decimalOfRat(vat, 2)
	return spec, nil
}
