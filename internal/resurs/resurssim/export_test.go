package resurssim

// SetCallbackObserver lets the external tests wait for callback attempts
// instead of sleeping. Set it before Run starts.
func SetCallbackObserver(s *Sim, f func(CallbackAttempt)) { s.attempted = f }
