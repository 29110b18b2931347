package cleanup

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"
)

// Snapshot statuses.
const (
	SnapshotQueued    = "queued"
	SnapshotRunning   = "running"
	SnapshotSucceeded = "succeeded"
	SnapshotFailed    = "failed"
)

// Why a user is protected on the dashboard (SnapshotUser.Protected), in the
// order they are decided: the first that applies wins.
const (
	ProtectedAdmin     = "admin"     // site or organization admin
	ProtectedException = "exception" // an exception account or member of an exception group (Settings)
	ProtectedBot       = "bot"       // app (bot) account
	ProtectedCustomer  = "customer"  // Jira Service Management customer
)

// Snapshot retention and the dashboard's trend.
const (
	// SnapshotKeepDays is how long snapshots and their daily history are
	// kept.
	SnapshotKeepDays = 400
	// TrendDays is the length of the dashboard's inactive-users trend.
	TrendDays = 90
	// SnapshotEvery is how often a tenant's snapshot is taken by the
	// schedule.
	SnapshotEvery = 24 * time.Hour
)

// SnapshotGroup is a licensing group of a user in a snapshot.
type SnapshotGroup struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Synced bool   `json:"synced"`
}

// SnapshotUser is one user with access to at least one of the site's
// products, as the snapshot saw them.
type SnapshotUser struct {
	AccountID   string `json:"accountId"`
	Name        string `json:"name"`
	Email       string `json:"email"`
	AccountType string `json:"accountType"`
	Status      string `json:"status"`
	// Products are the keys of the products the user's licensing groups
	// grant, sorted.
	Products []string `json:"products"`
	// LastActive maps each of Products to its last activity; a product
	// never used is absent.
	LastActive map[string]time.Time `json:"lastActive"`
	// LastActiveAt is the most recent activity in any of Products, nil
	// when never active.
	LastActiveAt *time.Time `json:"lastActiveAt,omitempty"`
	// Band is the activity band of LastActiveAt (BandActive, …).
	Band string `json:"band"`
	// Groups are the user's licensing groups.
	Groups []SnapshotGroup `json:"groups"`
	// Synced: at least one of Groups is synced from an identity provider.
	Synced bool `json:"synced"`
	// Protected is one of the Protected* kinds, "" when not protected;
	// ProtectedWhy says it in words.
	Protected    string `json:"protected,omitempty"`
	ProtectedWhy string `json:"protectedWhy,omitempty"`
	// Review is the user's open review mark, nil when none (attached by
	// Snapshots.Users from the runs, not stored in the snapshot).
	Review *ReviewMark `json:"review,omitempty"`
}

// ReviewMark is an open mark of the review list: the latest real run of an
// "Add to list for review" cleanup that marked the user, with no decision
// since.
type ReviewMark struct {
	CleanupID   int64      `json:"cleanupId,omitempty"` // 0: the cleanup was deleted
	CleanupName string     `json:"cleanupName"`
	RunID       int64      `json:"runId"`
	MarkedAt    *time.Time `json:"markedAt,omitempty"`
}

// Review decisions.
const (
	ReviewApproved  = "approved"
	ReviewDismissed = "dismissed"
)

// ProductStats are one product's figures in a snapshot. Users with access
// count once per product; protected users are counted apart, not in the
// bands.
type ProductStats struct {
	Key   string `json:"key"`
	Name  string `json:"name"`
	Users int    `json:"users"` // users with access, protected included

	Active   int `json:"active"`
	LowUsage int `json:"lowUsage"`
	Inactive int `json:"inactive"`
	Never    int `json:"never"`

	ProtectedAdmins     int `json:"protectedAdmins"`
	ProtectedExceptions int `json:"protectedExceptions"`
	ProtectedBots       int `json:"protectedBots"`
	ProtectedCustomers  int `json:"protectedCustomers"`

	// Seats are the licence seats the product reports, nil when it reports
	// none (Confluence has no such API).
	Seats *Seats `json:"seats,omitempty"`
	// Freeable is how many users with access the current cleanups would
	// remove from the product (a dry run of each, protections applied).
	Freeable int `json:"freeable"`
}

