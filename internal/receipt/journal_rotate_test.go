package receipt

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/money"
)

// dayClock is a clock tests move by hand (whole days at a time) that also
// ticks one second per call, like journalTestClock.
type dayClock struct {
	mu sync.Mutex
	t  time.Time
}

func newDayClock() *dayClock {
	return &dayClock{t: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)}
}

func (c *dayClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func (c *dayClock) nextDay() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.AddDate(0, 0, 1)
}

// writeRotated writes perDay posts on each of days days (numbered from 1 up)
// and returns the posts and the series' files.
func writeRotated(t *testing.T, path string, clock *dayClock, days, perDay int) []Post {
	t.Helper()
	j, _, err := OpenJournal(path, clock.now)
	require.NoError(t, err)
	var posts []Post
	for d := 0; d < days; d++ {
		if d > 0 {
			clock.nextDay()
		}
		for i := 1; i <= perDay; i++ {
			p, err := j.Append(journalTestPost(d*perDay + i))
			require.NoError(t, err)
			posts = append(posts, p)
		}
	}
	require.NoError(t, j.Close())
	return posts
}

func TestJournalRotatesDailyWithOneChain(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "receipts.journal")
	clock := newDayClock()
	want := writeRotated(t, path, clock, 3, 4)

	files, err := journalListFiles(path)
	require.NoError(t, err)
	assert.Equal(t, []string{path, path + ".000002-2026-11-22", path + ".000003-2026-11-23"}, files)
	n, err := Verify(path)
	require.NoError(t, err)
	assert.Equal(t, 12, n)

	// File 3's header continues the chain: seq and hash of file 2's last line.
	f2 := splitJournal(must(os.ReadFile(files[1])))
	f3 := splitJournal(must(os.ReadFile(files[2])))
	h, err := journalParseHeader(f3[0][:len(f3[0])-1])
	require.NoError(t, err)
	assert.Equal(t, 3, h.File)
	assert.Equal(t, "2026-11-23", h.Period)
	assert.Equal(t, int64(8), h.Seq)
	last := f2[len(f2)-1]
	assert.Equal(t, journalHashLine(last[:len(last)-1]).String(), h.Prev)

	j, rec, err := OpenJournal(path, clock.now)
	require.NoError(t, err)
	defer j.Close()
	assert.Equal(t, Recovery{ValidPosts: 12}, rec, "a clean reopen reads no sealed file")
	assert.Equal(t, int64(12), j.LastSeq())
	assert.Equal(t, want, testPosts(t, j, 0), "posts read back across files")
	for _, after := range []int64{0, 2, 3, 4, 7, 8, 11} {
		got, err := j.Posts(after, 3)
		require.NoError(t, err)
		assert.Equal(t, want[after:min(after+3, 12)], got, "after %d", after)
	}
	for _, p := range want {
		assert.True(t, j.Has("seqr", p.Reference), p.Reference)
	}
	assert.False(t, j.Has("seqr", "ERS999999"))
	assert.False(t, j.Has("payson", want[0].Reference))

	// Re-appending an old post (recovery from SQLite) finds it in its sealed file.
	again, err := j.Append(journalTestPost(1))
	require.NoError(t, err)
	assert.Equal(t, want[0], again)
	other := journalTestPost(5)
	other.Amount++
	got, err := j.Append(other)
	require.ErrorIs(t, err, ErrReferenceConflict)
	assert.Equal(t, want[4], got)
	assert.Equal(t, int64(12), j.LastSeq())
}

func TestJournalRotateMonthly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "receipts.journal")
	clock := newDayClock()
	j, _, err := OpenJournal(path, clock.now, WithRotation(RotateMonth))
	require.NoError(t, err)
	for d := 0; d < 12; d++ { // 21 November to 2 December: two months
		_, err := j.Append(journalTestPost(d + 1))
		require.NoError(t, err)
		clock.nextDay()
	}
	require.NoError(t, j.Close())
	files, err := journalListFiles(path)
	require.NoError(t, err)
	assert.Equal(t, []string{path, path + ".000002-2026-12"}, files)
	requireOneLinePerReference(t, path, 12)
}

