package receipt

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // Europe/Stockholm must resolve on registers without /usr/share/zoneinfo
	"unicode/utf8"

	"github.com/posd/posd/internal/money"
)

// LineKind says what a layout line is.
type LineKind uint8

const (
	LineText    LineKind = iota // a line of text
	LineBarcode                 // a Code 128 barcode of Text
	LineQR                      // a QR code of Text
)

// LineAlign is a line's alignment.
type LineAlign uint8

const (
	AlignLeft LineAlign = iota
	AlignCenter
	AlignRight
)

// Line is one line of a laid-out receipt. Text lines already fit the width
// they have (Columns, or Columns/2 when Wide): longer text is wrapped onto
// more lines, never cut, so no legal field (shop name, organisation number,
// receipt number, product names, amounts, payment reference) loses a
// character. Left-aligned lines are padded so amount columns line up;
// renderers only apply the style.
type Line struct {
	Kind      LineKind
	Text      string
	Align     LineAlign
	Bold      bool
	Underline bool
	Wide      bool // double width: half as many characters fit
	Tall      bool // double height
	// Module is the width in dots of one bar module (Code 128) or one QR
	// module, as the printer's layout chose it for its paper; 0 in a
	// layout made without a printer (Document.Lines).
	Module int
}

// CopyMark is printed, large, at the top and again at the end of a reprint.
const CopyMark = "KOPIA / COPY"

// Stockholm returns the Europe/Stockholm location receipts are printed in
// (times are stored in UTC). The tz database is embedded, so this works on a
// register without one; it falls back to CET only if even that fails.
func Stockholm() *time.Location {
	loc, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		return time.FixedZone("CET", 3600)
	}
	return loc
}

// Text renders the receipt as plain text, columns wide (48, 42 or 32;
// anything below 24 is taken as 24), in Stockholm time: what a person sees
// in a terminal preview. Barcodes and QR codes are shown as bracketed lines.
func (d Document) Text(columns int) string {
	return LinesText(d.Lines(columns, Stockholm()), columns)
}

// LinesText renders laid-out lines as plain text, one per line.
func LinesText(lines []Line, columns int) string {
	columns = docColumns(columns)
	var sb strings.Builder
	for _, l := range lines {
		s := l.Text
		switch l.Kind {
		case LineBarcode:
			s = "[Code 128: " + l.Text + "]"
		case LineQR:
			s = "[QR: " + l.Text + "]"
		}
		if l.Wide {
			s = docSpread(s)
		}
		n := utf8.RuneCountInString(s)
		switch {
		case l.Align == AlignCenter && n < columns:
			s = strings.Repeat(" ", (columns-n)/2) + s
		case l.Align == AlignRight && n < columns:
			s = strings.Repeat(" ", columns-n) + s
		}
		sb.WriteString(strings.TrimRight(s, " "))
		sb.WriteByte('\n')
	}
	return sb.String()
}

// docSpread shows double-width text in a text preview: "KOPIA" -> "K O P I A".
func docSpread(s string) string {
	var sb strings.Builder
	first := true
	for _, r := range s {
		if !first {
			sb.WriteByte(' ')
		}
		sb.WriteRune(r)
		first = false
	}
	return sb.String()
}

func docColumns(c int) int {
	if c <= 0 {
		return 48
	}
	if c < 24 {
		return 24
	}
	return c
}

