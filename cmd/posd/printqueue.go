package main

import (
	"context"

	"github.com/posd/posd/internal/printer"
	"github.com/posd/posd/internal/store"
)

// newPrintQueue is the print worker's durable job queue over the database's
// print_jobs table. A job that was started and not confirmed (crash, unplug
// mid-print) comes back marked Copy, so a second print says COPY.
func newPrintQueue(db *store.DB) printer.JobQueue { return printQueue{db: db} }

type printQueue struct{ db *store.DB }

func (q printQueue) NextJob(ctx context.Context) (printer.Job, bool, error) {
	j, ok, err := q.db.NextPrintJob(ctx)
	if err != nil || !ok {
		return printer.Job{}, ok, err
	}
	return printer.Job{ID: j.ID, PaymentID: j.PaymentID, Kind: j.Kind, Payload: j.Payload,
		Copy: j.Copy || j.Started, CreatedAt: j.CreatedAt, Attempts: j.Attempts}, true, nil
}

func (q printQueue) JobStarted(ctx context.Context, id int64) error {
	return q.db.PrintJobStarted(ctx, id)
}
func (q printQueue) JobPrinted(ctx context.Context, id int64) error {
	return q.db.PrintJobPrinted(ctx, id)
}
func (q printQueue) JobFailed(ctx context.Context, id int64, reason string) error {
	return q.db.PrintJobFailed(ctx, id, reason)
}
func (q printQueue) JobDropped(ctx context.Context, id int64, reason string) error {
	return q.db.PrintJobDropped(ctx, id, reason)
}
func (q printQueue) PendingJobs(ctx context.Context) (int, error) { return q.db.PendingPrintJobs(ctx) }
