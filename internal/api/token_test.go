package api

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTokenCreated0600(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	tok, err := LoadOrCreateToken(dir)
	require.NoError(t, err)
	raw, err := hex.DecodeString(tok)
	require.NoError(t, err)
	assert.Len(t, raw, 32)

	fi, err := os.Stat(filepath.Join(dir, TokenFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	again, err := LoadOrCreateToken(dir)
	require.NoError(t, err)
	assert.Equal(t, tok, again, "the token is kept across starts")

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file left behind")
}

func TestTokenConcurrentFirstStart(t *testing.T) {
	dir := t.TempDir()
	toks := make([]string, 8)
	var wg sync.WaitGroup
	for i := range toks {
		wg.Go(func() {
			tok, err := LoadOrCreateToken(dir)
			assert.NoError(t, err)
			toks[i] = tok
		})
	}
	wg.Wait()
	for _, tok := range toks {
		assert.Equal(t, toks[0], tok)
	}
}

func TestTokenReadableByOthersRefused(t *testing.T) {
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		dir := t.TempDir()
		p := filepath.Join(dir, TokenFile)
		require.NoError(t, os.WriteFile(p, []byte(strings.Repeat("a", 64)+"\n"), 0o600))
		require.NoError(t, os.Chmod(p, mode))
		_, err := LoadOrCreateToken(dir)
		require.Error(t, err, "mode %o", mode)
		assert.Contains(t, err.Error(), "chmod 600")
		assert.Contains(t, err.Error(), p)
		assert.NotContains(t, err.Error(), strings.Repeat("a", 64), "the token never appears in an error")

		_, err = New(Config{StateDir: dir}, newSpy(t))
		require.Error(t, err, "the server refuses to start")
	}
}

func TestTokenFromFileUsedByServer(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, TokenFile), []byte("my-own-token-0123456789\n"), 0o600))
	s, err := New(Config{StateDir: dir}, newSpy(t))
	require.NoError(t, err)
	assert.Equal(t, "my-own-token-0123456789", s.token)

	require.NoError(t, os.WriteFile(filepath.Join(dir, TokenFile), []byte("short\n"), 0o600))
	_, err = New(Config{StateDir: dir}, newSpy(t))
	require.ErrorContains(t, err, "shorter")
}
