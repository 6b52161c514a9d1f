package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/viper"
)

// Errors wrapped by ValidationError, for callers and tests that branch on the cause.
var (
	ErrInvalid         = errors.New("invalid value")
	ErrRequired        = errors.New("required")
	ErrUnknownKey      = errors.New("unknown key")
	ErrSecretFileMode  = errors.New("secret file readable by group or others")
	ErrSecretFile      = errors.New("secret file unusable")
	ErrConfigFile      = errors.New("config file unreadable")
	ErrSecretInArgv    = errors.New("secrets are not accepted as flags")
	ErrUnknownFlagName = errors.New("unknown configuration key")
)

// ValidationError names the key that is wrong, the value found and why.
type ValidationError struct {
	Key   string
	Value string // as given; "" for secrets
	Err   error
}

func (e *ValidationError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("config %s: %v", e.Key, e.Err)
	}
	return fmt.Sprintf("config %s=%q: %v", e.Key, e.Value, e.Err)
}

func (e *ValidationError) Unwrap() error { return e.Err }

// Source says where configuration comes from, lowest precedence first:
// defaults, File, the environment, Flags.
type Source struct {
	// File is the YAML file. When FileRequired is false a missing file is
	// not an error (the default /etc/posd/posd.yaml is optional).
	File         string
	FileRequired bool
	// Getenv reads the environment (os.Getenv in main, a map in tests).
	// It also gives CREDENTIALS_DIRECTORY.
	Getenv func(string) string
	// Flags maps key names ("seqr.url") to values given on the command line.
	Flags map[string]string
	// Overrides are applied after everything else; posd demo uses them to
	// point posd at its in-process emulator and temp state dir.
	Overrides map[string]string
}

// Load builds the effective configuration and validates it. The error joins
// every problem found; each is a *ValidationError naming its key (or a file error).
func Load(src Source) (Config, error) {
	var data []byte
	if src.File != "" {
		b, err := os.ReadFile(src.File)
		switch {
		case err == nil:
			data = b
		case errors.Is(err, fs.ErrNotExist) && !src.FileRequired:
			src.File = ""
		default:
			return Config{}, fmt.Errorf("%w: %w", ErrConfigFile, err)
		}
	}
	return load(src, data)
}

// Parse loads configuration from YAML bytes alone (plus defaults), as the
// fuzz target and tests do.
func Parse(name string, data []byte) (Config, error) {
	return load(Source{File: name}, data)
}

func load(src Source, data []byte) (Config, error) {
	getenv := src.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	keys := Keys()
	def := Default()
	v := viper.New()
	for _, k := range keys {
		v.SetDefault(k.Name, k.get(&def))
	}

	var errs []error
	var deprecated []string
	fileHasSecret := false
	if src.File != "" {
		fv := viper.New()
		fv.SetConfigType("yaml")
		if err := fv.ReadConfig(bytes.NewReader(data)); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", src.File, unwrapYAML(err))
		}
		for _, name := range fv.AllKeys() {
			if newName, old := deprecatedKeys[name]; old {
				if !fv.IsSet(newName) {
					v.Set(newName, fv.Get(name))
				}
				deprecated = append(deprecated, fmt.Sprintf("config file %s: %s is deprecated, use %s", src.File, name, newName))
				continue
			}
			k, ok := LookupKey(name)
			if !ok {
				if isSection(name) && emptySection(fv.Get(name)) {
					continue
				}
				errs = append(errs, &ValidationError{Key: name, Err: unknownKeyError(name)})
				continue
			}
			if k.Secret && fv.Get(name) != nil && fv.Get(name) != "" {
				fileHasSecret = true
			}
			v.Set(name, fv.Get(name))
		}
	}
	for _, oldName := range sortedKeys(deprecatedKeys) {
		newName := deprecatedKeys[oldName]
		oldEnv, newEnv := Key{Name: oldName}.Env(), Key{Name: newName}.Env()
		if val := getenv(oldEnv); val != "" {
			if getenv(newEnv) == "" {
				v.Set(newName, val)
			}
			deprecated = append(deprecated, fmt.Sprintf("environment %s is deprecated, use %s", oldEnv, newEnv))
		}
	}
	for _, k := range keys {
		if val := getenv(k.Env()); val != "" {
			v.Set(k.Name, val)
		}
	}
	for _, set := range []map[string]string{src.Flags, src.Overrides} {
		names := make([]string, 0, len(set))
		for name := range set {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			if newName, old := deprecatedKeys[name]; old {
				if _, given := set[newName]; !given {
					v.Set(newName, set[name])
				}
				deprecated = append(deprecated, fmt.Sprintf("--%s is deprecated, use --%s", Key{Name: name}.Flag(), Key{Name: newName}.Flag()))
				continue
			}
			k, ok := LookupKey(name)
			if !ok {
				errs = append(errs, &ValidationError{Key: name, Err: unknownKeyError(name)})
				continue
			}
			v.Set(k.Name, set[name])
		}
	}

	var c Config
	for _, k := range keys {
		raw := v.Get(k.Name)
		if err := k.set(&c, raw); err != nil {
			val := fmt.Sprint(raw)
			if k.Secret {
				val = ""
			}
			errs = append(errs, &ValidationError{Key: k.Name, Value: val, Err: err})
		}
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}

	c.resolvePaths()
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	if err := c.resolveSecrets(src, getenv, fileHasSecret); err != nil {
		return Config{}, err
	}
	c.Deprecated = deprecated
	return c, nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// resolvePaths makes state-relative paths absolute, so that every later user
