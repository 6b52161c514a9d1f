// Package config is posd's one typed configuration: defaults, loading from a
// YAML file, POSD_* environment variables and flags (in that order of
// precedence), validation with errors that name the key, secrets read from
// files or systemd credentials, and a redacted dump.
//
// viper is used here and nowhere else: the rest of posd receives plain values
// or sub-structs of Config.
package config

import (
	"time"
)

// DefaultFile is read when no --config is given; its absence is not an error.
const DefaultFile = "/etc/posd/posd.yaml"

// Credential names looked up in $CREDENTIALS_DIRECTORY (systemd LoadCredential=).
const (
	CredentialResellerPassword = "reseller-password"
	CredentialAPIToken         = "api-token"
	// Provider secrets.
	CredentialResursPassword     = "resurs-password"
	CredentialResursClientSecret = "resurs-client-secret"
	CredentialPaysonAPIKey       = "payson-api-key"
)

// Config is the effective configuration of one posd.
type Config struct {
	StateDir  string
	Log       Log
	API       API
	DB        DB
	Register  Register
	Providers Providers
	Terminal  Terminal
	Scanner   Scanner
	Printer   Printer
	Receipt   Receipt

	// Deprecated lists the keys of an older release that were used, each
	// with the key that replaces it, for the caller to warn about.
	Deprecated []string
}

// Log says how posd logs.
type Log struct {
	Format string // "auto" (JSON under systemd, console otherwise), "json", "console"
	Level  string // debug, info, warn, error
}

// API is the local HTTP API.
type API struct {
	Listen    string // "127.0.0.1:8420", "[::1]:8420", "localhost:8420" or "unix:/run/posd/api.sock"
	TokenFile string // bearer token file; resolved: the api-token credential, else <state_dir>/api-token
}

// DB is the SQLite database.
type DB struct {
	Path string // resolved against StateDir when relative
}

// Register is what the register does whatever the provider.
type Register struct {
	ProbeInterval  time.Duration // how often every provider's reachability is checked
	OfflineTimeout time.Duration // a payment is refused as offline within this
	Currency       string
}

// Providers has one block per payment provider; a provider is configured
// when its URL is set.
type Providers struct {
	Seqr   Seqr
	Resurs Resurs
	Payson Payson
}

// Seqr is the SEQR client's identity and how its payments are polled.
type Seqr struct {
	URL             string
	ClientID        string
	ClientReference string // at most 32 characters
	Channel         string
	PollInterval    time.Duration
	Window          time.Duration
	DecisionLimit   time.Duration
}

// Resurs is Resurs Bank: Checkout POS, After Shop, the Merchant API.
type Resurs struct {
	POSURL           string
	AfterShopURL     string
	MAPIURL          string
	Username         string
	Password         Secret // from PasswordFile or the resurs-password credential
	PasswordFile     string
	ClientID         string
	ClientSecret     Secret // from ClientSecretFile or the resurs-client-secret credential
	ClientSecretFile string
	StoreID          string
	RefPrefix        string // starts every order reference: store and till, at most 12 of [A-Za-z0-9-]
	MAPIScope        string // the Merchant API token scope ("merchant-api" in production)
	SuccessURL       string
	BackURL          string
	CallbackURL      string
	ShopURL          string
	CheckInterval    time.Duration // Checkout POS payments
	LaterInterval    time.Duration // "Betala sen" payments (hours to days)
	Window           time.Duration
	DecisionLimit    time.Duration
	LaterValidity    time.Duration // default valid-to of a "Betala sen" link
}

// Payson is Payson Checkout 2.0.
type Payson struct {
	URL             string // base up to and including /2.0/
	AgentID         string
	APIKey          Secret // from APIKeyFile or the payson-api-key credential
	APIKeyFile      string
	CheckoutURI     string
	ConfirmationURI string
	NotificationURI string
	TermsURI        string
	// SnippetOrigin is where Payson's checkout snippet (its iframe) comes
	// from, for the cashier page's CSP; "" means the origin of URL.
	SnippetOrigin string
	CheckInterval time.Duration
	Window        time.Duration
	DecisionLimit time.Duration
}

// Terminal holds what `posd terminal register` sends once; none of it is
// needed by the daemon itself.
type Terminal struct {
	ResellerID           string
	ResellerUserID       string
	ResellerPassword     Secret // resolved from ResellerPasswordFile or the reseller-password credential
	ResellerPasswordFile string
	ExternalTerminalID   string
	Name                 string
}

// Scanner is the serial barcode scanner. An empty Device means none.
type Scanner struct {
	Device   string
	Baud     int
	DataBits int
	Parity   string // none, odd, even, mark, space
	StopBits int    // 1 or 2 (go.bug.st/serial cannot set 1.5 on Linux)
	Suffix   string // how it ends its codes: "" (learn from its first CR or LF), none, cr, lf, crlf
}

// Printer is the ESC/POS receipt printer. An empty Device means none.
type Printer struct {
	Device        string // /dev/ttyUSB0, /dev/usb/lp0, tcp://host:9100 or virtual:<dir>
	Codepage      string // cp858, cp437, cp850, cp865, wpc1252
	Columns       int    // 48, 42 or 32
	ReceiptMaxAge time.Duration
	DrawerMaxAge  time.Duration
}

// Receipt is what the printed receipt says about the shop, and where the receipt file lives.
type Receipt struct {
	Header    []string
	OrgNumber string
	Footer    []string
	Journal   string // resolved against StateDir when relative
	// ReferenceCode is how the provider's reference prints as a code:
	// "code128" or "qr" (receipt.ParseSymbology reads it).
	ReferenceCode string
}

// Secret is a value that must never be printed or logged. fmt and JSON show
// it redacted; Reveal gives the value to the one place that sends it.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String hides the value from fmt (including %v of a struct holding it).
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString hides the value from %#v.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// MarshalJSON hides the value from JSON encoders (zap.Any included).
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalText hides the value from text encoders.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Default returns the built-in defaults. StateDir-relative paths are resolved by Load.
func Default() Config {
	return Config{
		StateDir: "/var/lib/posd",
		Log:      Log{Format: "auto", Level: "info"},
		API:      API{Listen: "127.0.0.1:8420"},
		DB:       DB{Path: "posd.db"},
		Register: Register{ProbeInterval: 5 * time.Second, OfflineTimeout: 2500 * time.Millisecond, Currency: "SEK"},
		Providers: Providers{
			Seqr: Seqr{
				ClientID:        "posd",
				ClientReference: "posd",
				Channel:         "WS",
				PollInterval:    time.Second,
				Window:          30 * time.Second,
				DecisionLimit:   5 * time.Minute,
			},
			Resurs: Resurs{MAPIScope: "mock-merchant-api", CheckInterval: 2 * time.Second, LaterInterval: time.Minute, Window: 3 * time.Minute,
				DecisionLimit: 10 * time.Minute, LaterValidity: 24 * time.Hour},
			Payson: Payson{CheckInterval: 2 * time.Second, Window: time.Minute, DecisionLimit: 5 * time.Minute},
		},
		Scanner: Scanner{Baud: 9600, DataBits: 8, Parity: "none", StopBits: 1},
		Printer: Printer{
			Codepage:      "cp858",
			Columns:       48,
			ReceiptMaxAge: time.Hour,
			DrawerMaxAge:  12 * time.Second,
		},
		Receipt: Receipt{Journal: "receipts.journal", ReferenceCode: "code128"},
	}
}
