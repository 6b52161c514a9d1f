package receipt

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeTestJournal creates a journal with posts 1..n and returns its bytes.
func writeTestJournal(t testing.TB, path string, n int) []byte {
	t.Helper()
	j, _, err := OpenJournal(path, journalTestClock())
	require.NoError(t, err)
	for i := 1; i <= n; i++ {
		_, err := j.Append(journalTestPost(i))
		require.NoError(t, err)
	}
	require.NoError(t, j.Close())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

// splitJournal splits file bytes into lines that keep their "\n".
func splitJournal(b []byte) [][]byte {
	return bytes.SplitAfter(b, []byte("\n"))[:bytes.Count(b, []byte("\n"))]
}

// resealLine recomputes the CRC of a line edited in its body (with "\n").
func resealLine(line []byte) []byte {
	body := line[:len(line)-1-journalCRCLen-1]
	return journalSeal(body)
}

// requireOneLinePerReference checks the series verifies and holds refs 1..n
// once each in all its files.
func requireOneLinePerReference(t *testing.T, path string, n int) {
	t.Helper()
	got, err := Verify(path)
	require.NoError(t, err)
	require.Equal(t, n, got)
	files, err := journalListFiles(path)
	require.NoError(t, err)
	var b []byte
	for _, f := range files {
		fb, err := os.ReadFile(f)
		require.NoError(t, err)
		b = append(b, fb...)
	}
	for i := 1; i <= n; i++ {
		require.Equal(t, 1, bytes.Count(b, []byte(`"reference":"`+journalTestPost(i).Reference+`"`)), "reference %d", i)
	}
}

func TestJournalVerifyTamper(t *testing.T) {
	dir := t.TempDir()
	good := writeTestJournal(t, filepath.Join(dir, "good"), 5)
	lines := splitJournal(good) // lines[0] is the header, lines[k] is seq k, file line k+1

	join := func(ls ...[]byte) []byte { return bytes.Join(ls, nil) }
	with := func(i int, l []byte) []byte {
		c := make([][]byte, len(lines))
		copy(c, lines)
		c[i] = l
		return join(c...)
	}
	flipAmount := func(l []byte) []byte {
		c := bytes.Clone(l)
		i := bytes.Index(c, []byte(`"amount":"10.0`))
		c[i+len(`"amount":"10.0`)] = '9'
		return c
	}
	tests := []struct {
		name  string
		file  []byte
		posts int
		want  string // "" for a good file
	}{
		{"good", good, 5, ""},
		{"flip a byte of a middle amount", with(3, flipAmount(lines[3])), 2, "line 4: crc mismatch"},
		{"edit a middle amount and recompute its crc", with(3, resealLine(flipAmount(lines[3]))), 3, "line 5: chain broken"},
		{"delete a middle line", join(append(append([][]byte{}, lines[:3]...), lines[4:]...)...), 2, "line 4: chain broken"},
		{"swap two lines", join(lines[0], lines[1], lines[3], lines[2], lines[4], lines[5]), 1, "line 3: chain broken"},
		{"duplicate the last line", join(append(append([][]byte{}, lines...), lines[5])...), 5, "line 7: chain broken"},
		{"flip the crc digits", with(2, append(bytes.Clone(lines[2][:len(lines[2])-2]), 'g', '\n')), 1, "line 3: syntax"},
		{"bad header", with(0, []byte("hello\n")), 0, "line 1: header"},
		{"header from a newer version", with(0, resealLine(bytes.Replace(lines[0], []byte(`"version":2`), []byte(`"version":3`), 1))), 0, "version 3 not supported"},
		{"torn last line", good[:len(good)-10], 4, "line 6: torn"},
		{"no newline at the end", good[:len(good)-1], 4, "line 6: torn"},
		{"zeros appended", append(bytes.Clone(good), make([]byte, 100)...), 5, "line 7: torn"},
		{"empty file", nil, 0, "line 1: empty file"},
		{"unknown field", with(2, resealLine(bytes.Replace(lines[2], []byte(`{"seq"`), []byte(`{"x":1,"seq"`), 1))), 1, "line 3: syntax"},
		{"seq gap with a valid chain", with(2, resealLine(bytes.Replace(lines[2], []byte(`"seq":2`), []byte(`"seq":7`), 1))), 1, "line 3: seq 7, want 2"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("case%d", i))
			require.NoError(t, os.WriteFile(path, tt.file, 0o600))
			n, err := Verify(path)
			assert.Equal(t, tt.posts, n)
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrCorrupt)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestJournalOpenRefusesMiddleCorruption(t *testing.T) {
	dir := t.TempDir()
	good := writeTestJournal(t, filepath.Join(dir, "good"), 5)
	lines := splitJournal(good)
	flipped := bytes.Clone(lines[2])
	flipped[20] ^= 0x01
	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"flipped middle line", bytes.Join([][]byte{lines[0], lines[1], flipped, lines[3], lines[4], lines[5]}, nil), "line 3: crc mismatch, but line 4 after it is intact"},
		{"deleted middle line", bytes.Join([][]byte{lines[0], lines[1], lines[3], lines[4], lines[5]}, nil), "line 3: chain broken"},
		{"edited last line, crc recomputed is not torn", bytes.Join([][]byte{lines[0], lines[1], lines[2], lines[3], lines[5]}, nil), "line 5: chain broken"},
		{"garbage then an intact line", bytes.Join([][]byte{good, []byte("garbage\n"), lines[5]}, nil), "line 7: syntax"},
		{"last line duplicated", bytes.Join([][]byte{good, lines[5]}, nil), "intact line out of place"},
		{"newer header version", bytes.Join([][]byte{resealLine(bytes.Replace(lines[0], []byte(`"version":2`), []byte(`"version":3`), 1)), lines[1]}, nil), "version 3 not supported"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("case%d", i))
			require.NoError(t, os.WriteFile(path, tt.file, 0o600))
			_, _, err := OpenJournal(path, journalTestClock())
			require.ErrorIs(t, err, ErrCorrupt)
			assert.Contains(t, err.Error(), tt.want)
			after, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, tt.file, after, "a refused file is not changed")
			side, err := filepath.Glob(path + ".torn-*")
			require.NoError(t, err)
			assert.Empty(t, side)
		})
	}
}

