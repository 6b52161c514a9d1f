package main

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/posd/posd/internal/printer"
	"github.com/posd/posd/internal/printer/escposdecode"
	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/register"
	"github.com/posd/posd/internal/seqr"
	"github.com/posd/posd/internal/store"
)

func runReceipt(ctx context.Context, c *cli, args []string) error {
	return subcommand(c, "receipt", args, map[string]func([]string) error{
		"render": func(args []string) error {
			fs := c.newFlagSet("receipt render", "<payment-id> [--format text|escpos] [flags]",
				"Show what the printer prints for a paid payment: the ESC/POS job posd would send,\n"+
					"decoded back to text (--format text), or the raw bytes (--format escpos, e.g. to\n"+
					"send to a printer by hand). Reads the database; works while posd runs.")
			format := fs.String("format", "text", "text or escpos (png is not available in this build)")
			copyMark := fs.Bool("copy", false, "render it marked COPY, as a reprint")
			cf := addConfigFlags(fs, false)
			// Flags may come after the payment id.
			var id string
			if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
				id, args = args[0], args[1:]
			}
			if done, err := c.parse(fs, args); done || err != nil {
				return err
			}
			if id == "" && fs.NArg() == 1 {
				id = fs.Arg(0)
			} else if fs.NArg() > 0 || id == "" {
				return usageErrorf("receipt render: give exactly one payment id")
			}
			switch *format {
			case "text", "escpos":
			case "png":
				return usageErrorf("receipt render: --format png is not available in this build (no font renderer); use --format text")
			default:
				return usageErrorf("receipt render: --format %q: want text or escpos", *format)
			}
			cfg, err := c.load(cf, nil)
			if err != nil {
				return err
			}
			db, err := store.Open(ctx, cfg.DB.Path, store.Options{Logger: zap.NewNop()})
			if err != nil {
				return migrateError(cfg.DB.Path, err)
			}
			defer db.Close()
			// ReceiptDocument only reads the database; the register never
			// runs here, so its SEQR client and journal are never used.
			client, err := seqr.New(seqr.Config{URL: cfg.Seqr.URL})
			if err != nil {
				return &configError{err: err}
			}
			reg, err := register.New(register.Config{
				Currency: cfg.Seqr.Currency, ReceiptHeader: receiptHeader(cfg.Receipt), ReceiptFooter: cfg.Receipt.Footer, Version: version(),
			}, register.Deps{Store: db, SEQR: client, Journal: noJournal{}})
			if err != nil {
				return err
			}
			doc, err := reg.ReceiptDocument(ctx, id)
			if err != nil {
				return err
			}
			doc.Copy = *copyMark
			cp, err := printer.ParseCodepage(cfg.Printer.Codepage)
			if err != nil {
				return &configError{err: err}
			}
			job, err := printer.EncodeDocument(nil, doc, printer.ReceiptOptions{Codepage: cp, Columns: cfg.Printer.Columns})
			if err != nil {
				return fmt.Errorf("encode receipt %s: %w", id, err)
			}
			if *format == "escpos" {
				_, err = c.stdout.Write(job)
				return err
			}
			cmds, err := escposdecode.Decode(job)
			if err != nil {
				return fmt.Errorf("decode receipt %s: %w", id, err)
			}
			_, err = fmt.Fprint(c.stdout, escposdecode.Render(cmds).Text(cfg.Printer.Columns))
			return err
		},
	})
}

// noJournal is the register's journal for read-only use: it refuses writes.
type noJournal struct{}

func (noJournal) Append(receipt.Post) (receipt.Post, error) {
	return receipt.Post{}, errors.New("read-only: the receipt file is not open")
}
func (noJournal) Has(string) bool            { return false }
func (noJournal) Posts(int64) []receipt.Post { return nil }
