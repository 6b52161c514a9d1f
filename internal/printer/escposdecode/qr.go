package escposdecode

import (
	"strings"
	"unicode/utf8"
)

// A reader of QR codes printed as raster images (GS v 0): clean, axis
// aligned symbols with square modules, as posd prints them for data its
// printer's own QR command cannot mark (ECI). It reads level M symbols
// (the level posd prints) without error correction: it is for tests and
// text previews, not for scanning paper. It is written apart from the
// encoder in package printer, so that the two check each other.

// qrECCPerBlockM and qrBlocksM are ISO/IEC 18004 table 9 at level M.
var (
	qrECCPerBlockM = [41]int{0, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26, 26, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28}
	qrBlocksM      = [41]int{0, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16, 17, 17, 18, 20, 21, 23, 25, 26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49}
)

// Image is a raster image: Width x Height dots, rows of (Width+7)/8 bytes,
// most significant bit leftmost, 1 dark.
type Image struct {
	Width, Height int
	Bits          []byte
}

// Dark reports whether the dot at x, y is dark.
func (im Image) Dark(x, y int) bool {
	if x < 0 || y < 0 || x >= im.Width || y >= im.Height {
		return false
	}
	stride := (im.Width + 7) / 8
	return im.Bits[y*stride+x/8]&(0x80>>uint(x%8)) != 0
}

// QRCode is what ReadQR found: the text (decoded by the ECI's character
// set, ISO 8859-1 without one) and the ECI assignment number (0: none).
type QRCode struct {
	Text    string
	ECI     int
	Version int
}

