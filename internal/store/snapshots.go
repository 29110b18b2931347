package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/example/usercleanup/internal/cleanup"
)

// migrationSnapshots is schema version 11: the licence snapshots behind the
// dashboard and the users screen. snapshots holds one row per reading
// (status, progress, figures as JSON); snapshot_users the users of a
// tenant's latest snapshots (older ones' users are deleted when a newer
// one succeeds), with the columns the users screen filters and sorts on;
// snapshot_history one row per tenant, day and product for the trend;
// review_decisions the admin's last decision on each account's review
// mark (a mark is a row of a real run with outcome review; it is open
// while no decision covers its run).
//
// At most one snapshot per tenant is queued or running
// (snapshots_active). The users screen's first page is an index range
// scan: snapshot_users_name orders a snapshot's users by name; the other
// sort keys have their own index.
func migrationSnapshots() Migration {
	schema := func(id, ts, bigint, boolFalse string) string {
		return `
CREATE TABLE snapshots (
	id ` + id + `,
	client_key TEXT NOT NULL,
	status TEXT NOT NULL,
	trigger TEXT NOT NULL,
	started_by TEXT NOT NULL DEFAULT '',
	users_read INTEGER NOT NULL DEFAULT 0,
	user_count INTEGER NOT NULL DEFAULT 0,
	error TEXT NOT NULL DEFAULT '',
	stats TEXT NOT NULL DEFAULT '',
	queued_at ` + ts + ` NOT NULL,
	started_at ` + ts + `,
	finished_at ` + ts + `,
	updated_at ` + ts + ` NOT NULL
);
CREATE INDEX snapshots_client ON snapshots (client_key, status, id);
CREATE INDEX snapshots_queued ON snapshots (client_key, queued_at);
CREATE UNIQUE INDEX snapshots_active ON snapshots (client_key) WHERE status IN ('queued', 'running');
CREATE TABLE snapshot_users (
	id ` + id + `,
	snapshot_id ` + bigint + ` NOT NULL,
	client_key TEXT NOT NULL,
	account_id TEXT NOT NULL,
	name TEXT NOT NULL DEFAULT '',
	sort_name TEXT NOT NULL DEFAULT '',
	email TEXT NOT NULL DEFAULT '',
	search TEXT NOT NULL DEFAULT '',
	account_type TEXT NOT NULL DEFAULT '',
	status TEXT NOT NULL DEFAULT '',
	band TEXT NOT NULL,
	band_order INTEGER NOT NULL,
	last_active_at ` + ts + `,
	products TEXT NOT NULL DEFAULT '',
	group_ids TEXT NOT NULL DEFAULT '',
	synced BOOLEAN NOT NULL DEFAULT ` + boolFalse + `,
	protected TEXT NOT NULL DEFAULT '',
	detail TEXT NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX snapshot_users_account ON snapshot_users (snapshot_id, account_id);
CREATE INDEX snapshot_users_name ON snapshot_users (snapshot_id, sort_name, account_id);
CREATE INDEX snapshot_users_email ON snapshot_users (snapshot_id, email, account_id);
CREATE INDEX snapshot_users_last_active ON snapshot_users (snapshot_id, last_active_at, account_id);
CREATE INDEX snapshot_users_band ON snapshot_users (snapshot_id, band_order, sort_name, account_id);
CREATE INDEX snapshot_users_type ON snapshot_users (snapshot_id, account_type, sort_name, account_id);
CREATE INDEX snapshot_users_client ON snapshot_users (client_key, snapshot_id);
CREATE TABLE review_decisions (
	client_key TEXT NOT NULL,
	account_id TEXT NOT NULL,
	run_id ` + bigint + ` NOT NULL,
	state TEXT NOT NULL,
	decided_by TEXT NOT NULL DEFAULT '',
	decided_at ` + ts + ` NOT NULL,
	PRIMARY KEY (client_key, account_id)
);
CREATE INDEX run_users_review ON run_users (client_key, outcome, account_id, run_id);
CREATE TABLE snapshot_history (
	client_key TEXT NOT NULL,
	day TEXT NOT NULL,
	product TEXT NOT NULL,
	users INTEGER NOT NULL,
	inactive INTEGER NOT NULL,
	PRIMARY KEY (client_key, day, product)
);
`
	}
	return Migration{
		Version:  11,
		Name:     "licence snapshots",
		SQLite:   schema("INTEGER PRIMARY KEY AUTOINCREMENT", "DATETIME", "INTEGER", "0"),
		Postgres: schema("BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "TIMESTAMPTZ", "BIGINT", "FALSE"),
	}
}

// staleSnapshot is how long a snapshot may stay queued or running before
// a new one replaces it (its job was lost).
const staleSnapshot = time.Hour

// snapshotInsertBatch is how many users one INSERT carries.
const snapshotInsertBatch = 200

type snapshotRow struct {
	ID         int64
	ClientKey  string
	Status     string
	Trigger    string
	StartedBy  string
	UsersRead  int
	UserCount  int // rows in snapshot_users, set when it succeeds
	Error      string
	Stats      string
	QueuedAt   time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time
	UpdatedAt  time.Time
}

func (snapshotRow) TableName() string { return "snapshots" }

func (r snapshotRow) domain() (cleanup.Snapshot, error) {
	s := cleanup.Snapshot{ID: r.ID, ClientKey: r.ClientKey, Status: r.Status, Trigger: r.Trigger, StartedBy: r.StartedBy,
		UsersRead: r.UsersRead, Error: r.Error, QueuedAt: r.QueuedAt.UTC(), StartedAt: utcPtr(r.StartedAt), FinishedAt: utcPtr(r.FinishedAt)}
	if r.Stats != "" {
		var st cleanup.SnapshotStats
		if err := json.Unmarshal([]byte(r.Stats), &st); err != nil {
			return s, fmt.Errorf("store: snapshot %d stats: %w", r.ID, err)
		}
		s.Stats = &st
	}
	return s, nil
}

type snapshotUserRow struct {
	ID           int64
	SnapshotID   int64
	ClientKey    string
	AccountID    string
	Name         string
	SortName     string
	Email        string
	Search       string
	AccountType  string
	Status       string
	Band         string
	BandOrder    int
	LastActiveAt *time.Time
	Products     string
	GroupIDs     string `gorm:"column:group_ids"`
	Synced       bool
	Protected    string
	Detail       string
}

func (snapshotUserRow) TableName() string { return "snapshot_users" }

// snapshotUserDetail is what snapshot_users.detail holds: what the users
// screen shows but does not filter on.
type snapshotUserDetail struct {
	LastActive   map[string]time.Time    `json:"lastActive,omitempty"`
	Groups       []cleanup.SnapshotGroup `json:"groups,omitempty"`
	ProtectedWhy string                  `json:"protectedWhy,omitempty"`
}

var bandOrder = map[string]int{cleanup.BandActive: 0, cleanup.BandLowUsage: 1, cleanup.BandInactive: 2, cleanup.BandNever: 3}

// setColumn is a list stored as ",a,b," so that LIKE '%,a,%' finds a member.
func setColumn(items []string) string {
	if len(items) == 0 {
		return ""
	}
	return "," + strings.Join(items, ",") + ","
}

func newSnapshotUserRow(clientKey string, id int64, u cleanup.SnapshotUser) (snapshotUserRow, error) {
	detail, err := json.Marshal(snapshotUserDetail{LastActive: u.LastActive, Groups: u.Groups, ProtectedWhy: u.ProtectedWhy})
	if err != nil {
		return snapshotUserRow{}, err
	}
	groups := make([]string, len(u.Groups))
	for i, g := range u.Groups {
		groups[i] = g.ID
	}
	return snapshotUserRow{
		SnapshotID: id, ClientKey: clientKey, AccountID: u.AccountID, Name: u.Name, SortName: strings.ToLower(u.Name),
		Email: strings.ToLower(u.Email), Search: strings.ToLower(u.Name + "\n" + u.Email), AccountType: u.AccountType,
		Status: u.Status, Band: u.Band, BandOrder: bandOrder[u.Band], LastActiveAt: utcPtr(u.LastActiveAt),
		Products: setColumn(u.Products), GroupIDs: setColumn(groups), Synced: u.Synced, Protected: u.Protected, Detail: string(detail),
	}, nil
}

func (r snapshotUserRow) domain() (cleanup.SnapshotUser, error) {
	var d snapshotUserDetail
	if err := json.Unmarshal([]byte(r.Detail), &d); err != nil {
		return cleanup.SnapshotUser{}, fmt.Errorf("store: snapshot user %s: %w", r.AccountID, err)
	}
	u := cleanup.SnapshotUser{AccountID: r.AccountID, Name: r.Name, Email: r.Email, AccountType: r.AccountType,
		Status: r.Status, Band: r.Band, LastActiveAt: utcPtr(r.LastActiveAt), Synced: r.Synced,
		Protected: r.Protected, ProtectedWhy: d.ProtectedWhy, LastActive: d.LastActive, Groups: d.Groups}
	if u.LastActive == nil {
		u.LastActive = map[string]time.Time{}
	}
	if u.Groups == nil {
		u.Groups = []cleanup.SnapshotGroup{}
	}
	u.Products = []string{}
	for _, p := range strings.Split(strings.Trim(r.Products, ","), ",") {
		if p != "" {
			u.Products = append(u.Products, p)
		}
	}
	return u, nil
}

type snapshotHistoryRow struct {
	ClientKey string `gorm:"primaryKey"`
	Day       string `gorm:"primaryKey"`
	Product   string `gorm:"primaryKey"`
	Users     int
	Inactive  int
}

func (snapshotHistoryRow) TableName() string { return "snapshot_history" }

// SnapshotEnqueueFunc schedules the job of a snapshot inside tx, the
// transaction that creates it.
type SnapshotEnqueueFunc func(ctx context.Context, tx *sql.Tx, clientKey string, snapshotID int64) error

// SnapshotStore keeps the licence snapshots. It implements
// cleanup.SnapshotStore; every query is scoped by client key.
type SnapshotStore struct {
	s       *Store
	enqueue SnapshotEnqueueFunc
}

var _ cleanup.SnapshotStore = (*SnapshotStore)(nil)

// Snapshots returns the snapshot store; enqueue schedules a new
// snapshot's job in the transaction that creates it (nil: none, for
// tests that take snapshots by hand).
func (s *Store) Snapshots(enqueue SnapshotEnqueueFunc) *SnapshotStore {
	return &SnapshotStore{s: s, enqueue: enqueue}
}

func errNoSnapshot() error {
	return &cleanup.Error{Kind: cleanup.KindNotFound, Message: "no such snapshot"}
}

// CreateSnapshot implements cleanup.SnapshotStore.
func (st *SnapshotStore) CreateSnapshot(ctx context.Context, clientKey, trigger, startedBy string) (int64, bool, error) {
	now := st.s.now().UTC()
	var id int64
	created := false
	err := st.s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		ts, err := tenantState(tx, clientKey)
		if err != nil {
			return err
		}
		if err := refusal(ts); err != nil {
			return err
		}
		var active snapshotRow
		err = tx.Where("client_key = ? AND status IN ?", clientKey, []string{cleanup.SnapshotQueued, cleanup.SnapshotRunning}).
			Order("id DESC").Take(&active).Error
		switch {
		case err == nil && active.UpdatedAt.After(now.Add(-staleSnapshot)):
			id = active.ID
			return nil
		case err == nil:
			if err := tx.Model(&snapshotRow{}).Where("id = ?", active.ID).Updates(map[string]any{
				"status": cleanup.SnapshotFailed, "error": "interrupted: the snapshot stopped making progress", "finished_at": now, "updated_at": now,
			}).Error; err != nil {
				return err
			}
		case !errors.Is(err, gorm.ErrRecordNotFound):
			return err
		}
		r := snapshotRow{ClientKey: clientKey, Status: cleanup.SnapshotQueued, Trigger: trigger, StartedBy: startedBy, QueuedAt: now, UpdatedAt: now}
		if err := tx.Omit("ID").Create(&r).Error; err != nil {
			return err
		}
		id, created = r.ID, true
		if st.enqueue == nil {
			return nil
		}
		stx, err := sqlTx(tx)
		if err != nil {
			return err
		}
		return st.enqueue(ctx, stx, clientKey, r.ID)
	})
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		// Another request queued one at the same moment: report it.
		latest, current, lerr := st.LatestSnapshots(ctx, clientKey)
		_ = latest
		if lerr == nil && current != nil {
			return current.ID, false, nil
		}
	}
	if cleanup.KindOf(err) == cleanup.KindConflict {
		return 0, false, err
	}
	if err != nil {
		return 0, false, fmt.Errorf("store: create snapshot: %w", err)
	}
	return id, created, nil
}

