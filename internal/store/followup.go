package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/example/usercleanup/internal/cleanup"
)

// migrationFollowUps is schema version 6: the follow-up of finished runs
// (run_follow_ups: due and check times, counters, why a check failed) and
// its verdict per affected-user row (run_follow_up_users). A follow-up row
// is inserted by FinishRun in the transaction that finishes the run, with
// the job that will check it, so a run never finishes without its
// follow-up scheduled or gets two.
func migrationFollowUps() Migration {
	return Migration{
		Version: 6,
		Name:    "run_follow_ups, run_follow_up_users",
		SQLite: `
CREATE TABLE run_follow_ups (
	run_id INTEGER NOT NULL PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
	client_key TEXT NOT NULL,
	due_at DATETIME NOT NULL,
	checked_at DATETIME,
	checked INTEGER NOT NULL DEFAULT 0,
	still_present INTEGER NOT NULL DEFAULT 0,
	error TEXT NOT NULL DEFAULT '',
	created_at DATETIME NOT NULL,
	updated_at DATETIME NOT NULL
);
CREATE TABLE run_follow_up_users (
	run_user_id INTEGER NOT NULL PRIMARY KEY REFERENCES run_users (id) ON DELETE CASCADE,
	run_id INTEGER NOT NULL,
	client_key TEXT NOT NULL,
	still_present BOOLEAN NOT NULL,
	message TEXT NOT NULL DEFAULT ''
);
CREATE INDEX run_follow_up_users_run ON run_follow_up_users (run_id, still_present, run_user_id);
`,
		Postgres: `
CREATE TABLE run_follow_ups (
	run_id BIGINT NOT NULL PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
	client_key TEXT NOT NULL,
	due_at TIMESTAMPTZ NOT NULL,
	checked_at TIMESTAMPTZ,
	checked INTEGER NOT NULL DEFAULT 0,
	still_present INTEGER NOT NULL DEFAULT 0,
	error TEXT NOT NULL DEFAULT '',
	created_at TIMESTAMPTZ NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE run_follow_up_users (
	run_user_id BIGINT NOT NULL PRIMARY KEY REFERENCES run_users (id) ON DELETE CASCADE,
	run_id BIGINT NOT NULL,
	client_key TEXT NOT NULL,
	still_present BOOLEAN NOT NULL,
	message TEXT NOT NULL DEFAULT ''
);
CREATE INDEX run_follow_up_users_run ON run_follow_up_users (run_id, still_present, run_user_id);
`,
	}
}

