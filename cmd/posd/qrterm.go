package main

import (
	"fmt"
	"strings"

	"github.com/posd/posd/internal/printer"
)

// qrQuiet is the quiet zone around a terminal QR code, in modules: the
// four that ISO/IEC 18004 asks for, so that a phone reads it off a screen
// whatever surrounds it.
const qrQuiet = 4

// terminalQR draws data as a QR code in text: Unicode half blocks, two
// module rows per line. Like `qrencode -t UTF8`, light modules are the
// drawn ones, so the code reads right on a terminal with light text on a
// dark background; phone readers also read the inverse. It uses posd's own
// encoder (the one that prints non-ASCII receipts' codes).
func terminalQR(data string) (string, error) {
	eci := 0
	for i := 0; i < len(data); i++ {
		if data[i] >= 0x80 {
			eci = printer.ECIUTF8
			break
		}
	}
	sym, err := printer.EncodeQR([]byte(data), eci)
	if err != nil {
		return "", fmt.Errorf("qr code of %d bytes: %w", len(data), err)
	}
	n := sym.Size + 2*qrQuiet
	light := func(x, y int) bool {
		x, y = x-qrQuiet, y-qrQuiet
		if x < 0 || y < 0 || x >= sym.Size || y >= sym.Size {
			return true
		}
		return !sym.At(x, y)
	}
	var b strings.Builder
	for y := 0; y < n; y += 2 {
		for x := 0; x < n; x++ {
			top := light(x, y)
			bottom := y+1 >= n || light(x, y+1) // past the last row: quiet zone
			switch {
			case top && bottom:
				b.WriteString("█")
			case top:
				b.WriteString("▀")
			case bottom:
				b.WriteString("▄")
			default:
				b.WriteByte(' ')
			}
		}
		b.WriteByte('\n')
	}
	return b.String(), nil
}