// BeginSnapshot implements cleanup.SnapshotStore.
func (st *SnapshotStore) BeginSnapshot(ctx context.Context, clientKey string, id int64, startedAt time.Time) error {
	err := st.s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&snapshotRow{}).Where("client_key = ? AND id = ?", clientKey, id).Updates(map[string]any{
			"status": cleanup.SnapshotRunning, "started_at": startedAt.UTC(), "users_read": 0, "updated_at": st.s.now().UTC(),
		})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return errNoSnapshot()
		}
		return tx.Where("client_key = ? AND snapshot_id = ?", clientKey, id).Delete(&snapshotUserRow{}).Error
	})
	if err != nil && cleanup.KindOf(err) != cleanup.KindNotFound {
		return fmt.Errorf("store: begin snapshot: %w", err)
	}
	return err
}

// AddSnapshotUsers implements cleanup.SnapshotStore.
func (st *SnapshotStore) AddSnapshotUsers(ctx context.Context, clientKey string, id int64, users []cleanup.SnapshotUser, usersRead int) error {
	rows := make([]snapshotUserRow, 0, len(users))
	for _, u := range users {
		r, err := newSnapshotUserRow(clientKey, id, u)
		if err != nil {
			return err
		}
		rows = append(rows, r)
	}
	err := st.s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&snapshotRow{}).Where("client_key = ? AND id = ? AND status = ?", clientKey, id, cleanup.SnapshotRunning).
			Updates(map[string]any{"users_read": usersRead, "updated_at": st.s.now().UTC()})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return errNoSnapshot()
		}
		if len(rows) == 0 {
			return nil
		}
		return tx.Omit("ID").Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(rows, snapshotInsertBatch).Error
	})
	if err != nil && cleanup.KindOf(err) != cleanup.KindNotFound {
		return fmt.Errorf("store: add snapshot users: %w", err)
	}
	return err
}

