package payment

import (
	"context"
	"time"
)

// Optional capabilities beyond the contract, one interface each, asserted
// by the register when the API asks for them. A provider without one
// answers "not supported" (501) through the register.

// WidgetSession is a payment widget session for a front end that embeds the
// provider's widget (Resurs): a short-lived token and when it expires.
type WidgetSession struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Widget is the capability of a provider with an embeddable payment widget
// (Resurs's Merchant API). Both calls may be answered from a cache.
type Widget interface {
	// WidgetSession returns a session token, reused until it expires.
	WidgetSession(ctx context.Context) (WidgetSession, error)
	// PaymentMethodTypes maps the provider's payment method ids to their
	// types for customerType ("B2C", "B2B").
	PaymentMethodTypes(ctx context.Context, customerType string, methodIDs []string) (map[string]string, error)
}

// Slip is what a slip printed at the start of a long-lived payment says
// ("Betala sen": the reference and until when the customer can pay).
type Slip struct {
	Title      string    // e.g. "BETALA SEN"
	Reference  string    // the provider's reference the customer or shop quotes
	ValidUntil time.Time // zero: not known
	Lines      []string  // what to tell the customer
}

// Slipper is the capability of a provider whose payments print a slip when
// they start; ok is false for a session that needs none.
type Slipper interface {
	StartSlip(s Session) (slip Slip, ok bool)
}
