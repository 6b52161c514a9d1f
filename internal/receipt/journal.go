package receipt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/posd/posd/internal/money"
)

// The receipt file (journal): the durable, append-only record of every
// transaction post, beside SQLite. The line format is described in
// journal_line.go.
//
// Durability rules (ARCHITECTURE.md, reliability.md A7, D2-D4):
//   - The file is opened O_APPEND|O_WRONLY, never O_TRUNC, and no byte is
//     rewritten in place. Each post is one write call of the whole line
//     followed by fsync before Append returns.
//   - Creating the file fsyncs its directory.
//   - The only truncation is the repair of a bad tail at open, and only after
//     the bad bytes are safe (fsynced) in a side file.
//
// Where the repairable tail ends: OpenJournal finds the first bad line. If
// every line from there to the end of the file is one a crash can leave
// behind (a last line without its "\n", or a line that fails its own CRC or
// syntax: torn bytes, zeros, garbage), that tail is moved aside. If any line
// after the first bad one is intact (its CRC and syntax hold), or the first bad
// line itself is an intact, newline-terminated line in the wrong place (chain,
// sequence or duplicate reference), the damage is not a crash: OpenJournal
// refuses with ErrCorrupt and changes nothing, so a human looks before posd
// starts. A final line without "\n" is always torn, even if its CRC holds.

// Post is one transaction post: one line of the receipt file.
type Post struct {
	Seq       int64        `json:"seq"`       // 1, 2, 3 ... assigned by Append, gapless across files
	Time      time.Time    `json:"time"`      // UTC
	Provider  string       `json:"provider"`  // "seqr", "resurs", "payson"; "seqr" for every version 1 post
	PaymentID string       `json:"paymentId"` // posd's payment id
	Kind      string       `json:"kind"`      // "payment" or "refund"
	Text      string       `json:"text"`      // "SEQR payment", "SEQR refund"
	Amount    money.Amount `json:"amount"`    // more than zero; a refund's amount is positive too, Kind says which way
	Currency  string       `json:"currency"`  // ISO 4217, three upper-case letters
	Reference string       `json:"reference"` // the provider's reference; (Provider, Reference) is unique in the series
}

// ErrCorrupt is wrapped by Verify's error when a line fails its CRC, chain or
// syntax, and by OpenJournal's when the damage is more than a torn tail.
var ErrCorrupt = errors.New("receipt: journal corrupt")

// ErrNotDurable is wrapped by Append's error when the post may not be on
// disk: a write or fsync failed, or the journal could not be reopened after
// such a failure. The caller keeps the post pending and appends it again
// later; Append is idempotent by (provider, reference), so the retry never
// duplicates it.
var ErrNotDurable = errors.New("receipt: journal append not durable")

// ErrInvalidPost is wrapped by Append's error for a post that breaks a field rule.
var ErrInvalidPost = errors.New("receipt: invalid post")

// ErrReferenceConflict is wrapped by Append's error when (provider,
// reference) is already in the series with another payment id, kind, amount
// or currency. The existing post is returned with it.
var ErrReferenceConflict = errors.New("receipt: reference already posted with other content")

// ErrClosed is wrapped by Append's error after Close.
var ErrClosed = errors.New("receipt: journal closed")

// MaxPostsPage is the most posts one Posts call returns.
const MaxPostsPage = 10000

// Recovery says what OpenJournal repaired.
type Recovery struct {
	MovedAside string // side file holding the bad tail of the current file, "" if none
	BadBytes   int64
	ValidPosts int // posts in the series after the repair (the last seq)
	// Indexed is the number of sealed files read into the index at open: 0
	// normally, 1 after a crash during rotation or the upgrade of a version
	// 1 file, all of them when the index was missing or damaged.
	Indexed int
}

// journalFile is the part of *os.File the journal writes through. It exists
// so tests can inject write and fsync failures.
type journalFile interface {
	io.Writer
	Sync() error
	Truncate(size int64) error
	Close() error
}

// journalOpener opens path for appending (creating it exclusively when
// create is set) and locks it against a second writer.
type journalOpener func(path string, create bool) (journalFile, error)

// journalRecent is a post held in memory: every post of the files the index
// does not cover yet (normally the current file only).
type journalRecent struct {
	p    Post
	file int // 1-based file number
}