// ReadQR reads a level-M QR code that fills the image's dark area.
func ReadQR(im Image) (QRCode, bool) {
	// The top-left finder's first dark row gives the origin and, being 7
	// modules wide, the module size; the top-right finder ends the symbol.
	x0, y0 := -1, -1
	for y := 0; y < im.Height && x0 < 0; y++ {
		for x := 0; x < im.Width; x++ {
			if im.Dark(x, y) {
				x0, y0 = x, y
				break
			}
		}
	}
	if x0 < 0 {
		return QRCode{}, false
	}
	run := 0
	for im.Dark(x0+run, y0) {
		run++
	}
	if run%7 != 0 {
		return QRCode{}, false
	}
	mod := run / 7
	x1 := x0
	for x := x0; x < im.Width; x++ {
		if im.Dark(x, y0) {
			x1 = x
		}
	}
	size := (x1 - x0 + 1) / mod
	if size < 21 || (size-17)%4 != 0 || size > 177 {
		return QRCode{}, false
	}
	v := (size - 17) / 4
	at := func(x, y int) bool { return im.Dark(x0+x*mod+mod/2, y0+y*mod+mod/2) }

	// Format information, first copy, read around the top-left finder.
	var f int
	for i := 0; i <= 5; i++ {
		f |= b2i(at(8, i)) << uint(i)
	}
	f |= b2i(at(8, 7)) << 6
	f |= b2i(at(8, 8)) << 7
	f |= b2i(at(7, 8)) << 8
	for i := 9; i < 15; i++ {
		f |= b2i(at(14-i, 8)) << uint(i)
	}
	f ^= 0x5412
	data := f >> 10
	if qrFormatCode(data) != f || data>>3 != 0 { // 00 is level M
		return QRCode{}, false
	}
	mask := data & 7

	fn := qrFunctionMap(v, size)
	var cw []byte
	n := 0
	for right := size - 1; right >= 1; right -= 2 {
		if right == 6 {
			right = 5
		}
		for vert := 0; vert < size; vert++ {
			for j := 0; j < 2; j++ {
				x := right - j
				y := vert
				if (right+1)&2 == 0 {
					y = size - 1 - vert
				}
				if fn[y*size+x] {
					continue
				}
				if n%8 == 0 {
					cw = append(cw, 0)
				}
				if at(x, y) != qrMask(mask, x, y) {
					cw[n/8] |= 0x80 >> uint(n%8)
				}
				n++
			}
		}
	}
	raw := qrRawCodewords(v)
	if len(cw) < raw {
		return QRCode{}, false
	}
	cw = cw[:raw]
	// De-interleave the data codewords of each block.
	nb, ecc := qrBlocksM[v], qrECCPerBlockM[v]
	short := raw / nb
	nShort := nb - raw%nb
	blocks := make([][]byte, nb)
	k := 0
	for i := 0; i < short-ecc+1; i++ {
		for b := 0; b < nb; b++ {
			if i == short-ecc && b < nShort {
				continue
			}
			blocks[b] = append(blocks[b], cw[k])
			k++
		}
	}
	var stream []byte
	for _, b := range blocks {
		stream = append(stream, b...)
	}
	return qrSegments(stream, v)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func qrFormatCode(data int) int {
	rem := data
	for i := 0; i < 10; i++ {
		rem = rem<<1 ^ (rem>>9)*0x537
	}
	return data<<10 | rem&0x3FF
}

func qrMask(mask, x, y int) bool {
	switch mask {
	case 0:
		return (y+x)%2 == 0
	case 1:
		return y%2 == 0
	case 2:
		return x%3 == 0
	case 3:
		return (y+x)%3 == 0
	case 4:
		return (y/2+x/3)%2 == 0
	case 5:
		return (y*x)%2+(y*x)%3 == 0
	case 6:
		return ((y*x)%2+(y*x)%3)%2 == 0
	}
	return ((y+x)%2+(y*x)%3)%2 == 0
}

// qrRawCodewords is the number of codewords a version-v symbol holds:
// its area less the function patterns, format and version information.
func qrRawCodewords(v int) int {
	size := 17 + 4*v
	fn := qrFunctionMap(v, size)
	n := 0
	for _, f := range fn {
		if !f {
			n++
		}
	}
	return n / 8
}

// qrFunctionMap marks the modules that are not data: finders with their
// separators, timing patterns, alignment patterns, format and version
// information, and the dark module.
func qrFunctionMap(v, size int) []bool {
	fn := make([]bool, size*size)
	mark := func(x0, y0, w, h int) {
		for y := y0; y < y0+h; y++ {
			for x := x0; x < x0+w; x++ {
				if x >= 0 && y >= 0 && x < size && y < size {
					fn[y*size+x] = true
				}
			}
		}
	}
	mark(0, 0, 9, 9)      // top-left finder, separator, format
	mark(size-8, 0, 8, 9) // top-right finder, separator, format
	mark(0, size-8, 9, 8) // bottom-left finder, separator, format, dark module
	mark(6, 0, 1, size)   // timing
	mark(0, 6, size, 1)
	if v >= 2 {
		n := v/7 + 2
		pos := []int{6}
		step := 26
		if v != 32 {
			// spread the remaining centres evenly (rounded to even) back from size-7
			step = (v*4 + n*2 + 1) / (n*2 - 2) * 2
		}
		last := make([]int, 0, n-1)
		for i, p := 0, size-7; i < n-1; i, p = i+1, p-step {
			last = append([]int{p}, last...)
		}
		pos = append(pos, last...)
		for i, ax := range pos {
			for j, ay := range pos {
				if (i == 0 && j == 0) || (i == 0 && j == n-1) || (i == n-1 && j == 0) {
					continue
				}
				mark(ax-2, ay-2, 5, 5)
			}
		}
	}
	if v >= 7 {
		mark(size-11, 0, 3, 6)
		mark(0, size-11, 6, 3)
	}
	return fn
}

// qrSegments parses the data bit stream: ECI, byte, numeric and
// alphanumeric segments up to the terminator.
func qrSegments(stream []byte, v int) (QRCode, bool) {
	pos := 0
	read := func(n int) (int, bool) {
		if pos+n > len(stream)*8 {
			return 0, false
		}
		x := 0
		for i := 0; i < n; i++ {
			x = x<<1 | int(stream[(pos+i)/8]>>uint(7-(pos+i)%8)&1)
		}
		pos += n
		return x, true
	}
	cc := func(small, mid, large int) int {
		switch {
		case v < 10:
			return small
		case v < 27:
			return mid
		}
		return large
	}
	out := QRCode{Version: v}
	var raw []byte
	for {
		mode, ok := read(4)
		if !ok || mode == 0 {
			break
		}
		switch mode {
		case 0b0111:
			a, ok := read(8)
			if !ok {
				return QRCode{}, false
			}
			switch {
			case a&0x80 == 0:
			case a&0xC0 == 0x80:
				b, _ := read(8)
				a = (a&0x3F)<<8 | b
			default:
				b, _ := read(16)
				a = (a&0x1F)<<16 | b
			}
			out.ECI = a
		case 0b0100:
			n, ok := read(cc(8, 16, 16))
			if !ok {
				return QRCode{}, false
			}
			for i := 0; i < n; i++ {
				c, ok := read(8)
				if !ok {
					return QRCode{}, false
				}
				raw = append(raw, byte(c))
			}
		case 0b0001:
			n, ok := read(cc(10, 12, 14))
			if !ok {
				return QRCode{}, false
			}
			for ; n > 0; n -= 3 {
				d := min(n, 3)
				x, ok := read([4]int{0, 4, 7, 10}[d])
				if !ok {
					return QRCode{}, false
				}
				s := strings.Repeat("0", d) + itoa(x)
				raw = append(raw, s[len(s)-d:]...)
			}
		case 0b0010:
			const set = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
			n, ok := read(cc(9, 11, 13))
			if !ok {
				return QRCode{}, false
			}
			for ; n >= 2; n -= 2 {
				x, ok := read(11)
				if !ok || x/45 >= 45 {
					return QRCode{}, false
				}
				raw = append(raw, set[x/45], set[x%45])
			}
			if n == 1 {
				x, ok := read(6)
				if !ok || x >= 45 {
					return QRCode{}, false
				}
				raw = append(raw, set[x])
			}
		default:
			return QRCode{}, false // kanji, structured append, FNC1: posd prints none
		}
	}
	switch out.ECI {
	case 26:
		if !utf8.Valid(raw) {
			return QRCode{}, false
		}
		out.Text = string(raw)
	case 0, 3: // ISO 8859-1, the default
		var sb strings.Builder
		for _, c := range raw {
			sb.WriteRune(rune(c))
		}
		out.Text = sb.String()
	default:
		return QRCode{}, false
	}
	return out, true
}

func itoa(x int) string {
	if x == 0 {
		return "0"
	}
	var b []byte
	for ; x > 0; x /= 10 {
		b = append([]byte{byte('0' + x%10)}, b...)
	}
	return string(b)
}
