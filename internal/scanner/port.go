package scanner

import (
	"fmt"
	"time"

	"go.bug.st/serial"
)

// Mode is the line setting a port is opened with.
type Mode struct {
	Baud     int
	DataBits int
	Parity   string // "none", "even", "odd", "mark", "space"
	StopBits int    // 1 or 2
}

// Port is the part of a serial port the reader uses.
//
// Read with a timeout set returns (0, nil) when the timeout passes without
// data (go.bug.st/serial's convention); the reader treats that as an idle
// tick. Close must be safe to call concurrently with a blocked Read, must
// make that Read return, and must be safe to call twice: the supervisor
// closes from another goroutine when its context ends.
type Port interface {
	Read(p []byte) (int, error)
	SetReadTimeout(d time.Duration) error
	Close() error
}

// Opener opens the port at path. The supervisor calls it again for every
// reconnect, so an Opener for tests can hand out a fresh pty per call.
type Opener func(path string, mode Mode) (Port, error)

var parities = map[string]serial.Parity{
	"none":  serial.NoParity,
	"even":  serial.EvenParity,
	"odd":   serial.OddParity,
	"mark":  serial.MarkParity,
	"space": serial.SpaceParity,
}

// SerialOpener opens path with go.bug.st/serial in raw mode, flow control
// off. It follows symlinks, so /dev/serial/by-id/… names work.
//
// The open is exclusive: go.bug.st/serial v1.8.0 nativeOpen (serial_unix.go)
// calls acquireExclusiveAccess, i.e. ioctl(fd, TIOCEXCL), after configuring
// the line, so a second open of the tty by another process fails with EBUSY
// (PortBusy). Two caveats, both from that source: the ioctl's error is
// ignored, and the kernel lets CAP_SYS_ADMIN (root) open an exclusive tty
// anyway. TestSerialOpenerIsExclusive checks the flag with TIOCGEXCL.
//
// We use go.bug.st/serial and not tarm/serial: tarm is unmaintained since
// 2018, does not report an unplug (its Read just returns nothing), and a
// blocked Read there also blocks Close, so shutdown would hang.
func SerialOpener(path string, mode Mode) (Port, error) {
	parity, ok := parities[mode.Parity]
	if !ok {
		return nil, fmt.Errorf("parity %q not supported", mode.Parity)
	}
	stop := serial.OneStopBit
	if mode.StopBits == 2 {
		stop = serial.TwoStopBits
	}
	p, err := serial.Open(path, &serial.Mode{
		BaudRate: mode.Baud,
		DataBits: mode.DataBits,
		Parity:   parity,
		StopBits: stop,
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}
