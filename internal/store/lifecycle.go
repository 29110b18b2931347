package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/example/usercleanup/internal/cleanup"
)

var _ cleanup.LifecycleStore = (*CleanupStore)(nil)

// exportChunkBatch bounds the export chunks (1 MiB each) one purge step
// deletes.
const exportChunkBatch = 16

// tenantState reads the installation's state in db (TenantUninstalled for
// an unknown client key).
func tenantState(db *gorm.DB, clientKey string) (cleanup.TenantState, error) {
	var row tenantRow
	err := db.Select("enabled", "uninstalled_at").Where("client_key = ?", clientKey).Take(&row).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return cleanup.TenantUninstalled, nil
	case err != nil:
		return 0, err
	case row.UninstalledAt != nil:
		return cleanup.TenantUninstalled, nil
	case !row.Enabled:
		return cleanup.TenantDisabled, nil
	}
	return cleanup.TenantActive, nil
}

// TenantState implements cleanup.LifecycleStore.
func (c *CleanupStore) TenantState(ctx context.Context, clientKey string) (cleanup.TenantState, error) {
	st, err := tenantState(c.s.db.WithContext(ctx), clientKey)
	if err != nil {
		return 0, fmt.Errorf("store: tenant state: %w", err)
	}
	return st, nil
}

// refusal is the error CreateRun answers for a tenant that may not run.
func refusal(st cleanup.TenantState) error {
	switch st {
	case cleanup.TenantDisabled:
		return &cleanup.Error{Kind: cleanup.KindConflict, Message: cleanup.ReasonDisabled}
	case cleanup.TenantUninstalled:
		return &cleanup.Error{Kind: cleanup.KindConflict, Message: cleanup.ReasonUninstalled}
	}
	return nil
}

// EraseCredentials implements cleanup.LifecycleStore. It reports whether
// anything was erased.
func (c *CleanupStore) EraseCredentials(ctx context.Context, clientKey string) (bool, error) {
	erased := false
	// The tenants row does not hold these credentials, but the erasure is
	// part of an uninstall: every instance forgets the tenant again.
	err := c.s.changeTenant(ctx, clientKey, func(tx *gorm.DB) error {
		row, found, err := c.settingsRow(tx, clientKey)
		if err != nil || !found {
			return err
		}
		s, err := decodeSettings(row, found)
		if err != nil {
			return err
		}
		e := &s.IdentityProvider.Entra
		if row.OrgAPIKey == "" && row.EntraClientSecret == "" && !s.APIKeySet && !e.SecretSet {
			return nil
		}
		s.APIKeySet, s.APIKeyVerifiedAt = false, nil
		e.SecretSet, e.VerifiedAt, e.LastTestNote = false, nil, ""
		body, err := json.Marshal(s)
		if err != nil {
			return err
		}
		erased = true
		return tx.Model(&settingsRow{}).Where("client_key = ?", clientKey).Updates(map[string]any{
			"org_api_key": "", "entra_client_secret": "", "settings": string(body),
			"version": gorm.Expr("version + 1"), "updated_at": c.s.now().UTC(),
		}).Error
	})
	if err != nil {
		return false, fmt.Errorf("store: erase credentials: %w", err)
	}
	return erased, nil
}

// StopRuns implements cleanup.LifecycleStore: one transaction finishes the
// unfinished runs (whatever lease they hold: a step that still works on
// one loses its lease and commits nothing more) and records the reason on
// the follow-ups not yet checked.
func (c *CleanupStore) StopRuns(ctx context.Context, clientKey, reason string, at time.Time) (int, error) {
	var n int64
	now := c.s.now().UTC()
	err := c.s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&runRow{}).Where("client_key = ? AND status IN ?", clientKey, []string{cleanup.RunQueued, cleanup.RunRunning}).
			Updates(map[string]any{
				"status": cleanup.RunFailed, "phase": cleanup.PhaseDone, "error": reason, "finished_at": at.UTC(),
				"lease_owner": "", "lease_until": nil, "updated_at": now,
			})
		if res.Error != nil {
			return res.Error
		}
		n = res.RowsAffected
		return tx.Model(&followUpRow{}).Where("client_key = ? AND checked_at IS NULL AND error = ''", clientKey).
			Updates(map[string]any{"error": reason, "updated_at": now}).Error
	})
	if err != nil {
		return 0, fmt.Errorf("store: stop runs: %w", err)
	}
	return int(n), nil
}

