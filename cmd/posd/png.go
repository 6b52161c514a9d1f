package main

import (
	"image"
	"image/color"
	"image/png"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/posd/posd/internal/printer/escposdecode"
)

// A printer's Font A cell is 12 x 24 dots; 48 of them fill 576 dots of 80 mm
// paper. The preview draws one dot per pixel, so the image is as wide as the
// paper and a person sees the layout the printer makes.
const (
	cellW   = 12
	cellH   = 24
	marginY = 12
)

type glyph [7]string

// parseFont reads font5x7 (see font.go).
func parseFont() map[rune]glyph {
	f := map[rune]glyph{}
	lines := strings.Split(font5x7, "\n")
	for i := 0; i < len(lines); i++ {
		name, ok := strings.CutPrefix(lines[i], "=")
		if !ok || i+7 >= len(lines) {
			continue
		}
		r, _ := utf8.DecodeRuneInString(name)
		var g glyph
		copy(g[:], lines[i+1:i+8])
		f[r] = g
		i += 7
	}
	return f
}

// renderPNG draws the decoded paper: text in its width, height, boldness and
// alignment, barcodes and QR codes as labelled boxes (the preview shows where
// they go and what they hold; the printer draws the symbols), cuts as dashes.
func renderPNG(w io.Writer, p escposdecode.Paper, columns int) error {
	font := parseFont()
	width := columns * cellW
	height := 2 * marginY
	for _, it := range p.Items {
		height += itemHeight(it)
	}
	img := image.NewGray(image.Rect(0, 0, width, height))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	y := marginY
	for _, it := range p.Items {
		h := itemHeight(it)
		switch it.Kind {
		case escposdecode.ItemLine:
			drawLine(img, font, it, y, width)
		case escposdecode.ItemBarcode:
			drawBox(img, font, "Code 128: "+it.Text, y, width, h)
		case escposdecode.ItemQR:
			drawBox(img, font, "QR: "+it.Text, y, width, h)
		case escposdecode.ItemCut:
			for x := 0; x < width; x += 8 {
				for dx := 0; dx < 4 && x+dx < width; dx++ {
					img.SetGray(x+dx, y+h/2, color.Gray{})
				}
			}
		}
		y += h
	}
	return png.Encode(w, img)
}

func itemHeight(it escposdecode.Item) int {
	switch it.Kind {
	case escposdecode.ItemLine:
		return cellH * it.MaxHeight()
	case escposdecode.ItemBarcode:
		return 4 * cellH
	case escposdecode.ItemQR:
		return 6 * cellH
	case escposdecode.ItemCut:
		return cellH
	}
	return 0
}

func drawLine(img *image.Gray, font map[rune]glyph, it escposdecode.Item, y, width int) {
	lineW := 0
	for _, s := range it.Spans {
		lineW += utf8.RuneCountInString(s.Text) * cellW * max(1, s.Style.Width)
	}
	x := 0
	switch {
	case it.Align == 1 && lineW < width:
		x = (width - lineW) / 2
	case it.Align == 2 && lineW < width:
		x = width - lineW
	}
	base := y + cellH*it.MaxHeight()
	for _, s := range it.Spans {
		sw, sh := max(1, s.Style.Width), max(1, s.Style.Height)
		for _, r := range s.Text {
			drawGlyph(img, font, r, x, base-cellH*sh, sw, sh, s.Style.Bold)
			x += cellW * sw
		}
	}
}

// drawGlyph draws r in the cell at (x, y), each font pixel 2x2 dots scaled by
// the character size; bold is the printer's double strike, one dot to the right.
func drawGlyph(img *image.Gray, font map[rune]glyph, r rune, x, y, sw, sh int, bold bool) {
	if r == ' ' {
		return
	}
	g, ok := font[r]
	if !ok {
		g = font['?']
	}
	px, py := 2*sw, 2*sh
	ox, oy := x+sw, y+5*sh
	for row, line := range g {
		for col := 0; col < len(line); col++ {
			if line[col] != '#' {
				continue
			}
			for dy := 0; dy < py; dy++ {
				for dx := 0; dx < px; dx++ {
					img.SetGray(ox+col*px+dx, oy+row*py+dy, color.Gray{})
					if bold {
						img.SetGray(ox+col*px+dx+1, oy+row*py+dy, color.Gray{})
					}
				}
			}
		}
	}
}

// drawBox frames a symbol's place on the paper and writes what it holds.
func drawBox(img *image.Gray, font map[rune]glyph, label string, y, width, h int) {
	x0, x1 := width/8, width-width/8
	y0, y1 := y+4, y+h-4
	for x := x0; x <= x1; x++ {
		img.SetGray(x, y0, color.Gray{})
		img.SetGray(x, y1, color.Gray{})
	}
	for yy := y0; yy <= y1; yy++ {
		img.SetGray(x0, yy, color.Gray{})
		img.SetGray(x1, yy, color.Gray{})
	}
	room := (x1 - x0 - cellW) / cellW
	if n := utf8.RuneCountInString(label); n > room {
		label = string([]rune(label)[:room])
	}
	x := (width - utf8.RuneCountInString(label)*cellW) / 2
	for _, r := range label {
		drawGlyph(img, font, r, x, y+(h-cellH)/2, 1, 1, false)
		x += cellW
	}
}
