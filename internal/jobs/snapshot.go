package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/example/usercleanup/internal/cleanup"
)

// SnapshotEvery is the period of snapshot_tick, which queues the daily
// licence snapshot of every tenant whose last one is a day old
// (cleanup.SnapshotEvery).
const SnapshotEvery = time.Hour

// SnapshotTaker takes and schedules the licence snapshots
// (*cleanup.Snapshots).
type SnapshotTaker interface {
	Take(ctx context.Context, clientKey string, snapshotID int64) error
	ScheduleDue(ctx context.Context, limit int) (int, error)
}

// SnapshotArgs is the snapshot job: read one tenant's organization into a
// snapshot. The store inserts it in the transaction that queues the
// snapshot.
type SnapshotArgs struct {
	ClientKey  string `json:"clientKey"`
	SnapshotID int64  `json:"snapshotId"`
}

// Kind implements river.JobArgs.
func (SnapshotArgs) Kind() string { return "snapshot" }

// SnapshotTickArgs is the periodic snapshot_tick job.
type SnapshotTickArgs struct{}

// Kind implements river.JobArgs.
func (SnapshotTickArgs) Kind() string { return "snapshot_tick" }

func snapshotJob() *river.PeriodicJob {
	return river.NewPeriodicJob(
		river.PeriodicInterval(SnapshotEvery),
		func() (river.JobArgs, *river.InsertOpts) { return SnapshotTickArgs{}, nil },
		&river.PeriodicJobOpts{ID: "snapshot_tick", RunOnStart: true},
	)
}

// EnqueueSnapshot inserts a snapshot's job inside tx, the transaction that
// queues the snapshot (the store's SnapshotEnqueueFunc).
func (r *Runtime) EnqueueSnapshot(ctx context.Context, tx *sql.Tx, clientKey string, snapshotID int64) error {
	return r.insertTx(ctx, tx, SnapshotArgs{ClientKey: clientKey, SnapshotID: snapshotID}, nil)
}

// snapshotWorker works snapshot.
type snapshotWorker struct {
	river.WorkerDefaults[SnapshotArgs]
	rt *Runtime
}

func (w *snapshotWorker) Work(ctx context.Context, job *river.Job[SnapshotArgs]) error {
	err := w.rt.work.Snapshots.Take(ctx, job.Args.ClientKey, job.Args.SnapshotID)
	if cleanup.KindOf(err) == cleanup.KindUnavailable && cleanup.RetryAfterOf(err) > 0 {
		return river.JobSnooze(cleanup.RetryAfterOf(err))
	}
	if err != nil {
		return fmt.Errorf("snapshot %d: %w", job.Args.SnapshotID, err)
	}
	return nil
}

// snapshotTickWorker works snapshot_tick.
type snapshotTickWorker struct {
	river.WorkerDefaults[SnapshotTickArgs]
	rt *Runtime
}

func (w *snapshotTickWorker) Work(ctx context.Context, _ *river.Job[SnapshotTickArgs]) error {
	n, err := w.rt.work.Snapshots.ScheduleDue(ctx, 100)
	if err != nil {
		return fmt.Errorf("schedule snapshots: %w", err)
	}
	if n > 0 {
		w.rt.log.InfoContext(ctx, "snapshot tick", "queued_snapshots", n)
	}
	return nil
}
