package printer

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/printer/escposdecode"
	"github.com/posd/posd/internal/receipt"
)

var update = flag.Bool("update", false, "rewrite golden files")

func loadDoc(t testing.TB, name string) receipt.Document {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "receipt", "testdata", "document_"+name+".json"))
	require.NoError(t, err)
	var d receipt.Document
	require.NoError(t, json.Unmarshal(b, &d))
	return d
}

func encodeDoc(t testing.TB, d receipt.Document, cpName string, cols int) []byte {
	t.Helper()
	b, err := EncodeDocument(nil, d, ReceiptOptions{Codepage: mustCP(t, cpName), Columns: cols, CutFeed: 3, Confirm: true})
	require.NoError(t, err)
	return b
}

func TestGoldenReceipts(t *testing.T) {
	tests := []struct {
		golden string
		doc    string
		cp     string
		cols   int
	}{
		{"sale", "sale", "cp858", 48},
		{"split", "split", "cp858", 48},
		{"refund", "refund", "cp858", 48},
		{"copy", "copy", "cp858", 48},
		{"longnames", "longnames", "cp858", 48},
		{"swedish", "swedish", "cp858", 48},
		{"swedish_wpc1252_32", "swedish", "wpc1252", 32},
		{"sale_cp437_42", "sale", "cp437", 42},
		// a real SEQR reference (25 digits) at every width: Code 128 everywhere
		{"seqr_32", "seqr", "cp858", 32},
		{"seqr_42", "seqr", "cp858", 42},
		{"seqr_48", "seqr", "cp858", 48},
		// a reference Code 128 cannot fit on 58 mm: printed as a QR code
		{"longnames_32", "longnames", "cp858", 32},
	}
	for _, tc := range tests {
		t.Run(tc.golden, func(t *testing.T) {
			got := encodeDoc(t, loadDoc(t, tc.doc), tc.cp, tc.cols)
			cmds, err := escposdecode.Decode(got)
			require.NoError(t, err)
			readable := escposdecode.Dump(cmds) + "\n--- paper ---\n" + escposdecode.Render(cmds).Text(tc.cols)
			bin := filepath.Join("testdata", "receipt_"+tc.golden+".bin")
			txt := filepath.Join("testdata", "receipt_"+tc.golden+".txt")
			if *update {
				require.NoError(t, os.MkdirAll("testdata", 0o755))
				require.NoError(t, os.WriteFile(bin, got, 0o644))
				require.NoError(t, os.WriteFile(txt, []byte(readable), 0o644))
			}
			want, err := os.ReadFile(bin)
			require.NoError(t, err, "run go test -update to create it")
			assert.Equal(t, want, got, "bytes differ from %s", bin)
			wantTxt, err := os.ReadFile(txt)
			require.NoError(t, err)
			assert.Equal(t, string(wantTxt), readable)
		})
	}
}

func decodePaper(t *testing.T, b []byte) ([]escposdecode.Cmd, escposdecode.Paper) {
	t.Helper()
	cmds, err := escposdecode.Decode(b)
	require.NoError(t, err)
	return cmds, escposdecode.Render(cmds)
}

