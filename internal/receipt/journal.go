package receipt

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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
	Seq       int64        `json:"seq"`       // 1, 2, 3 ... assigned by Append
	Time      time.Time    `json:"time"`      // UTC
	PaymentID string       `json:"paymentId"` // posd's payment id
	Kind      string       `json:"kind"`      // "payment" or "refund"
	Text      string       `json:"text"`      // "SEQR payment", "SEQR refund"
	Amount    money.Amount `json:"amount"`    // more than zero; a refund's amount is positive too, Kind says which way
	Currency  string       `json:"currency"`  // ISO 4217, three upper-case letters
	Reference string       `json:"reference"` // provider reference (SEQR ersReference); unique in the file
}

// ErrCorrupt is wrapped by Verify's error when a line fails its CRC, chain or
// syntax, and by OpenJournal's when the damage is more than a torn tail.
var ErrCorrupt = errors.New("receipt: journal corrupt")

// ErrNotDurable is wrapped by Append's error when the post may not be on
// disk: a write or fsync failed, or the journal could not be reopened after
// such a failure. The caller keeps the post pending and appends it again
// later; Append is idempotent by reference, so the retry never duplicates it.
var ErrNotDurable = errors.New("receipt: journal append not durable")

// ErrInvalidPost is wrapped by Append's error for a post that breaks a field rule.
var ErrInvalidPost = errors.New("receipt: invalid post")

// ErrReferenceConflict is wrapped by Append's error when the reference is
// already in the file with another payment id, kind, amount or currency. The
// existing post is returned with it.
var ErrReferenceConflict = errors.New("receipt: reference already posted with other content")

// ErrClosed is wrapped by Append's error after Close.
var ErrClosed = errors.New("receipt: journal closed")

