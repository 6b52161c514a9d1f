package receipt

import (
	"bytes"
	"encoding/hex"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/money"
)

func journalFuzzSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	b := writeTestJournal(tb, filepath.Join(tb.TempDir(), "seed"), 2)
	var seeds [][]byte
	for _, l := range splitJournal(b) {
		seeds = append(seeds, l[:len(l)-1])
	}
	return append(seeds,
		[]byte(""), []byte(" 00000000"), []byte("{} 00000000"), []byte("{} ffffffff"),
		journalSeal([]byte(`{"seq":1}`))[:len(`{"seq":1}`)+9],
		bytes.Repeat([]byte{0}, 64))
}

// FuzzParseLine: any bytes parse without panic, and a line is never accepted
// unless its CRC matches its body (reliability F2).
func FuzzParseLine(f *testing.F) {
	for _, s := range journalFuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		p, _, perr := journalParsePost(line, journalVersion)
		if perr != nil {
			p, _, perr = journalParsePost(line, journalVersionV1)
		}
		_, herr := journalParseHeader(line)
		if perr != nil && herr != nil {
			return
		}
		require.GreaterOrEqual(t, len(line), journalCRCLen+1)
		body, crcText := line[:len(line)-journalCRCLen-1], line[len(line)-journalCRCLen:]
		var sum [4]byte
		_, err := hex.Decode(sum[:], crcText)
		require.NoError(t, err)
		want := uint32(sum[0])<<24 | uint32(sum[1])<<16 | uint32(sum[2])<<8 | uint32(sum[3])
		require.Equal(t, want, crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)), "accepted a line whose crc does not match")
		if perr == nil {
			// What parses must encode back to a line that parses to the same post.
			require.NoError(t, journalCheckPost(p))
		}
	})
}

// FuzzJournalOpen appends arbitrary bytes to a good journal: OpenJournal never
// panics, and when it accepts the file the result verifies and keeps the
// good posts.
func FuzzJournalOpen(f *testing.F) {
	good := writeTestJournal(f, filepath.Join(f.TempDir(), "good"), 2)
	lines := splitJournal(good)
	f.Add([]byte{})
	f.Add([]byte("garbage\n"))
	f.Add(make([]byte, 100))
	f.Add(lines[2][:len(lines[2])-3])
	f.Add(lines[2])
	f.Fuzz(func(t *testing.T, tail []byte) {
		path := filepath.Join(t.TempDir(), "j")
		require.NoError(t, os.WriteFile(path, append(bytes.Clone(good), tail...), 0o600))
		j, rec, err := OpenJournal(path, journalTestClock())
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
			return
		}
		defer j.Close()
		assert.GreaterOrEqual(t, rec.ValidPosts, 2)
		n, err := Verify(path)
		require.NoError(t, err)
		require.Equal(t, rec.ValidPosts, n)
		require.Len(t, testPosts(t, j, 0), n)
	})
}

// TestJournalGoldenV1 reads a version 1 file written by an earlier build:
// the format must stay readable by every later binary.
func TestJournalGoldenV1(t *testing.T) {
	n, err := Verify("testdata/journal_v1.txt")
	require.NoError(t, err)
	assert.Equal(t, 3, n)

	path := filepath.Join(t.TempDir(), "j")
	b, err := os.ReadFile("testdata/journal_v1.txt")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o600))
	j, rec, err := OpenJournal(path, journalTestClock())
	require.NoError(t, err)
	defer j.Close()
	assert.Equal(t, Recovery{ValidPosts: 3, Indexed: 1}, rec, "the version 1 file is sealed and indexed")
	posts := testPosts(t, j, 0)
	require.Len(t, posts, 3)
	assert.Equal(t, "seqr", posts[0].Provider, "a version 1 post reads as SEQR's")
	assert.Equal(t, "refund", posts[2].Kind)
	assert.Equal(t, "SEQR refund", posts[2].Text)
	assert.Equal(t, money.MustParse("5.50"), posts[2].Amount)
}

