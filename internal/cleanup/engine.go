package cleanup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// Engine defaults.
const (
	DefaultStepBudget  = 20 * time.Second
	DefaultLeaseFor    = 2 * time.Minute
	DefaultApplyBatch  = 50
	DefaultConcurrency = 4
	// unavailableRetry is the wait after a remote was unavailable and did
	// not say for how long.
	unavailableRetry = 15 * time.Second
)

// EngineConfig configures an Engine. Store and Connector are required.
type EngineConfig struct {
	Store     RunStore
	Connector Connector
	Exporter  Exporter // nil: no exports
	// Warnings stores the warnings of cleanups with warnings (nil: such
	// a run fails with a message).
	Warnings WarningStore
	// EmailJobs tells the notify phase whether the sending jobs of a run
	// are still at work (nil: it waits for the e-mails without asking;
	// engine_warn.go).
	EmailJobs EmailJobs
	Logger    *slog.Logger
	Now       func() time.Time
	// StepBudget bounds the work of one step (default DefaultStepBudget):
	// the step commits and ends at the first commit after it.
	StepBudget time.Duration
	// LeaseFor is how long a step's lease lasts; every commit renews it
	// (default DefaultLeaseFor). It must exceed the time between commits.
	LeaseFor time.Duration
	// PageSize is the user search page size (0: the API maximum).
	PageSize int
	// EvalChains bounds the user-search cursor chains evaluation follows
	// at once (default DefaultEvalChains; see engine_chains.go). 1 reads
	// one chain, as a single search would.
	EvalChains int
	// ApplyBatch is how many rows the apply phase marks and acts on per
	// commit (default DefaultApplyBatch).
	ApplyBatch int
	// Concurrency bounds the actions in flight (default DefaultConcurrency).
	Concurrency int
	// Observer learns of every run the engine finishes (metrics); nil:
	// none.
	Observer RunObserver
}

// RunObserver learns of every run the engine finishes, with its final
// status and counts.
type RunObserver interface {
	RunFinished(ctx context.Context, r Run)
}

// runReader reads a run back (the store's CleanupStore does): with it the
// finish line and the observer get the final counts.
type runReader interface {
	Run(ctx context.Context, clientKey string, id int64) (Run, error)
}

// finished logs the one info line of a finished run, with its counts,
// and tells the observer. fallback is used when the store cannot read the
// run back.
func (e *Engine) finished(ctx context.Context, fallback Run) {
	r := fallback
	if rr, ok := e.cfg.Store.(runReader); ok {
		got, err := rr.Run(ctx, fallback.ClientKey, fallback.ID)
		if err == nil {
			r = got
		} else {
			e.log.DebugContext(ctx, "read finished run", "client_key", fallback.ClientKey, "run_id", fallback.ID, "error", err.Error())
		}
	}
	attrs := []any{"client_key", r.ClientKey, "run_id", r.ID, "cleanup_id", r.CleanupID, "status", r.Status,
		"dry_run", r.DryRun, "trigger", r.Trigger}
	if r.StartedAt != nil && r.FinishedAt != nil {
		attrs = append(attrs, "duration", r.FinishedAt.Sub(*r.StartedAt).String())
	}
	c := r.Counts
	attrs = append(attrs, slog.Group("counts", "evaluated", c.Evaluated, "matched", c.Matched, "protected", c.Protected,
		"removed_in_atlassian", c.RemovedInAtlassian, "deactivated", c.Deactivated, "exported_for_idp", c.ExportedForIdP,
		"removed_in_idp", c.RemovedInIdP, "reviewed", c.Reviewed, "manual", c.Manual, "skipped", c.Skipped, "failed", c.Failed))
	e.log.InfoContext(ctx, "run finished", attrs...)
	if e.cfg.Observer != nil {
		e.cfg.Observer.RunFinished(ctx, r)
	}
}