// SnapshotStats are a snapshot's figures.
type SnapshotStats struct {
	Products []ProductStats `json:"products"`
	Users    int            `json:"users"`    // distinct users with access
	Freeable int            `json:"freeable"` // distinct users any current cleanup would remove from a product
	// Bands are the activity settings the bands were computed with.
	Bands ActivityBands `json:"bands"`
	// Cleanups are the names of the cleanups counted in Freeable;
	// NotCounted those that could not be (with why).
	Cleanups   []string `json:"cleanups"`
	NotCounted []string `json:"notCounted"`
}

// Snapshot is one reading of the organization's users with product access.
type Snapshot struct {
	ID         int64          `json:"id"`
	ClientKey  string         `json:"-"`
	Status     string         `json:"status"`
	Trigger    string         `json:"trigger"`
	StartedBy  string         `json:"startedBy,omitempty"`
	UsersRead  int            `json:"usersRead"` // organization users read so far
	Error      string         `json:"error,omitempty"`
	Stats      *SnapshotStats `json:"stats,omitempty"`
	QueuedAt   time.Time      `json:"queuedAt"`
	StartedAt  *time.Time     `json:"startedAt,omitempty"`
	FinishedAt *time.Time     `json:"finishedAt,omitempty"`
}

// Finished reports whether the snapshot ended.
func (s Snapshot) Finished() bool { return s.Status == SnapshotSucceeded || s.Status == SnapshotFailed }

// TrendPoint is one day of one product in the daily history.
type TrendPoint struct {
	Day      string `json:"day"` // YYYY-MM-DD (UTC)
	Product  string `json:"product"`
	Users    int    `json:"users"`
	Inactive int    `json:"inactive"`
}

// Dashboard is what the dashboard page shows: the latest finished
// snapshot, the one in progress (nil when none) and the trend.
type Dashboard struct {
	Latest  *Snapshot    `json:"latest"`
	Current *Snapshot    `json:"current"`
	Trend   []TrendPoint `json:"trend"`
	// TrendFrom is the first day of the trend (TrendDays ago).
	TrendFrom string `json:"trendFrom"`
}

// Sort keys of the users screen.
const (
	UserSortName       = "name"
	UserSortEmail      = "email"
	UserSortLastActive = "lastActive"
	UserSortBand       = "band"
	UserSortType       = "accountType"
)

// SnapshotUserFilter narrows and orders the users of a snapshot.
type SnapshotUserFilter struct {
	Search  string // case-insensitive substring of name or e-mail
	Band    string // one of the Band* values, "" for all
	Product string // product key, "" for all
	GroupID string // licensing group id, "" for all
	Synced  *bool  // nil for all
	// Protected is "" (all), "yes", "no" or one of the Protected* kinds.
	Protected string
	// Review: only users with an open review mark.
	Review bool
	Sort   string // one of the UserSort* keys (default name)
	Desc   bool
}

// Validate checks the filter's values.
func (f SnapshotUserFilter) Validate() error {
	switch f.Band {
	case "", BandActive, BandLowUsage, BandInactive, BandNever:
	default:
		return Invalid("band", "must be one of %s, %s, %s, %s", BandActive, BandLowUsage, BandInactive, BandNever)
	}
	switch f.Protected {
	case "", "yes", "no", ProtectedAdmin, ProtectedException, ProtectedBot, ProtectedCustomer:
	default:
		return Invalid("protected", "must be yes, no, %s, %s, %s or %s", ProtectedAdmin, ProtectedException, ProtectedBot, ProtectedCustomer)
	}
	switch f.Sort {
	case "", UserSortName, UserSortEmail, UserSortLastActive, UserSortBand, UserSortType:
	default:
		return Invalid("sort", "must be one of %s, %s, %s, %s, %s", UserSortName, UserSortEmail, UserSortLastActive, UserSortBand, UserSortType)
	}
	if len(f.Search) > 200 {
		return Invalid("q", "must be at most 200 characters")
	}
	return nil
}

