package register

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/posd/posd/internal/scanner"
	"github.com/posd/posd/internal/seqr"
	"github.com/posd/posd/internal/store"
)

// terminalCreds is the stored registration with its secret.
type terminalCreds struct{ store.Terminal }

func (t terminalCreds) principal() seqr.Principal { return seqr.Terminal(t.TerminalID, t.Password) }

func (t terminalCreds) public() Terminal {
	at := t.RegisteredAt.UTC()
	return Terminal{Registered: true, TerminalID: t.TerminalID, ExternalTerminalID: t.ExternalTerminalID,
		Name: t.Name, SeqrID: t.SeqrID, RegisteredAt: &at}
}

// terminal returns the registration or ErrNotRegistered.
func (r *Register) terminal(ctx context.Context) (terminalCreds, error) {
	t, err := r.db.Terminal(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return terminalCreds{}, ErrNotRegistered
	}
	if err != nil {
		return terminalCreds{}, err
	}
	return terminalCreds{t}, nil
}

// Terminal returns the registration without its password.
func (r *Register) Terminal(ctx context.Context) (Terminal, error) {
	t, err := r.terminal(ctx)
	if errors.Is(err, ErrNotRegistered) {
		return Terminal{}, nil
	}
	if err != nil {
		return Terminal{}, err
	}
	return t.public(), nil
}

const passwordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newPassword returns 24 random alphanumerics (about 143 bits).
func newPassword() (string, error) {
	var b strings.Builder
	max := big.NewInt(int64(len(passwordAlphabet)))
	for range 24 {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("generate terminal password: %w", err)
		}
		b.WriteByte(passwordAlphabet[n.Int64()])
	}
	return b.String(), nil
}

// providerError turns a SEQR failure into an error for the API without
// anything a transport error might echo (never the secrets given).
func providerError(op string, err error, secrets ...string) error {
	if code, ok := seqr.Code(err); ok {
		return fmt.Errorf("%s: %w: %d %s", op, ErrProviderRejected, code, seqr.ResultName(code))
	}
	msg := err.Error()
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	if errors.Is(err, seqr.ErrNotSent) {
		return fmt.Errorf("%s: %w: %s", op, ErrOffline, msg)
	}
	return fmt.Errorf("%s: %w: %s", op, ErrProviderRejected, msg)
}

