package printer

import (
	"errors"
	"fmt"
)

// ErrBadStatus is returned for a byte that is not a valid status reply.
var ErrBadStatus = errors.New("printer: not a status reply")

// Condition is the printer's state as its status replies report it
// (hardware.md §1.6). The zero value is "all clear".
type Condition struct {
	// DLE EOT 1 (printer status)
	DrawerPin3High  bool // drawer switch; polarity differs between drawers, never an error
	Offline         bool
	WaitingRecovery bool
	FeedButton      bool
	// DLE EOT 2 (offline cause)
	CoverOpen     bool
	PaperFed      bool // paper being fed by the button
	PaperEndStop  bool // printing stopped because of paper end
	ErrorOccurred bool
	// DLE EOT 3 (error cause)
	RecoverableError     bool
	CutterError          bool
	UnrecoverableError   bool
	AutoRecoverableError bool // head temperature, voltage
	// DLE EOT 4 (roll paper sensor)
	PaperNearEnd bool
	PaperEnd     bool
}

// Ready reports whether a job can be sent now.
func (c Condition) Ready() bool {
	return !c.Offline && !c.CoverOpen && !c.PaperEnd && !c.PaperEndStop && !c.ErrorOccurred &&
		!c.RecoverableError && !c.CutterError && !c.UnrecoverableError && !c.AutoRecoverableError
}

// Paper is the paper state as /v1/status shows it: "ok", "near_end" or "out".
func (c Condition) Paper() string {
	switch {
	case c.PaperEnd || c.PaperEndStop:
		return "out"
	case c.PaperNearEnd:
		return "near_end"
	}
	return "ok"
}

// Problem names what stops printing, "" when Ready.
func (c Condition) Problem() string {
	switch {
	case c.PaperEnd || c.PaperEndStop:
		return "paper out"
	case c.CoverOpen:
		return "cover open"
	case c.UnrecoverableError:
		return "unrecoverable printer error"
	case c.CutterError:
		return "autocutter error"
	case c.AutoRecoverableError:
		return "printer error (head temperature or voltage), recovering"
	case c.RecoverableError || c.ErrorOccurred:
		return "printer error"
	case c.Offline:
		return "printer offline"
	}
	return ""
}

// ValidRealTime reports whether b has the fixed bits of a DLE EOT reply.
func ValidRealTime(b byte) bool { return b&0x93 == 0x12 }

// ApplyRealTime decodes the reply b to DLE EOT n into c, replacing the
// fields that request reports.
func ApplyRealTime(c *Condition, n, b byte) error {
	if !ValidRealTime(b) {
		return fmt.Errorf("dle eot %d reply %#02x: %w", n, b, ErrBadStatus)
	}
	switch n {
	case 1:
		c.DrawerPin3High = b&0x04 != 0
		c.Offline = b&0x08 != 0
		c.WaitingRecovery = b&0x20 != 0
		c.FeedButton = b&0x40 != 0
	case 2:
		c.CoverOpen = b&0x04 != 0
		c.PaperFed = b&0x08 != 0
		c.PaperEndStop = b&0x20 != 0
		c.ErrorOccurred = b&0x40 != 0
	case 3:
		c.RecoverableError = b&0x04 != 0
		c.CutterError = b&0x08 != 0
		c.UnrecoverableError = b&0x20 != 0
		c.AutoRecoverableError = b&0x40 != 0
	case 4:
		c.PaperNearEnd = b&0x0C != 0
		c.PaperEnd = b&0x60 != 0
	default:
		return fmt.Errorf("dle eot %d: no such request: %w", n, ErrBadStatus)
	}
	return nil
}

