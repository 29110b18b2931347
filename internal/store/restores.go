package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"gorm.io/gorm"

	"github.com/example/usercleanup/internal/cleanup"
)

// migrationRestores is schema version 10: a run may restore an earlier run
// of its tenant (runs.restore_of, the original's id, NULL for every other
// run) for all of its users or for those in runs.restore_accounts (a JSON
// array; ” for all).
func migrationRestores() Migration {
	sql := func(bigint string) string {
		return `
ALTER TABLE runs ADD COLUMN restore_of ` + bigint + `;
ALTER TABLE runs ADD COLUMN restore_accounts TEXT NOT NULL DEFAULT '';
ALTER TABLE run_users ADD COLUMN prior_status TEXT NOT NULL DEFAULT '';
CREATE INDEX runs_restore_of ON runs (client_key, restore_of);
`
	}
	return Migration{Version: 10, Name: "restores of runs", SQLite: sql("INTEGER"), Postgres: sql("BIGINT")}
}

func encodeAccounts(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	b, _ := json.Marshal(ids) // []string always marshals
	return string(b)
}

func decodeAccounts(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var ids []string
	if err := json.Unmarshal([]byte(s), &ids); err != nil {
		return nil, fmt.Errorf("store: decode restore accounts: %w", err)
	}
	return ids, nil
}

// restoreInProgress refuses a second restore of a run while one is queued
// or running (inside CreateRun's transaction).
func restoreInProgress(tx *gorm.DB, clientKey string, originalID int64) error {
	var r runRow
	err := tx.Select("id").Where("client_key = ? AND restore_of = ? AND status IN ?", clientKey, originalID,
		[]string{cleanup.RunQueued, cleanup.RunRunning}).Limit(1).Find(&r).Error
	if err != nil {
		return err
	}
	if r.ID != 0 {
		return &cleanup.Error{Kind: cleanup.KindConflict, Field: "run",
			Message: fmt.Sprintf("restore run #%d of this run has not finished yet: wait for it, then restore again if needed", r.ID)}
	}
	return nil
}

// RunRowsAfter implements cleanup.RunStore.
func (c *CleanupStore) RunRowsAfter(ctx context.Context, clientKey string, runID, afterID int64, limit int) ([]cleanup.AffectedUser, error) {
	db := c.s.db.WithContext(ctx)
	var run runRow
	if err := db.Select("id", "dry_run").Where("client_key = ? AND id = ?", clientKey, runID).Take(&run).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, errNoRun()
		}
		return nil, fmt.Errorf("store: run rows: %w", err)
	}
	var rows []runUserRow
	if err := db.Where("client_key = ? AND run_id = ? AND id > ?", clientKey, runID, afterID).
		Order("id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: run rows: %w", err)
	}
	out := make([]cleanup.AffectedUser, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
		out[i].DryRun = run.DryRun
	}
	return out, nil
}

// RestoredBy implements cleanup.RunStore.
func (c *CleanupStore) RestoredBy(ctx context.Context, clientKey string, originalID, exceptRunID int64, accountIDs []string) (map[string]int64, error) {
	out := map[string]int64{}
	if len(accountIDs) == 0 {
		return out, nil
	}
	var rows []struct {
		RunID     int64
		AccountID string
		GroupID   string
	}
	err := c.s.db.WithContext(ctx).Raw(`SELECT u.run_id, u.account_id, u.group_id FROM run_users u JOIN runs r ON r.id = u.run_id
		WHERE r.client_key = ? AND r.restore_of = ? AND r.id <> ? AND r.dry_run = ? AND u.account_id IN ? AND u.outcome IN ?
		ORDER BY u.run_id`, clientKey, originalID, exceptRunID, false, accountIDs,
		[]string{cleanup.OutcomeDone, cleanup.OutcomeExported, cleanup.OutcomeHasAccess}).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: earlier restores of run %d: %w", originalID, err)
	}
	for _, r := range rows {
		k := cleanup.RestoreKey(r.AccountID, r.GroupID)
		if _, ok := out[k]; !ok {
			out[k] = r.RunID
		}
	}
	return out, nil
}

// RunAccounts implements cleanup.Store.
func (c *CleanupStore) RunAccounts(ctx context.Context, clientKey string, runID int64, accountIDs []string) ([]string, error) {
	if len(accountIDs) == 0 {
		return nil, nil
	}
	var found []string
	err := c.s.db.WithContext(ctx).Model(&runUserRow{}).Distinct("account_id").
		Where("client_key = ? AND run_id = ? AND account_id IN ?", clientKey, runID, accountIDs).
		Order("account_id").Pluck("account_id", &found).Error
	if err != nil {
		return nil, fmt.Errorf("store: accounts of run %d: %w", runID, err)
	}
	return found, nil
}
