package printer

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"

	"github.com/posd/posd/internal/receipt"
)

// Codepage is a printer character table: its ESC t number and the charmap
// that turns runes into its bytes.
type Codepage struct {
	Name  string
	N     byte // the Epson ESC t number
	cm    *charmap.Charmap
	latin *[256]byte // byte for each rune below U+0100, 0 if the page lacks it (built by ParseCodepage)
}

// codepages is a read-only table of the pages posd supports (hardware.md §1.2).
var codepages = []Codepage{
	{Name: "cp858", N: 19, cm: charmap.CodePage858},
	{Name: "cp437", N: 0, cm: charmap.CodePage437},
	{Name: "cp850", N: 2, cm: charmap.CodePage850},
	{Name: "cp865", N: 5, cm: charmap.CodePage865},
	{Name: "wpc1252", N: 16, cm: charmap.Windows1252},
}

// DefaultCodepage is CP858: it has å ä ö and €, and the Swedish letters sit
// on the same bytes as in CP437/850/865 if a printer ignores ESC t.
const DefaultCodepage = "cp858"

// ParseCodepage looks a code page up by name ("cp858", "cp437", "cp850",
// "cp865", "wpc1252"; "" means cp858; "cp1252" and "windows-1252" are
// accepted for wpc1252).
func ParseCodepage(name string) (Codepage, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	switch n {
	case "":
		n = DefaultCodepage
	case "cp1252", "windows-1252", "windows1252", "wpc-1252":
		n = "wpc1252"
	}
	for _, c := range codepages {
		if c.Name == n {
			var t [256]byte
			for r := 0x80; r < 0x100; r++ {
				if b, ok := c.cm.EncodeRune(rune(r)); ok {
					t[r] = b
				}
			}
			c.latin = &t
			return c, nil
		}
	}
	return Codepage{}, fmt.Errorf("parse codepage %q: unknown (want cp858, cp437, cp850, cp865 or wpc1252)", name)
}

// Charmap returns the page's charmap (for decoding in tests and previews).
func (c Codepage) Charmap() *charmap.Charmap {
	if c.cm == nil {
		return charmap.CodePage858
	}
	return c.cm
}

