package cleanuptest

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
)

// RunStore is an in-memory cleanup.RunStore. Like internal/store it scopes
// every call by client key, takes the lease when it is free, expired or
// already the caller's, writes a commit only while the caller holds the
// lease, inserts a row once per (run, account, group, action) and derives
// the final counts and status from the rows.
type RunStore struct {
	mu      sync.Mutex
	now     func() time.Time
	runs    map[int64]*storedRun
	rows    []*storedRow
	nextRun int64
	nextRow int64
	// Commits lists every commit written, in order.
	commits []cleanup.Commit
}

type storedRun struct {
	run        cleanup.Run
	leaseOwner string
	leaseUntil time.Time
	continued  int // EndChunk commits: next steps scheduled
}

type storedRow struct {
	cleanup.AffectedUser
	attemptedAt *time.Time
}

// NewRunStore returns an empty store whose lease expiry is judged by now
// (nil: time.Now).
func NewRunStore(now func() time.Time) *RunStore {
	if now == nil {
		now = time.Now
	}
	return &RunStore{now: now, runs: map[int64]*storedRun{}}
}

var _ cleanup.RunStore = (*RunStore)(nil)

// AddRun stores a run as given (status, phase, groups and all) and returns
// its id; a zero Status is queued, a zero Phase evaluate.
func (s *RunStore) AddRun(r cleanup.Run) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextRun++
	r.ID = s.nextRun
	r.Status = cmp.Or(r.Status, cleanup.RunQueued)
	r.Phase = cmp.Or(r.Phase, cleanup.PhaseEvaluate)
	s.runs[r.ID] = &storedRun{run: r}
	return r.ID
}

// AddRows stores rows of a run (a planned run in the apply phase) and
// returns their ids. A row whose attemptedAt is set is in doubt.
func (s *RunStore) AddRows(runID int64, attemptedAt *time.Time, rows ...cleanup.AffectedUser) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []int64
	for _, u := range rows {
		s.nextRow++
		u.ID, u.RunID = s.nextRow, runID
		s.rows = append(s.rows, &storedRow{AffectedUser: u, attemptedAt: attemptedAt})
		ids = append(ids, u.ID)
	}
	return ids
}

// Run returns a copy of the run.
func (s *RunStore) Run(runID int64) (cleanup.Run, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[runID]
	if !ok {
		return cleanup.Run{}, false
	}
	return r.run, true
}

// Lease returns who holds the run's lease and until when.
func (s *RunStore) Lease(runID int64) (string, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.runs[runID]
	return r.leaseOwner, r.leaseUntil
}

// Continued returns how many commits scheduled the run's next step.
func (s *RunStore) Continued(runID int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runs[runID].continued
}

// Rows returns the run's rows in id order.
func (s *RunStore) Rows(runID int64) []cleanup.AffectedUser {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []cleanup.AffectedUser
	for _, r := range s.rows {
		if r.RunID == runID {
			out = append(out, r.AffectedUser)
		}
	}
	return out
}

// Commits returns the commits written so far, in order.
func (s *RunStore) Commits() []cleanup.Commit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.commits)
}

// run returns the tenant's run or KindNotFound.
func (s *RunStore) run(clientKey string, runID int64) (*storedRun, error) {
	r, ok := s.runs[runID]
	if !ok || r.run.ClientKey != clientKey {
		return nil, &cleanup.Error{Kind: cleanup.KindNotFound, Message: "no such run"}
	}
	return r, nil
}

// leased returns the run when owner holds its lease, else KindConflict.
func (s *RunStore) leased(clientKey string, runID int64, owner string) (*storedRun, error) {
	r, err := s.run(clientKey, runID)
	if err != nil {
		return nil, err
	}
	if r.leaseOwner != owner {
		return nil, &cleanup.Error{Kind: cleanup.KindConflict, Message: "the run's lease is held by another worker"}
	}
	return r, nil
}