func TestReceiptMeaning(t *testing.T) {
	d := loadDoc(t, "sale")
	cmds, paper := decodePaper(t, encodeDoc(t, d, "cp858", 48))

	// prologue order
	require.GreaterOrEqual(t, len(cmds), 3)
	assert.Equal(t, "ESC @", cmds[0].Op)
	assert.Equal(t, "ESC R", cmds[1].Op)
	assert.Equal(t, []byte{0}, cmds[1].Args)
	assert.Equal(t, "ESC t", cmds[2].Op)
	assert.Equal(t, []byte{19}, cmds[2].Args)

	// the total line is bold (and double height)
	total, ok := paper.FindLine("TOTALT SEK")
	require.True(t, ok)
	assert.True(t, total.Bold())
	assert.Equal(t, 2, total.MaxHeight())
	assert.Contains(t, total.Text, "231.00")
	row, ok := paper.FindLine("Kanelbulle")
	require.True(t, ok)
	assert.False(t, row.Bold())
	assert.Equal(t, 48, utf8.RuneCountInString(row.Text))

	// SEQR's certification lines
	seqr, ok := paper.FindLine("SEQR payment")
	require.True(t, ok)
	assert.True(t, strings.HasSuffix(seqr.Text, "231.00"))
	_, ok = paper.FindLine("Ref " + d.Payments[0].Reference)
	assert.True(t, ok)

	// the barcode decodes to the reference, with a code-set prefix
	bcs := paper.Barcodes()
	require.Len(t, bcs, 1)
	assert.Equal(t, d.Barcode, bcs[0].Text)
	assert.True(t, bcs[0].ValidPrefix)
	assert.Equal(t, byte(1), bcs[0].Align)
	qrs := paper.QRs()
	require.Len(t, qrs, 1)
	assert.Equal(t, d.QR, qrs[0].Text)

	// exactly one cut, the last thing on paper; then the GS r 1 confirmation
	require.Len(t, paper.Cuts(), 1)
	items := paper.Items
	require.GreaterOrEqual(t, len(items), 2)
	assert.Equal(t, escposdecode.ItemCut, items[len(items)-2].Kind)
	assert.Equal(t, escposdecode.ItemConfirm, items[len(items)-1].Kind)
	assert.Equal(t, "GS r", cmds[len(cmds)-1].Op)
}

func TestReceiptSwedishDecodes(t *testing.T) {
	d := loadDoc(t, "swedish")
	for _, cp := range []string{"cp858", "cp850", "cp437", "cp865", "wpc1252"} {
		t.Run(cp, func(t *testing.T) {
			_, paper := decodePaper(t, encodeDoc(t, d, cp, 48))
			for _, want := range []string{"Smörgås räksallad", "Blåbärspaj - hemgjord", "Café au lait, crème", "Älvgatan 3, 972 31 Luleå", "Välkommen åter! Hej då ?"} {
				_, ok := paper.FindLine(want)
				assert.True(t, ok, "%s missing", want)
			}
			ol, ok := paper.FindLine("Ölglas ÅÄÖ")
			require.True(t, ok)
			if cp == "cp858" || cp == "wpc1252" {
				assert.Contains(t, ol.Text, "€ 0,4 l")
			} else {
				assert.Contains(t, ol.Text, "EUR 0,4 l")
			}
		})
	}
}

func TestReceiptCopyMarked(t *testing.T) {
	_, paper := decodePaper(t, encodeDoc(t, loadDoc(t, "copy"), "cp858", 48))
	var marks []escposdecode.Item
	for _, l := range paper.Lines() {
		if strings.Contains(l.Text, receipt.CopyMark) {
			marks = append(marks, l)
		}
	}
	require.Len(t, marks, 2)
	for _, m := range marks {
		assert.True(t, m.Bold())
		assert.Equal(t, 2, m.MaxWidth())
		assert.Equal(t, byte(1), m.Align)
	}
	lines := paper.Lines()
	first := -1
	for i, l := range lines {
		if strings.Contains(l.Text, receipt.CopyMark) {
			first = i
			break
		}
	}
	assert.Less(t, first, 6, "COPY is at the top")
}

// TestReceiptBarcodeTooWide: a reference whose Code 128 cannot fit the
// paper prints as a QR code of the same value instead of being dropped.
func TestReceiptBarcodeTooWide(t *testing.T) {
	d := loadDoc(t, "sale")
	d.QR = ""
	d.Barcode = strings.Repeat("X", 30)
	_, paper := decodePaper(t, encodeDoc(t, d, "cp858", 32))
	assert.Empty(t, paper.Barcodes())
	qrs := paper.QRs()
	require.Len(t, qrs, 1)
	assert.Equal(t, d.Barcode, qrs[0].Text)
	assert.Equal(t, byte(1), qrs[0].Align)
}

