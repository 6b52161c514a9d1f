package receipt

import (
	"os"

	"golang.org/x/sys/unix"
)

// journalLock takes an exclusive advisory lock on the journal so that two
// daemons on one state directory cannot interleave appends.
func journalLock(f *os.File) error {
	return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
}

// journalDropCache asks the kernel to drop the file's clean cached pages so
// the following reads come from the disk. Best effort: an error only means
// the scan may see cached data.
func journalDropCache(f *os.File) {
	_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}

// journalFreeBytes returns the bytes available to an unprivileged writer on
// the file system holding path.
func journalFreeBytes(path string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}
