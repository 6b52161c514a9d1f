package escposdecode

import (
	"strings"
	"unicode/utf8"
)

// ItemKind says what a paper item is.
type ItemKind string

const (
	ItemLine    ItemKind = "line"
	ItemBarcode ItemKind = "barcode"
	ItemQR      ItemKind = "qr"
	ItemCut     ItemKind = "cut"
	ItemDrawer  ItemKind = "drawer"
	ItemConfirm ItemKind = "confirm" // GS r 1
	ItemStatus  ItemKind = "status"  // DLE EOT n
	ItemImage   ItemKind = "image"   // GS v 0 raster (bands printed back to back joined)
)

// Span is a run of text in one style.
type Span struct {
	Text  string
	Style Style
}

// Item is one thing that happens on paper (or to the printer), in order.
type Item struct {
	Kind  ItemKind
	Text  string // line text, barcode value, QR data
	Spans []Span // ItemLine
	Align byte   // alignment of the line, barcode or QR
	// Barcode: ValidPrefix says the data started with {A/{B/{C; ModuleWidth is GS w.
	ValidPrefix bool
	ModuleWidth byte
	QRSize      byte
	Partial     bool // ItemCut
	Pin         int  // ItemDrawer: 2 or 5
	OnMs, OffMs int  // ItemDrawer
	// Image is the raster of an ItemImage, and of an ItemQR printed as an
	// image (ReadQR read it); ECI is such a QR code's ECI assignment number.
	Image Image
	ECI   int
}

// Bold reports whether every non-blank character of a line is bold.
func (it Item) Bold() bool {
	any := false
	for _, s := range it.Spans {
		if strings.TrimSpace(s.Text) == "" {
			continue
		}
		if !s.Style.Bold {
			return false
		}
		any = true
	}
	return any
}

// MaxWidth is the largest character width multiplier on a line.
func (it Item) MaxWidth() int {
	w := 1
	for _, s := range it.Spans {
		if s.Style.Width > w {
			w = s.Style.Width
		}
	}
	return w
}

// MaxHeight is the largest character height multiplier on a line.
func (it Item) MaxHeight() int {
	h := 1
	for _, s := range it.Spans {
		if s.Style.Height > h {
			h = s.Style.Height
		}
	}
	return h
}

// Paper is what a job puts on paper, in order.
type Paper struct {
	Items []Item
}

// Lines returns the text lines.
func (p Paper) Lines() []Item { return p.kind(ItemLine) }

// Barcodes returns the barcodes.
func (p Paper) Barcodes() []Item { return p.kind(ItemBarcode) }

// QRs returns the QR codes.
func (p Paper) QRs() []Item { return p.kind(ItemQR) }

// Cuts returns the cuts.
func (p Paper) Cuts() []Item { return p.kind(ItemCut) }

func (p Paper) kind(k ItemKind) []Item {
	var out []Item
	for _, it := range p.Items {
		if it.Kind == k {
			out = append(out, it)
		}
	}
	return out
}

// FindLine returns the first line containing s.
func (p Paper) FindLine(s string) (Item, bool) {
	for _, it := range p.Items {
		if it.Kind == ItemLine && strings.Contains(it.Text, s) {
			return it, true
		}
	}
	return Item{}, false
}

