package cleanup

import (
	"fmt"
	"slices"
	"strings"
)

// A restore is a run that takes back what an earlier run (its original)
// did, for all of its users or for selected ones. Per row of the original
// it undoes exactly that row's change:
//
//	original row                               restore row
//	remove-product-access, done                restore-group: re-add in Atlassian
//	deactivate, done                           reactivate: reactivate the account
//	idp-remove, done (removed by the run)      idp-add: re-add through Microsoft Graph
//	idp-export, exported                       idp-add-export: the group's bulk-add file
//
// It never re-adds a user whom someone else has removed since: what it can
// observe is whether the account is still in the organization, whether it
// is still active (deactivated or suspended since: not restored), whether
// the user is already back in the group (already has access), and whether
// an earlier restore of the same run already restored the row. Rows of the
// original that changed nothing (skipped, manual, failed, review, dry run)
// have nothing to restore and get no row.

// Restore actions: what a restore does for one row of its original run.
const (
	// ActionRestoreGroup re-adds the user to the Atlassian-managed group
	// the original run removed them from (product REST API).
	ActionRestoreGroup = "restore-group"
	// ActionReactivate reactivates the account the original run
	// deactivated (User management API).
	ActionReactivate = "reactivate"
	// ActionIdPAdd re-adds the user to the identity-provider group the
	// original run removed them from (Microsoft Graph).
	ActionIdPAdd = "idp-add"
	// ActionIdPAddExport is a row of the identity provider's bulk-add file
	// of the group: the original run exported the user to the group's
	// bulk-remove file.
	ActionIdPAddExport = "idp-add-export"
)

// Outcomes only a restore gives.
const (
	// OutcomeHasAccess: the user already has what the restore would give
	// back (back in the group, active again): nothing to do.
	OutcomeHasAccess = "has-access"
	// OutcomeNotRestored: deliberately not restored; the message says why
	// (removed since by someone else, no longer in the organization,
	// already restored by an earlier restore).
	OutcomeNotRestored = "not-restored"
)

// TriggerRestore marks a run that restores an earlier run (Run.RestoreOf).
const TriggerRestore = "restore"

// PhaseRestorePlan is the first phase of a restore: read the original
// run's rows, check each user's current state and plan the restore rows.
const PhaseRestorePlan = "restore-plan"

// Results of adding one member in the identity provider.
const (
	MemberAdded    = "added"          // the membership was added now
	MemberAlready  = "already-member" // the user is already a member
	MemberUserGone = "user-not-found" // no such user (any more)
	MemberFailed   = "failed"         // see Message
)

// AddResult is the outcome of adding one member in the identity provider.
type AddResult struct {
	ObjectID string
	Outcome  string
	Message  string // for failures: safe to show to an admin
}

// MaxRestoreAccounts bounds the users one restore of selected users names.
const MaxRestoreAccounts = 1000

// messageIdPNotMember is the message of a direct-removal row whose user
// was not a member in the identity provider: the run removed nothing, so
// a restore has nothing to undo (engine_idp.go writes it).
const messageIdPNotMember = "already not a member in the identity provider"

// restoreActions are the actions of restore rows.
func restoreActions() []string {
	return []string{ActionRestoreGroup, ActionReactivate, ActionIdPAdd, ActionIdPAddExport}
}

// restoreActedActions are the restore actions the apply phase performs
// row by row (the bulk-add file rows are settled by the export).
func restoreActedActions() []string {
	return []string{ActionRestoreGroup, ActionReactivate, ActionIdPAdd}
}

// IsRestoreAction reports whether a row's action is a restore's.
func IsRestoreAction(a string) bool { return slices.Contains(restoreActions(), a) }

