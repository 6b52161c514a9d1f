package scanner

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Defaults used by WithDefaults for zero fields. 9600 8N1 is the factory
// setting of most serial scanners (hardware.md §3.1); a Honeywell set to its
// "RS-232 interface" profile needs Baud 115200.
const (
	DefaultBaud     = 9600
	DefaultDataBits = 8
	DefaultParity   = "none"
	DefaultStopBits = 1
	// DefaultIdleGap ends a frame of a scanner without a suffix. A
	// Bluetooth or USB-serial link can pause 150 ms inside one code; the
	// gap must outlast that or one code becomes two.
	DefaultIdleGap = 250 * time.Millisecond
	// DefaultStaleGap is how long a scanner that ends its codes with CR or
	// LF may be silent mid-code before the fragment is dropped.
	DefaultStaleGap    = 2 * time.Second
	DefaultMaxLen      = 128
	DefaultDedupWindow = time.Second
	DefaultReopenMin   = 250 * time.Millisecond
	// DefaultReopenMax caps the reopen backoff at 1 s so that a replugged
	// scanner works again well within the 5 s target (reliability.md R2),
	// udev's symlink delay included.
	DefaultReopenMax = time.Second
)

// maxReopenMax is the largest backoff cap Validate accepts: anything longer
// could not meet the "works again within 5 s of replug" target.
const maxReopenMax = 4 * time.Second

// Config says which serial port the scanner is on and how frames look.
// Zero fields take the defaults above (see WithDefaults).
type Config struct {
	// Device is a stable path such as /dev/serial/by-id/usb-…-if00 or a udev
	// symlink like /dev/posd/scanner; /dev/ttyACM0 works but may change
	// name after a replug.
	Device   string
	Baud     int    // bits per second; USB-CDC scanners ignore it
	DataBits int    // 5..8
	Parity   string // "none", "even", "odd" (also "mark", "space"); case-insensitive
	StopBits int    // 1 or 2 (go.bug.st/serial refuses 1.5 on Linux)

	// Suffix is how the scanner ends its codes: "" (learn: a CR or LF seen
	// once makes the scanner terminated), "none", "cr", "lf" or "crlf".
	Suffix Suffix
	// IdleGap ends a frame of a scanner without a suffix (Suffix "none",
	// or "" before a CR or LF was seen): silence this long after the last
	// byte completes the frame. It never ends a terminated scanner's frame.
	IdleGap time.Duration
	// StaleGap: a terminated scanner silent this long mid-code has its
	// fragment dropped (never delivered as a code).
	StaleGap time.Duration
	// MaxLen is the longest frame in bytes (AIM prefix included); longer
	// lines are dropped whole.
	MaxLen int
	// DedupWindow: the same code again within this time after it was
	// delivered is counted once. Negative disables suppression.
	DedupWindow time.Duration
	// ReopenMin and ReopenMax bound the exponential backoff between reopen
	// attempts after an unplug or a failed open.
	ReopenMin time.Duration
	ReopenMax time.Duration
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Baud == 0 {
		c.Baud = DefaultBaud
	}
	if c.DataBits == 0 {
		c.DataBits = DefaultDataBits
	}
	if c.Parity == "" {
		c.Parity = DefaultParity
	}
	if c.StopBits == 0 {
		c.StopBits = DefaultStopBits
	}
	if c.IdleGap == 0 {
		c.IdleGap = DefaultIdleGap
	}
	if c.StaleGap == 0 {
		c.StaleGap = DefaultStaleGap
	}
	if c.MaxLen == 0 {
		c.MaxLen = DefaultMaxLen
	}
	if c.DedupWindow == 0 {
		c.DedupWindow = DefaultDedupWindow
	}
	if c.ReopenMin == 0 {
		c.ReopenMin = DefaultReopenMin
	}
	if c.ReopenMax == 0 {
		c.ReopenMax = max(DefaultReopenMax, c.ReopenMin)
	}
	return c
}

// FieldError is one invalid Config field. Validate joins them with
// errors.Join so that every problem is reported at once; callers find them
// with errors.As.
type FieldError struct {
	Field string // Go field name, e.g. "Baud"
	Value any
	Msg   string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("scanner config %s=%v: %s", e.Field, e.Value, e.Msg)
}

// Validate checks c as given (call WithDefaults first to fill zero fields).
func (c Config) Validate() error {
	var errs []error
	bad := func(field string, value any, msg string) {
		errs = append(errs, &FieldError{Field: field, Value: value, Msg: msg})
	}
	if strings.TrimSpace(c.Device) == "" {
		bad("Device", c.Device, "a device path is required")
	}
	if c.Baud <= 0 || c.Baud > 4_000_000 {
		bad("Baud", c.Baud, "must be between 1 and 4000000")
	}
	if c.DataBits < 5 || c.DataBits > 8 {
		bad("DataBits", c.DataBits, "must be 5, 6, 7 or 8")
	}
	if _, ok := parities[strings.ToLower(c.Parity)]; !ok {
		bad("Parity", c.Parity, `must be "none", "even", "odd", "mark" or "space"`)
	}
	if c.StopBits != 1 && c.StopBits != 2 {
		bad("StopBits", c.StopBits, "must be 1 or 2")
	}
	if c.IdleGap < 10*time.Millisecond || c.IdleGap > 2*time.Second {
		bad("IdleGap", c.IdleGap, "must be between 10ms and 2s")
	}
	if !c.Suffix.valid() {
		bad("Suffix", c.Suffix, `must be "" (learn), "none", "cr", "lf" or "crlf"`)
	}
	if c.StaleGap < c.IdleGap || c.StaleGap > 30*time.Second {
		bad("StaleGap", c.StaleGap, "must be between IdleGap and 30s")
	}
	if c.MaxLen < 1 || c.MaxLen > 4096 {
		bad("MaxLen", c.MaxLen, "must be between 1 and 4096")
	}
	if c.ReopenMin <= 0 {
		bad("ReopenMin", c.ReopenMin, "must be positive")
	}
	if c.ReopenMax < c.ReopenMin {
		bad("ReopenMax", c.ReopenMax, "must not be less than ReopenMin")
	}
	if c.ReopenMax > maxReopenMax {
		bad("ReopenMax", c.ReopenMax, "must be at most 4s so a replugged scanner works within 5s")
	}
	return errors.Join(errs...)
}

// mode is the port settings part of c.
func (c Config) mode() Mode {
	return Mode{Baud: c.Baud, DataBits: c.DataBits, Parity: strings.ToLower(c.Parity), StopBits: c.StopBits}
}