// TestJournalTornTailEveryByte cuts the file at every byte offset inside the
// last line (reliability D3): the partial line is moved aside byte for byte,
// earlier posts stay, and re-appending the missing reference (as register
// does from SQLite) leaves exactly one line per reference.
func TestJournalTornTailEveryByte(t *testing.T) {
	dir := t.TempDir()
	const n = 4
	full := writeTestJournal(t, filepath.Join(dir, "full"), n)
	lines := splitJournal(full)
	lastStart := len(full) - len(lines[n])
	path := filepath.Join(dir, "receipts.journal")
	for size := lastStart; size < len(full); size++ {
		require.NoError(t, os.WriteFile(path, full[:size], 0o600))
		j, rec, err := OpenJournal(path, journalTestClock())
		require.NoError(t, err, "size %d", size)
		assert.Equal(t, n-1, rec.ValidPosts)
		assert.Len(t, testPosts(t, j, 0), n-1)
		assert.False(t, j.Has("seqr", journalTestPost(n).Reference))
		if size == lastStart {
			assert.Equal(t, Recovery{ValidPosts: n - 1}, rec, "a cut on the line boundary is not torn")
		} else {
			assert.Equal(t, int64(size-lastStart), rec.BadBytes, "size %d", size)
			require.NotEmpty(t, rec.MovedAside)
			side, err := os.ReadFile(rec.MovedAside)
			require.NoError(t, err)
			assert.Equal(t, full[lastStart:size], side, "size %d", size)
			require.NoError(t, os.Remove(rec.MovedAside))
		}
		for i := 1; i <= n; i++ { // re-append everything, as recovery from SQLite would
			_, err := j.Append(journalTestPost(i))
			require.NoError(t, err)
		}
		require.NoError(t, j.Close())
		requireOneLinePerReference(t, path, n)
	}
}

func TestJournalTornHeader(t *testing.T) {
	dir := t.TempDir()
	full := writeTestJournal(t, filepath.Join(dir, "full"), 0)
	path := filepath.Join(dir, "j")
	for size := 1; size < len(full); size++ {
		require.NoError(t, os.WriteFile(path, full[:size], 0o600))
		j, rec, err := OpenJournal(path, journalTestClock())
		require.NoError(t, err, "size %d", size)
		assert.Equal(t, int64(size), rec.BadBytes)
		_, err = j.Append(journalTestPost(1))
		require.NoError(t, err)
		require.NoError(t, j.Close())
		requireOneLinePerReference(t, path, 1)
		require.NoError(t, os.Remove(rec.MovedAside))
	}
	// An existing empty file (crash right after create) gets its header.
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	j, rec, err := OpenJournal(path, journalTestClock())
	require.NoError(t, err)
	assert.Equal(t, Recovery{}, rec)
	require.NoError(t, j.Close())
	requireOneLinePerReference(t, path, 0)
}

