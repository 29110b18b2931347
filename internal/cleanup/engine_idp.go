package cleanup

import (
	"cmp"
	"context"
)

// removeInIdP removes rows routed to the identity provider directly, group
// by group in the order the groups first appear in rows: find the group,
// resolve the users by e-mail, re-check rows an earlier attempt may have
// removed, remove in batches, and route whatever could not be removed to
// the group's bulk-remove file. Outcomes come in a fixed order: per group,
// the rows each step settled, in row order.
func (s *step) removeInIdP(ctx context.Context, rows []PendingRow) ([]RowOutcome, error) {
	idp, err := s.e.cfg.Connector.IdP(ctx, s.run.ClientKey)
	if err != nil {
		if KindOf(err) == KindUnavailable {
			return nil, err
		}
		return s.exportRows(rows, "direct removal in the identity provider is not available ("+safeMessage(err)+")"), nil
	}
	r := &idpRemoval{s: s, idp: idp, idpGroup: map[string]string{}}
	for _, g := range s.run.Groups {
		r.idpGroup[g.ID] = cmp.Or(g.IdPGroup, g.Name)
	}
	for _, rs := range groupRows(rows) {
		if err := r.group(ctx, rs); err != nil {
			return r.out, err
		}
	}
	return r.out, nil
}

// groupRows splits rows by group, groups in order of first appearance,
// rows in their order.
func groupRows(rows []PendingRow) [][]PendingRow {
	index := map[string]int{}
	var out [][]PendingRow
	for _, r := range rows {
		i, ok := index[r.GroupID]
		if !ok {
			i = len(out)
			index[r.GroupID] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], r)
	}
	return out
}

// exportRows routes rows that could not be removed directly to the group's
// bulk-remove file instead, so the admin can still finish the job.
func (s *step) exportRows(rs []PendingRow, why string) []RowOutcome {
	out := make([]RowOutcome, len(rs))
	for i, r := range rs {
		out[i] = RowOutcome{ID: r.ID, Outcome: OutcomeExported, Rerouted: true, Action: ActionIdPExport,
			GroupSynced: true, IdentityProvider: cmp.Or(r.IdentityProvider, s.run.Settings.IdentityProvider.Provider),
			Message: why + ": exported to the group's bulk-remove file"}
	}
	return out
}

// settleRows gives every row the same outcome.
func settleRows(rs []PendingRow, outcome, msg string) []RowOutcome {
	out := make([]RowOutcome, len(rs))
	for i, r := range rs {
		out[i] = RowOutcome{ID: r.ID, Outcome: outcome, Message: msg}
	}
	return out
}

// idpRemoval is the state of one step's direct removals.
type idpRemoval struct {
	s        *step
	idp      IdentityProvider
	idpGroup map[string]string // Atlassian group id → identity-provider group
	out      []RowOutcome
}

// stop reports whether err must end the step (the remote is unavailable
// or ctx ended: the rows stay pending and attempted, and the next step
// verifies them before removing anything) rather than settle the rows.
func stop(ctx context.Context, err error) bool {
	return KindOf(err) == KindUnavailable || ctx.Err() != nil
}

// members are the group's users to remove: object ids in the order their
// rows come, and each id's rows.
type members struct {
	ids   []string
	rowOf map[string][]PendingRow
}

// group removes one group's rows.
func (r *idpRemoval) group(ctx context.Context, rs []PendingRow) error {
	g, err := r.idp.FindGroup(ctx, cmp.Or(r.idpGroup[rs[0].GroupID], rs[0].GroupName))
	if err != nil {
		if KindOf(err) == KindUnavailable {
			return err
		}
		r.out = append(r.out, r.s.exportRows(rs, "identity provider group: "+safeMessage(err))...)
		return nil
	}
	if b := g.ChangeBlocker(); b != "" {
		r.out = append(r.out, settleRows(rs, OutcomeManual, b)...)
		return nil
	}
	m, err := r.resolve(ctx, rs)
	if err != nil {
		if KindOf(err) == KindUnavailable {
			return err
		}
		r.out = append(r.out, r.s.exportRows(rs, "resolve users: "+safeMessage(err))...)
		return nil
	}
	if err := r.recheck(ctx, g, rs, &m); err != nil || len(m.ids) == 0 {
		return err
	}
	return r.remove(ctx, g, m)
}