// RegisterTerminal registers this till with SEQR using the shop's reseller
// credentials, which are used for this one call and never stored or logged.
// The terminal password is generated here and stored.
func (r *Register) RegisterTerminal(ctx context.Context, req RegisterTerminalRequest) (Terminal, error) {
	if err := ValidateTerminalRequest(req); err != nil {
		return Terminal{}, err
	}
	if _, err := r.terminal(ctx); err == nil {
		return Terminal{}, ErrAlreadyRegistered
	} else if !errors.Is(err, ErrNotRegistered) {
		return Terminal{}, err
	}
	password, err := newPassword()
	if err != nil {
		return Terminal{}, err
	}
	reseller := seqr.Principal{Type: seqr.PrincipalResellerUser, ID: req.ResellerID, UserID: req.ResellerUserID, Password: req.ResellerPassword}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
	defer cancel()
	id, err := r.seqr.RegisterTerminal(cctx, reseller, req.ExternalTerminalID, password, req.Name)
	if err != nil {
		return Terminal{}, providerError("register terminal", err, req.ResellerPassword, password)
	}
	t := store.Terminal{TerminalID: id, Password: password, ExternalTerminalID: req.ExternalTerminalID, Name: req.Name}
	if err := r.db.SaveTerminal(ctx, t, store.Audit{Actor: "posd", Event: "register_terminal", Outcome: "success", Origin: "api",
		Detail: "reseller " + req.ResellerID + ", terminal " + id}); err != nil {
		return Terminal{}, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	r.log.Info("terminal registered", zap.String("terminal", id), zap.String("external", req.ExternalTerminalID))
	return r.Terminal(ctx)
}

// UnregisterTerminal removes this till from SEQR and forgets it locally.
// Refused while payments are open; an unknown payment without a reference
// is not open (it can never be polled, SEQR reverses it) and does not block.
func (r *Register) UnregisterTerminal(ctx context.Context) error {
	t, err := r.terminal(ctx)
	if err != nil {
		return err
	}
	open, err := r.db.CountOpen(ctx)
	if err != nil {
		return err
	}
	if open > 0 {
		return fmt.Errorf("unregister terminal: %d payment(s) still open: %w", open, ErrInvalidState)
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
	defer cancel()
	if err := r.seqr.UnregisterTerminal(cctx, t.principal()); err != nil {
		// 29: SEQR no longer knows the terminal, so forgetting it is right.
		if code, ok := seqr.Code(err); !ok || code != seqr.ResultInvalidInitiatorPrincipalID {
			return providerError("unregister terminal", err, t.Password)
		}
	}
	if err := r.db.DeleteTerminal(ctx, store.Audit{Actor: "posd", Event: "unregister_terminal", Outcome: "success", Origin: "api",
		Detail: "terminal " + t.TerminalID}); err != nil {
		return fmt.Errorf("%w: %v", ErrStorage, err)
	}
	r.log.Info("terminal unregistered", zap.String("terminal", t.TerminalID))
	return nil
}

func validSeqrID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// AssignSeqrID ties the till's sticker (its SEQR id, alphanumeric) to the terminal.
func (r *Register) AssignSeqrID(ctx context.Context, seqrID string) (Terminal, error) {
	if !validSeqrID(seqrID) {
		return Terminal{}, &ValidationError{Field: "seqrId", Message: fmt.Sprintf("must be 1 to 64 letters or digits, got %q", seqrID)}
	}
	return r.assignSeqrID(ctx, seqrID, "api")
}

func (r *Register) assignSeqrID(ctx context.Context, seqrID, origin string) (Terminal, error) {
	t, err := r.terminal(ctx)
	if err != nil {
		return Terminal{}, err
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
	defer cancel()
	if err := r.seqr.AssignSeqrID(cctx, t.principal(), seqrID); err != nil {
		if code, ok := seqr.Code(err); ok && code == seqr.ResultInvalidSeqrID {
			return Terminal{}, &ValidationError{Field: "seqrId",
				Message: fmt.Sprintf("SEQR refused %q (53 INVALID_SEQR_ID): not a valid sticker id or assigned to another till", seqrID)}
		}
		return Terminal{}, providerError("assign seqr id", err, t.Password)
	}
	if err := r.db.SetSeqrID(ctx, seqrID, store.Audit{Actor: "posd", Event: "assign_seqr_id", Outcome: "success", Origin: origin,
		Detail: "seqr id " + seqrID}); err != nil {
		return Terminal{}, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	r.log.Info("seqr id assigned", zap.String("seqrId", seqrID), zap.String("origin", origin))
	return r.Terminal(ctx)
}

// stickerPrefix is the till sticker's QR payload before the SEQR id.
const stickerPrefix = "HTTP://SEQR.SE/Q"

// AssignSeqrIDByScan waits up to timeout for the next scan and assigns it
// as the SEQR id. A scan that is not an id gives a *ValidationError saying
// what was read; no scan gives ErrScanTimeout.
func (r *Register) AssignSeqrIDByScan(ctx context.Context, timeout time.Duration) (Terminal, error) {
	if _, err := r.terminal(ctx); err != nil {
		return Terminal{}, err
	}
	ch := make(chan scanner.Scan, 1)
	r.mu.Lock()
	if r.scanWait != nil {
		r.mu.Unlock()
		return Terminal{}, fmt.Errorf("assign seqr id by scan: already waiting for a scan: %w", ErrInvalidState)
	}
	r.scanWait = ch
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		if r.scanWait == ch {
			r.scanWait = nil
		}
		r.mu.Unlock()
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var s scanner.Scan
	select {
	case s = <-ch:
	case <-timer.C:
		return Terminal{}, ErrScanTimeout
	case <-ctx.Done():
		return Terminal{}, ctx.Err()
	}
	code := strings.TrimSpace(s.Code)
	if len(code) > len(stickerPrefix) && strings.EqualFold(code[:len(stickerPrefix)], stickerPrefix) {
		code = code[len(stickerPrefix):]
	}
	if !validSeqrID(code) {
		return Terminal{}, &ValidationError{Field: "seqrId",
			Message: fmt.Sprintf("the scanned code %q is not a SEQR id (letters and digits only)", s.Code)}
	}
	return r.assignSeqrID(ctx, code, "scanner")
}

// HandleScan receives every scan from the scanner supervisor. Outside
// "assign SEQR id" mode a scan is logged and ignored.
func (r *Register) HandleScan(s scanner.Scan) {
	r.mu.Lock()
	ch := r.scanWait
	r.scanWait = nil
	r.mu.Unlock()
	if ch == nil {
		r.log.Info("scan ignored: not waiting for a SEQR id", zap.String("code", s.Code), zap.String("symbology", s.Symbology))
		return
	}
	ch <- s // buffered, and only this call sends on it
}
