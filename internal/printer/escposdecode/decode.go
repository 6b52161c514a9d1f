// Package escposdecode turns ESC/POS bytes back into commands and a "paper
// model" (lines with their style, barcodes, QR codes, including those
// printed as raster images, cuts, drawer kicks).
// Tests use it to assert what a job means rather than which bytes it has,
// the virtual printer uses it to render a text copy of each job, and the
// printer emulator uses it to find the status requests in a byte stream.
package escposdecode

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/text/encoding/charmap"
)

// ErrTruncated is returned when the bytes end inside a command.
var ErrTruncated = errors.New("escposdecode: truncated command")

// Style is the character style and layout in effect for a text run.
type Style struct {
	Bold      bool
	Underline byte
	Width     int // 1..8
	Height    int // 1..8
	Align     byte
	Codepage  byte // ESC t n
	Intl      byte // ESC R n
	FontB     bool
	Reverse   bool
}

// Cmd is one decoded command or text run.
type Cmd struct {
	Op     string // mnemonic: "ESC @", "GS k", "TEXT", "LF", "UNKNOWN" ...
	Args   []byte // parameter bytes after the mnemonic's bytes, without data
	Data   []byte // payload (barcode data, QR data, image bytes)
	Text   string // TEXT: the run decoded from its code page; GS k: the barcode value
	Offset int    // where Raw starts in the input
	Raw    []byte // every byte of the command
	Style  Style  // style in effect (for TEXT, after the command for others)
}

func (c Cmd) String() string {
	switch c.Op {
	case "TEXT":
		return fmt.Sprintf("TEXT %q", c.Text)
	case "GS k":
		if len(c.Args) > 0 && c.Args[0] == 73 {
			return fmt.Sprintf("GS k 73 CODE128 %q data=% X", c.Text, c.Data)
		}
		return fmt.Sprintf("GS k %d %q", c.Args[0], c.Data)
	case "GS ( k":
		if len(c.Data) >= 3 && c.Data[0] == 49 && c.Data[1] == 80 {
			return fmt.Sprintf("GS ( k pL=%d pH=%d QR store %q", c.Args[0], c.Args[1], c.Data[3:])
		}
		if len(c.Data) >= 2 && c.Data[0] == 49 {
			name := map[byte]string{65: "QR model", 67: "QR size", 69: "QR error level", 81: "QR print"}[c.Data[1]]
			return fmt.Sprintf("GS ( k pL=%d pH=%d %s % X", c.Args[0], c.Args[1], name, c.Data[2:])
		}
		return fmt.Sprintf("GS ( k pL=%d pH=%d % X", c.Args[0], c.Args[1], c.Data)
	case "GS v":
		if len(c.Args) == 6 {
			return fmt.Sprintf("GS v 0 m=%d raster %dx%d dots (%d bytes)", c.Args[1], 8*(int(c.Args[2])+int(c.Args[3])*256), int(c.Args[4])+int(c.Args[5])*256, len(c.Data))
		}
	case "UNKNOWN", "CTRL":
		return fmt.Sprintf("%s % X", c.Op, c.Raw)
	}
	if len(c.Data) > 0 {
		return fmt.Sprintf("%s % X (+%d data bytes)", c.Op, c.Args, len(c.Data))
	}
	if len(c.Args) > 0 {
		parts := make([]string, len(c.Args))
		for i, a := range c.Args {
			parts[i] = fmt.Sprint(a)
		}
		return c.Op + " " + strings.Join(parts, " ")
	}
	return c.Op
}

// Dump renders commands one per line (the readable .txt beside golden .bin files).
func Dump(cmds []Cmd) string {
	var sb strings.Builder
	for _, c := range cmds {
		sb.WriteString(c.String())
		sb.WriteByte('\n')
	}
	return sb.String()
}

// Decode decodes b. When b ends inside a command it returns the commands
// before it and an error wrapping ErrTruncated.
func Decode(b []byte) ([]Cmd, error) {
	d := Decoder{}
	cmds, n := d.Prefix(b)
	if n < len(b) {
		return cmds, fmt.Errorf("at offset %d: %w", n, ErrTruncated)
	}
	return cmds, nil
}

