package receipt

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
)

// journalChecker walks the lines of the series in order and checks each
// against the ones before it: a header first in every file, chained to the
// file before; then posts whose prev is the hash of the line before, seq
// without gaps. Uniqueness of (provider, reference) is left to onPost, which
// each caller does with the memory it can afford.
type journalChecker struct {
	fileNo   int // 1-based number of the file being checked
	version  int // its header's version, 0 before the header
	firstSeq int64
	lastSeq  int64
	lastHash journalHash
	goodEnd  int64 // offset just past the last good line of this file
	count    int   // good posts in this file
	// onPost, when set, sees every good post and the offset of its line;
	// an error makes the post bad.
	onPost func(p Post, off int64) error
}

// startFile begins file n of the series; the chain state carries over.
func (c *journalChecker) startFile(n int) {
	c.fileNo, c.version, c.count, c.goodEnd = n, 0, 0, 0
	c.firstSeq = c.lastSeq + 1
}

// next checks l as the next line and, when it is good, takes it in.
func (c *journalChecker) next(l journalLine) error {
	if l.tooLong {
		return fmt.Errorf("line longer than %d bytes", journalMaxLine)
	}
	if !l.terminated {
		// One write call puts a whole line, "\n" included; a line without
		// its "\n" is a write cut short, even when its CRC happens to hold.
		return errors.New("torn: no newline at end of file")
	}
	if c.version == 0 {
		h, err := journalParseHeader(l.data)
		if err != nil {
			return fmt.Errorf("header: %w", err)
		}
		if err := c.checkHeader(h); err != nil {
			return err
		}
		c.version = h.Version
		c.lastHash = journalHashLine(l.data)
		c.goodEnd = l.off + l.size
		return nil
	}
	p, prev, err := journalParsePost(l.data, c.version)
	if err != nil {
		return err
	}
	if prev != c.lastHash {
		return fmt.Errorf("chain broken: prev does not match the hash of line %d", l.no-1)
	}
	if p.Seq != c.lastSeq+1 {
		return fmt.Errorf("seq %d, want %d", p.Seq, c.lastSeq+1)
	}
	if c.onPost != nil {
		if err := c.onPost(p, l.off); err != nil {
			return err
		}
	}
	c.count++
	c.lastSeq = p.Seq
	c.lastHash = journalHashLine(l.data)
	c.goodEnd = l.off + l.size
	return nil
}

// checkHeader checks that a header belongs where it stands in the series.
func (c *journalChecker) checkHeader(h journalHeader) error {
	if h.Version == journalVersionV1 {
		if c.fileNo != 1 {
			return fmt.Errorf("header: a version 1 file in place of file %d", c.fileNo)
		}
		return nil
	}
	if h.File != c.fileNo {
		return fmt.Errorf("header: file %d in place of file %d", h.File, c.fileNo)
	}
	if c.fileNo == 1 {
		return nil
	}
	if h.Seq != c.lastSeq {
		return fmt.Errorf("header: seq %d, want %d (the last post before this file)", h.Seq, c.lastSeq)
	}
	if h.Prev != c.lastHash.String() {
		return fmt.Errorf("chain broken: header prev does not match the last line of file %d", c.fileNo-1)
	}
	return nil
}

// journalIntact reports whether l is a whole line that checks by itself
// (CRC and syntax of a header or a post), whatever its place in the chain.
// A crash can leave torn or zeroed bytes at the end of the file, never an
// intact line after a bad one: such a line means the damage is not a crash.
func journalIntact(l journalLine) bool {
	if l.tooLong || l.data == nil {
		return false
	}
	for _, v := range []int{journalVersion, journalVersionV1} {
		if _, _, err := journalParsePost(l.data, v); err == nil {
			return true
		}
	}
	_, err := journalParseHeader(l.data)
	return err == nil
}