// Render plays commands onto paper: text runs accumulate into a line until
// LF (or a command that prints, such as a barcode or a cut, which ends the
// line first).
func Render(cmds []Cmd) Paper {
	var p Paper
	var cur *Item
	var qrData string
	var qrSize byte
	var moduleW byte = 3
	flush := func(force bool) {
		if cur != nil {
			p.Items = append(p.Items, *cur)
			cur = nil
		} else if force {
			p.Items = append(p.Items, Item{Kind: ItemLine})
		}
	}
	prev := ""
	for _, c := range cmds {
		prevOp := prev
		prev = c.Op
		switch c.Op {
		case "TEXT":
			if cur == nil {
				cur = &Item{Kind: ItemLine, Align: c.Style.Align}
			}
			cur.Text += c.Text
			if n := len(cur.Spans); n > 0 && cur.Spans[n-1].Style == c.Style {
				cur.Spans[n-1].Text += c.Text
			} else {
				cur.Spans = append(cur.Spans, Span{Text: c.Text, Style: c.Style})
			}
		case "LF":
			flush(true)
		case "ESC d":
			flush(false)
			for i := 0; i < int(c.Args[0]); i++ {
				p.Items = append(p.Items, Item{Kind: ItemLine})
			}
		case "GS w":
			moduleW = c.Args[0]
		case "GS k":
			flush(false)
			it := Item{Kind: ItemBarcode, Text: c.Text, Align: c.Style.Align, ModuleWidth: moduleW}
			if c.Args[0] == 73 {
				it.Text, it.ValidPrefix = Code128Value(c.Data)
			}
			p.Items = append(p.Items, it)
		case "GS ( k":
			if len(c.Data) >= 2 && c.Data[0] == 49 {
				switch c.Data[1] {
				case 67:
					if len(c.Data) >= 3 {
						qrSize = c.Data[2]
					}
				case 80:
					if len(c.Data) >= 3 {
						qrData = string(c.Data[3:])
					}
				case 81:
					flush(false)
					p.Items = append(p.Items, Item{Kind: ItemQR, Text: qrData, Align: c.Style.Align, QRSize: qrSize})
				}
			}
		case "GS V":
			flush(false)
			m := c.Args[0]
			p.Items = append(p.Items, Item{Kind: ItemCut, Partial: m == 1 || m == 49 || m == 66 || m == 98 || m == 104})
		case "ESC p":
			it := Item{Kind: ItemDrawer, Pin: 2, OnMs: 2 * int(c.Args[1]), OffMs: 2 * int(c.Args[2])}
			if c.Args[0]&1 == 1 {
				it.Pin = 5
			}
			p.Items = append(p.Items, it)
		case "GS v":
			flush(false)
			if len(c.Args) < 6 || c.Args[0] != 0x30 {
				continue
			}
			w := 8 * (int(c.Args[2]) + int(c.Args[3])*256)
			h := int(c.Args[4]) + int(c.Args[5])*256
			if n := len(p.Items); n > 0 && p.Items[n-1].Kind == ItemImage && p.Items[n-1].Image.Width == w && prevOp == "GS v" {
				last := &p.Items[n-1]
				last.Image.Height += h
				last.Image.Bits = append(last.Image.Bits, c.Data...)
			} else {
				p.Items = append(p.Items, Item{Kind: ItemImage, Align: c.Style.Align, Image: Image{Width: w, Height: h, Bits: append([]byte(nil), c.Data...)}})
			}
		case "GS r":
			p.Items = append(p.Items, Item{Kind: ItemConfirm})
		case "DLE EOT":
			p.Items = append(p.Items, Item{Kind: ItemStatus, Text: string('0' + c.Args[0])})
		}
	}
	flush(false)
	// A raster that is a QR code (posd prints one so when the data needs an
	// ECI) is shown as the QR code it is.
	for i := range p.Items {
		if it := &p.Items[i]; it.Kind == ItemImage {
			if q, ok := ReadQR(it.Image); ok {
				it.Kind, it.Text, it.ECI = ItemQR, q.Text, q.ECI
			}
		}
	}
	return p
}

// Text renders paper as plain text columns wide: a readable copy of a job.
func (p Paper) Text(columns int) string {
	var sb strings.Builder
	for _, it := range p.Items {
		var s string
		switch it.Kind {
		case ItemLine:
			s = it.Text
			if it.MaxWidth() > 1 {
				var spaced strings.Builder
				for i, r := range s {
					if i > 0 {
						spaced.WriteByte(' ')
					}
					spaced.WriteRune(r)
				}
				s = spaced.String()
			}
		case ItemBarcode:
			s = "[Code 128: " + it.Text + "]"
		case ItemQR:
			s = "[QR: " + it.Text + "]"
		case ItemCut:
			s = strings.Repeat("- ", columns/2) + "(cut)"
			sb.WriteString(s + "\n")
			continue
		case ItemDrawer:
			s = "[drawer kick]"
		case ItemImage:
			s = "[image " + itoa(it.Image.Width) + "x" + itoa(it.Image.Height) + "]"
		default:
			continue
		}
		n := utf8.RuneCountInString(s)
		switch {
		case it.Align == 1 && n < columns:
			s = strings.Repeat(" ", (columns-n)/2) + s
		case it.Align == 2 && n < columns:
			s = strings.Repeat(" ", columns-n) + s
		}
		sb.WriteString(strings.TrimRight(s, " "))
		sb.WriteByte('\n')
	}
	return sb.String()
}
