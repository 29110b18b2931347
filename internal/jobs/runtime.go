package jobs

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"

	"github.com/example/usercleanup/internal/cleanup"
)

// Defaults of Config.
const (
	DefaultWorkers       = 4
	DefaultRescueAfter   = 5 * time.Minute
	DefaultScheduleEvery = 30 * time.Second
	DefaultPollInterval  = 200 * time.Millisecond
	// MinRescueAfter keeps the derived step budget and lease sensible.
	MinRescueAfter = 2 * time.Second
)

// Databases the runtime runs on (the store's driver names).
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Config configures a Runtime. DB and Driver are required; DSN is required
// on PostgreSQL (the pgx pool of the workers).
type Config struct {
	// DB is the app's database; the jobs live in its river_* tables, and
	// inserts join the store's transactions on it.
	DB *sql.DB
	// Driver is SQLite or Postgres.
	Driver string
	DSN    string // PostgreSQL URL; never logged
	// Workers is the number of jobs worked at once (default 4).
	Workers int
	// RescueAfter is how long a job may run before River considers it stuck
	// and retries it (River's RescueStuckJobsAfter, default 5 min). It also
	// sets the job timeout (4/5 of it) and, through RunTiming, the run
	// lease (a crashed worker's run resumes after it) and the step budget.
	RescueAfter time.Duration
	// ScheduleEvery is the period of schedule_tick (default 30 s).
	ScheduleEvery time.Duration
	// Retention is how long the data of an uninstalled tenant is kept
	// before retention_tick deletes it (default
	// cleanup.DefaultRetention; see retention.go).
	Retention time.Duration
	// PersonalDataEvery is the personal data reporting cycle (default
	// cleanup.DefaultReportEvery); personal_data_tick looks for due
	// tenants every hour, or this often when it is shorter.
	PersonalDataEvery time.Duration
	// PollInterval is how often workers look for new jobs (default 200 ms,
	// at least 100 ms).
	PollInterval time.Duration
	// InstanceID names this process in run leases (default random).
	InstanceID string
	// EmailAttempts bounds the tries of one warning_emails job (default
	// WarningEmailAttempts).
	EmailAttempts int
	// RetryPolicy spaces the retries of failed jobs (nil: River's
	// default, attempt⁴ seconds; tests shorten it).
	RetryPolicy river.ClientRetryPolicy
	Logger      *slog.Logger
	Now         func() time.Time
	// Observer records every job worked (metrics); nil: none.
	Observer Observer
}

// Stepper executes one bounded step of a run (*cleanup.Engine).
type Stepper interface {
	Step(ctx context.Context, clientKey string, runID int64, owner string) (cleanup.StepResult, error)
}

// Scheduler starts the runs of due scheduled cleanups (*cleanup.Service).
type Scheduler interface {
	ScheduleDue(ctx context.Context, limit int) (int, error)
}

// FollowUpChecker re-checks a finished run's users (*cleanup.Service).
type FollowUpChecker interface {
	CheckFollowUp(ctx context.Context, clientKey string, runID int64) error
}

// StepGate says whether a run's step may go ahead: an uninstalled
// tenant's run stops (proceed false), a disabled tenant's queued run waits
// (wait > 0) (*cleanup.Service).
type StepGate interface {
	StepGate(ctx context.Context, clientKey string, runID int64) (proceed bool, wait time.Duration, err error)
}

// Retainer deletes, in bounded batches until deadline, the data of tenants
// uninstalled longer than keep ago, and returns how many it purged; and
// the runs older than each tenant's "Keep run history and exports for N
// days", returning how many runs it deleted (*cleanup.Service).
type Retainer interface {
	PurgeUninstalled(ctx context.Context, keep time.Duration, deadline time.Time) (int, error)
	PurgeHistory(ctx context.Context, deadline time.Time) (int, error)
}

// RunLister lists runs that are not finished and idle since a time (the
// zero time: all of them), oldest first (*store.CleanupStore).
type RunLister interface {
	UnfinishedRuns(ctx context.Context, idleSince time.Time, limit int) ([]cleanup.RunRef, error)
}

