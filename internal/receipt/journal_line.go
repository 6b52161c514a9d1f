package receipt

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/posd/posd/internal/money"
)

// The line format. The files, their names, rotation and the index are
// described in journal_series.go and journal_index.go.
//
// A file is UTF-8 text, one record per line, each line ending in "\n":
//
//	{"format":"posd-receipt-journal","version":2,"created":"2026-11-22T00:00:01Z","file":2,"period":"2026-11-22","seq":41,"prev":"<64 hex>"} 1a2b3c4d
//	{"seq":42,"time":"2026-11-22T09:35:00.5Z","provider":"seqr","paymentId":"p1","kind":"payment","text":"SEQR payment","amount":"20.00","currency":"SEK","reference":"ERS1","prev":"<64 hex>"} 0b1c2d3e
//
// A line is a JSON object (the body), one space, and the CRC32C (Castagnoli)
// of the body as 8 lower-case hex digits. The first line of every file is its
// header; every other line is a transaction post whose "prev" is the SHA-256
// (hex) of the previous line's bytes without its "\n" (body, space and CRC).
//
// One chain runs through all files: the header of file n+1 carries the
// sequence number of the last post before it ("seq") and the hash of the last
// line of file n ("prev"), and the first post of a file chains to its
// header. The header of file 1 is the genesis of the chain: because it
// carries its creation time, lines copied from another register's file do not
// chain here. Sequence numbers run 1, 2, 3 without gaps across files, and
// every (provider, reference) pair appears once in the whole series.
//
// Version 1 (posd before providers) had one file and no provider field: its
// header is {"format","version":1,"created"} and its posts have no
// "provider". A version 1 file is read as SEQR's (every v1 post was a SEQR
// post) and is never written again: the first open by this binary seals it
// as file 1 of the series and continues the chain in file 2, a version 2
// file. Version 2 posts carry "provider" (right after "time") and a version 2
// file holds only version 2 posts, so each file has one line format.
//
// The CRC makes each line self-checking (a torn or flipped line is found on
// its own); the chain makes the series as a whole checkable (a line edited
// with a recomputed CRC breaks the next line's "prev"; a deleted, reordered
// or renamed line or file breaks the chain or the sequence).

const (
	journalFormat    = "posd-receipt-journal"
	journalVersion   = 2 // what this binary writes
	journalVersionV1 = 1 // read, sealed and continued, never written
	// journalMaxLine bounds one line (without "\n"). Posts are about 300
	// bytes; Append refuses larger ones, so a longer line is never valid and
	// the scanner never has to hold more than this in memory.
	journalMaxLine = 4096
	journalCRCLen  = 8
	// journalV1Provider is the provider of every version 1 post.
	journalV1Provider = "seqr"
)

var journalCastagnoli = crc32.MakeTable(crc32.Castagnoli)

// journalRecord is a post as written on a line: the Post plus the chain hash.
// Field order here is the field order in the file.
type journalRecord struct {
	Seq       int64        `json:"seq"`
	Time      time.Time    `json:"time"`
	Provider  string       `json:"provider,omitempty"` // absent in version 1 lines only
	PaymentID string       `json:"paymentId"`
	Kind      string       `json:"kind"`
	Text      string       `json:"text"`
	Amount    money.Amount `json:"amount"`
	Currency  string       `json:"currency"`
	Reference string       `json:"reference"`
	Prev      string       `json:"prev"`
}

// journalHeader is the first line of every file. Version 1 headers have only
// the first three fields.
type journalHeader struct {
	Format  string    `json:"format"`
	Version int       `json:"version"`
	Created time.Time `json:"created"`
	File    int       `json:"file,omitempty"`   // 1, 2, 3 ... the file's place in the series
	Period  string    `json:"period,omitempty"` // the rotation period the file was opened for
	Seq     int64     `json:"seq,omitempty"`    // seq of the last post before this file
	Prev    string    `json:"prev,omitempty"`   // hash of the last line of the file before; "" in file 1
}

// journalHash is the chain hash of one line (without its "\n").
type journalHash [sha256.Size]byte

func journalHashLine(line []byte) journalHash { return sha256.Sum256(line) }

func (h journalHash) String() string { return hex.EncodeToString(h[:]) }

// journalSeal appends " <crc32c hex>\n" to body.
func journalSeal(body []byte) []byte {
	line := make([]byte, 0, len(body)+1+journalCRCLen+1)
	line = append(line, body...)
	line = append(line, ' ')
	line = fmt.Appendf(line, "%08x", crc32.Checksum(body, journalCastagnoli))
	return append(line, '\n')
}

