package api

import (
	"fmt"
	"os"
	"syscall"
)

// CheckOwner refuses a secret file (the API token) that belongs neither to
// the user posd runs as nor to root, as ssh checks its files: whoever owns
// the file can change its mode and its content, so a file of another user
// is that user's token, not ours, whatever its mode says. Root is trusted
// as ssh trusts it: systemd may leave a credential root-owned and grant
// the service's user read access by an ACL. fi is the file's Stat.
func CheckOwner(path string, fi os.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: cannot tell the file's owner", path)
	}
	if euid := os.Geteuid(); int(st.Uid) != euid && st.Uid != 0 {
		return fmt.Errorf("%s belongs to uid %d, not to the user posd runs as (uid %d); run: chown %d %s",
			path, st.Uid, euid, euid, path)
	}
	return nil
}
