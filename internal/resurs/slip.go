package resurs

import (
	"time"

	"github.com/posd/posd/internal/payment"
)

// StartSlip is the "pay later" slip of a "Betala sen" payment: the order
// reference the customer and the shop quote, and the valid-to of the
// customer's link (the order's, or the adapter's default that Start chose).
// Checkout POS payments print none: the customer signs at the till.
func (a *Adapter) StartSlip(s payment.Session) (payment.Slip, bool) {
	if s.Method != MethodLater || s.Ref == "" {
		return payment.Slip{}, false
	}
	var until time.Time
	if d := decodeData(s.Data); !d.ValidUntil.IsZero() {
		until = d.ValidUntil
	}
	return payment.Slip{
		Title:      "BETALA SEN / PAY LATER",
		Reference:  s.Ref,
		ValidUntil: until,
		Lines: []string{
			"Resurs Bank skickar en länk till kunden.",
			"Betala via länken före giltighetstiden.",
		},
	}, true
}

// The adapter's optional capabilities, checked at compile time.
var (
	_ payment.Widget  = (*Adapter)(nil)
	_ payment.Slipper = (*Adapter)(nil)
)