// Recovery says what OpenJournal repaired.
type Recovery struct {
	MovedAside string // side file holding the bad tail, "" if none
	BadBytes   int64
	ValidPosts int
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

// Journal is the open receipt file. Safe for concurrent use.
type Journal struct {
	path string
	now  func() time.Time
	open journalOpener

	mu       sync.Mutex
	f        journalFile // nil while broken or closed
	closed   bool
	lastSeq  int64
	lastHash journalHash
	posts    []Post         // posts[i].Seq == i+1
	refs     map[string]int // reference -> index in posts
}

// OpenJournal opens (creating it, and fsyncing its directory, if needed) the
// journal at path. A torn or corrupt tail is moved aside to a side file named
// in the returned Recovery; valid posts before it are kept. Damage before the
// tail returns an error wrapping ErrCorrupt. The file is locked (flock) while
// open, so a second posd on the same state directory fails here.
func OpenJournal(path string, now func() time.Time) (*Journal, Recovery, error) {
	return openJournal(path, now, journalOpenOS)
}

func openJournal(path string, now func() time.Time, open journalOpener) (*Journal, Recovery, error) {
	if now == nil {
		now = time.Now
	}
	j := &Journal{path: path, now: now, open: open}
	rec, err := j.load()
	if err != nil {
		return nil, rec, fmt.Errorf("open journal %s: %w", path, err)
	}
	return j, rec, nil
}

// load opens the file, scans it, repairs a torn tail and rebuilds the index.
// It is used at open and after a failed append. On error j.f stays nil.
func (j *Journal) load() (Recovery, error) {
	f, created, err := journalOpenOrCreate(j.open, j.path)
	if err != nil {
		return Recovery{}, err
	}
	if created {
		// The header is written by journalRecover, which starts every empty file.
		if err := journalSyncDir(filepath.Dir(j.path)); err != nil {
			f.Close()
			return Recovery{}, err
		}
	}
	c, rec, err := journalRecover(f, j.path, j.now)
	if err != nil {
		f.Close()
		return rec, err
	}
	j.f = f
	j.lastSeq, j.lastHash, j.posts, j.refs = c.lastSeq, c.lastHash, c.posts, c.refs
	return rec, nil
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
	f, err := os.OpenFile(path, flag, 0o640)
	if err != nil {
		return nil, err
	}
	if err := journalLock(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s (is another posd running?): %w", path, err)
	}
	return f, nil
}

// journalWriteHeader starts an empty file and returns the header's chain hash.
func journalWriteHeader(f journalFile, now time.Time) (journalHash, error) {
	line := journalEncodeHeader(now)
	if _, err := f.Write(line); err != nil {
		return journalHash{}, fmt.Errorf("write header: %w", err)
	}
	if err := f.Sync(); err != nil {
		return journalHash{}, fmt.Errorf("sync header: %w", err)
	}
	return journalHashLine(line[:len(line)-1]), nil
}

// journalRecover scans the file at path (f is its open append handle), moves
// a repairable bad tail aside and truncates it, and returns the checked state.
func journalRecover(f journalFile, path string, now func() time.Time) (*journalChecker, Recovery, error) {
	r, err := os.Open(path)
	if err != nil {
		return nil, Recovery{}, fmt.Errorf("read: %w", err)
	}
	defer r.Close()
	// Read what the disk holds, not what the page cache remembers: after a
	// failed fsync, Linux may keep showing pages it never wrote (fsyncgate).
	journalDropCache(r)

	c := newJournalChecker(true)
	type bad struct {
		no     int
		off    int64
		reason error
	}
	var first *bad
	var size int64
	err = journalScan(r, func(l journalLine) error {
		size = l.off + l.size
		if first == nil {
			if cerr := c.next(l); cerr != nil {
				first = &bad{no: l.no, off: l.off, reason: cerr}
				if l.terminated && journalIntact(l) {
					return fmt.Errorf("line %d: %s: intact line out of place, not a torn write: %w", l.no, cerr, ErrCorrupt)
				}
			}
			return nil
		}
		if l.terminated && journalIntact(l) {
			return fmt.Errorf("line %d: %s, but line %d after it is intact: not a torn tail, refusing to cut it: %w",
				first.no, first.reason, l.no, ErrCorrupt)
		}
		return nil
	})
	if err != nil {
		return nil, Recovery{}, err
	}
	rec := Recovery{ValidPosts: c.count}
	if first != nil {
		side, err := journalMoveAside(f, r, path, first.off, size, now)
		if err != nil {
			return nil, rec, fmt.Errorf("repair line %d (%s): %w", first.no, first.reason, err)
		}
		rec.MovedAside, rec.BadBytes = side, size-first.off
	}
	if !c.header {
		// Empty file, or even the header was torn: start the file again.
		h, err := journalWriteHeader(f, now())
		if err != nil {
			return nil, rec, err
		}
		c.header, c.lastHash = true, h
	}
	return c, rec, nil
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
		side, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
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
// and fsyncs before returning. A post whose Reference is already in the file
// is not written again: the existing post is returned (with an error wrapping
// ErrReferenceConflict if its payment id, kind, amount or currency differ).
//
// When the write or the fsync fails, the post may or may not be on disk and
// a second fsync would prove nothing (fsyncgate). Append then closes the
// file, reopens it, re-reads it from disk, repairs a torn tail and returns an
// error wrapping ErrNotDurable; the caller appends the post again later. If
// the line did reach the disk, that later Append finds it and returns it.
func (j *Journal) Append(p Post) (Post, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return Post{}, fmt.Errorf("append %s: %w", p.Reference, ErrClosed)
	}
	if err := journalCheckPost(p); err != nil {
		return Post{}, fmt.Errorf("append %s: %w: %w", p.Reference, ErrInvalidPost, err)
	}
	if j.f == nil {
		// A previous failure left the journal closed: reopen before anything else.
		if _, err := j.load(); err != nil {
			return Post{}, fmt.Errorf("append %s: reopen journal: %w: %w", p.Reference, ErrNotDurable, err)
		}
	}
	if i, ok := j.refs[p.Reference]; ok {
		old := j.posts[i]
		if old.PaymentID != p.PaymentID || old.Kind != p.Kind || old.Amount != p.Amount || old.Currency != p.Currency {
			return old, fmt.Errorf("append %s: posted at seq %d as %s %s %s %s: %w",
				p.Reference, old.Seq, old.PaymentID, old.Kind, old.Amount, old.Currency, ErrReferenceConflict)
		}
		return old, nil
	}
	p.Seq = j.lastSeq + 1
	if p.Time.IsZero() {
		p.Time = j.now()
	}
	// UTC, and no monotonic reading, so the post equals what is read back.
	p.Time = p.Time.UTC().Round(0)
	line, err := journalEncodePost(p, j.lastHash)
	if err != nil {
		return Post{}, fmt.Errorf("append %s: %w: %w", p.Reference, ErrInvalidPost, err)
	}
	if len(line)-1 > journalMaxLine {
		return Post{}, fmt.Errorf("append %s: line of %d bytes: %w", p.Reference, len(line), ErrInvalidPost)
	}
	n, err := j.f.Write(line)
	if err == nil && n != len(line) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return Post{}, j.fail("append "+p.Reference, "write", err)
	}
	if err := j.f.Sync(); err != nil {
		return Post{}, j.fail("append "+p.Reference, "sync", err)
	}
	j.lastSeq = p.Seq
	j.lastHash = journalHashLine(line[:len(line)-1])
	j.refs[p.Reference] = len(j.posts)
	j.posts = append(j.posts, p)
	return p, nil
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
// has room for more than a few posts. It writes nothing, so it is cheap
// enough to call before every payment (fail closed on storage, reliability
// B4); its error wraps ErrNotDurable or ErrClosed.
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
	return nil
}

// journalMinFree is the free space Check asks for: room for a few dozen
// posts and a side file, so a payment is refused before the disk is full.
const journalMinFree = 256 << 10

// Has reports whether a post with this reference is in the file.
func (j *Journal) Has(reference string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	_, ok := j.refs[reference]
	return ok
}

// Posts returns the posts with Seq > after, in order.
func (j *Journal) Posts(after int64) []Post {
	j.mu.Lock()
	defer j.mu.Unlock()
	if after < 0 {
		after = 0
	}
	if after >= int64(len(j.posts)) {
		return nil
	}
	return append([]Post(nil), j.posts[after:]...)
}

// LastSeq returns the sequence number of the last post, 0 if none.
func (j *Journal) LastSeq() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.lastSeq
}

// Path returns the file's path.
func (j *Journal) Path() string { return j.path }

// Close closes the file. Further Appends fail with ErrClosed; Has and Posts
// keep answering from memory.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
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