// Lines lays the receipt out for a printer columns characters wide, with
// times shown in loc (nil means Stockholm). Layout is pure: the same
// document always gives the same lines, so golden files are stable.
func (d Document) Lines(columns int, loc *time.Location) []Line {
	w := docColumns(columns)
	if loc == nil {
		loc = Stockholm()
	}
	lines := make([]Line, 0, 24+2*len(d.Rows)+3*len(d.Payments)+3*len(d.Refunds)+len(d.Footer))
	add := func(l Line) { lines = append(lines, l) }
	text := func(s string) { add(Line{Text: s}) }
	dashes := strings.Repeat("-", w)
	rule := func() { add(Line{Text: dashes}) }

	wrapped := func(s string, l Line) {
		width := w
		if l.Wide {
			width = w / 2
		}
		if utf8.RuneCountInString(s) <= width { // the common case, without a slice
			l.Text = strings.TrimSpace(s)
			add(l)
			return
		}
		for _, part := range docWrap(s, width) {
			l.Text = part
			add(l)
		}
	}
	// leftRight puts a label and an amount on one line when both fit, and
	// otherwise the label, wrapped, above the amount alone on the right.
	leftRight := func(left, right string, l Line) {
		if utf8.RuneCountInString(left)+1+utf8.RuneCountInString(right) <= w {
			l.Text = docLeftRight(left, right, w)
			add(l)
			return
		}
		for _, t := range docLeftRightLines(left, right, w) {
			l.Text = t
			add(l)
		}
	}

	for i, h := range d.Header {
		h = docFold(h)
		if i == 0 {
			wrapped(h, Line{Align: AlignCenter, Bold: true, Wide: true, Tall: true})
			continue
		}
		wrapped(h, Line{Align: AlignCenter})
	}
	if d.Copy {
		text("")
		wrapped(CopyMark, Line{Align: AlignCenter, Bold: true, Wide: true, Tall: true})
	}
	text("")
	if !d.Time.IsZero() {
		right := ""
		if d.SaleID != "" {
			right = "Kvitto " + docFold(d.SaleID)
		}
		left := d.Time.In(loc).Format("2006-01-02 15:04:05")
		if utf8.RuneCountInString(left)+1+utf8.RuneCountInString(right) <= w {
			text(docLeftRight(left, right, w))
		} else {
			text(left)
			if right != "" {
				wrapped(right, Line{})
			}
		}
	} else if d.SaleID != "" {
		wrapped("Kvitto "+docFold(d.SaleID), Line{})
	}
	if d.CashierID != "" {
		wrapped("Kassör "+docFold(d.CashierID), Line{})
	}
	rule()

	// Row lines are written into one arena and cut from a single string at
	// the end: one allocation for all rows instead of one or two per line.
	type docSpan struct{ line, a, b int }
	arena := make([]byte, 0, len(d.Rows)*(2*w+16))
	spans := make([]docSpan, 0, 2*len(d.Rows))
	var sc []byte
	for _, r := range d.Rows {
		sc = docAppendAmount(sc[:0], r.Total)
		if r.TaxRate != "" {
			rate := docFold(r.TaxRate)
			sc = append(sc, ' ')
			for n := utf8.RuneCountInString(rate) + 1; n < 3; n++ {
				sc = append(sc, ' ')
			}
			sc = append(sc, rate...)
			sc = append(sc, '%')
		}
		rn := utf8.RuneCount(sc)
		descW := w - rn - 1
		desc := docFold(r.Description)
		if descW < w/3 {
			// An amount so long that the name would be a sliver beside it:
			// the name on lines of its own, the amount below it.
			wrapped(desc, Line{})
			for _, part := range docWrap(string(sc), w) {
				text(docPadLeft(part, w))
			}
			desc = ""
		} else {
			var more []string
			if utf8.RuneCountInString(desc) > descW {
				if parts := docWrap(desc, descW); len(parts) > 0 {
					desc, more = parts[0], parts[1:]
				}
			}
			a := len(arena)
			arena = append(arena, desc...)
			arena = docAppendSpaces(arena, w-utf8.RuneCountInString(desc)-rn)
			arena = append(arena, sc...)
			add(Line{})
			spans = append(spans, docSpan{len(lines) - 1, a, len(arena)})
			for _, cont := range more {
				text(cont)
			}
		}
		if q := strings.TrimSpace(r.Quantity); q != "" && q != "1" {
			a := len(arena)
			arena = append(arena, "  "...)
			arena = append(arena, docFold(q)...)
			if r.UnitPrice != 0 { // no unit price given (weighed goods priced by total): the quantity alone
				arena = append(arena, " x "...)
				arena = docAppendAmount(arena, r.UnitPrice)
			}
			if utf8.RuneCount(arena[a:]) > w {
				// A quantity too long for one line: wrapped, not cut.
				qty := string(arena[a:])
				arena = arena[:a]
				for _, part := range docWrap(qty, w-2) {
					text("  " + part)
				}
				continue
			}
			add(Line{})
			spans = append(spans, docSpan{len(lines) - 1, a, len(arena)})
		}
	}
	if len(spans) > 0 {
		all := string(arena)
		for _, sp := range spans {
			lines[sp.line].Text = all[sp.a:sp.b] // exactly w wide by construction
		}
	}
	rule()
	cur := docFold(d.Currency)
	totalLabel := "TOTALT"
	if cur != "" {
		totalLabel += " " + cur
	}
	leftRight(totalLabel, docAmount(d.Total), Line{Bold: true, Tall: true})

	if vats, err := d.VATSummary(); err != nil {
		wrapped("Moms: "+err.Error(), Line{})
	} else if len(vats) > 0 {
		text("")
		lines = docVATLines(lines, vats, w)
	}

	if len(d.Payments) > 0 || d.Change != 0 || d.LeftToPay != 0 {
		rule()
	}
	for _, p := range d.Payments {
		leftRight(docFold(p.Method), docAmount(p.Amount), Line{})
		if p.Reference != "" {
			for _, part := range docWrap("Ref "+docFold(p.Reference), w-2) {
				text("  " + part)
			}
		}
	}
	if d.LeftToPay != 0 {
		leftRight("Betalas på annat sätt", docAmount(d.LeftToPay), Line{})
	}
	if d.Change != 0 {
		leftRight("Växel", docAmount(d.Change), Line{Bold: true})
	}
	if len(d.Refunds) > 0 {
		rule()
		wrapped("ÅTERBETALNING", Line{Bold: true})
		for _, r := range d.Refunds {
			leftRight(docFold(r.Method), docAmount(-r.Amount), Line{})
			if r.Reference != "" {
				for _, part := range docWrap("Ref "+docFold(r.Reference), w-2) {
					text("  " + part)
				}
			}
			if !r.Time.IsZero() {
				text("  " + r.Time.In(loc).Format("2006-01-02 15:04:05"))
			}
		}
	}
	if d.Barcode != "" || d.QR != "" {
		text("")
	}
	if d.Barcode != "" {
		kind := LineBarcode
		if d.BarcodeAs == SymbologyQR {
			kind = LineQR
		}
		add(Line{Kind: kind, Text: d.Barcode, Align: AlignCenter})
	}
	if d.QR != "" && (d.QR != d.Barcode || d.BarcodeAs != SymbologyQR) {
		add(Line{Kind: LineQR, Text: d.QR, Align: AlignCenter})
	}
	if len(d.Footer) > 0 {
		text("")
		for _, f := range d.Footer {
			wrapped(docFold(f), Line{Align: AlignCenter})
		}
	}
	if d.Copy {
		text("")
		wrapped(CopyMark, Line{Align: AlignCenter, Bold: true, Wide: true, Tall: true})
	}
	return lines
}

