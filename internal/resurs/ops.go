package resurs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/posd/posd/internal/payment"
)

// The two optional capabilities of the payment contract that After Shop
// offers beyond a refund: payment.Annuller (annulPayment) and
// payment.Debiter (additionalDebitOfPayment). Each checks Resurs's amount
// and status rules (B.6) on a fresh getPayment before anything is sent,
// refusing with a *payment.RefusedError that also matches
// payment.ErrNotSent; each tags its diff with posd's id of it (createdBy),
// so that one whose reply was lost is found on the payment and never made
// twice (Resurs has no idempotency, spec F).

var (
	_ payment.Annuller = (*Adapter)(nil)
	_ payment.Debiter  = (*Adapter)(nil)
)

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

// hasDiff reports whether the payment has a diff of type typ made by tag.
func hasDiff(p Payment, typ, tag string) bool {
	for _, d := range p.Diffs {
		if d.Type == typ && d.CreatedBy == tag {
			return true
		}
	}
	return false
}

// Annul annuls r.Amount of what is booked and not yet finalized (all of it
// when that is everything left). A finalized payment is refused: it is
// refunded (credited) instead.
func (a *Adapter) Annul(ctx context.Context, r payment.RefundOrder) (payment.Refunded, error) {
	p, tag, made, err := a.changeOf(ctx, "annulment", DiffAnnul, r)
	if err != nil {
		return payment.Refunded{}, err
	}
	id := r.TransactionRef
	done := payment.Refunded{Ref: id + "/" + tag}
	if made {
		return done, nil // made before, its reply lost
	}
	debitable := p.Debitable()
	want := DecimalOfAmount(r.Amount).Rat()
	switch {
	case p.Frozen:
		return payment.Refunded{}, ruleRefusal("FROZEN", "Resurs Bank: payment "+id+" is frozen (fraud check); it cannot be annulled now")
	case !p.Has(StatusDebitable) || debitable.Sign() <= 0:
		return payment.Refunded{}, ruleRefusal("NOT_DEBITABLE", "Resurs Bank: nothing on payment "+id+
			" is left to annul (it is finalized or annulled); refund it instead")
	case want.Cmp(debitable) > 0:
		return payment.Refunded{}, ruleRefusal("AMOUNT", fmt.Sprintf("Resurs Bank can annul at most %s on payment %s",
			decimalOfRat(debitable, 5).Round(), id))
	case want.Cmp(debitable) < 0 && cardLike(p):
		return payment.Refunded{}, ruleRefusal("CARD", "Resurs Bank: a card payment cannot be partially annulled (annul all of it, or finalize it and refund)")
	}
	req := AnnulRequest{PaymentID: id, CreatedBy: tag}
	if want.Cmp(debitable) < 0 {
		ro := r
		if strings.TrimSpace(ro.Reason) == "" {
			ro.Reason = "Annullering"
		}
		spec, err := refundSpec(ro, DecimalOfAmount(r.Amount))
		if err != nil {
			return payment.Refunded{}, fmt.Errorf("resurs annul: %w: %v", payment.ErrNotSent, err)
		}
		req.Spec = spec
	}
	err = a.after.AnnulPayment(ctx, req)
	if err == nil {
		return done, nil
	}
	if a.landed(ctx, id, DiffAnnul, tag, err) {
		return done, nil
	}
	return payment.Refunded{}, outcome("annulPayment", "Resurs Bank refused the annulment", err)
}

// landed reads the payment back after a reply that was lost (not a fault,
// not certainly unsent) and reports whether the diff tagged tag is there.
func (a *Adapter) landed(ctx context.Context, id, typ, tag string, err error) bool {
	if errors.Is(err, ErrNotSent) || FaultIDOf(err) != 0 || ctx.Err() != nil {
		return false
	}
	p, rerr := a.after.GetPayment(ctx, id)
	return rerr == nil && hasDiff(p, typ, tag)
}