// journalWalk checks every file of the series in order, calling onPost for
// every good post. Its error names the file and line of the first bad one
// and wraps ErrCorrupt.
func journalWalk(files []string, onPost func(p Post, file string, no int) error) (*journalChecker, error) {
	c := &journalChecker{}
	for k, name := range files {
		c.startFile(k + 1)
		f, err := os.Open(name)
		if err != nil {
			return c, fmt.Errorf("%s: %w", name, err)
		}
		lines := 0
		var lineNo int
		c.onPost = func(p Post, _ int64) error { return onPost(p, name, lineNo) }
		err = journalScan(f, func(l journalLine) error {
			lines, lineNo = l.no, l.no
			if cerr := c.next(l); cerr != nil {
				return fmt.Errorf("%s line %d: %s: %w", name, l.no, cerr, ErrCorrupt)
			}
			return nil
		})
		f.Close()
		if err != nil {
			return c, err
		}
		if lines == 0 {
			return c, fmt.Errorf("%s line 1: empty file, no header: %w", name, ErrCorrupt)
		}
	}
	return c, nil
}

// Verify reads every file of the receipt file series at path (path itself
// and its rotated files, see journal_series.go) and checks every line's
// syntax, CRC, chain (across files too), sequence, the uniqueness of
// (provider, reference) in the whole series, and that each file ends in a
// newline. On the first bad line it returns an error wrapping ErrCorrupt that
// names the file and line and what is wrong ("receipts.journal.000002-2026-11-22
// line 7: crc mismatch"); posts is the number of good posts before it.
//
// Verify streams: it holds one line at a time plus 8 bytes per post for the
// uniqueness check (8 MB at a million posts). It takes no lock, does not read
// the index and changes nothing.
func Verify(path string) (posts int, err error) {
	files, err := journalListFiles(path)
	if err != nil {
		return 0, fmt.Errorf("verify journal %s: %w", path, err)
	}
	if files == nil {
		return 0, fmt.Errorf("verify journal %s: %w", path, fs.ErrNotExist)
	}
	// Fingerprints of the good posts, in order. Sized once from the files'
	// bytes (no line is shorter than 200 bytes) so it never grows by copying:
	// the pages of a fresh large allocation become resident only as used.
	var total int64
	for _, name := range files {
		if st, err := os.Stat(name); err == nil {
			total += st.Size()
		}
	}
	fps := make([]uint64, 0, total/200+1)
	c, werr := journalWalk(files, func(p Post, _ string, _ int) error {
		fps = append(fps, journalFingerprint(p.Provider, p.Reference))
		return nil
	})
	// A duplicate among the good posts comes before any bad line.
	if derr := journalFindDuplicate(files, fps); derr != nil {
		return int(derr.seq - 1), fmt.Errorf("verify journal: %w", derr)
	}
	if werr != nil {
		return int(c.lastSeq), fmt.Errorf("verify journal: %w", werr)
	}
	return int(c.lastSeq), nil
}

// journalDuplicate is the second post of a (provider, reference) pair.
type journalDuplicate struct {
	seq   int64
	file  string
	line  int
	msg   string
	first int64
}

func (d *journalDuplicate) Error() string {
	return fmt.Sprintf("%s line %d: duplicate %s (first at seq %d)", d.file, d.line, d.msg, d.first)
}

func (d *journalDuplicate) Unwrap() error { return ErrCorrupt }

// journalFindDuplicate finds the earliest post whose (provider, reference)
// came before, among the first len(fps) posts; fps holds their
// fingerprints and is sorted in place. Equal fingerprints are rare; only
// their posts are compared exactly, in a second pass.
func journalFindDuplicate(files []string, fps []uint64) *journalDuplicate {
	slices.Sort(fps)
	suspects := map[uint64]bool{}
	for i := 1; i < len(fps); i++ {
		if fps[i] == fps[i-1] {
			suspects[fps[i]] = true
		}
	}
	if len(suspects) == 0 {
		return nil
	}
	seen := map[string]int64{}
	var dup *journalDuplicate
	stop := errors.New("stop")
	_, _ = journalWalk(files, func(p Post, file string, no int) error {
		if int(p.Seq) > len(fps) {
			return stop
		}
		if !suspects[journalFingerprint(p.Provider, p.Reference)] {
			return nil
		}
		key := journalRefKey(p.Provider, p.Reference)
		if first, ok := seen[key]; ok {
			dup = &journalDuplicate{seq: p.Seq, file: file, line: no, first: first,
				msg: fmt.Sprintf("(provider, reference) (%q, %q)", p.Provider, p.Reference)}
			return stop
		}
		seen[key] = p.Seq
		return nil
	})
	return dup
}
