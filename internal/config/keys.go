package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Key describes one configuration key: its file form ("seqr.poll_interval"),
// and from it the environment form (POSD_SEQR_POLL_INTERVAL) and the flag
// form (--seqr.poll-interval).
type Key struct {
	Name   string
	Help   string
	Secret bool // never shown, never accepted as a flag (argv is visible to every user)
	field  func(c *Config) any
}

// Env is the key's environment variable.
func (k Key) Env() string {
	return "POSD_" + strings.ToUpper(strings.ReplaceAll(k.Name, ".", "_"))
}

// Flag is the key's flag name, without dashes.
func (k Key) Flag() string { return strings.ReplaceAll(k.Name, "_", "-") }

// Value is the key's value in c, as text.
func (k Key) Value(c *Config) string {
	switch p := k.field(c).(type) {
	case *string:
		return *p
	case *int:
		return strconv.Itoa(*p)
	case *time.Duration:
		return p.String()
	case *[]string:
		return strings.Join(*p, "|")
	case *Secret:
		return p.String()
	}
	panic(fmt.Sprintf("config: key %s has an unhandled type", k.Name)) // a programming error in Keys
}

// get returns the key's value in c as a plain value (the default's type for viper).
func (k Key) get(c *Config) any {
	switch p := k.field(c).(type) {
	case *string:
		return *p
	case *int:
		return *p
	case *time.Duration:
		return *p
	case *[]string:
		return append([]string(nil), (*p)...)
	case *Secret:
		return string(*p)
	}
	return nil
}

// Keys lists every key in the order of the example file.
func Keys() []Key {
	return []Key{
		{Name: "state_dir", Help: "directory of the database, receipt file and API token", field: func(c *Config) any { return &c.StateDir }},

		{Name: "log.format", Help: "auto (JSON under systemd, console otherwise), json or console", field: func(c *Config) any { return &c.Log.Format }},
		{Name: "log.level", Help: "debug, info, warn or error", field: func(c *Config) any { return &c.Log.Level }},

		{Name: "api.listen", Help: "local API address: 127.0.0.1:PORT, [::1]:PORT, localhost:PORT or unix:/path", field: func(c *Config) any { return &c.API.Listen }},
		{Name: "api.token_file", Help: "bearer token file (default: the api-token credential, else <state_dir>/api-token)", field: func(c *Config) any { return &c.API.TokenFile }},

		{Name: "db.path", Help: "SQLite database (relative to state_dir)", field: func(c *Config) any { return &c.DB.Path }},

		{Name: "seqr.url", Help: "SEQR SOAP endpoint (https; http only for a loopback emulator)", field: func(c *Config) any { return &c.Seqr.URL }},
		{Name: "seqr.client_id", Help: "clientId sent with every call: the company / software name", field: func(c *Config) any { return &c.Seqr.ClientID }},
		{Name: "seqr.client_reference", Help: "clientReference: POS name and version, at most 32 characters", field: func(c *Config) any { return &c.Seqr.ClientReference }},
		{Name: "seqr.channel", Help: "channel sent with every call (WS)", field: func(c *Config) any { return &c.Seqr.Channel }},
		{Name: "seqr.poll_interval", Help: "getPaymentStatus cadence", field: func(c *Config) any { return &c.Seqr.PollInterval }},
		{Name: "seqr.window", Help: "how long the customer has before the cashier is asked: try again or cancel", field: func(c *Config) any { return &c.Seqr.Window }},
		{Name: "seqr.decision_limit", Help: "how long posd keeps polling while the cashier decides before cancelling itself", field: func(c *Config) any { return &c.Seqr.DecisionLimit }},
		{Name: "seqr.probe_interval", Help: "how often the offline gate checks that SEQR answers", field: func(c *Config) any { return &c.Seqr.ProbeInterval }},
		{Name: "seqr.offline_timeout", Help: "a payment request is refused as offline within this time", field: func(c *Config) any { return &c.Seqr.OfflineTimeout }},
		{Name: "seqr.currency", Help: "SEK, NOK, DKK or EUR", field: func(c *Config) any { return &c.Seqr.Currency }},

		{Name: "terminal.reseller_id", Help: "shop's reseller id, for `posd terminal register`", field: func(c *Config) any { return &c.Terminal.ResellerID }},
		{Name: "terminal.reseller_user_id", Help: "shop's reseller user id, for `posd terminal register`", field: func(c *Config) any { return &c.Terminal.ResellerUserID }},
		{Name: "terminal.reseller_password", Help: "prefer reseller_password_file or the reseller-password credential", Secret: true, field: func(c *Config) any { return &c.Terminal.ResellerPassword }},
		{Name: "terminal.reseller_password_file", Help: "file holding the reseller password (mode 0600 or 0400)", field: func(c *Config) any { return &c.Terminal.ResellerPasswordFile }},
		{Name: "terminal.external_terminal_id", Help: "this till's id in the shop (default: the host name)", field: func(c *Config) any { return &c.Terminal.ExternalTerminalID }},
		{Name: "terminal.name", Help: "this till's name as SEQR shows it", field: func(c *Config) any { return &c.Terminal.Name }},

		{Name: "scanner.device", Help: "serial scanner, e.g. /dev/posd-scanner; empty: no scanner", field: func(c *Config) any { return &c.Scanner.Device }},
		{Name: "scanner.baud", Help: "1200, 2400, 4800, 9600, 19200, 38400, 57600 or 115200", field: func(c *Config) any { return &c.Scanner.Baud }},
		{Name: "scanner.data_bits", Help: "5, 6, 7 or 8", field: func(c *Config) any { return &c.Scanner.DataBits }},
		{Name: "scanner.parity", Help: "none, odd, even, mark or space", field: func(c *Config) any { return &c.Scanner.Parity }},
		{Name: "scanner.stop_bits", Help: "1 or 2", field: func(c *Config) any { return &c.Scanner.StopBits }},

		{Name: "printer.device", Help: "/dev/posd-printer, /dev/usb/lp0, tcp://host:9100 or virtual:<dir>; empty: no printer", field: func(c *Config) any { return &c.Printer.Device }},
		{Name: "printer.codepage", Help: "cp858, cp437, cp850, cp865 or wpc1252", field: func(c *Config) any { return &c.Printer.Codepage }},
		{Name: "printer.columns", Help: "48 (80 mm), 42 (80 mm, 512 dots) or 32 (58 mm)", field: func(c *Config) any { return &c.Printer.Columns }},
		{Name: "printer.receipt_max_age", Help: "receipts older than this are dropped, not printed late", field: func(c *Config) any { return &c.Printer.ReceiptMaxAge }},
		{Name: "printer.drawer_max_age", Help: "drawer kicks older than this are dropped", field: func(c *Config) any { return &c.Printer.DrawerMaxAge }},

		{Name: "receipt.header", Help: "lines at the top of every receipt (env and flags: separated by |)", field: func(c *Config) any { return &c.Receipt.Header }},
		{Name: "receipt.org_number", Help: "organisation number, NNNNNN-NNNN", field: func(c *Config) any { return &c.Receipt.OrgNumber }},
		{Name: "receipt.footer", Help: "lines at the bottom of every receipt (env and flags: separated by |)", field: func(c *Config) any { return &c.Receipt.Footer }},
		{Name: "receipt.journal", Help: "the receipt file (relative to state_dir)", field: func(c *Config) any { return &c.Receipt.Journal }},
	}
}