// journalEncodePost renders p chained to prev as a complete line with "\n".
func journalEncodePost(p Post, prev journalHash) ([]byte, error) {
	body, err := json.Marshal(journalRecord{
		Seq: p.Seq, Time: p.Time, Provider: p.Provider, PaymentID: p.PaymentID, Kind: p.Kind, Text: p.Text,
		Amount: p.Amount, Currency: p.Currency, Reference: p.Reference, Prev: prev.String(),
	})
	if err != nil {
		return nil, fmt.Errorf("encode post %s: %w", p.Reference, err)
	}
	return journalSeal(body), nil
}

// journalEncodeHeader renders the version 2 header of file number file,
// opened for period, continuing a chain whose last line so far has hash prev
// and whose last post has seq (both zero for file 1), with "\n".
func journalEncodeHeader(created time.Time, file int, period string, seq int64, prev journalHash) []byte {
	h := journalHeader{Format: journalFormat, Version: journalVersion, Created: created.UTC().Round(0),
		File: file, Period: period, Seq: seq}
	if file > 1 {
		h.Prev = prev.String()
	}
	body, err := json.Marshal(h)
	if err != nil {
		// Strings, ints and a UTC time always marshal.
		panic(fmt.Sprintf("receipt: encode journal header: %v", err))
	}
	return journalSeal(body)
}

// journalOpenEnvelope checks a line's CRC (line without "\n") and returns its body.
func journalOpenEnvelope(line []byte) ([]byte, error) {
	if len(line) > journalMaxLine {
		return nil, fmt.Errorf("line longer than %d bytes", journalMaxLine)
	}
	if len(line) < journalCRCLen+3 || line[len(line)-journalCRCLen-1] != ' ' {
		return nil, errors.New("syntax: no crc field")
	}
	body := line[:len(line)-journalCRCLen-1]
	var sum [4]byte
	crcText := line[len(line)-journalCRCLen:]
	for _, c := range crcText {
		// Lower-case only, so every valid line has exactly one spelling.
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return nil, errors.New("syntax: crc is not 8 lower-case hex digits")
		}
	}
	if _, err := hex.Decode(sum[:], crcText); err != nil {
		return nil, fmt.Errorf("syntax: crc: %w", err)
	}
	want := uint32(sum[0])<<24 | uint32(sum[1])<<16 | uint32(sum[2])<<8 | uint32(sum[3])
	if crc32.Checksum(body, journalCastagnoli) != want {
		return nil, errors.New("crc mismatch")
	}
	return body, nil
}

