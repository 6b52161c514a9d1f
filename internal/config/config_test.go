package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const minimal = "providers:\n  seqr:\n    url: https://seqr.example/soap\n"

func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), mode))
	require.NoError(t, os.Chmod(p, mode)) // umask must not decide the test
	return p
}

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestDefaults(t *testing.T) {
	dir := t.TempDir()
	c, err := Load(Source{File: writeFile(t, dir, "posd.yaml", minimal+"state_dir: "+dir+"\n", 0o644), FileRequired: true})
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:8420", c.API.Listen)
	assert.Equal(t, time.Second, c.Providers.Seqr.PollInterval)
	assert.Equal(t, 30*time.Second, c.Providers.Seqr.Window)
	assert.Equal(t, 5*time.Minute, c.Providers.Seqr.DecisionLimit)
	assert.Equal(t, 2500*time.Millisecond, c.Register.OfflineTimeout)
	assert.Equal(t, "SEK", c.Register.Currency)
	assert.Empty(t, c.Deprecated)
	assert.Equal(t, 9600, c.Scanner.Baud)
	assert.Equal(t, "cp858", c.Printer.Codepage)
	assert.Equal(t, 48, c.Printer.Columns)
	assert.Equal(t, filepath.Join(dir, "posd.db"), c.DB.Path)
	assert.Equal(t, filepath.Join(dir, "receipts.journal"), c.Receipt.Journal)
	assert.Equal(t, filepath.Join(dir, "api-token"), c.API.TokenFile)
}

func TestMissingDefaultFileIsFine(t *testing.T) {
	_, err := Load(Source{File: filepath.Join(t.TempDir(), "absent.yaml"), Flags: map[string]string{"providers.seqr.url": "https://s.example/"}})
	require.NoError(t, err)

	_, err = Load(Source{File: filepath.Join(t.TempDir(), "absent.yaml"), FileRequired: true})
	require.ErrorIs(t, err, ErrConfigFile)
}

func TestPrecedence(t *testing.T) {
	cases := []struct {
		name string
		file string
		env  string
		flag string
		want string
	}{
		{name: "default", want: "127.0.0.1:8420"},
		{name: "file over default", file: "127.0.0.1:1001", want: "127.0.0.1:1001"},
		{name: "env over file", file: "127.0.0.1:1001", env: "127.0.0.1:1002", want: "127.0.0.1:1002"},
		{name: "flag over env", file: "127.0.0.1:1001", env: "127.0.0.1:1002", flag: "127.0.0.1:1003", want: "127.0.0.1:1003"},
		{name: "flag over file", file: "127.0.0.1:1001", flag: "127.0.0.1:1003", want: "127.0.0.1:1003"},
		{name: "env over default", env: "unix:/run/posd/api.sock", want: "unix:/run/posd/api.sock"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			body := minimal
			if tc.file != "" {
				body += "api:\n  listen: \"" + tc.file + "\"\n"
			}
			env := map[string]string{}
			if tc.env != "" {
				env["POSD_API_LISTEN"] = tc.env
			}
			flags := map[string]string{}
			if tc.flag != "" {
				flags["api.listen"] = tc.flag
			}
			c, err := Load(Source{File: writeFile(t, dir, "p.yaml", body, 0o644), Getenv: envMap(env), Flags: flags})
			require.NoError(t, err)
			assert.Equal(t, tc.want, c.API.Listen)
		})
	}
}

func TestEnvNestedKeys(t *testing.T) {
	dir := t.TempDir()
	c, err := Load(Source{Getenv: envMap(map[string]string{
		"POSD_STATE_DIR":                       dir,
		"POSD_PROVIDERS_SEQR_URL":              "http://127.0.0.1:9/soap",
		"POSD_PROVIDERS_SEQR_CLIENT_REFERENCE": "till 7",
		"POSD_PROVIDERS_SEQR_POLL_INTERVAL":    "500ms",
		"POSD_SCANNER_BAUD":                    "115200",
		"POSD_RECEIPT_HEADER":                  "Butik AB|Gatan 1, Ort",
	})})
	require.NoError(t, err)
	assert.Equal(t, dir, c.StateDir)
	assert.Equal(t, "http://127.0.0.1:9/soap", c.Providers.Seqr.URL)
	assert.Equal(t, "till 7", c.Providers.Seqr.ClientReference)
	assert.Equal(t, 500*time.Millisecond, c.Providers.Seqr.PollInterval)
	assert.Equal(t, 115200, c.Scanner.Baud)
	assert.Equal(t, []string{"Butik AB", "Gatan 1, Ort"}, c.Receipt.Header)
	assert.Equal(t, filepath.Join(dir, "posd.db"), c.DB.Path, "db path follows state_dir from env")
}

