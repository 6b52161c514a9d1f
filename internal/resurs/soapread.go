package resurs

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/posd/posd/internal/soap"
)

// Reading After Shop responses. Numbers come with 5 to 20 decimals
// ("1100.00000", "0.00000000000000000000") or as bare integers ("1250"):
// all are read exactly as Decimal. Unknown elements are ignored; elements
// that are absent or xsi:nil read as zero values.

// reader reads fields of one node and keeps the first problem.
type reader struct {
	n   *soap.Node
	err error
	at  string
}

func (r *reader) str(name string) string { return r.n.Str(name) }

func (r *reader) dec(name string) Decimal {
	s := r.n.Str(name)
	if s == "" {
		return ""
	}
	d, err := ParseDecimal(s)
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("%s%s: %w", r.at, name, err)
	}
	return d
}

func (r *reader) time(name string) Time {
	s := r.n.Str(name)
	t, err := ParseTime(s)
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("%s%s: %w", r.at, name, err)
	}
	return t
}

func (r *reader) bool(name string) bool {
	s := r.n.Str(name)
	if s == "" {
		return false
	}
	v, err := strconv.ParseBool(s)
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("%s%s: %q is not a boolean", r.at, name, s)
	}
	return v
}

func (r *reader) strs(name string) []string {
	var out []string
	for _, k := range r.n.Children(name) {
		if s := strings.TrimSpace(k.Text); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func paymentOf(n *soap.Node) (Payment, error) {
	r := &reader{n: n}
	p := Payment{
		ID:                r.str("id"),
		TotalAmount:       r.dec("totalAmount"),
		Limit:             r.dec("limit"),
		Booked:            r.time("booked"),
		Finalized:         r.time("finalized"),
		PaymentMethodID:   r.str("paymentMethodId"),
		PaymentMethodName: r.str("paymentMethodName"),
		Fraud:             r.bool("fraud"),
		Frozen:            r.bool("frozen"),
		Status:            r.strs("status"),
		StoreID:           r.str("storeId"),
		PaymentMethodType: r.str("paymentMethodType"),
		TotalBonusPoints:  r.dec("totalBonusPoints"),
	}
	if r.err != nil {
		return Payment{}, r.err
	}
	if p.ID == "" {
		return Payment{}, fmt.Errorf("payment has no id")
	}
	for _, m := range n.Children("metaData") {
		p.MetaData = append(p.MetaData, MetaData{Key: m.Str("key"), Value: m.Str("value")})
	}
	for i, d := range n.Children("paymentDiffs") {
		diff, err := diffOf(d, fmt.Sprintf("paymentDiffs %d: ", i+1))
		if err != nil {
			return Payment{}, err
		}
		p.Diffs = append(p.Diffs, diff)
	}
	if c := n.Child("customer"); c != nil {
		p.Customer = &Customer{
			GovernmentID: c.Str("governmentId"),
			Address:      addressOf(c.Child("address")),
			Phone:        c.Str("phone"),
			Email:        c.Str("email"),
			Type:         c.Str("type"),
		}
	}
	p.DeliveryAddress = addressOf(n.Child("deliveryAddress"))
	return p, nil
}

func diffOf(n *soap.Node, at string) (Diff, error) {
	r := &reader{n: n, at: at}
	d := Diff{
		Type:          r.str("type"),
		TransactionID: r.str("transactionId"),
		Created:       r.time("created"),
		CreatedBy:     r.str("createdBy"),
		OrderID:       r.str("orderId"),
		InvoiceID:     r.str("invoiceId"),
		DocumentNames: r.strs("documentNames"),
	}
	if r.err != nil {
		return Diff{}, r.err
	}
	spec, err := specOf(n.Child("paymentSpec"), at+"paymentSpec.")
	if err != nil {
		return Diff{}, err
	}
	d.Spec = spec
	return d, nil
}

func specOf(n *soap.Node, at string) (Spec, error) {
	if n == nil {
		return Spec{}, nil
	}
	r := &reader{n: n, at: at}
	s := Spec{TotalAmount: r.dec("totalAmount"), TotalVatAmount: r.dec("totalVatAmount"), BonusPoints: r.dec("bonusPoints")}
	if r.err != nil {
		return Spec{}, r.err
	}
	for i, l := range n.Children("specLines") {
		lr := &reader{n: l, at: fmt.Sprintf("%sspecLines %d: ", at, i+1)}
		line := SpecLine{
			ID:                   lr.str("id"),
			ArtNo:                lr.str("artNo"),
			Description:          lr.str("description"),
			Quantity:             lr.dec("quantity"),
			UnitMeasure:          lr.str("unitMeasure"),
			UnitAmountWithoutVat: lr.dec("unitAmountWithoutVat"),
			VatPct:               lr.dec("vatPct"),
			TotalVatAmount:       lr.dec("totalVatAmount"),
			TotalAmount:          lr.dec("totalAmount"),
		}
		if lr.err != nil {
			return Spec{}, lr.err
		}
		s.Lines = append(s.Lines, line)
	}
	return s, nil
}

func addressOf(n *soap.Node) *Address {
	if n == nil {
		return nil
	}
	return &Address{
		FullName:    n.Str("fullName"),
		FirstName:   n.Str("firstName"),
		LastName:    n.Str("lastName"),
		AddressRow1: n.Str("addressRow1"),
		AddressRow2: n.Str("addressRow2"),
		PostalArea:  n.Str("postalArea"),
		PostalCode:  n.Str("postalCode"),
		Country:     n.Str("country"),
	}
}

func basicPaymentOf(n *soap.Node) (BasicPayment, error) {
	r := &reader{n: n}
	bp := BasicPayment{
		PaymentID:         r.str("paymentId"),
		PaymentMethodID:   r.str("paymentMethodId"),
		PaymentMethodName: r.str("paymentMethodName"),
		GovernmentID:      r.str("governmentId"),
		FullName:          r.str("fullName"),
		Booked:            r.time("booked"),
		Modified:          r.time("modified"),
		Finalized:         r.time("finalized"),
		TotalAmount:       r.dec("totalAmount"),
		Frozen:            r.bool("frozen"),
		Status:            r.strs("status"),
		TotalBonusPoints:  r.dec("totalBonusPoints"),
	}
	if r.err != nil {
		return BasicPayment{}, r.err
	}
	if bp.PaymentID == "" {
		return BasicPayment{}, fmt.Errorf("basicPayment has no paymentId")
	}
	return bp, nil
}