// SnapshotStore persists snapshots. Every method is scoped by client key;
// another tenant's snapshot is KindNotFound.
type SnapshotStore interface {
	// CreateSnapshot queues a snapshot and schedules its job in the same
	// transaction. When one is already queued or running it returns that
	// one's id and created false. A disabled or uninstalled installation
	// is refused (KindConflict).
	CreateSnapshot(ctx context.Context, clientKey, trigger, startedBy string) (id int64, created bool, err error)
	// BeginSnapshot marks it running at startedAt and deletes any users an
	// earlier, interrupted attempt stored.
	BeginSnapshot(ctx context.Context, clientKey string, id int64, startedAt time.Time) error
	// AddSnapshotUsers stores a page of users and sets the users read.
	AddSnapshotUsers(ctx context.Context, clientKey string, id int64, users []SnapshotUser, usersRead int) error
	// FinishSnapshot records the outcome; on success also the day's
	// history points, and deletes the users of the tenant's older
	// snapshots and the snapshots and history older than keepSince.
	FinishSnapshot(ctx context.Context, clientKey string, id int64, status, message string, stats *SnapshotStats, points []TrendPoint, at, keepSince time.Time) error
	// Snapshot returns one snapshot.
	Snapshot(ctx context.Context, clientKey string, id int64) (Snapshot, error)
	// LatestSnapshots returns the newest succeeded snapshot and the newest
	// unfinished one (nil when none).
	LatestSnapshots(ctx context.Context, clientKey string) (latest, current *Snapshot, err error)
	// SnapshotUsers pages the users of a snapshot.
	SnapshotUsers(ctx context.Context, clientKey string, snapshotID int64, f SnapshotUserFilter, p Page) ([]SnapshotUser, int, error)
	// Trend returns the history points from the day on, oldest first.
	Trend(ctx context.Context, clientKey, fromDay string) ([]TrendPoint, error)
	// ReviewMarks returns the open review mark of each account that has
	// one.
	ReviewMarks(ctx context.Context, clientKey string, accountIDs []string) (map[string]ReviewMark, error)
	// DecideReviews records the decision on the accounts' marks (each
	// covers its mark's run and the earlier ones).
	DecideReviews(ctx context.Context, clientKey string, marks map[string]ReviewMark, state, by string, at time.Time) error
	// SnapshotsDue lists enabled, installed tenants with an organization
	// API key whose last snapshot was queued before since (or that have
	// none).
	SnapshotsDue(ctx context.Context, since time.Time, limit int) ([]string, error)
}

// snapshotSource is what Snapshots uses of the cleanup store: settings
// and cleanups, and runs for the review list's approvals.
type snapshotSource interface {
	Settings(ctx context.Context, clientKey string) (Settings, error)
	Cleanups(ctx context.Context, clientKey string) ([]Cleanup, error)
	Run(ctx context.Context, clientKey string, id int64) (Run, error)
	CreateRun(ctx context.Context, r NewRun) (int64, error)
}

// SnapshotsConfig configures Snapshots. Store, Source and Connector are
// required.
type SnapshotsConfig struct {
	Store     SnapshotStore
	Source    snapshotSource // settings and cleanups (the cleanup Store)
	Connector Connector
	Logger    *slog.Logger
	Now       func() time.Time
	// PageSize is the user search page size (0: the API maximum).
	PageSize int
}

// Snapshots takes and reads the licence snapshots behind the dashboard and
// the users screen. A snapshot reads every organization user in the
// site's licensing groups (the Organizations API, paced by its rate
// limits), classifies each by activity band and protection, dry-runs the
// current cleanups on them (how many seats they would free) and stores
// the users and the per-product figures. Pages never wait for it: they
// show the latest finished snapshot and the progress of a running one.
type Snapshots struct {
	cfg SnapshotsConfig
	log *slog.Logger
	now func() time.Time
}