func TestJournalBadTailMovedAside(t *testing.T) {
	dir := t.TempDir()
	good := writeTestJournal(t, filepath.Join(dir, "good"), 3)
	lines := splitJournal(good)
	flippedLast := bytes.Clone(lines[3])
	flippedLast[30] ^= 0x20
	tests := []struct {
		name string
		tail []byte
		keep int // posts kept from the 3 of good
	}{
		{"zeros", make([]byte, 4096), 3},
		{"zeros with a newline", append(make([]byte, 100), '\n'), 3},
		{"garbage lines", []byte("garbage\n{\"seq\":4}\n\xff\xfe"), 3},
		{"garbage without newline", []byte("{\"seq\":4,"), 3},
		{"a line far too long", bytes.Repeat([]byte("x"), 3*journalMaxLine), 3},
		{"intact line without its newline", lines[3][:len(lines[3])-1], 3},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("case%d", i))
			file := append(bytes.Clone(good), tt.tail...)
			require.NoError(t, os.WriteFile(path, file, 0o600))
			j, rec, err := OpenJournal(path, journalTestClock())
			require.NoError(t, err)
			assert.Equal(t, tt.keep, rec.ValidPosts)
			assert.Equal(t, int64(len(tt.tail)), rec.BadBytes)
			side, err := os.ReadFile(rec.MovedAside)
			require.NoError(t, err)
			assert.Equal(t, tt.tail, side)
			assert.True(t, strings.HasPrefix(filepath.Base(rec.MovedAside), filepath.Base(path)+".torn-2026"))
			_, err = j.Append(journalTestPost(4))
			require.NoError(t, err)
			require.NoError(t, j.Close())
			requireOneLinePerReference(t, path, 4)
		})
	}
	t.Run("flipped last line", func(t *testing.T) {
		path := filepath.Join(dir, "flipped-last")
		file := bytes.Join([][]byte{lines[0], lines[1], lines[2], flippedLast}, nil)
		require.NoError(t, os.WriteFile(path, file, 0o600))
		j, rec, err := OpenJournal(path, journalTestClock())
		require.NoError(t, err)
		assert.Equal(t, 2, rec.ValidPosts)
		assert.Equal(t, int64(len(flippedLast)), rec.BadBytes)
		for i := 1; i <= 3; i++ {
			_, err = j.Append(journalTestPost(i))
			require.NoError(t, err)
		}
		require.NoError(t, j.Close())
		requireOneLinePerReference(t, path, 3)
	})
	t.Run("side file names do not collide", func(t *testing.T) {
		path := filepath.Join(dir, "collide")
		clock := func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
		var names []string
		for range 3 {
			require.NoError(t, os.WriteFile(path, append(bytes.Clone(good), 0), 0o600))
			j, rec, err := OpenJournal(path, clock)
			require.NoError(t, err)
			require.NoError(t, j.Close())
			names = append(names, rec.MovedAside)
		}
		assert.Equal(t, []string{path + ".torn-20260101T000000.000000000Z", path + ".torn-20260101T000000.000000000Z-1",
			path + ".torn-20260101T000000.000000000Z-2"}, names)
	})
}

// journalFaults injects write and fsync failures into the files a journal opens.
type journalFaults struct {
	mu         sync.Mutex
	syncs      int
	writes     int
	opens      int
	failSync   int  // fail the n-th Sync (1-based), 0: never
	failWrite  int  // fail the n-th Write, 0: never
	shortWrite bool // a failing Write first writes half its bytes
	failOpen   int  // fail the n-th open, 0: never
}

type journalFaultFile struct {
	*os.File
	faults *journalFaults
}

var errInjected = errors.New("injected fault")

func (fl *journalFaults) open(path string, create bool) (journalFile, error) {
	fl.mu.Lock()
	fl.opens++
	fail := fl.opens == fl.failOpen
	fl.mu.Unlock()
	if fail {
		return nil, fmt.Errorf("open: %w", errInjected)
	}
	f, err := journalOpenOS(path, create)
	if err != nil {
		return nil, err
	}
	return &journalFaultFile{File: f.(*os.File), faults: fl}, nil
}

