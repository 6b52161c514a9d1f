package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/payment"
	"github.com/posd/posd/internal/payson/paysonsim"
	"github.com/posd/posd/internal/register"
	"github.com/posd/posd/internal/resurs/resurssim"
)

// demoSale is one sale of the demo after the SEQR one.
type demoSale struct {
	Name    string
	Payment register.Payment
	Receipt string
	Slip    string // "Betala sen": the pay-later slip printed at the start
}

// The demo customer: an approved person of Resurs's published test data.
const (
	demoGovID  = "198305147715"
	demoMobile = "0701112233"
	demoEmail  = "kund@example.com"
)

// demoWait bounds each wait for something the demo's customer or posd's
// outbox does; the whole demo stays far inside CI's 300 s.
const demoWait = 30 * time.Second

// demoRun is what the provider sales of the demo share.
type demoRun struct {
	c        *cli
	ac       *apiClient
	m        *Main
	sims     *demoSims
	printDir string
	opt      demoOptions
	currency string
	customer *payment.Customer
}

// demoProviderSales runs the sales after the SEQR one: a Resurs Checkout
// POS sale, a "Betala sen" sale that frees the till at once, a Payson sale
// while the "Betala sen" customer has not paid yet, and then that
// customer paying through the link, which posd finalizes through its
// outbox. The customer plays through the emulators' control functions.
func demoProviderSales(ctx context.Context, c *cli, ac *apiClient, m *Main, sims *demoSims, printDir string, opt demoOptions, currency string) ([]demoSale, error) {
	d := &demoRun{c: c, ac: ac, m: m, sims: sims, printDir: printDir, opt: opt, currency: currency,
		customer: &payment.Customer{GovernmentID: demoGovID, Mobile: demoMobile, Email: demoEmail}}
	pos, err := d.resursPOS(ctx)
	if err != nil {
		return nil, err
	}
	later, laterSID, slip, err := d.laterStart(ctx)
	if err != nil {
		return nil, err
	}
	ps, err := d.payson(ctx)
	if err != nil {
		return nil, err
	}
	paid, err := d.laterPaid(ctx, later, laterSID)
	if err != nil {
		return nil, err
	}
	paid.Slip = slip
	if err := d.afterSales(ctx, pos); err != nil {
		return nil, err
	}
	return []demoSale{pos, ps, paid}, nil
}

// afterSales plays after-sales on the Resurs POS sale: the customer adds a
// cushion on the same invoice (an additional debit within the payment's
// limit, captured through the outbox), then returns it (a refund of that
// line, which Resurs credits as such).
func (d *demoRun) afterSales(ctx context.Context, pos demoSale) error {
	out := d.c.stdout
	cushion := []register.Row{{Description: "Sittdyna", Quantity: "1", UnitPrice: money.MustParse("299.00"), TotalAmount: money.MustParse("299.00"), TaxRate: "25"}}
	fmt.Fprintf(out, "\n9. after-sales on the Resurs sale %s: the customer adds a cushion to the same invoice, then returns it\n", pos.Payment.ID)
	debit, err := d.ac.AdditionalDebit(ctx, pos.Payment.ID, "demo-debit-"+pos.Payment.ID, register.DebitRequest{Rows: cushion, CashierID: "demo"})
	if err != nil {
		return fmt.Errorf("demo: additional debit: %w", err)
	}
	if err := demoWaitFor(ctx, "Resurs payment "+pos.Payment.TransactionRef+" captured again", func() (bool, error) {
		ps, err := d.sims.resurs.Payment(pos.Payment.TransactionRef)
		return ps.Finalized && !slices.Contains(ps.Status, "DEBITABLE"), err
	}); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintf(out, "   additional debit %s %s, reference %s: posd captured it through its outbox\n", debit.Amount, d.currency, debit.ProviderRef)
	refund, err := d.ac.Refund(ctx, pos.Payment.ID, "demo-return-"+pos.Payment.ID, register.RefundRequest{Rows: cushion,
		Amount: money.MustParse("299.00"), CashierID: "demo", Reason: "Retur"})
	if err != nil {
		return fmt.Errorf("demo: refund the cushion: %w", err)
	}
	fmt.Fprintf(out, "   refund %s %s of the line %q, reference %s\n", refund.Amount, d.currency, cushion[0].Description, refund.ProviderRef)
	return nil
}

