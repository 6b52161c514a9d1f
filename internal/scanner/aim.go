package scanner

// Symbology names for Scan.Symbology. Every AIM "]C" id is "code128" (GS1-128
// is Code 128 with FNC1 first); AIM ids not listed here come out as
// "aim:" plus the code character and modifier, e.g. "aim:X0".
const (
	SymCode128    = "code128"
	SymEAN13      = "ean13"
	SymEAN8       = "ean8"
	SymEAN        = "ean"
	SymCode39     = "code39"
	SymCode93     = "code93"
	SymCodabar    = "codabar"
	SymITF        = "itf"
	SymPDF417     = "pdf417"
	SymQR         = "qr"
	SymDataMatrix = "datamatrix"
	SymDataBar    = "gs1-databar"
	SymAztec      = "aztec"
)

// splitAIM recognises an AIM symbology identifier (ISO/IEC 15424: "]", a
// code letter, a modifier letter or digit) at the start of frame. It returns
// the data after it, the symbology name ("" without an id) and whether the
// id says GS1 data, in which GS (0x1D) separates application identifiers.
// A frame that merely starts with "]" but not in that shape is all data.
func splitAIM(frame []byte) (data []byte, sym string, gs1 bool) {
	if len(frame) < 3 || frame[0] != ']' || !isLetter(frame[1]) || !isAlnum(frame[2]) {
		return frame, "", false
	}
	code, mod := frame[1], frame[2]
	data = frame[3:]
	switch code {
	case 'C':
		return data, SymCode128, mod == '1'
	case 'E':
		switch mod {
		case '0':
			return data, SymEAN13, false
		case '4':
			return data, SymEAN8, false
		}
		return data, SymEAN, false
	case 'A':
		return data, SymCode39, false
	case 'G':
		return data, SymCode93, false
	case 'F':
		return data, SymCodabar, false
	case 'I':
		return data, SymITF, false
	case 'L':
		return data, SymPDF417, false
	case 'Q':
		return data, SymQR, mod == '3'
	case 'd':
		return data, SymDataMatrix, mod == '2'
	case 'e':
		return data, SymDataBar, true
	case 'z':
		return data, SymAztec, false
	}
	return data, "aim:" + string(frame[1:3]), false
}

func isLetter(b byte) bool { return b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' }

func isAlnum(b byte) bool { return isLetter(b) || b >= '0' && b <= '9' }
