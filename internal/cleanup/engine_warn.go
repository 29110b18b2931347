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
//
// A cleanup whose option was switched off still has its open warnings
// honoured (when the engine has a WarningStore): its pages are planned
// with PlanWarnings too (nobody new is warned) and its run goes through
// the warnings phase while the cleanup has open warnings.
//
// A sending job can end with e-mails left: River discards it after its
// last attempt failed (the process died during it, or the database
// failed), or it was cancelled. The notify phase asks EmailJobs whether
// any sending job of the run is still at work; when none is and e-mails
// are left, it queues them again, at most MaxEmailRounds times, then
// settles them with AbandonEmails (never sent twice: an e-mail in doubt
// is unconfirmed, one never handed to the server failed and its warning
// cancelled) and the run goes on with its counts.

// Engine settings of the warning phases.
const (
	// WarningBatch bounds the warnings one commit spares or closes, and
	// the e-mails of one sending job.
	WarningBatch = 100
	// MaxEmailRounds bounds how many times a run's e-mails left by ended
	// sending jobs are queued again.
	MaxEmailRounds = 3
	// notifyPoll is how often a run waiting for its e-mails looks again.
	notifyPoll = 2 * time.Second
)

// EmailJobs is what the notify phase needs of the job runtime.
type EmailJobs interface {
	// SendingJobs reports whether a sending job of the run is still
	// waiting, scheduled, retrying or running.
	SendingJobs(ctx context.Context, clientKey string, runID int64) (bool, error)
}

// warns reports whether the run warns new users (the option is on).
func (s *step) warns() bool { return s.run.Definition.Warning.Enabled }

// honoursWarnings reports whether the run plans its pages with the
// warning rules: the option is on, or the engine can read the open
// warnings given while it was.
func (s *step) honoursWarnings() bool { return s.warns() || s.e.cfg.Warnings != nil }

// afterApply is the phase after apply: the warnings phase when the
// option is on or the cleanup still has open warnings.
func (s *step) afterApply(ctx context.Context) (string, error) {
	if s.warns() {
		return PhaseWarnings, nil
	}
	if s.e.cfg.Warnings == nil {
		return PhaseExport, nil
	}
	open, err := s.e.cfg.Warnings.HasOpenWarnings(ctx, s.run.ClientKey, s.run.CleanupID)
	if err != nil {
		return "", storeErr("read open warnings", err)
	}
	if open {
		return PhaseWarnings, nil
	}
	return PhaseExport, nil
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
	if !s.honoursWarnings() {
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
	if s.run.DryRun || !s.warns() {
		return s.endPhase(ctx, PhaseExport)
	}
	if err := ws.QueueWarningEmails(ctx, s.run.ClientKey, s.run.ID, s.owner, WarningBatch, PhaseNotify, 0); err != nil {
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
	// Whether a job is at work is read before the e-mails left: a job
	// that ends in between has settled its e-mails by then.
	working := true
	if jobs := s.e.cfg.EmailJobs; jobs != nil {
		if working, err = jobs.SendingJobs(ctx, s.run.ClientKey, s.run.ID); err != nil {
			return StepResult{}, storeErr("read the sending jobs", err)
		}
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
	log := s.e.log.With("client_key", s.run.ClientKey, "run_id", s.run.ID)
	switch {
	case working:
	case s.run.EmailRounds < MaxEmailRounds:
		round := s.run.EmailRounds + 1
		log.WarnContext(ctx, "the sending jobs of the warning e-mails ended with e-mails left: queued again", "left", open, "round", round)
		if err := ws.QueueWarningEmails(ctx, s.run.ClientKey, s.run.ID, s.owner, WarningBatch, PhaseNotify, round); err != nil {
			return StepResult{}, storeErr("queue warning e-mails again", err)
		}
		s.run.EmailRounds = round
	default:
		n, err := ws.AbandonEmails(ctx, s.run.ClientKey, s.run.ID, s.owner, PhaseExport)
		if err != nil {
			return StepResult{}, storeErr("settle the e-mails left", err)
		}
		log.WarnContext(ctx, "warning e-mails left after the sending jobs failed repeatedly: recorded as not sent", "settled", n, "rounds", s.run.EmailRounds)
		s.run.Phase = PhaseExport
		return s.export(ctx)
	}
	if err := s.e.cfg.Store.ReleaseRunLease(ctx, s.run.ClientKey, s.run.ID, s.owner); err != nil {
		return StepResult{}, storeErr("release run lease", err)
	}
	return StepResult{RetryAfter: notifyPoll}, nil
}
