package receipt

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
)

// The index ("<path>.index") answers "is (provider, reference) in a sealed
// file, and where" without holding the sealed posts in memory: that is what
// keeps opening the journal flat in history. It is derived data: it is
// rebuilt from the sealed files when it is missing, damaged or does not end
// where they end, so it is written with temp file + rename (not append-only)
// and never trusted over the files.
//
// Layout, integers big-endian:
//
//	head   "posdjix1" | files u32 | entries u64 | lastSeq i64 | lastHash [32]
//	       | firstSeq [files]i64 | fence [blocks]u64 | blockCRC [blocks]u32 | headCRC u32
//	body   entries of 16 bytes: fp u64 | file u32 | off u32, sorted, in blocks of 256
//
// files: sealed files 1..files are covered; lastSeq and lastHash are where
// file "files" ends the chain (checked against that file's last line at
// open). fp is the first 8 bytes of SHA-256(provider NUL reference); off is
// the byte offset of the post's line in its file. fence is the fp of each
// block's first entry and blockCRC its CRC32C, so a lookup reads one or two
// 4 KiB blocks and checks them, and opening reads only the head (about 12 B
// per 256 posts, 50 KiB at a million posts).

const (
	journalIndexMagic = "posdjix1"
	journalIndexBlock = 256 // entries per block
	journalEntrySize  = 16
	journalIndexFixed = 8 + 4 + 8 + 8 + 32
)

// journalIndexEntry locates one post of a sealed file.
type journalIndexEntry struct {
	fp   uint64
	file uint32
	off  uint32
}

func journalEntryCmp(a, b journalIndexEntry) int {
	return cmp.Or(cmp.Compare(a.fp, b.fp), cmp.Compare(a.file, b.file), cmp.Compare(a.off, b.off))
}

// journalRefKey is the in-memory key of (provider, reference); NUL cannot
// occur in a provider, so the key is unambiguous.
func journalRefKey(provider, reference string) string { return provider + "\x00" + reference }

// journalFingerprint is the index's 64-bit hash of (provider, reference).
func journalFingerprint(provider, reference string) uint64 {
	h := sha256.Sum256([]byte(journalRefKey(provider, reference)))
	return binary.BigEndian.Uint64(h[:8])
}

// journalIndex is the open index. The zero value covers no file.
type journalIndex struct {
	f        *os.File
	files    int
	entries  int64
	lastSeq  int64
	lastHash journalHash
	firstSeq []int64 // firstSeq[k-1]: seq of file k's first post (lastSeq+1 of the file before when empty)
	fence    []uint64
	crcs     []uint32
	base     int64 // offset of the first entry
}

func journalIndexHeadLen(files int, entries int64) int64 {
	blocks := (entries + journalIndexBlock - 1) / journalIndexBlock
	return journalIndexFixed + int64(files)*8 + blocks*12 + 4
}

func (x *journalIndex) close() {
	if x != nil && x.f != nil {
		x.f.Close()
		x.f = nil
	}
}

// journalLoadIndex opens and checks the index head. It returns (nil, nil)
// when there is no index file.
func journalLoadIndex(path string) (*journalIndex, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open index: %w", err)
	}
	x, err := journalReadIndexHead(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("index %s: %w", path, err)
	}
	x.f = f
	return x, nil
}

func journalReadIndexHead(f *os.File) (*journalIndex, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(io.NewSectionReader(f, 0, st.Size()))
	crc := crc32.New(journalCastagnoli)
	r := io.TeeReader(br, crc)
	fixed := make([]byte, journalIndexFixed)
	if _, err := io.ReadFull(r, fixed); err != nil {
		return nil, fmt.Errorf("head: %w", err)
	}
	if string(fixed[:8]) != journalIndexMagic {
		return nil, errors.New("not an index of this version")
	}
	x := &journalIndex{
		files:   int(binary.BigEndian.Uint32(fixed[8:])),
		entries: int64(binary.BigEndian.Uint64(fixed[12:])),
		lastSeq: int64(binary.BigEndian.Uint64(fixed[20:])),
	}
	copy(x.lastHash[:], fixed[28:60])
	if x.entries < 0 || x.entries > st.Size()/journalEntrySize || int64(x.files) > st.Size()/8 {
		return nil, errors.New("head: sizes do not fit the file")
	}
	x.base = journalIndexHeadLen(x.files, x.entries)
	if st.Size() != x.base+x.entries*journalEntrySize {
		return nil, fmt.Errorf("size %d, want %d", st.Size(), x.base+x.entries*journalEntrySize)
	}
	blocks := (x.entries + journalIndexBlock - 1) / journalIndexBlock
	buf := make([]byte, 8)
	x.firstSeq = make([]int64, x.files)
	for i := range x.firstSeq {
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		x.firstSeq[i] = int64(binary.BigEndian.Uint64(buf))
	}
	x.fence = make([]uint64, blocks)
	for i := range x.fence {
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		x.fence[i] = binary.BigEndian.Uint64(buf)
	}
	x.crcs = make([]uint32, blocks)
	for i := range x.crcs {
		if _, err := io.ReadFull(r, buf[:4]); err != nil {
			return nil, err
		}
		x.crcs[i] = binary.BigEndian.Uint32(buf)
	}
	want := crc.Sum32()
	if _, err := io.ReadFull(br, buf[:4]); err != nil {
		return nil, err
	}
	if binary.BigEndian.Uint32(buf) != want {
		return nil, errors.New("head: crc mismatch")
	}
	return x, nil
}