// followUpRow is the run_follow_ups table.
type followUpRow struct {
	RunID        int64 `gorm:"primaryKey;autoIncrement:false"`
	ClientKey    string
	DueAt        time.Time
	CheckedAt    *time.Time
	Checked      int
	StillPresent int
	Error        string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func (followUpRow) TableName() string { return "run_follow_ups" }

func (r followUpRow) domain() *cleanup.FollowUp {
	return &cleanup.FollowUp{DueAt: r.DueAt.UTC(), CheckedAt: utcPtr(r.CheckedAt), Checked: r.Checked, StillPresent: r.StillPresent, Error: r.Error}
}

// followUpUserRow is the run_follow_up_users table.
type followUpUserRow struct {
	RunUserID    int64 `gorm:"primaryKey;autoIncrement:false"`
	RunID        int64
	ClientKey    string
	StillPresent bool
	Message      string
}

func (followUpUserRow) TableName() string { return "run_follow_up_users" }

// FollowUpFunc schedules the follow-up check of a run at the given time,
// inside the transaction that finishes the run.
type FollowUpFunc func(ctx context.Context, tx *sql.Tx, clientKey string, runID int64, at time.Time) error

// WithFollowUps returns a copy of the store whose FinishRun schedules a
// follow-up (run_follow_ups row and schedule's job) for every run that
// removed or exported someone; nil schedules none.
func (c *CleanupStore) WithFollowUps(f FollowUpFunc) *CleanupStore {
	cp := *c
	cp.followUp = f
	return &cp
}

// scheduleFollowUp runs in FinishRun's transaction.
func (c *CleanupStore) scheduleFollowUp(ctx context.Context, tx *gorm.DB, clientKey string, runID int64, finishedAt time.Time) error {
	if c.followUp == nil {
		return nil
	}
	var r runRow
	if err := tx.Select("dry_run", "settings").Where("client_key = ? AND id = ?", clientKey, runID).Take(&r).Error; err != nil {
		return err
	}
	if r.DryRun {
		return nil
	}
	var n int64
	err := tx.Model(&runUserRow{}).Where("client_key = ? AND run_id = ?", clientKey, runID).
		Where("((action IN ? AND outcome = ?) OR (action = ? AND outcome = ?))",
			[]string{cleanup.ActionRemoveProductAccess, cleanup.ActionIdPRemove}, cleanup.OutcomeDone,
			cleanup.ActionIdPExport, cleanup.OutcomeExported).
		Limit(1).Count(&n).Error
	if err != nil || n == 0 {
		return err
	}
	set := cleanup.DefaultSettings()
	if err := json.Unmarshal([]byte(r.Settings), &set); err != nil {
		return fmt.Errorf("decode run settings: %w", err)
	}
	after := set.IdentityProvider.FollowUpAfter()
	if after <= 0 {
		after = cleanup.DefaultFollowUpAfterMinutes * time.Minute
	}
	now := c.s.now().UTC()
	due := finishedAt.UTC().Add(after)
	res := tx.Where("run_id = ?", runID).FirstOrCreate(&followUpRow{RunID: runID, ClientKey: clientKey, DueAt: due, CreatedAt: now, UpdatedAt: now})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return nil // already scheduled
	}
	stx, err := sqlTx(tx)
	if err != nil {
		return err
	}
	if err := c.followUp(ctx, stx, clientKey, runID, due); err != nil {
		return fmt.Errorf("schedule follow-up: %w", err)
	}
	return nil
}

// FollowUpRows implements cleanup.Store.
func (c *CleanupStore) FollowUpRows(ctx context.Context, clientKey string, runID int64) ([]cleanup.AffectedUser, error) {
	db := c.s.db.WithContext(ctx)
	if _, err := c.loadRun(db, clientKey, runID); err != nil {
		return nil, err
	}
	var out []cleanup.AffectedUser
	var rows []runUserRow
	err := db.Where("client_key = ? AND run_id = ?", clientKey, runID).
		Where("((action IN ? AND outcome = ?) OR (action = ? AND outcome = ?))",
			[]string{cleanup.ActionRemoveProductAccess, cleanup.ActionIdPRemove}, cleanup.OutcomeDone,
			cleanup.ActionIdPExport, cleanup.OutcomeExported).
		Order("id").FindInBatches(&rows, 1000, func(*gorm.DB, int) error {
		for _, r := range rows {
			out = append(out, r.domain())
		}
		return nil
	}).Error
	if err != nil {
		return nil, fmt.Errorf("store: follow-up rows: %w", err)
	}
	return out, nil
}

// RecordFollowUp implements cleanup.Store.
func (c *CleanupStore) RecordFollowUp(ctx context.Context, clientKey string, runID int64, at time.Time, results []cleanup.FollowUpResult, failure string) error {
	now := c.s.now().UTC()
	return c.tx(ctx, "record follow-up", func(tx *gorm.DB) error {
		if _, err := c.loadRun(tx, clientKey, runID); err != nil {
			return err
		}
		if err := tx.Where("client_key = ? AND run_id = ?", clientKey, runID).Delete(&followUpUserRow{}).Error; err != nil {
			return err
		}
		present := 0
		rows := make([]followUpUserRow, len(results))
		for i, r := range results {
			rows[i] = followUpUserRow{RunUserID: r.RowID, RunID: runID, ClientKey: clientKey, StillPresent: r.StillPresent, Message: r.Message}
			if r.StillPresent {
				present++
			}
		}
		if len(rows) > 0 {
			if err := tx.CreateInBatches(rows, 500).Error; err != nil {
				return err
			}
		}
		at = at.UTC()
		fu := followUpRow{RunID: runID, ClientKey: clientKey, DueAt: at, CreatedAt: now}
		if err := tx.Where("run_id = ?", runID).Attrs(fu).FirstOrCreate(&fu).Error; err != nil {
			return err
		}
		return tx.Model(&followUpRow{}).Where("run_id = ?", runID).Updates(map[string]any{
			"checked_at": at, "checked": len(results), "still_present": present, "error": failure, "updated_at": now,
		}).Error
	})
}

