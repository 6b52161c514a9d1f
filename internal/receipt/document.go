package receipt

import (
	"fmt"
	"strings"
	"time"

	"github.com/posd/posd/internal/money"
)

// Document is what a printed receipt says, as pure data. It is rendered to
// ESC/POS by package printer and to text for previews.
type Document struct {
	Header    []string     `json:"header"` // store name, address, org number lines
	Rows      []Row        `json:"rows"`
	Total     money.Amount `json:"total"` // receipt total (sum of sale rows)
	Currency  string       `json:"currency"`
	Payments  []Payment    `json:"payments"` // SEQR line(s), other tender
	Refunds   []Refund     `json:"refunds"`
	Change    money.Amount `json:"change"`    // change given back (split tender), 0 if none
	LeftToPay money.Amount `json:"leftToPay"` // amount paid by other means, 0 if none
	Time      time.Time    `json:"time"`
	SaleID    string       `json:"saleId"`
	CashierID string       `json:"cashierId"`
	Barcode   string       `json:"barcode"` // optional code of the reference, printed as BarcodeAs says
	// BarcodeAs is how Barcode is printed: Code 128 (the default), or a QR
	// code. A Code 128 that does not fit the paper is printed as a QR code.
	BarcodeAs Symbology `json:"barcodeAs,omitempty"`
	QR        string    `json:"qr"` // optional QR payload
	Footer    []string  `json:"footer"`
	Copy      bool      `json:"copy"` // a reprint: printed marked COPY
}

// Row is one sale row.
type Row struct {
	Description string       `json:"description"`
	Quantity    string       `json:"quantity"` // exact decimal text
	UnitPrice   money.Amount `json:"unitPrice"`
	Total       money.Amount `json:"total"`
	TaxRate     string       `json:"taxRate"` // percent, exact decimal text, e.g. "25"
}

// Payment is one tender line; for SEQR: Method "SEQR payment", Reference the ersReference.
type Payment struct {
	Method    string       `json:"method"`
	Amount    money.Amount `json:"amount"`
	Reference string       `json:"reference"`
}

// Refund is one refund line.
type Refund struct {
	Method    string       `json:"method"` // "SEQR refund"
	Amount    money.Amount `json:"amount"`
	Reference string       `json:"reference"`
	Time      time.Time    `json:"time"`
}

// Symbology is the kind of code a receipt prints its reference in.
type Symbology string

const (
	SymbologyCode128 Symbology = "code128" // Code 128; "" means the same
	SymbologyQR      Symbology = "qr"      // QR code (model 2)
)

// ParseSymbology reads the receipt.reference_code setting: "code128" (or
// empty) or "qr".
func ParseSymbology(s string) (Symbology, error) {
	switch Symbology(strings.ToLower(strings.TrimSpace(s))) {
	case "", SymbologyCode128:
		return SymbologyCode128, nil
	case SymbologyQR:
		return SymbologyQR, nil
	}
	return "", fmt.Errorf("receipt code %q: want code128 or qr", s)
}