func (f *journalFaultFile) Write(b []byte) (int, error) {
	f.faults.mu.Lock()
	f.faults.writes++
	fail := f.faults.writes == f.faults.failWrite
	short := f.faults.shortWrite
	f.faults.mu.Unlock()
	if !fail {
		return f.File.Write(b)
	}
	if short {
		n, _ := f.File.Write(b[:len(b)/2])
		return n, fmt.Errorf("write: %w", errInjected)
	}
	return 0, fmt.Errorf("write: %w", errInjected)
}

func (f *journalFaultFile) Sync() error {
	f.faults.mu.Lock()
	f.faults.syncs++
	fail := f.faults.syncs == f.faults.failSync
	f.faults.mu.Unlock()
	if fail {
		// Like fsyncgate: the data may be in the page cache, the disk state is unknown.
		return fmt.Errorf("sync: %w", errInjected)
	}
	return f.File.Sync()
}

func TestJournalAppendFaults(t *testing.T) {
	tests := []struct {
		name      string
		faults    *journalFaults
		onDisk    bool // the failed post's line reached the file
		movedSide bool
	}{
		// Syncs: 1 header at create, then one per append; the 3rd is post 2's.
		{"fsync fails after the write landed", &journalFaults{failSync: 3}, true, false},
		// Writes: 1 header, then one per append; the 3rd is post 2's.
		{"write fails with nothing written", &journalFaults{failWrite: 3}, false, false},
		{"short write", &journalFaults{failWrite: 3, shortWrite: true}, false, true},
		// Opens: 1 and 2 at OpenJournal (not found, then create); the 3rd is the reopen after the fault.
		{"fsync fails and the reopen fails too", &journalFaults{failSync: 3, failOpen: 3}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "j")
			j, _, err := openJournal(path, journalTestClock(), tt.faults.open)
			require.NoError(t, err)
			defer j.Close()
			_, err = j.Append(journalTestPost(1))
			require.NoError(t, err)

			_, err = j.Append(journalTestPost(2))
			require.ErrorIs(t, err, ErrNotDurable)
			require.ErrorIs(t, err, errInjected)
			if tt.faults.failOpen == 0 {
				assert.Equal(t, tt.onDisk, j.Has("seqr", journalTestPost(2).Reference))
			}
			side, _ := filepath.Glob(path + ".torn-*")
			assert.Equal(t, tt.movedSide, len(side) == 1, "side files %v", side)

			// The caller retries: exactly one line for the reference, whatever happened.
			p, err := j.Append(journalTestPost(2))
			require.NoError(t, err)
			assert.Equal(t, int64(2), p.Seq)
			p, err = j.Append(journalTestPost(3))
			require.NoError(t, err)
			assert.Equal(t, int64(3), p.Seq)
			require.NoError(t, j.Close())
			requireOneLinePerReference(t, path, 3)
		})
	}
}

// TestJournalFailEveryCall fails the n-th fsync (and, separately, the n-th
// write, torn in half) for n = 1, 2, ... while three posts are appended with
// retries, as reliability K3 asks: every run ends with one line per reference.
func TestJournalFailEveryCall(t *testing.T) {
	for _, kind := range []string{"sync", "write"} {
		for n := 1; n <= 8; n++ {
			t.Run(fmt.Sprintf("%s %d", kind, n), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "j")
				faults := &journalFaults{shortWrite: true}
				if kind == "sync" {
					faults.failSync = n
				} else {
					faults.failWrite = n
				}
				var j *Journal
				var err error
				for range 3 { // opening may hit the fault too
					if j, _, err = openJournal(path, journalTestClock(), faults.open); err == nil {
						break
					}
				}
				require.NoError(t, err)
				defer j.Close()
				for i := 1; i <= 3; i++ {
					for try := 0; ; try++ {
						require.Less(t, try, 3, "post %d never recorded", i)
						if _, err = j.Append(journalTestPost(i)); err == nil {
							break
						}
						require.ErrorIs(t, err, ErrNotDurable)
					}
				}
				require.NoError(t, j.Close())
				requireOneLinePerReference(t, path, 3)
			})
		}
	}
}

func TestJournalCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	faults := &journalFaults{failSync: 2} // sync 1: header; sync 2: the first Check
	j, _, err := openJournal(path, journalTestClock(), faults.open)
	require.NoError(t, err)
	err = j.Check()
	require.ErrorIs(t, err, ErrNotDurable)
	require.ErrorIs(t, err, errInjected)
	require.NoError(t, j.Check())
	_, err = j.Append(journalTestPost(1))
	require.NoError(t, err)
	require.NoError(t, j.Close())
	require.ErrorIs(t, j.Check(), ErrClosed)
	requireOneLinePerReference(t, path, 1)
}
