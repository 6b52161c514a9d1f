package printer

// posd's own QR encoder (ISO/IEC 18004, model 2, level M), for the one case
// the printer's GS ( k cannot serve: data that is not plain ASCII. GS ( k
// <Function 180> takes bare bytes and the printer picks the segment modes
// itself; ESC/POS has no way to put an ECI (Extended Channel
// Interpretation) segment into the symbol, so a strict scanner reads UTF-8
// bytes as ISO 8859-1 ("Ã¥" for "å"). posd builds such a symbol itself, an
// ECI 26 (UTF-8) segment followed by a byte segment, and prints it as a
// raster image (GS v 0).

import "fmt"

// ECIUTF8 is the ECI assignment number of UTF-8.
const ECIUTF8 = 26

// qrNeedsECI reports whether data needs its character set marked: any byte
// outside 7-bit ASCII (QR byte mode otherwise means ISO 8859-1).
func qrNeedsECI(data string) bool {
	for i := 0; i < len(data); i++ {
		if data[i] >= 0x80 {
			return true
		}
	}
	return false
}

// qrECIBits is the length of the ECI header a QR code of data needs: the
// ECI mode indicator and a one-byte designator for UTF-8, none for ASCII.
func qrECIBits(data string) int {
	if qrNeedsECI(data) {
		return 4 + 8
	}
	return 0
}

// qrBits is a bit buffer, most significant bit first.
type qrBits struct {
	b []byte
	n int
}

func (q *qrBits) put(v uint, bits int) {
	for i := bits - 1; i >= 0; i-- {
		if q.n%8 == 0 {
			q.b = append(q.b, 0)
		}
		if v>>uint(i)&1 == 1 {
			q.b[q.n/8] |= 0x80 >> uint(q.n%8)
		}
		q.n++
	}
}

// QRSymbol is an encoded QR code: Size modules a side, Dark[y*Size+x].
type QRSymbol struct {
	Version int
	Size    int
	Mask    int
	Dark    []bool
}

// At reports whether the module at column x, row y is dark.
func (s QRSymbol) At(x, y int) bool { return s.Dark[y*s.Size+x] }

// EncodeQR encodes data at level M as one byte-mode segment, preceded by an
// ECI segment when eci > 0 (eci < 128: a one-byte designator), in the
// smallest version that holds it, with the mask of lowest penalty.
func EncodeQR(data []byte, eci int) (QRSymbol, error) {
	if eci < 0 || eci > 127 {
		return QRSymbol{}, fmt.Errorf("qr eci %d: want 0..127", eci)
	}
	extra := 0
	if eci > 0 {
		extra = 12
	}
	v, err := QRVersion(len(data), extra)
	if err != nil {
		return QRSymbol{}, err
	}
	s := qrNew(v)
	s.placeData(qrInterleave(v, qrData(data, eci, v)))
	best, bestPenalty := 0, -1
	for m := 0; m < 8; m++ {
		s.applyMask(m)
		s.drawFormat(m)
		if p := s.penalty(); bestPenalty < 0 || p < bestPenalty {
			best, bestPenalty = m, p
		}
		s.applyMask(m) // XOR again: undone
	}
	s.applyMask(best)
	s.drawFormat(best)
	return QRSymbol{Version: v, Size: s.size, Mask: best, Dark: s.dark}, nil
}

// qrData is the data codewords of a version-v level-M symbol holding data
// as one byte segment, after an ECI segment when eci > 0: mode indicators,
// counts, the bytes, the terminator and the pad codewords.
func qrData(data []byte, eci, v int) []byte {
	var bits qrBits
	if eci > 0 {
		bits.put(0b0111, 4) // ECI mode
		bits.put(uint(eci), 8)
	}
	bits.put(0b0100, 4) // byte mode
	if v >= 10 {
		bits.put(uint(len(data)), 16)
	} else {
		bits.put(uint(len(data)), 8)
	}
	for _, c := range data {
		bits.put(uint(c), 8)
	}
	capBits := 8 * qrDataCodewordsM(v)
	bits.put(0, min(4, capBits-bits.n))
	if r := bits.n % 8; r != 0 {
		bits.put(0, 8-r)
	}
	for pad := uint(0xEC); bits.n < capBits; pad ^= 0xEC ^ 0x11 {
		bits.put(pad, 8)
	}
	return bits.b
}