// Decoder keeps the style across calls, for streams decoded piece by piece.
type Decoder struct {
	style Style
	init  bool
}

func (d *Decoder) reset() {
	// ESC @ restores power-on defaults, code page 0 included.
	d.style = Style{Width: 1, Height: 1}
	d.init = true
}

// Prefix decodes the complete commands at the start of b and returns them
// with the number of bytes they take; a partial command at the end is left
// for the next call.
func (d *Decoder) Prefix(b []byte) ([]Cmd, int) {
	if !d.init {
		d.reset()
	}
	var cmds []Cmd
	i := 0
	for i < len(b) {
		c, n := d.one(b[i:])
		if n == 0 {
			break
		}
		c.Offset = i
		c.Raw = b[i : i+n]
		c.Style = d.style
		cmds = append(cmds, c)
		i += n
	}
	return cmds, i
}

// need returns the length if b holds at least n bytes, 0 otherwise.
func need(b []byte, n int) int {
	if len(b) < n {
		return 0
	}
	return n
}

// one decodes the command at the start of b (len(b) > 0); n == 0 means truncated.
func (d *Decoder) one(b []byte) (Cmd, int) {
	c0 := b[0]
	switch {
	case c0 == 0x0A:
		return Cmd{Op: "LF"}, 1
	case c0 == 0x1B:
		return d.esc(b)
	case c0 == 0x1D:
		return d.gs(b)
	case c0 == 0x1C:
		return d.fs(b)
	case c0 == 0x10:
		return d.dle(b)
	case c0 < 0x20:
		switch c0 {
		case 0x09:
			return Cmd{Op: "HT"}, 1
		case 0x0C:
			return Cmd{Op: "FF"}, 1
		case 0x0D:
			return Cmd{Op: "CR"}, 1
		}
		return Cmd{Op: "CTRL"}, 1
	}
	j := 0
	for j < len(b) && b[j] >= 0x20 {
		j++
	}
	return Cmd{Op: "TEXT", Text: decodeText(b[:j], d.style.Codepage), Data: b[:j]}, j
}

func cm(n byte) *charmap.Charmap {
	switch n {
	case 0:
		return charmap.CodePage437
	case 2:
		return charmap.CodePage850
	case 5:
		return charmap.CodePage865
	case 16:
		return charmap.Windows1252
	case 19:
		return charmap.CodePage858
	}
	return nil
}

func decodeText(b []byte, page byte) string {
	m := cm(page)
	var sb strings.Builder
	sb.Grow(len(b))
	for _, c := range b {
		switch {
		case c < 0x80:
			sb.WriteByte(c)
		case m != nil:
			sb.WriteRune(m.DecodeByte(c))
		default:
			sb.WriteRune('\uFFFD')
		}
	}
	return sb.String()
}