// FinishSnapshot implements cleanup.SnapshotStore.
func (st *SnapshotStore) FinishSnapshot(ctx context.Context, clientKey string, id int64, status, message string, stats *cleanup.SnapshotStats, points []cleanup.TrendPoint, at, keepSince time.Time) error {
	statsJSON := ""
	if stats != nil {
		b, err := json.Marshal(stats)
		if err != nil {
			return err
		}
		statsJSON = string(b)
	}
	err := st.s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&snapshotRow{}).Where("client_key = ? AND id = ? AND status IN ?", clientKey, id,
			[]string{cleanup.SnapshotQueued, cleanup.SnapshotRunning}).
			Updates(map[string]any{"status": status, "error": message, "stats": statsJSON, "finished_at": at.UTC(), "updated_at": st.s.now().UTC()})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return errNoSnapshot()
		}
		if status != cleanup.SnapshotSucceeded {
			return tx.Where("client_key = ? AND snapshot_id = ?", clientKey, id).Delete(&snapshotUserRow{}).Error
		}
		// The users screen's unfiltered total, counted once here rather
		// than on every page.
		var n int64
		if err := tx.Model(&snapshotUserRow{}).Where("snapshot_id = ?", id).Count(&n).Error; err != nil {
			return err
		}
		if err := tx.Model(&snapshotRow{}).Where("id = ?", id).Update("user_count", n).Error; err != nil {
			return err
		}
		for _, p := range points {
			row := snapshotHistoryRow{ClientKey: clientKey, Day: p.Day, Product: p.Product, Users: p.Users, Inactive: p.Inactive}
			if err := tx.Clauses(clause.OnConflict{
				Columns:   []clause.Column{{Name: "client_key"}, {Name: "day"}, {Name: "product"}},
				DoUpdates: clause.AssignmentColumns([]string{"users", "inactive"}),
			}).Create(&row).Error; err != nil {
				return err
			}
		}
		if err := tx.Where("client_key = ? AND snapshot_id < ?", clientKey, id).Delete(&snapshotUserRow{}).Error; err != nil {
			return err
		}
		if err := tx.Model(&snapshotRow{}).Where("client_key = ? AND id < ? AND user_count <> 0", clientKey, id).Update("user_count", 0).Error; err != nil {
			return err
		}
		if err := tx.Where("client_key = ? AND queued_at < ? AND id <> ?", clientKey, keepSince.UTC(), id).Delete(&snapshotRow{}).Error; err != nil {
			return err
		}
		return tx.Where("client_key = ? AND day < ?", clientKey, keepSince.UTC().Format(time.DateOnly)).Delete(&snapshotHistoryRow{}).Error
	})
	if err != nil && cleanup.KindOf(err) != cleanup.KindNotFound {
		return fmt.Errorf("store: finish snapshot: %w", err)
	}
	if err == nil && status == cleanup.SnapshotSucceeded && st.s.driver == Postgres {
		// A snapshot replaces a whole table's worth of rows at once: fresh
		// statistics keep the users screen on its indexes.
		if aerr := st.s.db.WithContext(ctx).Exec("ANALYZE snapshot_users").Error; aerr != nil {
			st.s.log.WarnContext(ctx, "analyze snapshot_users", "error", aerr.Error())
		}
	}
	return err
}

