package resurssim

// SetCallbackObserver lets the external tests wait for callback attempts
// instead of sleeping. Set it before Run starts.
func SetCallbackObserver(s *Sim, f func(CallbackAttempt)) { s.attempted = f }

// FormatKronor and FormatQuantity show a decimal text as the checkout page does.
func FormatKronor(s string) string   { return kronor(mustDec(s)) }
func FormatQuantity(s string) string { return quantity(mustDec(s)) }