// RestoreActionOf returns the restore action that undoes a row of an
// original run, and false when the row changed nothing.
func RestoreActionOf(r AffectedUser) (string, bool) {
	switch {
	case r.DryRun:
		return "", false
	case r.Action == ActionRemoveProductAccess && r.Outcome == OutcomeDone:
		return ActionRestoreGroup, true
	case r.Action == ActionDeactivate && r.Outcome == OutcomeDone:
		return ActionReactivate, true
	case r.Action == ActionIdPRemove && r.Outcome == OutcomeDone && !strings.HasPrefix(r.Message, messageIdPNotMember):
		return ActionIdPAdd, true
	case r.Action == ActionIdPExport && r.Outcome == OutcomeExported:
		return ActionIdPAddExport, true
	}
	return "", false
}

// RestoreKey identifies what a restore row gives back: the account and
// the group ("" for the account itself).
func RestoreKey(accountID, groupID string) string { return accountID + "\x00" + groupID }

// planRestoreRow plans the restore of one row of run origID (action from
// RestoreActionOf) from the user's current state: u, when found in the
// organization, and earlier, the restore run that already restored the
// row (0: none).
func planRestoreRow(orig AffectedUser, action string, origID int64, u OrgUser, found bool, earlier int64) AffectedUser {
	r := AffectedUser{
		AccountID: orig.AccountID, Name: orig.Name, Email: orig.Email, AccountType: orig.AccountType,
		PriorStatus: orig.PriorStatus, Product: orig.Product, GroupID: orig.GroupID, GroupName: orig.GroupName, GroupSynced: orig.GroupSynced,
		IdentityProvider: orig.IdentityProvider, LastActive: orig.LastActive, Action: action,
		Outcome: OutcomePending,
	}
	provider := providerName(orig.IdentityProvider)
	switch action {
	case ActionRestoreGroup:
		r.Reason = fmt.Sprintf("removed from the group by run #%d", origID)
		r.Message = "to be re-added to the group"
	case ActionReactivate:
		r.Reason = fmt.Sprintf("deactivated by run #%d", origID)
		r.Message = "to be reactivated"
		if orig.PriorStatus == StatusSuspended {
			r.Message = "to be reactivated and suspended again, as before the run"
		}
	case ActionIdPAdd:
		r.Reason = fmt.Sprintf("removed in %s by run #%d", provider, origID)
		r.Message = "to be re-added in " + provider
	case ActionIdPAddExport:
		r.Reason = fmt.Sprintf("exported to the bulk-remove file by run #%d", origID)
		r.Message = fmt.Sprintf("written to the bulk-add file of the group: upload it in %s", provider)
	}
	notRestored := func(why string) AffectedUser {
		r.Outcome, r.Message = OutcomeNotRestored, why
		return r
	}
	switch {
	case earlier != 0:
		return notRestored(fmt.Sprintf("already restored by run #%d", earlier))
	case strings.HasPrefix(orig.AccountID, ClosedAccountPrefix):
		return notRestored(ClosedAccountMessage)
	case !found:
		return notRestored("no longer in the organization (removed since by someone else): not restored")
	case action == ActionReactivate:
		switch u.Status {
		case StatusDeactivated:
			return r
		case StatusActive:
			r.Outcome, r.Message = OutcomeHasAccess, "the account is active again"
			return r
		case StatusSuspended:
			if orig.PriorStatus == StatusSuspended {
				r.Outcome, r.Message = OutcomeHasAccess, "the account is reactivated and suspended again, as before the run"
				return r
			}
		}
		return notRestored(fmt.Sprintf("the account is %s (changed since by someone else): not restored", u.Status))
	case u.Status == StatusDeactivated:
		return notRestored("the account has been deactivated since the run (by someone else): not restored")
	case u.Status != StatusActive:
		return notRestored(fmt.Sprintf("the account is %s since the run (by someone else): not restored", u.Status))
	case action == ActionRestoreGroup && slices.Contains(u.GroupIDs, orig.GroupID):
		r.Outcome, r.Message = OutcomeHasAccess, "already back in the group"
	}
	// Rows of identity-provider groups are not judged by the Atlassian
	// group: its membership follows the identity provider only after the
	// next provisioning cycle, so a user removed there a moment ago still
	// shows in it. Graph says whether the user is already a member
	// (MemberAlready); the bulk-add file tolerates members ("Member
	// already exists" in Entra's results file).
	return r
}