// Work is what the runtime's jobs do. The command builds each part; every
// field is required.
type Work struct {
	Steps     Stepper
	Gate      StepGate
	Schedules Scheduler
	FollowUps FollowUpChecker
	Retention Retainer
	Runs      RunLister
	// Emails sends warning e-mails (warnmail.go); nil without a mail
	// server.
	Emails EmailSender
	// Snapshots takes the licence snapshots of the dashboard (snapshot.go).
	Snapshots SnapshotTaker
	// PersonalData reports stored accounts to Atlassian's personal data
	// reporting API (personaldata.go); nil: none (tests of other jobs).
	PersonalData PersonalDataReporter
}

// RunStepArgs is the run_step job: the next step of one run.
type RunStepArgs struct {
	ClientKey string `json:"clientKey"`
	RunID     int64  `json:"runId"`
}

// Kind implements river.JobArgs.
func (RunStepArgs) Kind() string { return "run_step" }

// ScheduleTickArgs is the periodic schedule_tick job.
type ScheduleTickArgs struct{}

// Kind implements river.JobArgs.
func (ScheduleTickArgs) Kind() string { return "schedule_tick" }

// riverClient is what the runtime uses of a River client, whatever its
// driver's transaction type.
type riverClient interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
}

// Runtime is the background job system: River over the app's database.
// New builds it without starting anything, so the store can be given its
// transactional inserts (EnqueueStep, EnqueueFollowUp) before the domain
// that uses them exists; Start then works jobs with the command's Work.
type Runtime struct {
	cfg      Config
	log      *slog.Logger
	work     Work
	client   riverClient
	insertTx func(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) error
	pool     *pgxpool.Pool
	now      func() time.Time
}

// New builds the runtime; Start starts working jobs.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	r := &Runtime{cfg: cfg, log: log, now: now}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &stepWorker{rt: r}); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &tickWorker{rt: r}); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &followUpWorker{rt: r}); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &retentionWorker{rt: r}); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &emailWorker{rt: r}); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &snapshotWorker{rt: r}); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &snapshotTickWorker{rt: r}); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &personalDataWorker{rt: r}); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	if err := r.newClient(ctx, workers); err != nil {
		return nil, err
	}
	return r, nil
}

// withDefaults checks cfg and fills in the defaults.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.DB == nil {
		return cfg, errors.New("jobs: DB is required")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.RescueAfter <= 0 {
		cfg.RescueAfter = DefaultRescueAfter
	}
	if cfg.RescueAfter < MinRescueAfter {
		return cfg, fmt.Errorf("jobs: rescue period %s is shorter than %s", cfg.RescueAfter, MinRescueAfter)
	}
	if cfg.ScheduleEvery <= 0 {
		cfg.ScheduleEvery = DefaultScheduleEvery
	}
	if cfg.Retention <= 0 {
		cfg.Retention = cleanup.DefaultRetention
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.PersonalDataEvery <= 0 {
		cfg.PersonalDataEvery = cleanup.DefaultReportEvery
	}
	if cfg.EmailAttempts <= 0 {
		cfg.EmailAttempts = WarningEmailAttempts
	}
	cfg.PollInterval = max(cfg.PollInterval, 100*time.Millisecond)
	if cfg.InstanceID == "" {
		var b [6]byte
		if _, err := rand.Read(b[:]); err != nil {
			return cfg, fmt.Errorf("jobs: instance id: %w", err)
		}
		cfg.InstanceID = hex.EncodeToString(b[:])
	}
	return cfg, nil
}

