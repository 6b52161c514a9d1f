package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/posd/posd/internal/api"
)

// prepareStateDir creates the state directory (0700) or checks the one
// there. One that group or others may enter is tightened to 0700, not
// refused: it is posd's own directory (systemd's StateDirectory= resets
// its mode the same way at every start), nothing in it is for anyone else,
// and a till that will not start over a mode it can safely fix costs sales.
// A directory of another user is refused: chmod would not be ours to do,
// and its owner could change it back or replace what posd keeps there.
// tightened is the mode it had when it was tightened, 0 otherwise.
func prepareStateDir(dir string) (tightened fs.FileMode, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, fmt.Errorf("create state dir %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return 0, fmt.Errorf("state dir %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return 0, fmt.Errorf("state dir %s: not a directory", dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if euid := os.Geteuid(); int(st.Uid) != euid {
			return 0, fmt.Errorf("state dir %s belongs to uid %d, not to the user posd runs as (uid %d); run: chown %d %s",
				dir, st.Uid, euid, euid, dir)
		}
	} else {
		return 0, errors.New("state dir " + dir + ": cannot tell its owner")
	}
	perm := fi.Mode().Perm()
	if perm&0o077 == 0 {
		return 0, nil
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return 0, fmt.Errorf("state dir %s has mode %04o and chmod 0700 failed (run: chmod 700 %s): %w", dir, perm, dir, err)
	}
	return perm, nil
}

// checkTokenFileOwner: api.token_file (a systemd credential, which systemd
// gives to the service's user, or a file of the operator's choosing) must
// belong to the user posd runs as, as ssh checks a key's owner.
func checkTokenFileOwner(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("api.token_file: %w", err)
	}
	if err := api.CheckOwner(path, fi); err != nil {
		return fmt.Errorf("api.token_file %w", err)
	}
	return nil
}
