package api

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// TokenFile is the name of the API token file inside the state directory.
const TokenFile = "api-token"

// MinTokenLength is the shortest token accepted, generated or supplied
// (a generated one has 64 hex characters).
const MinTokenLength = 16

// LoadOrCreateToken returns the API token kept in <dir>/api-token, creating
// it (32 random bytes, hex, mode 0600) on first use. Like ssh with a private
// key, it refuses a token file that group or others may read or write, or
// that belongs to another user: a token others can read or replace is no
// secret, and the fix is the operator's to make.
func LoadOrCreateToken(dir string) (string, error) {
	path := filepath.Join(dir, TokenFile)
	tok, err := readToken(path)
	if err == nil {
		return tok, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("create api token: %w", err)
	}
	tok = hex.EncodeToString(raw[:])
	if err := writeFileAtomic(path, []byte(tok+"\n"), 0o600); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another process made it first; use theirs.
			return readToken(path)
		}
		return "", fmt.Errorf("create api token %s: %w", path, err)
	}
	return tok, nil
}

// readToken reads a token file, checking its permissions first.
func readToken(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("api token %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("api token %s: not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("api token %s is accessible by group or others (mode %04o); run: chmod 600 %s", path, perm, path)
	}
	if err := CheckOwner(path, fi); err != nil {
		return "", fmt.Errorf("api token %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("api token %s: %w", path, err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < MinTokenLength {
		return "", fmt.Errorf("api token %s: shorter than %d characters; delete it to have a new one made", path, MinTokenLength)
	}
	return tok, nil
}

// writeFileAtomic writes data to path through a temporary file: fsync,
// rename, then fsync of the directory, so a crash leaves either no file or
// the whole file, never a torn token.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		_ = f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// Link rather than rename: if another process created the file
	// meanwhile, its token wins instead of being replaced under it.
	if err := os.Link(tmp, path); err != nil {
		return err
	}
	_ = os.Remove(tmp)
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
