// Package printer speaks ESC/POS to a receipt printer: encoder, code pages,
// status decoding, transports and the print worker.
package printer

import (
	"context"
	"time"
)

// Status, Job and JobQueue are what the register and cmd/posd's print
// queue see of the printer.

// Status is what /v1/status shows of the printer.
type Status struct {
	Device    string `json:"device"`
	Online    bool   `json:"online"`
	Paper     string `json:"paper"` // "ok", "near_end", "out"
	CoverOpen bool   `json:"coverOpen"`
	Queued    int    `json:"queued"`
	LastError string `json:"lastError,omitempty"`
}

// Job is one durable print job.
type Job struct {
	ID        int64
	PaymentID string // "" for jobs not tied to a payment
	Kind      string // "receipt" (Payload is a JSON receipt.Document) or "drawer"
	Payload   []byte
	Copy      bool // print marked COPY
	CreatedAt time.Time
	Attempts  int
}

// JobQueue is the durable queue the worker takes jobs from (implemented over SQLite by register's adapter).
type JobQueue interface {
	// NextJob returns the oldest pending job; ok is false when there is none.
	NextJob(ctx context.Context) (job Job, ok bool, err error)
	// JobStarted records that bytes are about to be sent (so a crash or unplug mid-job reprints as COPY).
	JobStarted(ctx context.Context, id int64) error
	// JobPrinted marks the job done; it is never printed again.
	JobPrinted(ctx context.Context, id int64) error
	// JobFailed records a failed attempt; the job stays pending.
	JobFailed(ctx context.Context, id int64, reason string) error
	// JobDropped marks a job too old to print; it is never printed.
	JobDropped(ctx context.Context, id int64, reason string) error
	// PendingJobs counts jobs not yet printed or dropped.
	PendingJobs(ctx context.Context) (int, error)
}