// qrInterleave splits the data codewords into level-M blocks, appends each
// block's Reed-Solomon codewords and interleaves them.
func qrInterleave(v int, data []byte) []byte {
	nBlocks, eccLen := qrBlocksM[v], qrECCPerBlockM[v]
	raw := qrRawModules(v) / 8
	nShort := nBlocks - raw%nBlocks
	shortLen := raw / nBlocks
	gen := qrRSGenerator(eccLen)
	// Every block is laid out shortLen+1 long, its ECC at the end; a short
	// block has an unused slot before its ECC, skipped when interleaving.
	blocks := make([][]byte, nBlocks)
	k := 0
	for i := range blocks {
		n := shortLen - eccLen
		if i >= nShort {
			n++
		}
		d := data[k : k+n]
		k += n
		blk := make([]byte, shortLen+1)
		copy(blk, d)
		copy(blk[shortLen+1-eccLen:], qrRSRemainder(d, gen))
		blocks[i] = blk
	}
	out := make([]byte, 0, raw)
	for i := 0; i <= shortLen; i++ {
		for j, blk := range blocks {
			if i == shortLen-eccLen && j < nShort {
				continue
			}
			out = append(out, blk[i])
		}
	}
	return out
}

// qrGFMul multiplies in GF(256) with the QR polynomial x^8+x^4+x^3+x^2+1.
func qrGFMul(x, y byte) byte {
	var z byte
	for i := 7; i >= 0; i-- {
		hi := z&0x80 != 0
		z <<= 1
		if hi {
			z ^= 0x1D
		}
		if y>>uint(i)&1 == 1 {
			z ^= x
		}
	}
	return z
}

// qrRSGenerator returns the coefficients (highest power dropped) of the
// Reed-Solomon generator polynomial of degree n, roots 2^0 .. 2^(n-1).
func qrRSGenerator(n int) []byte {
	g := make([]byte, n)
	g[n-1] = 1
	root := byte(1)
	for i := 0; i < n; i++ {
		for j := range g {
			g[j] = qrGFMul(g[j], root)
			if j+1 < n {
				g[j] ^= g[j+1]
			}
		}
		root = qrGFMul(root, 2)
	}
	return g
}

func qrRSRemainder(data, gen []byte) []byte {
	r := make([]byte, len(gen))
	for _, b := range data {
		f := b ^ r[0]
		copy(r, r[1:])
		r[len(r)-1] = 0
		for i := range r {
			r[i] ^= qrGFMul(gen[i], f)
		}
	}
	return r
}

// qrMatrix is a symbol being built: dark modules and which are function
// patterns (never masked, never data).
type qrMatrix struct {
	size     int
	version  int
	dark     []bool
	function []bool
}