// Journal is the open receipt file series. Safe for concurrent use.
//
// What it holds in memory is bounded by one rotation period, not by history:
// the chain's tail (last seq, last hash), the names of the files, the posts
// of the current file, and the index's head (about 12 B per 256 sealed
// posts). Older posts are found through the index and read from their file.
type Journal struct {
	path string
	now  func() time.Time
	open journalOpener
	opt  journalOptions

	mu       sync.Mutex
	f        journalFile // the current file; nil while broken or closed
	closed   bool
	files    []string // every file of the series, file 1 first; the last is current
	v1       bool     // file 1 is a version 1 file
	size     int64    // bytes in the current file
	period   string   // the current file's period
	lastSeq  int64
	lastHash journalHash
	idx      *journalIndex   // covers sealed files 1..idx.files; never nil after load
	recent   []journalRecent // posts of files idx.files+1.., recent[i].p.Seq == idx.lastSeq+1+i
	refs     map[string]int  // journalRefKey -> index in recent
}

// OpenJournal opens the receipt file series at path (path is file 1; see
// journal_series.go), creating it, and fsyncing its directory, if needed. A
// torn or corrupt tail of the current file is moved aside to a side file
// named in the returned Recovery; valid posts before it are kept. Damage
// before the tail returns an error wrapping ErrCorrupt. The current file is
// locked (flock) while open, so a second posd on the same state directory
// fails here.
//
// Opening reads the current file, the head of the index and the last line
// of the newest sealed file, so its time and memory do not grow with
// history. Sealed files are checked when they are sealed and by Verify, not
// at every open. A version 1 file is sealed at once and continued in file 2.
func OpenJournal(path string, now func() time.Time, opts ...JournalOption) (*Journal, Recovery, error) {
	return openJournal(path, now, journalOpenOS, opts...)
}

func openJournal(path string, now func() time.Time, open journalOpener, opts ...JournalOption) (*Journal, Recovery, error) {
	if now == nil {
		now = time.Now
	}
	j := &Journal{path: path, now: now, open: open, opt: journalOptions{rotate: RotateDay, loc: time.UTC}}
	for _, o := range opts {
		o(&j.opt)
	}
	rec, err := j.load()
	if err != nil {
		return nil, rec, fmt.Errorf("open journal %s: %w", path, err)
	}
	return j, rec, nil
}

func (j *Journal) indexPath() string { return j.path + ".index" }

// load opens the current file, brings the index up to the sealed files,
// scans the current file, repairs a torn tail and seals a version 1 file. It
// is used at open and after a failed append. On error j.f stays nil and the
// state in memory is unchanged.
func (j *Journal) load() (Recovery, error) {
	files, err := journalListFiles(j.path)
	if err != nil {
		return Recovery{}, err
	}
	if files == nil {
		files = []string{j.path}
	}
	cur := files[len(files)-1]
	f, created, err := journalOpenOrCreate(j.open, cur)
	if err != nil {
		return Recovery{}, err
	}
	if created {
		// The header is written by journalRecover, which starts every empty file.
		if err := journalSyncDir(filepath.Dir(cur)); err != nil {
			f.Close()
			return Recovery{}, err
		}
	}
	var rec Recovery
	idx, err := j.openIndex(files[:len(files)-1], &rec)
	if err != nil {
		f.Close()
		return rec, err
	}
	v1 := false
	if len(files) > 1 {
		if v1, err = journalIsV1(files[0]); err != nil {
			f.Close()
			idx.close()
			return rec, err
		}
	}
	c := &journalChecker{lastSeq: idx.lastSeq, lastHash: idx.lastHash}
	c.startFile(len(files))
	var recent []journalRecent
	refs := map[string]int{}
	c.onPost = func(p Post, _ int64) error {
		if c.version == journalVersionV1 {
			return nil // sealed and indexed right after the scan, not kept
		}
		key := journalRefKey(p.Provider, p.Reference)
		if i, dup := refs[key]; dup {
			return fmt.Errorf("duplicate (provider, reference) (%q, %q) (first at seq %d)", p.Provider, p.Reference, recent[i].p.Seq)
		}
		refs[key] = len(recent)
		recent = append(recent, journalRecent{p: p, file: len(files)})
		return nil
	}
	t := j.now()
	trec, err := journalRecover(f, cur, c, t, j.opt.rotate.period(t, j.opt.loc))
	rec.MovedAside, rec.BadBytes = trec.MovedAside, trec.BadBytes
	if err != nil {
		f.Close()
		idx.close()
		return rec, err
	}
	j.idx.close()
	j.f, j.files, j.idx, j.recent, j.refs = f, files, idx, recent, refs
	j.v1 = v1 || (len(files) == 1 && c.version == journalVersionV1)
	j.size, j.lastSeq, j.lastHash, j.period = c.goodEnd, c.lastSeq, c.lastHash, trec.period
	if c.version == journalVersionV1 {
		// Never write to a version 1 file: seal it and go on in file 2.
		if err := j.rotate(t); err != nil {
			j.f.Close()
			j.f = nil
			return rec, fmt.Errorf("continue version 1 file in a new file: %w", err)
		}
		n, err := j.syncIndex()
		rec.Indexed += n
		if err != nil {
			j.f.Close()
			j.f = nil
			return rec, err
		}
	}
	rec.ValidPosts = int(j.lastSeq)
	return rec, nil
}