// newClient builds the River client of the configured database and the
// insert function that joins the store's transactions.
func (r *Runtime) newClient(ctx context.Context, workers *river.Workers) error {
	cfg := r.cfg
	rc := &river.Config{
		ID:                   "usercleanup-" + cfg.InstanceID,
		Queues:               map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}},
		Workers:              workers,
		FetchPollInterval:    cfg.PollInterval,
		FetchCooldown:        100 * time.Millisecond,
		RescueStuckJobsAfter: cfg.RescueAfter,
		JobTimeout:           cfg.RescueAfter * 4 / 5,
		RetryPolicy:          cfg.RetryPolicy,
		Logger:               slog.New(quietHandler{next: r.log.Handler()}).With("component", "river"),
		Middleware:           []rivertype.Middleware{&jobMiddleware{obs: cfg.Observer, log: r.log}},
		PeriodicJobs: []*river.PeriodicJob{river.NewPeriodicJob(
			river.PeriodicInterval(cfg.ScheduleEvery),
			func() (river.JobArgs, *river.InsertOpts) { return ScheduleTickArgs{}, nil },
			&river.PeriodicJobOpts{ID: "schedule_tick", RunOnStart: true},
		), retentionJob(), snapshotJob(), personalDataJob(cfg.PersonalDataEvery)},
	}
	switch cfg.Driver {
	case SQLite:
		client, err := river.NewClient(riversqlite.New(cfg.DB), rc)
		if err != nil {
			return fmt.Errorf("jobs: river client: %w", err)
		}
		r.client = client
		r.insertTx = func(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) error {
			_, err := client.InsertTx(ctx, tx, args, opts)
			return err
		}
	case Postgres:
		if cfg.DSN == "" {
			return errors.New("jobs: the PostgreSQL URL is required")
		}
		pool, err := pgxpool.New(ctx, cfg.DSN)
		if err != nil {
			return errors.New("jobs: invalid PostgreSQL URL for the job queue")
		}
		client, err := river.NewClient(riverpgxv5.New(pool), rc)
		if err != nil {
			pool.Close()
			return fmt.Errorf("jobs: river client: %w", err)
		}
		// Inserts inside the store's (database/sql) transactions go
		// through an insert-only client on the store's pool.
		inserter, err := river.NewClient(riverdatabasesql.New(cfg.DB), &river.Config{Workers: workers})
		if err != nil {
			pool.Close()
			return fmt.Errorf("jobs: river insert client: %w", err)
		}
		r.pool, r.client = pool, client
		r.insertTx = func(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) error {
			_, err := inserter.InsertTx(ctx, tx, args, opts)
			return err
		}
	default:
		return fmt.Errorf("jobs: unsupported database %q", cfg.Driver)
	}
	return nil
}

// RunTiming returns the step budget and the run lease that fit the rescue
// period: a lease as long as the rescue period (a crashed worker's run
// resumes after it), a budget of a quarter of it, at most
// cleanup.DefaultStepBudget. The command configures the engine with them.
func (r *Runtime) RunTiming() (stepBudget, lease time.Duration) {
	return min(cleanup.DefaultStepBudget, r.cfg.RescueAfter/4), r.cfg.RescueAfter
}

// EnqueueStep inserts the next step of a run inside tx, the transaction
// that commits the run's progress (the store's EnqueueFunc).
func (r *Runtime) EnqueueStep(ctx context.Context, tx *sql.Tx, clientKey string, runID int64) error {
	return r.insertTx(ctx, tx, RunStepArgs{ClientKey: clientKey, RunID: runID}, nil)
}

// Start starts working jobs with w and enqueues a step for every
// unfinished run (runs a crash interrupted resume now; a duplicate step is
// harmless). It is called once.
func (r *Runtime) Start(ctx context.Context, w Work) error {
	if w.Steps == nil || w.Gate == nil || w.Schedules == nil || w.FollowUps == nil || w.Retention == nil || w.Runs == nil || w.Snapshots == nil {
		return errors.New("jobs: Work needs Steps, Gate, Schedules, FollowUps, Retention, Runs and Snapshots")
	}
	r.work = w
	// River stops hard (cancelling running jobs) when the context given to
	// Start ends; Stop stops gracefully instead, so the signal that ends
	// ctx does not reach the client.
	if err := r.client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("jobs: start: %w", err)
	}
	n, err := r.resume(ctx, time.Time{})
	if err != nil {
		return err
	}
	r.log.InfoContext(ctx, "job runtime started", "instance", r.cfg.InstanceID, "workers", r.cfg.Workers,
		"rescue_after", r.cfg.RescueAfter.String(), "resumed_runs", n)
	return nil
}

