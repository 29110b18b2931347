package cleanup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Cleanup is a stored cleanup definition with its bookkeeping: the version
// for optimistic concurrency (If-Match) and the schedule's next time.
type Cleanup struct {
	Definition
	Version         int64      `json:"version"`
	NextRunAt       *time.Time `json:"nextRunAt,omitempty"`
	LastScheduledAt *time.Time `json:"lastScheduledAt,omitempty"`
	ScheduleText    string     `json:"scheduleDescription,omitempty"`
	// Warnings summarizes the open warnings (nil: none).
	Warnings *CleanupWarnings `json:"warnings,omitempty"`
}

// DueCleanup is a scheduled cleanup whose next time has come.
type DueCleanup struct {
	ClientKey string
	Cleanup
}

// Page selects a page of a list (1-based).
type Page struct {
	Page    int
	PerPage int
}

// Paging limits.
const (
	DefaultPerPage = 25
	MaxPerPage     = 200
)

// Normalized clamps the page to valid values.
func (p Page) Normalized() Page {
	if p.Page < 1 {
		p.Page = 1
	}
	if p.PerPage < 1 {
		p.PerPage = DefaultPerPage
	}
	if p.PerPage > MaxPerPage {
		p.PerPage = MaxPerPage
	}
	return p
}

// Offset is the number of items before the page.
func (p Page) Offset() int { return (p.Page - 1) * p.PerPage }

// RunUserFilter narrows a run's rows.
type RunUserFilter struct {
	Outcome string // "" for all
	GroupID string
	Action  string
	Search  string // case-insensitive substring of name, e-mail or account id
	// Email filters on the e-mail outcome of the rows' warnings.
	Email string
}

// Credentials are a tenant's decrypted secrets, for the adapters only.
type Credentials struct {
	APIKey            Secret
	EntraClientSecret Secret
}

// Store is the persistence the Service needs. Every method is scoped by
// client key; another tenant's ids give KindNotFound.
type Store interface {
	// Settings returns the tenant's settings (DefaultSettings when none).
	Settings(ctx context.Context, clientKey string) (Settings, error)
	// SaveSettings stores s and applies the credential changes (sealed at
	// rest) in one transaction, on condition that the stored settings are
	// at ifVersion (0: none stored yet); else KindConflict and nothing
	// changes.
	SaveSettings(ctx context.Context, clientKey string, s Settings, ch SecretChanges, ifVersion int64) (Settings, error)
	// Credentials returns the decrypted credentials.
	Credentials(ctx context.Context, clientKey string) (Credentials, error)
	// MarkAPIKeyVerified records a successful connection test, unless the
	// organization id changed meanwhile.
	MarkAPIKeyVerified(ctx context.Context, clientKey, orgID string, at time.Time) (Settings, error)
	// MarkEntraTested records a Microsoft Entra ID connection test: on
	// success (failure "") the verification time, else the failure's
	// message; nothing when the tenant or client id changed meanwhile or
	// no secret is set.
	MarkEntraTested(ctx context.Context, clientKey, tenantID, clientID string, at time.Time, failure string) (Settings, error)

	Cleanups(ctx context.Context, clientKey string) ([]Cleanup, error)
	Cleanup(ctx context.Context, clientKey string, id int64) (Cleanup, error)
	CreateCleanup(ctx context.Context, clientKey string, c Cleanup) (Cleanup, error)
	// UpdateCleanup replaces the cleanup; ifVersion > 0 makes it
	// conditional (KindConflict on a different version).
	UpdateCleanup(ctx context.Context, clientKey string, c Cleanup, ifVersion int64) (Cleanup, error)
	DeleteCleanup(ctx context.Context, clientKey string, id int64) error
	// DueCleanups lists scheduled cleanups of all tenants whose next time is
	// at or before now.
	DueCleanups(ctx context.Context, now time.Time, limit int) ([]DueCleanup, error)
	// SetNextRun stores a cleanup's next time (and, when not nil, its last
	// scheduled time).
	SetNextRun(ctx context.Context, clientKey string, id int64, next *time.Time, lastScheduled *time.Time) error

	// CreateRun creates a queued run and schedules its first step in the
	// same transaction. A scheduled run also stores the cleanup's last
	// scheduled time and next time; a second run for the same cleanup and
	// time is KindConflict.
	CreateRun(ctx context.Context, r NewRun) (int64, error)
	Runs(ctx context.Context, clientKey string, p Page) ([]Run, int, error)
	// Run returns the run with live counts from its rows.
	Run(ctx context.Context, clientKey string, id int64) (Run, error)
	RunUsers(ctx context.Context, clientKey string, runID int64, f RunUserFilter, p Page) ([]AffectedUser, int, error)
	// RunReasons groups the run's rows of the outcome by message: the
	// users (distinct accounts) and rows of each, most users first, at
	// most limit reasons.
	RunReasons(ctx context.Context, clientKey string, runID int64, outcome string, limit int) ([]ReasonCount, error)

	// RunAccounts returns which of the accounts have rows in the run,
	// sorted.
	RunAccounts(ctx context.Context, clientKey string, runID int64, accountIDs []string) ([]string, error)

	// FollowUpRows returns the rows of a finished run the follow-up checks
	// (FollowUpRowsOf), in id order.
	FollowUpRows(ctx context.Context, clientKey string, runID int64) ([]AffectedUser, error)
	// RecordFollowUp stores the follow-up's verdicts (replacing earlier
	// ones), its check time and, when the check could not be made, why.
	RecordFollowUp(ctx context.Context, clientKey string, runID int64, at time.Time, results []FollowUpResult, failure string) error
	// FollowUpUsers pages the follow-up verdicts; a non-nil stillPresent
	// filters on it.
	FollowUpUsers(ctx context.Context, clientKey string, runID int64, stillPresent *bool, p Page) ([]FollowUpUser, int, error)

	// LifecycleStore: the installation's state and what uninstalling does
	// to the data (lifecycle.go).
	LifecycleStore
}