// journalIsV1 reports whether the file's header is a version 1 header.
func journalIsV1(name string) (bool, error) {
	line, err := journalReadLineAt(name, 0)
	if err != nil {
		return false, fmt.Errorf("read header of %s: %w", name, err)
	}
	h, err := journalParseHeader(line)
	if err != nil {
		return false, fmt.Errorf("%s line 1: %s: %w", name, err, ErrCorrupt)
	}
	return h.Version == journalVersionV1, nil
}

// openIndex returns the index covering exactly the sealed files, bringing
// it up to date (or rebuilding it) from the files when it is behind,
// missing or damaged.
func (j *Journal) openIndex(sealed []string, rec *Recovery) (*journalIndex, error) {
	idx, err := journalLoadIndex(j.indexPath())
	if err == nil && idx != nil {
		err = journalIndexMatches(idx, sealed)
	}
	if err != nil || idx == nil {
		// Missing (new series) or not trustworthy: start from nothing.
		idx.close()
		idx = &journalIndex{}
	}
	if idx.files == len(sealed) {
		return idx, nil
	}
	next, n, err := journalExtendIndex(j.indexPath(), idx, sealed)
	idx.close()
	rec.Indexed += n
	if err != nil {
		return nil, err
	}
	return next, nil
}

// journalIndexMatches checks that idx covers a prefix of the sealed files
// and ends where the last file it covers ends.
func journalIndexMatches(idx *journalIndex, sealed []string) error {
	if idx.files > len(sealed) {
		return fmt.Errorf("index covers %d files, %d are sealed", idx.files, len(sealed))
	}
	if idx.files == 0 {
		return nil
	}
	st, err := journalReadTail(sealed[idx.files-1])
	if err != nil {
		return err
	}
	if st.lastSeq != idx.lastSeq || st.lastHash != idx.lastHash || st.firstSeq != idx.firstSeq[idx.files-1] {
		return fmt.Errorf("index does not end where %s ends", sealed[idx.files-1])
	}
	return nil
}

// journalExtendIndex reads the sealed files idx does not cover, checking
// each line and the chain from where idx ends, and writes an index covering
// them all. It returns the number of files read.
func journalExtendIndex(path string, idx *journalIndex, sealed []string) (*journalIndex, int, error) {
	c := &journalChecker{lastSeq: idx.lastSeq, lastHash: idx.lastHash}
	firstSeq := slices.Clone(idx.firstSeq)
	// Sized once from the files' bytes (no post line is under 200 bytes), so
	// a rebuild of a long history does not grow the slice by copying.
	var total int64
	for _, name := range sealed[idx.files:] {
		if st, err := os.Stat(name); err == nil {
			total += st.Size()
		}
	}
	add := make([]journalIndexEntry, 0, total/200+1)
	for k := idx.files + 1; k <= len(sealed); k++ {
		name := sealed[k-1]
		c.startFile(k)
		c.onPost = func(p Post, off int64) error {
			if off > math.MaxUint32 {
				return fmt.Errorf("offset %d beyond what the index holds", off)
			}
			add = append(add, journalIndexEntry{fp: journalFingerprint(p.Provider, p.Reference), file: uint32(k), off: uint32(off)})
			return nil
		}
		f, err := os.Open(name)
		if err != nil {
			return nil, 0, fmt.Errorf("index %s: %w", name, err)
		}
		lines := 0
		err = journalScan(f, func(l journalLine) error {
			lines++
			if cerr := c.next(l); cerr != nil {
				return fmt.Errorf("sealed file %s line %d: %s: %w", name, l.no, cerr, ErrCorrupt)
			}
			return nil
		})
		f.Close()
		if err != nil {
			return nil, 0, err
		}
		if lines == 0 {
			return nil, 0, fmt.Errorf("sealed file %s line 1: empty file, no header: %w", name, ErrCorrupt)
		}
		firstSeq = append(firstSeq, c.firstSeq)
	}
	next, err := journalWriteIndex(path, idx, add, firstSeq, c.lastSeq, c.lastHash)
	if err != nil {
		return nil, 0, err
	}
	return next, len(sealed) - idx.files, nil
}