// resursPOS is a Resurs Checkout POS sale: the cashier enters the
// customer's data in Resurs's iframe, the customer picks invoice and signs.
func (d *demoRun) resursPOS(ctx context.Context) (demoSale, error) {
	out := d.c.stdout
	sofa := []register.Row{{Description: "Fåtölj", Quantity: "1", UnitPrice: money.MustParse("1995.00"), TotalAmount: money.MustParse("1995.00"), TaxRate: "25"}}
	p, err := createPayment(ctx, d.ac, payOptions{method: "resurs", amount: money.MustParse("1995.00"), rows: sofa, title: "Demobutiken",
		cashier: "demo", currency: d.currency, customer: d.customer})
	if err != nil {
		return demoSale{}, fmt.Errorf("demo: start the Resurs sale: %w", err)
	}
	fmt.Fprintf(out, "\n5. Resurs Bank Checkout POS sale, %s %s: payment %s; the customer signs in the checkout in %s\n", p.Amount, p.Currency, p.ID, d.opt.payAfter)
	sid, err := resursSession(p)
	if err != nil {
		return demoSale{}, fmt.Errorf("demo: the Resurs sale: %w", err)
	}
	fmt.Fprintf(out, "   checkout: %s\n", p.CustomerView.URL)
	done := playLater(ctx, d.opt.payAfter, func() error {
		_, err := d.sims.resurs.CompleteSession(sid, resurssim.Complete{GovernmentID: demoGovID, Method: "invoice", Mobile: demoMobile, Email: demoEmail})
		return err
	})
	sale, err := d.followSale(ctx, p, done, "Resurs sale")
	if err != nil {
		return demoSale{}, err
	}
	fmt.Fprintf(out, "\n   the printed receipt:\n\n%s\n", indent(sale.Receipt))
	return sale, nil
}

// laterStart starts a "Betala sen" sale: the till is free as soon as the
// cashier has sent the customer Resurs's link, and the pay-later slip prints.
func (d *demoRun) laterStart(ctx context.Context) (p register.Payment, sid, slip string, err error) {
	lamp := []register.Row{{Description: "Golvlampa", Quantity: "1", UnitPrice: money.MustParse("799.00"), TotalAmount: money.MustParse("799.00"), TaxRate: "25"}}
	until := time.Now().Add(48 * time.Hour).Truncate(time.Minute)
	p, err = createPayment(ctx, d.ac, payOptions{method: "resurs_later", amount: money.MustParse("799.00"), rows: lamp, title: "Demobutiken",
		cashier: "demo", currency: d.currency, customer: d.customer, validUntil: &until})
	if err != nil {
		return p, "", "", fmt.Errorf("demo: start the Betala sen sale: %w", err)
	}
	if sid, err = resursSession(p); err != nil {
		return p, "", "", fmt.Errorf("demo: the Betala sen sale: %w", err)
	}
	// The cashier chooses "Betala sen" in the checkout: Resurs sends the link.
	if _, err := d.sims.resurs.SendLater(sid, until); err != nil {
		return p, "", "", fmt.Errorf("demo: send the Betala sen link: %w", err)
	}
	fmt.Fprintf(d.c.stdout, "\n6. Betala sen sale, %s %s: payment %s (reference %s) is %s; the till is free at once, the customer pays through\n"+
		"   Resurs's link before %s\n", p.Amount, p.Currency, p.ID, p.ProviderRef, p.State, until.Local().Format("2006-01-02 15:04"))
	if slip, err = demoPrinted(ctx, d.m, d.printDir, "Referens: "+p.ProviderRef, ""); err != nil {
		return p, "", "", fmt.Errorf("demo: the pay-later slip: %w", err)
	}
	if slip != "" {
		fmt.Fprintf(d.c.stdout, "\n   the pay-later slip:\n\n%s\n", indent(slip))
	}
	return p, sid, slip, nil
}

