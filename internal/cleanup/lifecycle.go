package cleanup

import (
	"context"
	"fmt"
	"time"
)

// What the installation's lifecycle means for background work.
//
// After "uninstalled" a tenant does nothing any more: no run is created,
// queued and running runs stop with ReasonUninstalled, pending follow-ups
// are cancelled, and every stored credential (the shared secret, the
// organization API key, the Microsoft Entra client secret) is erased at
// once. Its history (settings, cleanups, runs, exports) is kept for the
// retention period, so a re-install in that time finds it again (but must
// enter the credentials again), and is then deleted.
//
// After "disabled" no run starts until "enabled": a scheduled cleanup is
// not queued, a manual run is refused (KindConflict, ReasonDisabled), a run
// already queued waits, and a follow-up waits. A run already under way
// finishes.

// Reasons shown on runs, follow-ups and refusals.
const (
	ReasonUninstalled = "the app was uninstalled from this site"
	ReasonDisabled    = "the app is disabled on this site: enable it in the site's app management to run cleanups"
)

// TenantState is an installation's lifecycle state.
type TenantState int

// The lifecycle states.
const (
	// TenantActive: installed and enabled.
	TenantActive TenantState = iota
	// TenantDisabled: installed but disabled.
	TenantDisabled
	// TenantUninstalled: uninstalled, or not known at all.
	TenantUninstalled
)

// Lifecycle waits and bounds.
const (
	// DisabledRecheck is how long a run or follow-up of a disabled tenant
	// waits before it looks again.
	DisabledRecheck = time.Minute
	// DefaultRetention is how long the history of an uninstalled tenant
	// is kept.
	DefaultRetention = 30 * 24 * time.Hour
	// PurgeBatch bounds the rows one purge step deletes.
	PurgeBatch = 2000
)

// LifecycleStore is the persistence the lifecycle rules need. Every
// method is idempotent.
type LifecycleStore interface {
	// TenantState returns the installation's state (TenantUninstalled for
	// an unknown client key).
	TenantState(ctx context.Context, clientKey string) (TenantState, error)
	// EraseCredentials erases the tenant's organization API key and
	// Microsoft Entra client secret and marks them unset (and unverified)
	// in its settings; it reports whether there was anything to erase.
	EraseCredentials(ctx context.Context, clientKey string) (bool, error)
	// StopRuns finishes every queued or running run of the tenant as
	// failed with the reason, releasing its lease, and records the reason
	// on every follow-up not yet checked. It returns how many runs it
	// stopped.
	StopRuns(ctx context.Context, clientKey, reason string, at time.Time) (int, error)
	// UninstalledTenants lists up to limit tenants uninstalled before the
	// time (the zero time: all uninstalled tenants), oldest first.
	UninstalledTenants(ctx context.Context, before time.Time, limit int) ([]string, error)
	// PurgeTenant deletes at most batch rows of an uninstalled tenant's
	// data, in an order that keeps it consistent (export chunks and
	// files, follow-ups, run rows, runs, cleanups, then the installation
	// with its settings), and reports whether nothing is left. An
	// installed tenant is never purged (it reports done).
	PurgeTenant(ctx context.Context, clientKey string, batch int) (done bool, err error)
	// TenantsWithRunsBefore lists up to limit tenants (installed or not)
	// with a run finished before the time.
	TenantsWithRunsBefore(ctx context.Context, before time.Time, limit int) ([]string, error)
	// PurgeRunsBefore deletes at most batch rows of the tenant's oldest
	// run finished before the time (its export chunks and files,
	// follow-up rows, users, then the run), in one statement, and reports
	// how many runs it deleted (0 or 1) and whether no such run is left.
	PurgeRunsBefore(ctx context.Context, clientKey string, before time.Time, batch int) (runs int, done bool, err error)
}

// PurgeHistory applies every tenant's "Keep run history and exports for
// N days": runs finished longer ago are deleted with their users,
// follow-ups and export files, one bounded statement at a time, until
// deadline (the rest waits for the next pass). It returns how many runs
// it deleted.
func (s *Service) PurgeHistory(ctx context.Context, deadline time.Time) (int, error) {
	now := s.now().UTC()
	keys, err := s.store.TenantsWithRunsBefore(ctx, now.Add(-time.Duration(MinKeepHistoryDays)*24*time.Hour), 1000)
	if err != nil {
		return 0, err
	}
	deleted := 0
	for _, ck := range keys {
		set, err := s.store.Settings(ctx, ck)
		if err != nil {
			return deleted, err
		}
		before := now.Add(-set.History.keep())
		n := 0
		for {
			if !s.now().Before(deadline) {
				break
			}
			runs, done, err := s.store.PurgeRunsBefore(ctx, ck, before, PurgeBatch)
			if err != nil {
				return deleted + n, fmt.Errorf("purge history of %s: %w", ck, err)
			}
			n += runs
			if done {
				break
			}
			if err := ctx.Err(); err != nil {
				return deleted + n, err
			}
		}
		if n > 0 {
			s.log.InfoContext(ctx, "deleted old run history", "client_key", ck, "runs", n, "keep_days", set.History.KeepDays)
		}
		deleted += n
		if !s.now().Before(deadline) {
			break
		}
	}
	return deleted, nil
}

