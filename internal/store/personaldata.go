package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/example/usercleanup/internal/cleanup"
)

var _ cleanup.PersonalDataStore = (*CleanupStore)(nil)

// DueReports implements cleanup.PersonalDataStore: installed tenants
// without a report yet, then those whose next report is due, oldest first.
func (c *CleanupStore) DueReports(ctx context.Context, now time.Time, limit int) ([]string, error) {
	var keys []string
	err := c.s.db.WithContext(ctx).Raw(`SELECT t.client_key FROM tenants t
		LEFT JOIN personal_data_reports p ON p.client_key = t.client_key
		WHERE t.uninstalled_at IS NULL AND (p.client_key IS NULL OR p.next_report_at <= ?)
		ORDER BY p.next_report_at IS NOT NULL, p.next_report_at, t.client_key LIMIT ?`, now.UTC(), limit).
		Scan(&keys).Error
	if err != nil {
		return nil, fmt.Errorf("store: due personal data reports: %w", err)
	}
	return keys, nil
}

// PersonalDataAccounts implements cleanup.PersonalDataStore. It reads the
// tenant's run rows and warnings that are not erased, and the admins who
// started runs; updatedAt is the latest of a row's created_at or
// profile_at.
func (c *CleanupStore) PersonalDataAccounts(ctx context.Context, clientKey string) ([]cleanup.ReportedAccount, error) {
	latest := map[string]time.Time{}
	add := func(q string) error {
		rows, err := c.s.db.WithContext(ctx).Raw(q, clientKey).Rows()
		if err != nil {
			return err
		}
		defer rows.Close()
		var (
			id      string
			created time.Time
			profile *time.Time
		)
		for rows.Next() {
			if err := rows.Scan(&id, &created, &profile); err != nil {
				return err
			}
			at := created
			if profile != nil && profile.After(at) {
				at = *profile
			}
			if cur, ok := latest[id]; !ok || at.After(cur) {
				latest[id] = at
			}
		}
		return rows.Err()
	}
	for _, q := range []string{
		`SELECT u.account_id, u.created_at, u.profile_at FROM run_users u JOIN runs r ON r.id = u.run_id
			WHERE r.client_key = ? AND u.erased_at IS NULL`,
		`SELECT account_id, created_at, profile_at FROM warnings WHERE client_key = ? AND erased_at IS NULL`,
		`SELECT started_by, created_at, NULL FROM runs WHERE client_key = ? AND started_by <> ''`,
		// The licence snapshots: the organization's users, and who asked.
		`SELECT u.account_id, s.queued_at, s.finished_at FROM snapshot_users u JOIN snapshots s ON s.id = u.snapshot_id
			WHERE u.client_key = ? AND u.account_id NOT LIKE '` + cleanup.ClosedAccountPrefix + `%'`,
		`SELECT started_by, queued_at, NULL FROM snapshots WHERE client_key = ? AND started_by <> ''`,
		// Review decisions: about whom, and by whom.
		`SELECT account_id, decided_at, NULL FROM review_decisions WHERE client_key = ? AND account_id NOT LIKE '` + cleanup.ClosedAccountPrefix + `%'`,
		`SELECT decided_by, decided_at, NULL FROM review_decisions WHERE client_key = ? AND decided_by <> ''`,
	} {
		if err := add(q); err != nil {
			return nil, fmt.Errorf("store: personal data accounts: %w", err)
		}
	}
	// The accounts a restore was limited to (runs.restore_accounts).
	var restores []struct {
		RestoreAccounts string
		CreatedAt       time.Time
	}
	if err := c.s.db.WithContext(ctx).Raw(`SELECT restore_accounts, created_at FROM runs WHERE client_key = ? AND restore_accounts <> ''`,
		clientKey).Scan(&restores).Error; err != nil {
		return nil, fmt.Errorf("store: personal data accounts: %w", err)
	}
	for _, r := range restores {
		ids, err := decodeAccounts(r.RestoreAccounts)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			if strings.HasPrefix(id, cleanup.ClosedAccountPrefix) {
				continue
			}
			if cur, ok := latest[id]; !ok || r.CreatedAt.After(cur) {
				latest[id] = r.CreatedAt
			}
		}
	}
	out := make([]cleanup.ReportedAccount, 0, len(latest))
	for id, at := range latest {
		out = append(out, cleanup.ReportedAccount{AccountID: id, UpdatedAt: at.UTC()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AccountID < out[j].AccountID })
	return out, nil
}

