package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/example/usercleanup/internal/cleanup"
)

// runRow is the runs table.
type runRow struct {
	ID              int64
	ClientKey       string
	CleanupID       *int64
	CleanupName     string
	Definition      string
	Settings        string
	Groups          string
	Trigger         string
	StartedBy       string
	RestoreOf       *int64
	RestoreAccounts string
	ScheduledFor    *time.Time
	DryRun          bool
	Status          string
	Phase           string
	Cursor          string
	Counts          string
	Error           string
	LeaseOwner      string
	LeaseUntil      *time.Time
	QueuedAt        time.Time
	StartedAt       *time.Time
	FinishedAt      *time.Time
	EmailRounds     int
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

func (runRow) TableName() string { return "runs" }

// runUserRow is the run_users table.
type runUserRow struct {
	ID               int64
	RunID            int64
	ClientKey        string
	AccountID        string
	Name             string
	Email            string
	AccountType      string
	PriorStatus      string
	Product          string
	GroupID          string
	GroupName        string
	GroupSynced      bool
	IdentityProvider string
	LastActive       string
	Reason           string
	Action           string
	Outcome          string
	Message          string
	EmailKey         string
	AttemptedAt      *time.Time
	WarningID        *int64
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

func (runUserRow) TableName() string { return "run_users" }

func errNoRun() error { return &cleanup.Error{Kind: cleanup.KindNotFound, Message: "no such run"} }

const leaseHeld = "the run's lease is held by another worker"

// errLease is returned by writes of a step that no longer holds the lease.
func errLease() error { return &cleanup.Error{Kind: cleanup.KindConflict, Message: leaseHeld} }

func (r runRow) domain(full bool) (cleanup.Run, error) {
	run := cleanup.Run{
		ID: r.ID, ClientKey: r.ClientKey, CleanupName: r.CleanupName, Trigger: r.Trigger,
		StartedBy: r.StartedBy, ScheduledFor: utcPtr(r.ScheduledFor), DryRun: r.DryRun,
		Status: r.Status, Phase: r.Phase, Cursor: r.Cursor, Error: r.Error,
		QueuedAt: r.QueuedAt.UTC(), StartedAt: utcPtr(r.StartedAt), FinishedAt: utcPtr(r.FinishedAt),
		UpdatedAt: r.UpdatedAt.UTC(), EmailRounds: r.EmailRounds,
	}
	if r.CleanupID != nil {
		run.CleanupID = *r.CleanupID
	}
	if r.RestoreOf != nil {
		run.RestoreOf = *r.RestoreOf
	}
	accounts, err := decodeAccounts(r.RestoreAccounts) // restores.go
	if err != nil {
		return cleanup.Run{}, err
	}
	run.RestoreAccounts = accounts
	if err := json.Unmarshal([]byte(r.Counts), &run.Counts); err != nil {
		return cleanup.Run{}, fmt.Errorf("store: decode counts of run %d: %w", r.ID, err)
	}
	if !full {
		return run, nil
	}
	if err := json.Unmarshal([]byte(r.Definition), &run.Definition); err != nil {
		return cleanup.Run{}, fmt.Errorf("store: decode definition of run %d: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(r.Settings), &run.Settings); err != nil {
		return cleanup.Run{}, fmt.Errorf("store: decode settings of run %d: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(r.Groups), &run.Groups); err != nil {
		return cleanup.Run{}, fmt.Errorf("store: decode groups of run %d: %w", r.ID, err)
	}
	return run, nil
}

func (r runUserRow) domain() cleanup.AffectedUser {
	u := cleanup.AffectedUser{
		ID: r.ID, RunID: r.RunID, AccountID: r.AccountID, Name: r.Name, Email: r.Email,
		AccountType: r.AccountType, PriorStatus: r.PriorStatus, Product: r.Product, GroupID: r.GroupID, GroupName: r.GroupName,
		GroupSynced: r.GroupSynced, IdentityProvider: r.IdentityProvider, Reason: r.Reason,
		Action: r.Action, Outcome: r.Outcome, Message: r.Message,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
	var last map[string]string
	if json.Unmarshal([]byte(r.LastActive), &last) == nil && len(last) > 0 {
		u.LastActive = make(map[string]time.Time, len(last))
		for k, v := range last {
			t, _ := time.Parse(time.RFC3339, v) // "" (never) parses to the zero time
			u.LastActive[k] = t
		}
	}
	return u
}

func encodeLastActive(m map[string]time.Time) string {
	if len(m) == 0 {
		return "{}"
	}
	out := make(map[string]string, len(m))
	for k, t := range m {
		if t.IsZero() {
			out[k] = ""
		} else {
			out[k] = t.UTC().Format(time.RFC3339)
		}
	}
	b, _ := json.Marshal(out) // map[string]string always marshals
	return string(b)
}

// EmailKey is the normalized e-mail used to sort and de-duplicate
// identity-provider exports: lower-cased and trimmed.
func EmailKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// CreateRun implements cleanup.Store.
func (c *CleanupStore) CreateRun(ctx context.Context, nr cleanup.NewRun) (int64, error) {
	def, err := encodeDefinition(nr.Definition)
	if err != nil {
		return 0, err
	}
	set, err := json.Marshal(nr.Settings)
	if err != nil {
		return 0, err
	}
	counts, _ := json.Marshal(cleanup.RunCounts{})
	groups := []byte("[]")
	if len(nr.Groups) > 0 {
		if groups, err = json.Marshal(nr.Groups); err != nil {
			return 0, err
		}
	}
	now := c.s.now().UTC()
	r := runRow{
		ClientKey: nr.ClientKey, CleanupName: nr.CleanupName, Definition: def, Settings: string(set),
		Groups: string(groups), Trigger: nr.Trigger, StartedBy: nr.StartedBy, ScheduledFor: utcPtr(nr.ScheduledFor),
		DryRun: nr.DryRun, Status: cleanup.RunQueued, Phase: nr.FirstPhase(), Counts: string(counts),
		RestoreAccounts: encodeAccounts(nr.RestoreAccounts), QueuedAt: now, CreatedAt: now, UpdatedAt: now,
	}
	if nr.CleanupID != 0 {
		id := nr.CleanupID
		r.CleanupID = &id
	}
	if nr.RestoreOf != 0 {
		id := nr.RestoreOf
		r.RestoreOf = &id
	}
	err = c.s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// A disabled or uninstalled installation runs nothing, however the
		// run was asked for (checked in the transaction that creates it).
		st, err := tenantState(tx, nr.ClientKey)
		if err != nil {
			return err
		}
		if err := refusal(st); err != nil {
			return err
		}
		if nr.RestoreOf != 0 {
			if err := restoreInProgress(tx, nr.ClientKey, nr.RestoreOf); err != nil { // restores.go
				return err
			}
		}
		if err := tx.Omit("ID").Create(&r).Error; err != nil {
			return err
		}
		if nr.ScheduledFor != nil && nr.CleanupID != 0 {
			if err := tx.Model(&cleanupRow{}).Where("client_key = ? AND id = ?", nr.ClientKey, nr.CleanupID).
				Updates(map[string]any{"last_scheduled_at": utcPtr(nr.ScheduledFor), "next_run_at": utcPtr(nr.NextRunAt)}).Error; err != nil {
				return err
			}
		}
		return c.continueRun(ctx, tx, nr.ClientKey, r.ID)
	})
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return 0, &cleanup.Error{Kind: cleanup.KindConflict, Message: "a run for this scheduled time already exists", Err: err}
	}
	if cleanup.KindOf(err) == cleanup.KindConflict {
		return 0, err
	}
	if err != nil {
		return 0, fmt.Errorf("store: create run: %w", err)
	}
	return r.ID, nil
}

func (c *CleanupStore) continueRun(ctx context.Context, tx *gorm.DB, clientKey string, runID int64) error {
	if c.enqueue == nil {
		return nil
	}
	stx, err := sqlTx(tx)
	if err != nil {
		return err
	}
	if err := c.enqueue(ctx, stx, clientKey, runID); err != nil {
		return fmt.Errorf("enqueue run step: %w", err)
	}
	return nil
}

// Runs implements cleanup.Store: a page of runs, newest first.
func (c *CleanupStore) Runs(ctx context.Context, clientKey string, p cleanup.Page) ([]cleanup.Run, int, error) {
	p = p.Normalized()
	db := c.s.db.WithContext(ctx)
	var total int64
	if err := db.Model(&runRow{}).Where("client_key = ?", clientKey).Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("store: count runs: %w", err)
	}
	var rows []runRow
	err := db.Omit("definition", "settings", "groups", "restore_accounts").Where("client_key = ?", clientKey).
		Order("id DESC").Offset(p.Offset()).Limit(p.PerPage).Find(&rows).Error
	if err != nil {
		return nil, 0, fmt.Errorf("store: list runs: %w", err)
	}
	out := make([]cleanup.Run, 0, len(rows))
	for _, r := range rows {
		run, err := r.domain(false)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, run)
	}
	if err := c.attachFollowUps(db, clientKey, out); err != nil { // followup.go
		return nil, 0, err
	}
	if err := attachWarningCounts(db, clientKey, out); err != nil { // warnings.go
		return nil, 0, err
	}
	return out, int(total), nil
}