func TestJournalRotationFollowsLocation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "receipts.journal")
	stockholm := time.FixedZone("CET", 3600)
	now := time.Date(2026, 11, 21, 22, 30, 0, 0, time.UTC) // 23:30 in Stockholm
	clock := func() time.Time { return now }
	j, _, err := OpenJournal(path, clock, WithLocation(stockholm))
	require.NoError(t, err)
	defer j.Close()
	_, err = j.Append(journalTestPost(1))
	require.NoError(t, err)
	now = now.Add(time.Hour) // 00:30 the next day in Stockholm, still the 21st in UTC
	_, err = j.Append(journalTestPost(2))
	require.NoError(t, err)
	files, err := journalListFiles(path)
	require.NoError(t, err)
	assert.Equal(t, []string{path, path + ".000002-2026-11-22"}, files)
}

func TestJournalClockBackDoesNotRotate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "receipts.journal")
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	j, _, err := OpenJournal(path, func() time.Time { return now })
	require.NoError(t, err)
	defer j.Close()
	_, err = j.Append(journalTestPost(1))
	require.NoError(t, err)
	now = now.AddDate(0, 0, -1)
	_, err = j.Append(journalTestPost(2))
	require.NoError(t, err)
	files, err := journalListFiles(path)
	require.NoError(t, err)
	assert.Len(t, files, 1, "a file is never started for an earlier period")
}

func TestJournalProviderReferenceKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "receipts.journal")
	clock := newDayClock()
	j, _, err := OpenJournal(path, clock.now)
	require.NoError(t, err)
	// Payson purchase ids are small integers: the same "17" from two providers.
	payson := Post{Provider: "payson", PaymentID: "p-a", Kind: "payment", Text: "Payson payment",
		Amount: money.MustParse("10.00"), Currency: "SEK", Reference: "17"}
	resurs := payson
	resurs.Provider, resurs.PaymentID, resurs.Text = "resurs", "p-b", "Resurs payment"
	a, err := j.Append(payson)
	require.NoError(t, err)
	b, err := j.Append(resurs)
	require.NoError(t, err, "same reference, another provider: a different post")
	assert.Equal(t, []int64{1, 2}, []int64{a.Seq, b.Seq})
	assert.True(t, j.Has("payson", "17"))
	assert.True(t, j.Has("resurs", "17"))
	assert.False(t, j.Has("seqr", "17"))

	again, err := j.Append(payson)
	require.NoError(t, err, "same provider and reference, same content: idempotent")
	assert.Equal(t, a, again)
	conflict := payson
	conflict.PaymentID = "p-c"
	got, err := j.Append(conflict)
	require.ErrorIs(t, err, ErrReferenceConflict, "same provider and reference, other content")
	assert.Equal(t, a, got)

	// The same holds once the posts are in a sealed file, found through the index.
	clock.nextDay()
	_, err = j.Append(journalTestPost(1))
	require.NoError(t, err)
	require.NoError(t, j.Close())
	j, _, err = OpenJournal(path, clock.now)
	require.NoError(t, err)
	defer j.Close()
	assert.True(t, j.Has("payson", "17"))
	assert.True(t, j.Has("resurs", "17"))
	assert.False(t, j.Has("seqr", "17"))
	_, err = j.Append(conflict)
	require.ErrorIs(t, err, ErrReferenceConflict)
	seqr := payson
	seqr.Provider, seqr.PaymentID = "seqr", "p-d"
	p, err := j.Append(seqr)
	require.NoError(t, err)
	assert.Equal(t, int64(4), p.Seq)
	require.NoError(t, j.Close())
	n, err := Verify(path)
	require.NoError(t, err)
	assert.Equal(t, 4, n)

	lines := journalLines(t, path)
	assert.Contains(t, lines[1], `"provider":"payson","paymentId":"p-a"`)
}

func TestJournalAppendRequiresProvider(t *testing.T) {
	j, _ := openTestJournal(t, filepath.Join(t.TempDir(), "j"))
	for _, prov := range []string{"", "SEQR", "se qr", "a/b", string(bytes.Repeat([]byte("x"), 33))} {
		p := journalTestPost(1)
		p.Provider = prov
		_, err := j.Append(p)
		require.ErrorIs(t, err, ErrInvalidPost, "provider %q", prov)
	}
}