// AdditionalDebit adds d's rows to the payment, within its limit: at most
// limit - totalAmount (B.6), for DEBITABLE or CREDITABLE payments of
// methods other than card. What it adds is authorized, not captured: the
// finalizePayment that captures it follows through the outbox.
func (a *Adapter) AdditionalDebit(ctx context.Context, d payment.DebitOrder) (payment.Debited, error) {
	id := d.TransactionRef
	if id == "" {
		return payment.Debited{}, fmt.Errorf("resurs additional debit: %w: the payment has no Resurs payment id", payment.ErrNotSent)
	}
	lines, err := LinesOf(d.Rows)
	if err != nil {
		return payment.Debited{}, fmt.Errorf("resurs additional debit: %w: %v", payment.ErrNotSent, err)
	}
	spec, err := specOfLines(lines)
	if err != nil {
		return payment.Debited{}, fmt.Errorf("resurs additional debit: %w: %v", payment.ErrNotSent, err)
	}
	tag := creditTag(d.DebitID)
	b, _ := json.Marshal(finalizePayload{PaymentID: id})
	done := payment.Debited{Ref: id + "/" + tag, Tasks: []payment.Task{{Kind: TaskFinalize, Payload: b}}}
	p, err := a.after.GetPayment(ctx, id)
	if err != nil {
		return payment.Debited{}, outcome("additional debit: read payment", "Resurs Bank refused the additional debit", err)
	}
	if hasDiff(p, DiffAuthorize, tag) {
		return done, nil // made before, its reply lost
	}
	room := new(big.Rat).Sub(p.Limit.Rat(), p.TotalAmount.Rat())
	switch {
	case cardLike(p):
		return payment.Debited{}, ruleRefusal("CARD", "Resurs Bank: card payments take no additional debit; start a new payment")
	case p.Frozen:
		return payment.Debited{}, ruleRefusal("FROZEN", "Resurs Bank: payment "+id+" is frozen (fraud check); no additional debit now")
	case !p.Has(StatusDebitable) && !p.Has(StatusCreditable):
		return payment.Debited{}, ruleRefusal("STATE", "Resurs Bank: payment "+id+" takes no additional debit in its state (annulled or credited in full)")
	case spec.TotalAmount.Rat().Cmp(room) > 0:
		max := decimalOfRat(room, 5).Round()
		if room.Sign() < 0 {
			max = 0
		}
		return payment.Debited{}, ruleRefusal("LIMIT", fmt.Sprintf("Resurs Bank can add at most %s to payment %s (its limit)", max, id))
	}
	err = a.after.AdditionalDebitOfPayment(ctx, AdditionalDebitRequest{PaymentID: id, Spec: *spec, CreatedBy: tag})
	if err == nil {
		return done, nil
	}
	if a.landed(ctx, id, DiffAuthorize, tag, err) {
		return done, nil
	}
	return payment.Debited{}, outcome("additionalDebitOfPayment", "Resurs Bank refused the additional debit", err)
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

var _ payment.Confirmer = (*Adapter)(nil)

// Confirm tells whether a credit, annulment or additional debit whose
// answer was lost was made: its diff carries posd's id of it (createdBy).
// A debit found made brings its capture task, as AdditionalDebit does.
func (a *Adapter) Confirm(ctx context.Context, kind string, r payment.RefundOrder) (payment.Debited, error) {
	typ := map[string]string{payment.KindRefund: DiffCredit, payment.KindAnnul: DiffAnnul, payment.KindDebit: DiffAuthorize}[kind]
	if typ == "" {
		return payment.Debited{}, fmt.Errorf("resurs confirm: unknown kind %q", kind)
	}
	id := r.TransactionRef
	if id == "" {
		return payment.Debited{}, fmt.Errorf("resurs confirm %s: the payment has no Resurs payment id", kind)
	}
	p, err := a.after.GetPayment(ctx, id)
	if err != nil {
		return payment.Debited{}, fmt.Errorf("resurs confirm %s: read payment %s: %w", kind, id, err)
	}
	tag := creditTag(r.RefundID)
	if !hasDiff(p, typ, tag) {
		return payment.Debited{}, fmt.Errorf("resurs: no %s diff %s on payment %s: %w", typ, tag, id, payment.ErrNotMade)
	}
	done := payment.Debited{Ref: id + "/" + tag}
	if kind == payment.KindDebit {
		b, _ := json.Marshal(finalizePayload{PaymentID: id})
		done.Tasks = []payment.Task{{Kind: TaskFinalize, Payload: b}}
	}
	return done, nil
}