// AcquireRunLease implements cleanup.RunStore.
func (s *RunStore) AcquireRunLease(_ context.Context, clientKey string, runID int64, owner string, until time.Time) (cleanup.Run, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.run(clientKey, runID)
	if err != nil {
		return cleanup.Run{}, err
	}
	now := s.now()
	if r.leaseOwner != "" && r.leaseOwner != owner && now.Before(r.leaseUntil) {
		wait := max(time.Second, r.leaseUntil.Sub(now))
		return r.run, &cleanup.Error{Kind: cleanup.KindConflict, Message: "the run's lease is held by another worker", RetryAfter: wait}
	}
	r.leaseOwner, r.leaseUntil = owner, until
	return r.run, nil
}

// ReleaseRunLease implements cleanup.RunStore.
func (s *RunStore) ReleaseRunLease(_ context.Context, clientKey string, runID int64, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, err := s.run(clientKey, runID); err == nil && r.leaseOwner == owner {
		r.leaseOwner, r.leaseUntil = "", time.Time{}
	}
	return nil
}

// BeginRun implements cleanup.RunStore.
func (s *RunStore) BeginRun(_ context.Context, clientKey string, runID int64, owner string, groups []cleanup.GroupInfo, startedAt time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.leased(clientKey, runID, owner)
	if err != nil {
		return err
	}
	at := startedAt.UTC()
	r.run.Status, r.run.Groups, r.run.StartedAt = cleanup.RunRunning, slices.Clone(groups), &at
	return nil
}

// Commit implements cleanup.RunStore.
func (s *RunStore) Commit(_ context.Context, c cleanup.Commit) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.leased(c.ClientKey, c.RunID, c.Owner)
	if err != nil {
		return err
	}
	r.leaseUntil = c.LeaseUntil
	if c.Cursor != nil {
		r.run.Cursor = *c.Cursor
	}
	if c.Phase != "" {
		r.run.Phase = c.Phase
	}
	if c.AddCounts != nil {
		ev := &r.run.Counts.Evaluation
		ev.Add(*c.AddCounts)
		r.run.Counts.Evaluated, r.run.Counts.Matched, r.run.Counts.Protected = ev.Evaluated, ev.Matched, ev.Protected
	}
	for _, u := range c.Rows {
		s.insertRow(c.RunID, u)
	}
	for _, o := range c.Outcomes {
		s.settle(c.RunID, o)
	}
	if c.EndChunk {
		r.leaseOwner, r.leaseUntil = "", time.Time{}
		r.continued++
	}
	s.commits = append(s.commits, c)
	return nil
}

// insertRow adds a row unless one with the same key exists.
func (s *RunStore) insertRow(runID int64, u cleanup.AffectedUser) {
	for _, r := range s.rows {
		if r.RunID == runID && r.AccountID == u.AccountID && r.GroupID == u.GroupID && r.Action == u.Action {
			return
		}
	}
	s.nextRow++
	u.ID, u.RunID = s.nextRow, runID
	s.rows = append(s.rows, &storedRow{AffectedUser: u})
}

// settle applies an outcome to a pending row of the run.
func (s *RunStore) settle(runID int64, o cleanup.RowOutcome) {
	for _, r := range s.rows {
		if r.ID != o.ID || r.RunID != runID || r.Outcome != cleanup.OutcomePending {
			continue
		}
		r.Outcome, r.Message = o.Outcome, o.Message
		if o.Rerouted {
			r.Action, r.GroupSynced, r.IdentityProvider = o.Action, o.GroupSynced, o.IdentityProvider
		}
	}
}

// PendingRows implements cleanup.RunStore.
func (s *RunStore) PendingRows(_ context.Context, clientKey string, runID int64, actions []string, limit int) ([]cleanup.PendingRow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.run(clientKey, runID); err != nil {
		return nil, err
	}
	var out []cleanup.PendingRow
	for _, r := range s.rows {
		if len(out) == limit {
			break
		}
		if r.RunID == runID && r.Outcome == cleanup.OutcomePending && slices.Contains(actions, r.Action) {
			out = append(out, cleanup.PendingRow{AffectedUser: r.AffectedUser, AttemptedAt: r.attemptedAt})
		}
	}
	return out, nil
}

