package receipt

import (
	"errors"
	"fmt"
	"os"
)

// journalChecker walks the lines of a receipt file in order and checks each
// against the ones before it: header first, then posts whose prev is the hash
// of the line before, seq without gaps, references unique.
type journalChecker struct {
	lastSeq  int64
	lastHash journalHash
	header   bool
	goodEnd  int64          // offset just past the last good line
	refs     map[string]int // reference -> index in posts
	posts    []Post         // kept only when keep is set
	keep     bool
	count    int
}

func newJournalChecker(keep bool) *journalChecker {
	return &journalChecker{refs: make(map[string]int), keep: keep}
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
	if !c.header {
		if _, err := journalParseHeader(l.data); err != nil {
			return fmt.Errorf("header: %w", err)
		}
		c.header = true
		c.lastHash = journalHashLine(l.data)
		c.goodEnd = l.off + l.size
		return nil
	}
	p, prev, err := journalParsePost(l.data)
	if err != nil {
		return err
	}
	if prev != c.lastHash {
		return fmt.Errorf("chain broken: prev does not match the hash of line %d", l.no-1)
	}
	if p.Seq != c.lastSeq+1 {
		return fmt.Errorf("seq %d, want %d", p.Seq, c.lastSeq+1)
	}
	if i, dup := c.refs[p.Reference]; dup {
		return fmt.Errorf("duplicate reference %q (first at seq %d)", p.Reference, i+1)
	}
	c.refs[p.Reference] = int(p.Seq - 1)
	if c.keep {
		c.posts = append(c.posts, p)
	}
	c.count++
	c.lastSeq = p.Seq
	c.lastHash = journalHashLine(l.data)
	c.goodEnd = l.off + l.size
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
	if _, _, err := journalParsePost(l.data); err == nil {
		return true
	}
	_, err := journalParseHeader(l.data)
	return err == nil
}

// Verify reads the file at path and checks every line's syntax, CRC, chain,
// sequence and reference uniqueness, and that the file ends in a newline. On
// the first bad line it returns an error wrapping ErrCorrupt that names the
// line number and what is wrong ("line 7: crc mismatch"); posts is the number
// of good posts before it. Verify takes no lock and changes nothing.
func Verify(path string) (posts int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("verify journal %s: %w", path, err)
	}
	defer f.Close()
	c := newJournalChecker(false)
	lines := 0
	err = journalScan(f, func(l journalLine) error {
		lines++
		if cerr := c.next(l); cerr != nil {
			return fmt.Errorf("verify journal %s: line %d: %s: %w", path, l.no, cerr, ErrCorrupt)
		}
		return nil
	})
	if err != nil {
		return c.count, err
	}
	if lines == 0 {
		return 0, fmt.Errorf("verify journal %s: line 1: empty file, no header: %w", path, ErrCorrupt)
	}
	return c.count, nil
}