// syncIndex brings the index up to every sealed file and drops their posts
// from memory. It returns the number of files added.
func (j *Journal) syncIndex() (int, error) {
	sealed := j.files[:len(j.files)-1]
	if j.idx.files == len(sealed) {
		return 0, nil
	}
	next, n, err := journalExtendIndex(j.indexPath(), j.idx, sealed)
	if err != nil {
		return 0, err
	}
	j.idx.close()
	j.idx = next
	drop := 0
	for drop < len(j.recent) && j.recent[drop].file <= next.files {
		drop++
	}
	if drop > 0 {
		j.recent = slices.Clone(j.recent[drop:])
		j.refs = make(map[string]int, len(j.recent))
		for i, r := range j.recent {
			j.refs[journalRefKey(r.p.Provider, r.p.Reference)] = i
		}
	}
	return n, nil
}

// rotate seals the current file and starts the next one: created
// exclusively, directory fsynced, header (chained to the last line) written
// and fsynced. On error the new file may exist with a torn header, which
// the next load repairs; the caller reloads.
func (j *Journal) rotate(t time.Time) error {
	n := len(j.files) + 1
	period := j.opt.rotate.period(t, j.opt.loc)
	name := journalFileName(j.path, n, period)
	f, err := j.open(name, true)
	if err != nil {
		return fmt.Errorf("start file %d: %w", n, err)
	}
	if err := journalSyncDir(filepath.Dir(name)); err != nil {
		f.Close()
		return err
	}
	line := journalEncodeHeader(t, n, period, j.lastSeq, j.lastHash)
	if _, err := f.Write(line); err != nil {
		f.Close()
		return fmt.Errorf("write header of %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync header of %s: %w", name, err)
	}
	j.f.Close() // sealed: everything in it was fsynced by Append
	j.f, j.files = f, append(j.files, name)
	j.size, j.period, j.lastHash = int64(len(line)), period, journalHashLine(line[:len(line)-1])
	return nil
}

// journalOpenOrCreate opens path, creating it when it does not exist.
func journalOpenOrCreate(open journalOpener, path string) (journalFile, bool, error) {
	f, err := open(path, false)
	if err == nil {
		return f, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	f, err = open(path, true)
	if errors.Is(err, fs.ErrExist) {
		f, err = open(path, false) // created by someone else in between
		return f, false, err
	}
	return f, err == nil, err
}

// journalOpenOS is the production opener.
func journalOpenOS(path string, create bool) (journalFile, error) {
	flag := os.O_APPEND | os.O_WRONLY
	if create {
		flag |= os.O_CREATE | os.O_EXCL
	}
	f, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		return nil, err
	}
	if err := journalLock(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s (is another posd running?): %w", path, err)
	}
	return f, nil
}

// journalRecovered is what journalRecover found.
type journalRecovered struct {
	MovedAside string
	BadBytes   int64
	period     string // the file's period (from its header)
}

