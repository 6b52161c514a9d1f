// Package receipt holds the two records of a sale that leave SQLite: the
// receipt file (an append-only, self-checking, hash-chained journal of
// transaction posts) and the receipt document model (what a printed receipt
// says). It is a leaf: no device I/O, no SQL, no provider.
//
// The receipt file, format version 2, in short (the details are in
// journal_line.go, journal_series.go and journal_index.go):
//
//   - One post per line: a JSON object, a space, its CRC32C in hex. Each
//     post carries its provider ("seqr", "resurs", "payson") and is keyed by
//     (provider, reference), unique in the whole history; its "prev" is the
//     SHA-256 of the line before, so the lines form one chain.
//   - The file rotates (one per day by default, or per month): file 1 is the
//     configured path, files 2, 3 ... are "<path>.NNNNNN-<period>". The header
//     of each file after the first carries the last seq and the hash of the
//     last line of the file before, so the chain runs on across files.
//   - Version 1 files (one file, no provider) are read as SEQR's, never
//     written again: the first open seals one as file 1 and goes on in file 2.
//   - "<path>.index" lets the journal find a post of a sealed file without
//     holding history in memory; it is derived, checked, and rebuilt from the
//     files when it does not match them.
package receipt
