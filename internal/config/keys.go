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

		{Name: "register.probe_interval", Help: "how often the offline gate checks that every provider answers", field: func(c *Config) any { return &c.Register.ProbeInterval }},
		{Name: "register.offline_timeout", Help: "a payment request is refused as offline within this time", field: func(c *Config) any { return &c.Register.OfflineTimeout }},
		{Name: "register.currency", Help: "SEK, NOK, DKK or EUR", field: func(c *Config) any { return &c.Register.Currency }},

		{Name: "providers.seqr.url", Help: "SEQR SOAP endpoint (https; http only for a loopback emulator); empty: no SEQR", field: func(c *Config) any { return &c.Providers.Seqr.URL }},
		{Name: "providers.seqr.client_id", Help: "clientId sent with every call: the company / software name", field: func(c *Config) any { return &c.Providers.Seqr.ClientID }},
		{Name: "providers.seqr.client_reference", Help: "clientReference: POS name and version, at most 32 characters", field: func(c *Config) any { return &c.Providers.Seqr.ClientReference }},
		{Name: "providers.seqr.channel", Help: "channel sent with every call (WS)", field: func(c *Config) any { return &c.Providers.Seqr.Channel }},
		{Name: "providers.seqr.poll_interval", Help: "getPaymentStatus cadence", field: func(c *Config) any { return &c.Providers.Seqr.PollInterval }},
		{Name: "providers.seqr.window", Help: "how long the customer has before the cashier is asked: try again or cancel", field: func(c *Config) any { return &c.Providers.Seqr.Window }},
		{Name: "providers.seqr.decision_limit", Help: "how long posd keeps polling while the cashier decides before cancelling itself", field: func(c *Config) any { return &c.Providers.Seqr.DecisionLimit }},

		{Name: "providers.resurs.pos_url", Help: "Resurs Checkout POS base, e.g. https://postest.resurs.com/pos; empty: no Resurs", field: func(c *Config) any { return &c.Providers.Resurs.POSURL }},
		{Name: "providers.resurs.aftershop_url", Help: "Resurs After Shop service, e.g. https://test.resurs.com/ecommerce-test/ws/V4/AfterShopFlowService", field: func(c *Config) any { return &c.Providers.Resurs.AfterShopURL }},
		{Name: "providers.resurs.mapi_url", Help: "Resurs Merchant API base (token and payment widget)", field: func(c *Config) any { return &c.Providers.Resurs.MAPIURL }},
		{Name: "providers.resurs.username", Help: "Resurs web-service user", field: func(c *Config) any { return &c.Providers.Resurs.Username }},
		{Name: "providers.resurs.password", Help: "prefer password_file or the resurs-password credential", Secret: true, field: func(c *Config) any { return &c.Providers.Resurs.Password }},
		{Name: "providers.resurs.password_file", Help: "file holding the web-service password (mode 0600 or 0400)", field: func(c *Config) any { return &c.Providers.Resurs.PasswordFile }},
		{Name: "providers.resurs.client_id", Help: "Merchant API client id", field: func(c *Config) any { return &c.Providers.Resurs.ClientID }},
		{Name: "providers.resurs.client_secret", Help: "prefer client_secret_file or the resurs-client-secret credential", Secret: true, field: func(c *Config) any { return &c.Providers.Resurs.ClientSecret }},
		{Name: "providers.resurs.client_secret_file", Help: "file holding the Merchant API client secret (mode 0600 or 0400)", field: func(c *Config) any { return &c.Providers.Resurs.ClientSecretFile }},
		{Name: "providers.resurs.store_id", Help: "the store's id at Resurs", field: func(c *Config) any { return &c.Providers.Resurs.StoreID }},
		{Name: "providers.resurs.ref_prefix", Help: "starts every order reference: store and till (order references are unique per web-service account), at most 12 of A-Z a-z 0-9 -", field: func(c *Config) any { return &c.Providers.Resurs.RefPrefix }},
		{Name: "providers.resurs.mapi_scope", Help: "Merchant API token scope: mock-merchant-api (test) or merchant-api (production)", field: func(c *Config) any { return &c.Providers.Resurs.MAPIScope }},
		{Name: "providers.resurs.success_url", Help: "where the checkout goes after a purchase", field: func(c *Config) any { return &c.Providers.Resurs.SuccessURL }},
		{Name: "providers.resurs.back_url", Help: "where the checkout goes when the customer backs out", field: func(c *Config) any { return &c.Providers.Resurs.BackURL }},
		{Name: "providers.resurs.callback_url", Help: "paymentCreatedCallbackUrl (a chain server; a till listens on loopback only)", field: func(c *Config) any { return &c.Providers.Resurs.CallbackURL }},
		{Name: "providers.resurs.shop_url", Help: "the shop's URL (the iframe's parent origin)", field: func(c *Config) any { return &c.Providers.Resurs.ShopURL }},
		{Name: "providers.resurs.check_interval", Help: "how often an open Checkout POS payment is checked", field: func(c *Config) any { return &c.Providers.Resurs.CheckInterval }},
		{Name: "providers.resurs.later_interval", Help: "how often a pending \"Betala sen\" payment is checked", field: func(c *Config) any { return &c.Providers.Resurs.LaterInterval }},
		{Name: "providers.resurs.window", Help: "how long the cashier waits for the customer before try again or cancel", field: func(c *Config) any { return &c.Providers.Resurs.Window }},
		{Name: "providers.resurs.decision_limit", Help: "how long a payment may await the cashier's decision", field: func(c *Config) any { return &c.Providers.Resurs.DecisionLimit }},
		{Name: "providers.resurs.later_validity", Help: "default valid-to of a \"Betala sen\" link", field: func(c *Config) any { return &c.Providers.Resurs.LaterValidity }},

		{Name: "providers.payson.url", Help: "Payson Checkout 2.0 base up to and including /2.0/; empty: no Payson", field: func(c *Config) any { return &c.Providers.Payson.URL }},
		{Name: "providers.payson.agent_id", Help: "Payson agent id", field: func(c *Config) any { return &c.Providers.Payson.AgentID }},
		{Name: "providers.payson.api_key", Help: "prefer api_key_file or the payson-api-key credential", Secret: true, field: func(c *Config) any { return &c.Providers.Payson.APIKey }},
		{Name: "providers.payson.api_key_file", Help: "file holding the Payson API key (mode 0600 or 0400)", field: func(c *Config) any { return &c.Providers.Payson.APIKeyFile }},
		{Name: "providers.payson.checkout_uri", Help: "merchant checkoutUri", field: func(c *Config) any { return &c.Providers.Payson.CheckoutURI }},
		{Name: "providers.payson.confirmation_uri", Help: "merchant confirmationUri", field: func(c *Config) any { return &c.Providers.Payson.ConfirmationURI }},
		{Name: "providers.payson.notification_uri", Help: "merchant notificationUri (a chain server; posd checks by polling)", field: func(c *Config) any { return &c.Providers.Payson.NotificationURI }},
		{Name: "providers.payson.terms_uri", Help: "merchant termsUri", field: func(c *Config) any { return &c.Providers.Payson.TermsURI }},
		{Name: "providers.payson.snippet_origin", Help: "origin of Payson's checkout snippet (the cashier page may frame it); empty: the origin of url", field: func(c *Config) any { return &c.Providers.Payson.SnippetOrigin }},
		{Name: "providers.payson.check_interval", Help: "how often an open Payson checkout is checked", field: func(c *Config) any { return &c.Providers.Payson.CheckInterval }},
		{Name: "providers.payson.window", Help: "how long the cashier waits for the customer before try again or cancel", field: func(c *Config) any { return &c.Providers.Payson.Window }},
		{Name: "providers.payson.decision_limit", Help: "how long a payment may await the cashier's decision", field: func(c *Config) any { return &c.Providers.Payson.DecisionLimit }},

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
		{Name: "scanner.suffix", Help: "how the scanner ends its codes: empty (learn from its first CR or LF), none (frames end by a pause), cr, lf or crlf", field: func(c *Config) any { return &c.Scanner.Suffix }},
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
		{Name: "receipt.reference_code", Help: "the payment's reference printed as code128 or qr", field: func(c *Config) any { return &c.Receipt.ReferenceCode }},
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

// deprecatedKeys are the keys of release 1 that still load, for one release,
// into the keys that replace them (with a warning naming the new key).
var deprecatedKeys = map[string]string{
	"seqr.url":              "providers.seqr.url",
	"seqr.client_id":        "providers.seqr.client_id",
	"seqr.client_reference": "providers.seqr.client_reference",
	"seqr.channel":          "providers.seqr.channel",
	"seqr.poll_interval":    "providers.seqr.poll_interval",
	"seqr.window":           "providers.seqr.window",
	"seqr.decision_limit":   "providers.seqr.decision_limit",
	"seqr.probe_interval":   "register.probe_interval",
	"seqr.offline_timeout":  "register.offline_timeout",
	"seqr.currency":         "register.currency",
}

// DeprecatedKeys returns the old key names and the keys that replace them.
func DeprecatedKeys() map[string]string {
	out := make(map[string]string, len(deprecatedKeys))
	for k, v := range deprecatedKeys {
		out[k] = v
	}
	return out
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
