package cleanup

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
)

// restorePage is how many rows of the original run the plan phase reads
// (and checks with one user search: at most 100 accounts, one page of
// the Organizations API's answer) per commit.
const restorePage = 100

// planRestore reads the original run's rows after the cursor (the last
// row id read), checks the current state of their users and commits the
// planned restore rows page by page; it returns true when it ended the
// chunk.
func (s *step) planRestore(ctx context.Context) (bool, error) {
	st := s.e.cfg.Store
	org, err := s.e.cfg.Connector.Org(ctx, s.run.ClientKey)
	if err != nil {
		return false, err
	}
	if s.run.Status == RunQueued || s.run.StartedAt == nil {
		at := s.e.now().UTC()
		if err := st.BeginRun(ctx, s.run.ClientKey, s.run.ID, s.owner, s.run.Groups, at); err != nil {
			return false, storeErr("begin run", err)
		}
		s.run.StartedAt, s.run.Status = &at, RunRunning
		s.e.log.InfoContext(ctx, "restore started", "client_key", s.run.ClientKey, "run_id", s.run.ID,
			"restore_of", s.run.RestoreOf, "dry_run", s.run.DryRun, "selected", len(s.run.RestoreAccounts))
	}
	var selected map[string]bool
	if len(s.run.RestoreAccounts) > 0 {
		selected = make(map[string]bool, len(s.run.RestoreAccounts))
		for _, id := range s.run.RestoreAccounts {
			selected[id] = true
		}
	}
	after := int64(0)
	if s.run.Cursor != "" {
		if after, err = strconv.ParseInt(s.run.Cursor, 10, 64); err != nil {
			return false, fmt.Errorf("restore %d: bad cursor %q: %w", s.run.ID, s.run.Cursor, err)
		}
	}
	for {
		rows, err := st.RunRowsAfter(ctx, s.run.ClientKey, s.run.RestoreOf, after, restorePage)
		if err != nil {
			return false, storeErr("read the original run's rows", err)
		}
		type planned struct {
			orig   AffectedUser
			action string
		}
		var todo []planned
		var ids []string
		seen := map[string]bool{}
		for _, r := range rows {
			after = r.ID
			if selected != nil && !selected[r.AccountID] {
				continue
			}
			a, ok := RestoreActionOf(r)
			if !ok {
				continue
			}
			todo = append(todo, planned{r, a})
			if !seen[r.AccountID] {
				seen[r.AccountID] = true
				ids = append(ids, r.AccountID)
			}
		}
		var out []AffectedUser
		if len(todo) > 0 {
			users, err := searchAccounts(ctx, org, ids)
			if err != nil {
				return false, err
			}
			earlier, err := st.RestoredBy(ctx, s.run.ClientKey, s.run.RestoreOf, s.run.ID, ids)
			if err != nil {
				return false, storeErr("read earlier restores", err)
			}
			for _, p := range todo {
				u, found := users[p.orig.AccountID]
				row := planRestoreRow(p.orig, p.action, s.run.RestoreOf, u, found, earlier[RestoreKey(p.orig.AccountID, p.orig.GroupID)])
				row.RunID, row.DryRun = s.run.ID, s.run.DryRun
				out = append(out, row)
			}
		}
		last := len(rows) < restorePage
		cursor := strconv.FormatInt(after, 10)
		c := Commit{Rows: out, Cursor: &cursor, AddCounts: &Counts{Evaluated: len(todo), Matched: len(ids), Rows: len(out)}}
		if last {
			c.Phase = PhaseApply
		}
		c.EndChunk = s.expired()
		if err := s.commit(ctx, c); err != nil {
			return false, err
		}
		s.run.Cursor = cursor
		if c.EndChunk {
			return true, nil
		}
		if last {
			return false, nil
		}
	}
}

