package cleanup

import (
	"context"
	"time"
)

// Warning phases of the engine (warning.go has the rules). A cleanup with
// warnings plans each evaluated page with PlanWarnings, so the page's
// rows and its warnings are committed together. After apply, the
// warnings phase spares the open warnings whose users the run did not see
// and closes the warnings the run acted on; the notify phase then queues
// the run's e-mails as batch jobs and waits until every one is settled,
// so the run's exports carry the e-mail outcomes.

// Engine settings of the warning phases.
const (
	// WarningBatch bounds the warnings one commit spares or closes, and
	// the e-mails of one sending job.
	WarningBatch = 100
	// notifyPoll is how often a run waiting for its e-mails looks again.
	notifyPoll = 2 * time.Second
)

func (s *step) warns() bool { return s.run.Definition.Warning.Enabled }

// afterApply is the phase after apply.
func (s *step) afterApply() string {
	if s.warns() {
		return PhaseWarnings
	}
	return PhaseExport
}

func (s *step) warningStore() (WarningStore, error) {
	if s.e.cfg.Warnings == nil {
		return nil, &Error{Kind: KindNotConfigured, Message: "warnings before removal are not available on this server (no mail server configured)"}
	}
	return s.e.cfg.Warnings, nil
}

// warningContext describes the run to PlanWarnings.
func (s *step) warningContext() WarningContext {
	products := map[string]string{}
	for _, g := range s.run.Groups {
		for _, p := range g.Products {
			products[p.Key] = p.Name
		}
	}
	at := s.run.QueuedAt
	if s.run.StartedAt != nil {
		at = *s.run.StartedAt
	}
	return WarningContext{Options: s.run.Definition.Warning, CleanupID: s.run.CleanupID, RunID: s.run.ID,
		At: at.UTC(), DryRun: s.run.DryRun, Products: products}
}

// planWarnings applies the warning rules to an evaluated page.
func (s *step) planWarnings(ctx context.Context, users []OrgUser, rows []AffectedUser) ([]AffectedUser, []WarningChange, error) {
	if !s.warns() {
		return rows, nil, nil
	}
	ws, err := s.warningStore()
	if err != nil {
		return nil, nil, err
	}
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = u.AccountID
	}
	open := map[string]Warning{}
	if len(ids) > 0 {
		list, err := ws.OpenWarnings(ctx, s.run.ClientKey, s.run.CleanupID, ids)
		if err != nil {
			return nil, nil, storeErr("read open warnings", err)
		}
		for _, w := range list {
			open[w.AccountID] = w
		}
	}
	p := PlanWarnings(s.warningContext(), users, rows, open)
	return p.Rows, p.Changes, nil
}

// closeWarnings spares the open warnings the run did not see and closes
// the ones it acted on; it returns true when it ended the chunk.
func (s *step) closeWarnings(ctx context.Context) (bool, error) {
	ws, err := s.warningStore()
	if err != nil {
		return false, err
	}
	wc := s.warningContext()
	for {
		unseen, err := ws.UnseenWarnings(ctx, s.run.ClientKey, s.run.CleanupID, s.run.ID, WarningBatch)
		if err != nil {
			return false, storeErr("read unseen warnings", err)
		}
		if len(unseen) == 0 {
			break
		}
		var p WarnedPage
		for _, w := range unseen {
			p.Rows = append(p.Rows, p.spare(wc, w, "no longer selected by the cleanup (left the selected groups, deactivated or removed)"))
		}
		if ended, err := s.commitWarnings(ctx, Commit{Rows: p.Rows, Warnings: p.Changes}); err != nil || ended {
			return ended, err
		}
	}
	for !s.run.DryRun {
		closing, err := ws.ClosingWarnings(ctx, s.run.ClientKey, s.run.ID, WarningBatch)
		if err != nil {
			return false, storeErr("read closing warnings", err)
		}
		if len(closing) == 0 {
			break
		}
		c := Commit{}
		for _, cw := range closing {
			w := cw.Warning
			w.State, w.Message = CloseState(cw.Outcomes)
			c.Warnings = append(c.Warnings, WarningChange{Op: WarnClose, Warning: w})
		}
		if ended, err := s.commitWarnings(ctx, c); err != nil || ended {
			return ended, err
		}
	}
	if s.run.DryRun {
		return s.endPhase(ctx, PhaseExport)
	}
	if err := ws.QueueWarningEmails(ctx, s.run.ClientKey, s.run.ID, s.owner, WarningBatch, PhaseNotify); err != nil {
		return false, storeErr("queue warning e-mails", err)
	}
	s.run.Phase = PhaseNotify
	return false, nil
}

// commitWarnings commits one batch, ending the chunk when the budget is
// spent.
func (s *step) commitWarnings(ctx context.Context, c Commit) (bool, error) {
	c.EndChunk = s.expired()
	if err := s.commit(ctx, c); err != nil {
		return false, err
	}
	return c.EndChunk, nil
}

// notify waits until the run's e-mails are settled (sent, failed or
// unconfirmed), then moves on to the exports.
func (s *step) notify(ctx context.Context) (StepResult, error) {
	ws, err := s.warningStore()
	if err != nil {
		return StepResult{}, err
	}
	open, err := ws.EmailProgress(ctx, s.run.ClientKey, s.run.ID)
	if err != nil {
		return StepResult{}, storeErr("read e-mail progress", err)
	}
	if open == 0 {
		if err := s.commit(ctx, Commit{Phase: PhaseExport}); err != nil {
			return StepResult{}, err
		}
		return s.export(ctx)
	}
	if err := s.e.cfg.Store.ReleaseRunLease(ctx, s.run.ClientKey, s.run.ID, s.owner); err != nil {
		return StepResult{}, storeErr("release run lease", err)
	}
	return StepResult{RetryAfter: notifyPoll}, nil
}