// NewSnapshots returns the snapshot service.
func NewSnapshots(cfg SnapshotsConfig) (*Snapshots, error) {
	if cfg.Store == nil || cfg.Source == nil || cfg.Connector == nil {
		return nil, fmt.Errorf("cleanup: snapshots need a Store, a Source and a Connector")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Snapshots{cfg: cfg, log: log, now: now}, nil
}

// Refresh queues a snapshot of the tenant (or returns the one already
// queued or running). The organization must be configured.
func (s *Snapshots) Refresh(ctx context.Context, clientKey, accountID string) (int64, error) {
	set, err := s.cfg.Source.Settings(ctx, clientKey)
	if err != nil {
		return 0, err
	}
	if set.OrgID == "" || !set.APIKeySet {
		return 0, &Error{Kind: KindNotConfigured, Message: "set the organization ID and API key in Settings first: the dashboard reads the organization's users"}
	}
	id, _, err := s.cfg.Store.CreateSnapshot(ctx, clientKey, TriggerManual, accountID)
	return id, err
}

// ScheduleDue queues the daily snapshot of up to limit tenants whose last
// one is older than SnapshotEvery, and returns how many it queued.
func (s *Snapshots) ScheduleDue(ctx context.Context, limit int) (int, error) {
	keys, err := s.cfg.Store.SnapshotsDue(ctx, s.now().Add(-SnapshotEvery), limit)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, ck := range keys {
		_, created, err := s.cfg.Store.CreateSnapshot(ctx, ck, TriggerSchedule, "")
		if KindOf(err) == KindConflict {
			continue // disabled or uninstalled meanwhile
		}
		if err != nil {
			return n, err
		}
		if created {
			n++
		}
	}
	return n, nil
}

// Dashboard returns the latest snapshot, the one in progress and the
// trend of the last TrendDays days.
func (s *Snapshots) Dashboard(ctx context.Context, clientKey string) (Dashboard, error) {
	latest, current, err := s.cfg.Store.LatestSnapshots(ctx, clientKey)
	if err != nil {
		return Dashboard{}, err
	}
	from := s.now().UTC().AddDate(0, 0, -TrendDays).Format(time.DateOnly)
	trend, err := s.cfg.Store.Trend(ctx, clientKey, from)
	if err != nil {
		return Dashboard{}, err
	}
	if trend == nil {
		trend = []TrendPoint{}
	}
	return Dashboard{Latest: latest, Current: current, Trend: trend, TrendFrom: from}, nil
}

// Snapshot returns one snapshot of the tenant (its progress).
func (s *Snapshots) Snapshot(ctx context.Context, clientKey string, id int64) (Snapshot, error) {
	return s.cfg.Store.Snapshot(ctx, clientKey, id)
}

// Users pages the users of the latest finished snapshot; without one the
// page is empty and the snapshot nil.
func (s *Snapshots) Users(ctx context.Context, clientKey string, f SnapshotUserFilter, p Page) ([]SnapshotUser, int, *Snapshot, error) {
	if err := f.Validate(); err != nil {
		return nil, 0, nil, err
	}
	latest, _, err := s.cfg.Store.LatestSnapshots(ctx, clientKey)
	if err != nil || latest == nil {
		return []SnapshotUser{}, 0, nil, err
	}
	users, total, err := s.cfg.Store.SnapshotUsers(ctx, clientKey, latest.ID, f, p.Normalized())
	if err != nil {
		return nil, 0, nil, err
	}
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = u.AccountID
	}
	marks, err := s.cfg.Store.ReviewMarks(ctx, clientKey, ids)
	if err != nil {
		return nil, 0, nil, err
	}
	for i := range users {
		if m, ok := marks[users[i].AccountID]; ok {
			users[i].Review = &m
		}
	}
	return users, total, latest, nil
}

