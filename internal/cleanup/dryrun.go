package cleanup

import (
	"context"
	"slices"
)

// A dry run changes nothing: its pending rows are settled rather than
// acted on. The actions it would have performed are skipped, and the rows
// of its identity-provider files are exported (the files are a preview the
// admin may upload). The same rules settle the rows in memory when a dry
// run's evaluation plans them (so the commit writes them settled and the
// apply phase has nothing left to update) and in the store for rows
// committed pending by an earlier version.

// settleRule settles the pending rows of some actions with one outcome,
// prefixing their message.
type settleRule struct {
	actions []string
	outcome string
	prefix  string
}

// dryRunRules are the rules of a dry run whose performed actions are acted
// and whose file rows are of the action export.
func dryRunRules(acted []string, export string) []settleRule {
	return []settleRule{
		{actions: acted, outcome: OutcomeSkipped, prefix: "dry run, nothing changed: "},
		{actions: []string{export}, outcome: OutcomeExported, prefix: "dry run (the file is a preview): "},
	}
}

// settleInMemory applies the rules to the pending rows of a page before
// they are committed.
func settleInMemory(rules []settleRule, rows []AffectedUser) {
	for i := range rows {
		r := &rows[i]
		if r.Outcome != OutcomePending {
			continue
		}
		for _, rule := range rules {
			if slices.Contains(rule.actions, r.Action) {
				r.Outcome, r.Message = rule.outcome, rule.prefix+r.Message
				break
			}
		}
	}
}

// settleStored applies the rules to the run's rows still pending in the
// store.
func (s *step) settleStored(ctx context.Context, rules []settleRule) error {
	for _, rule := range rules {
		err := s.e.cfg.Store.SettleRows(ctx, s.run.ClientKey, s.run.ID, s.owner, rule.actions, rule.outcome, rule.prefix)
		if err != nil {
			return storeErr("settle dry-run rows", err)
		}
	}
	return nil
}
