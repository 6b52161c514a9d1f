package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/posd/posd/internal/safetext"
)

// Validate checks every key. The error joins one *ValidationError per bad key;
// each names the key, the value and what is allowed.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, value string, format string, args ...any) {
		errs = append(errs, &ValidationError{Key: key, Value: value, Err: fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)})
	}
	required := func(key, what string) {
		errs = append(errs, &ValidationError{Key: key, Err: fmt.Errorf("%w: %s", ErrRequired, what)})
	}
	oneOf := func(key, value string, allowed ...string) {
		if !slices.Contains(allowed, value) {
			bad(key, value, "allowed: %s", strings.Join(allowed, ", "))
		}
	}
	between := func(key string, d, lo, hi time.Duration, why string) {
		if d < lo || d > hi {
			bad(key, d.String(), "allowed: %s to %s%s", lo, hi, why)
		}
	}

	if c.StateDir == "" {
		required("state_dir", "a directory for the database, the receipt file and the API token, e.g. /var/lib/posd")
	}
	oneOf("log.format", c.Log.Format, "auto", "json", "console")
	oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")

	if err := checkListen(c.API.Listen); err != nil {
		bad("api.listen", c.API.Listen, "%v; allowed: 127.0.0.1:PORT, [::1]:PORT, localhost:PORT or unix:/absolute/path", err)
	}
	if c.DB.Path == "" {
		required("db.path", "the SQLite database file, e.g. posd.db (relative to state_dir)")
	}
	if c.Receipt.Journal == "" {
		required("receipt.journal", "the receipt file, e.g. receipts.journal (relative to state_dir)")
	}

	between("register.probe_interval", c.Register.ProbeInterval, time.Second, 10*time.Minute, "")
	between("register.offline_timeout", c.Register.OfflineTimeout, 100*time.Millisecond, 3*time.Second, " (a payment must be refused within 3 s when its provider is offline)")
	oneOf("register.currency", c.Register.Currency, "SEK", "NOK", "DKK", "EUR")

	sq, rs, ps := c.Providers.Seqr, c.Providers.Resurs, c.Providers.Payson
	if sq.URL == "" && rs.POSURL == "" && ps.URL == "" {
		required("providers", "at least one payment provider: providers.seqr.url (e.g. https://extdev.seqr.com/soap/merchant/cashregister-2, or paysim's http://127.0.0.1:PORT/soap/merchant/cashregister-2), providers.resurs.pos_url or providers.payson.url")
	}
	if sq.URL != "" {
		if err := checkProviderURL(sq.URL); err != nil {
			bad("providers.seqr.url", sq.URL, "%v", err)
		}
		if sq.ClientID == "" || utf8.RuneCountInString(sq.ClientID) > 100 {
			bad("providers.seqr.client_id", sq.ClientID, "allowed: 1 to 100 characters (the company or software name)")
		}
		if n := utf8.RuneCountInString(sq.ClientReference); n == 0 || n > 32 {
			bad("providers.seqr.client_reference", sq.ClientReference, "allowed: 1 to 32 characters (SEQR's limit), e.g. \"posd 1.0 till 3\"")
		}
		if n := utf8.RuneCountInString(sq.Channel); n == 0 || n > 40 {
			bad("providers.seqr.channel", sq.Channel, "allowed: 1 to 40 characters, normally WS")
		}
		// SEQR reverses a payment that is not polled for about 20 s.
		between("providers.seqr.poll_interval", sq.PollInterval, 100*time.Millisecond, 5*time.Second, " (SEQR reverses payments not polled within 20 s)")
		between("providers.seqr.window", sq.Window, 5*time.Second, 5*time.Minute, "")
		between("providers.seqr.decision_limit", sq.DecisionLimit, sq.Window, time.Hour, " (at least providers.seqr.window)")
	}
	// Whatever is given is checked, enabled or not: a half-configured
	// provider names its bad key now rather than at the first sale.
	for _, u := range []struct{ key, v string }{
		{"providers.resurs.mapi_url", rs.MAPIURL}, {"providers.resurs.success_url", rs.SuccessURL},
		{"providers.resurs.back_url", rs.BackURL}, {"providers.resurs.callback_url", rs.CallbackURL},
		{"providers.resurs.shop_url", rs.ShopURL}, {"providers.payson.checkout_uri", ps.CheckoutURI},
		{"providers.payson.confirmation_uri", ps.ConfirmationURI}, {"providers.payson.notification_uri", ps.NotificationURI},
		{"providers.payson.terms_uri", ps.TermsURI},
	} {
		if u.v == "" {
			continue
		}
		if p, err := url.Parse(u.v); err != nil || p.Host == "" || (p.Scheme != "https" && p.Scheme != "http") {
			bad(u.key, u.v, "allowed: an absolute http(s) URL")
		}
	}
	if o := ps.SnippetOrigin; o != "" {
		if p, err := url.Parse(o); err != nil || p.Host == "" || (p.Scheme != "https" && p.Scheme != "http") ||
			(p.Path != "" && p.Path != "/") || p.RawQuery != "" || p.User != nil {
			bad("providers.payson.snippet_origin", o, "allowed: an origin, scheme://host[:port], e.g. https://test-www.payson.se")
		}
	}
	for _, f := range []struct{ key, v string }{
		{"providers.resurs.password_file", rs.PasswordFile}, {"providers.resurs.client_secret_file", rs.ClientSecretFile},
		{"providers.payson.api_key_file", ps.APIKeyFile},
	} {
		if f.v != "" && !filepath.IsAbs(f.v) {
			bad(f.key, f.v, "allowed: an absolute path")
		}
	}
	for _, f := range []struct {
		key, v string
		max    int
	}{
		{"providers.resurs.username", rs.Username, 100}, {"providers.resurs.client_id", rs.ClientID, 100},
		{"providers.resurs.store_id", rs.StoreID, 64}, {"providers.payson.agent_id", ps.AgentID, 20},
	} {
		if utf8.RuneCountInString(f.v) > f.max || strings.ContainsFunc(f.v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			bad(f.key, f.v, "allowed: one line of at most %d characters", f.max)
		}
	}
	if len(rs.RefPrefix) > 12 || strings.Trim(rs.RefPrefix, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		bad("providers.resurs.ref_prefix", rs.RefPrefix, "allowed: at most 12 of A-Z a-z 0-9 -, e.g. S12T3-")
	}
	oneOf("providers.resurs.mapi_scope", rs.MAPIScope, "mock-merchant-api", "merchant-api")
	if ps.AgentID != "" && strings.Trim(ps.AgentID, "0123456789") != "" {
		bad("providers.payson.agent_id", ps.AgentID, "allowed: Payson's numeric agent id, e.g. 4")
	}
	if rs.POSURL != "" || rs.AfterShopURL != "" {
		urls := []struct{ key, v string }{
			{"providers.resurs.pos_url", rs.POSURL}, {"providers.resurs.aftershop_url", rs.AfterShopURL},
		}
		for _, u := range urls {
			if u.v != "" {
				if err := checkProviderURL(u.v); err != nil {
					bad(u.key, u.v, "%v", err)
				}
			}
		}
		for _, u := range urls {
			if u.v == "" {
				required(u.key, "Resurs needs its Checkout POS and After Shop addresses")
			}
		}
		between("providers.resurs.check_interval", rs.CheckInterval, 500*time.Millisecond, time.Minute, "")
		between("providers.resurs.later_interval", rs.LaterInterval, 5*time.Second, time.Hour, "")
		between("providers.resurs.window", rs.Window, 10*time.Second, 30*time.Minute, "")
		between("providers.resurs.decision_limit", rs.DecisionLimit, rs.Window, 24*time.Hour, " (at least providers.resurs.window)")
		between("providers.resurs.later_validity", rs.LaterValidity, time.Hour, 30*24*time.Hour, "")
	}
	if rs.MAPIURL != "" {
		if err := checkProviderURL(rs.MAPIURL); err != nil {
			bad("providers.resurs.mapi_url", rs.MAPIURL, "%v", err)
		}
	}
	if ps.URL != "" {
		if err := checkProviderURL(ps.URL); err != nil {
			bad("providers.payson.url", ps.URL, "%v", err)
		} else if !strings.HasSuffix(ps.URL, "/2.0/") {
			bad("providers.payson.url", ps.URL, "allowed: the base up to and including /2.0/, e.g. https://test-api.payson.se/2.0/")
		}
		between("providers.payson.check_interval", ps.CheckInterval, 500*time.Millisecond, time.Minute, "")
		between("providers.payson.window", ps.Window, 10*time.Second, 30*time.Minute, "")
		between("providers.payson.decision_limit", ps.DecisionLimit, ps.Window, 24*time.Hour, " (at least providers.payson.window)")
	}

	if c.Terminal.ResellerPasswordFile != "" && !filepath.IsAbs(c.Terminal.ResellerPasswordFile) {
		bad("terminal.reseller_password_file", c.Terminal.ResellerPasswordFile, "allowed: an absolute path")
	}
	if err := safetext.Line(c.Terminal.Name, 100); err != nil {
		bad("terminal.name", c.Terminal.Name, "%w; allowed: one line of at most 100 characters", err)
	}

	if c.Scanner.Device != "" && !filepath.IsAbs(c.Scanner.Device) {
		bad("scanner.device", c.Scanner.Device, "allowed: empty (no scanner) or an absolute device path such as /dev/posd-scanner or /dev/serial/by-id/...")
	}
	if !slices.Contains([]int{1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200}, c.Scanner.Baud) {
		bad("scanner.baud", strconv.Itoa(c.Scanner.Baud), "allowed: 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200")
	}
	if c.Scanner.DataBits < 5 || c.Scanner.DataBits > 8 {
		bad("scanner.data_bits", strconv.Itoa(c.Scanner.DataBits), "allowed: 5, 6, 7, 8")
	}
	oneOf("scanner.parity", c.Scanner.Parity, "none", "odd", "even", "mark", "space")
	oneOf("scanner.suffix", c.Scanner.Suffix, "", "none", "cr", "lf", "crlf")
	if c.Scanner.StopBits != 1 && c.Scanner.StopBits != 2 {
		bad("scanner.stop_bits", strconv.Itoa(c.Scanner.StopBits), "allowed: 1, 2")
	}

	if err := checkPrinterDevice(c.Printer.Device); err != nil {
		bad("printer.device", c.Printer.Device, "%v; allowed: empty (no printer), a device path (/dev/posd-printer, /dev/usb/lp0), tcp://host:port or virtual:<dir>", err)
	}
	oneOf("receipt.reference_code", c.Receipt.ReferenceCode, "code128", "qr")
	oneOf("printer.codepage", c.Printer.Codepage, "cp858", "cp437", "cp850", "cp865", "wpc1252")
	if !slices.Contains([]int{48, 42, 32}, c.Printer.Columns) {
		bad("printer.columns", strconv.Itoa(c.Printer.Columns), "allowed: 48, 42, 32")
	}
	between("printer.receipt_max_age", c.Printer.ReceiptMaxAge, time.Minute, 7*24*time.Hour, "")
	between("printer.drawer_max_age", c.Printer.DrawerMaxAge, time.Second, 10*time.Minute, "")

	checkLines := func(key string, lines []string) {
		if len(lines) > 10 {
			bad(key, strings.Join(lines, "|"), "allowed: at most 10 lines")
		}
		for i, l := range lines {
			// The same text rules as every text the API takes: a header
			// line is printed on every receipt and kept in the receipt file.
			if err := safetext.Line(l, 64); err != nil {
				bad(fmt.Sprintf("%s[%d]", key, i), l, "%w; allowed: one line of at most 64 printable characters", err)
			}
		}
	}
	checkLines("receipt.header", c.Receipt.Header)
	checkLines("receipt.footer", c.Receipt.Footer)
	if c.Receipt.OrgNumber != "" && !isOrgNumber(c.Receipt.OrgNumber) {
		bad("receipt.org_number", c.Receipt.OrgNumber, "allowed: a Swedish organisation number NNNNNN-NNNN")
	}
	return errors.Join(errs...)
}