func docVATLines(lines []Line, vats []VATLine, w int) []Line {
	// A four-column table where it fits (48 and 42 columns), label/amount
	// pairs otherwise.
	cw := w / 4
	fits := w >= 40
	for _, v := range vats {
		if len(docAmount(v.Gross)) >= cw {
			fits = false
		}
	}
	if fits {
		first := w - 3*cw
		var sc []byte
		pad := func(n int) {
			for ; n > 0; n-- {
				sc = append(sc, ' ')
			}
		}
		lines = append(lines, Line{Text: docPadRight("Moms %", first) + docPadLeft("Moms", cw) + docPadLeft("Netto", cw) + docPadLeft("Brutto", cw)})
		for _, v := range vats {
			sc = append(sc[:0], v.Rate...)
			pad(first - len(v.Rate))
			for _, a := range [3]money.Amount{v.VAT, v.Net, v.Gross} {
				var nb [24]byte
				num := docAppendAmount(nb[:0], a)
				pad(cw - len(num))
				sc = append(sc, num...)
			}
			lines = append(lines, Line{Text: string(sc)})
		}
		return lines
	}
	for _, v := range vats {
		for _, lr := range [2][2]string{{"Moms " + v.Rate + "%", docAmount(v.VAT)}, {"  Netto", docAmount(v.Net)}} {
			if utf8.RuneCountInString(lr[0])+1+utf8.RuneCountInString(lr[1]) <= w {
				lines = append(lines, Line{Text: docLeftRight(lr[0], lr[1], w)})
				continue
			}
			for _, t := range docLeftRightLines(lr[0], lr[1], w) {
				lines = append(lines, Line{Text: t})
			}
		}
	}
	return lines
}

// VATLine is the VAT of one rate on a receipt.
type VATLine struct {
	Rate  string       // as given on the rows, e.g. "25"
	Gross money.Amount // sum of the rows' totals at this rate, VAT included
	VAT   money.Amount // VATPart(Gross, Rate)
	Net   money.Amount // Gross - VAT
}

