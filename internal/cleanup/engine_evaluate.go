package cleanup

import (
	"context"
	"slices"
	"sync"
)

// classify reads the products and groups once and classifies them.
func (s *step) classify(ctx context.Context, org OrgDirectory) ([]GroupInfo, error) {
	c, err := loadCatalog(ctx, s.e.cfg.Connector, s.run.ClientKey, org, s.run.Settings)
	if err != nil {
		return nil, err
	}
	return s.e.mapIdPGroups(ctx, s.run.ClientKey, s.run.Settings, s.run.Definition, c.Groups)
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
	q := UserQuery{GroupIDs: append(slices.Clone(d.LicensingGroupIDs), d.ExtraGroupIDs...), AccountIDs: d.AccountIDs, Limit: s.e.cfg.PageSize}
	st, err := decodeChains(s.run.Cursor)
	if err != nil {
		return false, err
	}
	if st == nil {
		plan := planChains(q.GroupIDs, s.e.cfg.EvalChains)
		st = &plan
	}
	return s.evaluateChains(ctx, org, ev, q, st)
}

// fetchedPage is a page of one chain, or the error that ended the chain.
type fetchedPage struct {
	chain int
	page  UserPage
	err   error
}

// evaluateChains follows the chains that are not done, each on its own
// goroutine, and evaluates and commits their pages on this one (see
// engine_chains.go). Each chain fetches its next page while the current one
// waits or is committed: cursor paging is sequential, so this overlap and
// the parallel chains are what keep evaluation bound by the API's rate
// limit rather than by its latency or our database. The pages that are
// waiting when several are ready are committed together. A page fetched
// but not committed (the chunk ended, or the process died) is fetched
// again by the next step.
func (s *step) evaluateChains(ctx context.Context, org OrgDirectory, ev *Evaluator, q UserQuery, st *evalChains) (bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	pages := make(chan fetchedPage, len(st.Chains))
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel: no fetch outlives the step
	defer cancel()
	for i, c := range st.Chains {
		if c.Done {
			continue
		}
		cq := st.query(i, q)
		cctx := WithRequestPriority(ctx, st.size(i, s.run.Groups))
		wg.Go(func() {
			err := org.FollowUsers(cctx, cq, c.Cursor, func(p UserPage) error {
				select {
				case pages <- fetchedPage{chain: i, page: p}:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
			if err != nil && ctx.Err() == nil {
				select {
				case pages <- fetchedPage{chain: i, err: err}:
				case <-ctx.Done():
				}
			}
		})
	}
	// seen keeps the step from evaluating an account twice when it moved
	// between chains during the step (claim status or groups changed).
	seen := map[string]struct{}{}
	dryRun := dryRunRules(actedActions(), ActionIdPExport)
	batch := make([]fetchedPage, 0, len(st.Chains))
	for {
		batch = batch[:0]
		select {
		case f := <-pages:
			batch = append(batch, f)
		case <-ctx.Done():
			return false, ctx.Err()
		}
	more:
		for len(batch) < cap(batch) {
			select {
			case f := <-pages:
				batch = append(batch, f)
			default:
				break more
			}
		}
		var (
			rows     []AffectedUser
			counts   Counts
			warnings []WarningChange
		)
		for _, f := range batch {
			if f.err != nil {
				return false, f.err
			}
			users := f.page.Users[:0:0]
			for _, u := range f.page.Users {
				if _, dup := seen[u.AccountID]; dup || !st.owns(f.chain, u) {
					continue
				}
				seen[u.AccountID] = struct{}{}
				users = append(users, u)
			}
			r, c := ev.Evaluate(users)
			for i := range r {
				r[i].RunID = s.run.ID
			}
			r, w, err := s.planWarnings(ctx, users, r) // engine_warn.go
			if err != nil {
				return false, err
			}
			if s.run.DryRun {
				settleInMemory(dryRun, r) // dryrun.go
			}
			rows, warnings = append(rows, r...), append(warnings, w...)
			counts.Add(c)
			ch := &st.Chains[f.chain]
			ch.Cursor, ch.Done = f.page.Next, f.page.Next == ""
		}
		cursor, err := st.encode()
		if err != nil {
			return false, err
		}
		end := s.expired()
		c := Commit{Rows: rows, AddCounts: &counts, Cursor: &cursor, EndChunk: end, Warnings: warnings}
		if st.done() {
			c.Phase = PhaseApply
		}
		if err := s.commit(ctx, c); err != nil {
			return false, err
		}
		s.run.Cursor = cursor
		if c.EndChunk {
			return true, nil
		}
		if st.done() {
			return false, nil
		}
	}
}
