package cleanup

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Run statuses.
const (
	RunQueued          = "queued"
	RunRunning         = "running"
	RunSucceeded       = "succeeded"
	RunPartiallyFailed = "partially_failed"
	RunFailed          = "failed"
)

// Run phases, in order. A run moves forward only.
const (
	PhaseEvaluate = "evaluate" // page through the organization's users, plan rows
	PhaseApply    = "apply"    // act on the planned rows (skipped for dry runs)
	PhaseExport   = "export"   // generate the identity-provider exports
	PhaseDone     = "done"
)

// Run triggers.
const (
	TriggerManual   = "manual"
	TriggerSchedule = "schedule"
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

// RunCounts are the counters of a run as history shows them: the
// evaluation's counters and the outcome of the rows.
type RunCounts struct {
	Evaluated          int `json:"evaluated"`
	Matched            int `json:"matched"`
	Protected          int `json:"protected"`
	RemovedInAtlassian int `json:"removedInAtlassian"`
	ExportedForIdP     int `json:"exportedForIdp"`
	RemovedInIdP       int `json:"removedInIdp"`
	Deactivated        int `json:"deactivated"`
	Reviewed           int `json:"reviewed"`
	Manual             int `json:"manual"`
	Skipped            int `json:"skipped"`
	Failed             int `json:"failed"`
	Pending            int `json:"pending"`
	Rows               int `json:"rows"`
	// Evaluation holds every evaluation counter (why users were not selected).
	Evaluation Counts `json:"evaluation"`
}

// AddRows adds n rows of one action and outcome to the outcome counters.
func (c *RunCounts) AddRows(action, outcome string, n int) {
	c.Rows += n
	switch outcome {
	case OutcomeDone:
		switch action {
		case ActionDeactivate:
			c.Deactivated += n
		case ActionIdPRemove:
			c.RemovedInIdP += n
		default:
			c.RemovedInAtlassian += n
		}
	case OutcomeExported:
		c.ExportedForIdP += n
	case OutcomeReview:
		c.Reviewed += n
	case OutcomeManual:
		c.Manual += n
	case OutcomeSkipped:
		c.Skipped += n
	case OutcomeFailed:
		c.Failed += n
	case OutcomePending:
		c.Pending += n
	}
}

// Run is one execution of a cleanup, with snapshots of what it runs: the
// definition, the settings (never a credential) and, once evaluation
// started, the classified groups. Resuming a run uses the snapshots, so it
// plans exactly what it planned before a crash.
type Run struct {
	ID           int64       `json:"id"`
	ClientKey    string      `json:"-"`
	CleanupID    int64       `json:"cleanupId,omitempty"` // 0: the cleanup was not stored (or is gone)
	CleanupName  string      `json:"cleanupName"`
	Definition   Definition  `json:"-"`
	Settings     Settings    `json:"-"`
	Groups       []GroupInfo `json:"-"`
	Trigger      string      `json:"trigger"`
	StartedBy    string      `json:"startedBy,omitempty"`
	ScheduledFor *time.Time  `json:"scheduledFor,omitempty"`
	DryRun       bool        `json:"dryRun"`
	Status       string      `json:"status"`
	Phase        string      `json:"phase"`
	Cursor       string      `json:"-"`
	Counts       RunCounts   `json:"counts"`
	Error        string      `json:"error,omitempty"`
	QueuedAt     time.Time   `json:"queuedAt"`
	StartedAt    *time.Time  `json:"startedAt,omitempty"`
	FinishedAt   *time.Time  `json:"finishedAt,omitempty"`
	UpdatedAt    time.Time   `json:"updatedAt"`
	// FollowUp is the re-check after the next provisioning cycle, nil
	// when none is scheduled (dry runs, nothing removed or exported).
	FollowUp *FollowUp `json:"followUp,omitempty"`
}

// Finished reports whether the run reached a final status.
func (r Run) Finished() bool {
	switch r.Status {
	case RunSucceeded, RunPartiallyFailed, RunFailed:
		return true
	}
	return false
}

// RunRef names a run of a tenant.
type RunRef struct {
	ClientKey string
	ID        int64
}

// NewRun is a run to create.
type NewRun struct {
	ClientKey    string
	CleanupID    int64 // 0 for none
	CleanupName  string
	Definition   Definition
	Settings     Settings
	Trigger      string
	StartedBy    string
	ScheduledFor *time.Time // scheduled runs: the schedule time (unique per cleanup)
	DryRun       bool
	// NextRunAt is stored on the cleanup with a scheduled run, in the same
	// transaction (nil: leave it).
	NextRunAt *time.Time
}

// PendingRow is a row the apply phase still has to act on. AttemptedAt is
// set when an earlier attempt may have acted: the row is in doubt.
type PendingRow struct {
	AffectedUser
	AttemptedAt *time.Time
}

// RowOutcome is the result of acting on one row. Action, GroupSynced and
// IdentityProvider replace the row's when Rerouted (a group turned out to be
// managed by an identity provider).
type RowOutcome struct {
	ID               int64
	Outcome          string
	Message          string
	Rerouted         bool
	Action           string
	GroupSynced      bool
	IdentityProvider string
}

// Commit is one committed step of a run: everything in it is written in one
// transaction, conditional on Owner still holding the run's lease (else the
// store returns an error of KindConflict and writes nothing).
type Commit struct {
	ClientKey  string
	RunID      int64
	Owner      string
	LeaseUntil time.Time // the renewed lease
	// Rows are inserted; a row already present (same run, account, group and
	// action) is left alone, so a page evaluated twice inserts nothing twice.
	Rows []AffectedUser
	// AddCounts is added to the run's evaluation counters.
	AddCounts *Counts
	// Cursor, when not nil, is stored as the evaluation cursor.
	Cursor *string
	// Outcomes update pending rows.
	Outcomes []RowOutcome
	// Phase, when not empty, is the run's new phase.
	Phase string
	// EndChunk releases the lease and schedules the next step of the run in
	// the same transaction.
	EndChunk bool
}

// RunStore is the persistence the engine needs. Every method is scoped by
// client key; a run of another tenant is KindNotFound.
type RunStore interface {
	// AcquireRunLease takes the run's lease for owner until the given time
	// when it is free, expired or already owner's, and returns the run. A
	// lease held by someone else is a KindConflict error whose RetryAfter
	// says when it expires.
	AcquireRunLease(ctx context.Context, clientKey string, runID int64, owner string, until time.Time) (Run, error)
	// ReleaseRunLease gives the lease up if owner holds it.
	ReleaseRunLease(ctx context.Context, clientKey string, runID int64, owner string) error
	// BeginRun marks a queued run running at startedAt with the groups
	// snapshot.
	BeginRun(ctx context.Context, clientKey string, runID int64, owner string, groups []GroupInfo, startedAt time.Time) error
	// Commit writes one step's progress atomically (see Commit).
	Commit(ctx context.Context, c Commit) error
	// PendingRows returns up to limit rows with outcome pending and one of
	// the actions, in id order.
	PendingRows(ctx context.Context, clientKey string, runID int64, actions []string, limit int) ([]PendingRow, error)
	// MarkAttempted sets attempted_at on the rows (committed before acting).
	MarkAttempted(ctx context.Context, clientKey string, runID int64, owner string, ids []int64, at time.Time) error
	// SettleRows sets the outcome of every pending row with one of the
	// actions; a non-empty prefix is prepended to each row's message.
	SettleRows(ctx context.Context, clientKey string, runID int64, owner string, actions []string, outcome, prefix string) error
	// FinishRun sets the final status (and error message), phase done,
	// finished_at and the counts from the rows, and releases the lease. An
	// empty status is derived from the rows: partially_failed when a row
	// failed, else succeeded.
	FinishRun(ctx context.Context, clientKey string, runID int64, owner, status, message string, at time.Time) error
}

// Connector gives the directories of a tenant, built from its installation
// and stored credentials.
type Connector interface {
	// Org returns the Organizations API client; KindNotConfigured when the
	// organization id or API key is missing.
	Org(ctx context.Context, clientKey string) (OrgDirectory, error)
	// Site returns the product REST API client of the installation.
	Site(ctx context.Context, clientKey string) (SiteDirectory, error)
	// IdP returns the identity provider client; KindNotConfigured when no
	// connection is configured.
	IdP(ctx context.Context, clientKey string) (IdentityProvider, error)
}

// Exporter generates the identity-provider exports of a finished run
// (implemented by the exports component). It must be idempotent: it may be
// called again for the same run after a crash.
//
// The rows an identity-provider file may contain are those with action
// ActionIdPExport AND outcome OutcomeExported: the engine settles every
// exportable row to exported (in dry runs too, the file being a preview)
// before calling the Exporter. Rows of protected users keep the planned
// action with outcome skipped, and rows without a configured identity
// provider are manual: neither may ever appear in a bulk-remove file.
type Exporter interface {
	GenerateRunExports(ctx context.Context, clientKey string, runID int64) error
}

// EngineConfig configures an Engine. Store and Connector are required.
type EngineConfig struct {
	Store     RunStore
	Connector Connector
	Exporter  Exporter // nil: no exports
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
	// ApplyBatch is how many rows the apply phase marks and acts on per
	// commit (default DefaultApplyBatch).
	ApplyBatch int
	// Concurrency bounds the actions in flight (default DefaultConcurrency).
	Concurrency int
}

// Engine executes runs in resumable, committed steps. Each Step does a
// bounded amount of work under the run's lease and commits its progress,
// so a crash at any moment loses at most the uncommitted part, which the
// next step redoes without acting twice:
//
//   - evaluate: the groups are classified once (snapshot on the run), then
//     each page of the user search is evaluated and its rows, counts and
//     the next cursor are committed together; a page evaluated again after
//     a crash inserts nothing twice (unique row key);
//   - apply (not for dry runs): pending rows are marked attempted (commit),
//     acted on with bounded concurrency, and their outcomes committed. A row
//     marked attempted without an outcome is in doubt after a crash: one
//     bulk user search tells whether the membership is already gone, and
//     only the rest are acted on again;
//   - export: the Exporter generates the identity-provider files;
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
	msg := safeMessage(err)
	log.WarnContext(ctx, "run failed", "phase", s.run.Phase, "error", err.Error())
	if ferr := e.cfg.Store.FinishRun(ctx, clientKey, runID, owner, RunFailed, msg, e.now()); ferr != nil {
		if KindOf(ferr) == KindConflict {
			return StepResult{}, nil
		}
		return StepResult{}, fmt.Errorf("record failed run: %w", ferr)
	}
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
		case PhaseApply:
			ended, err = s.apply(ctx)
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

// classify reads the products and groups once and classifies them.
func (s *step) classify(ctx context.Context, org OrgDirectory) ([]GroupInfo, error) {
	return loadGroups(ctx, s.e.cfg.Connector, s.run.ClientKey, org, s.run.Settings)
}

// evaluate plans pages of users; it returns true when it ended the chunk.
func (s *step) evaluate(ctx context.Context) (bool, error) {
	org, err := s.e.cfg.Connector.Org(ctx, s.run.ClientKey)
	if err != nil {
		return false, err
	}
	if s.run.Status == RunQueued || s.run.StartedAt == nil {
		groups, err := s.classify(ctx, org)
		if err != nil {
			return false, err
		}
		at := s.e.now().UTC()
		if err := s.e.cfg.Store.BeginRun(ctx, s.run.ClientKey, s.run.ID, s.owner, groups, at); err != nil {
			return false, storeErr("begin run", err)
		}
		s.run.Groups, s.run.StartedAt, s.run.Status = groups, &at, RunRunning
		s.e.log.InfoContext(ctx, "run started", "client_key", s.run.ClientKey, "run_id", s.run.ID,
			"cleanup_id", s.run.CleanupID, "trigger", s.run.Trigger, "dry_run", s.run.DryRun, "groups", len(groups))
	}
	ev, err := NewEvaluator(s.run.Settings, s.run.Definition, s.run.Groups, *s.run.StartedAt)
	if err != nil {
		return false, err
	}
	d := s.run.Definition.Normalized()
	q := UserQuery{GroupIDs: append(slices.Clone(d.LicensingGroupIDs), d.ExtraGroupIDs...), Limit: s.e.cfg.PageSize}
	// The next page is fetched while the current one is evaluated and
	// committed: cursor paging is sequential, so this overlap is what keeps
	// evaluation bound by the API rather than by our database. A page
	// fetched but not committed (the chunk ended, or the process died) is
	// simply fetched again by the next step.
	type fetched struct {
		page UserPage
		err  error
	}
	fetch := func(cursor string) <-chan fetched {
		ch := make(chan fetched, 1)
		go func() {
			p, err := org.SearchUsers(ctx, q, cursor)
			ch <- fetched{p, err}
		}()
		return ch
	}
	next := fetch(s.run.Cursor)
	for {
		f := <-next
		if f.err != nil {
			return false, f.err
		}
		page := f.page
		end := s.expired()
		if page.Next != "" && !end {
			next = fetch(page.Next)
		}
		rows, counts := ev.Evaluate(page.Users)
		for i := range rows {
			rows[i].RunID = s.run.ID
		}
		c := Commit{Rows: rows, AddCounts: &counts, Cursor: &page.Next, EndChunk: end}
		if page.Next == "" {
			c.Phase = PhaseApply
		}
		if err := s.commit(ctx, c); err != nil {
			return false, err
		}
		s.run.Cursor = page.Next
		if c.EndChunk {
			return true, nil
		}
		if page.Next == "" {
			return false, nil
		}
	}
}

// actedActions are the actions the apply phase performs row by row.
func actedActions() []string {
	return []string{ActionRemoveProductAccess, ActionDeactivate, ActionIdPRemove}
}

// apply acts on pending rows; it returns true when it ended the chunk.
func (s *step) apply(ctx context.Context) (bool, error) {
	st := s.e.cfg.Store
	if s.run.DryRun {
		// Nothing changes in a dry run, but its identity-provider files are
		// generated (a preview the admin may upload): those rows are
		// exported, every other planned action skipped. Rows a protection
		// rule skipped are not pending and stay as they are.
		err := st.SettleRows(ctx, s.run.ClientKey, s.run.ID, s.owner,
			[]string{ActionRemoveProductAccess, ActionDeactivate, ActionIdPRemove},
			OutcomeSkipped, "dry run, nothing changed: ")
		if err != nil {
			return false, storeErr("settle dry-run rows", err)
		}
		err = st.SettleRows(ctx, s.run.ClientKey, s.run.ID, s.owner, []string{ActionIdPExport},
			OutcomeExported, "dry run (the file is a preview): ")
		if err != nil {
			return false, storeErr("settle dry-run export rows", err)
		}
		return s.endPhase(ctx, PhaseExport)
	}
	// Rows routed to the identity-provider export are settled by the
	// export itself; they need no call here.
	if err := st.SettleRows(ctx, s.run.ClientKey, s.run.ID, s.owner, []string{ActionIdPExport}, OutcomeExported, ""); err != nil {
		return false, storeErr("settle export rows", err)
	}
	var (
		org  OrgDirectory
		site SiteDirectory
	)
	for {
		rows, err := st.PendingRows(ctx, s.run.ClientKey, s.run.ID, actedActions(), s.e.cfg.ApplyBatch)
		if err != nil {
			return false, storeErr("read pending rows", err)
		}
		if len(rows) == 0 {
			return s.endPhase(ctx, PhaseExport)
		}
		if org == nil {
			if org, err = s.e.cfg.Connector.Org(ctx, s.run.ClientKey); err != nil {
				return false, err
			}
			if site, err = s.e.cfg.Connector.Site(ctx, s.run.ClientKey); err != nil {
				return false, err
			}
		}
		outcomes, todo, err := s.verifyInDoubt(ctx, org, rows)
		if err != nil {
			return false, err
		}
		var mark []int64
		for _, r := range todo {
			if r.AttemptedAt == nil {
				mark = append(mark, r.ID)
			}
		}
		if len(mark) > 0 {
			if err := st.MarkAttempted(ctx, s.run.ClientKey, s.run.ID, s.owner, mark, s.e.now().UTC()); err != nil {
				return false, storeErr("mark rows attempted", err)
			}
		}
		acted, actErr := s.act(ctx, org, site, todo)
		outcomes = append(outcomes, acted...)
		c := Commit{Outcomes: outcomes}
		if actErr == nil {
			c.EndChunk = s.expired()
		}
		if err := s.commit(ctx, c); err != nil {
			return false, err
		}
		if actErr != nil {
			return false, actErr
		}
		if c.EndChunk {
			return true, nil
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

// verifyInDoubt checks rows that an earlier attempt may have acted on with
// one bulk user search: a membership (or account) already gone is done. It
// returns those outcomes and the rows still to act on.
func (s *step) verifyInDoubt(ctx context.Context, org OrgDirectory, rows []PendingRow) ([]RowOutcome, []PendingRow, error) {
	var ids []string
	seen := map[string]bool{}
	for _, r := range rows {
		if r.AttemptedAt != nil && r.Action != ActionIdPRemove && !seen[r.AccountID] {
			seen[r.AccountID] = true
			ids = append(ids, r.AccountID)
		}
	}
	if len(ids) == 0 {
		return nil, rows, nil
	}
	users := make(map[string]OrgUser, len(ids))
	cursor := ""
	for {
		page, err := org.SearchUsers(ctx, UserQuery{AccountIDs: ids}, cursor)
		if err != nil {
			return nil, nil, err
		}
		for _, u := range page.Users {
			users[u.AccountID] = u
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	var done []RowOutcome
	var todo []PendingRow
	for _, r := range rows {
		if r.AttemptedAt == nil || !seen[r.AccountID] {
			todo = append(todo, r)
			continue
		}
		u, ok := users[r.AccountID]
		switch {
		case !ok:
			done = append(done, RowOutcome{ID: r.ID, Outcome: OutcomeDone, Message: "verified after a restart: the account is no longer in the organization"})
		case r.Action == ActionDeactivate && u.Status == StatusDeactivated:
			done = append(done, RowOutcome{ID: r.ID, Outcome: OutcomeDone, Message: "verified after a restart: already deactivated"})
		case r.Action == ActionRemoveProductAccess && !slices.Contains(u.GroupIDs, r.GroupID):
			done = append(done, RowOutcome{ID: r.ID, Outcome: OutcomeDone, Message: "verified after a restart: already removed from the group"})
		default:
			todo = append(todo, r)
		}
	}
	return done, todo, nil
}

// act performs the rows' actions with bounded concurrency. When a remote is
// unavailable it stops and returns the outcomes gathered so far with the
// error; other failures become failed rows.
func (s *step) act(ctx context.Context, org OrgDirectory, site SiteDirectory, rows []PendingRow) ([]RowOutcome, error) {
	var idpRows []PendingRow
	var direct []PendingRow
	for _, r := range rows {
		if r.Action == ActionIdPRemove {
			idpRows = append(idpRows, r)
		} else {
			direct = append(direct, r)
		}
	}
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		out      []RowOutcome
		firstErr error
		wg       sync.WaitGroup
		sem      = make(chan struct{}, s.e.cfg.Concurrency)
	)
	for _, r := range direct {
		select {
		case sem <- struct{}{}:
		case <-actx.Done():
		}
		if actx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			o, err := s.actOne(actx, org, site, r)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				cancel()
				return
			}
			out = append(out, o)
		})
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return out, firstErr
	}
	if len(idpRows) > 0 {
		o, err := s.removeInIdP(ctx, idpRows)
		out = append(out, o...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// actOne acts on one row. Only an unavailable remote (or cancellation)
// returns an error; everything else is the row's outcome.
func (s *step) actOne(ctx context.Context, org OrgDirectory, site SiteDirectory, r PendingRow) (RowOutcome, error) {
	var err error
	switch r.Action {
	case ActionRemoveProductAccess:
		err = site.RemoveGroupMember(ctx, r.GroupID, r.AccountID)
	case ActionDeactivate:
		err = org.Deactivate(ctx, r.AccountID, "Deactivated by User Cleanup: "+r.Reason)
	default:
		return RowOutcome{ID: r.ID, Outcome: OutcomeFailed, Message: fmt.Sprintf("unknown action %q", r.Action)}, nil
	}
	if err == nil {
		msg := "removed from the group"
		if r.Action == ActionDeactivate {
			msg = "deactivated"
		}
		return RowOutcome{ID: r.ID, Outcome: OutcomeDone, Message: msg}, nil
	}
	if ctx.Err() != nil {
		return RowOutcome{}, ctx.Err()
	}
	kind := KindOf(err)
	if (kind == KindInvalid || kind == KindForbidden) && r.Action == ActionRemoveProductAccess && s.detectedSynced(r.GroupID) {
		// The Organizations API reports the group as synced (an admin
		// override said otherwise): the product refuses for that reason.
		kind = KindExternallyManaged
	}
	switch kind {
	case KindUnavailable:
		return RowOutcome{}, err
	case KindExternallyManaged:
		idp := s.run.Settings.IdentityProvider
		if r.Action == ActionRemoveProductAccess && idp.Configured() {
			return RowOutcome{ID: r.ID, Outcome: OutcomeExported, Rerouted: true, Action: ActionIdPExport,
				GroupSynced: true, IdentityProvider: idp.Provider,
				Message: fmt.Sprintf("the group is managed by %s (Atlassian refused the removal): exported to its bulk-remove file", providerName(idp.Provider))}, nil
		}
		return RowOutcome{ID: r.ID, Outcome: OutcomeManual, Rerouted: true, Action: r.Action, GroupSynced: r.Action == ActionRemoveProductAccess,
			Message: "managed by an identity provider: " + safeMessage(err) + "; remove it there"}, nil
	}
	s.e.log.WarnContext(ctx, "action failed", "client_key", s.run.ClientKey, "run_id", s.run.ID,
		"row_id", r.ID, "action", r.Action, "error", err.Error())
	return RowOutcome{ID: r.ID, Outcome: OutcomeFailed, Message: safeMessage(err)}, nil
}

// detectedSynced reports whether the Organizations API reported the group
// as synced from an identity provider when the run started.
func (s *step) detectedSynced(groupID string) bool {
	for _, g := range s.run.Groups {
		if g.ID == groupID {
			return g.SyncedDetected
		}
	}
	return false
}

// removeInIdP removes rows routed to the identity provider directly, per
// group: find the group, resolve the users by e-mail, remove in batches.
func (s *step) removeInIdP(ctx context.Context, rows []PendingRow) ([]RowOutcome, error) {
	fail := func(rs []PendingRow, outcome, msg string) []RowOutcome {
		out := make([]RowOutcome, len(rs))
		for i, r := range rs {
			out[i] = RowOutcome{ID: r.ID, Outcome: outcome, Message: msg}
		}
		return out
	}
	// A row that could not be removed directly goes to the group's
	// bulk-remove file instead, so the admin can still finish the job.
	export := func(rs []PendingRow, why string) []RowOutcome {
		out := make([]RowOutcome, len(rs))
		for i, r := range rs {
			out[i] = RowOutcome{ID: r.ID, Outcome: OutcomeExported, Rerouted: true, Action: ActionIdPExport,
				GroupSynced: true, IdentityProvider: cmp.Or(r.IdentityProvider, s.run.Settings.IdentityProvider.Provider),
				Message: why + ": exported to the group's bulk-remove file"}
		}
		return out
	}
	idp, err := s.e.cfg.Connector.IdP(ctx, s.run.ClientKey)
	if err != nil {
		if KindOf(err) == KindUnavailable {
			return nil, err
		}
		return export(rows, "direct removal in the identity provider is not available ("+safeMessage(err)+")"), nil
	}
	idpGroup := map[string]string{}
	for _, g := range s.run.Groups {
		idpGroup[g.ID] = cmp.Or(g.IdPGroup, g.Name)
	}
	byGroup := map[string][]PendingRow{}
	var order []string
	for _, r := range rows {
		if _, ok := byGroup[r.GroupID]; !ok {
			order = append(order, r.GroupID)
		}
		byGroup[r.GroupID] = append(byGroup[r.GroupID], r)
	}
	var out []RowOutcome
	for _, gid := range order {
		rs := byGroup[gid]
		g, err := idp.FindGroup(ctx, cmp.Or(idpGroup[gid], rs[0].GroupName))
		if err != nil {
			if KindOf(err) == KindUnavailable {
				return out, err
			}
			out = append(out, export(rs, "identity provider group: "+safeMessage(err))...)
			continue
		}
		if b := g.ChangeBlocker(); b != "" {
			out = append(out, fail(rs, OutcomeManual, b)...)
			continue
		}
		var upns []string
		for _, r := range rs {
			if r.Email != "" {
				upns = append(upns, r.Email)
			}
		}
		users := map[string]IdPUser{}
		if len(upns) > 0 {
			users, err = idp.ResolveUsers(ctx, upns)
		}
		if err != nil {
			if KindOf(err) == KindUnavailable {
				return out, err
			}
			out = append(out, export(rs, "resolve users: "+safeMessage(err))...)
			continue
		}
		rowOf := map[string][]PendingRow{}
		var ids []string
		for _, r := range rs {
			u, ok := users[r.Email]
			switch {
			case r.Email == "":
				out = append(out, RowOutcome{ID: r.ID, Outcome: OutcomeManual,
					Message: "the e-mail address is not visible, so the user cannot be found in " + providerName(s.run.Settings.IdentityProvider.Provider) + ": remove them there by hand"})
				continue
			case !ok:
				out = append(out, RowOutcome{ID: r.ID, Outcome: OutcomeManual,
					Message: "no user with this e-mail address or user name in " + providerName(s.run.Settings.IdentityProvider.Provider) + ": remove them there by hand"})
				continue
			}
			if _, dup := rowOf[u.ObjectID]; !dup {
				ids = append(ids, u.ObjectID)
			}
			rowOf[u.ObjectID] = append(rowOf[u.ObjectID], r)
		}
		// A row an earlier attempt may have removed (the process died
		// between the request and recording its outcome) is checked
		// against one listing of the group before anything is resent, so
		// a restart never removes twice.
		inDoubt := false
		for _, r := range rs {
			inDoubt = inDoubt || r.AttemptedAt != nil
		}
		if inDoubt && len(ids) > 0 {
			members, err := idp.MemberIDs(ctx, g.ID)
			if err != nil {
				if KindOf(err) == KindUnavailable || ctx.Err() != nil {
					return out, err
				}
				out = append(out, export(rs, "list the group's members: "+safeMessage(err))...)
				continue
			}
			isMember := make(map[string]bool, len(members))
			for _, m := range members {
				isMember[m] = true
			}
			keep := ids[:0]
			for _, id := range ids {
				if isMember[id] {
					keep = append(keep, id)
					continue
				}
				// Rows of this user that were never attempted are done
				// too: the membership is gone either way.
				for _, r := range rowOf[id] {
					msg := "already not a member in the identity provider"
					if r.AttemptedAt != nil {
						msg = "verified after a restart: no longer a member in the identity provider"
					}
					out = append(out, RowOutcome{ID: r.ID, Outcome: OutcomeDone, Message: msg})
				}
				delete(rowOf, id)
			}
			ids = keep
		}
		if len(ids) == 0 {
			continue
		}
		results, err := idp.RemoveMembers(ctx, g.ID, ids)
		if err != nil && len(results) == 0 {
			if KindOf(err) == KindUnavailable || ctx.Err() != nil {
				return out, err
			}
			for _, id := range ids {
				out = append(out, export(rowOf[id], "direct removal failed ("+safeMessage(err)+")")...)
			}
			continue
		}
		for _, res := range results {
			if len(rowOf[res.ObjectID]) == 0 {
				continue // not asked for, or reported twice
			}
			var o RowOutcome
			switch res.Outcome {
			case RemovalRemoved:
				o = RowOutcome{Outcome: OutcomeDone, Message: "removed in the identity provider"}
			case RemovalNotMember:
				o = RowOutcome{Outcome: OutcomeDone, Message: "already not a member in the identity provider"}
			default:
				o = export(rowOf[res.ObjectID][:1], "direct removal failed ("+cmp.Or(res.Message, "no reason given")+")")[0]
			}
			for _, r := range rowOf[res.ObjectID] {
				o.ID = r.ID
				out = append(out, o)
			}
			delete(rowOf, res.ObjectID)
		}
		why := "the identity provider reported no result"
		if err != nil {
			if KindOf(err) == KindUnavailable || ctx.Err() != nil {
				// The adapter stopped part-way (throttled beyond its
				// patience, or cancelled): the rest stay pending and
				// attempted, and the next step verifies them against the
				// group's members before removing anything.
				return out, err
			}
			why = "direct removal failed (" + safeMessage(err) + ")"
		}
		for _, left := range rowOf {
			out = append(out, export(left, why)...)
		}
	}
	return out, nil
}

// export generates the exports and finishes the run.
func (s *step) export(ctx context.Context) (StepResult, error) {
	if s.e.cfg.Exporter != nil {
		if err := s.e.cfg.Exporter.GenerateRunExports(ctx, s.run.ClientKey, s.run.ID); err != nil {
			if KindOf(err) == KindUnavailable || ctx.Err() != nil {
				return StepResult{}, err
			}
			return StepResult{}, fmt.Errorf("generate exports: %w", err)
		}
	}
	if err := s.e.cfg.Store.FinishRun(ctx, s.run.ClientKey, s.run.ID, s.owner, "", "", s.e.now().UTC()); err != nil {
		return StepResult{}, storeErr("finish run", err)
	}
	s.e.log.InfoContext(ctx, "run finished", "client_key", s.run.ClientKey, "run_id", s.run.ID, "dry_run", s.run.DryRun)
	return StepResult{Done: true}, nil
}