// Engine executes runs in resumable, committed steps. Each Step does a
// bounded amount of work under the run's lease and commits its progress,
// so a crash at any moment loses at most the uncommitted part, which the
// next step redoes without acting twice:
//
//   - evaluate: the groups are classified once (snapshot on the run), then
//     the user search is read through parallel cursor chains
//     (engine_chains.go) and each page is evaluated and its rows, counts
//     and its chain's next cursor are committed together; a page evaluated
//     again after a crash inserts nothing twice (unique row key);
//   - apply (not for dry runs): pending rows are marked attempted (commit),
//     acted on with bounded concurrency, and their outcomes committed. A row
//     marked attempted without an outcome is in doubt after a crash: one
//     bulk user search tells whether the membership is already gone, and
//     only the rest are acted on again;
//   - export: the Exporter generates the identity-provider files;
//   - a restore (engine_restore.go) plans instead of evaluating: it reads
//     its original run's rows and checks each user's current state, then
//     applies and exports like a run;
//   - finish: status and counts from the rows.
type Engine struct {
	cfg EngineConfig
	log *slog.Logger
	now func() time.Time
}

// NewEngine returns an engine.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	if cfg.Store == nil || cfg.Connector == nil {
		return nil, errors.New("cleanup: engine needs a Store and a Connector")
	}
	if cfg.StepBudget <= 0 {
		cfg.StepBudget = DefaultStepBudget
	}
	if cfg.LeaseFor <= 0 {
		cfg.LeaseFor = DefaultLeaseFor
	}
	if cfg.ApplyBatch <= 0 {
		cfg.ApplyBatch = DefaultApplyBatch
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.EvalChains <= 0 {
		cfg.EvalChains = DefaultEvalChains
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Engine{cfg: cfg, log: log, now: now}, nil
}

// StepResult says what happens after a step.
type StepResult struct {
	// Done: the run is finished (or gone); nothing more to do.
	Done bool
	// Continued: the step committed the run's next step (the store's
	// EndChunk hook scheduled it).
	Continued bool
	// RetryAfter > 0: try this same step again after the duration (a remote
	// was unavailable, or another worker holds the lease).
	RetryAfter time.Duration
}

// errLeaseLost stops a step whose lease was taken over.
var errLeaseLost = errors.New("cleanup: run lease lost")

// Step executes the next bounded piece of the run as owner (a name unique
// to this attempt). It returns an error only when the step could not
// record its outcome (the database failed or ctx ended); the caller
// retries it then.
func (e *Engine) Step(ctx context.Context, clientKey string, runID int64, owner string) (StepResult, error) {
	start := e.now()
	run, err := e.cfg.Store.AcquireRunLease(ctx, clientKey, runID, owner, start.Add(e.cfg.LeaseFor))
	switch KindOf(err) {
	case KindConflict:
		wait := RetryAfterOf(err)
		if wait < time.Second {
			wait = time.Second
		}
		return StepResult{RetryAfter: wait}, nil
	case KindNotFound:
		return StepResult{Done: true}, nil
	}
	if err != nil {
		return StepResult{}, fmt.Errorf("acquire run lease: %w", err)
	}
	if run.Finished() {
		_ = e.cfg.Store.ReleaseRunLease(ctx, clientKey, runID, owner)
		return StepResult{Done: true}, nil
	}
	s := &step{e: e, run: run, owner: owner, deadline: start.Add(e.cfg.StepBudget)}
	res, err := s.execute(ctx)
	if err == nil {
		return res, nil
	}
	log := e.log.With("client_key", clientKey, "run_id", runID)
	release := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if rerr := e.cfg.Store.ReleaseRunLease(rctx, clientKey, runID, owner); rerr != nil {
			log.WarnContext(ctx, "release run lease", "error", rerr.Error())
		}
	}
	switch {
	case errors.Is(err, errLeaseLost):
		log.WarnContext(ctx, "run lease lost: another worker continues the run")
		return StepResult{}, nil
	case ctx.Err() != nil:
		release()
		return StepResult{}, fmt.Errorf("run step interrupted: %w", err)
	case KindOf(err) == KindUnavailable:
		wait := RetryAfterOf(err)
		if wait <= 0 {
			wait = unavailableRetry
		}
		// Keep the lease until the retry time: the run is paused, not
		// stalled, so nothing else picks it up before then.
		if _, herr := e.cfg.Store.AcquireRunLease(ctx, clientKey, runID, owner, e.now().Add(wait)); herr != nil {
			log.WarnContext(ctx, "hold run lease while paused", "error", herr.Error())
			release()
		}
		log.InfoContext(ctx, "run step paused: remote unavailable", "retry_after", wait, "error", err.Error())
		return StepResult{RetryAfter: wait}, nil
	case isStoreError(err):
		release()
		return StepResult{}, err
	}
	msg := runFailure(err)
	log.WarnContext(ctx, "run failed", "phase", s.run.Phase, "error", err.Error())
	if ferr := e.cfg.Store.FinishRun(ctx, clientKey, runID, owner, RunFailed, msg, e.now()); ferr != nil {
		if KindOf(ferr) == KindConflict {
			return StepResult{}, nil
		}
		return StepResult{}, fmt.Errorf("record failed run: %w", ferr)
	}
	failed := s.run
	failed.Status, failed.Error = RunFailed, msg
	e.finished(ctx, failed)
	return StepResult{Done: true}, nil
}