// block reads and checks block b.
func (x *journalIndex) block(b int, buf []byte) ([]journalIndexEntry, error) {
	if x.f == nil {
		return nil, ErrClosed
	}
	n := min(int64(journalIndexBlock), x.entries-int64(b)*journalIndexBlock)
	raw := buf[:n*journalEntrySize]
	if _, err := x.f.ReadAt(raw, x.base+int64(b)*journalIndexBlock*journalEntrySize); err != nil {
		return nil, fmt.Errorf("read index block %d: %w", b, err)
	}
	if crc32.Checksum(raw, journalCastagnoli) != x.crcs[b] {
		return nil, fmt.Errorf("index block %d: crc mismatch: %w", b, ErrCorrupt)
	}
	out := make([]journalIndexEntry, n)
	for i := range out {
		e := raw[i*journalEntrySize:]
		out[i] = journalIndexEntry{fp: binary.BigEndian.Uint64(e), file: binary.BigEndian.Uint32(e[8:]), off: binary.BigEndian.Uint32(e[12:])}
	}
	return out, nil
}

// lookup returns the entries whose fingerprint is fp (almost always zero or one).
func (x *journalIndex) lookup(fp uint64) ([]journalIndexEntry, error) {
	if x == nil || x.entries == 0 {
		return nil, nil
	}
	// The last block starting at or below fp; equal fingerprints may begin
	// in the blocks before it.
	b := sort.Search(len(x.fence), func(i int) bool { return x.fence[i] > fp }) - 1
	if b < 0 {
		return nil, nil
	}
	for b > 0 && x.fence[b] == fp {
		b--
	}
	buf := make([]byte, journalIndexBlock*journalEntrySize)
	var out []journalIndexEntry
	for ; b < len(x.fence); b++ {
		es, err := x.block(b, buf)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			if e.fp == fp {
				out = append(out, e)
			} else if e.fp > fp {
				return out, nil
			}
		}
	}
	return out, nil
}

// journalWriteIndex writes a new index at path covering files 1..files:
// the entries of old (nil: none) merged with add, which covers the files
// after old's. It replaces the file atomically and durably (temp, fsync,
// rename, directory fsync) and returns the new index, open.
func journalWriteIndex(path string, old *journalIndex, add []journalIndexEntry, firstSeq []int64, lastSeq int64, lastHash journalHash) (*journalIndex, error) {
	slices.SortFunc(add, journalEntryCmp)
	var oldN int64
	if old != nil {
		oldN = old.entries
	}
	x := &journalIndex{files: len(firstSeq), entries: oldN + int64(len(add)), lastSeq: lastSeq, lastHash: lastHash, firstSeq: firstSeq}
	x.base = journalIndexHeadLen(x.files, x.entries)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("write index: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	w := bufio.NewWriterSize(io.NewOffsetWriter(f, x.base), 64<<10)
	blockBuf := make([]byte, 0, journalIndexBlock*journalEntrySize)
	var n int64
	put := func(e journalIndexEntry) error {
		if n%journalIndexBlock == 0 {
			x.fence = append(x.fence, e.fp)
		}
		blockBuf = binary.BigEndian.AppendUint64(blockBuf, e.fp)
		blockBuf = binary.BigEndian.AppendUint32(blockBuf, e.file)
		blockBuf = binary.BigEndian.AppendUint32(blockBuf, e.off)
		n++
		if n%journalIndexBlock == 0 || n == x.entries {
			x.crcs = append(x.crcs, crc32.Checksum(blockBuf, journalCastagnoli))
			if _, err := w.Write(blockBuf); err != nil {
				return err
			}
			blockBuf = blockBuf[:0]
		}
		return nil
	}
	// Merge the old entries (read block by block, each checked) with add.
	buf := make([]byte, journalIndexBlock*journalEntrySize)
	ai := 0
	for b := 0; old != nil && b < len(old.fence); b++ {
		es, err := old.block(b, buf)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			for ai < len(add) && journalEntryCmp(add[ai], e) < 0 {
				if err := put(add[ai]); err != nil {
					return nil, fmt.Errorf("write index: %w", err)
				}
				ai++
			}
			if err := put(e); err != nil {
				return nil, fmt.Errorf("write index: %w", err)
			}
		}
	}
	for ; ai < len(add); ai++ {
		if err := put(add[ai]); err != nil {
			return nil, fmt.Errorf("write index: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		return nil, fmt.Errorf("write index: %w", err)
	}
	head := make([]byte, 0, x.base)
	head = append(head, journalIndexMagic...)
	head = binary.BigEndian.AppendUint32(head, uint32(x.files))
	head = binary.BigEndian.AppendUint64(head, uint64(x.entries))
	head = binary.BigEndian.AppendUint64(head, uint64(x.lastSeq))
	head = append(head, x.lastHash[:]...)
	for _, s := range x.firstSeq {
		head = binary.BigEndian.AppendUint64(head, uint64(s))
	}
	for _, fp := range x.fence {
		head = binary.BigEndian.AppendUint64(head, fp)
	}
	for _, c := range x.crcs {
		head = binary.BigEndian.AppendUint32(head, c)
	}
	head = binary.BigEndian.AppendUint32(head, crc32.Checksum(head, journalCastagnoli))
	if int64(len(head)) != x.base {
		return nil, fmt.Errorf("write index: head of %d bytes, want %d", len(head), x.base)
	}
	if _, err := f.WriteAt(head, 0); err != nil {
		return nil, fmt.Errorf("write index: %w", err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("sync index: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("rename index: %w", err)
	}
	ok = true
	if err := journalSyncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, err
	}
	x.f = f
	return x, nil
}

// journalReadLineAt reads the line starting at off in the file name
// (without its "\n").
func journalReadLineAt(name string, off int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, journalMaxLine+1)
	n, err := f.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	i := bytes.IndexByte(buf[:n], '\n')
	if i < 0 {
		return nil, fmt.Errorf("%s: no line at offset %d: %w", name, off, ErrCorrupt)
	}
	return buf[:i], nil
}
