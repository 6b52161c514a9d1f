package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPrepareStateDir(t *testing.T) {
	t.Run("created 0700", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "a", "posd")
		was, err := prepareStateDir(dir)
		require.NoError(t, err)
		assert.Zero(t, was)
		fi, err := os.Stat(dir)
		require.NoError(t, err)
		assert.Equal(t, fs.FileMode(0o700), fi.Mode().Perm())
	})
	for _, mode := range []fs.FileMode{0o777, 0o755, 0o750, 0o701} {
		t.Run("existing "+strconv.FormatUint(uint64(mode), 8)+" is tightened", func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "posd")
			require.NoError(t, os.Mkdir(dir, 0o700))
			require.NoError(t, os.Chmod(dir, mode))
			was, err := prepareStateDir(dir)
			require.NoError(t, err)
			assert.Equal(t, mode, was)
			fi, err := os.Stat(dir)
			require.NoError(t, err)
			assert.Equal(t, fs.FileMode(0o700), fi.Mode().Perm())
		})
	}
	t.Run("0700 left alone", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.Chmod(dir, 0o700))
		was, err := prepareStateDir(dir)
		require.NoError(t, err)
		assert.Zero(t, was)
	})
	t.Run("a file is refused", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "posd")
		require.NoError(t, os.WriteFile(p, nil, 0o600))
		_, err := prepareStateDir(p)
		require.Error(t, err)
	})
	t.Run("another user's directory is refused, not chmodded", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "posd")
		require.NoError(t, os.Mkdir(dir, 0o700))
		require.NoError(t, os.Chmod(dir, 0o777))
		other := os.Geteuid() + 4242
		chownOrSkip(t, dir, other)
		_, err := prepareStateDir(dir)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "chown "+strconv.Itoa(os.Geteuid())+" "+dir)
		fi, err := os.Stat(dir)
		require.NoError(t, err)
		assert.Equal(t, fs.FileMode(0o777), fi.Mode().Perm(), "not ours to change")
	})
}

func TestTokenFileOwner(t *testing.T) {
	p := filepath.Join(t.TempDir(), "api-token")
	require.NoError(t, os.WriteFile(p, []byte("0123456789abcdef0123\n"), 0o600))
	require.NoError(t, checkTokenFileOwner(p))
	chownOrSkip(t, p, os.Geteuid()+4242)
	err := checkTokenFileOwner(p)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "api.token_file")
	require.NoError(t, os.Chown(p, 0, -1))
	require.NoError(t, checkTokenFileOwner(p), "root's file is trusted, as ssh trusts it (a systemd credential may stay root's)")
}

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