// TestJournalV1Continues: a version 1 file (posd before providers) verifies,
// is never written again, and its chain continues in file 2 in version 2.
func TestJournalV1Continues(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "receipts.journal")
	v1 := must(os.ReadFile("testdata/journal_v1.txt"))
	require.NoError(t, os.WriteFile(path, v1, 0o600))

	clock := newDayClock()
	j, rec, err := OpenJournal(path, clock.now)
	require.NoError(t, err)
	assert.Equal(t, Recovery{ValidPosts: 3, Indexed: 1}, rec)
	assert.True(t, j.Has("seqr", "ERS-20261121-0001"), "a version 1 post is SEQR's")
	assert.False(t, j.Has("resurs", "ERS-20261121-0001"))
	p, err := j.Append(journalTestPost(4))
	require.NoError(t, err)
	assert.Equal(t, int64(4), p.Seq)
	// Re-appending a v1 post (same content) finds it.
	old := testPosts(t, j, 0)[1]
	again, err := j.Append(Post{Provider: "seqr", PaymentID: old.PaymentID, Kind: old.Kind, Text: old.Text,
		Amount: old.Amount, Currency: old.Currency, Reference: old.Reference})
	require.NoError(t, err)
	assert.Equal(t, old, again)
	require.NoError(t, j.Close())

	assert.Equal(t, v1, must(os.ReadFile(path)), "the version 1 file is not touched")
	files, err := journalListFiles(path)
	require.NoError(t, err)
	require.Len(t, files, 2)
	f2 := splitJournal(must(os.ReadFile(files[1])))
	require.Len(t, f2, 2)
	h, err := journalParseHeader(f2[0][:len(f2[0])-1])
	require.NoError(t, err)
	assert.Equal(t, journalVersion, h.Version)
	assert.Equal(t, int64(3), h.Seq)
	v1Lines := splitJournal(v1)
	lastV1 := v1Lines[len(v1Lines)-1]
	assert.Equal(t, journalHashLine(lastV1[:len(lastV1)-1]).String(), h.Prev, "the chain runs on from the last v1 line")
	assert.Contains(t, string(f2[1]), `"provider":"seqr"`)

	n, err := Verify(path)
	require.NoError(t, err)
	assert.Equal(t, 4, n)

	// Reopen: the index answers for file 1 without reading it.
	j, rec, err = OpenJournal(path, clock.now)
	require.NoError(t, err)
	defer j.Close()
	assert.Equal(t, Recovery{ValidPosts: 4}, rec)
	posts := testPosts(t, j, 0)
	require.Len(t, posts, 4)
	assert.Equal(t, "seqr", posts[2].Provider)
	assert.Equal(t, "refund", posts[2].Kind)
	assert.Equal(t, p, posts[3])
}

