package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/posd/posd/internal/apiclient"
	"github.com/posd/posd/internal/config"
)

// Exit codes, documented in the README and in `posd help`.
const (
	exitOK     = 0
	exitError  = 1
	exitUsage  = 2
	exitConfig = 3
)

// cli is what every subcommand gets: the process's environment, injected so
// tests can run the real program in-process.
type cli struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

type command struct {
	name    string
	args    string // usage after the name
	summary string
	run     func(ctx context.Context, c *cli, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "[flags]", "run the daemon (the default when no command is given)", runServe},
		{"demo", "[--once]", "SEQR, Resurs Bank and Payson sales against built-in emulators: no config, no hardware", runDemo},
		{"migrate", "[flags]", "apply database migrations and exit", runMigrate},
		{"terminal", "register|unregister|assign-seqr-id|show", "the till's SEQR registration, through the running posd", runTerminal},
		{"pay", "--amount 20.00 [--method seqr|resurs|resurs_later|payson] [--rows file.json]", "a test payment through the running posd, shown live", runPay},
		{"status", "", "what the running posd is doing", runStatus},
		{"journal", "verify [--file PATH]", "check the receipt file line by line", runJournal},
		{"period", "close", "close the transaction period and compare with SEQR's report", runPeriod},
		{"receipt", "render <payment-id> [--format text|png|escpos]", "show what the printer prints for a payment", runReceipt},
		{"config", "dump", "print the effective configuration, secrets redacted", runConfig},
		{"version", "", "print the version", runVersion},
	}
}

// run is the whole program; main only adds the signal context, the real
// environment and the exit code. Nothing below it exits.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := &cli{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	name := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	switch name {
	case "help", "-h", "--help":
		c.usage(c.stdout)
		return nil
	}
	for _, cmd := range commands() {
		if cmd.name == name {
			return cmd.run(ctx, c, args)
		}
	}
	return usageErrorf("unknown command %q (see posd help)", name)
}

func (c *cli) usage(w io.Writer) {
	fmt.Fprintf(w, "posd: the payment and device daemon of a cash register\n\nUsage: posd <command> [flags]\n\nCommands:\n")
	for _, cmd := range commands() {
		fmt.Fprintf(w, "  %-9s %-48s %s\n", cmd.name, cmd.args, cmd.summary)
	}
	fmt.Fprintf(w, "\nRun `posd <command> --help` for a command's flags.\n")
	fmt.Fprintf(w, "Exit codes: 0 success, 1 error, 2 usage error, 3 configuration error.\n")
}

// usageError is a wrong command line (exit 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// configError is a configuration that does not load or validate (exit 3).
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

// report prints err as one line per problem ("posd: ...") and gives the exit code.
func report(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	code := exitError
	var ue *usageError
	var ce *configError
	switch {
	case errors.As(err, &ue):
		code = exitUsage
	case errors.As(err, &ce):
		code = exitConfig
	case errors.Is(err, context.Canceled):
		// Ctrl-C during a CLI command: not a failure worth a message.
		fmt.Fprintln(stderr, "posd: interrupted")
		return exitError
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			fmt.Fprintf(stderr, "posd: %s\n", line)
		}
	}
	if errors.Is(err, apiclient.ErrUnreachable) {
		fmt.Fprintln(stderr, "posd: is posd running? `systemctl status posd`")
	}
	return code
}

// newFlagSet makes a subcommand's flags; --help prints them to stdout.
func (c *cli) newFlagSet(name, args, summary string) *flag.FlagSet {
	fs := flag.NewFlagSet("posd "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: posd %s %s\n\n%s\n\nFlags:\n", name, args, summary)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags; --help is not an error (help is printed to stdout).
// done is true when the command should stop (help shown).
func (c *cli) parse(fs *flag.FlagSet, args []string) (done bool, err error) {
	fs.SetOutput(io.Discard)
	err = fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(c.stdout)
		fs.Usage()
		return true, nil
	}
	if err != nil {
		return true, usageErrorf("%s: %v (see %s --help)", fs.Name(), err, fs.Name())
	}
	return false, nil
}

// configFlags are the configuration flags of a subcommand that loads the config.
type configFlags struct {
	file string
	set  map[string]string
}

// addConfigFlags registers --config and --set KEY=VALUE; with all, every
// non-secret key also gets its own flag (--providers.seqr.poll-interval); otherwise only
// --state-dir and --api.listen do.
func addConfigFlags(fs *flag.FlagSet, all bool) *configFlags {
	cf := &configFlags{set: map[string]string{}}
	fs.StringVar(&cf.file, "config", "", "configuration file (default "+config.DefaultFile+" if it exists; env POSD_CONFIG)")
	fs.Func("set", "set a configuration key, KEY=VALUE (repeatable), e.g. --set providers.seqr.poll_interval=1s", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return errors.New("want KEY=VALUE")
		}
		key, found := config.LookupKey(k)
		if _, old := config.DeprecatedKeys()[k]; old {
			cf.set[k] = v // loaded into its new key, with a warning
			return nil
		}
		if !found {
			return fmt.Errorf("unknown configuration key %q", k)
		}
		if key.Secret {
			return fmt.Errorf("%s is a secret: give it in a file (%s_file) or a systemd credential, never on the command line", k, k)
		}
		cf.set[k] = v
		return nil
	})
	for _, k := range config.Keys() {
		if k.Secret || (!all && k.Name != "state_dir" && k.Name != "api.listen") {
			continue
		}
		fs.Func(k.Flag(), k.Help+" (env "+k.Env()+")", func(s string) error {
			cf.set[k.Name] = s
			return nil
		})
	}
	if all {
		// Release 1's flags still work for one release (with a warning).
		for old, replacement := range config.DeprecatedKeys() {
			fs.Func(config.Key{Name: old}.Flag(), "deprecated: use --"+config.Key{Name: replacement}.Flag(), func(s string) error {
				cf.set[old] = s
				return nil
			})
		}
	}
	return cf
}

// load loads and validates the configuration: defaults < file < env < flags.
func (c *cli) load(cf *configFlags, overrides map[string]string) (config.Config, error) {
	src := config.Source{File: config.DefaultFile, Getenv: c.getenv, Flags: cf.set, Overrides: overrides}
	if f := c.getenv("POSD_CONFIG"); f != "" {
		src.File, src.FileRequired = f, true
	}
	if cf.file != "" {
		src.File, src.FileRequired = cf.file, true
	}
	cfg, err := config.Load(src)
	if err != nil {
		return config.Config{}, &configError{err: err}
	}
	return cfg, nil
}

// subcommand picks a sub-subcommand (terminal register, journal verify).
func subcommand(c *cli, group string, args []string, subs map[string]func([]string) error) error {
	names := make([]string, 0, len(subs))
	for n := range subs {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		w := c.stdout
		if len(args) == 0 {
			w = c.stderr
		}
		fmt.Fprintf(w, "Usage: posd %s %s [flags]\n\nRun `posd %s <subcommand> --help` for its flags.\n", group, strings.Join(names, "|"), group)
		if len(args) == 0 {
			return usageErrorf("%s: missing subcommand (%s)", group, strings.Join(names, ", "))
		}
		return nil
	}
	fn, ok := subs[args[0]]
	if !ok {
		return usageErrorf("%s: unknown subcommand %q (want %s)", group, args[0], strings.Join(names, ", "))
	}
	return fn(args[1:])
}
