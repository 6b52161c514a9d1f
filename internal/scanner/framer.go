package scanner

import (
	"fmt"
	"time"
)

// DropReason says why a frame did not become a Scan.
type DropReason string

// Drop reasons. The supervisor logs DropEmpty and DropDuplicate at debug
// level (they are normal: LF CR endings, a scanner reading a label twice)
// and the others as warnings.
const (
	DropNone      DropReason = ""
	DropEmpty     DropReason = "empty"     // nothing between two ends, or only an AIM prefix
	DropTooLong   DropReason = "too long"  // more than MaxLen bytes before the end
	DropNoise     DropReason = "noise"     // control or non-ASCII bytes in the data
	DropDuplicate DropReason = "duplicate" // same code again within DedupWindow
	// DropIncomplete: a scanner that ends its codes with CR or LF went
	// silent mid-code for the stale gap; the fragment is never a code.
	DropIncomplete DropReason = "incomplete"
)

// Suffix says how the scanner ends its codes (its "suffix" setting).
type Suffix string

// Suffixes. SuffixAuto learns: until the scanner has sent a CR or LF,
// frames also end at the idle gap; from the first CR or LF on, only a CR or
// LF ends a frame. SuffixNone is a scanner set to send no suffix: the idle
// gap ends every frame. SuffixCR, SuffixLF and SuffixCRLF are terminated
// from the first byte (all three accept CR, LF and CR LF).
const (
	SuffixAuto Suffix = ""
	SuffixNone Suffix = "none"
	SuffixCR   Suffix = "cr"
	SuffixLF   Suffix = "lf"
	SuffixCRLF Suffix = "crlf"
)

func (s Suffix) valid() bool {
	switch s {
	case SuffixAuto, SuffixNone, SuffixCR, SuffixLF, SuffixCRLF:
		return true
	}
	return false
}

// Result is what the Framer made of one frame: a Scan, or a reason to drop it.
type Result struct {
	Scan Scan
	Drop DropReason
	// Len is the frame's length in bytes as received, without the end
	// (for too-long frames the full length, not just what was kept).
	Len int
	// Sample is a quoted prefix of a dropped frame, for the log line; it is
	// empty for delivered scans so the hot path does not format anything.
	Sample string
}

// Framer turns the scanner's byte stream into frames. It is a pure state
// machine (no I/O, no clock of its own) so that every rule can be tested
// byte by byte: the reader feeds it what each Read returned and tells it
// when the line has been idle for the configured gap.
//
// Rules:
//   - a frame ends on CR, on LF or on CR LF (one end, even when the CR and
//     the LF arrive in different reads);
//   - Idle ends a frame only for a scanner that does not terminate its
//     codes (SuffixNone, or SuffixAuto before any CR or LF was seen). For
//     a terminated scanner the idle gap never ends a frame: a Bluetooth or
//     USB-serial link can pause mid-code, and "SCAN" + pause + "42\r\n" is
//     one code, SCAN42, not SCAN. Idle (after the longer stale gap) then
//     drops the fragment as incomplete instead of delivering it;
//   - a frame longer than maxLen is dropped whole; only maxLen bytes are
//     kept in memory however long the line is;
//   - an AIM symbology identifier ("]" letter modifier) at the start is
//     stripped and recorded in Scan.Symbology;
//   - data with control or non-ASCII bytes is noise (GS, 0x1D, is allowed
//     after a GS1 AIM id, where it separates application identifiers);
//   - a code delivered within the dedup window before (measured from that
//     delivery, not from later duplicates) is dropped as a duplicate.
//
// A Framer is not safe for concurrent use; the read loop owns it.
type Framer struct {
	maxLen int
	window time.Duration // <= 0: no duplicate suppression

	buf     []byte // the current frame, at most maxLen bytes
	n       int    // the current frame's full length, discarded bytes included
	afterCR bool   // the last end was a CR, so a leading LF belongs to it

	suffix     Suffix
	terminated bool // only CR or LF ends a frame (configured or learned)

	// seen maps each code delivered within the last window to when it was
	// delivered. Expired entries are pruned as it grows, so it holds about
	// as many codes as can be scanned in one window (a handful).
	seen    map[string]time.Time
	pruneAt int // prune expired codes when seen reaches this size
}

// maxSeen bounds the duplicate table should a stream of distinct codes
// arrive faster than the window expires them (a flood of garbage that
// happens to pass the checks): the table is then emptied, which at worst
// lets one duplicate through.
const maxSeen = 1024

// NewFramer returns a Framer for frames of at most maxLen bytes (at least 1)
// that suppresses a repeated code within dedupWindow (<= 0 disables that).
func NewFramer(maxLen int, dedupWindow time.Duration) *Framer {
	maxLen = max(maxLen, 1)
	return &Framer{maxLen: maxLen, window: dedupWindow, buf: make([]byte, 0, maxLen)}
}

// SetSuffix sets how the scanner ends its codes (default SuffixAuto).
func (f *Framer) SetSuffix(s Suffix) {
	f.suffix = s
	f.terminated = s == SuffixCR || s == SuffixLF || s == SuffixCRLF
}