// resume enqueues a step for unfinished runs idle since idleSince (zero:
// all of them).
func (r *Runtime) resume(ctx context.Context, idleSince time.Time) (int, error) {
	runs, err := r.work.Runs.UnfinishedRuns(ctx, idleSince, 1000)
	if err != nil {
		return 0, err
	}
	for _, ref := range runs {
		if _, err := r.client.Insert(ctx, RunStepArgs{ClientKey: ref.ClientKey, RunID: ref.ID}, nil); err != nil {
			return 0, fmt.Errorf("jobs: resume run %d: %w", ref.ID, err)
		}
	}
	return len(runs), nil
}

// Stop stops fetching jobs and lets the running ones finish for half of
// the time ctx leaves (a step is bounded by the step budget, so most
// finish); then it cancels those still running: a cancelled step releases
// its run's lease and River hands its job back (retryable), so another
// instance, or this one after a restart, continues the run at once. It
// waits for them until ctx ends.
func (r *Runtime) Stop(ctx context.Context) error {
	err := r.stop(ctx)
	if r.pool != nil {
		r.pool.Close()
	}
	if err != nil {
		return fmt.Errorf("jobs: stop: %w", err)
	}
	return nil
}

func (r *Runtime) stop(ctx context.Context) error {
	soft := ctx
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		soft, cancel = context.WithTimeout(ctx, time.Until(dl)/2) // the real clock, never Config.Now
		defer cancel()
	}
	err := r.client.Stop(soft)
	if err == nil || ctx.Err() != nil {
		return err
	}
	r.log.InfoContext(ctx, "stopping background jobs: cancelling the job steps still running; their jobs are handed back")
	return r.client.StopAndCancel(ctx)
}

// stepWorker works run_step.
type stepWorker struct {
	river.WorkerDefaults[RunStepArgs]
	rt *Runtime
}

func (w *stepWorker) Work(ctx context.Context, job *river.Job[RunStepArgs]) error {
	// An uninstalled tenant's run stops; a disabled tenant's queued run
	// waits (lifecycle.go of the cleanup domain).
	if proceed, err := w.rt.gate(ctx, job.Args.ClientKey, job.Args.RunID); err != nil || !proceed {
		return err
	}
	owner := fmt.Sprintf("%s/job-%d/attempt-%d", w.rt.cfg.InstanceID, job.ID, job.Attempt)
	res, err := w.rt.work.Steps.Step(ctx, job.Args.ClientKey, job.Args.RunID, owner)
	if err != nil {
		return err
	}
	if res.RetryAfter > 0 {
		return river.JobSnooze(res.RetryAfter)
	}
	return nil
}

// gate applies the tenant's lifecycle to a job of a run: proceed, or an
// error that snoozes the job while the tenant is disabled; false without
// an error when the run stopped (uninstalled).
func (r *Runtime) gate(ctx context.Context, clientKey string, runID int64) (bool, error) {
	proceed, wait, err := r.work.Gate.StepGate(ctx, clientKey, runID)
	switch {
	case err != nil:
		return false, err
	case wait > 0:
		return false, river.JobSnooze(wait)
	}
	return proceed, nil
}

// tickWorker works schedule_tick.
type tickWorker struct {
	river.WorkerDefaults[ScheduleTickArgs]
	rt *Runtime
}

func (w *tickWorker) Work(ctx context.Context, job *river.Job[ScheduleTickArgs]) error {
	started, err := w.rt.work.Schedules.ScheduleDue(ctx, 100)
	if err != nil {
		return fmt.Errorf("schedule due cleanups: %w", err)
	}
	resumed, err := w.rt.resume(ctx, w.rt.now().Add(-w.rt.cfg.RescueAfter))
	if err != nil {
		return err
	}
	if started > 0 || resumed > 0 {
		w.rt.log.InfoContext(ctx, "schedule tick", "started_runs", started, "resumed_runs", resumed)
	}
	return nil
}
