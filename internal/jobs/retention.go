package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"
)

// Retention job defaults.
const (
	// RetentionEvery is the period of retention_tick.
	RetentionEvery = time.Hour
	// retentionBudget bounds one retention_tick: the rest waits for the
	// next one.
	retentionBudget = 2 * time.Minute
)

// RetentionTickArgs is the periodic retention_tick job: it applies
// "uninstalled" again to every uninstalled tenant (credentials erased,
// runs stopped: in case an uninstall's clean-up was interrupted), deletes,
// in bounded batches, the data of tenants uninstalled longer than
// Config.Retention ago (Work.Retention, cleanup.Service.PurgeUninstalled),
// then the runs finished longer ago than each tenant's "Keep run history
// and exports for N days" (cleanup.Service.PurgeHistory).
type RetentionTickArgs struct{}

// Kind implements river.JobArgs.
func (RetentionTickArgs) Kind() string { return "retention_tick" }

func retentionJob() *river.PeriodicJob {
	return river.NewPeriodicJob(
		river.PeriodicInterval(RetentionEvery),
		func() (river.JobArgs, *river.InsertOpts) { return RetentionTickArgs{}, nil },
		&river.PeriodicJobOpts{ID: "retention_tick", RunOnStart: true},
	)
}

// retentionWorker works retention_tick.
type retentionWorker struct {
	river.WorkerDefaults[RetentionTickArgs]
	rt *Runtime
}

func (w *retentionWorker) Work(ctx context.Context, _ *river.Job[RetentionTickArgs]) error {
	return w.rt.Retain(ctx)
}

// Retain runs one retention pass now (what retention_tick does).
func (r *Runtime) Retain(ctx context.Context) error {
	purged, err := r.work.Retention.PurgeUninstalled(ctx, r.cfg.Retention, r.now().Add(retentionBudget))
	if err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	runs, err := r.work.Retention.PurgeHistory(ctx, r.now().Add(retentionBudget))
	if err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	if purged > 0 || runs > 0 {
		r.log.InfoContext(ctx, "retention tick", "purged_tenants", purged, "deleted_runs", runs)
	}
	return nil
}