// searchAccounts finds the accounts in the organization (all pages): an
// account missing from the answer is no longer in it.
func searchAccounts(ctx context.Context, org OrgDirectory, ids []string) (map[string]OrgUser, error) {
	users := make(map[string]OrgUser, len(ids))
	cursor := ""
	for {
		page, err := org.SearchUsers(ctx, UserQuery{AccountIDs: ids}, cursor)
		if err != nil {
			return nil, err
		}
		for _, u := range page.Users {
			users[u.AccountID] = u
		}
		if page.Next == "" {
			return users, nil
		}
		cursor = page.Next
	}
}

// applyRestore gives back what the restore planned; it returns true when
// it ended the chunk. A dry run changes nothing (its bulk-add files are a
// preview, like a dry run's bulk-remove files).
func (s *step) applyRestore(ctx context.Context) (bool, error) {
	st := s.e.cfg.Store
	if s.run.DryRun {
		if err := s.settleStored(ctx, dryRunRules(restoreActedActions(), ActionIdPAddExport)); err != nil {
			return false, err
		}
		return s.endPhase(ctx, PhaseExport)
	}
	if err := st.SettleRows(ctx, s.run.ClientKey, s.run.ID, s.owner, []string{ActionIdPAddExport}, OutcomeExported, ""); err != nil {
		return false, storeErr("settle export rows", err)
	}
	return s.applyPending(ctx, restoreActedActions(), s.verifyRestoreInDoubt, func(ctx context.Context) (bool, error) {
		return s.endPhase(ctx, PhaseExport)
	})
}

// verifyRestoreInDoubt checks the Atlassian rows an earlier attempt may
// have acted on with one user search: a user already back in the group
// (or active again) is done. Identity-provider rows are checked against
// the group's members by addInIdP.
func (s *step) verifyRestoreInDoubt(ctx context.Context, org OrgDirectory, rows []PendingRow) ([]RowOutcome, []PendingRow, error) {
	return verifyAttempted(ctx, org, rows, ActionIdPAdd, func(r PendingRow, u OrgUser, found bool) (RowOutcome, bool) {
		switch {
		case !found:
			return RowOutcome{ID: r.ID, Outcome: OutcomeNotRestored, Message: "no longer in the organization (removed since by someone else): not restored"}, true
		case r.Action == ActionReactivate && u.Status == StatusActive && r.PriorStatus != StatusSuspended,
			r.Action == ActionReactivate && u.Status == StatusSuspended && r.PriorStatus == StatusSuspended:
			return RowOutcome{ID: r.ID, Outcome: OutcomeDone, Message: "verified after a restart: reactivated"}, true
		case r.Action == ActionRestoreGroup && slices.Contains(u.GroupIDs, r.GroupID):
			return RowOutcome{ID: r.ID, Outcome: OutcomeDone, Message: "verified after a restart: re-added to the group"}, true
		}
		return RowOutcome{}, false
	})
}

// restoreOne re-adds one user to an Atlassian-managed group or reactivates
// one account. Only an unavailable remote (or cancellation) returns an
// error; everything else is the row's outcome.
func (s *step) restoreOne(ctx context.Context, org OrgDirectory, site SiteDirectory, r PendingRow) (RowOutcome, error) {
	var err error
	msg := "re-added to the group"
	switch r.Action {
	case ActionRestoreGroup:
		err = site.AddGroupMember(ctx, r.GroupID, r.AccountID)
	case ActionReactivate:
		// A deactivation of a suspended account is undone with the
		// suspension: reactivated, then suspended again.
		err, msg = org.Reactivate(ctx, r.AccountID), "reactivated"
		if err == nil && r.PriorStatus == StatusSuspended {
			err, msg = org.Suspend(ctx, r.AccountID), "reactivated and suspended again, as before the run"
		}
	default:
		return RowOutcome{ID: r.ID, Outcome: OutcomeFailed, Message: fmt.Sprintf("unknown action %q", r.Action)}, nil
	}
	if err == nil {
		return RowOutcome{ID: r.ID, Outcome: OutcomeDone, Message: msg}, nil
	}
	if ctx.Err() != nil {
		return RowOutcome{}, ctx.Err()
	}
	switch KindOf(err) {
	case KindUnavailable:
		return RowOutcome{}, err
	case KindExternallyManaged:
		return RowOutcome{ID: r.ID, Outcome: OutcomeManual,
			Message: "managed by an identity provider: " + safeMessage(err) + "; give the access back there"}, nil
	case KindNotFound:
		return RowOutcome{ID: r.ID, Outcome: OutcomeNotRestored,
			Message: "the account or the group no longer exists (" + safeMessage(err) + "): not restored"}, nil
	}
	s.e.log.WarnContext(ctx, "restore action failed", "client_key", s.run.ClientKey, "run_id", s.run.ID,
		"row_id", r.ID, "action", r.Action, "error", err.Error())
	return RowOutcome{ID: r.ID, Outcome: OutcomeFailed, Message: safeMessage(err)}, nil
}