// Run implements cleanup.Store: the run with its row counters computed
// from the rows (live while it runs).
func (c *CleanupStore) Run(ctx context.Context, clientKey string, id int64) (cleanup.Run, error) {
	db := c.s.db.WithContext(ctx)
	run, err := c.loadRun(db, clientKey, id)
	if err != nil {
		return cleanup.Run{}, err
	}
	counts, err := rowCounts(db, clientKey, id, run.Counts)
	if err != nil {
		return cleanup.Run{}, err
	}
	run.Counts = counts
	if run.FollowUp, err = c.runFollowUp(db, clientKey, id); err != nil { // followup.go
		return cleanup.Run{}, err
	}
	one := []cleanup.Run{run}
	if err := attachWarningCounts(db, clientKey, one); err != nil { // warnings.go
		return cleanup.Run{}, err
	}
	return one[0], nil
}

func (c *CleanupStore) loadRun(db *gorm.DB, clientKey string, id int64) (cleanup.Run, error) {
	var r runRow
	err := db.Where("client_key = ? AND id = ?", clientKey, id).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return cleanup.Run{}, errNoRun()
	}
	if err != nil {
		return cleanup.Run{}, fmt.Errorf("store: get run: %w", err)
	}
	return r.domain(true)
}

// runCountsSQL counts a run's rows by action and outcome (arguments: the
// run twice and the tenant). The tenant is checked on the run, once, so
// the count reads the (run_id, action, outcome, …) index alone instead of
// every row for its client_key: on a run of 50,000 rows it took a large
// share of the last step's time, and every progress poll pays it.
const runCountsSQL = `SELECT action, outcome, COUNT(*) AS n FROM run_users
WHERE run_id = ? AND EXISTS (SELECT 1 FROM runs WHERE id = ? AND client_key = ?)
GROUP BY action, outcome`

