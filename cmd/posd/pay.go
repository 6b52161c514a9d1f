package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/register"
)

// payOptions is one `posd pay`.
type payOptions struct {
	amount      money.Amount
	rows        []register.Row
	title       string
	cashier     string
	currency    string
	interactive bool              // ask "try again / cancel" on stdin
	method      string            // "" lets posd choose (SEQR when configured)
	customer    *payment.Customer // Resurs pre-fill
	validUntil  *time.Time        // "Betala sen"
}

func runPay(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlagSet("pay", "--amount 20.00 [--method seqr|resurs|resurs_later|payson] [--rows file.json] [flags]",
		"Take a test payment through the running posd, the way the till's front end does, and\n"+
			"show it live: state, a countdown of the customer's window and, when it runs out, the\n"+
			"question \"try again or cancel\". When stdin is not a terminal the payment is cancelled\n"+
			"at that point. Resurs and Payson sales print the checkout's URL (Payson also as a QR\n"+
			"code for the customer's phone); a \"Betala sen\" sale (resurs_later) frees the till at\n"+
			"once and is followed until the customer pays or the link expires (Ctrl-C stops only\n"+
			"this command: posd keeps following it). Exits 0 when paid, 1 otherwise.")
	amountText := fs.String("amount", "", "amount to take, e.g. 20.00 (required)")
	method := fs.String("method", "", "seqr, resurs, resurs_later or payson (default: seqr when configured, else the first configured)")
	govID := fs.String("government-id", "", "Resurs: the customer's personal identity number, pre-filled in the checkout")
	mobile := fs.String("mobile", "", "Resurs: the customer's mobile number")
	email := fs.String("email", "", "Resurs: the customer's e-mail address")
	validUntil := fs.String("valid-until", "", "resurs_later: when the customer's link expires, RFC 3339 (2026-12-24T18:00:00+01:00) or a duration from now (48h); default Resurs's 24 h")
	rowsFile := fs.String("rows", "", "JSON file with the receipt rows: [{description, quantity, unitPrice, totalAmount, taxRate}] (default: one row of --amount at 25% VAT)")
	title := fs.String("title", "Test payment", "invoice title the customer sees")
	cashier := fs.String("cashier", "technician", "cashier id")
	interactive := fs.Bool("interactive", false, "read answers from stdin even when it is not a terminal")
	cf := addConfigFlags(fs, false)
	if done, err := c.parse(fs, args); done || err != nil {
		return err
	}
	if *amountText == "" {
		return usageErrorf("pay: --amount is required, e.g. --amount 20.00")
	}
	amount, err := money.Parse(*amountText)
	if err != nil || amount <= 0 {
		return usageErrorf("pay: --amount %q: want a positive amount with at most 2 decimals, e.g. 20.00", *amountText)
	}
	opt := payOptions{amount: amount, title: *title, cashier: *cashier, interactive: *interactive || isTerminal(c.stdin), method: *method}
	if err := opt.providerFlags(*govID, *mobile, *email, *validUntil, time.Now()); err != nil {
		return err
	}
	if *rowsFile != "" {
		if opt.rows, err = readRows(*rowsFile); err != nil {
			return err
		}
	}
	ac, cfg, err := c.connect(fs, cf)
	if err != nil {
		return err
	}
	opt.currency = cfg.Register.Currency
	_, err = pay(ctx, c, ac, opt)
	return err
}

// providerFlags checks the Resurs flags against the method and fills them in.
func (opt *payOptions) providerFlags(govID, mobile, email, validUntil string, now time.Time) error {
	switch opt.method {
	case "", "seqr", "resurs", "resurs_later", "payson":
	default:
		return usageErrorf("pay: --method %q: want seqr, resurs, resurs_later or payson", opt.method)
	}
	resurs := opt.method == "resurs" || opt.method == "resurs_later"
	if govID != "" || mobile != "" || email != "" {
		if !resurs {
			return usageErrorf("pay: --government-id, --mobile and --email are for --method resurs or resurs_later")
		}
		opt.customer = &payment.Customer{GovernmentID: govID, Mobile: mobile, Email: email}
	}
	if validUntil == "" {
		return nil
	}
	if opt.method != "resurs_later" {
		return usageErrorf("pay: --valid-until is for --method resurs_later")
	}
	t, err := time.Parse(time.RFC3339, validUntil)
	if err != nil {
		d, derr := time.ParseDuration(validUntil)
		if derr != nil || d <= 0 {
			return usageErrorf("pay: --valid-until %q: want an RFC 3339 time (2026-12-24T18:00:00+01:00) or a positive duration (48h)", validUntil)
		}
		t = now.Add(d)
	}
	if !t.After(now) {
		return usageErrorf("pay: --valid-until %s is not in the future", t.Format(time.RFC3339))
	}
	opt.validUntil = &t
	return nil
}