// MarkAttempted implements cleanup.RunStore.
func (s *RunStore) MarkAttempted(_ context.Context, clientKey string, runID int64, owner string, ids []int64, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.leased(clientKey, runID, owner); err != nil {
		return err
	}
	for _, r := range s.rows {
		if r.RunID == runID && r.attemptedAt == nil && slices.Contains(ids, r.ID) {
			t := at.UTC()
			r.attemptedAt = &t
		}
	}
	return nil
}

// SettleRows implements cleanup.RunStore.
func (s *RunStore) SettleRows(_ context.Context, clientKey string, runID int64, owner string, actions []string, outcome, prefix string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.leased(clientKey, runID, owner); err != nil {
		return err
	}
	for _, r := range s.rows {
		if r.RunID == runID && r.Outcome == cleanup.OutcomePending && slices.Contains(actions, r.Action) {
			r.Outcome, r.Message = outcome, prefix+r.Message
		}
	}
	return nil
}

// RunRowsAfter implements cleanup.RunStore.
func (s *RunStore) RunRowsAfter(_ context.Context, clientKey string, runID, afterID int64, limit int) ([]cleanup.AffectedUser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.run(clientKey, runID)
	if err != nil {
		return nil, err
	}
	var out []cleanup.AffectedUser
	for _, row := range s.rows {
		if len(out) == limit {
			break
		}
		if row.RunID == runID && row.ID > afterID {
			u := row.AffectedUser
			u.DryRun = r.run.DryRun
			out = append(out, u)
		}
	}
	return out, nil
}

// RestoredBy implements cleanup.RunStore.
func (s *RunStore) RestoredBy(_ context.Context, clientKey string, originalID, exceptRunID int64, accountIDs []string) (map[string]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int64{}
	for _, row := range s.rows {
		r := s.runs[row.RunID]
		if r.run.ClientKey != clientKey || r.run.RestoreOf != originalID || r.run.ID == exceptRunID || r.run.DryRun ||
			!slices.Contains(accountIDs, row.AccountID) {
			continue
		}
		switch row.Outcome {
		case cleanup.OutcomeDone, cleanup.OutcomeExported, cleanup.OutcomeHasAccess:
			k := cleanup.RestoreKey(row.AccountID, row.GroupID)
			if _, ok := out[k]; !ok {
				out[k] = row.RunID
			}
		}
	}
	return out, nil
}

// FinishRun implements cleanup.RunStore.
func (s *RunStore) FinishRun(_ context.Context, clientKey string, runID int64, owner, status, message string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.leased(clientKey, runID, owner)
	if err != nil {
		return err
	}
	ev := r.run.Counts.Evaluation
	counts := cleanup.RunCounts{Evaluated: ev.Evaluated, Matched: ev.Matched, Protected: ev.Protected, Evaluation: ev}
	for _, row := range s.rows {
		if row.RunID == runID {
			counts.AddRows(row.Action, row.Outcome, 1)
		}
	}
	if status == "" {
		status = cleanup.RunSucceeded
		if counts.Failed > 0 {
			status = cleanup.RunPartiallyFailed
		}
	}
	finished := at.UTC()
	r.run.Status, r.run.Phase, r.run.Error, r.run.Counts, r.run.FinishedAt = status, cleanup.PhaseDone, message, counts, &finished
	r.leaseOwner, r.leaseUntil = "", time.Time{}
	return nil
}

// Messages returns the run's rows as "account group action outcome: message"
// lines in id order, for compact assertions.
func (s *RunStore) Messages(runID int64) []string {
	var out []string
	for _, r := range s.Rows(runID) {
		out = append(out, strings.TrimSuffix(r.AccountID+" "+r.GroupID+" "+r.Action+" "+r.Outcome+": "+r.Message, ": "))
	}
	return out
}