func TestEveryValidationErrorNamesItsKey(t *testing.T) {
	cases := []struct {
		key, value string
		allowed    string // a fragment of the allowed values in the message
	}{
		{"state_dir", "", "required"},
		{"log.format", "xml", "auto, json, console"},
		{"log.level", "loud", "debug, info, warn, error"},
		{"api.listen", "0.0.0.0:8420", "not loopback"},
		{"api.listen", "8420", "allowed: 127.0.0.1:PORT"},
		{"api.listen", "unix:relative.sock", "absolute"},
		{"db.path", "", "required"},
		{"providers.seqr.url", "http://seqr.example/soap", "https"},
		{"providers.seqr.url", "ftp://127.0.0.1/", "https"},
		{"providers.seqr.client_id", "", "1 to 100"},
		{"providers.seqr.client_reference", strings.Repeat("x", 33), "1 to 32"},
		{"providers.seqr.channel", "", "1 to 40"},
		{"providers.seqr.poll_interval", "30s", "100ms to 5s"},
		{"providers.seqr.poll_interval", "fast", "duration such as 1s"},
		{"providers.seqr.window", "1s", "5s to 5m0s"},
		{"providers.seqr.decision_limit", "10s", "at least providers.seqr.window"},
		{"register.probe_interval", "1ms", "1s to 10m0s"},
		{"register.offline_timeout", "10s", "within 3 s"},
		{"register.currency", "USD", "SEK, NOK, DKK, EUR"},
		{"providers.payson.url", "https://api.payson.example/checkouts", "up to and including /2.0/"},
		{"terminal.reseller_password_file", "pw.txt", "absolute path"},
		{"terminal.name", strings.Repeat("n", 101), "at most 100"},
		{"scanner.device", "ttyUSB0", "absolute device path"},
		{"scanner.baud", "9601", "9600"},
		{"scanner.baud", "fast", "whole number"},
		{"scanner.data_bits", "9", "5, 6, 7, 8"},
		{"scanner.parity", "sometimes", "none, odd, even, mark, space"},
		{"scanner.stop_bits", "3", "1, 2"},
		{"scanner.stop_bits", "1.5", "whole number"},
		{"printer.device", "lp0", "tcp://host:port"},
		{"printer.device", "tcp://printer", "host:port"},
		{"printer.device", "virtual:", "directory"},
		{"printer.codepage", "utf8", "cp858"},
		{"printer.columns", "80", "48, 42, 32"},
		{"printer.receipt_max_age", "1s", "1m0s to"},
		{"printer.drawer_max_age", "1h", "1s to 10m0s"},
		{"receipt.header", strings.Repeat("a|", 11), "at most 10 lines"},
		{"receipt.org_number", "5560000000", "NNNNNN-NNNN"},
		{"receipt.footer", strings.Repeat("x", 65), "at most 64"},
		{"receipt.journal", "", "required"},
	}
	for _, tc := range cases {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			flags := map[string]string{"providers.seqr.url": "https://s.example/soap", "state_dir": t.TempDir()}
			flags[tc.key] = tc.value
			_, err := Load(Source{Flags: flags})
			require.Error(t, err)
			var ve *ValidationError
			require.True(t, errors.As(err, &ve), "error %v is not a *ValidationError", err)
			assert.True(t, strings.HasPrefix(ve.Key, tc.key), "error names %q, want %q", ve.Key, tc.key)
			assert.Contains(t, err.Error(), tc.key)
			assert.Contains(t, err.Error(), tc.allowed)
		})
	}
}

func TestEveryKeyIsCoveredByAValidationCase(t *testing.T) {
	// Keys that take any text are listed here on purpose; every other key
	// must be rejected for some value, or validation has a hole.
	free := map[string]bool{
		"api.token_file": true, "terminal.reseller_id": true, "terminal.reseller_user_id": true,
		"terminal.reseller_password": true, "terminal.external_terminal_id": true,
		"providers.resurs.password": true, "providers.resurs.client_secret": true, "providers.payson.api_key": true,
	}
	for _, k := range Keys() {
		if free[k.Name] {
			continue
		}
		t.Run(k.Name, func(t *testing.T) {
			flags := map[string]string{"providers.seqr.url": "https://s.example/soap", "state_dir": t.TempDir()}
			var rejected bool
			for _, bad := range []string{"", "x", "0", "99999", "relative/p", strings.Repeat("z", 200), "a|a|a|a|a|a|a|a|a|a|a"} {
				flags[k.Name] = bad
				_, err := Load(Source{Flags: flags})
				var ve *ValidationError
				if errors.As(err, &ve) && strings.HasPrefix(ve.Key, k.Name) {
					rejected = true
					break
				}
			}
			assert.True(t, rejected, "no bad value rejected for %s", k.Name)
		})
	}
}

