// Package receipt holds the two records of a sale that leave SQLite: the
// receipt file (an append-only, self-checking, hash-chained journal of
// transaction posts) and the receipt document model (what a printed receipt
// says). It is a leaf: no device I/O, no SQL, no provider.
package receipt
