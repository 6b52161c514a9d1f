package receipt

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Preview raster: a 6x11 cell (5x9 glyph, 1 px spacing, 2 px leading)
// drawn at twice its size, so 48 columns make 576 px, the dot width of
// 80 mm paper.
const (
	docCellW = 6
	docCellH = 11
	docScale = 2
	docPadPx = 12
)

// PNG writes a picture of the receipt, columns characters wide, in
// Stockholm time, for `posd receipt render --format png`. It is a preview:
// text in posd's built-in bitmap font with bold and double size as
// printed; barcodes and QR codes are drawn as labelled boxes, not as
// scannable symbols.
func (d Document) PNG(w io.Writer, columns int) error {
	return LinesPNG(w, d.Lines(columns, Stockholm()), columns)
}

// LinesPNG draws laid-out lines as a PNG.
func LinesPNG(w io.Writer, lines []Line, columns int) error {
	columns = docColumns(columns)
	width := columns*docCellW*docScale + 2*docPadPx
	height := 2 * docPadPx
	for _, l := range lines {
		height += docLineHeight(l, columns)
	}
	img := image.NewGray(image.Rect(0, 0, width, height))
	for i := range img.Pix {
		img.Pix[i] = 0xFF
	}
	y := docPadPx
	for _, l := range lines {
		switch l.Kind {
		case LineBarcode, LineQR:
			label := "Code 128: " + l.Text
			if l.Kind == LineQR {
				label = "QR: " + l.Text
			}
			// The label wraps inside the box: the whole value shows.
			parts := docWrap(label, columns-2)
			h := docLineHeight(l, columns)
			docBox(img, docPadPx, y+4, width-docPadPx, y+h-4)
			ty := y + h/2 - len(parts)*docCellH*docScale/2
			for _, part := range parts {
				docText(img, part, width, ty, Line{Align: AlignCenter}, 1, 1)
				ty += docCellH * docScale
			}
		default:
			sx, sy := 1, 1
			if l.Wide {
				sx = 2
			}
			if l.Tall {
				sy = 2
			}
			docText(img, l.Text, width, y, l, sx, sy)
		}
		y += docLineHeight(l, columns)
	}
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("encode receipt png: %w", err)
	}
	return nil
}

func docLineHeight(l Line, columns int) int {
	switch l.Kind {
	case LineBarcode, LineQR:
		label := "Code 128: " + l.Text
		base := 4
		if l.Kind == LineQR {
			label, base = "QR: "+l.Text, 6
		}
		if n := len(docWrap(label, columns-2)) + 2; n > base {
			base = n
		}
		return base * docCellH * docScale
	}
	if l.Tall {
		return 2 * docCellH * docScale
	}
	return docCellH * docScale
}

func docBox(img *image.Gray, x0, y0, x1, y1 int) {
	black := color.Gray{}
	for x := x0; x < x1; x++ {
		img.SetGray(x, y0, black)
		img.SetGray(x, y1-1, black)
	}
	for y := y0; y < y1; y++ {
		img.SetGray(x0, y, black)
		img.SetGray(x1-1, y, black)
	}
}

func docText(img *image.Gray, s string, width, y int, l Line, sx, sy int) {
	cw := docCellW * docScale * sx
	textW := utf8.RuneCountInString(s) * cw
	x := docPadPx
	switch l.Align {
	case AlignCenter:
		x = (width - textW) / 2
	case AlignRight:
		x = width - docPadPx - textW
	}
	if x < 0 {
		x = 0
	}
	for _, r := range s {
		g, ok := docFont[r]
		if !ok {
			g = docFont['?']
			if fb, fok := ASCIIFallback(r); fok && len(fb) == 1 {
				g = docFont[rune(fb[0])]
			} else if base, _ := utf8.DecodeRuneInString(norm.NFD.String(string(r))); base != r {
				if bg, bok := docFont[base]; bok {
					g = bg // û -> u: the letter without its accent
				}
			}
		}
		docGlyph(img, g, x, y, docScale*sx, docScale*sy, l.Bold)
		if l.Underline {
			for px := x; px < x+cw; px++ {
				img.SetGray(px, y+docCellH*docScale*sy-1, color.Gray{})
			}
		}
		x += cw
	}
}

func docGlyph(img *image.Gray, g [9]uint8, x, y, sx, sy int, bold bool) {
	black := color.Gray{}
	for row := 0; row < 9; row++ {
		bits := g[row]
		for col := 0; col < 5; col++ {
			if bits&(0x10>>col) == 0 {
				continue
			}
			w := sx
			if bold {
				w += sx / 2 // emphasis: each dot a little wider, as a printer does
			}
			for dy := 0; dy < sy; dy++ {
				for dx := 0; dx < w; dx++ {
					img.SetGray(x+col*sx+dx, y+row*sy+dy, black)
				}
			}
		}
	}
}