func TestUnknownKeysAreReported(t *testing.T) {
	cases := []struct {
		name, body, key, hint string
	}{
		{"typo", minimal + "    pol_interval: 2s\n", "providers.seqr.pol_interval", "did you mean providers.seqr.poll_interval"},
		{"unknown section", minimal + "metrics:\n  listen: x\n", "metrics.listen", "unknown key"},
		{"top level", minimal + "statedir: /x\n", "statedir", "did you mean state_dir"},
		{"section as scalar", minimal + "scanner: /dev/ttyUSB0\n", "scanner", "is a section"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("posd.yaml", []byte(tc.body))
			require.Error(t, err)
			var ve *ValidationError
			require.True(t, errors.As(err, &ve), "%v", err)
			assert.Equal(t, tc.key, ve.Key)
			assert.Contains(t, err.Error(), tc.hint)
		})
	}

	_, err := Load(Source{Flags: map[string]string{"providers.seqr.url": "https://s.example/", "providers.seqr.nope": "1"}})
	assert.ErrorIs(t, err, ErrUnknownKey, "unknown flag keys too")
}

func TestBadYAMLNamesTheFile(t *testing.T) {
	_, err := Parse("/etc/posd/posd.yaml", []byte("seqr:\n  url: [unclosed\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/etc/posd/posd.yaml")
	assert.Contains(t, err.Error(), "line")
}

func TestYAMLTypes(t *testing.T) {
	c, err := Parse("p.yaml", []byte(minimal+"state_dir: /tmp/x\nterminal:\n  reseller_id: 9900\nscanner:\n  stop_bits: 2\n  baud: 19200\nreceipt:\n  header: [Butik, 'Gata 1']\n"))
	require.NoError(t, err)
	assert.Equal(t, "9900", c.Terminal.ResellerID)
	assert.Equal(t, 2, c.Scanner.StopBits)
	assert.Equal(t, 19200, c.Scanner.Baud)
	assert.Equal(t, []string{"Butik", "Gata 1"}, c.Receipt.Header)

	_, err = Parse("p.yaml", []byte(minimal+"scanner:\n  baud: [1]\n"))
	var ve *ValidationError
	require.True(t, errors.As(err, &ve), "%v", err)
	assert.Equal(t, "scanner.baud", ve.Key)
}

func TestSecretFileMode(t *testing.T) {
	cases := []struct {
		mode    os.FileMode
		wantErr error
	}{
		{0o600, nil},
		{0o400, nil},
		{0o640, ErrSecretFileMode},
		{0o644, ErrSecretFileMode},
		{0o604, ErrSecretFileMode},
		{0o620, ErrSecretFileMode},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%04o", tc.mode), func(t *testing.T) {
			dir := t.TempDir()
			pw := writeFile(t, dir, "reseller-pw", "s3cret-canary\n", tc.mode)
			c, err := Load(Source{Flags: map[string]string{
				"providers.seqr.url": "https://s.example/", "state_dir": dir, "terminal.reseller_password_file": pw,
			}})
			if tc.wantErr == nil {
				require.NoError(t, err)
				assert.Equal(t, "s3cret-canary", c.Terminal.ResellerPassword.Reveal())
				return
			}
			require.ErrorIs(t, err, tc.wantErr)
			assert.Contains(t, err.Error(), "terminal.reseller_password_file")
			assert.Contains(t, err.Error(), "chmod 600")
			assert.NotContains(t, err.Error(), "s3cret-canary")
		})
	}
}

func TestTokenFileModeRefusesStart(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "api-token", "tok\n", 0o644)
	_, err := Load(Source{Flags: map[string]string{"providers.seqr.url": "https://s.example/", "state_dir": dir}})
	require.ErrorIs(t, err, ErrSecretFileMode)
	assert.Contains(t, err.Error(), "api.token_file")
}

