package printer

import (
	"fmt"
	"time"

	"github.com/posd/posd/internal/receipt"
)

// ReceiptOptions says how a receipt.Document is printed.
type ReceiptOptions struct {
	Codepage      Codepage
	Columns       int            // 48, 42 or 32 (Font A on 80 mm/576, 80 mm/512, 58 mm/384 dots)
	PaperDots     int            // printable width in dots; 0 derives it from Columns
	Location      *time.Location // nil: Europe/Stockholm
	CancelKanji   bool           // send FS . after ESC @ (printers whose default is a Chinese set)
	FullCut       bool           // GS V 65 instead of the partial GS V 66
	CutFeed       byte           // motion units fed past the cutter position before cutting
	Confirm       bool           // end with GS r 1 (only where the transport can read the reply)
	BarcodeHeight byte           // dots; 0 means 80
	QRSize        byte           // module size 1..16; 0 means 6
}

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

// EncodeDocument appends the ESC/POS job for d to dst: prologue, the laid-out
// lines (receipt.Document.Lines) with only the style changes they need,
// barcode and QR, feed and cut, and GS r 1 when o.Confirm. A barcode that
// does not fit the paper fails the whole encoding (wrapping
// ErrBarcodeTooWide) before anything is sent; the caller may print the
// document without it.
func EncodeDocument(dst []byte, d receipt.Document, o ReceiptOptions) ([]byte, error) {
	cols := o.Columns
	if cols <= 0 {
		cols = 48
	}
	dots := o.PaperDots
	if dots <= 0 {
		dots = PaperDots(cols)
	}
	loc := o.Location
	if loc == nil {
		loc = receipt.Stockholm()
	}
	cp := o.Codepage
	if cp.cm == nil {
		cp, _ = ParseCodepage(DefaultCodepage)
	}
	qrSize := o.QRSize
	if qrSize == 0 {
		qrSize = 6
	}
	e := Encoder{buf: dst, cp: cp}
	e.Prologue(o.CancelKanji)

	var bold, underline bool
	var align receipt.LineAlign
	w, h := 1, 1
	for _, l := range d.Lines(cols, loc) {
		if l.Align != align && (l.Kind != receipt.LineText || l.Text != "") {
			e.Align(Align(l.Align))
			align = l.Align
		}
		switch l.Kind {
		case receipt.LineBarcode:
			if err := e.Code128(l.Text, dots, o.BarcodeHeight); err != nil {
				return dst, fmt.Errorf("encode receipt %s: %w", d.SaleID, err)
			}
			e.Newline()
			continue
		case receipt.LineQR:
			if err := e.QR(l.Text, qrSize, QRLevelM); err != nil {
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