func readRows(path string) ([]register.Row, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pay --rows: %w", err)
	}
	var rows []register.Row
	if err := json.Unmarshal(b, &rows); err != nil {
		return nil, fmt.Errorf("pay --rows %s: %w", path, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("pay --rows %s: no rows", path)
	}
	return rows, nil
}

func newKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}

// pay creates the payment and follows it to a final state.
func pay(ctx context.Context, c *cli, ac *apiClient, opt payOptions) (register.Payment, error) {
	p, err := createPayment(ctx, ac, opt)
	if err != nil {
		return p, err
	}
	if p.State.Final() {
		return p, fmt.Errorf("payment %s %s%s", p.ID, p.State, errText(p))
	}
	showStart(c, p)
	return follow(ctx, c, ac, p, opt.interactive)
}

// createPayment is POST /v1/payments, the way a front end starts a sale
// (shared by `posd pay` and the demo).
func createPayment(ctx context.Context, ac *apiClient, opt payOptions) (register.Payment, error) {
	rows := opt.rows
	if len(rows) == 0 {
		rows = []register.Row{{Description: opt.title, Quantity: "1", UnitPrice: opt.amount, TotalAmount: opt.amount, TaxRate: "25"}}
	}
	var total money.Amount
	for _, r := range rows {
		total += r.TotalAmount
	}
	key := newKey()
	req := register.PaymentRequest{
		Method: opt.method, SaleID: "posd-pay-" + key[:8], CashierID: opt.cashier, Title: opt.title,
		Amount: opt.amount, Currency: opt.currency, ReceiptTotal: total, Rows: rows,
		Customer: opt.customer, ValidUntil: opt.validUntil,
	}
	return ac.CreatePayment(ctx, key, req)
}

// follow shows a payment's live state until it is final, then returns (and
// so closes the event stream, which for a paid payment may stay open for
// printer events while its receipt waits). When the customer's
// window runs out it asks the cashier (or, without a terminal, cancels).
func follow(ctx context.Context, c *cli, ac *apiClient, p register.Payment, interactive bool) (register.Payment, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := make(chan register.Event, 64)
	streamDone := make(chan error, 1)
	go func() {
		streamDone <- ac.Events(ctx, p.ID, func(ev register.Event) {
			select {
			case events <- ev:
			case <-ctx.Done():
			}
		})
	}()
	answers := make(chan string, 1)
	asked := false
	last := p.State
	// A slow fallback poll: the stream may end early (a proxy, a restart of
	// posd); the payment's state is always in GET /v1/payments/{id}.
	ticker := time.NewTicker(2 * time.Second)
	defer ticker.Stop()

	tty := isTerminal(c.stdout)
	lastShown := -1
	show := func(q register.Payment, secondsLeft int) {
		if q.State != last {
			if tty {
				fmt.Fprintln(c.stdout)
			}
			fmt.Fprintf(c.stdout, "%s: %s%s\n", q.ID, q.State, errText(q))
			lastShown = -1
			last = q.State
		}
		// A payment without a window ("Betala sen") has no countdown.
		if q.State == register.StatePolling && secondsLeft >= 0 && q.WindowEndsAt != nil {
			outage := ""
			if q.OutageSince != nil {
				outage = " (" + providerName(q) + " unreachable since " + q.OutageSince.Local().Format("15:04:05") + ", still trying)"
			}
			switch {
			case tty:
				fmt.Fprintf(c.stdout, "\rwaiting for the customer: %2d s left%s ", secondsLeft, outage)
			case lastShown < 0 || secondsLeft <= lastShown-5 || outage != "":
				// Not a terminal (a log, a pipe): a line every 5 s is enough.
				fmt.Fprintf(c.stdout, "waiting for the customer: %2d s left%s\n", secondsLeft, outage)
				lastShown = secondsLeft
			}
		}
	}
	decide := func(q register.Payment) error {
		if q.State != register.StateAwaitingDecision || asked {
			return nil
		}
		asked = true
		if !interactive {
			fmt.Fprintf(c.stdout, "the customer's window ran out and stdin is not a terminal: cancelling\n")
			_, err := ac.Cancel(ctx, q.ID)
			return err
		}
		fmt.Fprintf(c.stdout, "the customer's window ran out. [t]ry again or [c]ancel? ")
		go func() {
			line, err := bufio.NewReader(c.stdin).ReadString('\n')
			if err != nil && line == "" {
				line = "c" // end of input: cancel
			}
			select {
			case answers <- strings.TrimSpace(strings.ToLower(line)):
			case <-ctx.Done():
			}
		}()
		return nil
	}

	for {
		if p.State.Final() {
			if p.State == register.StatePaid {
				fmt.Fprintf(c.stdout, "paid: %s\n", paidText(p))
				return p, nil
			}
			return p, fmt.Errorf("payment %s %s%s", p.ID, p.State, errText(p))
		}
		if err := decide(p); err != nil {
			return p, err
		}
		select {
		case <-ctx.Done():
			return p, ctx.Err()
		case ev := <-events:
			if ev.Type == "printer" && ev.Message != "" {
				// The register sends the printer's problem just before the
				// paid event. Later printer events (the receipt printed)
				// are not waited for: pay returns at the final state.
				if tty {
					fmt.Fprintln(c.stdout)
				}
				fmt.Fprintf(c.stdout, "%s: %s\n", ev.PaymentID, ev.Message)
			}
			if ev.Payment.ID != "" {
				p = ev.Payment
			} else if ev.State != "" {
				p.State = ev.State
			}
			show(p, ev.SecondsLeft)
		case err := <-streamDone:
			streamDone = nil // keep following by polling
			if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, io.EOF) {
				fmt.Fprintf(c.stderr, "posd: event stream: %v; polling instead\n", err)
			}
		case <-ticker.C:
			if q, err := ac.Payment(ctx, p.ID); err == nil {
				p = q
				show(p, -1)
			}
		case a := <-answers:
			switch {
			case strings.HasPrefix(a, "t"):
				asked = false
				q, err := ac.Retry(ctx, p.ID)
				if err != nil {
					return p, err
				}
				p = q
				fmt.Fprintf(c.stdout, "trying again: a new window for the customer\n")
			default:
				if _, err := ac.Cancel(ctx, p.ID); err != nil {
					return p, err
				}
				fmt.Fprintf(c.stdout, "cancelling\n")
			}
		}
	}
}