// Take takes the snapshot (the snapshot job). A failure the admin can act
// on (credentials, configuration) ends the snapshot failed with the
// message; a database failure or an unavailable remote is returned, for
// the job to retry (the retry starts the snapshot over).
func (s *Snapshots) Take(ctx context.Context, clientKey string, id int64) error {
	snap, err := s.cfg.Store.Snapshot(ctx, clientKey, id)
	if KindOf(err) == KindNotFound {
		return nil // the tenant's data was purged
	}
	if err != nil {
		return err
	}
	if snap.Finished() {
		return nil
	}
	start := s.now().UTC()
	if err := s.cfg.Store.BeginSnapshot(ctx, clientKey, id, start); err != nil {
		return err
	}
	stats, err := s.take(ctx, clientKey, id, start)
	if err != nil {
		if ctx.Err() != nil || KindOf(err) == KindUnavailable || KindOf(err) == KindOther && !isDomainError(err) {
			return err
		}
		msg := safeMessage(err)
		s.log.WarnContext(ctx, "snapshot failed", "client_key", clientKey, "snapshot_id", id, "error", err.Error())
		return s.cfg.Store.FinishSnapshot(ctx, clientKey, id, SnapshotFailed, msg, nil, nil, s.now().UTC(), start.AddDate(0, 0, -SnapshotKeepDays))
	}
	day := start.Format(time.DateOnly)
	points := make([]TrendPoint, 0, len(stats.Products))
	for _, p := range stats.Products {
		points = append(points, TrendPoint{Day: day, Product: p.Key, Users: p.Users, Inactive: p.Inactive})
	}
	s.log.InfoContext(ctx, "snapshot taken", "client_key", clientKey, "snapshot_id", id, "users", stats.Users)
	return s.cfg.Store.FinishSnapshot(ctx, clientKey, id, SnapshotSucceeded, "", stats, points, s.now().UTC(), start.AddDate(0, 0, -SnapshotKeepDays))
}

// isDomainError reports whether err carries a message for the admin.
func isDomainError(err error) bool { return safeMessage(err) != "internal error" }

