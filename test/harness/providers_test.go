package harness

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/config"
)

func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// The environment the harness gives posd for all three providers is a
// configuration posd accepts, with every provider enabled and its secrets
// read from the files.
func TestProvidersEnvIsAValidPosdConfig(t *testing.T) {
	state := t.TempDir()
	env, err := AllAt("http://127.0.0.1:8470/").Env(filepath.Join(state, "secrets"))
	require.NoError(t, err)
	m := envMap(env)
	m["POSD_STATE_DIR"] = state
	cfg, err := config.Load(config.Source{Getenv: func(k string) string { return m[k] }})
	require.NoError(t, err)

	assert.Equal(t, "http://127.0.0.1:8470/soap/merchant/cashregister-2", cfg.Providers.Seqr.URL)
	rs := cfg.Providers.Resurs
	assert.Equal(t, "http://127.0.0.1:8470/pos", rs.POSURL)
	assert.Equal(t, "http://127.0.0.1:8470/ecommerce-test/ws/V4/AfterShopFlowService", rs.AfterShopURL)
	assert.Equal(t, "http://127.0.0.1:8470/api", rs.MAPIURL)
	assert.Equal(t, "posd_test", rs.Username)
	assert.Equal(t, "posd_test_pw", rs.Password.Reveal())
	assert.Equal(t, "posd_test_client", rs.ClientID)
	assert.Equal(t, "posd_test_secret", rs.ClientSecret.Reveal())
	ps := cfg.Providers.Payson
	assert.Equal(t, "http://127.0.0.1:8470/2.0/", ps.URL)
	assert.Equal(t, "4", ps.AgentID)
	assert.Equal(t, PaysonAPIKey, ps.APIKey.Reveal())
}

// Secrets are never in the environment, only in owner-only files.
func TestProvidersEnvKeepsSecretsInOwnerOnlyFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	env, err := Providers{Resurs: "http://127.0.0.1:1", Payson: "http://127.0.0.1:1"}.Env(dir)
	require.NoError(t, err)
	joined := strings.Join(env, "\n")
	for _, secret := range []string{ResursPassword, ResursClientSecret, PaysonAPIKey} {
		assert.NotContains(t, joined, secret)
	}
	m := envMap(env)
	for _, key := range []string{"POSD_PROVIDERS_RESURS_PASSWORD_FILE", "POSD_PROVIDERS_RESURS_CLIENT_SECRET_FILE", "POSD_PROVIDERS_PAYSON_API_KEY_FILE"} {
		fi, err := os.Stat(m[key])
		require.NoError(t, err, key)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), key)
	}
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	assert.NotContains(t, m, "POSD_PROVIDERS_SEQR_URL", "SEQR is not configured unless named")
}

func TestProvidersEnvRefusesAnUnknownProvider(t *testing.T) {
	_, err := Providers{"klarna": "http://127.0.0.1:1"}.Env(t.TempDir())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "klarna")
}