// resolve finds the rows' users by e-mail; a row without a visible e-mail
// or without a user is manual.
func (r *idpRemoval) resolve(ctx context.Context, rs []PendingRow) (members, error) {
	var upns []string
	for _, row := range rs {
		if row.Email != "" {
			upns = append(upns, row.Email)
		}
	}
	users := map[string]IdPUser{}
	if len(upns) > 0 {
		var err error
		if users, err = r.idp.ResolveUsers(ctx, upns); err != nil {
			return members{}, err
		}
	}
	provider := providerName(r.s.run.Settings.IdentityProvider.Provider)
	m := members{rowOf: map[string][]PendingRow{}}
	for _, row := range rs {
		u, ok := users[row.Email]
		switch {
		case row.Email == "":
			r.out = append(r.out, RowOutcome{ID: row.ID, Outcome: OutcomeManual,
				Message: "the e-mail address is not visible, so the user cannot be found in " + provider + ": remove them there by hand"})
			continue
		case !ok:
			r.out = append(r.out, RowOutcome{ID: row.ID, Outcome: OutcomeManual,
				Message: "no user with this e-mail address or user name in " + provider + ": remove them there by hand"})
			continue
		}
		if _, dup := m.rowOf[u.ObjectID]; !dup {
			m.ids = append(m.ids, u.ObjectID)
		}
		m.rowOf[u.ObjectID] = append(m.rowOf[u.ObjectID], row)
	}
	return m, nil
}

// recheck: a row an earlier attempt may have removed (the process died
// between the request and recording its outcome) is checked against one
// listing of the group before anything is resent, so a restart never
// removes twice. Users no longer members are done (their rows that were
// never attempted too: the membership is gone either way) and leave m.
func (r *idpRemoval) recheck(ctx context.Context, g IdPGroup, rs []PendingRow, m *members) error {
	inDoubt := false
	for _, row := range rs {
		inDoubt = inDoubt || row.AttemptedAt != nil
	}
	if !inDoubt || len(m.ids) == 0 {
		return nil
	}
	list, err := r.idp.MemberIDs(ctx, g.ID)
	if err != nil {
		if stop(ctx, err) {
			return err
		}
		// Only the rows still to remove go to the file: resolve already
		// settled the others (manual), and a row gets one outcome.
		why := "list the group's members: " + safeMessage(err)
		for _, id := range m.ids {
			r.out = append(r.out, r.s.exportRows(m.rowOf[id], why)...)
		}
		m.ids = nil
		return nil
	}
	isMember := make(map[string]bool, len(list))
	for _, id := range list {
		isMember[id] = true
	}
	keep := m.ids[:0]
	for _, id := range m.ids {
		if isMember[id] {
			keep = append(keep, id)
			continue
		}
		for _, row := range m.rowOf[id] {
			msg := messageIdPNotMember
			if row.AttemptedAt != nil {
				msg = "verified after a restart: no longer a member in the identity provider"
			}
			r.out = append(r.out, RowOutcome{ID: row.ID, Outcome: OutcomeDone, Message: msg})
		}
		delete(m.rowOf, id)
	}
	m.ids = keep
	return nil
}

// remove removes the members and settles their rows in the order of m.ids:
// removed or already gone is done; a failure, or no result at all, goes to
// the bulk-remove file.
func (r *idpRemoval) remove(ctx context.Context, g IdPGroup, m members) error {
	results, err := r.idp.RemoveMembers(ctx, g.ID, m.ids)
	if err != nil && len(results) == 0 {
		if stop(ctx, err) {
			return err
		}
		for _, id := range m.ids {
			r.out = append(r.out, r.s.exportRows(m.rowOf[id], "direct removal failed ("+safeMessage(err)+")")...)
		}
		return nil
	}
	if err != nil && stop(ctx, err) {
		// The adapter stopped part-way (throttled beyond its patience, or
		// cancelled): what it reported is settled, the rest stay pending
		// and attempted, and the next step verifies them against the
		// group's members before removing anything.
		r.settleResults(m, results, "")
		return err
	}
	why := "the identity provider reported no result"
	if err != nil {
		why = "direct removal failed (" + safeMessage(err) + ")"
	}
	r.settleResults(m, results, why)
	return nil
}

// settleResults settles the rows of every id with a result, in the order
// of m.ids. Ids without a result go to the bulk-remove file for why, or
// stay pending when why is "".
func (r *idpRemoval) settleResults(m members, results []RemovalResult, why string) {
	byID := make(map[string]RemovalResult, len(results))
	for _, res := range results {
		if _, asked := m.rowOf[res.ObjectID]; asked {
			if _, seen := byID[res.ObjectID]; !seen { // reported twice: the first counts
				byID[res.ObjectID] = res
			}
		}
	}
	for _, id := range m.ids {
		rows := m.rowOf[id]
		res, ok := byID[id]
		var o RowOutcome
		switch {
		case !ok && why == "":
			continue
		case !ok:
			r.out = append(r.out, r.s.exportRows(rows, why)...)
			continue
		case res.Outcome == RemovalRemoved:
			o = RowOutcome{Outcome: OutcomeDone, Message: "removed in the identity provider"}
		case res.Outcome == RemovalNotMember:
			o = RowOutcome{Outcome: OutcomeDone, Message: messageIdPNotMember}
		default:
			o = r.s.exportRows(rows[:1], "direct removal failed ("+cmp.Or(res.Message, "no reason given")+")")[0]
		}
		for _, row := range rows {
			o.ID = row.ID
			r.out = append(r.out, o)
		}
	}
}
