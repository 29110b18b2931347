package cleanup

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// actedActions are the actions the apply phase performs row by row.
func actedActions() []string {
	return []string{ActionRemoveProductAccess, ActionDeactivate, ActionIdPRemove}
}

// apply acts on pending rows; it returns true when it ended the chunk.
func (s *step) apply(ctx context.Context) (bool, error) {
	if s.run.RestoreOf != 0 {
		return s.applyRestore(ctx) // engine_restore.go
	}
	st := s.e.cfg.Store
	if s.run.DryRun {
		// Nothing changes in a dry run, but its identity-provider files are
		// generated (dryrun.go). Rows a protection rule skipped are not
		// pending and stay as they are; a dry run's evaluation commits its
		// rows settled already, so this settles only rows an earlier
		// version committed pending.
		if err := s.settleStored(ctx, dryRunRules(actedActions(), ActionIdPExport)); err != nil {
			return false, err
		}
		return s.nextAfterApply(ctx)
	}
	// Rows routed to the identity-provider export are settled by the
	// export itself; they need no call here.
	if err := st.SettleRows(ctx, s.run.ClientKey, s.run.ID, s.owner, []string{ActionIdPExport}, OutcomeExported, ""); err != nil {
		return false, storeErr("settle export rows", err)
	}
	return s.applyPending(ctx, actedActions(), s.verifyInDoubt, s.nextAfterApply)
}