// rowCounts recomputes the outcome counters of a run from its rows and
// keeps the evaluation counters of base.
func rowCounts(db *gorm.DB, clientKey string, runID int64, base cleanup.RunCounts) (cleanup.RunCounts, error) {
	var groups []struct {
		Action  string
		Outcome string
		N       int
	}
	err := db.Raw(runCountsSQL, runID, runID, clientKey).Scan(&groups).Error
	if err != nil {
		return cleanup.RunCounts{}, fmt.Errorf("store: count run rows: %w", err)
	}
	out := cleanup.RunCounts{
		Evaluated: base.Evaluation.Evaluated, Matched: base.Evaluation.Matched,
		Protected: base.Evaluation.Protected, Evaluation: base.Evaluation,
	}
	for _, g := range groups {
		out.AddRows(g.Action, g.Outcome, g.N)
	}
	return out, nil
}

// RunUsers implements cleanup.Store: a page of a run's rows in id order.
func (c *CleanupStore) RunUsers(ctx context.Context, clientKey string, runID int64, f cleanup.RunUserFilter, p cleanup.Page) ([]cleanup.AffectedUser, int, error) {
	p = p.Normalized()
	q := c.s.db.WithContext(ctx).Model(&runUserRow{}).Where("client_key = ? AND run_id = ?", clientKey, runID)
	if f.Outcome != "" {
		q = q.Where("outcome = ?", f.Outcome)
	}
	if f.GroupID != "" {
		q = q.Where("group_id = ?", f.GroupID)
	}
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if f.Email != "" {
		q = q.Where("warning_id IN (SELECT id FROM warnings WHERE client_key = ? AND email_status = ?)", clientKey, f.Email)
	}
	if s := strings.ToLower(strings.TrimSpace(f.Search)); s != "" {
		like := "%" + escapeLike(s) + "%"
		q = q.Where(`(LOWER(name) LIKE ? ESCAPE '\' OR email_key LIKE ? ESCAPE '\' OR account_id = ?)`, like, like, strings.TrimSpace(f.Search))
	}
	var total int64
	if err := q.Session(&gorm.Session{}).Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("store: count run users: %w", err)
	}
	var rows []runUserRow
	if err := q.Order("id").Offset(p.Offset()).Limit(p.PerPage).Find(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("store: list run users: %w", err)
	}
	out := make([]cleanup.AffectedUser, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	if err := attachRowWarnings(c.s.db.WithContext(ctx), clientKey, rows, out); err != nil { // warnings.go
		return nil, 0, err
	}
	return out, int(total), nil
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// AcquireRunLease implements cleanup.RunStore with one conditional UPDATE.
func (c *CleanupStore) AcquireRunLease(ctx context.Context, clientKey string, runID int64, owner string, until time.Time) (cleanup.Run, error) {
	db := c.s.db.WithContext(ctx)
	now := c.s.now().UTC()
	res := db.Model(&runRow{}).
		Where("client_key = ? AND id = ? AND (lease_owner = '' OR lease_owner = ? OR lease_until IS NULL OR lease_until < ?)", clientKey, runID, owner, now).
		Updates(map[string]any{"lease_owner": owner, "lease_until": until.UTC(), "updated_at": now})
	if res.Error != nil {
		return cleanup.Run{}, fmt.Errorf("store: acquire run lease: %w", res.Error)
	}
	run, err := c.loadRun(db, clientKey, runID)
	if err != nil {
		return cleanup.Run{}, err
	}
	if res.RowsAffected == 0 {
		var r runRow
		if err := db.Select("lease_until").Where("client_key = ? AND id = ?", clientKey, runID).Take(&r).Error; err != nil {
			return cleanup.Run{}, fmt.Errorf("store: read run lease: %w", err)
		}
		wait := time.Second
		if r.LeaseUntil != nil {
			wait = max(wait, r.LeaseUntil.Sub(now)+100*time.Millisecond)
		}
		return run, &cleanup.Error{Kind: cleanup.KindConflict, Message: leaseHeld, RetryAfter: wait}
	}
	return run, nil
}

// ReleaseRunLease implements cleanup.RunStore.
func (c *CleanupStore) ReleaseRunLease(ctx context.Context, clientKey string, runID int64, owner string) error {
	err := c.s.db.WithContext(ctx).Model(&runRow{}).Where("client_key = ? AND id = ? AND lease_owner = ?", clientKey, runID, owner).
		Updates(map[string]any{"lease_owner": "", "lease_until": nil}).Error
	if err != nil {
		return fmt.Errorf("store: release run lease: %w", err)
	}
	return nil
}

// leased updates the run if owner holds its lease, else returns errLease.
func leased(tx *gorm.DB, clientKey string, runID int64, owner string, upd map[string]any) error {
	res := tx.Model(&runRow{}).Where("client_key = ? AND id = ? AND lease_owner = ?", clientKey, runID, owner).Updates(upd)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return errLease()
	}
	return nil
}