func errText(p register.Payment) string {
	if p.Error == "" {
		return ""
	}
	return ": " + p.Error
}

// providerName names a payment's provider for the cashier.
func providerName(p register.Payment) string {
	switch p.Provider {
	case "resurs":
		return "Resurs Bank"
	case "payson":
		return "Payson"
	case "seqr", "":
		return "SEQR"
	}
	return p.Provider
}

// paidText is the paid line: SEQR's as release 1 printed it, the others'
// with the method and the provider's transaction reference.
func paidText(p register.Payment) string {
	if p.Provider == "seqr" || p.Provider == "" {
		return fmt.Sprintf("%s %s, ersReference %s", p.Amount, p.Currency, p.ERSReference)
	}
	name := strings.TrimSpace(providerName(p) + " " + p.MethodName)
	if p.MethodName != "" && strings.HasPrefix(p.MethodName, providerName(p)) {
		name = p.MethodName
	}
	return fmt.Sprintf("%s %s by %s, reference %s", p.Amount, p.Currency, name, p.TransactionRef)
}

// showStart tells the cashier what the customer must do now: scan the
// till's SEQR code, sign in Resurs's checkout, or open Payson's checkout
// (its URL also as a QR code for the phone).
func showStart(c *cli, p register.Payment) {
	w := c.stdout
	url := ""
	if p.CustomerView != nil {
		url = p.CustomerView.URL
	}
	switch p.Method {
	case "resurs":
		fmt.Fprintf(w, "payment %s: %s %s by Resurs Bank: enter the customer's data and let them sign in the checkout\n", p.ID, p.Amount, p.Currency)
	case "resurs_later":
		until := "Resurs's default validity"
		if p.ValidUntil != nil {
			until = p.ValidUntil.Local().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(w, "payment %s: %s %s, Betala sen: the till is free; the customer pays through Resurs's link until %s (reference %s)\n",
			p.ID, p.Amount, p.Currency, until, p.ProviderRef)
	case "payson":
		fmt.Fprintf(w, "payment %s: %s %s by Payson: the customer opens the checkout (scan the code below) and pays\n", p.ID, p.Amount, p.Currency)
	default:
		fmt.Fprintf(w, "payment %s: %s %s, ask the customer to scan the till's SEQR code\n", p.ID, p.Amount, p.Currency)
		return
	}
	if url == "" {
		return
	}
	fmt.Fprintf(w, "checkout: %s\n", url)
	if p.Method == "payson" {
		if qr, err := terminalQR(url); err == nil {
			fmt.Fprint(w, qr)
		} else {
			fmt.Fprintf(c.stderr, "posd: %v (open the URL instead)\n", err)
		}
	}
}
