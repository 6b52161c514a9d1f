package printer

import "fmt"

// QR code capacity at error-correction level M, the level posd prints
// (ISO/IEC 18004 table 9): error-correction codewords per block and the
// number of blocks, by version 1..40 (index 0 unused).
var (
	qrECCPerBlockM = [41]int{-1, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26, 26, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28}
	qrBlocksM      = [41]int{-1, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16, 17, 17, 18, 20, 21, 23, 25, 26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49}
)

// qrRawModules is the number of modules of a version-v symbol that carry
// codewords: everything but the function patterns and format/version bits.
func qrRawModules(v int) int {
	n := (16*v+128)*v + 64
	if v >= 2 {
		align := v/7 + 2
		n -= (25*align-10)*align - 55
		if v >= 7 {
			n -= 36
		}
	}
	return n
}

// qrDataCodewordsM is the number of data codewords of a version-v symbol at level M.
func qrDataCodewordsM(v int) int {
	return qrRawModules(v)/8 - qrECCPerBlockM[v]*qrBlocksM[v]
}

// qrByteModeBits is the length in bits of n bytes as one byte-mode segment
// in a version-v symbol (mode indicator, character count, data).
func qrByteModeBits(n, v int) int {
	count := 8
	if v >= 10 {
		count = 16
	}
	return 4 + count + 8*n
}

// QRVersion returns the smallest QR version (1..40) whose level-M symbol
// holds n bytes in byte mode plus extraBits (an ECI header). A printer that
// picks a more compact mode (digits, capitals) makes a symbol no larger.
func QRVersion(n, extraBits int) (int, error) {
	for v := 1; v <= 40; v++ {
		if extraBits+qrByteModeBits(n, v) <= 8*qrDataCodewordsM(v) {
			return v, nil
		}
	}
	return 0, fmt.Errorf("qr of %d bytes: %w", n, ErrQRTooLong)
}

// qrQuietModules is the quiet zone a QR code needs on each side (four modules).
const qrQuietModules = 4

// QRModuleSize picks the module size in dots for a QR code of version v: the
// largest up to want whose symbol lies within the printable width paperDots
// and whose quiet zone fits beside it, counting the blank paper margin
// beyond the printable width. Modules smaller than 2 dots (0.25 mm) do not
// scan off thermal paper, so a symbol that needs them is refused.
func QRModuleSize(v, paperDots, marginDots int, want byte) (byte, error) {
	side := 17 + 4*v
	for s := clamp(int(want), 2, 16); s >= 2; s-- {
		if side*s <= paperDots && (paperDots-side*s)/2+marginDots >= qrQuietModules*s {
			return byte(s), nil
		}
	}
	return 0, fmt.Errorf("qr version %d (%d modules) needs %d dots at 2 dots a module, paper prints %d: %w", v, side, 2*side, paperDots, ErrQRTooLong)
}
