package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/posd/posd/internal/printer"
	"github.com/posd/posd/internal/printer/escposdecode"
	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/register"
	"github.com/posd/posd/internal/store"
)

func runReceipt(ctx context.Context, c *cli, args []string) error {
	return subcommand(c, "receipt", args, map[string]func([]string) error{
		"render": func(args []string) error {
			fs := c.newFlagSet("receipt render", "<payment-id> [--format text|escpos] [flags]",
				"Show what the printer prints for a paid payment: the ESC/POS job posd would send,\n"+
					"decoded back to text (--format text), drawn as a picture of the paper (--format png,\n"+
					"to a file with --out), or the raw bytes (--format escpos, e.g. to send to a printer\n"+
					"by hand). Reads the database; works while posd runs.")
			format := fs.String("format", "text", "text, png or escpos")
			outFile := fs.String("out", "", "write to this file instead of stdout (png: receipt-<id>.png when stdout is a terminal)")
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
			case "text", "escpos", "png":
			default:
				return usageErrorf("receipt render: --format %q: want text, png or escpos", *format)
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
			// runs here, so its providers and journal are never called.
			provs, err := newProviders(cfg, db, zap.NewNop(), providerClients{})
			if err != nil {
				return err
			}
			reg, err := register.New(register.Config{
				Currency: cfg.Register.Currency, ReceiptHeader: receiptHeader(cfg.Receipt), ReceiptFooter: cfg.Receipt.Footer, ReferenceCode: referenceCode(cfg), Version: version(),
			}, register.Deps{Store: db, Providers: provs, Journal: noJournal{}})
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
			// The print worker's options for this paper: EncodeDocument and the
			// picture both follow printer.Layout, the one decision of what
			// prints (a Code 128 too wide for 58 mm becomes a QR code).
			opts := printer.ReceiptOptions{Codepage: cp, Columns: cfg.Printer.Columns}
			job, err := printer.EncodeDocument(nil, doc, opts)
			if err != nil {
				return fmt.Errorf("encode receipt %s: %w", id, err)
			}
			cmds, err := escposdecode.Decode(job)
			if err != nil {
				return fmt.Errorf("decode receipt %s: %w", id, err)
			}
			paper := escposdecode.Render(cmds)
			w := c.stdout
			if *outFile == "" && *format == "png" && isTerminal(c.stdout) {
				*outFile = "receipt-" + id + ".png" // never binary onto a terminal
			}
			var f *os.File
			if *outFile != "" {
				if f, err = os.OpenFile(*outFile, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644); err != nil {
					return fmt.Errorf("receipt render: %w", err)
				}
				w = f
			}
			switch *format {
			case "escpos":
				_, err = w.Write(job)
			case "png":
				err = receipt.LinesPNG(w, printer.Layout(doc, opts), cfg.Printer.Columns) // the printer's layout, drawn by package receipt
			default:
				_, err = fmt.Fprint(w, paper.Text(cfg.Printer.Columns))
			}
			if f != nil {
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil {
				return fmt.Errorf("receipt render: %w", err)
			}
			if f != nil {
				fmt.Fprintf(c.stderr, "wrote %s\n", *outFile)
			}
			return nil
		},
	})
}

// noJournal is the register's journal for read-only use: it refuses writes.
type noJournal struct{}

func (noJournal) Append(receipt.Post) (receipt.Post, error) {
	return receipt.Post{}, errors.New("read-only: the receipt file is not open")
}
func (noJournal) Has(string, string) bool                  { return false }
func (noJournal) Posts(int64, int) ([]receipt.Post, error) { return nil, nil }
