package receipt

import (
	"time"

	"github.com/posd/posd/internal/money"
)

// CONTRACT: the printer helper owns this file and may add fields and methods;
// the names below are used by register to build a receipt.

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
	Barcode   string       `json:"barcode"` // optional Code 128 (e.g. the reference)
	QR        string       `json:"qr"`      // optional QR payload
	Footer    []string     `json:"footer"`
	Copy      bool         `json:"copy"` // a reprint: printed marked COPY
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
