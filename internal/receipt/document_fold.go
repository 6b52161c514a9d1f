package receipt

// ASCIIFallback returns the plain-ASCII stand-in for a typographic character
// that receipt printers' code pages usually lack (curly quotes, dashes, the
// ellipsis, non-breaking and thin spaces, bullets), and ok=false for any
// other rune. The receipt layout folds these before measuring columns, and
// the ESC/POS encoder uses the same table for runes its code page lacks, so
// one odd character never fails a job.
func ASCIIFallback(r rune) (s string, ok bool) {
	switch r {
	case '\u201C', '\u201D', '\u201E', '\u201F', '\u00AB', '\u00BB', '\u2033':
		return `"`, true
	case '\u2018', '\u2019', '\u201A', '\u201B', '\u2032', '\u00B4', '\u2039', '\u203A':
		return "'", true
	case '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2015', '\u2212':
		return "-", true
	case '\u2026':
		return "...", true
	case '\u00A0', '\u2000', '\u2001', '\u2002', '\u2004', '\u2005', '\u2006', '\u2003', '\u2007', '\u2008', '\u2009', '\u200A', '\u202F', '\u3000':
		return " ", true
	case '\u2022', '\u2023', '\u25CF', '\u00B7':
		return "*", true
	case '\u00D7':
		return "x", true
	case '\u20AC':
		return "EUR", true
	case '\u2122':
		return "TM", true
	case '\u00A9':
		return "(c)", true
	case '\u00AE':
		return "(R)", true
	case '\u200B', '\u200C', '\u200D', '\u200E', '\u200F', '\uFEFF', '\u00AD':
		return "", true
	}
	return "", false
}