// UninstalledTenants implements cleanup.LifecycleStore.
func (c *CleanupStore) UninstalledTenants(ctx context.Context, before time.Time, limit int) ([]string, error) {
	q := c.s.db.WithContext(ctx).Model(&tenantRow{}).Where("uninstalled_at IS NOT NULL")
	if !before.IsZero() {
		q = q.Where("uninstalled_at < ?", before.UTC())
	}
	var keys []string
	if err := q.Order("uninstalled_at, client_key").Limit(limit).Pluck("client_key", &keys).Error; err != nil {
		return nil, fmt.Errorf("store: uninstalled tenants: %w", err)
	}
	return keys, nil
}

// purgeStep is one bounded DELETE of a purge: at most its limit of rows
// of table, the limit being exportChunkBatch for chunk steps and the batch
// otherwise.
type purgeStep struct {
	table string
	sql   string
	chunk bool
}

// runPurgeSteps runs the first step of steps that still finds rows for
// arg and reports whether it deleted any: a purge deletes one bounded
// batch per call, in the steps' order.
func runPurgeSteps(db *gorm.DB, steps []purgeStep, arg any, batch int) (bool, error) {
	for _, step := range steps {
		limit := batch
		if step.chunk {
			limit = exportChunkBatch
		}
		res := db.Exec(step.sql, arg, limit)
		if res.Error != nil {
			return false, fmt.Errorf("store: purge %s: %w", step.table, res.Error)
		}
		if res.RowsAffected > 0 {
			return true, nil
		}
	}
	return false, nil
}

// purgeSteps are the bounded deletes of PurgeTenant, in order: each step
// deletes at most its limit of rows of the tenant (the first argument,
// twice where the statement needs it).
var purgeSteps = []purgeStep{
	{"export_chunks", `DELETE FROM export_chunks WHERE (file_id, seq) IN (SELECT c.file_id, c.seq FROM export_chunks c
		JOIN export_files f ON f.id = c.file_id WHERE f.client_key = ? LIMIT ?)`, true},
	{"export_files", `DELETE FROM export_files WHERE id IN (SELECT id FROM export_files WHERE client_key = ? LIMIT ?)`, false},
	{"run_follow_up_users", `DELETE FROM run_follow_up_users WHERE run_user_id IN (SELECT run_user_id FROM run_follow_up_users
		WHERE run_id IN (SELECT id FROM runs WHERE client_key = ?) LIMIT ?)`, false},
	{"warnings", `DELETE FROM warnings WHERE id IN (SELECT id FROM warnings WHERE client_key = ? LIMIT ?)`, false},
	{"run_users", `DELETE FROM run_users WHERE id IN (SELECT id FROM run_users
		WHERE run_id IN (SELECT id FROM runs WHERE client_key = ?) LIMIT ?)`, false},
	{"run_follow_ups", `DELETE FROM run_follow_ups WHERE run_id IN (SELECT run_id FROM run_follow_ups WHERE client_key = ? LIMIT ?)`, false},
	{"runs", `DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE client_key = ? LIMIT ?)`, false},
	{"snapshot_users", `DELETE FROM snapshot_users WHERE id IN (SELECT id FROM snapshot_users WHERE client_key = ? LIMIT ?)`, false},
	{"snapshots", `DELETE FROM snapshots WHERE id IN (SELECT id FROM snapshots WHERE client_key = ? LIMIT ?)`, false},
	{"review_decisions", `DELETE FROM review_decisions WHERE (client_key, account_id) IN (SELECT client_key, account_id FROM review_decisions WHERE client_key = ? LIMIT ?)`, false},
	{"snapshot_history", `DELETE FROM snapshot_history WHERE (client_key, day, product) IN (SELECT client_key, day, product FROM snapshot_history WHERE client_key = ? LIMIT ?)`, false},
	{"cleanups", `DELETE FROM cleanups WHERE id IN (SELECT id FROM cleanups WHERE client_key = ? LIMIT ?)`, false},
	{"personal_data_erasures", `DELETE FROM personal_data_erasures WHERE id IN (SELECT id FROM personal_data_erasures WHERE client_key = ? LIMIT ?)`, false},
	{"personal_data_reports", `DELETE FROM personal_data_reports WHERE client_key IN (SELECT client_key FROM personal_data_reports WHERE client_key = ? LIMIT ?)`, false},
}

