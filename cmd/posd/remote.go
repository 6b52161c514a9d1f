package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/posd/posd/internal/config"
	"github.com/posd/posd/internal/register"
)

// This file holds the subcommands that talk to a running posd through its
// local API, with the token from the token file: status, terminal, period.

// connect loads the config (for the listen address and token file) and makes a client.
func (c *cli) connect(fs *flag.FlagSet, cf *configFlags) (*apiClient, config.Config, error) {
	cfg, err := c.load(cf, nil)
	if err != nil {
		return nil, cfg, err
	}
	ac, err := newAPIClient(cfg)
	return ac, cfg, err
}

func runStatus(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlagSet("status", "[--json] [flags]", "Show what the running posd is doing: terminal, SEQR reachability, open payments, devices.")
	asJSON := fs.Bool("json", false, "print the raw JSON of GET /v1/status")
	cf := addConfigFlags(fs, false)
	if done, err := c.parse(fs, args); done || err != nil {
		return err
	}
	ac, _, err := c.connect(fs, cf)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := ac.Do(ctx, http.MethodGet, "/v1/status", nil, &raw, nil); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(c, raw)
	}
	var st register.Status
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("decode status: %w", err)
	}
	printStatus(c, st)
	return nil
}

func printStatus(c *cli, st register.Status) {
	w := c.stdout
	fmt.Fprintf(w, "posd %s, ready: %t, storage: %s\n", st.Version, st.Ready, st.Storage)
	t := st.Terminal
	switch {
	case !t.Registered:
		fmt.Fprintf(w, "terminal:  not registered (posd terminal register)\n")
	case t.SeqrID == "":
		fmt.Fprintf(w, "terminal:  %s (%s), no SEQR id (posd terminal assign-seqr-id --scan)\n", t.TerminalID, t.Name)
	default:
		fmt.Fprintf(w, "terminal:  %s (%s), SEQR id %s\n", t.TerminalID, t.Name, t.SeqrID)
	}
	for _, p := range st.Providers {
		reach := "reachable"
		if !p.Reachable {
			reach = "UNREACHABLE"
			if p.LastError != "" {
				reach += " (" + p.LastError + ")"
			}
		}
		checked := "never checked"
		if p.LastChecked != nil {
			checked = "checked " + p.LastChecked.Local().Format("15:04:05")
		}
		ready := ""
		if !p.Ready && p.NotReady != "" {
			ready = "; not ready: " + p.NotReady
		}
		fmt.Fprintf(w, "%-10s %s, %s%s\n", p.Name+":", reach, checked, ready)
	}
	fmt.Fprintf(w, "payments:  %d open\n", st.Open)
	if s := st.Scanner; s != nil {
		state := "connected"
		if !s.Connected {
			state = "DISCONNECTED"
		}
		fmt.Fprintf(w, "scanner:   %s %s%s\n", s.Device, state, suffix(s.LastError))
	} else {
		fmt.Fprintf(w, "scanner:   none configured\n")
	}
	if p := st.Printer; p != nil {
		state := "online"
		if !p.Online {
			state = "OFFLINE"
		}
		extra := ""
		if p.CoverOpen {
			extra = ", cover open"
		}
		fmt.Fprintf(w, "printer:   %s %s, paper %s%s, %d queued%s\n", p.Device, state, p.Paper, extra, p.Queued, suffix(p.LastError))
	} else {
		fmt.Fprintf(w, "printer:   none configured\n")
	}
}

func suffix(lastErr string) string {
	if lastErr == "" {
		return ""
	}
	return " (" + lastErr + ")"
}

func printJSON(c *cli, v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func runTerminal(ctx context.Context, c *cli, args []string) error {
	return subcommand(c, "terminal", args, map[string]func([]string) error{
		"register":       func(a []string) error { return terminalRegister(ctx, c, a) },
		"unregister":     func(a []string) error { return terminalUnregister(ctx, c, a) },
		"assign-seqr-id": func(a []string) error { return terminalAssign(ctx, c, a) },
		"show":           func(a []string) error { return terminalShow(ctx, c, a) },
	})
}

func terminalRegister(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlagSet("terminal register", "[flags]",
		"Register this till with SEQR using the shop's reseller credentials (used once, never stored).\n"+
			"The password is read from --password-file, terminal.reseller_password_file, or the\n"+
			"reseller-password systemd credential; never from the command line.")
	resellerID := fs.String("reseller-id", "", "reseller id (default terminal.reseller_id)")
	userID := fs.String("reseller-user-id", "", "reseller user id (default terminal.reseller_user_id)")
	pwFile := fs.String("password-file", "", "file holding the reseller password, mode 0600 (default terminal.reseller_password_file)")
	extID := fs.String("external-terminal-id", "", "this till's id in the shop (default terminal.external_terminal_id, else the host name)")
	name := fs.String("name", "", "this till's name (default terminal.name)")
	cf := addConfigFlags(fs, false)
	if done, err := c.parse(fs, args); done || err != nil {
		return err
	}
	if *pwFile != "" {
		cf.set["terminal.reseller_password_file"] = *pwFile
	}
	ac, cfg, err := c.connect(fs, cf)
	if err != nil {
		return err
	}
	req := register.RegisterTerminalRequest{
		ResellerID:         first(*resellerID, cfg.Terminal.ResellerID),
		ResellerUserID:     first(*userID, cfg.Terminal.ResellerUserID),
		ResellerPassword:   cfg.Terminal.ResellerPassword.Reveal(),
		ExternalTerminalID: first(*extID, cfg.Terminal.ExternalTerminalID),
		Name:               first(*name, cfg.Terminal.Name),
	}
	if req.ExternalTerminalID == "" {
		req.ExternalTerminalID, _ = os.Hostname()
	}
	if req.Name == "" {
		req.Name = req.ExternalTerminalID
	}
	switch {
	case req.ResellerID == "":
		return usageErrorf("terminal register: no reseller id (--reseller-id or terminal.reseller_id)")
	case req.ResellerUserID == "":
		return usageErrorf("terminal register: no reseller user id (--reseller-user-id or terminal.reseller_user_id)")
	case req.ResellerPassword == "":
		return usageErrorf("terminal register: no reseller password (--password-file, terminal.reseller_password_file or the reseller-password credential)")
	}
	t, err := ac.RegisterTerminal(ctx, req)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "registered: terminal %s (%s); next: posd terminal assign-seqr-id --scan\n", t.TerminalID, t.Name)
	return nil
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func terminalUnregister(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlagSet("terminal unregister", "--yes [flags]", "Unregister this till from SEQR. It takes no SEQR payments until registered again.")
	yes := fs.Bool("yes", false, "really unregister")
	cf := addConfigFlags(fs, false)
	if done, err := c.parse(fs, args); done || err != nil {
		return err
	}
	if !*yes {
		return usageErrorf("terminal unregister: the till stops taking SEQR payments; add --yes to confirm")
	}
	ac, _, err := c.connect(fs, cf)
	if err != nil {
		return err
	}
	if err := ac.UnregisterTerminal(ctx); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, "unregistered")
	return nil
}

