// Package seqrreg keeps SEQR's terminal registration (terminal id, its
// password, the SEQR id) in posd's database, as the seqr adapter's
// RegistrationStore. It sits beside the store, not in it, so that the
// register, which imports the store, never depends on a provider package.
package seqrreg

import (
	"context"
	"errors"

	"github.com/posd/posd/internal/seqr"
	"github.com/posd/posd/internal/store"
)

// Store is the terminal table seen as SEQR's registration. The password is
// kept in clear because SEQR needs it on every call; the database is 0600.
type Store struct{ DB *store.DB }

var _ seqr.RegistrationStore = Store{}

// LoadRegistration reads the registration; ok=false when the till has none.
func (s Store) LoadRegistration(ctx context.Context) (seqr.Registration, bool, error) {
	t, err := s.DB.Terminal(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return seqr.Registration{}, false, nil
	}
	if err != nil {
		return seqr.Registration{}, false, err
	}
	return seqr.Registration{TerminalID: t.TerminalID, Password: t.Password, SeqrID: t.SeqrID,
		ExternalTerminalID: t.ExternalTerminalID, Name: t.Name, RegisteredAt: t.RegisteredAt}, true, nil
}

// SaveRegistration stores a new registration (one per till).
func (s Store) SaveRegistration(ctx context.Context, r seqr.Registration) error {
	return s.DB.SaveTerminal(ctx, store.Terminal{TerminalID: r.TerminalID, Password: r.Password, SeqrID: r.SeqrID,
		ExternalTerminalID: r.ExternalTerminalID, Name: r.Name}, audit("save_registration"))
}

// SaveSeqrID stores the till's SEQR id.
func (s Store) SaveSeqrID(ctx context.Context, id string) error {
	return s.DB.SetSeqrID(ctx, id, audit("save_seqr_id"))
}

// DeleteRegistration forgets the registration.
func (s Store) DeleteRegistration(ctx context.Context) error {
	return s.DB.DeleteTerminal(ctx, audit("delete_registration"))
}

func audit(event string) store.Audit {
	return store.Audit{Provider: seqr.Name, Actor: "posd", Event: event, Outcome: "success", Origin: "api"}
}
