package seqr

import (
	"context"
	"errors"
	"net/http"

	"github.com/posd/posd/internal/money"
	"go.uber.org/zap"
)

// CONTRACT STUB: the client helper replaces this file's bodies; the signatures are the contract.

// Config is the client's identity and transport.
type Config struct {
	URL             string       // SOAP endpoint, e.g. https://extdev.seqr.com/soap/merchant/cashregister-2
	ClientID        string       // company / software name
	ClientReference string       // at most 32 characters
	Channel         string       // default "WS"
	HTTPClient      *http.Client // nil: a client with explicit timeouts and TLS 1.2 minimum
	Logger          *zap.Logger  // nil: no logging
}

// Client calls SEQR. Safe for concurrent use.
type Client struct{ cfg Config }

var errStub = errors.New("seqr: not implemented")

func New(cfg Config) (*Client, error) { return &Client{cfg: cfg}, nil }

func ResultName(code int) string { return "UNKNOWN ERSWSResultCode = " + itoa(code) }

func (c *Client) RegisterTerminal(ctx context.Context, reseller Principal, externalTerminalID, password, name string) (terminalID string, err error) {
	return "", errStub
}
func (c *Client) UnregisterTerminal(ctx context.Context, p Principal) error          { return errStub }
func (c *Client) AssignSeqrID(ctx context.Context, p Principal, seqrID string) error { return errStub }
func (c *Client) SendInvoice(ctx context.Context, p Principal, inv Invoice, tokens []CustomerToken) (SendInvoiceResult, error) {
	return SendInvoiceResult{}, errStub
}
func (c *Client) UpdateInvoice(ctx context.Context, p Principal, ref string, inv Invoice, tokens []CustomerToken) error {
	return errStub
}
func (c *Client) GetPaymentStatus(ctx context.Context, p Principal, ref string, version int) (PaymentStatus, error) {
	return PaymentStatus{}, errStub
}
func (c *Client) CancelInvoice(ctx context.Context, p Principal, ref string) error { return errStub }
func (c *Client) CommitReservation(ctx context.Context, p Principal, ref string, amount *money.Amount, currency string) error {
	return errStub
}
func (c *Client) SubmitPaymentReceipt(ctx context.Context, p Principal, ersRef string, doc ReceiptDocument) error {
	return errStub
}
func (c *Client) RefundPayment(ctx context.Context, p Principal, ersRef string, inv Invoice) (refundERSRef string, err error) {
	return "", errStub
}
func (c *Client) MarkTransactionPeriod(ctx context.Context, p Principal, params []Param) (periodID string, err error) {
	return "", errStub
}
func (c *Client) ExecuteReport(ctx context.Context, p Principal, reportID, language string, params []Param) (Report, error) {
	return Report{}, errStub
}
func (c *Client) BenchmarkingNop(ctx context.Context) error { return errStub }
