package resurssim

import (
	"encoding/json"
	"time"
)

// The Checkout POS GET answer is the SOAP payment model rendered as JSON
// (spec A.5): numbers are JSON numbers with five decimals, timestamps ISO
// strings in the "2020-04-09T08:41:09.000+0000" form.

type jsonKV struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type jsonAddress struct {
	FullName    string `json:"fullName,omitempty"`
	FirstName   string `json:"firstName,omitempty"`
	LastName    string `json:"lastName,omitempty"`
	AddressRow1 string `json:"addressRow1"`
	AddressRow2 string `json:"addressRow2,omitempty"`
	PostalArea  string `json:"postalArea"`
	PostalCode  string `json:"postalCode"`
	Country     string `json:"country"`
}

type jsonLine struct {
	ID                   string      `json:"id"`
	ArtNo                string      `json:"artNo"`
	Description          string      `json:"description"`
	Quantity             json.Number `json:"quantity"`
	UnitMeasure          string      `json:"unitMeasure"`
	UnitAmountWithoutVat json.Number `json:"unitAmountWithoutVat"`
	VatPct               json.Number `json:"vatPct"`
	TotalVatAmount       json.Number `json:"totalVatAmount"`
	TotalAmount          json.Number `json:"totalAmount"`
}

type jsonSpec struct {
	SpecLines      []jsonLine   `json:"specLines"`
	TotalAmount    json.Number  `json:"totalAmount"`
	TotalVatAmount *json.Number `json:"totalVatAmount"`
	BonusPoints    *int64       `json:"bonusPoints"`
}

type jsonDiff struct {
	Type          string   `json:"type"`
	TransactionID string   `json:"transactionId,omitempty"`
	Created       string   `json:"created"`
	CreatedBy     string   `json:"createdBy,omitempty"`
	PaymentSpec   jsonSpec `json:"paymentSpec"`
	OrderID       string   `json:"orderId,omitempty"`
	InvoiceID     string   `json:"invoiceId,omitempty"`
	DocumentNames []string `json:"documentNames"`
}

type jsonPayment struct {
	ID          string      `json:"id"`
	TotalAmount json.Number `json:"totalAmount"`
	MetaData    []jsonKV    `json:"metaData"`
	Limit       json.Number `json:"limit"`
	Diffs       []jsonDiff  `json:"paymentDiffs"`
	Customer    struct {
		GovernmentID string      `json:"governmentId"`
		Address      jsonAddress `json:"address"`
		Phone        string      `json:"phone,omitempty"`
		Email        string      `json:"email,omitempty"`
		Type         string      `json:"type"`
	} `json:"customer"`
	DeliveryAddress   *jsonAddress `json:"deliveryAddress"`
	Booked            string       `json:"booked"`
	Finalized         *string      `json:"finalized"`
	PaymentMethodID   string       `json:"paymentMethodId"`
	PaymentMethodName string       `json:"paymentMethodName"`
	Fraud             bool         `json:"fraud"`
	Frozen            bool         `json:"frozen"`
	Status            []string     `json:"status"`
	StoreID           string       `json:"storeId"`
	PaymentMethodType string       `json:"paymentMethodType"`
	TotalBonusPoints  int64        `json:"totalBonusPoints"`
}

func jnum(d dec) json.Number { return json.Number(d.String()) }

func restTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000-0700") }

func jaddr(a address) jsonAddress {
	return jsonAddress{FullName: a.fullName, FirstName: a.firstName, LastName: a.lastName, AddressRow1: a.row1,
		AddressRow2: a.row2, PostalArea: a.postalArea, PostalCode: a.postalCode, Country: a.country}
}

func jspec(sp spec) jsonSpec {
	out := jsonSpec{SpecLines: []jsonLine{}, TotalAmount: jnum(sp.total), BonusPoints: sp.bonus}
	for _, l := range sp.lines {
		out.SpecLines = append(out.SpecLines, jsonLine{ID: l.id, ArtNo: l.artNo, Description: l.description,
			Quantity: jnum(l.quantity), UnitMeasure: l.unitMeasure, UnitAmountWithoutVat: jnum(l.unitAmount),
			VatPct: jnum(l.vatPct), TotalVatAmount: jnum(l.totalVat), TotalAmount: jnum(l.total)})
	}
	if sp.totalVat != nil {
		v := jnum(*sp.totalVat)
		out.TotalVatAmount = &v
	}
	return out
}

// paymentJSON renders p. Callers hold s.mu.
func (s *Sim) paymentJSON(p *payment) []byte {
	j := jsonPayment{ID: p.id, TotalAmount: jnum(p.totalAmount()), MetaData: []jsonKV{}, Limit: jnum(p.limit),
		Diffs: []jsonDiff{}, Booked: restTime(p.booked), PaymentMethodID: p.method.ID,
		PaymentMethodName: p.method.Name, Frozen: p.frozen, Status: p.statuses(), StoreID: p.storeID,
		PaymentMethodType: p.method.Type}
	if j.Status == nil {
		j.Status = []string{}
	}
	for _, m := range p.meta {
		j.MetaData = append(j.MetaData, jsonKV{m.key, m.value})
	}
	for _, d := range p.diffs {
		jd := jsonDiff{Type: d.typ, TransactionID: d.txID, Created: restTime(d.created), CreatedBy: d.createdBy,
			PaymentSpec: jspec(d.spec), OrderID: d.orderID, InvoiceID: d.invoiceID, DocumentNames: d.docs}
		if jd.DocumentNames == nil {
			jd.DocumentNames = []string{}
		}
		j.Diffs = append(j.Diffs, jd)
	}
	c := p.customer
	j.Customer.GovernmentID, j.Customer.Address, j.Customer.Phone, j.Customer.Email, j.Customer.Type =
		c.governmentID, jaddr(c.addr), c.phone, c.email, c.typ
	if p.delivery != nil {
		a := jaddr(*p.delivery)
		j.DeliveryAddress = &a
	}
	if !p.finalized.IsZero() {
		f := restTime(p.finalized)
		j.Finalized = &f
	}
	b, err := json.Marshal(j)
	if err != nil {
		// Only strings, numbers and bools: cannot fail.
		panic(err)
	}
	return b
}
