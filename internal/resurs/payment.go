package resurs

import (
	"math/big"
	"slices"
)

// Payment is a booked Resurs payment: the SOAP type "payment" (B.4), which
// Checkout POS also renders as JSON (A.5). Unknown fields are ignored.
type Payment struct {
	ID                string     `json:"id"`
	TotalAmount       Decimal    `json:"totalAmount"`
	MetaData          []MetaData `json:"metaData"`
	Limit             Decimal    `json:"limit"`
	Diffs             []Diff     `json:"paymentDiffs"`
	Customer          *Customer  `json:"customer"`
	DeliveryAddress   *Address   `json:"deliveryAddress"`
	Booked            Time       `json:"booked"`
	Finalized         Time       `json:"finalized"` // zero: not finalized
	PaymentMethodID   string     `json:"paymentMethodId"`
	PaymentMethodName string     `json:"paymentMethodName"`
	Fraud             bool       `json:"fraud"`
	Frozen            bool       `json:"frozen"`
	Status            []string   `json:"status"`
	StoreID           string     `json:"storeId"`
	PaymentMethodType string     `json:"paymentMethodType"` // INVOICE, REVOLVING_CREDIT, CARD, PAYMENT_PROVIDER, ...
	TotalBonusPoints  Decimal    `json:"totalBonusPoints"`
}

// MetaData is one key/value pair on a payment.
type MetaData struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Diff is one change of a payment (AUTHORIZE, DEBIT, CREDIT, ANNUL).
type Diff struct {
	Type          string `json:"type"`
	TransactionID string `json:"transactionId"`
	Created       Time   `json:"created"`
	CreatedBy     string `json:"createdBy"`
	Spec          Spec   `json:"paymentSpec"`
	OrderID       string `json:"orderId"`
	InvoiceID     string `json:"invoiceId"`
	// DocumentNames lists the PDF documents of this diff.
	DocumentNames []string `json:"documentNames"`
}

// Diff types.
const (
	DiffAuthorize = "AUTHORIZE"
	DiffDebit     = "DEBIT"
	DiffCredit    = "CREDIT"
	DiffAnnul     = "ANNUL"
)

// Payment status flags (B.6).
const (
	StatusDebitable  = "DEBITABLE"
	StatusCreditable = "CREDITABLE"
	StatusDebited    = "IS_DEBITED"
	StatusCredited   = "IS_CREDITED"
	StatusAnnulled   = "IS_ANNULLED"
)

// Spec is a payment specification: lines and totals (paymentSpec).
type Spec struct {
	Lines          []SpecLine `json:"specLines"`
	TotalAmount    Decimal    `json:"totalAmount"`
	TotalVatAmount Decimal    `json:"totalVatAmount"`
	BonusPoints    Decimal    `json:"bonusPoints,omitempty"`
}

// SpecLine is one line of a Spec. All fields are required on the wire.
type SpecLine struct {
	ID                   string  `json:"id"`
	ArtNo                string  `json:"artNo"`
	Description          string  `json:"description"`
	Quantity             Decimal `json:"quantity"`
	UnitMeasure          string  `json:"unitMeasure"`
	UnitAmountWithoutVat Decimal `json:"unitAmountWithoutVat"`
	VatPct               Decimal `json:"vatPct"`
	TotalVatAmount       Decimal `json:"totalVatAmount"`
	TotalAmount          Decimal `json:"totalAmount"` // incl. VAT
}

// Customer is the payment's customer.
type Customer struct {
	GovernmentID string   `json:"governmentId"`
	Address      *Address `json:"address"`
	Phone        string   `json:"phone"`
	Email        string   `json:"email"`
	Type         string   `json:"type"` // NATURAL, LEGAL
}

// Address is a customer's or delivery address.
type Address struct {
	FullName    string `json:"fullName"`
	FirstName   string `json:"firstName"`
	LastName    string `json:"lastName"`
	AddressRow1 string `json:"addressRow1"`
	AddressRow2 string `json:"addressRow2"`
	PostalArea  string `json:"postalArea"`
	PostalCode  string `json:"postalCode"`
	Country     string `json:"country"`
}

// Has reports whether the payment carries status flag s.
func (p *Payment) Has(s string) bool { return slices.Contains(p.Status, s) }

// Sum returns the total of the diffs of one type (their specs' totalAmount).
func (p *Payment) Sum(diffType string) *big.Rat {
	sum := new(big.Rat)
	for _, d := range p.Diffs {
		if d.Type == diffType {
			sum.Add(sum, d.Spec.TotalAmount.Rat())
		}
	}
	return sum
}

// Debitable is what finalize and annul may still take (B.6):
// AUTHORIZE - DEBIT - ANNUL.
func (p *Payment) Debitable() *big.Rat {
	r := p.Sum(DiffAuthorize)
	r.Sub(r, p.Sum(DiffDebit))
	return r.Sub(r, p.Sum(DiffAnnul))
}

// Creditable is what credit may still take (B.6): DEBIT - CREDIT.
func (p *Payment) Creditable() *big.Rat {
	r := p.Sum(DiffDebit)
	return r.Sub(r, p.Sum(DiffCredit))
}

// IsFinalized reports whether the payment has been finalized (debited):
// the finalized time is set or a DEBIT diff exists.
func (p *Payment) IsFinalized() bool {
	return !p.Finalized.IsZero() || p.Has(StatusDebited) || p.Sum(DiffDebit).Sign() > 0
}

// IsAnnulled reports whether the payment was annulled in full: nothing was
// debited and nothing is left to debit.
func (p *Payment) IsAnnulled() bool {
	annulled := p.Has(StatusAnnulled) || p.Sum(DiffAnnul).Sign() > 0
	return annulled && !p.IsFinalized() && p.Debitable().Sign() <= 0
}

// Meta returns the value of metadata key, "" when absent.
func (p *Payment) Meta(key string) string {
	for _, m := range p.MetaData {
		if m.Key == key {
			return m.Value
		}
	}
	return ""
}
