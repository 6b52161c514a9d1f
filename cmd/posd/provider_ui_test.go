package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/config"
	"github.com/posd/posd/internal/receipt"
)

func TestFrameOriginsAndReferenceCode(t *testing.T) {
	load := func(kv map[string]string) config.Config {
		kv["state_dir"] = t.TempDir()
		cfg, err := config.Load(config.Source{Overrides: kv})
		require.NoError(t, err)
		return cfg
	}
	cfg := load(map[string]string{"providers.seqr.url": "https://seqr.example/soap"})
	assert.Empty(t, frameOrigins(cfg), "SEQR frames nothing")
	assert.Equal(t, receipt.SymbologyCode128, referenceCode(cfg))

	cfg = load(map[string]string{
		"providers.resurs.pos_url": "https://postest.resurs.com/pos", "providers.resurs.aftershop_url": "https://test.resurs.com/ecommerce-test/ws/V4/AfterShopFlowService",
		"providers.payson.url": "https://test-api.payson.se/2.0/", "receipt.reference_code": "qr",
	})
	assert.Equal(t, []string{"https://postest.resurs.com", "https://test-api.payson.se"}, frameOrigins(cfg))
	assert.Equal(t, receipt.SymbologyQR, referenceCode(cfg))

	cfg = load(map[string]string{"providers.payson.url": "https://test-api.payson.se/2.0/", "providers.payson.snippet_origin": "https://test-www.payson.se"})
	assert.Equal(t, []string{"https://test-www.payson.se"}, frameOrigins(cfg))

	_, err := config.Load(config.Source{Overrides: map[string]string{"state_dir": t.TempDir(), "providers.payson.url": "https://test-api.payson.se/2.0/",
		"providers.payson.snippet_origin": "https://x.example/a; script-src *"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "snippet_origin")
	_, err = config.Load(config.Source{Overrides: map[string]string{"state_dir": t.TempDir(), "providers.seqr.url": "https://s.example/soap", "receipt.reference_code": "ean13"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "reference_code")
}
