package receipt

import (
	"bytes"
	"encoding/json"
	"flag"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/money"
)

// docUpdateFlag registers -update unless another test file of this package
// already did (the journal tests may), so both can share it.
func docUpdateFlag() bool {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files")
	}
	return true
}

var _ = docUpdateFlag()

func docUpdating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

var docGoldenNames = []string{"sale", "split", "refund", "copy", "longnames", "swedish", "seqr"}

func docLoad(t *testing.T, name string) Document {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "document_"+name+".json"))
	require.NoError(t, err)
	var d Document
	require.NoError(t, json.Unmarshal(b, &d))
	return d
}

func TestDocumentTextGolden(t *testing.T) {
	for _, name := range docGoldenNames {
		for _, cols := range []int{48, 42, 32} {
			t.Run(name+"_"+itoa(cols), func(t *testing.T) {
				d := docLoad(t, name)
				got := d.Text(cols)
				path := filepath.Join("testdata", "document_"+name+"_"+itoa(cols)+".txt")
				if docUpdating() {
					require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
				}
				want, err := os.ReadFile(path)
				require.NoError(t, err, "run go test -update to create it")
				assert.Equal(t, string(want), got)
				for i, line := range strings.Split(strings.TrimRight(got, "\n"), "\n") {
					if strings.HasPrefix(strings.TrimSpace(line), "[") {
						continue // barcode/QR placeholder
					}
					assert.LessOrEqual(t, utf8.RuneCountInString(line), cols, "line %d too wide: %q", i+1, line)
				}
			})
		}
	}
}

func itoa(n int) string { return string(rune('0'+n/10)) + string(rune('0'+n%10)) }

func TestDocumentJSONRoundTrip(t *testing.T) {
	d := docLoad(t, "split")
	b, err := json.Marshal(d)
	require.NoError(t, err)
	var back Document
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, d, back)
	assert.Contains(t, string(b), `"total":"140.00"`)
}

func TestDocumentSEQRPaymentLines(t *testing.T) {
	d := docLoad(t, "sale")
	txt := d.Text(48)
	assert.Contains(t, txt, "SEQR payment")
	assert.Contains(t, txt, "231.00")
	assert.Contains(t, txt, "Ref 8201234567890123")
	assert.Contains(t, txt, "2026-11-21 18:35:02", "Stockholm local time (UTC+1 in November)")
	s := docLoad(t, "swedish").Text(48)
	assert.Contains(t, s, "2026-07-01 12:00:00", "summer time UTC+2")
}

// A weighed row priced by its total (no unit price) prints its quantity
// alone, never "x 0.00".
func TestDocumentQuantityWithoutUnitPrice(t *testing.T) {
	d := Document{Rows: []Row{{Description: "Kaffebönor", Quantity: "0.750", Total: 7493, TaxRate: "12"},
		{Description: "Filter", Quantity: "5", UnitPrice: 2500, Total: 12500, TaxRate: "25"}}, Total: 19993, Currency: "SEK"}
	txt := d.Text(42)
	assert.Contains(t, txt, "  0.750\n")
	assert.NotContains(t, txt, "x 0.00")
	assert.Contains(t, txt, "  5 x 25.00")
}

func TestDocumentCopyMarked(t *testing.T) {
	d := docLoad(t, "copy")
	lines := d.Lines(48, time.UTC)
	var marks int
	for _, l := range lines {
		if l.Text == CopyMark {
			marks++
			assert.True(t, l.Bold && l.Wide && l.Tall && l.Align == AlignCenter)
		}
	}
	assert.Equal(t, 2, marks, "top and bottom")
	d.Copy = false
	for _, l := range d.Lines(48, time.UTC) {
		assert.NotEqual(t, CopyMark, l.Text)
	}
}

func TestVATPart(t *testing.T) {
	tests := []struct {
		gross string
		rate  string
		want  string
	}{
		{"125.00", "25", "25.00"},
		{"100.00", "25", "20.00"},
		{"112.00", "12", "12.00"},
		{"106.00", "6", "6.00"},
		{"100.00", "0", "0.00"},
		{"0.01", "25", "0.00"},
		{"0.03", "25", "0.01"},   // 0.6 öre -> 1
		{"0.02", "25", "0.00"},   // 0.4 öre -> 0
		{"0.10", "25", "0.02"},   // exactly 2 öre
		{"12.50", "25", "2.50"},  // exact
		{"0.05", "25", "0.01"},   // 1.0
		{"0.14", "12", "0.02"},   // 1.5 öre exactly -> 2 (half-up)
		{"-0.14", "12", "-0.02"}, // mirrors the sale
		{"-125.00", "25", "-25.00"},
		{"10.00", "12.5", "1.11"}, // 111.1 öre
		{"92233720368547.75", "25", "18446744073709.55"},
	}
	for _, tc := range tests {
		t.Run(tc.gross+"@"+tc.rate, func(t *testing.T) {
			got, err := VATPart(money.MustParse(tc.gross), tc.rate)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got.String())
		})
	}
	for _, bad := range []string{"", "abc", "-5", "101", "12.34567", "1e2"} {
		_, err := VATPart(100, bad)
		assert.Error(t, err, bad)
	}
}