func (c *CleanupStore) tx(ctx context.Context, op string, fn func(tx *gorm.DB) error) error {
	err := c.s.db.WithContext(ctx).Transaction(fn)
	if err == nil {
		return nil
	}
	if cleanup.KindOf(err) == cleanup.KindConflict {
		return err
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// BeginRun implements cleanup.RunStore.
func (c *CleanupStore) BeginRun(ctx context.Context, clientKey string, runID int64, owner string, groups []cleanup.GroupInfo, startedAt time.Time) error {
	g, err := json.Marshal(groups)
	if err != nil {
		return err
	}
	return c.tx(ctx, "begin run", func(tx *gorm.DB) error {
		return leased(tx, clientKey, runID, owner, map[string]any{
			"status": cleanup.RunRunning, "groups": string(g), "started_at": startedAt.UTC(), "updated_at": c.s.now().UTC(),
		})
	})
}

// Commit implements cleanup.RunStore: one transaction, conditional on the
// lease.
func (c *CleanupStore) Commit(ctx context.Context, cm cleanup.Commit) error {
	now := c.s.now().UTC()
	return c.tx(ctx, "commit run progress", func(tx *gorm.DB) error {
		upd := map[string]any{"lease_until": cm.LeaseUntil.UTC(), "updated_at": now}
		if cm.Cursor != nil {
			upd["cursor"] = *cm.Cursor
		}
		if cm.Phase != "" {
			upd["phase"] = cm.Phase
		}
		if cm.EndChunk {
			upd["lease_owner"], upd["lease_until"] = "", nil
		}
		if err := leased(tx, cm.ClientKey, cm.RunID, cm.Owner, upd); err != nil {
			return err
		}
		if cm.AddCounts != nil {
			var r runRow
			if err := tx.Select("counts").Where("client_key = ? AND id = ?", cm.ClientKey, cm.RunID).Take(&r).Error; err != nil {
				return err
			}
			var rc cleanup.RunCounts
			if err := json.Unmarshal([]byte(r.Counts), &rc); err != nil {
				return err
			}
			rc.Evaluation.Add(*cm.AddCounts)
			rc.Evaluated, rc.Matched, rc.Protected = rc.Evaluation.Evaluated, rc.Evaluation.Matched, rc.Evaluation.Protected
			b, err := json.Marshal(rc)
			if err != nil {
				return err
			}
			if err := tx.Model(&runRow{}).Where("client_key = ? AND id = ?", cm.ClientKey, cm.RunID).Update("counts", string(b)).Error; err != nil {
				return err
			}
		}
		if len(cm.Rows) > 0 {
			rows := make([]runUserRow, len(cm.Rows))
			for i, u := range cm.Rows {
				rows[i] = runUserRow{
					RunID: cm.RunID, ClientKey: cm.ClientKey, AccountID: u.AccountID, Name: u.Name, Email: u.Email,
					AccountType: u.AccountType, PriorStatus: u.PriorStatus, Product: u.Product, GroupID: u.GroupID, GroupName: u.GroupName,
					GroupSynced: u.GroupSynced, IdentityProvider: u.IdentityProvider, LastActive: encodeLastActive(u.LastActive),
					Reason: u.Reason, Action: u.Action, Outcome: u.Outcome, Message: u.Message, EmailKey: EmailKey(u.Email),
					CreatedAt: now, UpdatedAt: now,
				}
			}
			if err := c.s.writeRunUsers(ctx, tx, rows); err != nil {
				return err
			}
		}
		if err := c.applyWarnings(tx, cm, now); err != nil { // warnings.go
			return err
		}
		for _, o := range cm.Outcomes {
			upd := map[string]any{"outcome": o.Outcome, "message": o.Message, "updated_at": now}
			if o.Rerouted {
				upd["action"], upd["group_synced"], upd["identity_provider"] = o.Action, o.GroupSynced, o.IdentityProvider
			}
			err := tx.Model(&runUserRow{}).Where("id = ? AND client_key = ? AND run_id = ? AND outcome = ?", o.ID, cm.ClientKey, cm.RunID, cleanup.OutcomePending).
				Updates(upd).Error
			if err != nil {
				return err
			}
		}
		if cm.EndChunk {
			return c.continueRun(ctx, tx, cm.ClientKey, cm.RunID)
		}
		return nil
	})
}

// PendingRows implements cleanup.RunStore.
func (c *CleanupStore) PendingRows(ctx context.Context, clientKey string, runID int64, actions []string, limit int) ([]cleanup.PendingRow, error) {
	var rows []runUserRow
	err := c.s.db.WithContext(ctx).Where("client_key = ? AND run_id = ? AND outcome = ? AND action IN ?",
		clientKey, runID, cleanup.OutcomePending, actions).Order("id").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: pending rows: %w", err)
	}
	out := make([]cleanup.PendingRow, len(rows))
	for i, r := range rows {
		out[i] = cleanup.PendingRow{AffectedUser: r.domain(), AttemptedAt: utcPtr(r.AttemptedAt)}
	}
	return out, nil
}

// MarkAttempted implements cleanup.RunStore.
func (c *CleanupStore) MarkAttempted(ctx context.Context, clientKey string, runID int64, owner string, ids []int64, at time.Time) error {
	return c.tx(ctx, "mark rows attempted", func(tx *gorm.DB) error {
		if err := leased(tx, clientKey, runID, owner, map[string]any{"updated_at": c.s.now().UTC()}); err != nil {
			return err
		}
		return tx.Model(&runUserRow{}).Where("client_key = ? AND run_id = ? AND id IN ? AND attempted_at IS NULL", clientKey, runID, ids).
			Updates(map[string]any{"attempted_at": at.UTC()}).Error
	})
}

// SettleRows implements cleanup.RunStore.
func (c *CleanupStore) SettleRows(ctx context.Context, clientKey string, runID int64, owner string, actions []string, outcome, prefix string) error {
	now := c.s.now().UTC()
	return c.tx(ctx, "settle rows", func(tx *gorm.DB) error {
		if err := leased(tx, clientKey, runID, owner, map[string]any{"updated_at": now}); err != nil {
			return err
		}
		upd := map[string]any{"outcome": outcome, "updated_at": now}
		if prefix != "" {
			upd["message"] = gorm.Expr("? || message", prefix)
		}
		return tx.Model(&runUserRow{}).Where("client_key = ? AND run_id = ? AND outcome = ? AND action IN ?", clientKey, runID, cleanup.OutcomePending, actions).
			Updates(upd).Error
	})
}

// FinishRun implements cleanup.RunStore.
func (c *CleanupStore) FinishRun(ctx context.Context, clientKey string, runID int64, owner, status, message string, at time.Time) error {
	now := c.s.now().UTC()
	return c.tx(ctx, "finish run", func(tx *gorm.DB) error {
		var r runRow
		err := tx.Select("counts", "lease_owner").Where("client_key = ? AND id = ?", clientKey, runID).Take(&r).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return errNoRun()
		}
		if err != nil {
			return err
		}
		if r.LeaseOwner != owner {
			return errLease()
		}
		var base cleanup.RunCounts
		if err := json.Unmarshal([]byte(r.Counts), &base); err != nil {
			return err
		}
		counts, err := rowCounts(tx, clientKey, runID, base)
		if err != nil {
			return err
		}
		if status == "" {
			status = cleanup.RunSucceeded
			if counts.Failed > 0 {
				status = cleanup.RunPartiallyFailed
			}
		}
		b, err := json.Marshal(counts)
		if err != nil {
			return err
		}
		err = leased(tx, clientKey, runID, owner, map[string]any{
			"status": status, "phase": cleanup.PhaseDone, "error": message, "counts": string(b),
			"finished_at": at.UTC(), "lease_owner": "", "lease_until": nil, "updated_at": now,
		})
		if err != nil {
			return err
		}
		return c.scheduleFollowUp(ctx, tx, clientKey, runID, at) // followup.go
	})
}

