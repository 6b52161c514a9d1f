package resurssim

import (
	"strings"
	"time"
)

// Outcome is what the emulated Resurs decides for a personal identity number
// (spec C.4, Resurs's published Swedish test data).
type Outcome int

const (
	OutcomeApproved Outcome = iota
	OutcomeRejected
	OutcomeFrozen         // frozen until the control API thaws or annuls it
	OutcomeFrozenThaw     // frozen, thawed after Delay
	OutcomeFrozenAnnul    // frozen, annulled after Delay
	OutcomeInspectApprove // manual inspection, approved after Delay
	OutcomeInspectReject  // manual inspection, rejected after Delay
)

// Person is one entry of the test data.
type Person struct {
	GovernmentID string
	FirstName    string
	LastName     string
	AddressRow1  string
	PostalCode   string
	PostalArea   string
	Outcome      Outcome
	Delay        time.Duration
	NoNewAccount bool // approved, but no new card or account (part payment refused)
	Legal        bool
}

var testPeople = []Person{
	{GovernmentID: "198305147715", FirstName: "Vincent", LastName: "Williamsson Alexandersson", AddressRow1: "Glassgatan 15", PostalCode: "41655", PostalArea: "Göteborg"},
	{GovernmentID: "197211072793", Outcome: OutcomeRejected},
	{GovernmentID: "195004269741", Outcome: OutcomeRejected},
	{GovernmentID: "198801082382", NoNewAccount: true},
	{GovernmentID: "198209123705", Outcome: OutcomeFrozen},
	{GovernmentID: "198001010001", Outcome: OutcomeFrozenThaw, Delay: 5 * time.Second},
	{GovernmentID: "197801069241", Outcome: OutcomeFrozenAnnul, Delay: 5 * time.Second},
	{GovernmentID: "199401012381", Outcome: OutcomeFrozenThaw, Delay: 10 * time.Minute},
	{GovernmentID: "198909194451", Outcome: OutcomeFrozenAnnul, Delay: 10 * time.Minute},
	{GovernmentID: "199105149612", Outcome: OutcomeInspectApprove, Delay: 10 * time.Second},
	{GovernmentID: "199010242395", Outcome: OutcomeInspectApprove, Delay: 5 * time.Minute},
	{GovernmentID: "199010122399", Outcome: OutcomeInspectApprove, Delay: 30 * time.Minute},
	{GovernmentID: "198711192396", Outcome: OutcomeInspectApprove, Delay: 24 * time.Hour},
	{GovernmentID: "199111282399", Outcome: OutcomeInspectReject, Delay: 10 * time.Second},
	{GovernmentID: "198810112394", Outcome: OutcomeInspectReject, Delay: 5 * time.Minute},
	{GovernmentID: "198806192392", Outcome: OutcomeInspectReject, Delay: 30 * time.Minute},
	{GovernmentID: "199111292398", Outcome: OutcomeInspectReject, Delay: 24 * time.Hour},
	{GovernmentID: "166997368573", Legal: true},
	{GovernmentID: "169468958195", Legal: true, Outcome: OutcomeRejected},
	{GovernmentID: "162177385255", Legal: true, Outcome: OutcomeRejected},
	{GovernmentID: "162830419400", Legal: true, Outcome: OutcomeFrozen},
}

// TestPeople returns the test data the checkout page knows.
func TestPeople() []Person { return append([]Person(nil), testPeople...) }

// lookupPerson normalises a Swedish personal identity number (12 digits,
// or the older 10-digit form, with or without '-') and returns its test
// person; unknown but well-formed numbers are approved natural persons.
func lookupPerson(id string) (Person, bool) {
	id = strings.ReplaceAll(strings.ReplaceAll(strings.TrimSpace(id), "-", ""), "+", "")
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return Person{}, false
		}
	}
	switch len(id) {
	case 12:
	case 10:
		for _, p := range testPeople {
			if p.GovernmentID[2:] == id {
				return fill(p), true
			}
		}
		id = "19" + id
	default:
		return Person{}, false
	}
	for _, p := range testPeople {
		if p.GovernmentID == id {
			return fill(p), true
		}
	}
	return fill(Person{GovernmentID: id}), true
}

func fill(p Person) Person {
	if p.FirstName == "" {
		p.FirstName, p.LastName = "Test", "Testsson "+p.GovernmentID[len(p.GovernmentID)-4:]
		if p.Legal {
			p.FirstName, p.LastName = "", "Testbolaget AB"
		}
	}
	if p.AddressRow1 == "" {
		p.AddressRow1, p.PostalCode, p.PostalArea = "Testgatan 1", "12345", "Stockholm"
	}
	return p
}

// Method is a payment method the checkout offers.
type Method struct {
	Key  string // control API and page value: invoice, part_payment, card
	ID   string // SOAP paymentMethodId
	UUID string // Merchant API / widget id
	Name string
	Type string // SOAP paymentMethodType
	// WidgetType is the payment-widget type name (spec C.3).
	WidgetType string
	MinLimit   dec
	MaxLimit   dec
}

var methods = []Method{
	{Key: "invoice", ID: "INVOICE", UUID: "8e1b8f5a-3c1d-4f57-9a0e-3f1c2b7d6a01", Name: "Faktura", Type: "INVOICE", WidgetType: "RESURS_INVOICE", MinLimit: decInt(10), MaxLimit: decInt(50000)},
	{Key: "part_payment", ID: "PARTPAYMENT", UUID: "8e1b8f5a-3c1d-4f57-9a0e-3f1c2b7d6a02", Name: "Delbetalning", Type: "REVOLVING_CREDIT", WidgetType: "RESURS_PART_PAYMENT_SELECT_LATER", MinLimit: decInt(100), MaxLimit: decInt(100000)},
	// A Visa/Mastercard payment through Nets: Resurs reports such payments
	// as PAYMENT_PROVIDER (spec A.5) and they follow the card rules of B.6.
	{Key: "card", ID: "NETS_CARD", UUID: "8e1b8f5a-3c1d-4f57-9a0e-3f1c2b7d6a03", Name: "Kortbetalning", Type: "PAYMENT_PROVIDER", WidgetType: "CARD", MinLimit: decInt(1), MaxLimit: decInt(100000)},
}

// Methods returns the payment methods of the seeded store.
func Methods() []Method { return append([]Method(nil), methods...) }

func methodByKey(k string) (Method, bool) {
	for _, m := range methods {
		if m.Key == k || m.ID == k {
			return m, true
		}
	}
	return Method{}, false
}

// cardRules: card payments must be finalized in full, cannot be partly
// annulled and take no additional debit (spec B.6, E.18).
func (m Method) cardRules() bool { return m.Type == "CARD" || m.Type == "PAYMENT_PROVIDER" }