// TenantUninstalled applies "uninstalled" to the tenant's data: the
// credentials are erased and its unfinished runs and pending follow-ups
// stopped. The connect lifecycle has already marked it uninstalled and
// erased its shared secret.
func (s *Service) TenantUninstalled(ctx context.Context, clientKey string) error {
	erased, err := s.store.EraseCredentials(ctx, clientKey)
	if err != nil {
		return fmt.Errorf("erase credentials of %s: %w", clientKey, err)
	}
	n, err := s.store.StopRuns(ctx, clientKey, ReasonUninstalled, s.now().UTC())
	if err != nil {
		return fmt.Errorf("stop runs of %s: %w", clientKey, err)
	}
	if erased || n > 0 {
		s.log.InfoContext(ctx, "tenant uninstalled: credentials erased, runs stopped", "client_key", clientKey,
			"credentials_erased", erased, "stopped_runs", n)
	}
	return nil
}

// activeOrRefuse returns nil for an active tenant, else the refusal a run
// request gets (KindConflict with the reason).
func (s *Service) activeOrRefuse(ctx context.Context, clientKey string) error {
	state, err := s.store.TenantState(ctx, clientKey)
	if err != nil {
		return err
	}
	switch state {
	case TenantDisabled:
		return &Error{Kind: KindConflict, Message: ReasonDisabled}
	case TenantUninstalled:
		return &Error{Kind: KindConflict, Message: ReasonUninstalled}
	}
	return nil
}

// StepGate decides whether a run's next step may work. For an
// uninstalled tenant every unfinished run is stopped (ReasonUninstalled)
// and it returns false; for a disabled one a run that has not started yet
// waits (false, DisabledRecheck); otherwise (true, 0).
func (s *Service) StepGate(ctx context.Context, clientKey string, runID int64) (bool, time.Duration, error) {
	state, err := s.store.TenantState(ctx, clientKey)
	if err != nil {
		return false, 0, err
	}
	switch state {
	case TenantUninstalled:
		if _, err := s.store.StopRuns(ctx, clientKey, ReasonUninstalled, s.now().UTC()); err != nil {
			return false, 0, err
		}
		return false, 0, nil
	case TenantDisabled:
		run, err := s.store.Run(ctx, clientKey, runID)
		if KindOf(err) == KindNotFound {
			return false, 0, nil
		}
		if err != nil {
			return false, 0, err
		}
		if run.Status == RunQueued {
			return false, DisabledRecheck, nil
		}
	}
	return true, 0, nil
}

// followUpGate is CheckFollowUp's lifecycle check: an uninstalled
// tenant's follow-up is cancelled (its reason recorded; KindNotFound), a
// disabled tenant's waits (KindUnavailable with DisabledRecheck).
func (s *Service) followUpGate(ctx context.Context, clientKey string) error {
	state, err := s.store.TenantState(ctx, clientKey)
	if err != nil {
		return err
	}
	switch state {
	case TenantUninstalled:
		if _, err := s.store.StopRuns(ctx, clientKey, ReasonUninstalled, s.now().UTC()); err != nil {
			return err
		}
		return &Error{Kind: KindNotFound, Message: ReasonUninstalled}
	case TenantDisabled:
		return &Error{Kind: KindUnavailable, Message: ReasonDisabled, RetryAfter: DisabledRecheck}
	}
	return nil
}

// PurgeUninstalled applies the lifecycle rules to uninstalled tenants:
// every one of them has its credentials erased and its runs stopped (again:
// it is idempotent, and covers an uninstall whose clean-up was
// interrupted), and the data of those uninstalled longer than retention
// ago is deleted in batches of PurgeBatch rows until the deadline. It
// returns how many tenants it deleted completely.
func (s *Service) PurgeUninstalled(ctx context.Context, retention time.Duration, deadline time.Time) (int, error) {
	all, err := s.store.UninstalledTenants(ctx, time.Time{}, 1000)
	if err != nil {
		return 0, err
	}
	for _, ck := range all {
		if err := s.TenantUninstalled(ctx, ck); err != nil {
			return 0, err
		}
	}
	due, err := s.store.UninstalledTenants(ctx, s.now().UTC().Add(-retention), 100)
	if err != nil {
		return 0, err
	}
	purged := 0
	for _, ck := range due {
		for {
			if !s.now().Before(deadline) {
				return purged, nil
			}
			done, err := s.store.PurgeTenant(ctx, ck, PurgeBatch)
			if err != nil {
				return purged, fmt.Errorf("purge %s: %w", ck, err)
			}
			if done {
				purged++
				s.log.InfoContext(ctx, "deleted the data of an uninstalled tenant", "client_key", ck, "retention", retention.String())
				break
			}
			if err := ctx.Err(); err != nil {
				return purged, err
			}
		}
	}
	return purged, nil
}
