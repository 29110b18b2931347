package cleanup

import (
	"context"
	"fmt"
	"strings"
)

// UserAction is a bulk action of the users screen: an action on users an
// admin chose. It runs as a run of the engine like any cleanup (History,
// dry run, progress, audit), through a definition that selects exactly
// these accounts (Definition.AccountIDs).
type UserAction struct {
	Action     string   `json:"action"`     // ActionRemoveProductAccess
	AccountIDs []string `json:"accountIds"` // 1 to MaxSelectedUsers
	DryRun     bool     `json:"dryRun"`
}

// StartUserAction validates the action and starts its run, returning the
// run id. Removing product access removes the users from every licensing
// group they are in (synced groups go to the identity provider as any
// cleanup routes them); protected users (admins, exceptions) are skipped
// with the reason, as are app and customer accounts.
func (s *Service) StartUserAction(ctx context.Context, clientKey string, in UserAction, accountID string) (int64, error) {
	if err := s.activeOrRefuse(ctx, clientKey); err != nil {
		return 0, err
	}
	ids := normalizeIDs(in.AccountIDs)
	fe := FieldErrors{}
	switch in.Action {
	case ActionRemoveProductAccess:
	case "":
		fe.Add("action", "choose an action")
	default:
		fe.Add("action", "the users screen can remove product access (%q) only", ActionRemoveProductAccess)
	}
	switch {
	case len(ids) == 0:
		fe.Add("accountIds", "choose at least one user")
	case len(ids) > MaxSelectedUsers:
		fe.Add("accountIds", "at most %d users at a time", MaxSelectedUsers)
	}
	if err := fe.Err(); err != nil {
		return 0, err
	}
	set, err := s.store.Settings(ctx, clientKey)
	if err != nil {
		return 0, err
	}
	if !set.OrgConfigured() {
		return 0, &Error{Kind: KindNotConfigured, Field: "settings", Message: "set the organization ID and API key in settings first"}
	}
	d := DefaultDefinition()
	d.Name = fmt.Sprintf("Users screen: %s, %d %s", ActionWords(in.Action), len(ids), plural(len(ids), "user", "users"))
	d.Action, d.AccountIDs, d.Manual = in.Action, ids, true
	return s.store.CreateRun(ctx, NewRun{
		ClientKey: clientKey, CleanupName: d.Name, Definition: d, Settings: set,
		Trigger: TriggerManual, StartedBy: accountID, DryRun: in.DryRun,
	})
}

// ActionWords is the action's label in lower case, for sentences.
func ActionWords(action string) string {
	if l, ok := labelTable()["action"][action]; ok && l != "" {
		return strings.ToLower(l[:1]) + l[1:]
	}
	return action
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