func qrNew(v int) *qrMatrix {
	size := 17 + 4*v
	m := &qrMatrix{size: size, version: v, dark: make([]bool, size*size), function: make([]bool, size*size)}
	for i := 0; i < size; i++ {
		m.set(6, i, i%2 == 0)
		m.set(i, 6, i%2 == 0)
	}
	m.finder(3, 3)
	m.finder(size-4, 3)
	m.finder(3, size-4)
	align := qrAlignment(v)
	for i, ax := range align {
		for j, ay := range align {
			if (i == 0 && j == 0) || (i == 0 && j == len(align)-1) || (i == len(align)-1 && j == 0) {
				continue // the finder corners
			}
			for dy := -2; dy <= 2; dy++ {
				for dx := -2; dx <= 2; dx++ {
					m.set(ax+dx, ay+dy, max(abs(dx), abs(dy)) != 1)
				}
			}
		}
	}
	m.drawFormat(0) // reserve the format areas (and the dark module)
	if v >= 7 {
		rem := v
		for i := 0; i < 12; i++ {
			rem = (rem << 1) ^ (rem>>11)*0x1F25
		}
		bits := v<<12 | rem
		for i := 0; i < 18; i++ {
			d := bits>>uint(i)&1 == 1
			a, b := size-11+i%3, i/3
			m.set(a, b, d)
			m.set(b, a, d)
		}
	}
	return m
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func (m *qrMatrix) set(x, y int, dark bool) {
	m.dark[y*m.size+x] = dark
	m.function[y*m.size+x] = true
}

// finder draws a finder pattern centred at x, y with its separator.
func (m *qrMatrix) finder(x, y int) {
	for dy := -4; dy <= 4; dy++ {
		for dx := -4; dx <= 4; dx++ {
			xx, yy := x+dx, y+dy
			if xx < 0 || yy < 0 || xx >= m.size || yy >= m.size {
				continue
			}
			d := max(abs(dx), abs(dy))
			m.set(xx, yy, d != 2 && d != 4)
		}
	}
}

// qrAlignment lists the alignment pattern centre coordinates of version v.
func qrAlignment(v int) []int {
	if v == 1 {
		return nil
	}
	n := v/7 + 2
	step := (v*4 + n*2 + 1) / (n*2 - 2) * 2
	if v == 32 {
		step = 26
	}
	out := make([]int, n)
	out[0] = 6
	for i, pos := n-1, 17+4*v-7; i >= 1; i, pos = i-1, pos-step {
		out[i] = pos
	}
	return out
}

// drawFormat writes the format information (level M, mask) in both copies,
// and the dark module.
func (m *qrMatrix) drawFormat(mask int) {
	data := 0<<3 | mask // level M's indicator is 00
	rem := data
	for i := 0; i < 10; i++ {
		rem = (rem << 1) ^ (rem>>9)*0x537
	}
	bits := (data<<10 | rem) ^ 0x5412
	bit := func(i int) bool { return bits>>uint(i)&1 == 1 }
	for i := 0; i <= 5; i++ {
		m.set(8, i, bit(i))
	}
	m.set(8, 7, bit(6))
	m.set(8, 8, bit(7))
	m.set(7, 8, bit(8))
	for i := 9; i < 15; i++ {
		m.set(14-i, 8, bit(i))
	}
	for i := 0; i < 8; i++ {
		m.set(m.size-1-i, 8, bit(i))
	}
	for i := 8; i < 15; i++ {
		m.set(8, m.size-15+i, bit(i))
	}
	m.set(8, m.size-8, true)
}

// placeData lays the codewords in the two-column zigzag from the bottom
// right, skipping function modules and the vertical timing column.
func (m *qrMatrix) placeData(cw []byte) {
	i := 0
	for right := m.size - 1; right >= 1; right -= 2 {
		if right == 6 {
			right = 5
		}
		for vert := 0; vert < m.size; vert++ {
			for j := 0; j < 2; j++ {
				x := right - j
				y := vert
				if (right+1)&2 == 0 {
					y = m.size - 1 - vert
				}
				if m.function[y*m.size+x] || i >= len(cw)*8 {
					continue
				}
				m.dark[y*m.size+x] = cw[i/8]>>uint(7-i%8)&1 == 1
				i++
			}
		}
	}
}

// qrMaskBit is the data mask pattern number mask at column x, row y.
func qrMaskBit(mask, x, y int) bool {
	switch mask {
	case 0:
		return (x+y)%2 == 0
	case 1:
		return y%2 == 0
	case 2:
		return x%3 == 0
	case 3:
		return (x+y)%3 == 0
	case 4:
		return (x/3+y/2)%2 == 0
	case 5:
		return x*y%2+x*y%3 == 0
	case 6:
		return (x*y%2+x*y%3)%2 == 0
	}
	return ((x+y)%2+x*y%3)%2 == 0
}

func (m *qrMatrix) applyMask(mask int) {
	for y := 0; y < m.size; y++ {
		for x := 0; x < m.size; x++ {
			if !m.function[y*m.size+x] && qrMaskBit(mask, x, y) {
				m.dark[y*m.size+x] = !m.dark[y*m.size+x]
			}
		}
	}
}

// penalty scores a masked symbol by the four rules of ISO/IEC 18004 7.8.3.
func (m *qrMatrix) penalty() int {
	n := m.size
	at := func(x, y int) bool { return m.dark[y*n+x] }
	p := 0
	for pass := 0; pass < 2; pass++ {
		for a := 0; a < n; a++ {
			get := func(b int) bool {
				if pass == 0 {
					return at(b, a)
				}
				return at(a, b)
			}
			run := 1
			for b := 1; b <= n; b++ {
				if b < n && get(b) == get(b-1) {
					run++
					continue
				}
				if run >= 5 {
					p += run - 2
				}
				run = 1
			}
			// 1:1:3:1:1 finder-like runs with four light modules on a side
			for b := 0; b+7 <= n; b++ {
				if !(get(b) && !get(b+1) && get(b+2) && get(b+3) && get(b+4) && !get(b+5) && get(b+6)) {
					continue
				}
				light := func(from, to int) bool {
					for i := from; i < to; i++ {
						if i >= 0 && i < n && get(i) {
							return false
						}
					}
					return true
				}
				if light(b-4, b) || light(b+7, b+11) {
					p += 40
				}
			}
		}
	}
	dark := 0
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			if at(x, y) {
				dark++
			}
			if x+1 < n && y+1 < n && at(x, y) == at(x+1, y) && at(x, y) == at(x, y+1) && at(x, y) == at(x+1, y+1) {
				p += 3
			}
		}
	}
	k := abs(dark*20-n*n*10) / (n * n)
	return p + k*10
}

// QRRaster appends the symbol as GS v 0 raster images, module dots to a
// module, in bands of at most 255 rows (printers with small buffers need
// them; bands print back to back without a gap).
func (e *Encoder) QRRaster(s QRSymbol, module int) {
	width := s.Size * module
	xBytes := (width + 7) / 8
	for top := 0; top < width; top += 255 {
		rows := min(255, width-top)
		e.buf = append(e.buf, 0x1D, 0x76, 0x30, 0x00, byte(xBytes), byte(xBytes>>8), byte(rows), byte(rows>>8))
		for r := top; r < top+rows; r++ {
			y := r / module
			for xb := 0; xb < xBytes; xb++ {
				var b byte
				for bit := 0; bit < 8; bit++ {
					px := xb*8 + bit
					if px < width && s.At(px/module, y) {
						b |= 0x80 >> uint(bit)
					}
				}
				e.buf = append(e.buf, b)
			}
		}
	}
}
