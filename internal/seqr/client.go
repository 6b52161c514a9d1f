package seqr

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/soap"
	"go.uber.org/zap"
)

// PathCashRegister2 is the path of SEQR's cash register endpoint (spec 1.1),
// the one posd is configured with: Config.URL is a host plus this path.
// seqrsim serves it under the same name; the emulator keeps its own copy on
// purpose, so that a change here is caught against it.
const PathCashRegister2 = "/soap/merchant/cashregister-2"

// Config is the client's identity and transport.
type Config struct {
	URL             string         // SOAP endpoint: a host plus PathCashRegister2, e.g. SEQR's test host https://extdev.seqr.com
	ClientID        string         // company / software name
	ClientReference string         // at most 32 characters
	Channel         string         // default "WS"; at most 40 characters
	ClientComment   string         // optional, at most 80 characters
	HTTPClient      *http.Client   // nil: a client with explicit timeouts and TLS 1.2 minimum
	RootCAs         *x509.CertPool // roots for the default client; nil: the system's
	Logger          *zap.Logger    // nil: no logging
}

// Operation names: the wrapper element of each request (spec 3.2).
const (
	opRegisterTerminal      = "registerTerminal"
	opUnregisterTerminal    = "unregisterTerminal"
	opAssignSeqrID          = "assignSeqrId"
	opSendInvoice           = "sendInvoice"
	opUpdateInvoice         = "updateInvoice"
	opGetPaymentStatus      = "getPaymentStatus"
	opCancelInvoice         = "cancelInvoice"
	opCommitReservation     = "commitReservation"
	opSubmitPaymentReceipt  = "submitPaymentReceipt"
	opRefundPayment         = "refundPayment"
	opMarkTransactionPeriod = "markTransactionPeriod"
	opExecuteReport         = "executeReport"
	opBenchmarkingNop       = "benchmarkingNop"
)

// Client calls SEQR. Safe for concurrent use.
type Client struct {
	cfg         Config
	soap        *soap.Caller
	log         *zap.Logger
	env         soap.Envelope
	contextHead string // <context> up to clientRequestTimeout, escaped once
}

// New checks cfg and returns a client. It starts nothing and sends nothing.
func New(cfg Config) (*Client, error) {
	if cfg.URL == "" {
		return nil, errors.New("seqr: config URL is empty")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, errors.New("seqr: config URL is not a URL")
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("seqr: config URL must be an http:// or https:// URL with a host")
	}
	if cfg.Channel == "" {
		cfg.Channel = "WS"
	}
	for _, f := range []struct {
		name, value string
		max         int
	}{
		{"channel", cfg.Channel, 40},
		{"clientComment", cfg.ClientComment, 80},
		{"clientReference", cfg.ClientReference, 32},
	} {
		if n := utf8.RuneCountInString(f.value); n > f.max {
			return nil, fmt.Errorf("seqr: config %s is %d characters, at most %d allowed", f.name, n, f.max)
		}
	}
	head, err := contextHead(cfg)
	if err != nil {
		return nil, fmt.Errorf("seqr: config %w", err)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		// The overall 10 s is reliability.md N2: a sendInvoice whose answer
		// does not come within 10 s is given up (outcome unknown).
		hc = soap.NewHTTPClient(cfg.RootCAs, overallTimeout)
	}
	c := &Client{cfg: cfg, soap: &soap.Caller{URL: cfg.URL, HTTP: hc}, log: cfg.Logger, env: requestEnvelope(), contextHead: head}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	return c, nil
}