// PurgeTenant implements cleanup.LifecycleStore: one bounded delete per
// call, each in its own transaction, so a large history never becomes one
// huge transaction. The installation row goes last (its settings with it).
func (c *CleanupStore) PurgeTenant(ctx context.Context, clientKey string, batch int) (bool, error) {
	db := c.s.db.WithContext(ctx)
	st, err := tenantState(db, clientKey)
	if err != nil {
		return false, fmt.Errorf("store: purge tenant: %w", err)
	}
	if st != cleanup.TenantUninstalled {
		return true, nil
	}
	if deleted, err := runPurgeSteps(db, purgeSteps, clientKey, batch); err != nil || deleted {
		return false, err
	}
	err = c.s.changeTenant(ctx, clientKey, func(tx *gorm.DB) error {
		return tx.Where("client_key = ? AND uninstalled_at IS NOT NULL", clientKey).Delete(&tenantRow{}).Error
	})
	if err != nil {
		return false, fmt.Errorf("store: purge tenant: %w", err)
	}
	return true, nil
}

// finishedStatuses are the final statuses of a run.
var finishedStatuses = []string{cleanup.RunSucceeded, cleanup.RunPartiallyFailed, cleanup.RunFailed}

// TenantsWithRunsBefore implements cleanup.LifecycleStore.
func (c *CleanupStore) TenantsWithRunsBefore(ctx context.Context, before time.Time, limit int) ([]string, error) {
	var keys []string
	err := c.s.db.WithContext(ctx).Model(&runRow{}).Distinct("client_key").
		Where("status IN ? AND finished_at < ?", finishedStatuses, before.UTC()).
		Order("client_key").Limit(limit).Pluck("client_key", &keys).Error
	if err != nil {
		return nil, fmt.Errorf("store: tenants with old runs: %w", err)
	}
	return keys, nil
}

// historySteps are the bounded deletes of PurgeRunsBefore for one run (the
// argument, twice where the statement needs it), in order: what refers
// to the run goes before it.
var historySteps = []purgeStep{
	{"export_chunks", `DELETE FROM export_chunks WHERE (file_id, seq) IN (SELECT c.file_id, c.seq FROM export_chunks c
		JOIN export_files f ON f.id = c.file_id WHERE f.run_id = ? LIMIT ?)`, true},
	{"export_files", `DELETE FROM export_files WHERE id IN (SELECT id FROM export_files WHERE run_id = ? LIMIT ?)`, false},
	{"run_follow_up_users", `DELETE FROM run_follow_up_users WHERE run_user_id IN (SELECT run_user_id FROM run_follow_up_users
		WHERE run_id = ? LIMIT ?)`, false},
	{"run_users", `DELETE FROM run_users WHERE id IN (SELECT id FROM run_users WHERE run_id = ? LIMIT ?)`, false},
	{"run_follow_ups", `DELETE FROM run_follow_ups WHERE run_id IN (SELECT run_id FROM run_follow_ups WHERE run_id = ? LIMIT ?)`, false},
}

// PurgeRunsBefore implements cleanup.LifecycleStore: each call runs one
// DELETE of at most batch rows (its own short transaction), so deleting a
// long history never holds a lock for long.
func (c *CleanupStore) PurgeRunsBefore(ctx context.Context, clientKey string, before time.Time, batch int) (int, bool, error) {
	db := c.s.db.WithContext(ctx)
	var ids []int64
	err := db.Model(&runRow{}).Where("client_key = ? AND status IN ? AND finished_at < ?", clientKey, finishedStatuses, before.UTC()).
		Order("id").Limit(1).Pluck("id", &ids).Error
	if err != nil {
		return 0, false, fmt.Errorf("store: purge history: %w", err)
	}
	if len(ids) == 0 {
		return 0, true, nil
	}
	id := ids[0]
	if deleted, err := runPurgeSteps(db, historySteps, id, batch); err != nil || deleted {
		return 0, false, err
	}
	// Warnings are the cleanup's state, not the run's (an open warning
	// outlives the run that sent it): they stay, naming the run's id.
	res := db.Where("client_key = ? AND id = ?", clientKey, id).Delete(&runRow{})
	if res.Error != nil {
		return 0, false, fmt.Errorf("store: purge history run: %w", res.Error)
	}
	return int(res.RowsAffected), false, nil
}