// journalDecodeStrict decodes one JSON object with no unknown fields and
// nothing after it.
func journalDecodeStrict(body []byte, v any) error {
	if len(body) == 0 || body[0] != '{' || !utf8.Valid(body) {
		return errors.New("syntax: not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("syntax: %w", err)
	}
	if dec.More() {
		return errors.New("syntax: data after the JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("syntax: data after the JSON object")
	}
	return nil
}

// journalParseHeader parses and checks a header line (without "\n").
func journalParseHeader(line []byte) (journalHeader, error) {
	body, err := journalOpenEnvelope(line)
	if err != nil {
		return journalHeader{}, err
	}
	var h journalHeader
	if err := journalDecodeStrict(body, &h); err != nil {
		return journalHeader{}, err
	}
	if h.Format != journalFormat {
		return journalHeader{}, fmt.Errorf("header: format %q, want %q", h.Format, journalFormat)
	}
	switch h.Version {
	case journalVersionV1:
		if h.File != 0 || h.Period != "" || h.Seq != 0 || h.Prev != "" {
			return journalHeader{}, errors.New("header: version 1 has no file, period, seq or prev")
		}
	case journalVersion:
		if h.File < 1 {
			return journalHeader{}, fmt.Errorf("header: file %d, want 1 or more", h.File)
		}
		if !journalValidPeriod(h.Period) {
			return journalHeader{}, fmt.Errorf("header: period %q is not a rotation period", h.Period)
		}
		if h.Seq < 0 {
			return journalHeader{}, fmt.Errorf("header: seq %d, want 0 or more", h.Seq)
		}
		if h.File == 1 && (h.Seq != 0 || h.Prev != "") {
			return journalHeader{}, errors.New("header: file 1 starts the chain: no seq or prev")
		}
		if h.File > 1 {
			if _, err := journalParseHash(h.Prev); err != nil {
				return journalHeader{}, fmt.Errorf("header: prev: %w", err)
			}
		}
	default:
		return journalHeader{}, fmt.Errorf("header: version %d not supported (this binary reads versions 1 and 2)", h.Version)
	}
	if h.Created.IsZero() || h.Created.Location() != time.UTC {
		return journalHeader{}, errors.New("header: created must be a UTC time")
	}
	return h, nil
}

// journalParseHash parses a chain hash written as 64 lower-case hex digits.
func journalParseHash(s string) (journalHash, error) {
	var h journalHash
	if len(s) != 2*len(h) {
		return h, errors.New("not a SHA-256 hex digest")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return h, errors.New("not a lower-case SHA-256 hex digest")
		}
	}
	_, err := hex.Decode(h[:], []byte(s))
	return h, err
}

// journalParsePost parses a post line (without "\n") of a file of the given
// header version: CRC, syntax and field rules. It does not check the chain or
// the sequence: that needs the previous line.
func journalParsePost(line []byte, version int) (Post, journalHash, error) {
	body, err := journalOpenEnvelope(line)
	if err != nil {
		return Post{}, journalHash{}, err
	}
	r, ok := journalDecodeFast(body)
	if !ok {
		if err := journalDecodeStrict(body, &r); err != nil {
			return Post{}, journalHash{}, err
		}
	}
	prev, err := journalParseHash(r.Prev)
	if err != nil {
		return Post{}, journalHash{}, fmt.Errorf("syntax: prev: %w", err)
	}
	switch version {
	case journalVersionV1:
		if r.Provider != "" {
			return Post{}, journalHash{}, errors.New("syntax: provider in a version 1 file")
		}
		r.Provider = journalV1Provider
	case journalVersion:
		if r.Provider == "" {
			return Post{}, journalHash{}, errors.New("provider: empty")
		}
	default:
		return Post{}, journalHash{}, fmt.Errorf("version %d not supported", version)
	}
	p := Post{
		Seq: r.Seq, Time: r.Time, Provider: journalIntern(r.Provider), PaymentID: r.PaymentID,
		Kind: journalIntern(r.Kind), Text: journalIntern(r.Text),
		Amount: r.Amount, Currency: journalIntern(r.Currency), Reference: r.Reference,
	}
	if err := journalCheckPost(p); err != nil {
		return Post{}, journalHash{}, err
	}
	if p.Seq < 1 {
		return Post{}, journalHash{}, fmt.Errorf("seq %d: must be 1 or more", p.Seq)
	}
	if p.Time.IsZero() || p.Time.Location() != time.UTC {
		return Post{}, journalHash{}, errors.New("time: must be a UTC time")
	}
	return p, prev, nil
}

// journalCheckPost holds the field rules shared by Append and the parser, so
// that everything Append writes parses back to the same Post.
func journalCheckPost(p Post) error {
	if err := journalCheckProvider(p.Provider); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{
		{"paymentId", p.PaymentID}, {"kind", p.Kind}, {"text", p.Text},
		{"currency", p.Currency}, {"reference", p.Reference},
	} {
		if f.v == "" {
			return fmt.Errorf("%s: empty", f.name)
		}
		if !utf8.ValidString(f.v) {
			return fmt.Errorf("%s: not UTF-8", f.name)
		}
		if len(f.v) > 256 {
			return fmt.Errorf("%s: longer than 256 bytes", f.name)
		}
	}
	if p.Amount <= 0 {
		return fmt.Errorf("amount %s: must be more than zero", p.Amount)
	}
	if p.Kind != "payment" && p.Kind != "refund" {
		return fmt.Errorf("kind %q: want payment or refund", p.Kind)
	}
	if len(p.Currency) != 3 {
		return fmt.Errorf("currency %q: want three letters", p.Currency)
	}
	for i := 0; i < 3; i++ {
		if p.Currency[i] < 'A' || p.Currency[i] > 'Z' {
			return fmt.Errorf("currency %q: want three upper-case letters", p.Currency)
		}
	}
	return nil
}

// journalCheckProvider: a provider is a config key ("seqr", "resurs",
// "payson"): 1 to 32 of a-z, 0-9, "_" and "-".
func journalCheckProvider(s string) error {
	if s == "" || len(s) > 32 {
		return fmt.Errorf("provider %q: want 1 to 32 characters", s)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' && c != '-' {
			return fmt.Errorf("provider %q: want a-z, 0-9, _ and - only", s)
		}
	}
	return nil
}

