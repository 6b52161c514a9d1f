package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/store"
)

// A job that was started and not confirmed (crash, unplug mid-print) comes
// back marked Copy, so that a second print says COPY; a printed job is gone.
func TestPrintQueueStartedJobComesBackAsCopy(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "posd.db"), store.Options{})
	require.NoError(t, err)
	defer db.Close()
	_, err = db.EnqueuePrintJob(ctx, "", "receipt", []byte(`{}`), false)
	require.NoError(t, err)
	q := newPrintQueue(db)
	job, ok, err := q.NextJob(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	assert.False(t, job.Copy)
	require.NoError(t, q.JobStarted(ctx, job.ID))
	require.NoError(t, q.JobFailed(ctx, job.ID, "unplugged"))
	again, ok, err := q.NextJob(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	assert.True(t, again.Copy)
	require.NoError(t, q.JobPrinted(ctx, job.ID))
	n, err := q.PendingJobs(ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, n)
}
