// Package e2e runs posd and paysim as built binaries, as separate processes,
// and checks what only a whole system can show: a posd killed with SIGKILL in
// the middle of a payment resumes polling within 2 s of its restart and
// records the payment exactly once.
package e2e