// AppendText appends s encoded in code page cp. Each rune is encoded on its
// own: runes the page lacks go through receipt.ASCIIFallback, and anything
// left becomes '?'. Control characters become '?' too (a tab becomes a
// space) so text can never smuggle an ESC/POS command into a job.
func AppendText(dst []byte, s string, cp Codepage) []byte {
	cm := cp.Charmap()
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7F {
			j := i + 1
			for j < len(s) && s[j] >= 0x20 && s[j] < 0x7F {
				j++
			}
			dst = append(dst, s[i:j]...)
			i = j
			continue
		}
		if c < utf8.RuneSelf {
			i++
			switch {
			case c == '\t':
				dst = append(dst, ' ')
			case c < 0x20 || c == 0x7F:
				dst = append(dst, '?')
			default:
				dst = append(dst, c)
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if r == '\u00A0' || r == '\u00AD' || (r >= '\u2000' && r <= '\u200F') || r == '\u202F' || r == '\uFEFF' {
			// Space-like and invisible characters: a plain space (or nothing)
			// even where the page has a glyph of its own for them.
			fb, _ := receipt.ASCIIFallback(r)
			dst = append(dst, fb...)
			continue
		}
		if r < 0x100 && cp.latin != nil {
			if b := cp.latin[r]; b != 0 {
				dst = append(dst, b)
				continue
			}
		} else if b, ok := cm.EncodeRune(r); ok && r != utf8.RuneError {
			dst = append(dst, b)
			continue
		}
		if fb, ok := receipt.ASCIIFallback(r); ok {
			dst = append(dst, fb...)
			continue
		}
		dst = append(dst, '?')
	}
	return dst
}

// Align is a line alignment (ESC a n).
type Align byte

const (
	AlignLeft   Align = 0
	AlignCenter Align = 1
	AlignRight  Align = 2
)

// QRLevel is the QR error-correction level L, M, Q or H.
type QRLevel byte

const (
	QRLevelL QRLevel = 0
	QRLevelM QRLevel = 1
	QRLevelQ QRLevel = 2
	QRLevelH QRLevel = 3
)

// Errors the encoder returns before appending anything.
var (
	ErrBarcodeTooWide = errors.New("printer: barcode does not fit the paper")
	ErrBarcodeData    = errors.New("printer: barcode data not encodable")
	ErrQRTooLong      = errors.New("printer: QR data too long")
)

// Encoder builds one ESC/POS job in memory. It is not safe for concurrent
// use; Reset lets one Encoder (and its buffer) be reused job after job.
type Encoder struct {
	buf []byte
	cp  Codepage
}

// NewEncoder returns an encoder writing text in code page cp.
func NewEncoder(cp Codepage) *Encoder {
	if cp.cm == nil {
		cp, _ = ParseCodepage(DefaultCodepage)
	}
	return &Encoder{cp: cp, buf: make([]byte, 0, 4096)}
}

// Bytes returns the job so far; it aliases the encoder's buffer until Reset.
func (e *Encoder) Bytes() []byte { return e.buf }

// Reset empties the buffer, keeping its capacity.
func (e *Encoder) Reset() { e.buf = e.buf[:0] }

// Raw appends bytes as they are.
func (e *Encoder) Raw(b ...byte) { e.buf = append(e.buf, b...) }

// Prologue starts every job: ESC @ (initialise), optionally FS . (cancel
// Kanji mode, for printers whose default is a Chinese character set), ESC R 0
// (international set USA, so [ ] { } print as themselves) and ESC t n. ESC @
// restores the power-on code page, which is why ESC t always follows it.
func (e *Encoder) Prologue(cancelKanji bool) {
	e.buf = append(e.buf, 0x1B, 0x40)
	if cancelKanji {
		e.buf = append(e.buf, 0x1C, 0x2E)
	}
	e.buf = append(e.buf, 0x1B, 0x52, 0x00, 0x1B, 0x74, e.cp.N)
}

// Text appends s in the encoder's code page (see AppendText).
func (e *Encoder) Text(s string) { e.buf = AppendText(e.buf, s, e.cp) }

// Line appends s and a line feed.
func (e *Encoder) Line(s string) {
	e.buf = AppendText(e.buf, s, e.cp)
	e.buf = append(e.buf, '\n')
}

// Newline appends LF (print and feed one line).
func (e *Encoder) Newline() { e.buf = append(e.buf, '\n') }

// Bold switches emphasis (ESC E n).
func (e *Encoder) Bold(on bool) { e.buf = append(e.buf, 0x1B, 0x45, b2u(on)) }

// Underline sets underline mode 0 (off), 1 (thin) or 2 (thick) (ESC - n).
func (e *Encoder) Underline(n byte) {
	if n > 2 {
		n = 2
	}
	e.buf = append(e.buf, 0x1B, 0x2D, n)
}

// Size sets character width and height multipliers, each clamped to 1..8 (GS ! n).
func (e *Encoder) Size(w, h int) {
	w, h = clamp(w, 1, 8), clamp(h, 1, 8)
	e.buf = append(e.buf, 0x1D, 0x21, byte((w-1)<<4|(h-1)))
}

// Align sets the alignment of the following lines (ESC a n); it takes effect
// at the start of a line.
func (e *Encoder) Align(a Align) {
	if a > AlignRight {
		a = AlignLeft
	}
	e.buf = append(e.buf, 0x1B, 0x61, byte(a))
}

// Feed prints and feeds n lines (ESC d n).
func (e *Encoder) Feed(n byte) { e.buf = append(e.buf, 0x1B, 0x64, n) }

// FeedCut feeds to the cutter plus n motion units, then cuts (GS V 65 n for
// a full cut, GS V 66 n for a partial one). Feeding first matters: the
// cutter sits above the print head.
func (e *Encoder) FeedCut(partial bool, n byte) {
	m := byte(65)
	if partial {
		m = 66
	}
	e.buf = append(e.buf, 0x1D, 0x56, m, n)
}

// CutNow cuts at the current position (GS V 0 full, GS V 1 partial).
func (e *Encoder) CutNow(partial bool) { e.buf = append(e.buf, 0x1D, 0x56, b2u(partial)) }

// DrawerKick pulses the cash drawer on connector pin 2 or 5 (ESC p m t1 t2).
// The on and off times are rounded to the printer's 2 ms unit, at least 2 ms
// and at most 510 ms; drawers that do not open usually need a longer pulse.
func (e *Encoder) DrawerKick(pin int, on, off time.Duration) error {
	var m byte
	switch pin {
	case 2:
		m = 0
	case 5:
		m = 1
	default:
		return fmt.Errorf("drawer kick pin %d: want 2 or 5", pin)
	}
	e.buf = append(e.buf, 0x1B, 0x70, m, pulseUnits(on), pulseUnits(off))
	return nil
}

func pulseUnits(d time.Duration) byte {
	u := (d.Milliseconds() + 1) / 2
	return byte(clamp(int(u), 1, 255))
}

// RequestConfirm appends GS r 1. The printer executes it in order, so its
// one-byte reply means everything before it has been processed (printed).
func (e *Encoder) RequestConfirm() { e.buf = append(e.buf, 0x1D, 0x72, 0x01) }

// QR appends a model 2 QR code (GS ( k, functions 165, 167, 169, 180, 181):
// select the model, module size 1..16, error level, store data (pL pH =
// len+3) and print. Data longer than a version 40 symbol holds is refused
// before anything is appended.
func (e *Encoder) QR(data string, size byte, level QRLevel) error {
	if len(data) > 7089 {
		return fmt.Errorf("qr of %d bytes: %w", len(data), ErrQRTooLong)
	}
	size = byte(clamp(int(size), 1, 16))
	if level > QRLevelH {
		level = QRLevelM
	}
	n := len(data) + 3
	e.buf = append(e.buf,
		0x1D, 0x28, 0x6B, 0x04, 0x00, 0x31, 0x41, 0x32, 0x00,
		0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x43, size,
		0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x45, 0x30+byte(level),
		0x1D, 0x28, 0x6B, byte(n), byte(n>>8), 0x31, 0x50, 0x30)
	e.buf = append(e.buf, data...)
	e.buf = append(e.buf, 0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x51, 0x30)
	return nil
}

// Code128 appends a Code 128 barcode of value with human-readable text
// below it: GS H 2, GS h height, GS w module width, GS k 73 n data. The data
// is packed by Code128Data; the module width is Code128ModuleWidth's for a
// printable width of paperDots with marginDots of blank paper beyond it on
// each side. When no width fits, or the value has characters Code 128 set B
// cannot carry, nothing is appended and the error says why, so a job never
// prints a barcode the printer would drop.
func (e *Encoder) Code128(value string, paperDots, marginDots int, height byte) error {
	data, symbols, err := Code128Data(value)
	if err != nil {
		return err
	}
	w, err := Code128ModuleWidth(symbols, paperDots, marginDots)
	if err != nil {
		return fmt.Errorf("code 128 %q: %w", value, err)
	}
	e.code128(data, w, height)
	return nil
}

func (e *Encoder) code128(data []byte, w int, height byte) {
	if height == 0 {
		height = 80
	}
	e.buf = append(e.buf, 0x1D, 0x48, 0x02, 0x1D, 0x68, height, 0x1D, 0x77, byte(w), 0x1D, 0x6B, 0x49, byte(len(data)))
	e.buf = append(e.buf, data...)
}

// Code128QuietModules is the quiet zone Code 128 needs on each side of its
// bars (ISO/IEC 15417: ten modules).
const Code128QuietModules = 10

// Code128Bars is the width, in modules, of the bars of a Code 128 symbol of
// n data symbols (set switches included): start + data + check at 11
// modules each, and the 13-module stop. The quiet zones are not included.
func Code128Bars(symbols int) int { return 11*(symbols+2) + 13 }

// Code128ModuleWidth picks the widest module width (GS w 2..6) at which the
// symbol prints: its bars within the printable width paperDots, and its
// quiet zones within what is left of the printable width beside the
// centred bars plus the blank paper margin (marginDots) beyond it. The quiet
// zone is blank paper, wherever it is: counting it inside the printable
// width only is what made a 25-digit SEQR reference (378 dots of bars at
// the narrowest module) drop off 58 mm paper (384 dots).
func Code128ModuleWidth(symbols, paperDots, marginDots int) (int, error) {
	bars := Code128Bars(symbols)
	for w := 6; w >= 2; w-- {
		if bars*w <= paperDots && (paperDots-bars*w)/2+marginDots >= Code128QuietModules*w {
			return w, nil
		}
	}
	return 0, fmt.Errorf("%d modules of bars need %d dots at the narrowest width, paper prints %d: %w", bars, 2*bars, paperDots, ErrBarcodeTooWide)
}

// Code128Data packs value for GS k 73: it always starts with a code-set
// prefix; runs of digits (the whole value if it is all digits and at least
// two long, otherwise runs of four or more) go in set C as byte values 0..99,
// one per pair, with an odd leftover digit sent in set B after the pairs;
// the rest is set B with '{' escaped as "{{". symbols counts the printed
// data symbols (for the width budget). Characters outside printable ASCII
// are refused: they would need set A or FNC4, which posd has no use for.
func Code128Data(value string) (data []byte, symbols int, err error) {
	if value == "" {
		return nil, 0, fmt.Errorf("code 128 of empty value: %w", ErrBarcodeData)
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < 0x20 || c > 0x7E {
			return nil, 0, fmt.Errorf("code 128 %q: byte %#x at %d: %w", value, c, i, ErrBarcodeData)
		}
	}
	data = make([]byte, 0, len(value)+8)
	set := byte(0)
	allDigits := digitRun(value, 0) == len(value)
	for i := 0; i < len(value); {
		run := digitRun(value, i)
		if run >= 4 || (allDigits && run >= 2) {
			pairs := run / 2
			if set != 'C' {
				data = append(data, '{', 'C')
				if set != 0 {
					symbols++ // a switch inside the data is a symbol; the first prefix is the start symbol
				}
				set = 'C'
			}
			for p := 0; p < pairs; p++ {
				data = append(data, (value[i]-'0')*10+(value[i+1]-'0'))
				i += 2
				symbols++
			}
			continue
		}
		if set != 'B' {
			data = append(data, '{', 'B')
			if set != 0 {
				symbols++
			}
			set = 'B'
		}
		if value[i] == '{' {
			data = append(data, '{', '{')
		} else {
			data = append(data, value[i])
		}
		symbols++
		i++
	}
	if len(data) > 255 {
		return nil, 0, fmt.Errorf("code 128 %q: %d data bytes, at most 255: %w", value, len(data), ErrBarcodeData)
	}
	return data, symbols, nil
}

func digitRun(s string, i int) int {
	n := 0
	for i+n < len(s) && s[i+n] >= '0' && s[i+n] <= '9' {
		n++
	}
	return n
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func clamp(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}