// TestJournalVerifyNamesFileAndLine tampers with files of a rotated series:
// Verify names the file and the line of the first bad post.
func TestJournalVerifyNamesFileAndLine(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src", "receipts.journal")
	require.NoError(t, os.MkdirAll(filepath.Dir(src), 0o700))
	writeRotated(t, src, newDayClock(), 3, 3)
	srcFiles, err := journalListFiles(src)
	require.NoError(t, err)
	orig := make([][]byte, len(srcFiles))
	for i, f := range srcFiles {
		orig[i] = must(os.ReadFile(f))
	}
	flip := func(b []byte, line int) []byte {
		ls := splitJournal(bytes.Clone(b))
		ls[line-1][12] ^= 0x01
		return bytes.Join(ls, nil)
	}
	reseal := func(b []byte, line int, old, new string) []byte {
		ls := splitJournal(bytes.Clone(b))
		ls[line-1] = resealLine(bytes.Replace(ls[line-1], []byte(old), []byte(new), 1))
		return bytes.Join(ls, nil)
	}
	tests := []struct {
		name  string
		edit  func(files [][]byte) [][]byte
		posts int
		want  string
	}{
		{"good", func(f [][]byte) [][]byte { return f }, 9, ""},
		{"flip in file 2", func(f [][]byte) [][]byte { f[1] = flip(f[1], 3); return f }, 4, ".000002-2026-11-22 line 3: crc mismatch"},
		{"edit in file 1 with its crc recomputed", func(f [][]byte) [][]byte {
			f[0] = reseal(f[0], 3, `"amount":"10.02"`, `"amount":"99.02"`)
			return f
		}, 2, "receipts.journal line 4: chain broken"},
		{"last line of file 2 edited, crc recomputed", func(f [][]byte) [][]byte {
			f[1] = reseal(f[1], 4, `"amount":"10.06"`, `"amount":"99.06"`)
			return f
		}, 6, ".000003-2026-11-23 line 1: chain broken: header prev"},
		{"file 2 torn", func(f [][]byte) [][]byte { f[1] = f[1][:len(f[1])-5]; return f }, 5, ".000002-2026-11-22 line 4: torn"},
		{"file 2 emptied", func(f [][]byte) [][]byte { f[1] = nil; return f }, 3, ".000002-2026-11-22 line 1: empty file"},
		{"file 3's header claims another seq", func(f [][]byte) [][]byte {
			f[2] = reseal(f[2], 1, `"seq":6`, `"seq":5`)
			return f
		}, 6, ".000003-2026-11-23 line 1: header: seq 5, want 6"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := filepath.Join(dir, fmt.Sprintf("case%d", i))
			require.NoError(t, os.Mkdir(d, 0o700))
			content := make([][]byte, len(orig))
			for k := range orig {
				content[k] = bytes.Clone(orig[k])
			}
			content = tt.edit(content)
			for k, f := range srcFiles {
				require.NoError(t, os.WriteFile(filepath.Join(d, filepath.Base(f)), content[k], 0o600))
			}
			n, err := Verify(filepath.Join(d, "receipts.journal"))
			assert.Equal(t, tt.posts, n)
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrCorrupt)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	t.Run("missing middle file", func(t *testing.T) {
		d := filepath.Join(dir, "gap")
		require.NoError(t, os.Mkdir(d, 0o700))
		for k, f := range srcFiles {
			if k != 1 {
				require.NoError(t, os.WriteFile(filepath.Join(d, filepath.Base(f)), orig[k], 0o600))
			}
		}
		_, err := Verify(filepath.Join(d, "receipts.journal"))
		require.ErrorIs(t, err, ErrCorrupt)
		assert.Contains(t, err.Error(), "file 2 of")
		_, _, err = OpenJournal(filepath.Join(d, "receipts.journal"), journalTestClock())
		require.ErrorIs(t, err, ErrCorrupt)
	})
}

// TestJournalVerifyDuplicateAcrossFiles: a (provider, reference) posted in
// file 1 and again, with a valid chain, in file 2 is found and named.
func TestJournalVerifyDuplicateAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "receipts.journal")
	clock := newDayClock()
	var file1, file2 []byte
	hdr := journalEncodeHeader(clock.now(), 1, "2026-11-21", 0, journalHash{})
	file1 = append(file1, hdr...)
	prev := journalHashLine(hdr[:len(hdr)-1])
	add := func(dst *[]byte, seq int64, p Post) {
		p.Seq, p.Time = seq, clock.now().UTC()
		line, err := journalEncodePost(p, prev)
		require.NoError(t, err)
		*dst = append(*dst, line...)
		prev = journalHashLine(line[:len(line)-1])
	}
	add(&file1, 1, journalTestPost(1))
	add(&file1, 2, journalTestPost(2))
	hdr2 := journalEncodeHeader(clock.now(), 2, "2026-11-22", 2, prev)
	file2 = append(file2, hdr2...)
	prev = journalHashLine(hdr2[:len(hdr2)-1])
	add(&file2, 3, journalTestPost(3))
	dup := journalTestPost(1)
	dup.PaymentID = "another"
	add(&file2, 4, dup)
	require.NoError(t, os.WriteFile(path, file1, 0o600))
	require.NoError(t, os.WriteFile(path+".000002-2026-11-22", file2, 0o600))

	n, err := Verify(path)
	require.ErrorIs(t, err, ErrCorrupt)
	assert.Equal(t, 3, n)
	assert.Contains(t, err.Error(), `.000002-2026-11-22 line 3: duplicate (provider, reference) ("seqr", "ERS000001") (first at seq 1)`)
}

