package jobs

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/example/usercleanup/internal/cleanup"
)

// WarningEmailAttempts bounds the tries of one batch of warning e-mails
// (the default of Config.EmailAttempts): with River's backoff (attempt⁴
// seconds) the last comes after about 15 minutes; e-mails still deferred
// then are recorded as failed.
const WarningEmailAttempts = 5

// WarningEmailsArgs is the warning_emails job: one batch of a run's
// warning e-mails (warning ids FromID to ToID). Round numbers the times
// the run's e-mails were queued again after their jobs ended with
// e-mails left (cleanup's notify phase): a new round is a new job.
type WarningEmailsArgs struct {
	ClientKey string `json:"clientKey"`
	RunID     int64  `json:"runId"`
	FromID    int64  `json:"fromId"`
	ToID      int64  `json:"toId"`
	Round     int    `json:"round,omitempty"`
}

// Kind implements river.JobArgs.
func (WarningEmailsArgs) Kind() string { return "warning_emails" }

// InsertOpts: one job per batch and round, WarningEmailAttempts tries
// (Config.EmailAttempts overrides them).
func (WarningEmailsArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: WarningEmailAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// EmailSender sends one batch of a run's warning e-mails
// (*cleanup.Notifier); an error asks for a retry.
type EmailSender interface {
	SendBatch(ctx context.Context, clientKey string, runID, fromID, toID int64, lastAttempt bool) error
}

// EnqueueWarningEmails inserts the job of one batch inside tx (the
// store's MailFunc).
func (r *Runtime) EnqueueWarningEmails(ctx context.Context, tx *sql.Tx, clientKey string, runID, fromID, toID int64, round int) error {
	opts := WarningEmailsArgs{}.InsertOpts()
	opts.MaxAttempts = r.cfg.EmailAttempts
	return r.insertTx(ctx, tx, WarningEmailsArgs{ClientKey: clientKey, RunID: runID, FromID: fromID, ToID: toID, Round: round}, &opts)
}

// SendingJobs implements cleanup.EmailJobs: whether a warning_emails job
// of the run is available, pending, scheduled, retryable or running.
func (r *Runtime) SendingJobs(ctx context.Context, clientKey string, runID int64) (bool, error) {
	p := river.NewJobListParams().Kinds(WarningEmailsArgs{}.Kind()).
		States(rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateScheduled,
			rivertype.JobStateRetryable, rivertype.JobStateRunning).
		// CAST works alike on both databases (->> gives text on
		// PostgreSQL, a number on SQLite).
		Where("CAST(args ->> 'runId' AS BIGINT) = @run_id AND args ->> 'clientKey' = @client_key",
			river.NamedArgs{"run_id": runID, "client_key": clientKey}).
		First(1)
	res, err := r.client.JobList(ctx, p)
	if err != nil {
		return false, fmt.Errorf("jobs: list the sending jobs of run %d: %w", runID, err)
	}
	return len(res.Jobs) > 0, nil
}

// emailWorker works warning_emails.
type emailWorker struct {
	river.WorkerDefaults[WarningEmailsArgs]
	rt *Runtime
}

func (w *emailWorker) Work(ctx context.Context, job *river.Job[WarningEmailsArgs]) error {
	a := job.Args
	if w.rt.work.Emails == nil {
		return river.JobCancel(fmt.Errorf("run %d: no mail server configured", a.RunID))
	}
	// An uninstalled tenant's e-mails are not sent (its run stopped); a
	// disabled one's wait.
	proceed, err := w.rt.gate(ctx, a.ClientKey, a.RunID)
	if err != nil {
		return err
	}
	if !proceed {
		return river.JobCancel(fmt.Errorf("run %d stopped: its warning e-mails are not sent", a.RunID))
	}
	last := job.Attempt >= job.MaxAttempts
	err = w.rt.work.Emails.SendBatch(ctx, a.ClientKey, a.RunID, a.FromID, a.ToID, last)
	switch {
	case err == nil:
		return nil
	case cleanup.KindOf(err) == cleanup.KindUnavailable && cleanup.RetryAfterOf(err) > 0:
		// Paused before the job's timeout: go on without using an attempt.
		return river.JobSnooze(cleanup.RetryAfterOf(err))
	}
	return fmt.Errorf("run %d warning e-mails %d-%d: %w", a.RunID, a.FromID, a.ToID, err)
}
