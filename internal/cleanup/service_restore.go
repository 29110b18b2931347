package cleanup

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// RestoreInput asks for a restore of a run (restore.go): a dry run or
// not, for the run's users named (none: all of them).
type RestoreInput struct {
	DryRun     bool     `json:"dryRun"`
	AccountIDs []string `json:"accountIds"`
}

// StartRestore queues a restore of the tenant's run runID, started by the
// account, and returns its id. Only a finished run that was not a dry run
// and is not itself a restore can be restored, one restore of a run at a
// time; named users must be users of the run. Reactivating accounts (a
// run that deactivated) affects the whole organization and needs the
// context's Authority, like the deactivation did.
func (s *Service) StartRestore(ctx context.Context, clientKey string, runID int64, in RestoreInput, accountID string) (int64, error) {
	if err := s.activeOrRefuse(ctx, clientKey); err != nil {
		return 0, err
	}
	orig, err := s.store.Run(ctx, clientKey, runID)
	if err != nil {
		return 0, err
	}
	switch {
	case orig.RestoreOf != 0:
		return 0, &Error{Kind: KindConflict, Field: "run", Message: "this run is a restore: it only gave access back, so there is nothing to restore"}
	case orig.DryRun:
		return 0, &Error{Kind: KindConflict, Field: "run", Message: "a dry run changed nothing, so there is nothing to restore"}
	case !orig.Finished():
		return 0, &Error{Kind: KindConflict, Field: "run", Message: "the run has not finished yet: restore it when it has"}
	}
	if orig.Definition.OrgWide() {
		if err := requireOrgAdmin(ctx); err != nil {
			return 0, err
		}
	}
	ids, err := restoreAccounts(in.AccountIDs)
	if err != nil {
		return 0, err
	}
	if len(ids) > 0 {
		found, err := s.store.RunAccounts(ctx, clientKey, runID, ids)
		if err != nil {
			return 0, err
		}
		var missing []string
		for _, id := range ids {
			if _, ok := slices.BinarySearch(found, id); !ok {
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 {
			if len(missing) > 5 {
				missing = append(missing[:5], fmt.Sprintf("and %d more", len(missing)-5))
			}
			return 0, Invalid("accountIds", "not users of run #%d: %s", runID, strings.Join(missing, ", "))
		}
	}
	set, err := s.store.Settings(ctx, clientKey)
	if err != nil {
		return 0, err
	}
	if !set.OrgConfigured() {
		return 0, &Error{Kind: KindNotConfigured, Field: "settings", Message: "set the organization ID and API key in settings first"}
	}
	return s.store.CreateRun(ctx, NewRun{
		ClientKey: clientKey, CleanupID: orig.CleanupID, CleanupName: orig.CleanupName,
		Definition: orig.Definition, Settings: set, Groups: orig.Groups,
		Trigger: TriggerRestore, StartedBy: accountID, DryRun: in.DryRun,
		RestoreOf: orig.ID, RestoreAccounts: ids,
	})
}

// restoreAccounts trims, de-duplicates and sorts the named accounts.
func restoreAccounts(in []string) ([]string, error) {
	var ids []string
	for i, id := range in {
		id = strings.TrimSpace(id)
		if id == "" {
			return nil, Invalid("accountIds", "entry %d is empty", i+1)
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) > MaxRestoreAccounts {
		return nil, Invalid("accountIds", "at most %d users can be restored at once; restore the whole run instead", MaxRestoreAccounts)
	}
	return ids, nil
}
