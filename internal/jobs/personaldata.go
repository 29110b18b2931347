package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"
)

// personalDataBudget bounds one personal_data_tick: the tenants still due
// wait for the next tick.
const personalDataBudget = 10 * time.Minute

// PersonalDataReporter reports the stored accounts of every tenant whose
// report is due, until deadline, and returns how many tenants it reported
// (*cleanup.PersonalData).
type PersonalDataReporter interface {
	ReportDue(ctx context.Context, deadline time.Time) (int, error)
}

// PersonalDataTickArgs is the periodic personal_data_tick job: it reports
// the accounts of the tenants whose reporting cycle is due to Atlassian's
// personal data reporting API and erases or refreshes them as it answers
// (cleanup.PersonalData). The cycle of each tenant is kept in the
// database, so restarts and leader changes neither skip nor repeat a
// report; the tick only looks for due tenants, every hour (or every
// Config.PersonalDataEvery when that is shorter).
type PersonalDataTickArgs struct{}

// Kind implements river.JobArgs.
func (PersonalDataTickArgs) Kind() string { return "personal_data_tick" }

func personalDataJob(every time.Duration) *river.PeriodicJob {
	return river.NewPeriodicJob(
		river.PeriodicInterval(min(time.Hour, every)),
		func() (river.JobArgs, *river.InsertOpts) { return PersonalDataTickArgs{}, nil },
		&river.PeriodicJobOpts{ID: "personal_data_tick", RunOnStart: true},
	)
}

// personalDataWorker works personal_data_tick.
type personalDataWorker struct {
	river.WorkerDefaults[PersonalDataTickArgs]
	rt *Runtime
}

func (w *personalDataWorker) Work(ctx context.Context, _ *river.Job[PersonalDataTickArgs]) error {
	return w.rt.ReportPersonalData(ctx)
}

// ReportPersonalData runs one personal_data_tick now.
func (r *Runtime) ReportPersonalData(ctx context.Context) error {
	if r.work.PersonalData == nil {
		return nil
	}
	// The job timeout (4/5 of RescueAfter) bounds the tick too.
	budget := min(personalDataBudget, r.cfg.RescueAfter*3/5)
	n, err := r.work.PersonalData.ReportDue(ctx, r.now().Add(budget))
	if err != nil {
		return fmt.Errorf("personal data: %w", err)
	}
	if n > 0 {
		r.log.InfoContext(ctx, "personal data tick", "reported_tenants", n)
	}
	return nil
}