// VATSummary sums the rows' totals per VAT rate (highest rate first) and
// computes each rate's VAT from the sum, as Swedish receipts show it.
func (d Document) VATSummary() ([]VATLine, error) {
	type acc struct {
		rate   string
		scaled int64
		gross  money.Amount
	}
	var accs []acc
	for _, r := range d.Rows {
		scaled, err := docParseRate(r.TaxRate)
		if err != nil {
			return nil, err
		}
		found := false
		for i := range accs {
			if accs[i].scaled == scaled {
				accs[i].gross += r.Total
				found = true
				break
			}
		}
		if !found {
			accs = append(accs, acc{rate: docCanonRate(scaled), scaled: scaled, gross: r.Total})
		}
	}
	for i := 1; i < len(accs); i++ { // few rates: insertion sort, highest first
		for j := i; j > 0 && accs[j].scaled > accs[j-1].scaled; j-- {
			accs[j], accs[j-1] = accs[j-1], accs[j]
		}
	}
	out := make([]VATLine, 0, len(accs))
	for _, a := range accs {
		v := docVAT(a.gross, a.scaled)
		out = append(out, VATLine{Rate: a.rate, Gross: a.gross, VAT: v, Net: a.gross - v})
	}
	return out, nil
}

// docRateScale: rates carry up to four decimals ("12.5", "6.25").
const docRateScale = 10000

// VATPart returns the VAT contained in a gross (VAT-inclusive) amount at
// rate percent: gross*rate/(100+rate), computed exactly on integers and
// rounded half-up to the öre (half away from zero for negative amounts, so
// a refund's VAT mirrors the sale's). rate is exact decimal text ("25",
// "12", "6", "0", "12.5").
func VATPart(gross money.Amount, rate string) (money.Amount, error) {
	scaled, err := docParseRate(rate)
	if err != nil {
		return 0, err
	}
	return docVAT(gross, scaled), nil
}

func docVAT(gross money.Amount, scaled int64) money.Amount {
	if scaled == 0 || gross == 0 {
		return 0
	}
	g := int64(gross)
	neg := g < 0
	if neg {
		g = -g
	}
	den := 100*docRateScale + scaled
	var q int64
	if g < 1<<40 && scaled < 1<<20 {
		num := g * scaled
		q = (2*num + den) / (2 * den)
	} else {
		num := new(big.Int).Mul(big.NewInt(g), big.NewInt(scaled))
		num.Mul(num, big.NewInt(2)).Add(num, big.NewInt(den))
		q = num.Quo(num, big.NewInt(2*den)).Int64()
	}
	if neg {
		q = -q
	}
	return money.Amount(q)
}

func docParseRate(s string) (int64, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSpace(strings.TrimSuffix(t, "%"))
	var ip, fp int64
	var ni, nf int
	dot := false
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c == '.' && !dot:
			dot = true
		case c >= '0' && c <= '9' && !dot:
			ip = ip*10 + int64(c-'0')
			ni++
		case c >= '0' && c <= '9' && dot:
			fp = fp*10 + int64(c-'0')
			nf++
		default:
			return 0, fmt.Errorf("vat rate %q: want a percent such as 25 or 12.5", s)
		}
	}
	if ni == 0 || ni > 3 || nf > 4 || (dot && nf == 0) {
		return 0, fmt.Errorf("vat rate %q: want a percent such as 25 or 12.5", s)
	}
	for ; nf < 4; nf++ {
		fp *= 10
	}
	v := ip*docRateScale + fp
	if v > 100*docRateScale {
		return 0, fmt.Errorf("vat rate %q: want a percent from 0 to 100", s)
	}
	return v, nil
}

func docCanonRate(scaled int64) string {
	s := strconv.FormatInt(scaled/docRateScale, 10)
	if f := scaled % docRateScale; f != 0 {
		s += "." + strings.TrimRight(fmt.Sprintf("%04d", f), "0")
	}
	return s
}

// docAmount formats an amount like money.Amount.String, without fmt.
func docAmount(a money.Amount) string {
	var buf [24]byte
	return string(docAppendAmount(buf[:0], a))
}

func docAppendAmount(b []byte, a money.Amount) []byte {
	v := int64(a)
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	b = strconv.AppendInt(b, v/100, 10)
	c := v % 100
	return append(b, '.', byte('0'+c/10), byte('0'+c%10))
}