// journalRecover scans the current file at path (f is its open append
// handle) with c, which holds the chain state where the sealed files end;
// moves a repairable bad tail aside and truncates it; and writes the header
// when the file has none (new, or torn right after creation), for period.
func journalRecover(f journalFile, path string, c *journalChecker, now time.Time, period string) (journalRecovered, error) {
	r, err := os.Open(path)
	if err != nil {
		return journalRecovered{}, fmt.Errorf("read: %w", err)
	}
	defer r.Close()
	// Read what the disk holds, not what the page cache remembers: after a
	// failed fsync, Linux may keep showing pages it never wrote (fsyncgate).
	journalDropCache(r)

	type bad struct {
		no     int
		off    int64
		reason error
	}
	var first *bad
	var size int64
	var hdrPeriod string
	err = journalScan(r, func(l journalLine) error {
		size = l.off + l.size
		if first == nil {
			if cerr := c.next(l); cerr != nil {
				first = &bad{no: l.no, off: l.off, reason: cerr}
				if l.terminated && journalIntact(l) {
					return fmt.Errorf("%s line %d: %s: intact line out of place, not a torn write: %w", path, l.no, cerr, ErrCorrupt)
				}
			} else if l.no == 1 {
				h, _ := journalParseHeader(l.data) // c.next checked it
				hdrPeriod = h.Period
			}
			return nil
		}
		if l.terminated && journalIntact(l) {
			return fmt.Errorf("%s line %d: %s, but line %d after it is intact: not a torn tail, refusing to cut it: %w",
				path, first.no, first.reason, l.no, ErrCorrupt)
		}
		return nil
	})
	if err != nil {
		return journalRecovered{}, err
	}
	var rec journalRecovered
	if first != nil {
		side, err := journalMoveAside(f, r, path, first.off, size, func() time.Time { return now })
		if err != nil {
			return rec, fmt.Errorf("repair %s line %d (%s): %w", path, first.no, first.reason, err)
		}
		rec.MovedAside, rec.BadBytes = side, size-first.off
	}
	if c.version == 0 {
		// Empty file, or even the header was torn: start the file again.
		line := journalEncodeHeader(now, c.fileNo, period, c.lastSeq, c.lastHash)
		if _, err := f.Write(line); err != nil {
			return rec, fmt.Errorf("write header: %w", err)
		}
		if err := f.Sync(); err != nil {
			return rec, fmt.Errorf("sync header: %w", err)
		}
		c.version, c.lastHash, c.goodEnd = journalVersion, journalHashLine(line[:len(line)-1]), int64(len(line))
		hdrPeriod = period
	}
	rec.period = hdrPeriod
	return rec, nil
}

// journalMoveAside copies bytes [off, size) of the file (r reads it) to a new
// side file "<path>.torn-<UTC time>", fsyncs it and the directory, and only
// then truncates the journal to off and fsyncs it.
func journalMoveAside(f journalFile, r *os.File, path string, off, size int64, now func() time.Time) (string, error) {
	stamp := now().UTC().Format("20060102T150405.000000000Z")
	var side *os.File
	var name string
	for i := 0; ; i++ {
		name = path + ".torn-" + stamp
		if i > 0 {
			name = fmt.Sprintf("%s-%d", name, i)
		}
		var err error
		side, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) || i >= 1000 {
			return "", fmt.Errorf("create side file: %w", err)
		}
	}
	_, err := io.Copy(side, io.NewSectionReader(r, off, size-off))
	if err == nil {
		err = side.Sync()
	}
	if cerr := side.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("write side file %s: %w", name, err)
	}
	if err := journalSyncDir(filepath.Dir(path)); err != nil {
		return "", err
	}
	if err := f.Truncate(off); err != nil {
		return "", fmt.Errorf("truncate to %d: %w", off, err)
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("sync after truncate: %w", err)
	}
	return name, nil
}