// Snapshot implements cleanup.SnapshotStore.
func (st *SnapshotStore) Snapshot(ctx context.Context, clientKey string, id int64) (cleanup.Snapshot, error) {
	var r snapshotRow
	err := st.s.db.WithContext(ctx).Where("client_key = ? AND id = ?", clientKey, id).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return cleanup.Snapshot{}, errNoSnapshot()
	}
	if err != nil {
		return cleanup.Snapshot{}, fmt.Errorf("store: snapshot: %w", err)
	}
	return r.domain()
}

// LatestSnapshots implements cleanup.SnapshotStore.
func (st *SnapshotStore) LatestSnapshots(ctx context.Context, clientKey string) (*cleanup.Snapshot, *cleanup.Snapshot, error) {
	db := st.s.db.WithContext(ctx)
	find := func(statuses ...string) (*cleanup.Snapshot, error) {
		var rows []snapshotRow
		if err := db.Where("client_key = ? AND status IN ?", clientKey, statuses).Order("id DESC").Limit(1).Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("store: latest snapshot: %w", err)
		}
		if len(rows) == 0 {
			return nil, nil
		}
		s, err := rows[0].domain()
		return &s, err
	}
	latest, err := find(cleanup.SnapshotSucceeded)
	if err != nil {
		return nil, nil, err
	}
	current, err := find(cleanup.SnapshotQueued, cleanup.SnapshotRunning, cleanup.SnapshotFailed)
	if err != nil {
		return nil, nil, err
	}
	// A failed snapshot is shown until a newer one succeeds.
	if current != nil && latest != nil && current.ID < latest.ID {
		current = nil
	}
	return latest, current, nil
}