func (d *Decoder) esc(b []byte) (Cmd, int) {
	if len(b) < 2 {
		return Cmd{}, 0
	}
	op := "ESC " + string(rune(b[1]))
	one := func() (Cmd, int) {
		if len(b) < 3 {
			return Cmd{}, 0
		}
		return Cmd{Op: op, Args: b[2:3]}, 3
	}
	switch b[1] {
	case '@':
		d.reset()
		return Cmd{Op: op}, 2
	case '2', 'i', 'm', '<':
		return Cmd{Op: op}, 2
	case 'E', 'G':
		c, n := one()
		if n > 0 {
			d.style.Bold = b[2]&1 == 1
		}
		return c, n
	case '-':
		c, n := one()
		if n > 0 {
			d.style.Underline = b[2] % 48
			if d.style.Underline > 2 {
				d.style.Underline = 2
			}
		}
		return c, n
	case 'a':
		c, n := one()
		if n > 0 {
			d.style.Align = b[2] % 48
			if d.style.Align > 2 {
				d.style.Align = 0
			}
		}
		return c, n
	case 't':
		c, n := one()
		if n > 0 {
			d.style.Codepage = b[2]
		}
		return c, n
	case 'R':
		c, n := one()
		if n > 0 {
			d.style.Intl = b[2]
		}
		return c, n
	case 'M':
		c, n := one()
		if n > 0 {
			d.style.FontB = b[2]&1 == 1
		}
		return c, n
	case '!':
		c, n := one()
		if n > 0 {
			m := b[2]
			d.style.FontB = m&1 != 0
			d.style.Bold = m&8 != 0
			d.style.Height = 1 + int(m>>4&1)
			d.style.Width = 1 + int(m>>5&1)
			if m&0x80 != 0 {
				d.style.Underline = 1
			} else {
				d.style.Underline = 0
			}
		}
		return c, n
	case 'd', '3', '=', 'J', ' ', 'V', '{', 'r', 'U', 'T', 'e', 'K':
		return one()
	case 'p':
		if len(b) < 5 {
			return Cmd{}, 0
		}
		return Cmd{Op: op, Args: b[2:5]}, 5
	case '$', '\\':
		if len(b) < 4 {
			return Cmd{}, 0
		}
		return Cmd{Op: op, Args: b[2:4]}, 4
	case 'c':
		if len(b) < 4 {
			return Cmd{}, 0
		}
		return Cmd{Op: op, Args: b[2:4]}, 4
	case '*':
		if len(b) < 5 {
			return Cmd{}, 0
		}
		k := int(b[3]) + int(b[4])*256
		if b[2] >= 32 {
			k *= 3
		}
		if len(b) < 5+k {
			return Cmd{}, 0
		}
		return Cmd{Op: op, Args: b[2:5], Data: b[5 : 5+k]}, 5 + k
	case 'D':
		j := 2
		for j < len(b) && b[j] != 0 {
			j++
		}
		if j >= len(b) {
			return Cmd{}, 0
		}
		return Cmd{Op: op, Args: b[2:j]}, j + 1
	}
	return Cmd{Op: "UNKNOWN"}, 2
}

func (d *Decoder) fs(b []byte) (Cmd, int) {
	if len(b) < 2 {
		return Cmd{}, 0
	}
	switch b[1] {
	case '.', '&':
		return Cmd{Op: "FS " + string(rune(b[1]))}, 2
	case 'C', '!', '-', 'W':
		if len(b) < 3 {
			return Cmd{}, 0
		}
		return Cmd{Op: "FS " + string(rune(b[1])), Args: b[2:3]}, 3
	case '(':
		return paren(b, "FS (")
	}
	return Cmd{Op: "UNKNOWN"}, 2
}

// paren decodes "x ( fn pL pH data" commands.
func paren(b []byte, op string) (Cmd, int) {
	if len(b) < 5 {
		return Cmd{}, 0
	}
	n := int(b[3]) + int(b[4])*256
	if len(b) < 5+n {
		return Cmd{}, 0
	}
	return Cmd{Op: op + " " + string(rune(b[2])), Args: b[3:5], Data: b[5 : 5+n]}, 5 + n
}

