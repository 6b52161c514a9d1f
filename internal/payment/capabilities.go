package payment

import (
	"context"
	"errors"
	"time"

	"github.com/posd/posd/internal/money"
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

// Annuller is the capability of a provider whose payments stay authorized
// until the merchant captures them (Resurs's "Betala sen" before
// finalizePayment, an additional debit before its finalize): an annulment
// releases all or part of what is not yet captured, so the customer is
// never charged it. A refund gives back what was captured.
//
// The register runs an annulment while no outbox task of the payment runs
// (a queued capture then captures only what is left), with the outcomes of
// Refund: ErrNotSent or *RefusedError -> nothing annulled; anything else ->
// unknown, never sent again.
type Annuller interface {
	// Annul annuls r.Amount of what is left to capture (r.Full: all of
	// it); RefundID is the annulment's id, Refunded.Ref its own reference.
	Annul(ctx context.Context, r RefundOrder) (Refunded, error)
}

// DebitOrder asks for an additional debit: rows added to a paid payment.
type DebitOrder struct {
	DebitID        string // posd's id of the debit: unique, never reused
	PaymentID      string
	Method         string
	Session        Session
	TransactionRef string // the paid payment's TransactionRef
	Rows           []Row
	Amount         money.Amount // the rows' sum, > 0
	Currency       string
	CashierID      string
	Reason         string
}

// Debited is a provider's confirmation of an additional debit.
type Debited struct {
	Ref string // the debit's own provider reference (unique per provider)
	// Tasks must follow the debit, as AfterPaid's follow "paid" (Resurs:
	// finalizePayment of the added amount); committed with it.
	Tasks []Task
}

// Debiter is the capability of a provider that can add rows to a paid
// payment (Resurs's additionalDebitOfPayment), within its own limits. The
// outcomes are Refund's.
type Debiter interface {
	AdditionalDebit(ctx context.Context, d DebitOrder) (Debited, error)
}

// Kinds of adjustments: what Labeler and Confirmer are told.
const (
	KindRefund = "refund"
	KindAnnul  = "annul"
	KindDebit  = "debit"
)

// ErrNotMade is Confirmer.Confirm's answer when the provider shows no trace
// of the adjustment.
var ErrNotMade = errors.New("not made at the provider")

// Confirmer is the capability of a provider that can tell whether a
// refund, annulment or debit whose answer was lost (posd stopped, the
// network failed) was made: Resurs shows each diff with posd's id of it.
// The register asks about those it holds unknown, so that they need no
// day close or manual handling.
type Confirmer interface {
	// Confirm returns the reference of adjustment r.RefundID of kind (and
	// a debit's tasks) when the provider shows it made; ErrNotMade when it
	// shows none; any other error says nothing.
	Confirm(ctx context.Context, kind string, r RefundOrder) (Debited, error)
}