// (and config dump) sees the real location.
func (c *Config) resolvePaths() {
	if c.StateDir != "" {
		if abs, err := filepath.Abs(c.StateDir); err == nil {
			c.StateDir = abs
		}
	}
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(c.StateDir, p)
	}
	c.DB.Path = rel(c.DB.Path)
	c.Receipt.Journal = rel(c.Receipt.Journal)
	if c.API.TokenFile != "" {
		c.API.TokenFile = rel(c.API.TokenFile)
	}
}

func (c *Config) resolveSecrets(src Source, getenv func(string) string, fileHasSecret bool) error {
	creds := getenv("CREDENTIALS_DIRECTORY")
	if fileHasSecret && src.File != "" {
		// A password written into the config file makes that file a secret file.
		if err := CheckSecretMode(src.File); err != nil {
			return &ValidationError{Key: "a secret key", Err: err}
		}
	}
	switch {
	case c.Terminal.ResellerPasswordFile != "":
		s, err := ReadSecret(c.Terminal.ResellerPasswordFile)
		if err != nil {
			return &ValidationError{Key: "terminal.reseller_password_file", Value: c.Terminal.ResellerPasswordFile, Err: err}
		}
		c.Terminal.ResellerPassword = s
	case creds != "" && c.Terminal.ResellerPassword == "":
		s, ok, err := ReadCredential(creds, CredentialResellerPassword)
		if err != nil {
			return &ValidationError{Key: "terminal.reseller_password", Err: err}
		}
		if ok {
			c.Terminal.ResellerPassword = s
		}
	}

	for _, sec := range []struct {
		key, fileKey, credential string
		file                     string
		dst                      *Secret
	}{
		{"providers.resurs.password", "providers.resurs.password_file", CredentialResursPassword, c.Providers.Resurs.PasswordFile, &c.Providers.Resurs.Password},
		{"providers.resurs.client_secret", "providers.resurs.client_secret_file", CredentialResursClientSecret, c.Providers.Resurs.ClientSecretFile, &c.Providers.Resurs.ClientSecret},
		{"providers.payson.api_key", "providers.payson.api_key_file", CredentialPaysonAPIKey, c.Providers.Payson.APIKeyFile, &c.Providers.Payson.APIKey},
	} {
		switch {
		case sec.file != "":
			s, err := ReadSecret(sec.file)
			if err != nil {
				return &ValidationError{Key: sec.fileKey, Value: sec.file, Err: err}
			}
			*sec.dst = s
		case creds != "" && *sec.dst == "":
			s, ok, err := ReadCredential(creds, sec.credential)
			if err != nil {
				return &ValidationError{Key: sec.key, Err: err}
			}
			if ok {
				*sec.dst = s
			}
		}
	}

	if c.API.TokenFile == "" && creds != "" {
		p := filepath.Join(creds, CredentialAPIToken)
		if _, err := os.Stat(p); err == nil {
			c.API.TokenFile = p
		}
	}
	explicitToken := c.API.TokenFile != ""
	if !explicitToken {
		c.API.TokenFile = filepath.Join(c.StateDir, "api-token")
	}
	// The token file may not exist yet (created at first start); when it
	// does, its mode is checked now so that posd refuses to start.
	if err := CheckSecretMode(c.API.TokenFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return &ValidationError{Key: "api.token_file", Value: c.API.TokenFile, Err: err}
	}
	return nil
}

func isSection(name string) bool {
	for _, k := range Keys() {
		if strings.HasPrefix(k.Name, name+".") {
			return true
		}
	}
	return false
}

func emptySection(v any) bool {
	switch m := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(m) == 0
	}
	return false
}

func unknownKeyError(name string) error {
	if isSection(name) {
		return fmt.Errorf("%w: %s is a section and needs keys below it (see configs/posd.example.yaml)", ErrInvalid, name)
	}
	if near := nearestKey(name); near != "" {
		return fmt.Errorf("%w (did you mean %s?)", ErrUnknownKey, near)
	}
	return fmt.Errorf("%w (see configs/posd.example.yaml for every key)", ErrUnknownKey)
}

// nearestKey suggests a key within edit distance 3, for typos such as seqr.pol_interval.
func nearestKey(name string) string {
	best, bestD := "", 4
	for _, k := range Keys() {
		if d := editDistance(name, k.Name); d < bestD {
			best, bestD = k.Name, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// unwrapYAML drops viper's wrapper so the message is the parser's ("yaml: line 3: ...").
func unwrapYAML(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}