// LookupKey finds a key by its file form.
func LookupKey(name string) (Key, bool) {
	for _, k := range Keys() {
		if k.Name == name {
			return k, true
		}
	}
	return Key{}, false
}

// set decodes raw (from YAML, a default, or text from env and flags) into
// the key's field.
func (k Key) set(c *Config, raw any) error {
	switch p := k.field(c).(type) {
	case *string:
		s, err := toString(raw)
		if err != nil {
			return err
		}
		*p = s
	case *Secret:
		s, err := toString(raw)
		if err != nil {
			return err
		}
		*p = Secret(s)
	case *int:
		n, err := toInt(raw)
		if err != nil {
			return err
		}
		*p = n
	case *time.Duration:
		d, err := toDuration(raw)
		if err != nil {
			return err
		}
		*p = d
	case *[]string:
		l, err := toStrings(raw)
		if err != nil {
			return err
		}
		*p = l
	}
	return nil
}

func toString(raw any) (string, error) {
	switch v := raw.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case int, int64, int32, uint, uint64, uint32:
		// Ids such as reseller_id: 9900 are written unquoted.
		return fmt.Sprint(v), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	}
	return "", fmt.Errorf("%w: expected text, got %s", ErrInvalid, describe(raw))
}

func toInt(raw any) (int, error) {
	switch v := raw.(type) {
	case int:
		return v, nil
	case int64:
		return int(v), nil
	case uint64:
		return int(v), nil
	case float64:
		if v == float64(int(v)) {
			return int(v), nil
		}
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err == nil {
			return n, nil
		}
	}
	return 0, fmt.Errorf("%w: expected a whole number, got %s", ErrInvalid, describe(raw))
}

func toDuration(raw any) (time.Duration, error) {
	switch v := raw.(type) {
	case time.Duration:
		return v, nil
	case string:
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err == nil {
			return d, nil
		}
	}
	return 0, fmt.Errorf("%w: expected a duration such as 1s, 500ms or 5m, got %s", ErrInvalid, describe(raw))
}

func toStrings(raw any) ([]string, error) {
	switch v := raw.(type) {
	case nil:
		return nil, nil
	case []string:
		if len(v) == 0 {
			return nil, nil
		}
		return append([]string(nil), v...), nil
	case string:
		// Env and flags carry a list as one string; | rather than a comma
		// because shop addresses contain commas.
		if v == "" {
			return nil, nil
		}
		return strings.Split(v, "|"), nil
	case []any:
		if len(v) == 0 {
			return nil, nil
		}
		out := make([]string, 0, len(v))
		for i, e := range v {
			s, err := toString(e)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", i+1, err)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: expected a list of lines, got %s", ErrInvalid, describe(raw))
}

func describe(raw any) string {
	switch v := raw.(type) {
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case bool:
		return fmt.Sprintf("%t (a boolean)", v)
	case string:
		return strconv.Quote(v)
	}
	return fmt.Sprintf("%v", raw)
}