// scrub is the SQL that removes the row's name and e-mail address from a
// message column (an outcome or e-mail error may quote them).
func scrub(col string) string {
	inner := `CASE WHEN email = '' THEN ` + col + ` ELSE REPLACE(` + col + `, email, '[erased]') END`
	return `CASE WHEN name = '' THEN ` + inner + ` ELSE REPLACE(` + inner + `, name, '[erased]') END`
}

// ErasePersonalData implements cleanup.PersonalDataStore.
func (c *CleanupStore) ErasePersonalData(ctx context.Context, clientKey, accountID, tombstone string, at time.Time) (cleanup.Erasure, error) {
	er := cleanup.Erasure{Tombstone: tombstone}
	at = at.UTC()
	err := c.s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var busy int64
		if err := tx.Raw(`SELECT COUNT(*) FROM runs r WHERE r.client_key = ? AND r.finished_at IS NULL AND (r.started_by = ?
			OR EXISTS (SELECT 1 FROM run_users u WHERE u.run_id = r.id AND u.account_id = ?))`,
			clientKey, accountID, accountID).Scan(&busy).Error; err != nil {
			return err
		}
		restores, err := restoresNaming(tx, clientKey, accountID)
		if err != nil {
			return err
		}
		for _, r := range restores {
			if r.FinishedAt == nil {
				busy++
			}
		}
		if busy > 0 {
			er.Deferred = true
			return nil
		}
		// The finished runs whose stored files carry the account (streamed
		// audit files are produced from the rows when read: the tombstone
		// reaches them without a regeneration).
		if err := tx.Raw(`SELECT DISTINCT u.run_id FROM run_users u JOIN runs r ON r.id = u.run_id
			WHERE r.client_key = ? AND u.account_id = ? AND EXISTS (SELECT 1 FROM export_files f WHERE f.run_id = u.run_id AND NOT f.streamed)
			ORDER BY u.run_id`, clientKey, accountID).Scan(&er.StaleRuns).Error; err != nil {
			return err
		}
		res := tx.Exec(`UPDATE run_users SET message = `+scrub("message")+`, name = ?, email = '', email_key = '',
			account_id = ?, erased_at = ?, updated_at = ?
			WHERE account_id = ? AND run_id IN (SELECT id FROM runs WHERE client_key = ?)`,
			cleanup.ClosedAccountName, tombstone, at, at, accountID, clientKey)
		if res.Error != nil {
			return res.Error
		}
		er.RunRows = int(res.RowsAffected)
		res = tx.Exec(`UPDATE warnings SET message = `+scrub("message")+`, email_message = `+scrub("email_message")+`,
			name = ?, email = '', account_id = ?, erased_at = ?, updated_at = ?
			WHERE client_key = ? AND account_id = ?`,
			cleanup.ClosedAccountName, tombstone, at, at, clientKey, accountID)
		if res.Error != nil {
			return res.Error
		}
		er.Warnings = int(res.RowsAffected)
		res = tx.Exec(`UPDATE runs SET started_by = '', updated_at = ? WHERE client_key = ? AND started_by = ?`, at, clientKey, accountID)
		if res.Error != nil {
			return res.Error
		}
		er.Runs = int(res.RowsAffected)
		other := 0
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`UPDATE snapshot_users SET account_id = ?, name = ?, sort_name = ?, email = '', search = ? WHERE client_key = ? AND account_id = ?`,
				[]any{tombstone, cleanup.ClosedAccountName, cleanup.ClosedAccountName, cleanup.ClosedAccountName, clientKey, accountID}},
			{`UPDATE snapshots SET started_by = '' WHERE client_key = ? AND started_by = ?`, []any{clientKey, accountID}},
			{`UPDATE review_decisions SET account_id = ? WHERE client_key = ? AND account_id = ?`, []any{tombstone, clientKey, accountID}},
			{`UPDATE review_decisions SET decided_by = '' WHERE client_key = ? AND decided_by = ?`, []any{clientKey, accountID}},
		} {
			res := tx.Exec(q.sql, q.args...)
			if res.Error != nil {
				return res.Error
			}
			other += int(res.RowsAffected)
		}
		er.OtherRows = other
		for _, r := range restores {
			ids, err := decodeAccounts(r.RestoreAccounts)
			if err != nil {
				return err
			}
			for i := range ids {
				if ids[i] == accountID {
					ids[i] = tombstone
				}
			}
			if err := tx.Exec(`UPDATE runs SET restore_accounts = ?, updated_at = ? WHERE id = ?`, encodeAccounts(ids), at, r.ID).Error; err != nil {
				return err
			}
			er.Runs++
		}
		// The files carry the erased data: they go now, in this
		// transaction, and are generated again from the tombstoned rows.
		if err := c.markStale(tx, clientKey, er.StaleRuns); err != nil {
			return err
		}
		if er.RunRows+er.Warnings+er.Runs+er.OtherRows == 0 {
			return nil
		}
		return tx.Exec(`INSERT INTO personal_data_erasures (client_key, tombstone, run_rows, warnings, runs, other_rows, erased_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			clientKey, tombstone, er.RunRows, er.Warnings, er.Runs, er.OtherRows, at).Error
	})
	if err != nil {
		return cleanup.Erasure{}, fmt.Errorf("store: erase personal data: %w", err)
	}
	return er, nil
}

// restoreRun is a restore that names accounts.
type restoreRun struct {
	ID              int64
	RestoreAccounts string
	FinishedAt      *time.Time
}

// restoresNaming returns the tenant's restores limited to accounts that
// name the account.
func restoresNaming(tx *gorm.DB, clientKey, accountID string) ([]restoreRun, error) {
	var all []restoreRun
	// Restores limited to accounts are few: the JSON decides.
	if err := tx.Raw(`SELECT id, restore_accounts, finished_at FROM runs WHERE client_key = ? AND restore_accounts <> ''`,
		clientKey).Scan(&all).Error; err != nil {
		return nil, err
	}
	var out []restoreRun
	for _, r := range all {
		ids, err := decodeAccounts(r.RestoreAccounts)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			if id == accountID {
				out = append(out, r)
				break
			}
		}
	}
	return out, nil
}

// RefreshPersonalData implements cleanup.PersonalDataStore. The e-mail key
// of run rows follows the address (the Entra files sort by it); the
// export files of finished runs that show the account are deleted and
// marked stale, to be generated again with the current data.
func (c *CleanupStore) RefreshPersonalData(ctx context.Context, clientKey, accountID, name, email string, at time.Time) (int, error) {
	at = at.UTC()
	var n int64
	err := c.s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var stale []int64
		if err := tx.Raw(`SELECT DISTINCT u.run_id FROM run_users u JOIN runs r ON r.id = u.run_id
			WHERE r.client_key = ? AND u.account_id = ? AND u.erased_at IS NULL AND r.finished_at IS NOT NULL
			AND EXISTS (SELECT 1 FROM export_files f WHERE f.run_id = u.run_id AND NOT f.streamed) ORDER BY u.run_id`, clientKey, accountID).Scan(&stale).Error; err != nil {
			return err
		}
		res := tx.Exec(`UPDATE run_users SET name = ?, email = ?, email_key = ?, profile_at = ?, updated_at = ?
			WHERE account_id = ? AND erased_at IS NULL AND run_id IN (SELECT id FROM runs WHERE client_key = ?)`,
			name, email, EmailKey(email), at, at, accountID, clientKey)
		if res.Error != nil {
			return res.Error
		}
		n = res.RowsAffected
		res = tx.Exec(`UPDATE warnings SET name = ?, email = ?, profile_at = ?, updated_at = ?
			WHERE client_key = ? AND account_id = ? AND erased_at IS NULL`, name, email, at, at, clientKey, accountID)
		if res.Error != nil {
			return res.Error
		}
		n += res.RowsAffected
		res = tx.Exec(`UPDATE snapshot_users SET name = ?, sort_name = ?, email = ?, search = ? WHERE client_key = ? AND account_id = ?`,
			name, strings.ToLower(name), strings.ToLower(email), strings.ToLower(name+"\n"+email), clientKey, accountID)
		if res.Error != nil {
			return res.Error
		}
		n += res.RowsAffected
		return c.markStale(tx, clientKey, stale)
	})
	if err != nil {
		return 0, fmt.Errorf("store: refresh personal data: %w", err)
	}
	return int(n), nil
}

// markStale deletes the export files of the runs and marks them stale.
func (c *CleanupStore) markStale(tx *gorm.DB, clientKey string, runs []int64) error {
	if len(runs) == 0 {
		return nil
	}
	if err := tx.Exec(`DELETE FROM export_files WHERE client_key = ? AND run_id IN ?`, clientKey, runs).Error; err != nil {
		return err
	}
	return tx.Exec(`UPDATE runs SET exports_stale = TRUE WHERE client_key = ? AND id IN ?`, clientKey, runs).Error
}

// StaleExportRuns implements cleanup.PersonalDataStore.
func (c *CleanupStore) StaleExportRuns(ctx context.Context, limit int) ([]cleanup.RunRef, error) {
	var rows []struct {
		ClientKey string
		ID        int64
	}
	if err := c.s.db.WithContext(ctx).Raw(`SELECT client_key, id FROM runs WHERE exports_stale ORDER BY id LIMIT ?`, limit).
		Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: stale exports: %w", err)
	}
	out := make([]cleanup.RunRef, len(rows))
	for i, r := range rows {
		out[i] = cleanup.RunRef{ClientKey: r.ClientKey, ID: r.ID}
	}
	return out, nil
}

// ExportsRegenerated implements cleanup.PersonalDataStore.
func (c *CleanupStore) ExportsRegenerated(ctx context.Context, clientKey string, runID int64) error {
	if err := c.s.db.WithContext(ctx).Exec(`UPDATE runs SET exports_stale = FALSE WHERE client_key = ? AND id = ?`, clientKey, runID).Error; err != nil {
		return fmt.Errorf("store: exports regenerated: %w", err)
	}
	return nil
}

// ReportDone implements cleanup.PersonalDataStore.
func (c *CleanupStore) ReportDone(ctx context.Context, clientKey string, at, next time.Time, cycle time.Duration, failure string) error {
	err := c.s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var reported any = at.UTC()
		if failure != "" {
			reported = gorm.Expr("reported_at")
		}
		res := tx.Exec(`UPDATE personal_data_reports SET reported_at = ?, next_report_at = ?, cycle_seconds = ?, last_error = ? WHERE client_key = ?`,
			reported, next.UTC(), int64(cycle/time.Second), failure, clientKey)
		if res.Error != nil || res.RowsAffected > 0 {
			return res.Error
		}
		var first *time.Time
		if failure == "" {
			u := at.UTC()
			first = &u
		}
		return tx.Exec(`INSERT INTO personal_data_reports (client_key, reported_at, next_report_at, cycle_seconds, last_error) VALUES (?, ?, ?, ?, ?)`,
			clientKey, first, next.UTC(), int64(cycle/time.Second), failure).Error
	})
	if err != nil {
		return fmt.Errorf("store: record personal data report: %w", err)
	}
	return nil
}

// Erasure is one audit entry of personal_data_erasures.
type Erasure struct {
	Tombstone string
	RunRows   int
	Warnings  int
	Runs      int
	OtherRows int
	ErasedAt  time.Time
}

// Erasures returns a tenant's erasure audit entries, oldest first.
func (c *CleanupStore) Erasures(ctx context.Context, clientKey string) ([]Erasure, error) {
	var out []Erasure
	err := c.s.db.WithContext(ctx).Raw(`SELECT tombstone, run_rows, warnings, runs, other_rows, erased_at FROM personal_data_erasures
		WHERE client_key = ? ORDER BY id`, clientKey).Scan(&out).Error
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fmt.Errorf("store: erasures: %w", err)
	}
	return out, nil
}
