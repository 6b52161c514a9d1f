package register

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/scanner"
	"github.com/posd/posd/internal/store"
)

// The till's enrolment with the provider that needs one (SEQR's terminal
// registration and SEQR id) goes through payment.Enroller; the register
// keeps the rules that are the till's own: no unregistering with open
// payments, and assigning the id from the scanner.

func (r *Register) enrolment() (payment.Enroller, error) {
	if r.enroller == nil {
		return nil, fmt.Errorf("terminal registration: %w", ErrNotSupported)
	}
	return r.enroller, nil
}

func terminalOf(e payment.Enrollment) Terminal {
	if !e.Registered {
		return Terminal{}
	}
	t := Terminal{Registered: true, TerminalID: e.TerminalID, ExternalTerminalID: e.ExternalTerminalID, Name: e.Name, SeqrID: e.ID}
	if !e.RegisteredAt.IsZero() {
		at := e.RegisteredAt.UTC()
		t.RegisteredAt = &at
	}
	return t
}

// Terminal returns the registration without its password (empty when no
// provider needs one).
func (r *Register) Terminal(ctx context.Context) (Terminal, error) {
	if r.enroller == nil {
		return Terminal{}, nil
	}
	e, err := r.enroller.Enrollment(ctx)
	if err != nil {
		return Terminal{}, err
	}
	return terminalOf(e), nil
}

// enrollError turns an enrolment or period call's failure into the
// register's sentinels: not sent -> offline, refused -> rejected, not
// ready -> the missing step; the provider's words are kept (secrets were
// taken out by the adapter).
func enrollError(op string, err error) error {
	var nr *payment.NotReadyError
	switch {
	case errors.As(err, &nr):
		return readyError(err)
	case errors.Is(err, payment.ErrNotEnrolled):
		return ErrNotRegistered
	case errors.Is(err, payment.ErrAlreadyEnrolled):
		return ErrAlreadyRegistered
	case errors.Is(err, payment.ErrNotSent):
		return fmt.Errorf("%s: %w: %v", op, ErrOffline, err)
	}
	if re, ok := payment.Refused(err); ok {
		return fmt.Errorf("%s: %w: %s", op, ErrProviderRejected, re.Message)
	}
	return fmt.Errorf("%s: %w: %v", op, ErrProviderRejected, err)
}

// RegisterTerminal registers this till with the shop's reseller
// credentials, which are used for this one call and never stored or logged.
func (r *Register) RegisterTerminal(ctx context.Context, req RegisterTerminalRequest) (Terminal, error) {
	e, err := r.enrolment()
	if err != nil {
		return Terminal{}, err
	}
	if err := ValidateTerminalRequest(req); err != nil {
		return Terminal{}, err
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
	defer cancel()
	en, err := e.Enroll(cctx, payment.EnrollRequest{ResellerID: req.ResellerID, ResellerUserID: req.ResellerUserID,
		ResellerPassword: req.ResellerPassword, ExternalTerminalID: req.ExternalTerminalID, Name: req.Name})
	if err != nil {
		return Terminal{}, enrollError("register terminal", err)
	}
	r.auditTerminal(ctx, "register_terminal", "reseller "+req.ResellerID+", terminal "+en.TerminalID)
	r.log.Info("terminal registered", zap.String("terminal", en.TerminalID), zap.String("external", req.ExternalTerminalID))
	return terminalOf(en), nil
}

func (r *Register) auditTerminal(ctx context.Context, event, detail string) {
	if err := r.db.AddAudit(context.WithoutCancel(ctx), "", store.Audit{Provider: r.enrollerName(), Actor: "posd", Event: event,
		Outcome: "success", Origin: "api", Detail: detail}); err != nil {
		r.log.Error("audit", zap.String("event", event), zap.Error(err))
	}
}

func (r *Register) enrollerName() string {
	for _, pv := range r.provs {
		if e, ok := pv.Provider.(payment.Enroller); ok && e == r.enroller {
			return pv.name
		}
	}
	return ""
}

// UnregisterTerminal removes this till from the provider and forgets it
// locally. Refused while payments are open; an unknown payment without a
// reference is not open and does not block.
func (r *Register) UnregisterTerminal(ctx context.Context) error {
	e, err := r.enrolment()
	if err != nil {
		return err
	}
	en, err := e.Enrollment(ctx)
	if err != nil {
		return err
	}
	if !en.Registered {
		return ErrNotRegistered
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
	if err := e.Unenroll(cctx); err != nil {
		return enrollError("unregister terminal", err)
	}
	r.auditTerminal(ctx, "unregister_terminal", "terminal "+en.TerminalID)
	r.log.Info("terminal unregistered", zap.String("terminal", en.TerminalID))
	return nil
}

// AssignSeqrID ties the till's sticker (its SEQR id) to the terminal.
func (r *Register) AssignSeqrID(ctx context.Context, seqrID string) (Terminal, error) {
	e, err := r.enrolment()
	if err != nil {
		return Terminal{}, err
	}
	if err := e.ValidID(seqrID); err != nil {
		return Terminal{}, &ValidationError{Field: "seqrId", Message: err.Error()}
	}
	return r.assignSeqrID(ctx, e, seqrID, "api")
}

func (r *Register) assignSeqrID(ctx context.Context, e payment.Enroller, seqrID, origin string) (Terminal, error) {
	cctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
	defer cancel()
	en, err := e.AssignID(cctx, seqrID)
	if re, ok := payment.Refused(err); ok && errors.Is(err, payment.ErrInvalidID) {
		return Terminal{}, &ValidationError{Field: "seqrId", Message: re.Message}
	}
	if err != nil {
		return Terminal{}, enrollError("assign seqr id", err)
	}
	r.auditTerminal(ctx, "assign_seqr_id", "seqr id "+seqrID+" ("+origin+")")
	r.log.Info("seqr id assigned", zap.String("seqrId", seqrID), zap.String("origin", origin))
	return terminalOf(en), nil
}

// stickerPrefix is the till sticker's QR payload before the SEQR id.
const stickerPrefix = "HTTP://SEQR.SE/Q"

// AssignSeqrIDByScan waits up to timeout for the next scan and assigns it
// as the SEQR id. A scan that is not an id gives a *ValidationError saying
// what was read; no scan gives ErrScanTimeout.
func (r *Register) AssignSeqrIDByScan(ctx context.Context, timeout time.Duration) (Terminal, error) {
	e, err := r.enrolment()
	if err != nil {
		return Terminal{}, err
	}
	if en, err := e.Enrollment(ctx); err != nil {
		return Terminal{}, err
	} else if !en.Registered {
		return Terminal{}, ErrNotRegistered
	}
	if r.scan == nil {
		// Answered at once: waiting the whole timeout for a scan that
		// cannot come would only hold the cashier up.
		return Terminal{}, fmt.Errorf("assign seqr id by scan: %w", ErrNoScanner)
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
	if e.ValidID(code) != nil {
		return Terminal{}, &ValidationError{Field: "seqrId",
			Message: fmt.Sprintf("the scanned code %q is not a SEQR id (letters and digits only)", s.Code)}
	}
	return r.assignSeqrID(ctx, e, code, "scanner")
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
