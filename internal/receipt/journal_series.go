package receipt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The series: the receipt file rotates (reliability D4), so that opening it
// costs the same after a million posts as after ten.
//
// File 1 is the configured path itself (receipts.journal), so a version 1
// file from an older posd is file 1 of its series. Files 2, 3 ... sit beside
// it, named "<path>.<6-digit number>-<period>":
//
//	receipts.journal                     file 1 (version 1 or 2)
//	receipts.journal.000002-2026-11-22   file 2
//	receipts.journal.000003-2026-11-23   file 3, the one appended to
//	receipts.journal.index               lookup index of the sealed files (journal_index.go)
//
// The number orders the files; the period in the name is for people and is
// the one in the file's header. Only the last file is ever appended to; the
// others are sealed: complete, fsynced, never opened for writing again. A new
// file is started (created exclusively, its directory fsynced, then its
// header written and fsynced) by the first Append in a later period than the
// current file's, and at open when the current file is a version 1 file.
// Numbers run 1..n without gaps; a missing file is corruption.

// Rotation says how long one file of the series covers.
type Rotation int

const (
	// RotateDay starts a file per calendar day (the default).
	RotateDay Rotation = iota
	// RotateMonth starts a file per calendar month.
	RotateMonth
)

// ParseRotation parses "day" or "month" (the config spelling).
func ParseRotation(s string) (Rotation, error) {
	switch s {
	case "day", "":
		return RotateDay, nil
	case "month":
		return RotateMonth, nil
	}
	return 0, fmt.Errorf("receipt file rotation %q: want day or month", s)
}

func (r Rotation) String() string {
	if r == RotateMonth {
		return "month"
	}
	return "day"
}

// period is the label of the period holding t: "2006-01-02" or "2006-01".
// Labels of one rotation order as strings do; a label that is a prefix of
// another (after a switch from months to days) orders before it, which
// never starts a file for an earlier period.
func (r Rotation) period(t time.Time, loc *time.Location) string {
	if r == RotateMonth {
		return t.In(loc).Format("2006-01")
	}
	return t.In(loc).Format("2006-01-02")
}

// journalValidPeriod reports whether s looks like a period label.
func journalValidPeriod(s string) bool {
	if len(s) != len("2006-01") && len(s) != len("2006-01-02") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i == 4 || i == 7 {
			if c != '-' {
				return false
			}
		} else if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// JournalOption changes how OpenJournal rotates.
type JournalOption func(*journalOptions)

type journalOptions struct {
	rotate Rotation
	loc    *time.Location
}

// WithRotation sets the period of one file (default RotateDay).
func WithRotation(r Rotation) JournalOption { return func(o *journalOptions) { o.rotate = r } }

// WithLocation sets the time zone whose calendar the periods follow
// (default UTC; a till passes its local zone so a file is a business day).
func WithLocation(loc *time.Location) JournalOption {
	return func(o *journalOptions) {
		if loc != nil {
			o.loc = loc
		}
	}
}

// journalFileName is the name of file number n of the series at path.
func journalFileName(path string, n int, period string) string {
	if n == 1 {
		return path
	}
	return fmt.Sprintf("%s.%06d-%s", path, n, period)
}

// journalListFiles returns the files of the series at path, file 1 first.
// It returns nil when there is none, and an error wrapping ErrCorrupt when
// the numbers have a gap or repeat.
func journalListFiles(path string) ([]string, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	byNo := map[int]string{}
	maxNo := 0
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), base+".")
		if !ok || len(rest) < 8 || rest[6] != '-' || !journalValidPeriod(rest[7:]) {
			continue // not a file of the series: the index, side files, others
		}
		n, err := strconv.Atoi(rest[:6])
		if err != nil || n < 2 {
			continue
		}
		if old, dup := byNo[n]; dup {
			return nil, fmt.Errorf("files %s and %s both claim number %d: %w", old, e.Name(), n, ErrCorrupt)
		}
		byNo[n] = filepath.Join(dir, e.Name())
		maxNo = max(maxNo, n)
	}
	_, err = os.Lstat(path)
	first := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	if !first && maxNo == 0 {
		return nil, nil
	}
	if !first {
		return nil, fmt.Errorf("%s is missing but file %d of its series exists: %w", path, maxNo, ErrCorrupt)
	}
	files := []string{path}
	for n := 2; n <= maxNo; n++ {
		name, ok := byNo[n]
		if !ok {
			return nil, fmt.Errorf("file %d of %s is missing (file %d exists): %w", n, path, maxNo, ErrCorrupt)
		}
		files = append(files, name)
	}
	return files, nil
}

// journalTailState is where a sealed file leaves the chain.
type journalTailState struct {
	lastSeq  int64
	lastHash journalHash
	firstSeq int64 // seq of the file's first post (lastSeq+1 when it has none)
}

// journalReadTail reads the last line of a sealed file (and its header, for
// the first seq) without reading the rest. A sealed file must end in an
// intact line; anything else is corruption, not a crash, because a file is
// sealed only after its last append was fsynced.
func journalReadTail(name string) (journalTailState, error) {
	f, err := os.Open(name)
	if err != nil {
		return journalTailState{}, fmt.Errorf("read tail of %s: %w", name, err)
	}
	defer f.Close()
	hdrBuf := make([]byte, journalMaxLine+1)
	n, err := io.ReadFull(f, hdrBuf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return journalTailState{}, fmt.Errorf("read tail of %s: %w", name, err)
	}
	hdrBuf = hdrBuf[:n]
	i := bytes.IndexByte(hdrBuf, '\n')
	if i < 0 {
		return journalTailState{}, fmt.Errorf("%s line 1: sealed file without a complete header: %w", name, ErrCorrupt)
	}
	h, err := journalParseHeader(hdrBuf[:i])
	if err != nil {
		return journalTailState{}, fmt.Errorf("%s line 1: %s: %w", name, err, ErrCorrupt)
	}
	st := journalTailState{lastSeq: h.Seq, firstSeq: h.Seq + 1, lastHash: journalHashLine(hdrBuf[:i])}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return journalTailState{}, fmt.Errorf("read tail of %s: %w", name, err)
	}
	if size == int64(i+1) {
		return st, nil // header only
	}
	off := max(int64(i+1), size-int64(journalMaxLine+1))
	buf := make([]byte, size-off)
	if _, err := f.ReadAt(buf, off); err != nil {
		return journalTailState{}, fmt.Errorf("read tail of %s: %w", name, err)
	}
	if len(buf) == 0 || buf[len(buf)-1] != '\n' {
		return journalTailState{}, fmt.Errorf("%s: sealed file does not end in a newline: %w", name, ErrCorrupt)
	}
	line := buf[:len(buf)-1]
	if j := bytes.LastIndexByte(line, '\n'); j >= 0 {
		line = line[j+1:]
	} else if off > int64(i+1) {
		return journalTailState{}, fmt.Errorf("%s: last line longer than %d bytes: %w", name, journalMaxLine, ErrCorrupt)
	}
	p, _, err := journalParsePost(line, h.Version)
	if err != nil {
		return journalTailState{}, fmt.Errorf("%s: last line: %s: %w", name, err, ErrCorrupt)
	}
	st.lastSeq, st.lastHash = p.Seq, journalHashLine(line)
	return st, nil
}