// SnapshotUsers implements cleanup.SnapshotStore.
func (st *SnapshotStore) SnapshotUsers(ctx context.Context, clientKey string, snapshotID int64, f cleanup.SnapshotUserFilter, p cleanup.Page) ([]cleanup.SnapshotUser, int, error) {
	p = p.Normalized()
	var snap snapshotRow
	err := st.s.db.WithContext(ctx).Select("id", "status", "user_count").Where("client_key = ? AND id = ?", clientKey, snapshotID).Take(&snap).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return []cleanup.SnapshotUser{}, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("store: snapshot users: %w", err)
	}
	q := st.s.db.WithContext(ctx).Model(&snapshotUserRow{}).Where("snapshot_id = ? AND client_key = ?", snapshotID, clientKey)
	filtered := f.Review || strings.TrimSpace(f.Search) != "" || f.Band != "" || f.Product != "" || f.GroupID != "" || f.Synced != nil || f.Protected != ""
	if s := strings.ToLower(strings.TrimSpace(f.Search)); s != "" {
		q = q.Where(`search LIKE ? ESCAPE '\'`, "%"+escapeLike(s)+"%")
	}
	if f.Band != "" {
		q = q.Where("band_order = ?", bandOrder[f.Band])
	}
	if f.Product != "" {
		q = q.Where(`products LIKE ? ESCAPE '\'`, "%,"+escapeLike(f.Product)+",%")
	}
	if f.GroupID != "" {
		q = q.Where(`group_ids LIKE ? ESCAPE '\'`, "%,"+escapeLike(f.GroupID)+",%")
	}
	if f.Synced != nil {
		q = q.Where("synced = ?", *f.Synced)
	}
	if f.Review {
		q = q.Where("account_id IN (SELECT account_id FROM ("+openReviewSQL+") o)", clientKey, clientKey)
	}
	switch f.Protected {
	case "":
	case "yes":
		q = q.Where("protected <> ''")
	case "no":
		q = q.Where("protected = ''")
	default:
		q = q.Where("protected = ?", f.Protected)
	}
	total := int64(snap.UserCount)
	if filtered || snap.Status != cleanup.SnapshotSucceeded {
		if err := q.Session(&gorm.Session{}).Count(&total).Error; err != nil {
			return nil, 0, fmt.Errorf("store: count snapshot users: %w", err)
		}
	}
	dir := "ASC"
	if f.Desc {
		dir = "DESC"
	}
	var order string
	switch f.Sort {
	case cleanup.UserSortEmail:
		order = "email " + dir + ", account_id " + dir
	case cleanup.UserSortLastActive:
		// Never active sorts as the oldest.
		nulls := "NULLS FIRST"
		if f.Desc {
			nulls = "NULLS LAST"
		}
		order = "last_active_at " + dir + " " + nulls + ", account_id " + dir
	case cleanup.UserSortBand:
		order = "band_order " + dir + ", sort_name " + dir + ", account_id " + dir
	case cleanup.UserSortType:
		order = "account_type " + dir + ", sort_name " + dir + ", account_id " + dir
	default:
		order = "sort_name " + dir + ", account_id " + dir
	}
	var rows []snapshotUserRow
	if err := q.Order(order).Offset(p.Offset()).Limit(p.PerPage).Find(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("store: list snapshot users: %w", err)
	}
	out := make([]cleanup.SnapshotUser, len(rows))
	for i, r := range rows {
		u, err := r.domain()
		if err != nil {
			return nil, 0, err
		}
		out[i] = u
	}
	return out, int(total), nil
}