// addInIdP re-adds rows in the identity provider directly, group by group
// like removeInIdP: find the group, resolve the users by e-mail, re-check
// rows an earlier attempt may have added, add in batches. What cannot be
// added goes to the group's bulk-add file instead.
func (s *step) addInIdP(ctx context.Context, rows []PendingRow) ([]RowOutcome, error) {
	idp, err := s.e.cfg.Connector.IdP(ctx, s.run.ClientKey)
	if err != nil {
		if KindOf(err) == KindUnavailable {
			return nil, err
		}
		return s.addFileRows(rows, "re-adding in the identity provider directly is not available ("+safeMessage(err)+")"), nil
	}
	idpGroup := map[string]string{}
	for _, g := range s.run.Groups {
		idpGroup[g.ID] = cmp.Or(g.IdPGroupID, g.IdPGroup, g.Name)
	}
	var out []RowOutcome
	for _, rs := range groupRows(rows) {
		o, err := s.addGroup(ctx, idp, cmp.Or(idpGroup[rs[0].GroupID], rs[0].GroupName), rs)
		out = append(out, o...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// addFileRows routes rows that could not be re-added directly to the
// group's bulk-add file, so the admin can still finish the restore.
func (s *step) addFileRows(rs []PendingRow, why string) []RowOutcome {
	out := make([]RowOutcome, len(rs))
	for i, r := range rs {
		out[i] = RowOutcome{ID: r.ID, Outcome: OutcomeExported, Rerouted: true, Action: ActionIdPAddExport,
			GroupSynced: true, IdentityProvider: cmp.Or(r.IdentityProvider, s.run.Settings.IdentityProvider.Provider),
			Message: why + ": written to the group's bulk-add file"}
	}
	return out
}

// addGroup re-adds one group's rows.
func (s *step) addGroup(ctx context.Context, idp IdentityProvider, idOrName string, rs []PendingRow) ([]RowOutcome, error) {
	g, err := idp.FindGroup(ctx, idOrName)
	if err != nil {
		if stop(ctx, err) {
			return nil, err
		}
		return s.addFileRows(rs, "identity provider group: "+safeMessage(err)), nil
	}
	if b := g.ChangeBlocker(); b != "" {
		return settleRows(rs, OutcomeManual, b), nil
	}
	var out []RowOutcome
	var upns []string
	for _, r := range rs {
		if r.Email != "" {
			upns = append(upns, r.Email)
		}
	}
	users := map[string]IdPUser{}
	if len(upns) > 0 {
		if users, err = idp.ResolveUsers(ctx, upns); err != nil {
			if stop(ctx, err) {
				return nil, err
			}
			return s.addFileRows(rs, "resolve users: "+safeMessage(err)), nil
		}
	}
	provider := providerName(cmp.Or(rs[0].IdentityProvider, s.run.Settings.IdentityProvider.Provider))
	var ids []string
	rowOf := map[string][]PendingRow{}
	inDoubt := false
	for _, r := range rs {
		u, ok := users[r.Email]
		switch {
		case r.Email == "":
			out = append(out, RowOutcome{ID: r.ID, Outcome: OutcomeManual,
				Message: "the e-mail address is not visible, so the user cannot be found in " + provider + ": add them there by hand"})
			continue
		case !ok:
			out = append(out, RowOutcome{ID: r.ID, Outcome: OutcomeNotRestored,
				Message: "no user with this e-mail address or user name in " + provider + " any more (removed since by someone else): not restored"})
			continue
		}
		if _, dup := rowOf[u.ObjectID]; !dup {
			ids = append(ids, u.ObjectID)
		}
		rowOf[u.ObjectID] = append(rowOf[u.ObjectID], r)
		inDoubt = inDoubt || r.AttemptedAt != nil
	}
	if len(ids) == 0 {
		return out, nil
	}
	if inDoubt {
		// An earlier attempt may have added some before the process died:
		// a member now is done, whoever added them in between.
		list, err := idp.MemberIDs(ctx, g.ID)
		if err != nil {
			if stop(ctx, err) {
				return out, err
			}
			for _, id := range ids {
				out = append(out, s.addFileRows(rowOf[id], "list the group's members: "+safeMessage(err))...)
			}
			return out, nil
		}
		keep := ids[:0]
		for _, id := range ids {
			if !slices.Contains(list, id) {
				keep = append(keep, id)
				continue
			}
			for _, r := range rowOf[id] {
				o := RowOutcome{ID: r.ID, Outcome: OutcomeHasAccess, Message: "already a member in " + provider}
				if r.AttemptedAt != nil {
					o = RowOutcome{ID: r.ID, Outcome: OutcomeDone, Message: "verified after a restart: a member again in " + provider}
				}
				out = append(out, o)
			}
		}
		ids = keep
		if len(ids) == 0 {
			return out, nil
		}
	}
	results, err := idp.AddMembers(ctx, g.ID, ids)
	if err != nil && (len(results) == 0 || stop(ctx, err)) {
		if stop(ctx, err) {
			// The rows without a result stay pending and attempted; the
			// next step checks them against the group's members first.
			return append(out, addOutcomes(ids, rowOf, results, provider, nil)...), err
		}
		for _, id := range ids {
			out = append(out, s.addFileRows(rowOf[id], "re-adding failed ("+safeMessage(err)+")")...)
		}
		return out, nil
	}
	why := "the identity provider reported no result"
	if err != nil {
		why = "re-adding failed (" + safeMessage(err) + ")"
	}
	return append(out, addOutcomes(ids, rowOf, results, provider, func(rs []PendingRow, reason string) []RowOutcome {
		return s.addFileRows(rs, cmp.Or(reason, why))
	})...), nil
}

// addOutcomes settles the rows of every id with a result, in the order of
// ids. A failure, and an id without a result, go to the bulk-add file
// through toFile; with toFile nil they stay pending.
func addOutcomes(ids []string, rowOf map[string][]PendingRow, results []AddResult, provider string,
	toFile func(rs []PendingRow, reason string) []RowOutcome) []RowOutcome {
	byID := make(map[string]AddResult, len(results))
	for _, res := range results {
		if _, seen := byID[res.ObjectID]; !seen {
			byID[res.ObjectID] = res
		}
	}
	var out []RowOutcome
	for _, id := range ids {
		rows := rowOf[id]
		res, ok := byID[id]
		var o RowOutcome
		switch {
		case !ok && toFile == nil:
			continue
		case !ok:
			out = append(out, toFile(rows, "")...)
			continue
		case res.Outcome == MemberAdded:
			o = RowOutcome{Outcome: OutcomeDone, Message: "re-added in " + provider}
		case res.Outcome == MemberAlready:
			o = RowOutcome{Outcome: OutcomeHasAccess, Message: "already a member in " + provider}
		case res.Outcome == MemberUserGone:
			o = RowOutcome{Outcome: OutcomeNotRestored, Message: "the user no longer exists in " + provider + " (removed since by someone else): not restored"}
		case toFile == nil:
			continue
		default:
			out = append(out, toFile(rows, "re-adding failed ("+cmp.Or(res.Message, "no reason given")+")")...)
			continue
		}
		for _, r := range rows {
			o.ID = r.ID
			out = append(out, o)
		}
	}
	return out
}
