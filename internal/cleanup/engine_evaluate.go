package cleanup

import (
	"context"
	"slices"
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
	// The next page is fetched while the current one is evaluated and
	// committed: cursor paging is sequential, so this overlap is what keeps
	// evaluation bound by the API rather than by our database. A page
	// fetched but not committed (the chunk ended, or the process died) is
	// simply fetched again by the next step.
	type fetched struct {
		page UserPage
		err  error
	}
	fetch := func(cursor string) <-chan fetched {
		ch := make(chan fetched, 1)
		go func() {
			p, err := org.SearchUsers(ctx, q, cursor)
			ch <- fetched{p, err}
		}()
		return ch
	}
	next := fetch(s.run.Cursor)
	for {
		f := <-next
		if f.err != nil {
			return false, f.err
		}
		page := f.page
		end := s.expired()
		if page.Next != "" && !end {
			next = fetch(page.Next)
		}
		rows, counts := ev.Evaluate(page.Users)
		for i := range rows {
			rows[i].RunID = s.run.ID
		}
		rows, warnings, err := s.planWarnings(ctx, page.Users, rows) // engine_warn.go
		if err != nil {
			return false, err
		}
		c := Commit{Rows: rows, AddCounts: &counts, Cursor: &page.Next, EndChunk: end, Warnings: warnings}
		if page.Next == "" {
			c.Phase = PhaseApply
		}
		if err := s.commit(ctx, c); err != nil {
			return false, err
		}
		s.run.Cursor = page.Next
		if c.EndChunk {
			return true, nil
		}
		if page.Next == "" {
			return false, nil
		}
	}
}