func (d *Decoder) gs(b []byte) (Cmd, int) {
	if len(b) < 2 {
		return Cmd{}, 0
	}
	op := "GS " + string(rune(b[1]))
	one := func() (Cmd, int) {
		if len(b) < 3 {
			return Cmd{}, 0
		}
		return Cmd{Op: op, Args: b[2:3]}, 3
	}
	switch b[1] {
	case '!':
		c, n := one()
		if n > 0 {
			d.style.Width = 1 + int(b[2]>>4&7)
			d.style.Height = 1 + int(b[2]&7)
		}
		return c, n
	case 'B':
		c, n := one()
		if n > 0 {
			d.style.Reverse = b[2]&1 == 1
		}
		return c, n
	case 'H', 'h', 'w', 'f', 'r', 'a', 'I', 'b', 'E', 'J', '/':
		return one()
	case 'L', 'W', 'P', '$', '\\':
		if len(b) < 4 {
			return Cmd{}, 0
		}
		return Cmd{Op: op, Args: b[2:4]}, 4
	case 'V':
		if len(b) < 3 {
			return Cmd{}, 0
		}
		switch b[2] {
		case 65, 66, 97, 98, 103, 104:
			if len(b) < 4 {
				return Cmd{}, 0
			}
			return Cmd{Op: op, Args: b[2:4]}, 4
		}
		return Cmd{Op: op, Args: b[2:3]}, 3
	case 'k':
		if len(b) < 3 {
			return Cmd{}, 0
		}
		m := b[2]
		if m <= 6 {
			j := 3
			for j < len(b) && b[j] != 0 {
				j++
			}
			if j >= len(b) {
				return Cmd{}, 0
			}
			return Cmd{Op: op, Args: b[2:3], Data: b[3:j], Text: string(b[3:j])}, j + 1
		}
		if len(b) < 4 {
			return Cmd{}, 0
		}
		n := int(b[3])
		if len(b) < 4+n {
			return Cmd{}, 0
		}
		data := b[4 : 4+n]
		c := Cmd{Op: op, Args: b[2:4], Data: data, Text: string(data)}
		if m == 73 {
			c.Text, _ = Code128Value(data)
		}
		return c, 4 + n
	case '(':
		return paren(b, "GS (")
	case 'v':
		if len(b) < 8 {
			return Cmd{}, 0
		}
		k := (int(b[4]) + int(b[5])*256) * (int(b[6]) + int(b[7])*256)
		if len(b) < 8+k {
			return Cmd{}, 0
		}
		return Cmd{Op: op, Args: b[2:8], Data: b[8 : 8+k]}, 8 + k
	case '*':
		if len(b) < 4 {
			return Cmd{}, 0
		}
		k := int(b[2]) * int(b[3]) * 8
		if len(b) < 4+k {
			return Cmd{}, 0
		}
		return Cmd{Op: op, Args: b[2:4], Data: b[4 : 4+k]}, 4 + k
	}
	return Cmd{Op: "UNKNOWN"}, 2
}

func (d *Decoder) dle(b []byte) (Cmd, int) {
	if len(b) < 2 {
		return Cmd{}, 0
	}
	switch b[1] {
	case 0x04:
		if len(b) < 3 {
			return Cmd{}, 0
		}
		return Cmd{Op: "DLE EOT", Args: b[2:3]}, 3
	case 0x05:
		if len(b) < 3 {
			return Cmd{}, 0
		}
		return Cmd{Op: "DLE ENQ", Args: b[2:3]}, 3
	case 0x14:
		if len(b) < 5 {
			return Cmd{}, 0
		}
		return Cmd{Op: "DLE DC4", Args: b[2:5]}, 5
	}
	return Cmd{Op: "UNKNOWN"}, 2
}

// Code128Value decodes GS k 73 data (with its {A/{B/{C prefixes) back to
// the value it carries. ok is false when the data does not start with a
// code-set prefix or holds an invalid set C value.
func Code128Value(data []byte) (value string, ok bool) {
	if len(data) < 2 || data[0] != '{' || (data[1] != 'A' && data[1] != 'B' && data[1] != 'C') {
		return string(data), false
	}
	var sb strings.Builder
	set := byte(0)
	ok = true
	for i := 0; i < len(data); i++ {
		c := data[i]
		if c == '{' && i+1 < len(data) {
			nx := data[i+1]
			switch nx {
			case 'A', 'B', 'C':
				set = nx
				i++
				continue
			case '{':
				if set == 'C' {
					ok = false
				}
				sb.WriteByte('{')
				i++
				continue
			case 'S', '1', '2', '3', '4':
				i++
				continue
			}
		}
		if set == 'C' {
			if c > 99 {
				ok = false
				continue
			}
			sb.WriteByte('0' + c/10)
			sb.WriteByte('0' + c%10)
			continue
		}
		sb.WriteByte(c)
	}
	return sb.String(), ok
}