func TestPasswordInConfigFileMakesItASecretFile(t *testing.T) {
	dir := t.TempDir()
	body := minimal + "state_dir: " + dir + "\nterminal:\n  reseller_password: canary-pw\n"
	_, err := Load(Source{File: writeFile(t, dir, "open.yaml", body, 0o644)})
	require.ErrorIs(t, err, ErrSecretFileMode)
	assert.NotContains(t, err.Error(), "canary-pw")

	c, err := Load(Source{File: writeFile(t, dir, "closed.yaml", body, 0o600)})
	require.NoError(t, err)
	assert.Equal(t, "canary-pw", c.Terminal.ResellerPassword.Reveal())
}

func TestCredentialsDirectory(t *testing.T) {
	state, creds := t.TempDir(), t.TempDir()
	writeFile(t, creds, CredentialResellerPassword, "cred-canary", 0o400)
	writeFile(t, creds, CredentialAPIToken, "tok-canary", 0o400)
	c, err := Load(Source{
		Getenv: envMap(map[string]string{"CREDENTIALS_DIRECTORY": creds, "POSD_STATE_DIR": state, "POSD_SEQR_URL": "https://s.example/"}),
	})
	require.NoError(t, err)
	assert.Equal(t, "cred-canary", c.Terminal.ResellerPassword.Reveal())
	assert.Equal(t, filepath.Join(creds, CredentialAPIToken), c.API.TokenFile)

	// An explicit file wins over the credential.
	pw := writeFile(t, state, "pw", "file-pw", 0o600)
	c, err = Load(Source{
		Getenv: envMap(map[string]string{"CREDENTIALS_DIRECTORY": creds, "POSD_STATE_DIR": state, "POSD_SEQR_URL": "https://s.example/"}),
		Flags:  map[string]string{"terminal.reseller_password_file": pw},
	})
	require.NoError(t, err)
	assert.Equal(t, "file-pw", c.Terminal.ResellerPassword.Reveal())

	// A credential with a loose mode is refused too.
	loose := t.TempDir()
	writeFile(t, loose, CredentialResellerPassword, "x", 0o644)
	_, err = Load(Source{Getenv: envMap(map[string]string{"CREDENTIALS_DIRECTORY": loose, "POSD_STATE_DIR": state, "POSD_SEQR_URL": "https://s.example/"})})
	require.ErrorIs(t, err, ErrSecretFileMode)
}

func TestReadSecretContent(t *testing.T) {
	cases := []struct {
		name, content string
		want          Secret
		wantErr       bool
	}{
		{"trailing newline", "pw\n", "pw", false},
		{"crlf", "pw\r\n", "pw", false},
		{"empty", "\n", "", true},
		{"two lines", "a\nb\n", "", true},
		{"too big", strings.Repeat("x", maxSecretSize+1), "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ReadSecret(writeFile(t, t.TempDir(), "s", tc.content, 0o600))
			if tc.wantErr {
				require.ErrorIs(t, err, ErrSecretFile)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, s)
		})
	}
}

func TestRedactedDump(t *testing.T) {
	dir := t.TempDir()
	pw := writeFile(t, dir, "pw", "dump-canary", 0o600)
	c, err := Load(Source{Flags: map[string]string{
		"providers.seqr.url": "https://s.example/soap", "state_dir": dir, "terminal.reseller_password_file": pw,
		"receipt.header": "Butik AB|Gatan 1: Ort", "scanner.device": "/dev/posd-scanner",
	}})
	require.NoError(t, err)

	out := c.Redacted()
	assert.NotContains(t, out, "dump-canary")
	assert.Contains(t, out, "reseller_password: '[redacted]'")
	assert.NotContains(t, fmt.Sprintf("%v %+v %#v", c, c, c), "dump-canary", "fmt must not show secrets")

	// The dump is a config file: loading it gives the same configuration
	// (except the redacted secret, which comes from the file again).
	p := writeFile(t, dir, "dump.yaml", strings.Replace(out, "'[redacted]'", "''", 1), 0o600)
	again, err := Load(Source{File: p, FileRequired: true})
	require.NoError(t, err)
	assert.Equal(t, c, again)
}

func TestExampleFileLoadsAndHasEveryKey(t *testing.T) {
	p := filepath.Join("..", "..", "configs", "posd.example.yaml")
	c, err := Load(Source{File: p, FileRequired: true})
	require.NoError(t, err)
	assert.Equal(t, Default().Providers.Seqr.PollInterval, c.Providers.Seqr.PollInterval)

	b, err := os.ReadFile(p)
	require.NoError(t, err)
	for _, k := range Keys() {
		parts := strings.Split(k.Name, ".")
		want := "\n" + strings.Repeat("  ", len(parts)-1) + parts[len(parts)-1] + ":"
		assert.Contains(t, string(b), want, "example file lacks %s", k.Name)
	}
}

