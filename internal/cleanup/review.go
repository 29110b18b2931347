package cleanup

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
)

// ReviewDecision is the admin's decision on users of the review list.
type ReviewDecision struct {
	AccountIDs []string `json:"accountIds"` // 1 to MaxSelectedUsers, each with an open mark
	DryRun     bool     `json:"dryRun"`     // approvals only
}

// marksOf returns the open marks of the accounts, or an error naming how
// many have none.
func (s *Snapshots) marksOf(ctx context.Context, clientKey string, ids []string) (map[string]ReviewMark, error) {
	ids = normalizeIDs(ids)
	switch {
	case len(ids) == 0:
		return nil, Invalid("accountIds", "choose at least one user")
	case len(ids) > MaxSelectedUsers:
		return nil, Invalid("accountIds", "at most %d users at a time", MaxSelectedUsers)
	}
	marks, err := s.cfg.Store.ReviewMarks(ctx, clientKey, ids)
	if err != nil {
		return nil, err
	}
	if missing := len(ids) - len(marks); missing > 0 {
		return nil, Invalid("accountIds", "%d of the %d users are not marked for review (or were decided meanwhile): filter on \"Marked for review\" and choose again", missing, len(ids))
	}
	return marks, nil
}

// ApproveReviews runs, for each cleanup that marked the users, that
// cleanup's removal (remove product access, in the licensing groups it
// selects) for exactly these users, as a run like any other (History, dry
// run, progress, audit), and records the approval unless it is a dry run.
// It returns the runs' ids, one per marking cleanup.
func (s *Snapshots) ApproveReviews(ctx context.Context, clientKey string, in ReviewDecision, by string) ([]int64, error) {
	marks, err := s.marksOf(ctx, clientKey, in.AccountIDs)
	if err != nil {
		return nil, err
	}
	set, err := s.cfg.Source.Settings(ctx, clientKey)
	if err != nil {
		return nil, err
	}
	if !set.OrgConfigured() {
		return nil, &Error{Kind: KindNotConfigured, Field: "settings", Message: "set the organization ID and API key in settings first"}
	}
	byRun := map[int64][]string{} // the marking run → its accounts
	for id, m := range marks {
		byRun[m.RunID] = append(byRun[m.RunID], id)
	}
	var runIDs []int64
	for _, markRun := range slices.Sorted(maps.Keys(byRun)) {
		ids := slices.Sorted(slices.Values(byRun[markRun]))
		marked, err := s.cfg.Source.Run(ctx, clientKey, markRun)
		if err != nil {
			return runIDs, err
		}
		// The marking run's definition is what the cleanup was when it
		// marked them: its licensing groups and protections.
		d := marked.Definition
		d.Name = fmt.Sprintf("Review approved: %s, %d %s", cmp.Or(marked.CleanupName, "cleanup"), len(ids), plural(len(ids), "user", "users"))
		d.Action, d.AccountIDs, d.Manual = ActionRemoveProductAccess, ids, true
		d.Schedule.Active, d.Warning = false, WarningOptions{}
		id, err := s.cfg.Source.CreateRun(ctx, NewRun{ClientKey: clientKey, CleanupID: marked.CleanupID, CleanupName: d.Name,
			Definition: d, Settings: set, Trigger: TriggerManual, StartedBy: by, DryRun: in.DryRun})
		if err != nil {
			return runIDs, err
		}
		runIDs = append(runIDs, id)
	}
	if !in.DryRun {
		if err := s.cfg.Store.DecideReviews(ctx, clientKey, marks, ReviewApproved, by, s.now()); err != nil {
			return runIDs, err
		}
	}
	return runIDs, nil
}

// DismissReviews takes the users off the review list without changing
// anything in Atlassian; a later review run marks them again.
func (s *Snapshots) DismissReviews(ctx context.Context, clientKey string, in ReviewDecision, by string) (int, error) {
	marks, err := s.marksOf(ctx, clientKey, in.AccountIDs)
	if err != nil {
		return 0, err
	}
	if err := s.cfg.Store.DecideReviews(ctx, clientKey, marks, ReviewDismissed, by, s.now()); err != nil {
		return 0, err
	}
	return len(marks), nil
}
