package api

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chownOrSkip gives path to another user; only root can. CI runs as root,
// so there the test must run rather than skip.
func chownOrSkip(t *testing.T, path string, uid int) {
	t.Helper()
	if err := os.Chown(path, uid, -1); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chown %s to uid %d (CI runs as root): %v", path, uid, err)
		}
		t.Skipf("giving a file to another user needs root (chown: %v)", err)
	}
}

// TestTokenOfAnotherUserRefused: a token file with the right mode but
// another owner is refused, as ssh refuses such a key.
func TestTokenOfAnotherUserRefused(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, TokenFile)
	require.NoError(t, os.WriteFile(p, []byte(strings.Repeat("b", 64)+"\n"), 0o600))
	other := os.Geteuid() + 4242
	chownOrSkip(t, p, other)

	_, err := LoadOrCreateToken(dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "uid "+strconv.Itoa(other))
	assert.Contains(t, err.Error(), "chown "+strconv.Itoa(os.Geteuid())+" "+p)
	assert.NotContains(t, err.Error(), strings.Repeat("b", 64))
	_, err = New(Config{StateDir: dir}, newSpy(t))
	require.Error(t, err, "the server refuses to start")

	fi, err := os.Stat(p)
	require.NoError(t, err)
	require.Error(t, CheckOwner(p, fi))
	require.NoError(t, os.Chown(p, os.Geteuid(), -1))
	fi, err = os.Stat(p)
	require.NoError(t, err)
	require.NoError(t, CheckOwner(p, fi), "once it is ours")
}
