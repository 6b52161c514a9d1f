package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/store"
)

// This file holds the subcommands that work on the local files without a
// running posd: version, config dump, migrate, journal verify.

func runVersion(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlagSet("version", "", "Print posd's version.")
	if done, err := c.parse(fs, args); done || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("version takes no arguments")
	}
	fmt.Fprintf(c.stdout, "posd %s (%s %s/%s)\n", version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

func runConfig(ctx context.Context, c *cli, args []string) error {
	return subcommand(c, "config", args, map[string]func([]string) error{
		"dump": func(args []string) error {
			fs := c.newFlagSet("config dump", "[flags]", "Print the effective configuration (defaults < file < POSD_* env < flags) as YAML, secrets redacted.")
			cf := addConfigFlags(fs, true)
			if done, err := c.parse(fs, args); done || err != nil {
				return err
			}
			cfg, err := c.load(cf, nil)
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(c.stdout, cfg.Redacted())
			return err
		},
	})
}

func runMigrate(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlagSet("migrate", "[flags]", "Apply pending database migrations and exit. serve does the same at start;\nthis is for upgrading a register before starting the new version.")
	cf := addConfigFlags(fs, false)
	if done, err := c.parse(fs, args); done || err != nil {
		return err
	}
	cfg, err := c.load(cf, nil)
	if err != nil {
		return err
	}
	if was, err := prepareStateDir(cfg.StateDir); err != nil {
		return err
	} else if was != 0 {
		fmt.Fprintf(c.stderr, "posd: state dir %s had mode %04o; tightened to 0700\n", cfg.StateDir, was)
	}
	applied, err := store.Migrate(ctx, cfg.DB.Path, store.Options{Logger: zap.NewNop()})
	if err != nil {
		return migrateError(cfg.DB.Path, err)
	}
	if len(applied) == 0 {
		fmt.Fprintf(c.stdout, "%s: schema up to date\n", cfg.DB.Path)
		return nil
	}
	vs := make([]string, len(applied))
	for i, v := range applied {
		vs[i] = strconv.Itoa(v)
	}
	fmt.Fprintf(c.stdout, "%s: applied migrations %s\n", cfg.DB.Path, strings.Join(vs, ", "))
	return nil
}

// migrateError adds what the technician should do to the store's errors.
func migrateError(path string, err error) error {
	switch {
	case errors.Is(err, store.ErrSchemaTooNew):
		return fmt.Errorf("%w: %s was written by a newer posd; install that version again (never downgrade a register)", err, path)
	case errors.Is(err, store.ErrCorrupt):
		return fmt.Errorf("%w: restore %s from backup; the receipt file holds every recorded payment", err, path)
	}
	return err
}

func runJournal(ctx context.Context, c *cli, args []string) error {
	return subcommand(c, "journal", args, map[string]func([]string) error{
		"verify": func(args []string) error {
			fs := c.newFlagSet("journal verify", "[--file PATH] [flags]", "Check every line of the receipt file and of its rotated files (CRC, chain across files, sequence,\nunique provider references). Exits 1 naming the file and line of the first bad post when anything was altered.")
			file := fs.String("file", "", "receipt file (default: receipt.journal from the configuration)")
			cf := addConfigFlags(fs, false)
			if done, err := c.parse(fs, args); done || err != nil {
				return err
			}
			path := *file
			if path == "" {
				cfg, err := c.load(cf, nil)
				if err != nil {
					return err
				}
				path = cfg.Receipt.Journal
			}
			n, err := receipt.Verify(path)
			if err != nil {
				return fmt.Errorf("%w (%d good posts before it)", err, n)
			}
			fmt.Fprintf(c.stdout, "%s: ok, %d posts\n", path, n)
			return nil
		},
	})
}