// payson is a Payson sale, run while "Betala sen" is still open: the
// customer opens the checkout from the QR code and pays by card; posd
// ships it through its outbox, which captures the money.
func (d *demoRun) payson(ctx context.Context) (demoSale, error) {
	out := d.c.stdout
	basket := []register.Row{
		{Description: "Te", Quantity: "1", UnitPrice: money.MustParse("35.00"), TotalAmount: money.MustParse("35.00"), TaxRate: "12"},
		{Description: "Mugg", Quantity: "2", UnitPrice: money.MustParse("60.00"), TotalAmount: money.MustParse("120.00"), TaxRate: "25"},
	}
	p, err := createPayment(ctx, d.ac, payOptions{method: "payson", amount: money.MustParse("155.00"), rows: basket, title: "Demobutiken",
		cashier: "demo", currency: d.currency})
	if err != nil {
		return demoSale{}, fmt.Errorf("demo: start the Payson sale: %w", err)
	}
	fmt.Fprintf(out, "\n7. Payson sale, %s %s, while the Betala sen customer has not paid: payment %s; the customer pays by card in %s\n",
		p.Amount, p.Currency, p.ID, d.opt.payAfter)
	if p.CustomerView != nil && p.CustomerView.URL != "" {
		fmt.Fprintf(out, "   checkout (for the customer's phone): %s\n", p.CustomerView.URL)
		if qr, err := terminalQR(p.CustomerView.URL); err == nil {
			fmt.Fprint(out, qr)
		}
	}
	checkout := p.ProviderRef
	done := playLater(ctx, d.opt.payAfter, func() error {
		return d.sims.payson.Pay(checkout, paysonsim.PayRequest{Method: "card"})
	})
	sale, err := d.followSale(ctx, p, done, "Payson sale")
	if err != nil {
		return demoSale{}, err
	}
	if err := demoWaitFor(ctx, "Payson checkout "+checkout+" shipped", func() (bool, error) {
		st, err := d.sims.payson.Status(checkout)
		return strings.EqualFold(st, "shipped"), err
	}); err != nil {
		return demoSale{}, fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintf(out, "   posd shipped checkout %s through its outbox\n\n   the printed receipt:\n\n%s\n", checkout, indent(sale.Receipt))
	return sale, nil
}

// laterPaid is the "Betala sen" customer paying through the link: posd
// sees it at its slow cadence, records the sale and finalizes it through
// the outbox.
func (d *demoRun) laterPaid(ctx context.Context, later register.Payment, sid string) (demoSale, error) {
	fmt.Fprintf(d.c.stdout, "\n8. the Betala sen customer pays payment %s through the link\n", later.ID)
	if _, err := d.sims.resurs.CompleteSession(sid, resurssim.Complete{GovernmentID: demoGovID, Method: "invoice", Later: true}); err != nil {
		return demoSale{}, fmt.Errorf("demo: the Betala sen customer: %w", err)
	}
	paid := make(chan error, 1)
	paid <- nil
	sale, err := d.followSale(ctx, later, paid, "Betala sen sale")
	if err != nil {
		return demoSale{}, err
	}
	if err := demoWaitFor(ctx, "Resurs payment "+sale.Payment.TransactionRef+" finalized", func() (bool, error) {
		ps, err := d.sims.resurs.Payment(sale.Payment.TransactionRef)
		return ps.Finalized, err
	}); err != nil {
		return demoSale{}, fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintf(d.c.stdout, "   posd finalized Resurs payment %s through its outbox\n\n   the printed receipt:\n\n%s\n",
		sale.Payment.TransactionRef, indent(sale.Receipt))
	return sale, nil
}

// resursSession is the checkout session of a started Resurs payment.
func resursSession(p register.Payment) (string, error) {
	if p.State.Final() {
		return "", fmt.Errorf("payment %s %s%s", p.ID, p.State, errText(p))
	}
	if p.CustomerView == nil || p.CustomerView.URL == "" {
		return "", fmt.Errorf("payment %s has no checkout to show", p.ID)
	}
	return resursSessionID(p.CustomerView.URL)
}

// playLater runs the customer's step after a delay, as a person would.
func playLater(ctx context.Context, after time.Duration, step func() error) <-chan error {
	done := make(chan error, 1)
	go func() {
		t := time.NewTimer(after)
		defer t.Stop()
		select {
		case <-t.C:
			done <- step()
		case <-ctx.Done():
			done <- ctx.Err()
		}
	}()
	return done
}

// demoSaleLimit bounds following one sale: the customer acts after
// --pay-after and posd checks every few seconds, so this is only reached
// when something is broken, and the demo then fails with the reason
// instead of hanging until CI's timeout.
const demoSaleLimit = 90 * time.Second

// followSale follows a sale to paid and reads its printed receipt.
func (d *demoRun) followSale(ctx context.Context, p register.Payment, customer <-chan error, what string) (demoSale, error) {
	fctx, cancel := context.WithTimeout(ctx, demoSaleLimit)
	defer cancel()
	p, err := follow(fctx, d.c, d.ac, p, false)
	if err != nil {
		return demoSale{}, fmt.Errorf("demo: the %s did not complete: %w", what, err)
	}
	if cerr := <-customer; cerr != nil {
		return demoSale{}, fmt.Errorf("demo: the %s's customer: %w", what, cerr)
	}
	text, err := demoReceipt(ctx, d.m, d.printDir, p, p.TransactionRef)
	if err != nil {
		return demoSale{}, fmt.Errorf("demo: the %s's receipt: %w", what, err)
	}
	for _, want := range []string{p.TransactionRef, p.Amount.String()} {
		if !strings.Contains(text, want) {
			return demoSale{}, fmt.Errorf("demo: the %s's receipt lacks %q", what, want)
		}
	}
	return demoSale{Name: what, Payment: p, Receipt: text}, nil
}

// demoPrinted waits for the virtual printer's text holding want; without a
// print worker it returns "".
func demoPrinted(ctx context.Context, m *Main, printDir, want, without string) (string, error) {
	if !m.printerConfigured() {
		return "", nil
	}
	var text string
	err := demoWaitFor(ctx, "the printer to print "+want, func() (bool, error) {
		t, ok := printedText(printDir, want, without)
		text = t
		return ok, nil
	})
	return text, err
}

// errWaitTimeout: something the demo waits for did not happen in time.
var errWaitTimeout = errors.New("not within the demo's wait")

// demoWaitFor checks cond every 100 ms until it holds, fails, or demoWait passes.
func demoWaitFor(ctx context.Context, what string, cond func() (bool, error)) error {
	deadline := time.NewTimer(demoWait)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			return fmt.Errorf("waiting for %s: %w (%s)", what, errWaitTimeout, demoWait)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