// journalSyncDir fsyncs a directory so that a created file's entry survives a crash.
func journalSyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// Append writes p (Seq and, if zero, Time assigned; Time is stored in UTC)
// and fsyncs before returning. A post whose (Provider, Reference) is already
// in the series is not written again: the existing post is returned (with an
// error wrapping ErrReferenceConflict if its payment id, kind, amount or
// currency differ). The first Append in a new period starts a new file.
//
// When the write or the fsync fails, the post may or may not be on disk and
// a second fsync would prove nothing (fsyncgate). Append then closes the
// file, reopens it, re-reads it from disk, repairs a torn tail and returns an
// error wrapping ErrNotDurable; the caller appends the post again later. If
// the line did reach the disk, that later Append finds it and returns it.
func (j *Journal) Append(p Post) (Post, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	what := "append " + p.Provider + " " + p.Reference
	if j.closed {
		return Post{}, fmt.Errorf("%s: %w", what, ErrClosed)
	}
	if err := journalCheckPost(p); err != nil {
		return Post{}, fmt.Errorf("%s: %w: %w", what, ErrInvalidPost, err)
	}
	if j.f == nil {
		// A previous failure left the journal closed: reopen before anything else.
		if _, err := j.load(); err != nil {
			return Post{}, fmt.Errorf("%s: reopen journal: %w: %w", what, ErrNotDurable, err)
		}
	}
	old, found, err := j.find(p.Provider, p.Reference)
	if err != nil {
		return Post{}, fmt.Errorf("%s: look up earlier posts: %w: %w", what, ErrNotDurable, err)
	}
	if found {
		if old.PaymentID != p.PaymentID || old.Kind != p.Kind || old.Amount != p.Amount || old.Currency != p.Currency {
			return old, fmt.Errorf("%s: posted at seq %d as %s %s %s %s: %w",
				what, old.Seq, old.PaymentID, old.Kind, old.Amount, old.Currency, ErrReferenceConflict)
		}
		return old, nil
	}
	t := j.now()
	if period := j.opt.rotate.period(t, j.opt.loc); period > j.period {
		if err := j.rotate(t); err != nil {
			return Post{}, j.fail(what, "rotate", err)
		}
		// Best effort: until the index covers the sealed file its posts
		// stay in memory, and Check and the next rotation try again.
		_, _ = j.syncIndex()
	}
	p.Seq = j.lastSeq + 1
	if p.Time.IsZero() {
		p.Time = t
	}
	// UTC, and no monotonic reading, so the post equals what is read back.
	p.Time = p.Time.UTC().Round(0)
	line, err := journalEncodePost(p, j.lastHash)
	if err != nil {
		return Post{}, fmt.Errorf("%s: %w: %w", what, ErrInvalidPost, err)
	}
	if len(line)-1 > journalMaxLine {
		return Post{}, fmt.Errorf("%s: line of %d bytes: %w", what, len(line), ErrInvalidPost)
	}
	n, err := j.f.Write(line)
	if err == nil && n != len(line) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return Post{}, j.fail(what, "write", err)
	}
	if err := j.f.Sync(); err != nil {
		return Post{}, j.fail(what, "sync", err)
	}
	j.lastSeq = p.Seq
	j.lastHash = journalHashLine(line[:len(line)-1])
	j.size += int64(len(line))
	j.refs[journalRefKey(p.Provider, p.Reference)] = len(j.recent)
	j.recent = append(j.recent, journalRecent{p: p, file: len(j.files)})
	return p, nil
}

// find looks (provider, reference) up in memory, then through the index.
func (j *Journal) find(provider, reference string) (Post, bool, error) {
	if i, ok := j.refs[journalRefKey(provider, reference)]; ok {
		return j.recent[i].p, true, nil
	}
	es, err := j.idx.lookup(journalFingerprint(provider, reference))
	if err != nil {
		return Post{}, false, err
	}
	for _, e := range es {
		if e.file < 1 || int(e.file) > j.idx.files {
			return Post{}, false, fmt.Errorf("index names file %d: %w", e.file, ErrCorrupt)
		}
		name := j.files[e.file-1]
		line, err := journalReadLineAt(name, int64(e.off))
		if err != nil {
			return Post{}, false, err
		}
		version := journalVersion
		if e.file == 1 && j.v1 {
			version = journalVersionV1
		}
		p, _, err := journalParsePost(line, version)
		if err != nil {
			return Post{}, false, fmt.Errorf("%s at offset %d: %s: %w", name, e.off, err, ErrCorrupt)
		}
		if p.Provider == provider && p.Reference == reference {
			return p, true, nil
		}
		// Another pair with the same 64-bit fingerprint: keep looking.
	}
	return Post{}, false, nil
}

// fail handles a failed write or fsync: never retry and trust, but close,
// reopen and re-read the file (repairing a torn tail), and report the post
// as not durable. If reopening fails too, the journal stays closed and the
// next Append tries again.
func (j *Journal) fail(what, op string, cause error) error {
	j.f.Close() // the handle is suspect; its own close error adds nothing
	j.f = nil
	rec, err := j.load()
	if err != nil {
		return fmt.Errorf("%s: %s: %w: %w (reopen failed: %w)", what, op, ErrNotDurable, cause, err)
	}
	if rec.MovedAside != "" {
		return fmt.Errorf("%s: %s: %w: %w (reopened; %d bytes moved aside to %s)",
			what, op, ErrNotDurable, cause, rec.BadBytes, rec.MovedAside)
	}
	return fmt.Errorf("%s: %s: %w: %w (reopened)", what, op, ErrNotDurable, cause)
}