func TestVATSummary(t *testing.T) {
	d := docLoad(t, "swedish")
	got, err := d.VATSummary()
	require.NoError(t, err)
	require.Len(t, got, 3)
	assert.Equal(t, "25", got[0].Rate)
	assert.Equal(t, "119.00", got[0].Gross.String())
	assert.Equal(t, "23.80", got[0].VAT.String())
	assert.Equal(t, "12", got[1].Rate)
	assert.Equal(t, "234.00", got[1].Gross.String())
	assert.Equal(t, "25.07", got[1].VAT.String()) // 2507.14 öre
	assert.Equal(t, "6", got[2].Rate)
	assert.Equal(t, "2.26", got[2].VAT.String()) // 226.4 öre
	for _, v := range got {
		assert.Equal(t, v.Gross, v.VAT+v.Net)
	}
}

func TestDocWrap(t *testing.T) {
	tests := []struct {
		in   string
		w    int
		want []string
	}{
		{"short", 10, []string{"short"}},
		{"hello world again", 11, []string{"hello world", "again"}},
		{"abcdefghijkl", 5, []string{"abcde", "fghij", "kl"}},
		{"aaaa bbbb cccc dddd", 4, []string{"aaaa", "bbbb", "cccc", "dddd"}},
		{"åäö åäö", 3, []string{"åäö", "åäö"}},
		{"Åsas Örtagård & Café", 16, []string{"Åsas Örtagård &", "Café"}},
		{"Åsas Örtagård & Café", 12, []string{"Åsas", "Örtagård &", "Café"}},
		{"Kvitto S-1004-WITH-A-RATHER-LONG-SALE-IDENTIFIER", 32, []string{"Kvitto S-1004-WITH-A-RATHER-LONG", "-SALE-IDENTIFIER"}},
		{"Ref 2026112118350212301032678", 12, []string{"Ref 20261121", "183502123010", "32678"}},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, docWrap(tc.in, tc.w), tc.in)
	}
}

func TestDocFold(t *testing.T) {
	assert.Equal(t, `"a" - b... €`, docFold("“a” – b… €"))
	assert.Equal(t, "a b", docFold("a\nb"))
	assert.Equal(t, "åäö", docFold("åäö"))
}

func TestDocumentPNG(t *testing.T) {
	d := docLoad(t, "swedish")
	var buf bytes.Buffer
	require.NoError(t, d.PNG(&buf, 48))
	pngBytes := append([]byte(nil), buf.Bytes()...)
	img, err := png.Decode(&buf)
	require.NoError(t, err)
	assert.Equal(t, 48*docCellW*docScale+2*docPadPx, img.Bounds().Dx())
	// ink on the page, and every glyph the sample needs exists in the font
	dark := 0
	for y := 0; y < img.Bounds().Dy(); y++ {
		for x := 0; x < img.Bounds().Dx(); x++ {
			if r, _, _, _ := img.At(x, y).RGBA(); r < 0x8000 {
				dark++
			}
		}
	}
	assert.Greater(t, dark, 1000)
	for _, r := range "åäöÅÄÖéÉ€0123456789ABCXYZabcxyz%.,-" {
		_, ok := docFont[r]
		assert.True(t, ok, "glyph %q", r)
	}
	if docUpdating() {
		require.NoError(t, os.WriteFile(filepath.Join("testdata", "document_swedish_48.png"), pngBytes, 0o644))
	}
}

func TestDocFontGlyphsFitCell(t *testing.T) {
	for r, g := range docFont {
		for _, row := range g {
			assert.Less(t, row, uint8(0x20), "glyph %q wider than 5 dots", r)
		}
	}
}