// RegisterTerminal registers a till as a reseller user and returns its terminalId.
// password is the new terminal's password, chosen by the till.
func (c *Client) RegisterTerminal(ctx context.Context, reseller Principal, externalTerminalID, password, name string) (terminalID string, err error) {
	body, err := c.buildRegisterTerminal(reseller, externalTerminalID, password, name)
	if err != nil {
		return "", invalid(opRegisterTerminal, err)
	}
	err = c.call(ctx, opRegisterTerminal, body, []string{reseller.Password, password}, func(ret *soap.Node) error {
		if terminalID = ret.Str("terminalId"); terminalID == "" {
			return errors.New("response has no terminalId")
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return terminalID, nil
}

// UnregisterTerminal removes the till named by p (a TERMINALID principal).
func (c *Client) UnregisterTerminal(ctx context.Context, p Principal) error {
	body, err := c.buildUnregisterTerminal(p)
	if err != nil {
		return invalid(opUnregisterTerminal, err)
	}
	return c.call(ctx, opUnregisterTerminal, body, []string{p.Password}, nil)
}

// AssignSeqrID ties the till's sticker (seqrId) to the terminal.
func (c *Client) AssignSeqrID(ctx context.Context, p Principal, seqrID string) error {
	body, err := c.buildAssignSeqrID(p, seqrID)
	if err != nil {
		return invalid(opAssignSeqrID, err)
	}
	return c.call(ctx, opAssignSeqrID, body, []string{p.Password}, nil)
}

// SendInvoice issues an invoice on the till. A transport error that does not
// wrap ErrNotSent leaves the outcome unknown: do not send the invoice again.
func (c *Client) SendInvoice(ctx context.Context, p Principal, inv Invoice, tokens []CustomerToken) (SendInvoiceResult, error) {
	body, err := c.buildSendInvoice(p, &inv, tokens)
	if err != nil {
		return SendInvoiceResult{}, invalid(opSendInvoice, err)
	}
	var res SendInvoiceResult
	err = c.call(ctx, opSendInvoice, body, []string{p.Password}, func(ret *soap.Node) error {
		res = SendInvoiceResult{InvoiceReference: ret.Str("invoiceReference"), InvoiceQRCode: ret.Str("invoiceQRCode")}
		if res.InvoiceReference == "" {
			return errors.New("response has no invoiceReference")
		}
		return nil
	})
	if err != nil {
		return SendInvoiceResult{}, err
	}
	return res, nil
}

// UpdateInvoice replaces the invoice ref (acknowledgment / loyalty flow, spec 5.3).
func (c *Client) UpdateInvoice(ctx context.Context, p Principal, ref string, inv Invoice, tokens []CustomerToken) error {
	body, err := c.buildUpdateInvoice(p, ref, &inv, tokens)
	if err != nil {
		return invalid(opUpdateInvoice, err)
	}
	return c.call(ctx, opUpdateInvoice, body, []string{p.Password}, nil)
}

// GetPaymentStatus polls invoice ref; version is the last version seen (0 at first).
func (c *Client) GetPaymentStatus(ctx context.Context, p Principal, ref string, version int) (PaymentStatus, error) {
	body, err := c.buildGetPaymentStatus(p, ref, version)
	if err != nil {
		return PaymentStatus{}, invalid(opGetPaymentStatus, err)
	}
	var ps PaymentStatus
	err = c.call(ctx, opGetPaymentStatus, body, []string{p.Password}, func(ret *soap.Node) (err error) {
		ps, err = paymentStatusOf(ret)
		return err
	})
	if err != nil {
		return PaymentStatus{}, err
	}
	return ps, nil
}

// CancelInvoice cancels invoice ref. Callers branch on the codes 50 (paid),
// 51 (customer is confirming) and 95 (already canceled) with Code.
func (c *Client) CancelInvoice(ctx context.Context, p Principal, ref string) error {
	body, err := c.buildCancelInvoice(p, ref)
	if err != nil {
		return invalid(opCancelInvoice, err)
	}
	return c.call(ctx, opCancelInvoice, body, []string{p.Password}, nil)
}

// CommitReservation completes a RESERVED invoice; amount nil commits the reserved amount.
func (c *Client) CommitReservation(ctx context.Context, p Principal, ref string, amount *money.Amount, currency string) error {
	body, err := c.buildCommitReservation(p, ref, amount, currency)
	if err != nil {
		return invalid(opCommitReservation, err)
	}
	return c.call(ctx, opCommitReservation, body, []string{p.Password}, nil)
}

// SubmitPaymentReceipt confirms a payment (or refund) ersRef and attaches doc.
func (c *Client) SubmitPaymentReceipt(ctx context.Context, p Principal, ersRef string, doc ReceiptDocument) error {
	body, err := c.buildSubmitPaymentReceipt(p, ersRef, &doc)
	if err != nil {
		return invalid(opSubmitPaymentReceipt, err)
	}
	return c.call(ctx, opSubmitPaymentReceipt, body, []string{p.Password}, nil)
}

// RefundPayment refunds inv.Total of payment ersRef and returns the refund's ersReference.
func (c *Client) RefundPayment(ctx context.Context, p Principal, ersRef string, inv Invoice) (refundERSRef string, err error) {
	body, err := c.buildRefundPayment(p, ersRef, &inv)
	if err != nil {
		return "", invalid(opRefundPayment, err)
	}
	err = c.call(ctx, opRefundPayment, body, []string{p.Password}, func(ret *soap.Node) error {
		// 0 without a reference: the refund may have been made, but there
		// is nothing to record or post. An error whose outcome is unknown
		// (it arrived, so never ErrNotSent), not a silent empty success.
		refundERSRef = strings.TrimSpace(ret.Str("ersReference"))
		if refundERSRef == "" {
			return errors.New("resultCode 0 without an ersReference: outcome unknown")
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return refundERSRef, nil
}

// MarkTransactionPeriod closes the current period (per terminal with the
// parameter TERMINALID) and returns the transactionPeriodId.
func (c *Client) MarkTransactionPeriod(ctx context.Context, p Principal, params []Param) (periodID string, err error) {
	body, err := c.buildMarkTransactionPeriod(p, params)
	if err != nil {
		return "", invalid(opMarkTransactionPeriod, err)
	}
	err = c.call(ctx, opMarkTransactionPeriod, body, []string{p.Password}, func(ret *soap.Node) error {
		if periodID = ret.Str("transactionPeriodId"); periodID == "" {
			return errors.New("response has no transactionPeriodId")
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return periodID, nil
}

// ExecuteReport fetches a reconciliation report. A report that is not ready
// yet is a *ResultError with code 2 (ResultReportNotReady): retry later.
func (c *Client) ExecuteReport(ctx context.Context, p Principal, reportID, language string, params []Param) (Report, error) {
	body, err := c.buildExecuteReport(p, reportID, language, params)
	if err != nil {
		return Report{}, invalid(opExecuteReport, err)
	}
	var rep Report
	err = c.call(ctx, opExecuteReport, body, []string{p.Password}, func(ret *soap.Node) (err error) {
		rep, err = reportOf(ret)
		return err
	})
	if err != nil {
		return Report{}, err
	}
	return rep, nil
}

// BenchmarkingNop calls the credential-free no-op: a reachability probe.
func (c *Client) BenchmarkingNop(ctx context.Context) error {
	return c.call(ctx, opBenchmarkingNop, c.buildBenchmarkingNop(), nil, nil)
}
