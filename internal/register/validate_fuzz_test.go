package register

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/store"
)

// FuzzValidatePayment: no request makes validation panic, and every request
// it accepts has a positive amount and rows that sum exactly to the total
// (and, with the balancing row, an invoice that sums to the amount).
func FuzzValidatePayment(f *testing.F) {
	for _, seed := range []string{
		`{"amount":"20.00","currency":"SEK","receiptTotal":"20.00","rows":[{"description":"Ice cream","quantity":"2","unitPrice":"10.00","totalAmount":"20.00","taxRate":"12"}]}`,
		`{"amount":"60.00","currency":"SEK","receiptTotal":"100.00","rows":[{"description":"Shoes","quantity":"1","totalAmount":"100.00"}]}`,
		`{"amount":"150.00","currency":"SEK","receiptTotal":"100.00","rows":[{"description":"A","quantity":"0.5","unitPrice":"39.90","totalAmount":"19.95"},{"description":"B","quantity":"1","totalAmount":"80.05"}]}`,
		`{"amount":"20.00","currency":"SEK","receiptTotal":"25.00","rows":[{"description":"A","quantity":"1","totalAmount":"20.00"}]}`,
		`{"amount":"-1.00","currency":"sek","receiptTotal":"0","rows":[]}`,
		`{"amount":"1.00","currency":"SEK","receiptTotal":"1.00","rows":[{"description":"A","quantity":"1.","totalAmount":"1.00","taxRate":"1e2"}]}`,
	} {
		f.Add([]byte(seed))
	}
	r := validatingRegister(time.Now)
	f.Fuzz(func(t *testing.T, body []byte) {
		var req PaymentRequest
		if json.Unmarshal(body, &req) != nil {
			return
		}
		req = r.normalize(req)
		if err := r.validate(req); err != nil {
			if _, ok := err.(*ValidationError); !ok {
				t.Fatalf("validation error of type %T: %v", err, err)
			}
			return
		}
		if req.Amount <= 0 {
			t.Fatalf("accepted amount %s", req.Amount)
		}
		var sum money.Amount
		for _, row := range req.Rows {
			sum += row.TotalAmount
		}
		if sum != req.ReceiptTotal {
			t.Fatalf("accepted rows summing to %s with total %s", sum, req.ReceiptTotal)
		}
		rowsJSON, err := json.Marshal(req.Rows)
		if err != nil {
			t.Fatal(err)
		}
		o, err := orderOf(store.Payment{ID: "fuzz", Amount: req.Amount, ReceiptTotal: req.ReceiptTotal, RowsJSON: rowsJSON}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var isum money.Amount
		for _, row := range o.BalancedRows() {
			isum += row.Total
		}
		if isum != req.Amount {
			t.Fatalf("provider rows sum to %s, amount %s", isum, req.Amount)
		}
	})
}