// TestDocumentLegalFieldsNeverCut: at every width, every character of the
// fields a receipt must show in full (shop name and the other header lines,
// organisation number, receipt number, product names, amounts, payment and
// refund references) is on the paper, in order: long text wraps, it is
// never cut. Spaces are ignored (a wrap may fall on one), nothing else is.
func TestDocumentLegalFieldsNeverCut(t *testing.T) {
	docs := map[string]Document{}
	for _, name := range docGoldenNames {
		docs[name] = docLoad(t, name)
	}
	long := docLoad(t, "longnames")
	long.Header = []string{
		"Åsas Örtagård & Café och Delikatessbutik vid Storgatan i Luleå",
		"Strandvägen 12 B, uppgång 3, 972 31 Luleå, Norrbottens län, Sverige",
		"Org.nr 559123-4567 Momsreg.nr SE559123456701 Godkänd för F-skatt",
	}
	long.SaleID = "S-2026-11-21-KASSA-07-0000000000000000000000000042-WITHOUT-ANY-SPACES"
	long.Rows = append(long.Rows, Row{Description: "Dyr tavla", Quantity: "123456789012.125", UnitPrice: money.MustParse("900000000000.00"),
		Total: money.MustParse("9000000000000000.00"), TaxRate: "12.5"})
	long.Total += money.MustParse("9000000000000000.00")
	long.Payments = append(long.Payments, Payment{Method: "Presentkort från Åsas Örtagård & Café, nummer 0042", Amount: money.MustParse("1.00"),
		Reference: "GIFT-0000-1111-2222-3333-4444-5555-6666-7777-8888-9999"})
	long.Refunds = []Refund{{Method: "SEQR refund", Amount: money.MustParse("10.00"), Reference: "2026112118350212301032700"}}
	long.Change = money.MustParse("1234567890123.45")
	docs["stress"] = long

	squash := func(s string) string { return strings.ReplaceAll(s, " ", "") }
	for name, d := range docs {
		var fields []string
		fields = append(fields, d.Header...)
		fields = append(fields, d.SaleID, docAmount(d.Total), docAmount(d.Change), docAmount(d.LeftToPay))
		for _, r := range d.Rows {
			fields = append(fields, r.Description, docAmount(r.Total), docAmount(r.UnitPrice))
		}
		for _, p := range d.Payments {
			fields = append(fields, p.Method, docAmount(p.Amount), p.Reference)
		}
		for _, r := range d.Refunds {
			fields = append(fields, r.Method, docAmount(-r.Amount), r.Reference)
		}
		if vats, err := d.VATSummary(); err == nil {
			for _, v := range vats {
				fields = append(fields, docAmount(v.VAT), docAmount(v.Net))
			}
		}
		for cols := 24; cols <= 64; cols++ { // every width, the three real ones (32, 42, 48) among them
			t.Run(name+"_"+itoa(cols), func(t *testing.T) {
				var paper []string
				for _, l := range d.Lines(cols, time.UTC) {
					width := cols
					if l.Wide {
						width = cols / 2
					}
					if l.Kind == LineText {
						assert.LessOrEqual(t, utf8.RuneCountInString(l.Text), width, "too wide: %q", l.Text)
					}
					paper = append(paper, squash(l.Text))
				}
				for _, f := range fields {
					if f == "" || f == "0.00" {
						continue
					}
					assert.True(t, onPaper(paper, squash(docFold(f))), "field %q lost characters at %d columns:\n%s", f, cols, d.Text(cols))
				}
			})
		}
	}
}

// onPaper reports whether f reads on the lines in order: it starts somewhere
// in a line and runs either to its end within that line, or up to the
// line's right-hand column (a row's amount) and on from the start of the
// next lines.
func onPaper(lines []string, f string) bool {
	for i, l := range lines {
		for p := 0; p < len(l); p++ {
			m := 0
			for m < len(f) && p+m < len(l) && l[p+m] == f[m] {
				m++
			}
			if m == 0 {
				continue
			}
			if m == len(f) {
				return true
			}
			rest := strings.Join(lines[i+1:], "")
			if strings.HasPrefix(rest, f[m:]) {
				return true
			}
		}
	}
	return false
}

func TestDocumentBarcodeAs(t *testing.T) {
	d := docLoad(t, "seqr")
	kinds := func(d Document) (out []LineKind) {
		for _, l := range d.Lines(32, time.UTC) {
			if l.Kind != LineText {
				out = append(out, l.Kind)
				assert.Equal(t, d.Barcode, l.Text)
			}
		}
		return out
	}
	assert.Equal(t, []LineKind{LineBarcode}, kinds(d), "Code 128 by default")
	d.BarcodeAs = SymbologyQR
	assert.Equal(t, []LineKind{LineQR}, kinds(d))
	d.QR = d.Barcode
	assert.Equal(t, []LineKind{LineQR}, kinds(d), "the same QR code is printed once")

	for in, want := range map[string]Symbology{"": SymbologyCode128, "code128": SymbologyCode128, " QR ": SymbologyQR} {
		got, err := ParseSymbology(in)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	_, err := ParseSymbology("ean13")
	assert.Error(t, err)
}