// Terminated reports whether only a CR or LF ends a frame: the suffix says
// so, or (SuffixAuto) the scanner has sent a CR or LF. The reader then
// waits the stale gap rather than the idle gap before calling Idle.
func (f *Framer) Terminated() bool { return f.terminated }

// Pending reports whether a frame has started and not yet ended, so the
// reader knows it must wait only IdleGap for more bytes.
func (f *Framer) Pending() bool { return f.n > 0 }

// Reset forgets a partial frame, e.g. after the port was lost mid-frame.
// The duplicate window survives, so a replug does not repeat a scan.
func (f *Framer) Reset() {
	f.buf = f.buf[:0]
	f.n = 0
	f.afterCR = false
}

// Feed consumes one chunk as read from the port and appends a Result for
// every frame that ended in it to dst. now is when the chunk arrived and
// becomes Scan.At.
func (f *Framer) Feed(dst []Result, p []byte, now time.Time) []Result {
	for len(p) > 0 {
		if f.afterCR {
			f.afterCR = false
			if p[0] == '\n' {
				p = p[1:]
				continue
			}
		}
		i := indexEOL(p)
		if i < 0 {
			f.add(p)
			break
		}
		f.add(p[:i])
		if f.suffix == SuffixAuto {
			f.terminated = true // this scanner ends its codes
		}
		dst = f.end(dst, now)
		f.afterCR = p[i] == '\r'
		p = p[i+1:]
	}
	return dst
}

// Idle tells the Framer the line has been silent for the idle gap (for a
// Terminated framer: for the stale gap). A frame in progress ends here, or,
// when the scanner terminates its codes, is dropped as incomplete: it was
// cut off (a lost byte, an unplug) and its end will never come. A CR just
// before the gap still absorbs an LF after it, so a slow CR LF is not taken
// for an extra empty frame.
func (f *Framer) Idle(dst []Result, now time.Time) []Result {
	if f.n == 0 {
		return dst
	}
	if f.terminated {
		frame, n := f.buf, f.n
		f.buf = f.buf[:0]
		f.n = 0
		return append(dst, Result{Drop: DropIncomplete, Len: n, Sample: sample(frame, n)})
	}
	return f.end(dst, now)
}

func indexEOL(p []byte) int {
	for i, b := range p {
		if b == '\r' || b == '\n' {
			return i
		}
	}
	return -1
}

func (f *Framer) add(p []byte) {
	f.n += len(p)
	if room := f.maxLen - len(f.buf); room > 0 {
		f.buf = append(f.buf, p[:min(room, len(p))]...)
	}
}

// end closes the current frame and decides what it is.
func (f *Framer) end(dst []Result, now time.Time) []Result {
	frame, n := f.buf, f.n
	f.buf = f.buf[:0]
	f.n = 0
	switch {
	case n == 0:
		return append(dst, Result{Drop: DropEmpty})
	case n > f.maxLen:
		return append(dst, Result{Drop: DropTooLong, Len: n, Sample: sample(frame, n)})
	}

	data, sym, gs1 := splitAIM(frame)
	if len(data) == 0 {
		return append(dst, Result{Drop: DropEmpty, Len: n, Sample: sample(frame, n)})
	}
	for _, b := range data {
		if (b < 0x20 || b > 0x7e) && !(gs1 && b == 0x1d) {
			return append(dst, Result{Drop: DropNoise, Len: n, Sample: sample(frame, n)})
		}
	}

	if f.window <= 0 {
		return append(dst, Result{Scan: Scan{Code: string(data), Symbology: sym, At: now}, Len: n})
	}
	// A map lookup with string(data) as the key does not allocate, so
	// duplicates cost nothing; only a delivered code is copied into a string.
	if at, ok := f.seen[string(data)]; ok {
		if d := now.Sub(at); d >= 0 && d < f.window {
			// No Sample: a scanner in presentation mode repeats a label
			// many times a second, and a duplicate should cost nothing.
			return append(dst, Result{Drop: DropDuplicate, Len: n})
		}
	}
	code := string(data)
	f.remember(code, now)
	return append(dst, Result{Scan: Scan{Code: code, Symbology: sym, At: now}, Len: n})
}

// remember records code as delivered at now. Expired codes are pruned when
// the table reaches pruneAt, which then becomes twice what survived: a
// table of fresh codes is not walked again on every scan, so the cost per
// scan stays constant.
func (f *Framer) remember(code string, now time.Time) {
	if f.seen == nil {
		f.seen = make(map[string]time.Time)
		f.pruneAt = 8
	}
	if len(f.seen) >= f.pruneAt {
		for c, at := range f.seen {
			if d := now.Sub(at); d < 0 || d >= f.window {
				delete(f.seen, c)
			}
		}
		if len(f.seen) >= maxSeen {
			clear(f.seen)
		}
		f.pruneAt = max(8, 2*len(f.seen))
	}
	f.seen[code] = now
}

// sample quotes at most 32 bytes of a dropped frame of n bytes for the log,
// with an ellipsis when that is not all of it.
func sample(frame []byte, n int) string {
	const limit = 32
	if len(frame) > limit {
		frame = frame[:limit]
	}
	if n > len(frame) {
		return fmt.Sprintf("%q…", frame)
	}
	return fmt.Sprintf("%q", frame)
}