func TestDemoFileLoads(t *testing.T) {
	c, err := Load(Source{File: filepath.Join("..", "..", "configs", "demo.yaml"), FileRequired: true})
	require.NoError(t, err)
	assert.Equal(t, "virtual:/tmp/posd-demo/printer", c.Printer.Device)
	assert.Empty(t, c.Terminal.ResellerPassword.Reveal(), "no password in the demo file")
}

func TestSecretsAreNotFlags(t *testing.T) {
	for _, k := range Keys() {
		if strings.Contains(k.Name, "password") && !strings.HasSuffix(k.Name, "_file") {
			assert.True(t, k.Secret, "%s must be marked secret", k.Name)
		}
	}
}

// FuzzLoad (F5): any config bytes give a config or a clear error, never a panic.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte("state_dir: /x\nproviders:\n  seqr:\n    url: https://s/\n    poll_interval: 1s\n"))
	f.Add([]byte("state_dir: /x\nseqr:\n  url: https://s/\n  poll_interval: 1s\n"))
	f.Add([]byte("seqr: [1, 2]\n"))
	f.Add([]byte("receipt:\n  header: {a: b}\n"))
	f.Add([]byte("scanner:\n  baud: 9.5\n"))
	f.Add([]byte("\x00\xff:"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("seqr:\n  url: https://s/\n  window: 10s\n  decision_limit: 5s\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			msg := err.Error()
			require.NotEmpty(t, msg)
			require.True(t, strings.HasPrefix(msg, "config "), "error does not say it is about the config: %q", msg)
			return
		}
		require.NoError(t, c.Validate())
	})
}

// FuzzParseSecret (F5, credentials): any file content gives one secret line
// or an error, and the error never repeats the content.
func FuzzParseSecret(f *testing.F) {
	for _, s := range []string{"pw", "pw\n", "pw\r\n", "", "\n", "a\nb", "a\x00b", strings.Repeat("x", maxSecretSize+1)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := parseSecret("/run/credentials/posd.service/reseller-password", data)
		if err != nil {
			require.ErrorIs(t, err, ErrSecretFile)
			if len(data) >= 4 {
				require.NotContains(t, err.Error(), string(data))
			}
			return
		}
		require.NotEmpty(t, s)
		require.NotContains(t, s.Reveal(), "\n")
		require.NotContains(t, s.Reveal(), "\x00")
		require.Equal(t, "[redacted]", s.String())
	})
}

// The keys of release 1 still load for one release, each with a warning
// naming the key that replaces it; the new key wins when both are given.
func TestDeprecatedSEQRKeysLoadWithAWarning(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "posd.yaml")
	require.NoError(t, os.WriteFile(file, []byte("state_dir: "+dir+"\nseqr:\n  url: https://old.example/soap\n  poll_interval: 2s\n  currency: NOK\n"), 0o644))
	c, err := Load(Source{File: file, Getenv: envMap(map[string]string{"POSD_SEQR_WINDOW": "45s"}),
		Flags: map[string]string{"seqr.client_reference": "till 9"}})
	require.NoError(t, err)
	assert.Equal(t, "https://old.example/soap", c.Providers.Seqr.URL)
	assert.Equal(t, 2*time.Second, c.Providers.Seqr.PollInterval)
	assert.Equal(t, "NOK", c.Register.Currency)
	assert.Equal(t, 45*time.Second, c.Providers.Seqr.Window)
	assert.Equal(t, "till 9", c.Providers.Seqr.ClientReference)
	joined := strings.Join(c.Deprecated, "\n")
	for _, want := range []string{"seqr.url is deprecated, use providers.seqr.url", "seqr.currency is deprecated, use register.currency",
		"POSD_SEQR_WINDOW is deprecated, use POSD_PROVIDERS_SEQR_WINDOW", "--seqr.client-reference is deprecated, use --providers.seqr.client-reference"} {
		assert.Contains(t, joined, want)
	}

	require.NoError(t, os.WriteFile(file, []byte("state_dir: "+dir+"\nseqr:\n  url: https://old.example/soap\nproviders:\n  seqr:\n    url: https://new.example/soap\n"), 0o644))
	c, err = Load(Source{File: file})
	require.NoError(t, err)
	assert.Equal(t, "https://new.example/soap", c.Providers.Seqr.URL, "the new key wins")
}

func TestAtLeastOneProviderIsRequired(t *testing.T) {
	_, err := Load(Source{Flags: map[string]string{"state_dir": t.TempDir()}})
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "providers", ve.Key)
	assert.Contains(t, err.Error(), "providers.payson.url")
}
