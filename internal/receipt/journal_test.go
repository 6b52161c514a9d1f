package receipt

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/money"
)

// journalTestClock is a fixed clock that advances one second per call.
func journalTestClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 11, 21, 17, 0, 0, 123456789, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}
}

func journalTestPost(i int) Post {
	return Post{
		Provider:  "seqr",
		PaymentID: fmt.Sprintf("pay-%d", i),
		Kind:      "payment",
		Text:      "SEQR payment",
		Amount:    money.Amount(1000 + i),
		Currency:  "SEK",
		Reference: fmt.Sprintf("ERS%06d", i),
	}
}

func openTestJournal(t *testing.T, path string) (*Journal, Recovery) {
	t.Helper()
	j, rec, err := OpenJournal(path, journalTestClock())
	require.NoError(t, err)
	t.Cleanup(func() { j.Close() })
	return j, rec
}

// testPosts returns every post after seq after (one page is enough in tests).
func testPosts(t testing.TB, j *Journal, after int64) []Post {
	t.Helper()
	posts, err := j.Posts(after, 0)
	require.NoError(t, err)
	return posts
}

func journalLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return strings.SplitAfter(string(b), "\n")
}

func TestJournalAppendReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "receipts.journal")
	j, rec := openTestJournal(t, path)
	assert.Equal(t, Recovery{}, rec)
	assert.Empty(t, testPosts(t, j, 0))

	var want []Post
	for i := 1; i <= 5; i++ {
		p, err := j.Append(journalTestPost(i))
		require.NoError(t, err)
		assert.Equal(t, int64(i), p.Seq)
		assert.Equal(t, time.UTC, p.Time.Location())
		want = append(want, p)
	}
	refund := Post{Provider: "seqr", PaymentID: "pay-1", Kind: "refund", Text: "SEQR refund", Amount: money.MustParse("5.50"),
		Currency: "SEK", Reference: "REF-1", Time: time.Date(2026, 11, 21, 19, 0, 0, 0, time.FixedZone("CET", 3600))}
	p, err := j.Append(refund)
	require.NoError(t, err)
	assert.Equal(t, time.Date(2026, 11, 21, 18, 0, 0, 0, time.UTC), p.Time)
	want = append(want, p)
	assert.Equal(t, want, testPosts(t, j, 0))
	assert.Equal(t, want[3:], testPosts(t, j, 3))
	assert.Nil(t, testPosts(t, j, 6))
	assert.True(t, j.Has("seqr", "ERS000003"))
	assert.False(t, j.Has("seqr", "ERS000009"))
	require.NoError(t, j.Close())

	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Zero(t, info.Mode().Perm()&0o077, "0600: like every file of the state dir, readable by posd only")

	n, err := Verify(path)
	require.NoError(t, err)
	assert.Equal(t, 6, n)

	j2, rec := openTestJournal(t, path)
	assert.Equal(t, Recovery{ValidPosts: 6}, rec)
	assert.Equal(t, want, testPosts(t, j2, 0))
	assert.Equal(t, int64(6), j2.LastSeq())
	p, err = j2.Append(journalTestPost(7))
	require.NoError(t, err)
	assert.Equal(t, int64(7), p.Seq)
	n, err = Verify(path)
	require.NoError(t, err)
	assert.Equal(t, 7, n)

	lines := journalLines(t, path)
	assert.Len(t, lines, 9) // header, 7 posts, "" after the last "\n"
	assert.Contains(t, lines[1], `"amount":"10.01","currency":"SEK","reference":"ERS000001"`)
}

func TestJournalIdempotentAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "receipts.journal")
	j, _ := openTestJournal(t, path)
	first, err := j.Append(journalTestPost(1))
	require.NoError(t, err)
	again, err := j.Append(journalTestPost(1))
	require.NoError(t, err)
	assert.Equal(t, first, again)

	other := journalTestPost(1)
	other.Amount = 1
	got, err := j.Append(other)
	require.ErrorIs(t, err, ErrReferenceConflict)
	assert.Equal(t, first, got)
	require.NoError(t, j.Close())

	j2, _ := openTestJournal(t, path)
	again, err = j2.Append(journalTestPost(1))
	require.NoError(t, err)
	assert.Equal(t, first, again)
	assert.Len(t, journalLines(t, path), 3)
}

func TestJournalConcurrentAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "receipts.journal")
	j, _ := openTestJournal(t, path)
	const workers, refs = 8, 20
	var wg sync.WaitGroup
	seqs := make([][]int64, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range refs {
				// Every worker appends every reference: one line each must win.
				p, err := j.Append(journalTestPost(i))
				assert.NoError(t, err)
				seqs[w] = append(seqs[w], p.Seq)
			}
		})
	}
	wg.Wait()
	posts := testPosts(t, j, 0)
	require.Len(t, posts, refs)
	seen := map[string]bool{}
	for i, p := range posts {
		assert.Equal(t, int64(i+1), p.Seq)
		assert.False(t, seen[p.Reference])
		seen[p.Reference] = true
	}
	for w := range workers {
		for i, s := range seqs[w] {
			assert.Equal(t, journalTestPost(i).Reference, posts[s-1].Reference)
		}
	}
	n, err := Verify(path)
	require.NoError(t, err)
	assert.Equal(t, refs, n)
}

func TestJournalAppendRejectsInvalidPost(t *testing.T) {
	j, _ := openTestJournal(t, filepath.Join(t.TempDir(), "j"))
	tests := []struct {
		name string
		edit func(*Post)
	}{
		{"no reference", func(p *Post) { p.Reference = "" }},
		{"no payment id", func(p *Post) { p.PaymentID = "" }},
		{"bad kind", func(p *Post) { p.Kind = "sale" }},
		{"no text", func(p *Post) { p.Text = "" }},
		{"zero amount", func(p *Post) { p.Amount = 0 }},
		{"negative amount", func(p *Post) { p.Amount = -100 }},
		{"lower-case currency", func(p *Post) { p.Currency = "sek" }},
		{"long currency", func(p *Post) { p.Currency = "SEKK" }},
		{"invalid utf-8", func(p *Post) { p.Reference = "ERS\xff" }},
		{"huge reference", func(p *Post) { p.Reference = strings.Repeat("x", 300) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := journalTestPost(1)
			tt.edit(&p)
			_, err := j.Append(p)
			require.ErrorIs(t, err, ErrInvalidPost)
		})
	}
	assert.Empty(t, testPosts(t, j, 0))
}

func TestJournalClosed(t *testing.T) {
	j, _ := openTestJournal(t, filepath.Join(t.TempDir(), "j"))
	_, err := j.Append(journalTestPost(1))
	require.NoError(t, err)
	require.NoError(t, j.Close())
	_, err = j.Append(journalTestPost(2))
	require.ErrorIs(t, err, ErrClosed)
	assert.True(t, j.Has("seqr", "ERS000001"))
}

func TestJournalLockedAgainstSecondOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	openTestJournal(t, path)
	_, _, err := OpenJournal(path, journalTestClock())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "another posd")
}