// journalIntern returns the shared copy of the few strings that repeat on
// every line, so the in-memory index does not hold one copy per post.
func journalIntern(s string) string {
	for _, c := range [...]string{"seqr", "resurs", "payson", "payment", "refund", "SEQR payment", "SEQR refund", "SEK", "NOK", "DKK", "EUR"} {
		if s == c {
			return c
		}
	}
	return s
}

// journalLine is one "\n"-separated segment of the file as the scanner sees it.
type journalLine struct {
	no         int    // 1-based line number
	off        int64  // byte offset of the line's first byte
	size       int64  // bytes including the "\n" if terminated
	data       []byte // the line without "\n"; nil if longer than journalMaxLine; valid only during the callback
	terminated bool   // ends in "\n" (false only for the last segment)
	tooLong    bool
}

// journalScan calls fn for every line of r in order. The last segment is
// reported with terminated=false when the file does not end in "\n".
func journalScan(r io.Reader, fn func(journalLine) error) error {
	br := bufio.NewReaderSize(r, journalMaxLine+1)
	var off int64
	for no := 1; ; no++ {
		l := journalLine{no: no, off: off}
		data, err := br.ReadSlice('\n')
		l.size = int64(len(data))
		if errors.Is(err, bufio.ErrBufferFull) {
			// Too long to be a line of ours: skip to the next "\n" without holding it.
			l.tooLong = true
			for errors.Is(err, bufio.ErrBufferFull) {
				data, err = br.ReadSlice('\n')
				l.size += int64(len(data))
			}
			data = nil
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("read line %d: %w", no, err)
		}
		if l.size == 0 {
			return nil // clean end of file
		}
		off += l.size
		if err == nil {
			l.terminated = true
			if data != nil {
				data = data[:len(data)-1]
			}
		}
		l.data = data
		if ferr := fn(l); ferr != nil {
			return ferr
		}
		if err == io.EOF {
			return nil
		}
	}
}

// journalDecodeFast decodes a post body in exactly the form journalEncodePost
// writes (field order fixed, no escapes in strings) without encoding/json,
// which makes opening a long file several times faster. Anything else,
// including every line it is unsure of, reports false and goes through
// journalDecodeStrict; FuzzDecodeFast checks both always agree.
func journalDecodeFast(b []byte) (journalRecord, bool) {
	var r journalRecord
	if !utf8.Valid(b) {
		return r, false
	}
	rest, ok := bytes.CutPrefix(b, []byte(`{"seq":`))
	if !ok {
		return r, false
	}
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	if i == 0 || i > 18 || (rest[0] == '0' && i > 1) {
		return r, false
	}
	seq, err := strconv.ParseInt(string(rest[:i]), 10, 64)
	if err != nil {
		return r, false
	}
	r.Seq = seq
	rest = rest[i:]
	// field reads `,"name":"value"` and returns the raw value, which holds
	// no escape, quote or control character.
	field := func(name string) ([]byte, bool) {
		if len(rest) < len(name)+6 || rest[0] != ',' || rest[1] != '"' ||
			string(rest[2:2+len(name)]) != name || string(rest[2+len(name):5+len(name)]) != `":"` {
			return nil, false
		}
		rest = rest[5+len(name):]
		for j, c := range rest {
			switch {
			case c == '"':
				v := rest[:j]
				rest = rest[j+1:]
				return v, true
			case c == '\\' || c < 0x20:
				return nil, false
			}
		}
		return nil, false
	}
	v, ok := field("time")
	if !ok || r.Time.UnmarshalText(v) != nil {
		return r, false
	}
	if bytes.HasPrefix(rest, []byte(`,"provider":`)) {
		// Version 2; a version 1 line has no provider and goes on to paymentId.
		if v, ok = field("provider"); !ok || len(v) == 0 {
			return r, false
		}
		r.Provider = string(v)
	}
	strs := []*string{&r.PaymentID, &r.Kind, &r.Text}
	for k, name := range []string{"paymentId", "kind", "text"} {
		if v, ok = field(name); !ok {
			return r, false
		}
		*strs[k] = string(v)
	}
	start := len(b) - len(rest)
	if v, ok = field("amount"); !ok {
		return r, false
	}
	// The quoted amount, through the same parser encoding/json would use.
	quoted := b[start+len(`,"amount":`) : start+len(`,"amount":`)+len(v)+2]
	if r.Amount.UnmarshalJSON(quoted) != nil {
		return r, false
	}
	strs = []*string{&r.Currency, &r.Reference, &r.Prev}
	for k, name := range []string{"currency", "reference", "prev"} {
		if v, ok = field(name); !ok {
			return r, false
		}
		*strs[k] = string(v)
	}
	return r, string(rest) == "}"
}