// Trend implements cleanup.SnapshotStore.
func (st *SnapshotStore) Trend(ctx context.Context, clientKey, fromDay string) ([]cleanup.TrendPoint, error) {
	var rows []snapshotHistoryRow
	if err := st.s.db.WithContext(ctx).Where("client_key = ? AND day >= ?", clientKey, fromDay).Order("day, product").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: snapshot trend: %w", err)
	}
	out := make([]cleanup.TrendPoint, len(rows))
	for i, r := range rows {
		out[i] = cleanup.TrendPoint{Day: r.Day, Product: r.Product, Users: r.Users, Inactive: r.Inactive}
	}
	return out, nil
}

// SnapshotsDue implements cleanup.SnapshotStore.
func (st *SnapshotStore) SnapshotsDue(ctx context.Context, since time.Time, limit int) ([]string, error) {
	var keys []string
	err := st.s.db.WithContext(ctx).Raw(`SELECT t.client_key FROM tenants t
JOIN tenant_settings s ON s.client_key = t.client_key
WHERE t.enabled = ? AND t.uninstalled_at IS NULL AND s.org_api_key <> ''
AND NOT EXISTS (SELECT 1 FROM snapshots n WHERE n.client_key = t.client_key AND n.queued_at >= ?)
ORDER BY t.client_key LIMIT ?`, true, since.UTC(), limit).Scan(&keys).Error
	if err != nil {
		return nil, fmt.Errorf("store: snapshots due: %w", err)
	}
	return keys, nil
}