// TestJournalTornAtFileBoundary: a crash right after rotation leaves the new
// file empty or with a torn header. Open repairs it, the chain continues from
// the sealed file, and re-appending from SQLite leaves one line per reference.
func TestJournalTornAtFileBoundary(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src", "receipts.journal")
	require.NoError(t, os.MkdirAll(filepath.Dir(src), 0o700))
	clock := newDayClock()
	writeRotated(t, src, clock, 2, 3)
	srcFiles, err := journalListFiles(src)
	require.NoError(t, err)
	file2 := must(os.ReadFile(srcFiles[1]))
	hdrLen := bytes.IndexByte(file2, '\n') + 1
	for size := 0; size < hdrLen; size++ {
		d := filepath.Join(dir, fmt.Sprintf("cut%d", size))
		require.NoError(t, os.Mkdir(d, 0o700))
		path := filepath.Join(d, "receipts.journal")
		require.NoError(t, os.WriteFile(path, must(os.ReadFile(src)), 0o600))
		// The index is written after the new file's header: a crash before it
		// leaves an index that does not cover file 1 yet (here: none at all).
		require.NoError(t, os.WriteFile(filepath.Join(d, filepath.Base(srcFiles[1])), file2[:size], 0o600))
		j, rec, err := OpenJournal(path, clock.now)
		require.NoError(t, err, "size %d", size)
		assert.Equal(t, 3, rec.ValidPosts)
		assert.Equal(t, 1, rec.Indexed, "file 1 indexed at open")
		assert.Equal(t, int64(size), rec.BadBytes)
		assert.True(t, j.Has("seqr", journalTestPost(2).Reference))
		for i := 1; i <= 6; i++ { // re-append everything, as recovery from SQLite would
			_, err := j.Append(journalTestPost(i))
			require.NoError(t, err, "size %d post %d", size, i)
		}
		require.NoError(t, j.Close())
		requireOneLinePerReference(t, path, 6)
		files, err := journalListFiles(path)
		require.NoError(t, err)
		assert.Len(t, files, 2, "size %d: the torn file is repaired in place, not skipped", size)
	}
}

// TestJournalIndexRebuilt: a missing, damaged or stale index is rebuilt from
// the sealed files; answers stay the same.
func TestJournalIndexRebuilt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "receipts.journal")
	clock := newDayClock()
	writeRotated(t, path, clock, 2, 3)
	idx := path + ".index"
	before := must(os.ReadFile(idx))
	// One more day: the saved index is now one sealed file behind.
	clock.nextDay()
	j, _, err := OpenJournal(path, clock.now)
	require.NoError(t, err)
	for i := 7; i <= 900; i++ { // more than three index blocks
		_, err := j.Append(journalTestPost(i))
		require.NoError(t, err)
	}
	require.NoError(t, j.Close())
	clock.nextDay()
	j, _, err = OpenJournal(path, clock.now)
	require.NoError(t, err)
	_, err = j.Append(journalTestPost(901))
	require.NoError(t, err)
	require.NoError(t, j.Close())

	flipped := bytes.Clone(must(os.ReadFile(idx)))
	flipped[len(flipped)-100] ^= 0xff // a block of entries
	flippedHead := bytes.Clone(flipped)
	flippedHead[9] ^= 0xff
	tests := []struct {
		name    string
		index   []byte // nil: no index file
		indexed int
	}{
		{"missing", nil, 3},
		{"stale by two files", before, 2},
		{"garbage", []byte("not an index"), 3},
		{"damaged head", flippedHead, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.index == nil {
				require.NoError(t, os.Remove(idx))
			} else {
				require.NoError(t, os.WriteFile(idx, tt.index, 0o600))
			}
			j, rec, err := OpenJournal(path, clock.now)
			require.NoError(t, err)
			defer j.Close()
			assert.Equal(t, Recovery{ValidPosts: 901, Indexed: tt.indexed}, rec)
			for _, i := range []int{1, 3, 4, 6, 7, 500, 900, 901} {
				assert.True(t, j.Has("seqr", journalTestPost(i).Reference), "post %d", i)
			}
			assert.False(t, j.Has("seqr", journalTestPost(902).Reference))
		})
	}
	t.Run("damaged block", func(t *testing.T) {
		require.NoError(t, os.WriteFile(idx, flipped, 0o600))
		j, rec, err := OpenJournal(path, clock.now)
		require.NoError(t, err)
		defer j.Close()
		assert.Zero(t, rec.Indexed, "blocks are checked when read, not at open")
		var corrupt error
		for i := 1; i <= 900; i++ {
			if _, err := j.Append(journalTestPost(i)); err != nil {
				corrupt = err
				break
			}
		}
		require.ErrorIs(t, corrupt, ErrCorrupt, "a damaged block is reported, never read as absent")
		require.ErrorIs(t, corrupt, ErrNotDurable)
	})
}