// docFold replaces typographic characters that change width when a printer
// falls back to ASCII (quotes, dashes, the ellipsis, special spaces) and
// line breaks, so column arithmetic holds on every code page. Characters
// the printer pages carry themselves (å ä ö é €) are kept.
func docFold(s string) string {
	if !docNeedsFold(s) {
		return s
	}
	var sb strings.Builder
	sb.Grow(len(s))
	for _, r := range s {
		switch {
		case r < 0x20 || r == 0x7F:
			sb.WriteByte(' ')
		case r == '€' || r == '©' || r == '®' || r == '×' || r == '·' || r == '«' || r == '»' || r == '´':
			sb.WriteRune(r)
		default:
			if fb, ok := ASCIIFallback(r); ok {
				sb.WriteString(fb)
			} else {
				sb.WriteRune(r)
			}
		}
	}
	return sb.String()
}

func docNeedsFold(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7F {
			return true
		}
		if c >= utf8.RuneSelf {
			for _, r := range s[i:] {
				if r < 0x20 || r == 0x7F {
					return true
				}
				if r >= 0x2000 || r == '\u00A0' || r == '\u00AD' || r == '\u00B4' {
					if _, ok := ASCIIFallback(r); ok && r != '€' {
						return true
					}
				}
			}
			return false
		}
	}
	return false
}

const docSpaceRun = "                                                                "

func docAppendSpaces(b []byte, n int) []byte {
	for n > len(docSpaceRun) {
		b = append(b, docSpaceRun...)
		n -= len(docSpaceRun)
	}
	if n > 0 {
		b = append(b, docSpaceRun[:n]...)
	}
	return b
}

// docLeftRightLines puts a label and an amount on one line w wide when both
// fit, and otherwise the label, wrapped, above the amount alone on the
// right: neither is ever cut.
func docLeftRightLines(left, right string, w int) []string {
	if utf8.RuneCountInString(left)+1+utf8.RuneCountInString(right) <= w {
		return []string{docLeftRight(left, right, w)}
	}
	return append(docWrap(left, w), docPadLeft(right, w))
}

// docLeftRight puts left and right on one line w wide, truncating left so
// right (an amount) always shows in full.
func docLeftRight(left, right string, w int) string {
	rn := utf8.RuneCountInString(right)
	lw := w - rn - 1
	if lw < 0 {
		return docTruncate(right, w)
	}
	left = docTruncate(left, lw)
	pad := w - utf8.RuneCountInString(left) - rn
	var sb strings.Builder
	sb.Grow(len(left) + pad + len(right))
	sb.WriteString(left)
	for ; pad > len(docSpaceRun); pad -= len(docSpaceRun) {
		sb.WriteString(docSpaceRun)
	}
	sb.WriteString(docSpaceRun[:pad])
	sb.WriteString(right)
	return sb.String()
}

func docPadLeft(s string, w int) string {
	if n := utf8.RuneCountInString(s); n < w {
		return strings.Repeat(" ", w-n) + s
	}
	return s
}

func docPadRight(s string, w int) string {
	if n := utf8.RuneCountInString(s); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return docTruncate(s, w)
}

// docTruncate cuts s to w runes, marking the cut with a final '.'.
func docTruncate(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= w {
		return s
	}
	i, n := 0, 0
	for i < len(s) && n < w-1 {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		n++
	}
	return s[:i] + "."
}

// docWrap wraps s at spaces into lines of at most w runes; a word longer
// than a line is split across lines. Nothing is cut: every character of s
// except the spaces at the breaks is on some line.
func docWrap(s string, w int) []string {
	s = strings.TrimSpace(s)
	if w <= 0 {
		w = 1
	}
	if utf8.RuneCountInString(s) <= w {
		return []string{s}
	}
	var out []string
	for s != "" {
		if utf8.RuneCountInString(s) <= w {
			out = append(out, s)
			break
		}
		// byte offset of rune w
		cut, n := 0, 0
		for cut < len(s) && n < w {
			_, size := utf8.DecodeRuneInString(s[cut:])
			cut += size
			n++
		}
		line, rest := s[:cut], s[cut:]
		if rest[0] != ' ' {
			// Break at the last space, unless the word cut here is longer
			// than a line anyway (a receipt number, a reference): then fill
			// this line, so the label stays beside its value.
			if sp := strings.LastIndexByte(line, ' '); sp > 0 {
				end := strings.IndexByte(rest, ' ')
				if end < 0 {
					end = len(rest)
				}
				if utf8.RuneCountInString(s[sp+1:cut+end]) <= w {
					line, rest = s[:sp], s[sp:]
				}
			}
		}
		out = append(out, strings.TrimRight(line, " "))
		s = strings.TrimLeft(rest, " ")
	}
	return out
}