// storeError marks failures of the run store, which are retried rather than
// failing the run.
type storeError struct{ err error }

func (e *storeError) Error() string { return e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

func isStoreError(err error) bool {
	var se *storeError
	return errors.As(err, &se)
}

// storeErr wraps a store failure: a lost lease becomes errLeaseLost.
func storeErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if KindOf(err) == KindConflict {
		return fmt.Errorf("%s: %w", op, errLeaseLost)
	}
	return &storeError{err: fmt.Errorf("%s: %w", op, err)}
}

// safeMessage is the message of err an admin may see.
func safeMessage(err error) string {
	var de *Error
	if errors.As(err, &de) && de.Message != "" {
		return de.Message
	}
	var fe FieldErrors
	if errors.As(err, &fe) {
		keys := make([]string, 0, len(fe))
		for k := range fe {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		msg := "the cleanup is no longer valid:"
		for _, k := range keys {
			msg += " " + k + ": " + fe[k] + ";"
		}
		return msg
	}
	return "internal error"
}

// step is one Step's state.
type step struct {
	e        *Engine
	run      Run
	owner    string
	deadline time.Time
}

func (s *step) expired() bool { return !s.e.now().Before(s.deadline) }

func (s *step) commit(ctx context.Context, c Commit) error {
	c.ClientKey, c.RunID, c.Owner = s.run.ClientKey, s.run.ID, s.owner
	c.LeaseUntil = s.e.now().Add(s.e.cfg.LeaseFor)
	if err := s.e.cfg.Store.Commit(ctx, c); err != nil {
		return storeErr("commit run progress", err)
	}
	if c.Phase != "" {
		s.run.Phase = c.Phase
	}
	return nil
}

// execute runs phases until the budget is spent or the run is finished.
func (s *step) execute(ctx context.Context) (StepResult, error) {
	for {
		var (
			ended bool
			err   error
		)
		switch s.run.Phase {
		case PhaseEvaluate, "":
			ended, err = s.evaluate(ctx)
		case PhaseRestorePlan:
			ended, err = s.planRestore(ctx) // engine_restore.go
		case PhaseApply:
			ended, err = s.apply(ctx)
		case PhaseWarnings:
			ended, err = s.closeWarnings(ctx)
		case PhaseNotify:
			return s.notify(ctx)
		case PhaseExport:
			return s.export(ctx)
		default:
			return StepResult{}, fmt.Errorf("run %d: unknown phase %q", s.run.ID, s.run.Phase)
		}
		if err != nil {
			return StepResult{}, err
		}
		if ended {
			return StepResult{Continued: true}, nil
		}
	}
}

// endPhase moves the run to the next phase, ending the chunk when the
// budget is spent.
func (s *step) endPhase(ctx context.Context, phase string) (bool, error) {
	c := Commit{Phase: phase, EndChunk: s.expired()}
	if err := s.commit(ctx, c); err != nil {
		return false, err
	}
	return c.EndChunk, nil
}
