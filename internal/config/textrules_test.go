package config

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/safetext"
)

// TestReceiptTextFollowsTheTextRules: the receipt header and footer and
// the till's name come from the config and end on every receipt, so they
// follow the rules of every text the API takes (issue 9 item 6).
func TestReceiptTextFollowsTheTextRules(t *testing.T) {
	// Other keys may be missing here (the SEQR URL has no default); only
	// the keys under test are looked at.
	base := Default()
	base.StateDir = t.TempDir()

	tests := []struct {
		name string
		edit func(*Config)
		key  string
		why  error
	}{
		{"bidi override in the header", func(c *Config) { c.Receipt.Header = []string{"Kaffebaren", "Org \u202e1234"} }, "receipt.header[1]", safetext.ErrBidi},
		{"zero-width space in the footer", func(c *Config) { c.Receipt.Footer = []string{"Tack\u200b!"} }, "receipt.footer[0]", safetext.ErrInvisible},
		{"BOM at the start of the header", func(c *Config) { c.Receipt.Header = []string{"\ufeffKaffebaren"} }, "receipt.header[0]", safetext.ErrInvisible},
		{"line separator in the footer", func(c *Config) { c.Receipt.Footer = []string{"a\u2028b"} }, "receipt.footer[0]", safetext.ErrLineBreak},
		{"escape sequence in the header", func(c *Config) { c.Receipt.Header = []string{"\x1b@reset"} }, "receipt.header[0]", safetext.ErrControl},
		{"isolate in the till's name", func(c *Config) { c.Terminal.Name = "Kassa \u20662" }, "terminal.name", safetext.ErrBidi},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.edit(&c)
			ve := keyError(c.Validate(), tt.key)
			require.NotNil(t, ve, "no error for %s", tt.key)
			assert.ErrorIs(t, ve, tt.why)
		})
	}
	ok := base
	ok.Receipt.Header = []string{"Räksmörgåsbaren AB", "Storgatan 1, 111 22 Stockholm"}
	ok.Receipt.Footer = []string{"Välkommen åter! ☕"}
	ok.Terminal.Name = "Kassa 2"
	err := ok.Validate()
	for _, key := range []string{"receipt.header[0]", "receipt.header[1]", "receipt.footer[0]", "terminal.name"} {
		assert.Nil(t, keyError(err, key), key)
	}
}

// keyError finds the error about key among Validate's joined errors.
func keyError(err error, key string) *ValidationError {
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return nil
	}
	for _, e := range joined.Unwrap() {
		var ve *ValidationError
		if errors.As(e, &ve) && ve.Key == key {
			return ve
		}
	}
	return nil
}