// UnfinishedRuns lists runs not yet finished whose lease is free or
// expired and that made no progress since idleSince (the zero time: any),
// oldest first: the runs a crash or a lost job left behind.
func (c *CleanupStore) UnfinishedRuns(ctx context.Context, idleSince time.Time, limit int) ([]cleanup.RunRef, error) {
	if limit <= 0 {
		limit = 1000
	}
	now := c.s.now().UTC()
	q := c.s.db.WithContext(ctx).Model(&runRow{}).Select("client_key", "id").
		Where("status IN ?", []string{cleanup.RunQueued, cleanup.RunRunning})
	if !idleSince.IsZero() {
		q = q.Where("updated_at < ? AND (lease_owner = '' OR lease_until IS NULL OR lease_until < ?)", idleSince.UTC(), now)
	}
	var rows []runRow
	if err := q.Order("id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: unfinished runs: %w", err)
	}
	out := make([]cleanup.RunRef, len(rows))
	for i, r := range rows {
		out[i] = cleanup.RunRef{ClientKey: r.ClientKey, ID: r.ID}
	}
	return out, nil
}

// RunsByStatus counts the runs of every tenant by status (the metrics'
// runs gauge; operators' view, never served to a tenant). Every status
// appears, zero when no run has it.
func (s *Store) RunsByStatus(ctx context.Context) (map[string]int, error) {
	var rows []struct {
		Status string
		N      int
	}
	if err := s.db.WithContext(ctx).Model(&runRow{}).Select("status, COUNT(*) AS n").Group("status").Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: count runs by status: %w", err)
	}
	out := map[string]int{cleanup.RunQueued: 0, cleanup.RunRunning: 0, cleanup.RunSucceeded: 0,
		cleanup.RunPartiallyFailed: 0, cleanup.RunFailed: 0}
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out, nil
}

