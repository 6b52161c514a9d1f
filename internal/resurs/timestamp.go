package resurs

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Time is a Resurs timestamp. Resurs's documents show ISO strings in several
// forms ("2020-04-09T08:41:09.000+0000", "2013-07-02T12:51:51+02:00") and raw
// numbers (epoch milliseconds) for the same field (A.5): all are read. The
// zero Time means absent (null).
type Time struct{ time.Time }

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02",
}

// ParseTime reads an ISO timestamp or an epoch number (milliseconds; a
// number below 10^11 is taken as seconds, since no Resurs timestamp lies
// before 1973). Zone-less text is read as UTC.
func ParseTime(s string) (Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Time{}, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return Time{}, fmt.Errorf("timestamp %q is negative", s)
		}
		if n < 1e11 {
			return Time{time.Unix(n, 0).UTC()}, nil
		}
		return Time{time.UnixMilli(n).UTC()}, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && strings.ContainsAny(s, ".eE") && !strings.Contains(s, "-") {
		// Seconds with a fraction, as some Java serialisers write.
		ms := int64(f * 1000)
		return Time{time.UnixMilli(ms).UTC()}, nil
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return Time{t}, nil
		}
	}
	return Time{}, fmt.Errorf("timestamp %q is not ISO 8601 or an epoch number", s)
}

// UnmarshalJSON accepts a string, a number or null.
func (t *Time) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*t = Time{}
		return nil
	}
	s := string(b)
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		s = string(b[1 : len(b)-1])
	}
	v, err := ParseTime(s)
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// MarshalJSON writes RFC 3339, or null when absent.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + t.Format(time.RFC3339Nano) + `"`), nil
}