// TestJournalOpenDoesNotReadSealedFiles: open stays flat in history because
// it does not read sealed files; Verify reads them all and finds the damage.
func TestJournalOpenDoesNotReadSealedFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "receipts.journal")
	clock := newDayClock()
	writeRotated(t, path, clock, 2, 3)
	b := must(os.ReadFile(path))
	i := bytes.Index(b, []byte(`"amount":"10.02"`))
	b[i+len(`"amount":"1`)] = '9'
	require.NoError(t, os.WriteFile(path, b, 0o600))

	j, rec, err := OpenJournal(path, clock.now)
	require.NoError(t, err)
	assert.Equal(t, Recovery{ValidPosts: 6}, rec)
	require.NoError(t, j.Close())
	_, err = Verify(path)
	require.ErrorIs(t, err, ErrCorrupt)
	assert.Contains(t, err.Error(), "receipts.journal line 3: crc mismatch")
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestJournalRotationFaults: when starting the next file fails (its create,
// its header write or its header fsync), Append reports the post as not
// durable, and the retry starts the file (or repairs the torn one) and
// records the post once.
func TestJournalRotationFaults(t *testing.T) {
	tests := []struct {
		name   string
		faults *journalFaults
	}{
		// Opens: 1 and 2 at OpenJournal (not found, then create); the 3rd creates file 2.
		{"create of the next file fails", &journalFaults{failOpen: 3}},
		// Writes and syncs: 1 header, 2 post 1; the 3rd is file 2's header.
		{"header write of the next file fails", &journalFaults{failWrite: 3, shortWrite: true}},
		{"header fsync of the next file fails", &journalFaults{failSync: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "receipts.journal")
			clock := newDayClock()
			j, _, err := openJournal(path, clock.now, tt.faults.open)
			require.NoError(t, err)
			defer j.Close()
			_, err = j.Append(journalTestPost(1))
			require.NoError(t, err)
			clock.nextDay()
			_, err = j.Append(journalTestPost(2))
			require.ErrorIs(t, err, ErrNotDurable)
			require.ErrorIs(t, err, errInjected)
			p, err := j.Append(journalTestPost(2))
			require.NoError(t, err)
			assert.Equal(t, int64(2), p.Seq)
			assert.True(t, j.Has("seqr", journalTestPost(1).Reference))
			require.NoError(t, j.Close())
			requireOneLinePerReference(t, path, 2)
			files, err := journalListFiles(path)
			require.NoError(t, err)
			assert.Len(t, files, 2)
		})
	}
}

// TestJournalStaleIndexNeverTrusted: when the files are gone (a state dir
// restored without them) the index left behind answers nothing, and the
// posts re-appended from SQLite start a new series.
func TestJournalStaleIndexNeverTrusted(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "receipts.journal")
	clock := newDayClock()
	writeRotated(t, path, clock, 3, 2)
	files, err := journalListFiles(path)
	require.NoError(t, err)
	for _, f := range files {
		require.NoError(t, os.Remove(f))
	}
	j, rec, err := OpenJournal(path, clock.now)
	require.NoError(t, err)
	assert.Equal(t, Recovery{}, rec)
	assert.False(t, j.Has("seqr", journalTestPost(1).Reference))
	for i := 1; i <= 6; i++ {
		p, err := j.Append(journalTestPost(i))
		require.NoError(t, err)
		assert.Equal(t, int64(i), p.Seq)
	}
	require.NoError(t, j.Close())
	requireOneLinePerReference(t, path, 6)
}