// Check reports whether the journal can take an append now: it reopens the
// file if an earlier failure closed it, fsyncs it, and checks the file system
// has room for more than a few posts. It writes nothing (except an index the
// last rotation could not write), so it is cheap enough to call before every
// payment (fail closed on storage, reliability B4); its error wraps
// ErrNotDurable or ErrClosed.
func (j *Journal) Check() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return fmt.Errorf("check journal %s: %w", j.path, ErrClosed)
	}
	if j.f == nil {
		if _, err := j.load(); err != nil {
			return fmt.Errorf("check journal %s: reopen: %w: %w", j.path, ErrNotDurable, err)
		}
	}
	if err := j.f.Sync(); err != nil {
		return j.fail("check journal "+j.path, "sync", err)
	}
	if free, err := journalFreeBytes(j.path); err == nil && free < journalMinFree {
		return fmt.Errorf("check journal %s: %d bytes free: %w", j.path, free, ErrNotDurable)
	}
	if _, err := j.syncIndex(); err != nil {
		return fmt.Errorf("check journal %s: index: %w: %w", j.path, ErrNotDurable, err)
	}
	return nil
}

// journalMinFree is the free space Check asks for: room for a few dozen
// posts and a side file, so a payment is refused before the disk is full.
const journalMinFree = 256 << 10

// Has reports whether a post with this (provider, reference) is in the
// series. Posts of the current file are answered from memory; older ones
// cost one index block read and, on a hit, one line read. A read error
// answers false: Append looks again and reports it.
func (j *Journal) Has(provider, reference string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	_, ok, err := j.find(provider, reference)
	return ok && err == nil
}

// Posts returns the posts with Seq > after, in order, at most limit of them
// (limit <= 0 or above MaxPostsPage means MaxPostsPage). Posts of the
// current file come from memory; older ones are read from their files.
func (j *Journal) Posts(after int64, limit int) ([]Post, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if limit <= 0 || limit > MaxPostsPage {
		limit = MaxPostsPage
	}
	after = max(after, 0)
	if after >= j.lastSeq {
		return nil, nil
	}
	var out []Post
	memFirst := j.idx.lastSeq + 1
	if after+1 < memFirst {
		var err error
		if out, err = j.readSealed(after, limit); err != nil {
			return nil, fmt.Errorf("read posts after %d: %w", after, err)
		}
	}
	for i := max(after+1, memFirst) - memFirst; i < int64(len(j.recent)) && len(out) < limit; i++ {
		out = append(out, j.recent[i].p)
	}
	return out, nil
}

// readSealed reads up to limit posts after seq after from the indexed files.
func (j *Journal) readSealed(after int64, limit int) ([]Post, error) {
	// The last file whose first post is at or before after+1.
	k := sort.Search(j.idx.files, func(i int) bool { return j.idx.firstSeq[i] > after+1 })
	k = max(k, 1)
	var out []Post
	done := errors.New("done")
	for ; k <= j.idx.files && len(out) < limit; k++ {
		name := j.files[k-1]
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		version := 0
		err = journalScan(f, func(l journalLine) error {
			if l.no == 1 {
				h, err := journalParseHeader(l.data)
				if err != nil {
					return fmt.Errorf("%s line 1: %s: %w", name, err, ErrCorrupt)
				}
				version = h.Version
				return nil
			}
			if !l.terminated || l.data == nil {
				return fmt.Errorf("%s line %d: torn line in a sealed file: %w", name, l.no, ErrCorrupt)
			}
			if len(l.data) < 20 || !bytes.HasPrefix(l.data, []byte(`{"seq":`)) {
				return fmt.Errorf("%s line %d: not a post: %w", name, l.no, ErrCorrupt)
			}
			p, _, err := journalParsePost(l.data, version)
			if err != nil {
				return fmt.Errorf("%s line %d: %s: %w", name, l.no, err, ErrCorrupt)
			}
			if p.Seq <= after {
				return nil
			}
			out = append(out, p)
			if len(out) >= limit {
				return done
			}
			return nil
		})
		f.Close()
		if err != nil && !errors.Is(err, done) {
			return nil, err
		}
	}
	return out, nil
}

// LastSeq returns the sequence number of the last post, 0 if none.
func (j *Journal) LastSeq() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.lastSeq
}

// Path returns the path of file 1, which names the series.
func (j *Journal) Path() string { return j.path }

// Close closes the files. Further Appends fail with ErrClosed; Has and
// Posts keep answering for the posts held in memory (the current file's).
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	j.idx.close()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	if err != nil {
		return fmt.Errorf("close journal %s: %w", j.path, err)
	}
	return nil
}
