// Package scanner reads Code 128 barcodes from a serial barcode scanner.
package scanner

import "time"

// CONTRACT STUB: the scanner helper owns this package; Scan and Status are used by register and api.

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