func BenchmarkAppend(b *testing.B) {
	j, _, err := OpenJournal(filepath.Join(b.TempDir(), "j"), journalTestClock())
	require.NoError(b, err)
	defer j.Close()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := j.Append(journalTestPost(i)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseLine(b *testing.B) {
	good := writeTestJournal(b, filepath.Join(b.TempDir(), "j"), 1)
	line := splitJournal(good)[1]
	line = line[:len(line)-1]
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if _, _, err := journalParsePost(line, journalVersion); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenJournal measures start-up with 10 000 posts in the file: scan,
// CRC, JSON, chain and index.
func BenchmarkOpenJournal(b *testing.B) {
	path := filepath.Join(b.TempDir(), "j")
	clock := journalTestClock()
	hdr := journalEncodeHeader(clock(), 1, "2026-11-21", 0, journalHash{})
	file := bytes.Clone(hdr)
	prev := journalHashLine(hdr[:len(hdr)-1])
	for i := 1; i <= 10000; i++ {
		p := journalTestPost(i)
		p.Seq, p.Time = int64(i), clock()
		line, err := journalEncodePost(p, prev)
		require.NoError(b, err)
		file = append(file, line...)
		prev = journalHashLine(line[:len(line)-1])
	}
	require.NoError(b, os.WriteFile(path, file, 0o600))
	b.SetBytes(int64(len(file)))
	for b.Loop() {
		j, rec, err := OpenJournal(path, clock)
		if err != nil || rec.ValidPosts != 10000 {
			b.Fatal(err, rec)
		}
		j.Close()
	}
}

// FuzzDecodeFast: whenever the fast decoder accepts a body, encoding/json
// accepts it too and decodes the same record.
func FuzzDecodeFast(f *testing.F) {
	for _, s := range journalFuzzSeeds(f) {
		if len(s) > journalCRCLen+1 {
			f.Add(s[:len(s)-journalCRCLen-1])
		}
	}
	f.Add([]byte(`{"seq":1,"time":"2026-11-21T10:15:30.25Z","provider":"seqr","paymentId":"p","kind":"payment","text":"SEQR payment","amount":"20.00","currency":"SEK","reference":"R","prev":"00"}`))
	f.Add([]byte(`{"seq":1,"time":"2026-11-21T10:15:30.25Z","paymentId":"p","kind":"payment","text":"SEQR payment","amount":"20.00","currency":"SEK","reference":"R","prev":"00"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := journalDecodeFast(body)
		if !ok {
			return
		}
		var slow journalRecord
		require.NoError(t, journalDecodeStrict(body, &slow), "fast accepted what json refuses: %q", body)
		require.Equal(t, slow, fast)
	})
}

func TestJournalDecodeFastTakesEncoderOutput(t *testing.T) {
	good := writeTestJournal(t, filepath.Join(t.TempDir(), "j"), 3)
	for _, l := range splitJournal(good)[1:] {
		_, ok := journalDecodeFast(l[:len(l)-1-journalCRCLen-1])
		assert.True(t, ok, "%s", l)
	}
	// Escapes go the slow way and still parse.
	p := journalTestPost(1)
	p.Seq, p.Time, p.Reference = 1, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), `a"b<c>\d`
	line, err := journalEncodePost(p, journalHash{})
	require.NoError(t, err)
	_, ok := journalDecodeFast(line[:len(line)-1-journalCRCLen-1])
	assert.False(t, ok)
	got, _, err := journalParsePost(line[:len(line)-1], journalVersion)
	require.NoError(t, err)
	assert.Equal(t, p, got)
}

// BenchmarkOpenRotated opens a series of 100 daily files of 100 posts (the
// index already built): the cost is the current file and the index head, the
// same at 10 000 posts as at a million (bench/historybench measures that).
func BenchmarkOpenRotated(b *testing.B) {
	path := filepath.Join(b.TempDir(), "receipts.journal")
	day := time.Date(2026, 8, 1, 8, 0, 0, 0, time.UTC)
	var prev journalHash
	var seq int64
	for d := 1; d <= 100; d++ {
		period := day.Format("2006-01-02")
		hdr := journalEncodeHeader(day, d, period, seq, prev)
		file := bytes.Clone(hdr)
		prev = journalHashLine(hdr[:len(hdr)-1])
		for i := 0; i < 100; i++ {
			seq++
			p := journalTestPost(int(seq))
			p.Seq, p.Time = seq, day.Add(time.Duration(i)*time.Minute)
			line, err := journalEncodePost(p, prev)
			require.NoError(b, err)
			file = append(file, line...)
			prev = journalHashLine(line[:len(line)-1])
		}
		require.NoError(b, os.WriteFile(journalFileName(path, d, period), file, 0o600))
		day = day.AddDate(0, 0, 1)
	}
	now := func() time.Time { return day.AddDate(0, 0, -1) }
	j, rec, err := OpenJournal(path, now)
	require.NoError(b, err)
	require.Equal(b, 99, rec.Indexed)
	require.NoError(b, j.Close())
	for b.Loop() {
		j, rec, err := OpenJournal(path, now)
		if err != nil || rec.ValidPosts != 10000 || rec.Indexed != 0 {
			b.Fatal(err, rec)
		}
		j.Close()
	}
}