func TestCodepageRoundTrip(t *testing.T) {
	for _, c := range codepages {
		t.Run(c.Name, func(t *testing.T) {
			var sb strings.Builder
			for b := 0x20; b <= 0xFF; b++ {
				if b == 0x7F {
					continue
				}
				r := c.cm.DecodeByte(byte(b))
				if r == '\u00A0' || r == '\u00AD' || r == utf8.RuneError {
					continue // folded on purpose
				}
				sb.WriteRune(r)
			}
			e := NewEncoder(c)
			e.Prologue(false)
			e.Text(sb.String())
			cmds, err := escposdecode.Decode(e.Bytes())
			require.NoError(t, err)
			var got strings.Builder
			for _, cmd := range cmds {
				if cmd.Op == "TEXT" {
					got.WriteString(cmd.Text)
				}
			}
			assert.Equal(t, sb.String(), got.String())
		})
	}
}

func FuzzCode128RoundTrip(f *testing.F) {
	for _, s := range []string{"7312", "73120", "AB12345x", "a{b", "{{C", "0", "REF-{ABC}-0123456789"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		data, symbols, err := Code128Data(s)
		if err != nil {
			return
		}
		require.LessOrEqual(t, len(data), 255)
		require.Greater(t, symbols, 0)
		got, ok := escposdecode.Code128Value(data)
		require.True(t, ok)
		require.Equal(t, s, got)
	})
}

func FuzzTextRoundTrip(f *testing.F) {
	for _, s := range []string{"Blåbär", "€ 10", "a\x1bb", "漢字", "“quote”"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := NewEncoder(mustCP(t, "cp858"))
		e.Prologue(false)
		e.Text(s)
		cmds, err := escposdecode.Decode(e.Bytes())
		require.NoError(t, err)
		// text can never produce a command: only the prologue and TEXT runs
		for _, c := range cmds[3:] {
			require.Equal(t, "TEXT", c.Op)
		}
	})
}

// Every encoder command decodes back to itself, with its arguments.
func TestEncodeDecodeRoundTrip(t *testing.T) {
	e := NewEncoder(mustCP(t, "cp858"))
	e.Prologue(true)
	e.Align(AlignCenter)
	e.Bold(true)
	e.Underline(2)
	e.Size(3, 2)
	e.Line("Blåbär €")
	e.Feed(2)
	require.NoError(t, e.Code128("AB1234", 576, 0, 50))
	require.NoError(t, e.QR("https://x/y", 5, QRLevelQ))
	require.NoError(t, e.DrawerKick(5, 60*time.Millisecond, 120*time.Millisecond))
	e.FeedCut(false, 10)
	e.CutNow(true)
	e.RequestConfirm()
	cmds, err := escposdecode.Decode(e.Bytes())
	require.NoError(t, err)
	var got []string
	for _, c := range cmds {
		got = append(got, c.String())
	}
	assert.Equal(t, []string{
		"ESC @", "FS .", "ESC R 0", "ESC t 19", "ESC a 1", "ESC E 1", "ESC - 2", "GS ! 33",
		`TEXT "Blåbär €"`, "LF", "ESC d 2",
		"GS H 2", "GS h 50", "GS w 5", `GS k 73 CODE128 "AB1234" data=7B 42 41 42 7B 43 0C 22`,
		"GS ( k pL=4 pH=0 QR model 32 00", "GS ( k pL=3 pH=0 QR size 05", "GS ( k pL=3 pH=0 QR error level 32",
		`GS ( k pL=14 pH=0 QR store "https://x/y"`, "GS ( k pL=3 pH=0 QR print 30",
		"ESC p 1 30 60", "GS V 65 10", "GS V 1", "GS r 1",
	}, got)
	line := escposdecode.Render(cmds).Lines()[0]
	assert.True(t, line.Bold())
	assert.Equal(t, 3, line.MaxWidth())
	assert.Equal(t, 2, line.MaxHeight())
	assert.Equal(t, byte(2), line.Spans[0].Style.Underline)
}
