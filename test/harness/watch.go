package harness

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/posd/posd/internal/register"
)

// WatchPaid reads payment id's event stream and sends the time its paid
// state event arrived. It returns once the stream is open (its first event
// came), so nothing the caller does next can be missed; stop ends it.
func (a *API) WatchPaid(ctx context.Context, id string) (paidAt <-chan time.Time, stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan time.Time, 1)
	first := make(chan struct{})
	streamErr := make(chan error, 1)
	go func() {
		opened, sent := false, false
		streamErr <- a.Client.Events(ctx, id, func(ev register.Event) {
			if !opened {
				opened = true
				close(first)
			}
			if !sent && ev.Type == "state" && ev.State == register.StatePaid {
				sent = true
				ch <- time.Now()
			}
		})
	}()
	select {
	case <-first:
		return ch, cancel, nil
	case err := <-streamErr:
		cancel()
		if err == nil {
			err = errors.New("event stream ended before its first event")
		}
		return nil, nil, fmt.Errorf("events: %w", err)
	}
}
