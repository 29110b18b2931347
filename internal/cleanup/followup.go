package cleanup

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// FollowUp is the re-check of a finished run after the identity provider's
// next provisioning cycle (Settings.IdentityProvider.FollowUpAfterMinutes):
// which users the run removed (in Atlassian or in the identity provider) or
// exported for removal are still members of the group, so still have the
// product access the run took away. A synced group re-adds a user removed
// only in Atlassian; an export nobody uploaded changes nothing.
type FollowUp struct {
	DueAt     time.Time  `json:"dueAt"`
	CheckedAt *time.Time `json:"checkedAt,omitempty"`
	// Checked is the number of rows checked; StillPresent of them are
	// still members of their group.
	Checked      int `json:"checked"`
	StillPresent int `json:"stillPresent"`
	// Error says why the check could not be made, safe to show.
	Error string `json:"error,omitempty"`
}

// FollowUpResult is the follow-up verdict of one row.
type FollowUpResult struct {
	RowID        int64
	StillPresent bool
	Message      string // safe to show
}

// FollowUpUser is a checked row with its verdict.
type FollowUpUser struct {
	AffectedUser
	StillPresent    bool   `json:"stillPresent"`
	FollowUpMessage string `json:"followUpMessage"`
}

// FollowUpRowsOf reports whether a row of the given action and outcome is
// re-checked by the follow-up: memberships the run removed, in Atlassian or
// in the identity provider, and those it exported for removal.
func FollowUpRowsOf(action, outcome string) bool {
	switch action {
	case ActionRemoveProductAccess, ActionIdPRemove:
		return outcome == OutcomeDone
	case ActionIdPExport:
		return outcome == OutcomeExported
	}
	return false
}

// FollowUpActions are the actions FollowUpRowsOf may accept.
func FollowUpActions() []string {
	return []string{ActionRemoveProductAccess, ActionIdPRemove, ActionIdPExport}
}

// followUpChunk bounds the account ids of one user search.
const followUpChunk = 100

// CheckFollowUp re-reads the group memberships of the run's removed and
// exported users through the Organizations API (one bulk search per 100
// accounts) and records which of them are still members. A remote that is
// unavailable returns the error (the job retries); a check that cannot be
// made (no organization settings any more) is recorded as the follow-up's
// error. Checking again replaces the previous verdicts. An uninstalled
// tenant's follow-up is cancelled (KindNotFound, its reason recorded) and a
// disabled tenant's waits (KindUnavailable with DisabledRecheck).
func (s *Service) CheckFollowUp(ctx context.Context, clientKey string, runID int64) error {
	if err := s.followUpGate(ctx, clientKey); err != nil {
		return err
	}
	rows, err := s.store.FollowUpRows(ctx, clientKey, runID)
	if err != nil {
		return err
	}
	record := func(results []FollowUpResult, failure string) error {
		return s.store.RecordFollowUp(ctx, clientKey, runID, s.now().UTC(), results, failure)
	}
	if len(rows) == 0 {
		return record(nil, "")
	}
	org, err := s.conn.Org(ctx, clientKey)
	if err != nil {
		if KindOf(err) == KindUnavailable || ctx.Err() != nil {
			return err
		}
		return record(nil, "the follow-up could not read the organization: "+safeMessage(err))
	}
	var ids []string
	seen := map[string]bool{}
	for _, r := range rows {
		if !seen[r.AccountID] {
			seen[r.AccountID] = true
			ids = append(ids, r.AccountID)
		}
	}
	users := make(map[string]OrgUser, len(ids))
	for chunk := range slices.Chunk(ids, followUpChunk) {
		cursor := ""
		for {
			page, err := org.SearchUsers(ctx, UserQuery{AccountIDs: chunk}, cursor)
			if err != nil {
				if KindOf(err) == KindUnavailable || ctx.Err() != nil {
					return err
				}
				return record(nil, "the follow-up could not read the users: "+safeMessage(err))
			}
			for _, u := range page.Users {
				users[u.AccountID] = u
			}
			if page.Next == "" {
				break
			}
			cursor = page.Next
		}
	}
	results := make([]FollowUpResult, 0, len(rows))
	present := 0
	for _, r := range rows {
		u, ok := users[r.AccountID]
		res := FollowUpResult{RowID: r.ID}
		switch {
		case !ok:
			res.Message = "the account is no longer in the organization"
		case slices.Contains(u.GroupIDs, r.GroupID):
			res.StillPresent = true
			res.Message = stillPresentMessage(r)
		default:
			res.Message = "no longer a member of the group"
		}
		if res.StillPresent {
			present++
		}
		results = append(results, res)
	}
	s.log.InfoContext(ctx, "run follow-up checked", "client_key", clientKey, "run_id", runID, "rows", len(rows), "still_present", present)
	return record(results, "")
}

func stillPresentMessage(r AffectedUser) string {
	switch r.Action {
	case ActionIdPExport:
		return fmt.Sprintf("still a member of %s: the bulk-remove file was not uploaded, or the removal has not synced yet", r.GroupName)
	case ActionIdPRemove:
		return fmt.Sprintf("still a member of %s: the identity provider's sync added them back or has not run yet", r.GroupName)
	}
	if r.GroupSynced {
		return fmt.Sprintf("still a member of %s: the group is synced from an identity provider, remove them there", r.GroupName)
	}
	return fmt.Sprintf("still a member of %s: someone added them back", r.GroupName)
}

// GetFollowUpUsers returns a page of a run's follow-up verdicts; a non-nil
// stillPresent selects those with that verdict.
func (s *Service) GetFollowUpUsers(ctx context.Context, clientKey string, runID int64, stillPresent *bool, p Page) ([]FollowUpUser, int, error) {
	return s.store.FollowUpUsers(ctx, clientKey, runID, stillPresent, p.Normalized())
}