// runUserColumns are the run_users columns a commit writes, in the order
// of runUserArgs.
const runUserColumns = "run_id, client_key, account_id, name, email, account_type, prior_status, product, group_id, group_name, " +
	"group_synced, identity_provider, last_active, reason, action, outcome, message, email_key, created_at, updated_at"

// insertRunUserSQLite writes one run row on SQLite (writeRunUsers).
const insertRunUserSQLite = "INSERT INTO run_users (" + runUserColumns + ") VALUES (" +
	"?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?" +
	") ON CONFLICT (account_id, run_id, group_id, action) DO NOTHING"

// runUserArgs fills args with r's values in runUserColumns order.
func runUserArgs(args []any, r *runUserRow) []any {
	return append(args[:0], r.RunID, r.ClientKey, r.AccountID, r.Name, r.Email, r.AccountType, r.PriorStatus, r.Product,
		r.GroupID, r.GroupName, r.GroupSynced, r.IdentityProvider, r.LastActive, r.Reason, r.Action, r.Outcome,
		r.Message, r.EmailKey, r.CreatedAt, r.UpdatedAt)
}

// writeRunUsers writes a commit's rows; a row whose key (account, run,
// group, action) is already stored is left as it is.
//
// SQLite takes one single-row statement per row. Multi-row statements
// through gorm cost it more: the driver binds parameters in time quadratic
// in their number, gorm reads the new ids back (RETURNING) through
// reflection, and a statement that writes several rows and may abort
// (foreign keys) needs a statement journal. BenchmarkCommitRows: about
// 210 → 175 µs of CPU a row before the index change of migration 14;
// raw statements of 8 or 16 rows measured no better than single rows.
// PostgreSQL takes multi-row statements of 200 rows, where a round trip
// per row would cost more.
func (s *Store) writeRunUsers(ctx context.Context, tx *gorm.DB, rows []runUserRow) error {
	if s.driver != SQLite {
		return tx.Omit("ID").Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "account_id"}, {Name: "run_id"}, {Name: "group_id"}, {Name: "action"}},
			DoNothing: true,
		}).CreateInBatches(rows, 200).Error
	}
	args := make([]any, 0, 20)
	for i := range rows {
		args = runUserArgs(args, &rows[i])
		if _, err := tx.Statement.ConnPool.ExecContext(ctx, insertRunUserSQLite, args...); err != nil {
			return fmt.Errorf("insert run row: %w", err)
		}
	}
	return nil
}