func terminalAssign(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlagSet("terminal assign-seqr-id", "<SEQR-ID> | --scan [--timeout 30s] [flags]",
		"Assign the till's SEQR id (the sticker's code): typed, or with --scan by scanning the sticker's barcode.")
	scan := fs.Bool("scan", false, "wait for the next scan of the till's scanner")
	timeout := fs.Duration("timeout", 30*time.Second, "how long --scan waits")
	cf := addConfigFlags(fs, false)
	if done, err := c.parse(fs, args); done || err != nil {
		return err
	}
	if *scan == (fs.NArg() == 1) || fs.NArg() > 1 {
		return usageErrorf("terminal assign-seqr-id: give either a SEQR id or --scan")
	}
	if *timeout < time.Second || *timeout > 5*time.Minute {
		return usageErrorf("terminal assign-seqr-id: --timeout must be 1s to 5m")
	}
	ac, _, err := c.connect(fs, cf)
	if err != nil {
		return err
	}
	var t register.Terminal
	if *scan {
		fmt.Fprintf(c.stdout, "scan the SEQR sticker now (%s)...\n", *timeout)
		t, err = ac.ScanSeqrID(ctx, *timeout)
	} else {
		t, err = ac.AssignSeqrID(ctx, fs.Arg(0))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "SEQR id %s assigned to terminal %s\n", t.SeqrID, t.TerminalID)
	return nil
}

func terminalShow(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlagSet("terminal show", "[flags]", "Show the till's SEQR registration (never its password).")
	cf := addConfigFlags(fs, false)
	if done, err := c.parse(fs, args); done || err != nil {
		return err
	}
	ac, _, err := c.connect(fs, cf)
	if err != nil {
		return err
	}
	t, err := ac.Terminal(ctx)
	if err != nil {
		return err
	}
	if !t.Registered {
		fmt.Fprintln(c.stdout, "not registered: posd terminal register")
		return nil
	}
	fmt.Fprintf(c.stdout, "terminal id:          %s\nexternal terminal id: %s\nname:                 %s\nSEQR id:              %s\n",
		t.TerminalID, t.ExternalTerminalID, t.Name, first(t.SeqrID, "(none: posd terminal assign-seqr-id --scan)"))
	if t.RegisteredAt != nil {
		fmt.Fprintf(c.stdout, "registered at:        %s\n", t.RegisteredAt.Local().Format(time.RFC3339))
	}
	return nil
}

func runPeriod(ctx context.Context, c *cli, args []string) error {
	return subcommand(c, "period", args, map[string]func([]string) error{
		"close": func(args []string) error {
			fs := c.newFlagSet("period close", "[--json] [flags]", "Close the transaction period with SEQR and compare its report with the local records.\nExits 1 when they disagree.")
			asJSON := fs.Bool("json", false, "print the report as JSON")
			cf := addConfigFlags(fs, false)
			if done, err := c.parse(fs, args); done || err != nil {
				return err
			}
			ac, _, err := c.connect(fs, cf)
			if err != nil {
				return err
			}
			rep, err := ac.ClosePeriod(ctx, "")
			if err != nil {
				return err
			}
			if *asJSON {
				if err := printJSON(c, rep); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(c.stdout, "period %s closed %s\nSEQR:  %d payments, %s\nlocal: %d payments, %s\n",
					rep.TransactionPeriodID, rep.MarkedAt.Local().Format(time.RFC3339), rep.RemoteCount, rep.RemoteTotal, rep.LocalCount, rep.LocalTotal)
				if len(rep.OnlyRemote) > 0 {
					fmt.Fprintf(c.stdout, "only at SEQR: %s\n", strings.Join(rep.OnlyRemote, ", "))
				}
				if len(rep.OnlyLocal) > 0 {
					fmt.Fprintf(c.stdout, "only local:   %s\n", strings.Join(rep.OnlyLocal, ", "))
				}
			}
			if !rep.Match {
				return fmt.Errorf("period %s: SEQR's report and the local records disagree", rep.TransactionPeriodID)
			}
			return nil
		},
	})
}
