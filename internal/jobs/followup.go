package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/example/usercleanup/internal/cleanup"
)

// FollowUpArgs is the run_follow_up job: the re-check of a finished run's
// removed and exported users after the identity provider's next
// provisioning cycle. FinishRun inserts it, scheduled, in the transaction
// that finishes the run.
type FollowUpArgs struct {
	ClientKey string `json:"clientKey"`
	RunID     int64  `json:"runId"`
}

// Kind implements river.JobArgs.
func (FollowUpArgs) Kind() string { return "run_follow_up" }

// InsertOpts makes one follow-up per run: a second insert for the same run
// while one is pending is skipped.
func (FollowUpArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// EnqueueFollowUp inserts a run's follow-up job, scheduled at the given
// time, inside tx, the transaction that finishes the run (the store's
// FollowUpFunc).
func (r *Runtime) EnqueueFollowUp(ctx context.Context, tx *sql.Tx, clientKey string, runID int64, at time.Time) error {
	return r.insertTx(ctx, tx, FollowUpArgs{ClientKey: clientKey, RunID: runID}, &river.InsertOpts{ScheduledAt: at})
}

// followUpWorker works run_follow_up.
type followUpWorker struct {
	river.WorkerDefaults[FollowUpArgs]
	rt *Runtime
}

func (w *followUpWorker) Work(ctx context.Context, job *river.Job[FollowUpArgs]) error {
	err := w.rt.work.FollowUps.CheckFollowUp(ctx, job.Args.ClientKey, job.Args.RunID)
	switch {
	case err == nil:
		return nil
	case cleanup.KindOf(err) == cleanup.KindNotFound:
		// The run (or the installation) is gone: nothing to check.
		return river.JobCancel(fmt.Errorf("run %d follow-up: %w", job.Args.RunID, err))
	case cleanup.KindOf(err) == cleanup.KindUnavailable && cleanup.RetryAfterOf(err) > 0:
		return river.JobSnooze(cleanup.RetryAfterOf(err))
	}
	return fmt.Errorf("run %d follow-up: %w", job.Args.RunID, err)
}