// FollowUpUsers implements cleanup.Store.
func (c *CleanupStore) FollowUpUsers(ctx context.Context, clientKey string, runID int64, stillPresent *bool, p cleanup.Page) ([]cleanup.FollowUpUser, int, error) {
	db := c.s.db.WithContext(ctx)
	if _, err := c.loadRun(db, clientKey, runID); err != nil {
		return nil, 0, err
	}
	p = p.Normalized()
	q := db.Model(&followUpUserRow{}).Where("client_key = ? AND run_id = ?", clientKey, runID)
	if stillPresent != nil {
		q = q.Where("still_present = ?", *stillPresent)
	}
	var total int64
	if err := q.Session(&gorm.Session{}).Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("store: count follow-up users: %w", err)
	}
	var verdicts []followUpUserRow
	if err := q.Order("run_user_id").Offset(p.Offset()).Limit(p.PerPage).Find(&verdicts).Error; err != nil {
		return nil, 0, fmt.Errorf("store: list follow-up users: %w", err)
	}
	ids := make([]int64, len(verdicts))
	for i, v := range verdicts {
		ids[i] = v.RunUserID
	}
	var rows []runUserRow
	if len(ids) > 0 {
		if err := db.Where("client_key = ? AND run_id = ? AND id IN ?", clientKey, runID, ids).Find(&rows).Error; err != nil {
			return nil, 0, fmt.Errorf("store: follow-up users: %w", err)
		}
	}
	byID := make(map[int64]runUserRow, len(rows))
	for _, r := range rows {
		byID[r.ID] = r
	}
	out := make([]cleanup.FollowUpUser, 0, len(verdicts))
	for _, v := range verdicts {
		r, ok := byID[v.RunUserID]
		if !ok {
			continue
		}
		out = append(out, cleanup.FollowUpUser{AffectedUser: r.domain(), StillPresent: v.StillPresent, FollowUpMessage: v.Message})
	}
	return out, int(total), nil
}

// runFollowUp loads a run's follow-up, nil when none is scheduled.
func (c *CleanupStore) runFollowUp(db *gorm.DB, clientKey string, runID int64) (*cleanup.FollowUp, error) {
	var r followUpRow
	err := db.Where("client_key = ? AND run_id = ?", clientKey, runID).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: run follow-up: %w", err)
	}
	return r.domain(), nil
}

// attachFollowUps sets the follow-up of each listed run (one query).
func (c *CleanupStore) attachFollowUps(db *gorm.DB, clientKey string, runs []cleanup.Run) error {
	if len(runs) == 0 {
		return nil
	}
	ids := make([]int64, len(runs))
	for i, r := range runs {
		ids[i] = r.ID
	}
	var rows []followUpRow
	if err := db.Where("client_key = ? AND run_id IN ?", clientKey, ids).Find(&rows).Error; err != nil {
		return fmt.Errorf("store: run follow-ups: %w", err)
	}
	by := make(map[int64]*cleanup.FollowUp, len(rows))
	for _, r := range rows {
		by[r.RunID] = r.domain()
	}
	for i := range runs {
		runs[i].FollowUp = by[runs[i].ID]
	}
	return nil
}
