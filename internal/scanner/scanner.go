// Package scanner reads Code 128 barcodes from a serial barcode scanner.
//
// A Framer (pure, byte-level) cuts the stream into frames ending in CR, LF,
// CR LF or an idle gap, strips an AIM symbology id, drops noise, over-long
// lines and repeated codes. A Scanner (New, then Run) owns the port through
// go.bug.st/serial: it opens the device exclusively, feeds the Framer,
// delivers each Scan to a callback, notices an unplug and reopens the port
// with a capped backoff. Scan and Status are used by register and api.
package scanner

import "time"

// Scan is one decoded barcode.
type Scan struct {
	Code      string // the data, AIM prefix stripped
	Symbology string // e.g. "code128" when an AIM prefix said so, "" if unknown
	At        time.Time
}

// Status is what /v1/status shows of the scanner.
type Status struct {
	Device     string     `json:"device"`
	Connected  bool       `json:"connected"`
	LastError  string     `json:"lastError,omitempty"`
	LastScanAt *time.Time `json:"lastScanAt,omitempty"`
}
