package printer

import (
	"fmt"
	"slices"
	"time"

	"github.com/posd/posd/internal/receipt"
)

// ReceiptOptions says how a receipt.Document is printed.
type ReceiptOptions struct {
	Codepage      Codepage
	Columns       int            // 48, 42 or 32 (Font A on 80 mm/576, 80 mm/512, 58 mm/384 dots)
	PaperDots     int            // printable width in dots; 0 derives it from Columns
	MarginDots    int            // blank paper beyond the printable width on each side; 0 means PaperMarginDots
	Location      *time.Location // nil: Europe/Stockholm
	CancelKanji   bool           // send FS . after ESC @ (printers whose default is a Chinese set)
	FullCut       bool           // GS V 65 instead of the partial GS V 66
	CutFeed       byte           // motion units fed past the cutter position before cutting
	Confirm       bool           // end with GS r 1 (only where the transport can read the reply)
	BarcodeHeight byte           // dots; 0 means 80
	QRSize        byte           // largest module size in dots, 2..16; 0 means 6
}

// PaperMarginDots is the blank paper each side of the printable width that
// every supported printer leaves at least: 58 mm paper around 48 mm of print
// (384 dots), 80 mm paper around 72 mm (576) or 64 mm (512); with paper
// widths down to their -0.5 mm tolerance that is 3.5 mm or more, and posd
// counts 3 mm (24 dots at 8 dots/mm). A code's quiet zone may lie in it: it
// only has to be blank.
const PaperMarginDots = 24

// PaperDots is the printable width of the paper a column count implies.
func PaperDots(columns int) int {
	switch columns {
	case 48:
		return 576
	case 42:
		return 512
	case 32:
		return 384
	}
	return columns * 12
}

// resolved fills in the defaults of o.
func (o ReceiptOptions) resolved() ReceiptOptions {
	if o.Columns <= 0 {
		o.Columns = 48
	}
	if o.PaperDots <= 0 {
		o.PaperDots = PaperDots(o.Columns)
	}
	if o.MarginDots <= 0 {
		o.MarginDots = PaperMarginDots
	}
	if o.Location == nil {
		o.Location = receipt.Stockholm()
	}
	if o.Codepage.cm == nil {
		o.Codepage, _ = ParseCodepage(DefaultCodepage)
	}
	if o.QRSize == 0 {
		o.QRSize = 6
	}
	return o
}

// Layout lays d out for the paper o describes: what the printer prints,
// line by line. It is the one decision about codes, made by EncodeDocument
// for the print worker and by `posd receipt render` for its text, picture
// and bytes, so a preview shows what the printer prints and never fails
// where the printer would print:
//
//   - a Code 128 prints when its bars fit the printable width and its quiet
//     zones the blank paper beside them (margin included), at the widest
//     module that does; otherwise, or when its value has characters Code 128
//     cannot carry, the same value prints as a QR code;
//   - a QR code prints at the largest module size (up to o.QRSize) that fits
//     with its quiet zone; one that cannot fit even at 2 dots a module is
//     left out (the reference is printed as text on every receipt). Plain
//     ASCII goes to the printer's own QR command (GS ( k); anything else is
//     encoded by posd with an ECI 26 (UTF-8) segment, so strict scanners
//     read it right, and printed as a raster image (GS v 0).
//
// Each code line carries its module size in Line.Module.
func Layout(d receipt.Document, o ReceiptOptions) []receipt.Line {
	o = o.resolved()
	lines := d.Lines(o.Columns, o.Location)
	out := lines[:0]
	var qrs []string
	for _, l := range lines {
		if l.Kind == receipt.LineBarcode {
			if _, symbols, err := Code128Data(l.Text); err == nil {
				if w, err := Code128ModuleWidth(symbols, o.PaperDots, o.MarginDots); err == nil {
					l.Module = w
					out = append(out, l)
					continue
				}
			}
			l.Kind = receipt.LineQR // a Code 128 that cannot print: its value as a QR code
		}
		if l.Kind == receipt.LineQR {
			if slices.Contains(qrs, l.Text) {
				continue // the same QR code once is enough
			}
			v, err := QRVersion(len(l.Text), qrECIBits(l.Text))
			if err != nil {
				continue
			}
			size, err := QRModuleSize(v, o.PaperDots, o.MarginDots, o.QRSize)
			if err != nil {
				continue
			}
			l.Module = int(size)
			qrs = append(qrs, l.Text)
		}
		out = append(out, l)
	}
	return out
}

// EncodeDocument appends the ESC/POS job for d to dst: prologue, the lines
// of Layout with only the style changes they need, its codes, feed and cut,
// and GS r 1 when o.Confirm. Layout has already decided every code for the
// paper, so encoding does not fail on a code; an error leaves dst as it was.
func EncodeDocument(dst []byte, d receipt.Document, o ReceiptOptions) ([]byte, error) {
	o = o.resolved()
	e := Encoder{buf: dst, cp: o.Codepage}
	e.Prologue(o.CancelKanji)

	var bold, underline bool
	var align receipt.LineAlign
	w, h := 1, 1
	for _, l := range Layout(d, o) {
		if l.Align != align && (l.Kind != receipt.LineText || l.Text != "") {
			e.Align(Align(l.Align))
			align = l.Align
		}
		switch l.Kind {
		case receipt.LineBarcode:
			data, _, err := Code128Data(l.Text)
			if err != nil {
				return dst, fmt.Errorf("encode receipt %s: %w", d.SaleID, err)
			}
			e.code128(data, l.Module, o.BarcodeHeight)
			e.Newline()
			continue
		case receipt.LineQR:
			if qrNeedsECI(l.Text) {
				// Not plain ASCII: GS ( k cannot mark the character set, so
				// posd encodes the symbol (ECI 26, UTF-8) and prints it as an
				// image.
				sym, err := EncodeQR([]byte(l.Text), ECIUTF8)
				if err != nil {
					return dst, fmt.Errorf("encode receipt %s: %w", d.SaleID, err)
				}
				e.QRRaster(sym, l.Module)
				e.Newline()
				continue
			}
			if err := e.QR(l.Text, byte(l.Module), QRLevelM); err != nil {
				return dst, fmt.Errorf("encode receipt %s: %w", d.SaleID, err)
			}
			e.Newline()
			continue
		}
		if l.Bold != bold {
			e.Bold(l.Bold)
			bold = l.Bold
		}
		if l.Underline != underline {
			e.Underline(b2u(l.Underline))
			underline = l.Underline
		}
		lw, lh := 1, 1
		if l.Wide {
			lw = 2
		}
		if l.Tall {
			lh = 2
		}
		if lw != w || lh != h {
			e.Size(lw, lh)
			w, h = lw, lh
		}
		e.Line(l.Text)
	}
	if bold {
		e.Bold(false)
	}
	if w != 1 || h != 1 {
		e.Size(1, 1)
	}
	if align != receipt.AlignLeft {
		e.Align(AlignLeft)
	}
	e.FeedCut(!o.FullCut, o.CutFeed)
	if o.Confirm {
		e.RequestConfirm()
	}
	return e.buf, nil
}