// isOrgNumber matches NNNNNN-NNNN.
func isOrgNumber(s string) bool {
	if len(s) != 11 || s[6] != '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i != 6 && (s[i] < '0' || s[i] > '9') {
			return false
		}
	}
	return true
}

// checkListen allows loopback only: the API moves money and must never be
// reachable from the shop's network.
func checkListen(s string) error {
	if rest, ok := strings.CutPrefix(s, "unix:"); ok {
		if !filepath.IsAbs(rest) {
			return errors.New("the socket path must be absolute")
		}
		return nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New("not host:port")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return errors.New("port must be 0 to 65535")
	}
	if !isLoopback(host) {
		return fmt.Errorf("host %q is not loopback", host)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func checkProviderURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return errors.New("not an absolute URL; allowed: https://host/path")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return errors.New("http:// is allowed only for a loopback emulator; a real provider needs https://")
	}
	return fmt.Errorf("scheme %q; allowed: https (http only on loopback)", u.Scheme)
}

func checkPrinterDevice(s string) error {
	switch {
	case s == "":
		return nil
	case strings.HasPrefix(s, "virtual:"):
		if strings.TrimPrefix(s, "virtual:") == "" {
			return errors.New("virtual: needs a directory")
		}
		return nil
	case strings.HasPrefix(s, "tcp://"):
		host, port, err := net.SplitHostPort(strings.TrimPrefix(s, "tcp://"))
		if err != nil || host == "" {
			return errors.New("tcp:// needs host:port")
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return errors.New("port must be 1 to 65535")
		}
		return nil
	case filepath.IsAbs(s):
		return nil
	}
	return errors.New("not a recognised device")
}
