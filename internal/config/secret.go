package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// maxSecretSize bounds what ReadSecret reads: a password or token, not a file
// someone pointed posd at by mistake.
const maxSecretSize = 4096

// CheckSecretMode refuses a secret file that group or others may read or
// write, as ssh does for private keys. systemd credentials are 0400.
func CheckSecretMode(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	return checkMode(path, fi)
}

func checkMode(path string, fi os.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file", ErrSecretFile, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %04o; run chmod 600 %s (posd refuses to start, as ssh does)", ErrSecretFileMode, path, perm, path)
	}
	return nil
}

// ReadSecret reads a password or token from a file that only its owner can
// read. A trailing newline (from echo or an editor) is dropped.
func ReadSecret(path string) (Secret, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrSecretFile, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrSecretFile, err)
	}
	if err := checkMode(path, fi); err != nil {
		return "", err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecretSize+1))
	if err != nil {
		return "", fmt.Errorf("%w: read %s: %w", ErrSecretFile, path, err)
	}
	return parseSecret(path, b)
}

// parseSecret turns a secret file's bytes into the secret; the error never
// contains the bytes.
func parseSecret(path string, b []byte) (Secret, error) {
	if len(b) > maxSecretSize {
		return "", fmt.Errorf("%w: %s is larger than %d bytes", ErrSecretFile, path, maxSecretSize)
	}
	s := strings.TrimRight(string(b), "\r\n")
	switch {
	case s == "":
		return "", fmt.Errorf("%w: %s is empty", ErrSecretFile, path)
	case strings.ContainsAny(s, "\r\n\x00"):
		return "", fmt.Errorf("%w: %s holds more than one line", ErrSecretFile, path)
	}
	return Secret(s), nil
}

// ReadCredential reads a systemd credential from dir ($CREDENTIALS_DIRECTORY).
// ok is false when the credential is not there.
func ReadCredential(dir, name string) (s Secret, ok bool, err error) {
	if dir == "" {
		return "", false, nil
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		return "", false, nil
	}
	s, err = ReadSecret(p)
	if err != nil {
		return "", false, fmt.Errorf("credential %s: %w", name, err)
	}
	return s, true, nil
}