// take reads the organization and stores the users page by page.
func (s *Snapshots) take(ctx context.Context, clientKey string, id int64, now time.Time) (*SnapshotStats, error) {
	set, err := s.cfg.Source.Settings(ctx, clientKey)
	if err != nil {
		return nil, err
	}
	set = set.Normalized()
	org, err := s.cfg.Connector.Org(ctx, clientKey)
	if err != nil {
		return nil, err
	}
	cat, err := loadCatalog(ctx, s.cfg.Connector, clientKey, org, set)
	if err != nil {
		return nil, err
	}
	site, err := s.cfg.Connector.Site(ctx, clientKey)
	if err != nil {
		return nil, err
	}
	products, err := site.Products(ctx)
	if err != nil {
		return nil, err
	}
	cleanups, err := s.cfg.Source.Cleanups(ctx, clientKey)
	if err != nil {
		return nil, err
	}
	t := newTally(set, cat, products, cleanups, now)
	if len(t.licensing) == 0 {
		return t.stats(), nil
	}
	groups := slices.Sorted(maps.Keys(t.licensing))
	q := UserQuery{GroupIDs: groups, Limit: s.cfg.PageSize}
	cursor, read := "", 0
	for {
		page, err := org.SearchUsers(ctx, q, cursor)
		if err != nil {
			return nil, err
		}
		read += len(page.Users)
		users := t.add(page.Users)
		if err := s.cfg.Store.AddSnapshotUsers(ctx, clientKey, id, users, read); err != nil {
			return nil, err
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	// App and customer accounts are not in the organization directory:
	// the product's group members name them.
	lister, ok := site.(SiteAccountLister)
	if !ok {
		return t.stats(), nil
	}
	others := map[string]*OrgUser{}
	for _, gid := range groups {
		members, err := lister.GroupAccounts(ctx, gid)
		if err != nil {
			return nil, err
		}
		for _, m := range members {
			if m.AccountType == AccountAtlassian || m.AccountType == "" || !m.Active || t.seen[m.AccountID] {
				continue
			}
			u := others[m.AccountID]
			if u == nil {
				u = &OrgUser{AccountID: m.AccountID, Name: m.Name, AccountType: m.AccountType, Status: StatusActive}
				others[m.AccountID] = u
			}
			u.GroupIDs = append(u.GroupIDs, gid)
		}
	}
	var page []OrgUser
	for _, id := range slices.Sorted(maps.Keys(others)) {
		page = append(page, *others[id])
	}
	read += len(page)
	if err := s.cfg.Store.AddSnapshotUsers(ctx, clientKey, id, t.add(page), read); err != nil {
		return nil, err
	}
	return t.stats(), nil
}

// tally classifies users and adds up a snapshot's figures.
type tally struct {
	now        time.Time
	bands      ActivityBands
	licensing  map[string]GroupInfo // licensing groups by id
	exAccounts map[string]bool
	exGroups   map[string]string // id → name
	evaluators []*Evaluator
	products   map[string]*ProductStats
	order      []string // product keys in catalog order
	users      int
	freeable   int
	seen       map[string]bool // accounts added

	counted    []string
	notCounted []string
}

func newTally(set Settings, cat GroupCatalog, products []ProductAccess, cleanups []Cleanup, now time.Time) *tally {
	t := &tally{now: now, bands: set.Activity, licensing: map[string]GroupInfo{}, exAccounts: map[string]bool{},
		exGroups: map[string]string{}, products: map[string]*ProductStats{}, seen: map[string]bool{}}
	seats := map[string]*Seats{}
	for _, p := range products {
		seats[p.Key] = p.Seats
	}
	for _, g := range cat.Groups {
		if !g.Licensing {
			continue
		}
		t.licensing[g.ID] = g
		for _, p := range g.Products {
			if _, ok := t.products[p.Key]; !ok {
				t.products[p.Key] = &ProductStats{Key: p.Key, Name: cmp.Or(p.Name, ProductName(p.Key)), Seats: seats[p.Key]}
				t.order = append(t.order, p.Key)
			}
		}
	}
	for _, id := range set.Exceptions.AccountIDs {
		t.exAccounts[id] = true
	}
	for _, id := range set.Exceptions.GroupIDs {
		t.exGroups[id] = id
	}
	for _, g := range cat.Groups {
		if _, ok := t.exGroups[g.ID]; ok {
			t.exGroups[g.ID] = g.Name
		}
	}
	for _, c := range cleanups {
		if c.Action == ActionReview {
			continue // marks users for review: frees nothing
		}
		ev, err := NewEvaluator(set, c.Definition, cat.Groups, now)
		if err != nil {
			t.notCounted = append(t.notCounted, fmt.Sprintf("%s (%s)", c.Name, safeMessage(err)))
			continue
		}
		t.evaluators = append(t.evaluators, ev)
		t.counted = append(t.counted, c.Name)
	}
	slices.SortStableFunc(t.order, func(a, b string) int {
		return cmp.Compare(t.products[a].Name, t.products[b].Name)
	})
	return t
}

// add classifies a page of organization users and returns those with
// product access.
func (t *tally) add(page []OrgUser) []SnapshotUser {
	var out []SnapshotUser
	freed := map[string]map[string]bool{} // account → products
	for _, ev := range t.evaluators {
		rows, _ := ev.Evaluate(page)
		for _, r := range rows {
			if r.Outcome != OutcomePending {
				continue // protected (skipped), manual, review
			}
			if freed[r.AccountID] == nil {
				freed[r.AccountID] = map[string]bool{}
			}
			if r.Action == ActionDeactivate {
				freed[r.AccountID]["*"] = true
				continue
			}
			for _, p := range strings.Split(r.Product, ",") {
				freed[r.AccountID][p] = true
			}
		}
	}
	for _, u := range page {
		su, ok := t.user(u)
		if !ok {
			continue
		}
		t.users++
		t.seen[u.AccountID] = true
		anyFreed := false
		for _, p := range su.Products {
			ps := t.products[p]
			ps.Users++
			switch su.Protected {
			case ProtectedAdmin:
				ps.ProtectedAdmins++
			case ProtectedException:
				ps.ProtectedExceptions++
			case ProtectedBot:
				ps.ProtectedBots++
			case ProtectedCustomer:
				ps.ProtectedCustomers++
			default:
				switch t.bands.Band(su.LastActive[p], t.now) {
				case BandActive:
					ps.Active++
				case BandLowUsage:
					ps.LowUsage++
				case BandInactive:
					ps.Inactive++
				default:
					ps.Never++
				}
			}
			if f := freed[u.AccountID]; f["*"] || f[p] {
				ps.Freeable++
				anyFreed = true
			}
		}
		if anyFreed {
			t.freeable++
		}
		out = append(out, su)
	}
	return out
}

// user builds the snapshot row of u; false when u has no product access
// (deactivated, or in no licensing group).
func (t *tally) user(u OrgUser) (SnapshotUser, bool) {
	if u.Status == StatusDeactivated {
		return SnapshotUser{}, false
	}
	su := SnapshotUser{AccountID: u.AccountID, Name: u.Name, Email: u.Email, AccountType: u.AccountType,
		Status: u.Status, LastActive: map[string]time.Time{}}
	products := map[string]bool{}
	for _, id := range u.GroupIDs {
		g, ok := t.licensing[id]
		if !ok {
			continue
		}
		su.Groups = append(su.Groups, SnapshotGroup{ID: g.ID, Name: g.Name, Synced: g.Synced})
		su.Synced = su.Synced || g.Synced
		for _, p := range g.Products {
			products[p.Key] = true
		}
	}
	if len(products) == 0 {
		return SnapshotUser{}, false
	}
	su.Products = slices.Sorted(maps.Keys(products))
	var last time.Time
	for _, p := range su.Products {
		if at, ok := u.LastActive[p]; ok && !at.IsZero() {
			su.LastActive[p] = at.UTC()
			if at.After(last) {
				last = at.UTC()
			}
		}
	}
	if !last.IsZero() {
		su.LastActiveAt = &last
	}
	su.Band = t.bands.Band(last, t.now)
	slices.SortFunc(su.Groups, func(a, b SnapshotGroup) int { return cmp.Compare(a.Name, b.Name) })
	su.Protected, su.ProtectedWhy = t.protection(u)
	return su, true
}

// protection says why the dashboard counts u apart ("" when it does not).
func (t *tally) protection(u OrgUser) (kind, why string) {
	switch {
	case u.IsAdmin():
		return ProtectedAdmin, "site or organization admin"
	case t.exAccounts[u.AccountID]:
		return ProtectedException, "the account is an exception"
	}
	for _, id := range u.GroupIDs {
		if name, ok := t.exGroups[id]; ok {
			return ProtectedException, fmt.Sprintf("member of the exception group %q", name)
		}
	}
	switch u.AccountType {
	case AccountApp:
		return ProtectedBot, "app or bot account"
	case AccountCustomer:
		return ProtectedCustomer, "Jira Service Management customer"
	}
	return "", ""
}

// stats returns the figures added up so far.
func (t *tally) stats() *SnapshotStats {
	st := &SnapshotStats{Products: []ProductStats{}, Users: t.users, Freeable: t.freeable, Bands: t.bands,
		Cleanups: append([]string{}, t.counted...), NotCounted: append([]string{}, t.notCounted...)}
	for _, k := range t.order {
		st.Products = append(st.Products, *t.products[k])
	}
	return st
}