// ParseASB decodes a 4-byte automatic status back (GS a) into a Condition.
func ParseASB(b [4]byte) (Condition, error) {
	if b[0]&0x93 != 0x10 || b[1]&0x90 != 0 || b[2]&0x90 != 0 || b[3]&0x90 != 0 {
		return Condition{}, fmt.Errorf("asb % X: %w", b, ErrBadStatus)
	}
	var c Condition
	c.DrawerPin3High = b[0]&0x04 != 0
	c.Offline = b[0]&0x08 != 0
	c.CoverOpen = b[0]&0x20 != 0
	c.FeedButton = b[0]&0x40 != 0
	c.RecoverableError = b[1]&0x04 != 0
	c.CutterError = b[1]&0x08 != 0
	c.UnrecoverableError = b[1]&0x20 != 0
	c.AutoRecoverableError = b[1]&0x40 != 0
	c.PaperNearEnd = b[2]&0x03 != 0
	c.PaperEnd = b[2]&0x0C != 0
	return c, nil
}

// ParseConfirm decodes the reply to GS r 1 (paper sensor status); a reply
// at all means everything sent before it has been processed.
func ParseConfirm(b byte) (nearEnd, end bool, err error) {
	if b&0x90 != 0 {
		return false, false, fmt.Errorf("gs r 1 reply %#02x: %w", b, ErrBadStatus)
	}
	return b&0x03 != 0, b&0x0C != 0, nil
}

// ReplyKind says what a status reply answers.
type ReplyKind uint8

const (
	ReplyRealTime ReplyKind = iota + 1 // DLE EOT n
	ReplyASB                           // automatic status back, 4 bytes, unrequested
	ReplyConfirm                       // GS r 1
)

// Reply is one status reply found in the byte stream from the printer.
type Reply struct {
	Kind  ReplyKind
	N     byte    // ReplyRealTime: the n of DLE EOT n
	Bytes [4]byte // the reply (1 byte, or 4 for ASB)
}

// StatusStream splits the bytes a printer sends back into replies. It
// must be told what was requested (Expect, ExpectConfirm) because a one-byte
// reply only makes sense against its request; bytes nobody asked for are
// accepted and skipped, ASB blocks are recognised wherever they come, and
// "block data" replies (header 0x35/0x37/0x3B/0x3D/0x5F up to NUL) are
// skipped. Not safe for concurrent use: the device's goroutine owns it.
type StatusStream struct {
	rt      []byte // pending DLE EOT requests, oldest first
	confirm int    // pending GS r 1 requests
	asb     [4]byte
	asbN    int
	inBlock bool
}

// Expect records that DLE EOT n was sent.
func (s *StatusStream) Expect(n byte) { s.rt = append(s.rt, n) }

// ExpectConfirm records that GS r 1 was sent.
func (s *StatusStream) ExpectConfirm() { s.confirm++ }

// Pending reports whether any request is still unanswered.
func (s *StatusStream) Pending() bool { return len(s.rt) > 0 || s.confirm > 0 }

// PendingRealTime counts unanswered DLE EOT requests.
func (s *StatusStream) PendingRealTime() int { return len(s.rt) }

// Reset forgets pending requests and partial replies (after a reconnect).
func (s *StatusStream) Reset() { *s = StatusStream{rt: s.rt[:0]} }

// Feed takes one byte from the printer and returns a reply when the byte
// completes one.
func (s *StatusStream) Feed(b byte) (Reply, bool) {
	if s.inBlock {
		if b == 0 {
			s.inBlock = false
		}
		return Reply{}, false
	}
	if s.asbN > 0 {
		if b&0x90 == 0 {
			s.asb[s.asbN] = b
			s.asbN++
			if s.asbN == 4 {
				s.asbN = 0
				return Reply{Kind: ReplyASB, Bytes: s.asb}, true
			}
			return Reply{}, false
		}
		s.asbN = 0 // not an ASB after all: look at b afresh
	}
	switch {
	case ValidRealTime(b) && len(s.rt) > 0:
		n := s.rt[0]
		s.rt = s.rt[1:]
		return Reply{Kind: ReplyRealTime, N: n, Bytes: [4]byte{b}}, true
	case b&0x93 == 0x10:
		s.asb[0] = b
		s.asbN = 1
	case b&0x90 == 0 && s.confirm > 0:
		s.confirm--
		return Reply{Kind: ReplyConfirm, Bytes: [4]byte{b}}, true
	case b == 0x35 || b == 0x37 || b == 0x3B || b == 0x3D || b == 0x5F:
		s.inBlock = true
	}
	return Reply{}, false
}
