package printer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/receipt"
)

// receipt20 is a typical 20-row receipt (the same one bench/receipt20.json holds).
func receipt20() receipt.Document {
	d := receipt.Document{
		Header:   []string{"Kaffebaren AB", "Storgatan 1, 111 22 Stockholm", "Org.nr 556677-8899"},
		Currency: "SEK",
		Time:     time.Date(2026, 11, 21, 17, 35, 2, 0, time.UTC),
		SaleID:   "S-1001",
		Barcode:  "8201234567890123",
		Footer:   []string{"Tack för besöket!"},
	}
	names := []string{"Kaffe bryggt", "Kanelbulle", "Smörgås räksallad", "Blåbärspaj", "Mineralvatten"}
	rates := []string{"12", "12", "12", "12", "25"}
	var total money.Amount
	for i := 0; i < 20; i++ {
		unit := money.Amount(1000 + 125*i)
		qty := 1 + i%3
		row := receipt.Row{
			Description: names[i%len(names)] + " " + strconv.Itoa(i+1),
			Quantity:    strconv.Itoa(qty),
			UnitPrice:   unit,
			Total:       unit * money.Amount(qty),
			TaxRate:     rates[i%len(rates)],
		}
		total += row.Total
		d.Rows = append(d.Rows, row)
	}
	d.Total = total
	d.Payments = []receipt.Payment{{Method: "SEQR payment", Amount: total, Reference: "8201234567890123"}}
	return d
}

// BenchmarkEncodeReceipt20Rows: target <= 10 µs/op (100 000 receipts a
// second on one core).
func BenchmarkEncodeReceipt20Rows(b *testing.B) {
	d := receipt20()
	cp, _ := ParseCodepage("cp858")
	opts := ReceiptOptions{Codepage: cp, Columns: 48, Location: receipt.Stockholm(), Confirm: true}
	buf := make([]byte, 0, 8192)
	b.ReportAllocs()
	var n int
	for b.Loop() {
		out, err := EncodeDocument(buf[:0], d, opts)
		if err != nil {
			b.Fatal(err)
		}
		n = len(out)
	}
	b.ReportMetric(float64(n), "bytes/receipt")
}

func BenchmarkEncodeText(b *testing.B) {
	cp, _ := ParseCodepage("cp858")
	e := NewEncoder(cp)
	b.ReportAllocs()
	for b.Loop() {
		e.Reset()
		e.Text("Blåbärspaj – hemgjord “mormors” 45.50 €")
	}
}

// The node comparison (bench/escpos-compare.sh) must encode the same receipt.
func TestBenchReceiptMatches(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "bench", "receipt20.json"))
	require.NoError(t, err)
	var d receipt.Document
	require.NoError(t, json.Unmarshal(b, &d))
	assert.Equal(t, receipt20(), d)
}