// applyPending acts on the run's pending rows of the given actions, a batch
// at a time: rows an earlier attempt may have acted on are checked first
// (verify), the others are marked attempted before acting, and each batch's
// outcomes are committed with the chunk's end. It is the one loop of the
// removal (applyRun) and of the restore (applyRestore); done moves the run
// on when no row is pending. It returns true when it ended the chunk.
func (s *step) applyPending(ctx context.Context, actions []string,
	verify func(context.Context, OrgDirectory, []PendingRow) ([]RowOutcome, []PendingRow, error),
	done func(context.Context) (bool, error)) (bool, error) {
	st := s.e.cfg.Store
	var (
		org  OrgDirectory
		site SiteDirectory
	)
	for {
		rows, err := st.PendingRows(ctx, s.run.ClientKey, s.run.ID, actions, s.e.cfg.ApplyBatch)
		if err != nil {
			return false, storeErr("read pending rows", err)
		}
		if len(rows) == 0 {
			return done(ctx)
		}
		if org == nil {
			if org, err = s.e.cfg.Connector.Org(ctx, s.run.ClientKey); err != nil {
				return false, err
			}
			if site, err = s.e.cfg.Connector.Site(ctx, s.run.ClientKey); err != nil {
				return false, err
			}
		}
		outcomes, todo, err := verify(ctx, org, rows)
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

// nextAfterApply ends the apply phase.
func (s *step) nextAfterApply(ctx context.Context) (bool, error) {
	next, err := s.afterApply(ctx)
	if err != nil {
		return false, err
	}
	return s.endPhase(ctx, next)
}

// verifyInDoubt checks rows that an earlier attempt may have acted on with
// one bulk user search: a membership (or account) already gone is done. It
// returns those outcomes and the rows still to act on.
func (s *step) verifyInDoubt(ctx context.Context, org OrgDirectory, rows []PendingRow) ([]RowOutcome, []PendingRow, error) {
	return verifyAttempted(ctx, org, rows, ActionIdPRemove, func(r PendingRow, u OrgUser, found bool) (RowOutcome, bool) {
		switch {
		case !found:
			return RowOutcome{ID: r.ID, Outcome: OutcomeDone, Message: "verified after a restart: the account is no longer in the organization"}, true
		case r.Action == ActionDeactivate && u.Status == StatusDeactivated:
			return RowOutcome{ID: r.ID, Outcome: OutcomeDone, Message: "verified after a restart: already deactivated"}, true
		case r.Action == ActionRemoveProductAccess && !slices.Contains(u.GroupIDs, r.GroupID):
			return RowOutcome{ID: r.ID, Outcome: OutcomeDone, Message: "verified after a restart: already removed from the group"}, true
		}
		return RowOutcome{}, false
	})
}

// verifyAttempted is the check after a restart of the removal and of the
// restore: the accounts of the rows an earlier attempt may have acted on
// (AttemptedAt set; rows of the identity provider's action, idpAction,
// are checked against the group's members by their own path) are read
// with one user search, and settled judges each such row by what the
// organization holds now (found false: the account is gone). It returns
// the settled outcomes and the rows still to act on, in row order.
func verifyAttempted(ctx context.Context, org OrgDirectory, rows []PendingRow, idpAction string,
	settled func(r PendingRow, u OrgUser, found bool) (RowOutcome, bool)) ([]RowOutcome, []PendingRow, error) {
	var ids []string
	seen := map[string]bool{}
	for _, r := range rows {
		if r.AttemptedAt != nil && r.Action != idpAction && !seen[r.AccountID] {
			seen[r.AccountID] = true
			ids = append(ids, r.AccountID)
		}
	}
	if len(ids) == 0 {
		return nil, rows, nil
	}
	users, err := searchAccounts(ctx, org, ids)
	if err != nil {
		return nil, nil, err
	}
	var done []RowOutcome
	var todo []PendingRow
	for _, r := range rows {
		if r.AttemptedAt == nil || !seen[r.AccountID] {
			todo = append(todo, r)
			continue
		}
		u, found := users[r.AccountID]
		if o, ok := settled(r, u, found); ok {
			done = append(done, o)
		} else {
			todo = append(todo, r)
		}
	}
	return done, todo, nil
}

// act performs the rows' actions with bounded concurrency. When a remote is
// unavailable it stops and returns the outcomes gathered so far with the
// error; other failures become failed rows. Outcomes come in row order
// (the direct actions first, then the identity provider's), whatever
// order the actions finish in.
func (s *step) act(ctx context.Context, org OrgDirectory, site SiteDirectory, rows []PendingRow) ([]RowOutcome, error) {
	var idpRows, addRows, direct []PendingRow
	for _, r := range rows {
		switch r.Action {
		case ActionIdPRemove:
			idpRows = append(idpRows, r)
		case ActionIdPAdd:
			addRows = append(addRows, r)
		default:
			direct = append(direct, r)
		}
	}
	out, err := s.actDirect(ctx, org, site, direct)
	if err != nil {
		return out, err
	}
	if len(idpRows) > 0 {
		o, err := s.removeInIdP(ctx, idpRows)
		out = append(out, o...)
		if err != nil {
			return out, err
		}
	}
	if len(addRows) > 0 {
		o, err := s.addInIdP(ctx, addRows) // engine_restore.go
		out = append(out, o...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// actDirect acts on rows in Atlassian, at most Concurrency at a time. The
// first error (an unavailable remote) cancels the rest; the outcomes of
// the rows that finished are returned in row order with it.
func (s *step) actDirect(ctx context.Context, org OrgDirectory, site SiteDirectory, rows []PendingRow) ([]RowOutcome, error) {
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		results  = make([]RowOutcome, len(rows))
		done     = make([]bool, len(rows))
		firstErr error
		wg       sync.WaitGroup
		sem      = make(chan struct{}, s.e.cfg.Concurrency)
	)
	for i, r := range rows {
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
			results[i], done[i] = o, true
		})
	}
	wg.Wait()
	var out []RowOutcome
	for i := range rows {
		if done[i] {
			out = append(out, results[i])
		}
	}
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return out, firstErr
}

// actOne acts on one row. Only an unavailable remote (or cancellation)
// returns an error; everything else is the row's outcome.
func (s *step) actOne(ctx context.Context, org OrgDirectory, site SiteDirectory, r PendingRow) (RowOutcome, error) {
	if IsRestoreAction(r.Action) {
		return s.restoreOne(ctx, org, site, r) // engine_restore.go
	}
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