// Service is what the JSON API calls: settings, groups, cleanups and runs
// of the authenticated tenant.
type Service struct {
	store Store
	conn  Connector
	log   *slog.Logger
	now   func() time.Time
	// warnings and mail offer warnings before removal (service_warn.go);
	// nil without a mail server.
	warnings WarningStore
	mail     Mailer
}

// NewService returns a Service. now and log may be nil.
func NewService(st Store, conn Connector, log *slog.Logger, now func() time.Time) (*Service, error) {
	if st == nil || conn == nil {
		return nil, errors.New("cleanup: service needs a Store and a Connector")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Service{store: st, conn: conn, log: log, now: now}, nil
}

// GetSettings returns the tenant's settings.
func (s *Service) GetSettings(ctx context.Context, clientKey string) (Settings, error) {
	return s.store.Settings(ctx, clientKey)
}

// SaveSettings validates and stores a complete submission of the
// settings, replacing every section (the demo's set-up and tests; the HTTP
// API changes settings by section, UpdateSettings). Changing the
// organization or Microsoft Entra ID credentials needs the context's
// Authority (authority.go).
func (s *Service) SaveSettings(ctx context.Context, clientKey string, in SettingsInput) (Settings, error) {
	cur, err := s.store.Settings(ctx, clientKey)
	if err != nil {
		return Settings{}, err
	}
	return s.save(ctx, clientKey, cur, in)
}

// save validates in over cur and stores it, on condition that the stored
// settings are still cur (their version): a concurrent change in between
// is KindConflict rather than lost.
func (s *Service) save(ctx context.Context, clientKey string, cur Settings, in SettingsInput) (Settings, error) {
	if fe := in.Validate(cur); len(fe) > 0 {
		return Settings{}, fe.Err()
	}
	if in.ChangesOrgCredentials(cur) {
		if err := requireOrgAdmin(ctx); err != nil {
			return Settings{}, err
		}
	}
	next, ch := in.Apply(cur)
	saved, err := s.store.SaveSettings(ctx, clientKey, next, ch, cur.Version)
	if KindOf(err) == KindConflict {
		return Settings{}, &Error{Kind: KindConflict, Message: messageSettingsConflict, Err: err}
	}
	return saved, err
}

// Groups returns the tenant's groups classified with its settings, and
// its products. Without organization settings the groups come from the
// product only.
func (s *Service) Groups(ctx context.Context, clientKey string) (GroupCatalog, error) {
	set, err := s.store.Settings(ctx, clientKey)
	if err != nil {
		return GroupCatalog{}, err
	}
	return s.catalog(ctx, clientKey, set)
}

func (s *Service) catalog(ctx context.Context, clientKey string, set Settings) (GroupCatalog, error) {
	var org OrgDirectory
	if set.OrgConfigured() {
		var err error
		if org, err = s.conn.Org(ctx, clientKey); err != nil {
			return GroupCatalog{}, err
		}
	}
	return loadCatalog(ctx, s.conn, clientKey, org, set)
}

func (s *Service) groups(ctx context.Context, clientKey string, set Settings) ([]GroupInfo, error) {
	c, err := s.catalog(ctx, clientKey, set)
	return c.Groups, err
}

// ListCleanups returns the tenant's cleanups.
func (s *Service) ListCleanups(ctx context.Context, clientKey string) ([]Cleanup, error) {
	cs, err := s.store.Cleanups(ctx, clientKey)
	for i := range cs {
		cs[i].ScheduleText = describe(cs[i].Definition)
	}
	return cs, err
}

// GetCleanup returns one cleanup.
func (s *Service) GetCleanup(ctx context.Context, clientKey string, id int64) (Cleanup, error) {
	c, err := s.store.Cleanup(ctx, clientKey, id)
	c.ScheduleText = describe(c.Definition)
	return c, err
}

func describe(d Definition) string {
	if d.Manual {
		return "manual"
	}
	if !d.Schedule.Active {
		return "paused"
	}
	return d.Schedule.Describe()
}

// prepare validates d against the tenant's groups and settings and sets
// the schedule's next time. An organization-wide action needs the
// context's Authority.
func (s *Service) prepare(ctx context.Context, clientKey string, d Definition) (Cleanup, error) {
	d = d.Normalized()
	if d.OrgWide() {
		if err := requireOrgAdmin(ctx); err != nil {
			return Cleanup{}, err
		}
	}
	set, err := s.store.Settings(ctx, clientKey)
	if err != nil {
		return Cleanup{}, err
	}
	groups, err := s.groups(ctx, clientKey, set)
	if err != nil {
		return Cleanup{}, err
	}
	if fe := d.Validate(groups, set); len(fe) > 0 {
		return Cleanup{}, fe.Err()
	}
	if err := s.checkWarnings(d); err != nil {
		return Cleanup{}, err
	}
	c := Cleanup{Definition: d}
	if d.Scheduled() {
		now := s.now().UTC()
		next, err := NextRun(d.Schedule, now)
		if err != nil {
			return Cleanup{}, err
		}
		next = next.UTC()
		c.NextRunAt, c.LastScheduledAt = &next, &now
	}
	return c, nil
}

// CreateCleanup validates and stores a new cleanup.
func (s *Service) CreateCleanup(ctx context.Context, clientKey string, d Definition) (Cleanup, error) {
	c, err := s.prepare(ctx, clientKey, d)
	if err != nil {
		return Cleanup{}, err
	}
	c, err = s.store.CreateCleanup(ctx, clientKey, c)
	c.ScheduleText = describe(c.Definition)
	return c, err
}

// UpdateCleanup validates and replaces a cleanup; ifVersion > 0 (from
// If-Match) makes a concurrent change a KindConflict error, else the last
// write wins.
func (s *Service) UpdateCleanup(ctx context.Context, clientKey string, id int64, d Definition, ifVersion int64) (Cleanup, error) {
	if _, err := s.store.Cleanup(ctx, clientKey, id); err != nil {
		return Cleanup{}, err
	}
	d.ID = id
	c, err := s.prepare(ctx, clientKey, d)
	if err != nil {
		return Cleanup{}, err
	}
	c, err = s.store.UpdateCleanup(ctx, clientKey, c, ifVersion)
	c.ScheduleText = describe(c.Definition)
	return c, err
}

// DeleteCleanup deletes a cleanup; its runs stay in the history.
func (s *Service) DeleteCleanup(ctx context.Context, clientKey string, id int64) error {
	return s.store.DeleteCleanup(ctx, clientKey, id)
}

// StartRun queues a run of the cleanup now, started by the account, and
// returns its id. The run's first step is scheduled with it. A disabled
// (or uninstalled) installation runs nothing: KindConflict with the reason.
func (s *Service) StartRun(ctx context.Context, clientKey string, cleanupID int64, dryRun bool, accountID string) (int64, error) {
	if err := s.activeOrRefuse(ctx, clientKey); err != nil {
		return 0, err
	}
	c, err := s.store.Cleanup(ctx, clientKey, cleanupID)
	if err != nil {
		return 0, err
	}
	if c.OrgWide() {
		if err := requireOrgAdmin(ctx); err != nil {
			return 0, err
		}
	}
	set, err := s.store.Settings(ctx, clientKey)
	if err != nil {
		return 0, err
	}
	if !set.OrgConfigured() {
		return 0, &Error{Kind: KindNotConfigured, Field: "settings", Message: "set the organization ID and API key in settings first"}
	}
	return s.store.CreateRun(ctx, NewRun{
		ClientKey: clientKey, CleanupID: c.ID, CleanupName: c.Name,
		Definition: c.Definition, Settings: set,
		Trigger: TriggerManual, StartedBy: accountID, DryRun: dryRun,
	})
}

// ListRuns returns a page of the tenant's runs, newest first, and the total.
func (s *Service) ListRuns(ctx context.Context, clientKey string, p Page) ([]Run, int, error) {
	return s.store.Runs(ctx, clientKey, p.Normalized())
}

// GetRun returns a run with its live counts and, grouped by reason, the
// rows that failed and those that need manual action.
func (s *Service) GetRun(ctx context.Context, clientKey string, id int64) (Run, error) {
	run, err := s.store.Run(ctx, clientKey, id)
	if err != nil {
		return Run{}, err
	}
	for _, o := range []struct {
		outcome string
		n       int
		dst     *[]ReasonCount
	}{{OutcomeFailed, run.Counts.Failed, &run.Failures}, {OutcomeManual, run.Counts.Manual, &run.NeedsManual}} {
		if o.n == 0 {
			continue
		}
		if *o.dst, err = s.store.RunReasons(ctx, clientKey, id, o.outcome, MaxReasons); err != nil {
			return Run{}, err
		}
	}
	run.NeedsManual = mergeReasons(run.NeedsManual, ManualNotePrefix)
	return run, nil
}

// RunUsers returns a page of a run's rows and the total matching the filter.
func (s *Service) RunUsers(ctx context.Context, clientKey string, runID int64, f RunUserFilter, p Page) ([]AffectedUser, int, error) {
	if _, err := s.store.Run(ctx, clientKey, runID); err != nil {
		return nil, 0, err
	}
	switch f.Outcome {
	case "", OutcomePending, OutcomeDone, OutcomeExported, OutcomeReview, OutcomeSkipped, OutcomeManual, OutcomeFailed,
		OutcomeWarned, OutcomeGrace, OutcomeSpared:
	default:
		return nil, 0, Invalid("outcome", "unknown outcome %q", f.Outcome)
	}
	switch f.Email {
	case "", EmailQueued, EmailSending, EmailSent, EmailFailed, EmailUnconfirmed, EmailNoAddress:
	default:
		return nil, 0, Invalid("email", "unknown e-mail outcome %q", f.Email)
	}
	return s.store.RunUsers(ctx, clientKey, runID, f, p.Normalized())
}

// ScheduleDue starts the runs of scheduled cleanups whose time has come
// (one run per cleanup, however many times were missed) and returns how
// many it started. A run another instance already created for the same
// time is skipped.
func (s *Service) ScheduleDue(ctx context.Context, limit int) (int, error) {
	now := s.now().UTC()
	due, err := s.store.DueCleanups(ctx, now, limit)
	if err != nil {
		return 0, fmt.Errorf("due cleanups: %w", err)
	}
	started := 0
	for _, dc := range due {
		log := s.log.With("client_key", dc.ClientKey, "cleanup_id", dc.ID)
		var last time.Time
		if dc.LastScheduledAt != nil {
			last = *dc.LastScheduledAt
		}
		d, err := DueRuns(dc.Schedule, last, now)
		if err != nil {
			log.WarnContext(ctx, "cleanup schedule invalid: not scheduling it", "error", err.Error())
			if err := s.store.SetNextRun(ctx, dc.ClientKey, dc.ID, nil, nil); err != nil {
				return started, err
			}
			continue
		}
		if last.IsZero() || !d.Due {
			next := nilIfZero(d.Next)
			var lastp *time.Time
			if last.IsZero() {
				lastp = &now
			}
			if err := s.store.SetNextRun(ctx, dc.ClientKey, dc.ID, next, lastp); err != nil {
				return started, err
			}
			continue
		}
		set, err := s.store.Settings(ctx, dc.ClientKey)
		if err != nil {
			return started, err
		}
		at := d.ScheduledAt.UTC()
		_, err = s.store.CreateRun(ctx, NewRun{
			ClientKey: dc.ClientKey, CleanupID: dc.ID, CleanupName: dc.Name,
			Definition: dc.Definition, Settings: set,
			Trigger: TriggerSchedule, ScheduledFor: &at, NextRunAt: nilIfZero(d.Next),
		})
		switch {
		case KindOf(err) == KindConflict:
			log.InfoContext(ctx, "scheduled run already created", "scheduled_for", at)
			continue
		case err != nil:
			return started, err
		}
		started++
		log.InfoContext(ctx, "scheduled run queued", "scheduled_for", at, "missed_collapsed", d.Collapsed())
	}
	return started, nil
}

func nilIfZero(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// mergeReasons drops prefix from the reasons and adds up the counts of
// reasons that are then the same (the order stays: most users first).
func mergeReasons(rs []ReasonCount, prefix string) []ReasonCount {
	var out []ReasonCount
	at := map[string]int{}
	for _, r := range rs {
		r.Reason = strings.TrimPrefix(r.Reason, prefix)
		if i, ok := at[r.Reason]; ok {
			out[i].Users += r.Users
			out[i].Rows += r.Rows
			continue
		}
		at[r.Reason] = len(out)
		out = append(out, r)
	}
	return out
}
