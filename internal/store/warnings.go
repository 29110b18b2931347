package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/example/usercleanup/internal/cleanup"
)

// migrationWarnings is schema version 8: the warnings of cleanups that
// warn users before removing access (one row per tenant, cleanup and
// account and warning; at most one open, state 'warned', per account and
// cleanup), their e-mail outcome, and the link from a run's rows to the
// warning they belong to (run_users.warning_id).
func migrationWarnings() Migration {
	table := func(id, ts, bigint string) string {
		return `
CREATE TABLE warnings (
	id ` + id + `,
	client_key TEXT NOT NULL,
	cleanup_id ` + bigint + ` NOT NULL,
	account_id TEXT NOT NULL,
	name TEXT NOT NULL DEFAULT '',
	email TEXT NOT NULL DEFAULT '',
	product TEXT NOT NULL DEFAULT '',
	reason TEXT NOT NULL DEFAULT '',
	last_active ` + ts + `,
	state TEXT NOT NULL,
	warn_run_id ` + bigint + ` NOT NULL,
	close_run_id ` + bigint + `,
	warned_at ` + ts + ` NOT NULL,
	removal_date ` + ts + ` NOT NULL,
	closed_at ` + ts + `,
	message TEXT NOT NULL DEFAULT '',
	email_status TEXT NOT NULL,
	email_message TEXT NOT NULL DEFAULT '',
	email_attempts INTEGER NOT NULL DEFAULT 0,
	email_sending_at ` + ts + `,
	email_sent_at ` + ts + `,
	created_at ` + ts + ` NOT NULL,
	updated_at ` + ts + ` NOT NULL
);
CREATE UNIQUE INDEX warnings_open ON warnings (client_key, cleanup_id, account_id) WHERE state = 'warned';
CREATE INDEX warnings_cleanup ON warnings (client_key, cleanup_id, state);
CREATE INDEX warnings_warn_run ON warnings (warn_run_id, email_status, id);
CREATE INDEX warnings_close_run ON warnings (close_run_id, state);
ALTER TABLE run_users ADD COLUMN warning_id ` + bigint + `;
`
	}
	return Migration{
		Version:  8,
		Name:     "warnings",
		SQLite:   table("INTEGER PRIMARY KEY AUTOINCREMENT", "DATETIME", "INTEGER"),
		Postgres: table("BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "TIMESTAMPTZ", "BIGINT"),
	}
}

// migrationEmailRounds is schema version 9: how many times a run's
// warning e-mails were queued again after their sending jobs ended with
// e-mails left (cleanup's notify phase bounds it).
func migrationEmailRounds() Migration {
	const add = `ALTER TABLE runs ADD COLUMN email_rounds INTEGER NOT NULL DEFAULT 0;`
	return Migration{Version: 9, Name: "warning e-mail rounds", SQLite: add, Postgres: add}
}

// warningRow is the warnings table.
type warningRow struct {
	ID             int64
	ClientKey      string
	CleanupID      int64
	AccountID      string
	Name           string
	Email          string
	Product        string
	Reason         string
	LastActive     *time.Time
	State          string
	WarnRunID      int64
	CloseRunID     *int64
	WarnedAt       time.Time
	RemovalDate    time.Time
	ClosedAt       *time.Time
	Message        string
	EmailStatus    string
	EmailMessage   string
	EmailAttempts  int
	EmailSendingAt *time.Time
	EmailSentAt    *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

func (warningRow) TableName() string { return "warnings" }

func (r warningRow) domain() cleanup.Warning {
	w := cleanup.Warning{
		ID: r.ID, ClientKey: r.ClientKey, CleanupID: r.CleanupID, AccountID: r.AccountID, Name: r.Name, Email: r.Email,
		Product: r.Product, Reason: r.Reason, State: r.State, WarnRunID: r.WarnRunID,
		WarnedAt: r.WarnedAt.UTC(), RemovalDate: r.RemovalDate.UTC(), ClosedAt: utcPtr(r.ClosedAt), Message: r.Message,
		EmailStatus: r.EmailStatus, EmailMessage: r.EmailMessage, EmailAttempts: r.EmailAttempts, EmailSentAt: utcPtr(r.EmailSentAt),
	}
	if r.LastActive != nil {
		w.LastActive = r.LastActive.UTC()
	}
	if r.CloseRunID != nil {
		w.CloseRunID = *r.CloseRunID
	}
	return w
}

// MailFunc schedules the sending of one batch of a run's warning e-mails
// (ids fromID to toID) inside tx; round numbers the times the run's
// e-mails were queued again (0 the first time).
type MailFunc func(ctx context.Context, tx *sql.Tx, clientKey string, runID, fromID, toID int64, round int) error

// WithMail returns a copy of the store whose QueueWarningEmails schedules
// the batches with f.
func (c *CleanupStore) WithMail(f MailFunc) *CleanupStore {
	cp := *c
	cp.mail = f
	return &cp
}

var _ cleanup.WarningStore = (*CleanupStore)(nil)

// applyWarnings writes a commit's warning changes in its transaction and
// links the commit's rows of each change's account to the warning.
func (c *CleanupStore) applyWarnings(tx *gorm.DB, cm cleanup.Commit, now time.Time) error {
	for _, ch := range cm.Warnings {
		w := ch.Warning
		id := w.ID
		switch ch.Op {
		case cleanup.WarnCreate:
			r := warningRow{
				ClientKey: cm.ClientKey, CleanupID: w.CleanupID, AccountID: w.AccountID, Name: w.Name, Email: w.Email,
				Product: w.Product, Reason: w.Reason, State: cleanup.WarningWarned, WarnRunID: cm.RunID,
				WarnedAt: w.WarnedAt.UTC(), RemovalDate: w.RemovalDate.UTC(), EmailStatus: w.EmailStatus,
				EmailMessage: w.EmailMessage, CreatedAt: now, UpdatedAt: now,
			}
			if !w.LastActive.IsZero() {
				t := w.LastActive.UTC()
				r.LastActive = &t
			}
			// One open warning per account and cleanup (warnings_open): a
			// page planned again after a crash inserts nothing twice. A
			// deleted cleanup gets none (its run may still be under way):
			// nobody is e-mailed, and its rows stay held, not acted on.
			err := tx.Exec(`INSERT INTO warnings (client_key, cleanup_id, account_id, name, email, product, reason, last_active,
				state, warn_run_id, warned_at, removal_date, email_status, email_message, created_at, updated_at)
				SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
				WHERE EXISTS (SELECT 1 FROM cleanups WHERE client_key = ? AND id = ?) ON CONFLICT DO NOTHING`,
				r.ClientKey, r.CleanupID, r.AccountID, r.Name, r.Email, r.Product, r.Reason, r.LastActive, r.State,
				r.WarnRunID, r.WarnedAt, r.RemovalDate, r.EmailStatus, r.EmailMessage, now, now, cm.ClientKey, w.CleanupID).Error
			if err != nil {
				return err
			}
			var got []warningRow
			if err := tx.Select("id").Where("client_key = ? AND cleanup_id = ? AND account_id = ? AND state = ?",
				cm.ClientKey, w.CleanupID, w.AccountID, cleanup.WarningWarned).Limit(1).Find(&got).Error; err != nil {
				return err
			}
			if len(got) == 0 {
				continue
			}
			id = got[0].ID
		case cleanup.WarnClosing:
			if err := c.updateOpen(tx, cm.ClientKey, id, map[string]any{"close_run_id": cm.RunID, "updated_at": now}); err != nil {
				return err
			}
		case cleanup.WarnSpare, cleanup.WarnClose:
			state := w.State
			if ch.Op == cleanup.WarnSpare {
				state = cleanup.WarningSpared
			}
			if err := c.updateOpen(tx, cm.ClientKey, id, map[string]any{"state": state, "close_run_id": cm.RunID,
				"closed_at": now, "message": w.Message, "updated_at": now}); err != nil {
				return err
			}
		case cleanup.WarnLink:
		default:
			return fmt.Errorf("unknown warning change %q", ch.Op)
		}
		if err := tx.Model(&runUserRow{}).Where("client_key = ? AND run_id = ? AND account_id = ?", cm.ClientKey, cm.RunID, w.AccountID).
			Update("warning_id", id).Error; err != nil {
			return err
		}
	}
	return nil
}

func (c *CleanupStore) updateOpen(tx *gorm.DB, clientKey string, id int64, upd map[string]any) error {
	return tx.Model(&warningRow{}).Where("client_key = ? AND id = ? AND state = ?", clientKey, id, cleanup.WarningWarned).Updates(upd).Error
}

func warningsOf(rows []warningRow) []cleanup.Warning {
	out := make([]cleanup.Warning, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out
}

// OpenWarnings implements cleanup.WarningStore.
func (c *CleanupStore) OpenWarnings(ctx context.Context, clientKey string, cleanupID int64, accountIDs []string) ([]cleanup.Warning, error) {
	var rows []warningRow
	err := c.s.db.WithContext(ctx).Where("client_key = ? AND cleanup_id = ? AND state = ? AND account_id IN ?",
		clientKey, cleanupID, cleanup.WarningWarned, accountIDs).Order("id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: open warnings: %w", err)
	}
	return warningsOf(rows), nil
}

// UnseenWarnings implements cleanup.WarningStore.
func (c *CleanupStore) UnseenWarnings(ctx context.Context, clientKey string, cleanupID, runID int64, limit int) ([]cleanup.Warning, error) {
	var rows []warningRow
	err := c.s.db.WithContext(ctx).Where(`client_key = ? AND cleanup_id = ? AND state = ? AND NOT EXISTS
		(SELECT 1 FROM run_users u WHERE u.run_id = ? AND u.account_id = warnings.account_id)`,
		clientKey, cleanupID, cleanup.WarningWarned, runID).Order("id").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: unseen warnings: %w", err)
	}
	return warningsOf(rows), nil
}

// ClosingWarnings implements cleanup.WarningStore.
func (c *CleanupStore) ClosingWarnings(ctx context.Context, clientKey string, runID int64, limit int) ([]cleanup.ClosingWarning, error) {
	db := c.s.db.WithContext(ctx)
	var rows []warningRow
	if err := db.Where("client_key = ? AND close_run_id = ? AND state = ?", clientKey, runID, cleanup.WarningWarned).
		Order("id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: closing warnings: %w", err)
	}
	out := make([]cleanup.ClosingWarning, len(rows))
	for i, r := range rows {
		out[i].Warning = r.domain()
		if err := db.Model(&runUserRow{}).Where("client_key = ? AND run_id = ? AND warning_id = ?", clientKey, runID, r.ID).
			Order("id").Pluck("outcome", &out[i].Outcomes).Error; err != nil {
			return nil, fmt.Errorf("store: closing warning outcomes: %w", err)
		}
	}
	return out, nil
}

// QueueWarningEmails implements cleanup.WarningStore.
func (c *CleanupStore) QueueWarningEmails(ctx context.Context, clientKey string, runID int64, owner string, batch int, phase string, round int) error {
	now := c.s.now().UTC()
	return c.tx(ctx, "queue warning e-mails", func(tx *gorm.DB) error {
		if err := leased(tx, clientKey, runID, owner, map[string]any{"phase": phase, "email_rounds": round, "updated_at": now}); err != nil {
			return err
		}
		var ids []int64
		if err := tx.Model(&warningRow{}).Where("client_key = ? AND warn_run_id = ? AND email_status IN ?",
			clientKey, runID, []string{cleanup.EmailQueued, cleanup.EmailSending}).Order("id").Pluck("id", &ids).Error; err != nil {
			return err
		}
		if len(ids) == 0 || c.mail == nil {
			return nil
		}
		stx, err := sqlTx(tx)
		if err != nil {
			return err
		}
		for i := 0; i < len(ids); i += batch {
			j := min(i+batch, len(ids)) - 1
			if err := c.mail(ctx, stx, clientKey, runID, ids[i], ids[j], round); err != nil {
				return fmt.Errorf("enqueue warning e-mails: %w", err)
			}
		}
		return nil
	})
}

// EmailProgress implements cleanup.WarningStore.
func (c *CleanupStore) EmailProgress(ctx context.Context, clientKey string, runID int64) (int, error) {
	var n int64
	err := c.s.db.WithContext(ctx).Model(&warningRow{}).Where("client_key = ? AND warn_run_id = ? AND email_status IN ?",
		clientKey, runID, []string{cleanup.EmailQueued, cleanup.EmailSending}).Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("store: e-mail progress: %w", err)
	}
	return int(n), nil
}

// HasOpenWarnings implements cleanup.WarningStore.
func (c *CleanupStore) HasOpenWarnings(ctx context.Context, clientKey string, cleanupID int64) (bool, error) {
	var ids []int64
	err := c.s.db.WithContext(ctx).Model(&warningRow{}).Where("client_key = ? AND cleanup_id = ? AND state = ?",
		clientKey, cleanupID, cleanup.WarningWarned).Limit(1).Pluck("id", &ids).Error
	if err != nil {
		return false, fmt.Errorf("store: open warnings of cleanup: %w", err)
	}
	return len(ids) > 0, nil
}

// AbandonEmails implements cleanup.WarningStore.
func (c *CleanupStore) AbandonEmails(ctx context.Context, clientKey string, runID int64, owner, phase string) (int, error) {
	now := c.s.now().UTC()
	n := 0
	err := c.tx(ctx, "abandon warning e-mails", func(tx *gorm.DB) error {
		if err := leased(tx, clientKey, runID, owner, map[string]any{"phase": phase, "updated_at": now}); err != nil {
			return err
		}
		run := func() *gorm.DB {
			return tx.Model(&warningRow{}).Where("client_key = ? AND warn_run_id = ?", clientKey, runID)
		}
		res := run().Where("email_status = ?", cleanup.EmailSending).
			Updates(map[string]any{"email_status": cleanup.EmailUnconfirmed, "email_message": cleanup.Unconfirmed, "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		n += int(res.RowsAffected)
		// The open warnings among them are cancelled; a warning closed
		// meanwhile (spared) keeps its state.
		res = run().Where("email_status = ? AND state = ?", cleanup.EmailQueued, cleanup.WarningWarned).
			Updates(map[string]any{"email_status": cleanup.EmailFailed, "email_message": cleanup.NotSentJobFailed,
				"state": cleanup.WarningCancelled, "message": cleanup.CancelledNotSent, "close_run_id": runID, "closed_at": now, "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		n += int(res.RowsAffected)
		res = run().Where("email_status = ?", cleanup.EmailQueued).
			Updates(map[string]any{"email_status": cleanup.EmailFailed, "email_message": cleanup.NotSentJobFailed, "updated_at": now})
		n += int(res.RowsAffected)
		return res.Error
	})
	return n, err
}

// cancelWarnings closes the open warnings of a cleanup being deleted as
// cancelled, inside its transaction: their e-mails not yet sent are not
// sent, and the rows of an unfinished run that would act on them are
// skipped (a removal already under way finishes).
func cancelWarnings(tx *gorm.DB, clientKey string, cleanupID int64, now time.Time) error {
	var ids []int64
	if err := tx.Model(&warningRow{}).Where("client_key = ? AND cleanup_id = ? AND state = ?", clientKey, cleanupID, cleanup.WarningWarned).
		Pluck("id", &ids).Error; err != nil {
		return err
	}
	for len(ids) > 0 {
		part := ids[:min(len(ids), 500)]
		ids = ids[len(part):]
		q := func() *gorm.DB { return tx.Model(&warningRow{}).Where("client_key = ? AND id IN ?", clientKey, part) }
		if err := q().Where("email_status = ?", cleanup.EmailQueued).Updates(map[string]any{"email_status": cleanup.EmailFailed,
			"email_message": cleanup.NotSentCleanupDeleted, "updated_at": now}).Error; err != nil {
			return err
		}
		if err := q().Updates(map[string]any{"state": cleanup.WarningCancelled, "message": cleanup.CancelledDeleted,
			"closed_at": now, "updated_at": now}).Error; err != nil {
			return err
		}
		if err := tx.Model(&runUserRow{}).Where("client_key = ? AND warning_id IN ? AND outcome = ? AND attempted_at IS NULL",
			clientKey, part, cleanup.OutcomePending).
			Updates(map[string]any{"outcome": cleanup.OutcomeSkipped, "message": "not acted on: " + cleanup.CancelledDeleted}).Error; err != nil {
			return err
		}
	}
	return nil
}

// SiteName implements cleanup.WarningStore: the site's display URL (its
// base URL when it has none), without the scheme.
func (c *CleanupStore) SiteName(ctx context.Context, clientKey string) (string, error) {
	var t tenantRow
	err := c.s.db.WithContext(ctx).Select("base_url", "display_url").Where("client_key = ?", clientKey).Take(&t).Error
	if err != nil {
		return "", fmt.Errorf("store: site name: %w", err)
	}
	u := t.DisplayURL
	if u == "" {
		u = t.BaseURL
	}
	u = strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://")
	return strings.TrimSuffix(strings.TrimSuffix(u, "/"), "/wiki"), nil
}

// RunDefinition implements cleanup.WarningStore.
func (c *CleanupStore) RunDefinition(ctx context.Context, clientKey string, runID int64) (cleanup.Definition, error) {
	run, err := c.loadRun(c.s.db.WithContext(ctx), clientKey, runID)
	return run.Definition, err
}

// EmailBatch implements cleanup.WarningStore.
func (c *CleanupStore) EmailBatch(ctx context.Context, clientKey string, runID, fromID, toID int64) ([]cleanup.Warning, error) {
	var rows []warningRow
	err := c.s.db.WithContext(ctx).Where("client_key = ? AND warn_run_id = ? AND id >= ? AND id <= ? AND email_status = ?",
		clientKey, runID, fromID, toID, cleanup.EmailQueued).Order("id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: e-mail batch: %w", err)
	}
	return warningsOf(rows), nil
}

// ExpireSending implements cleanup.WarningStore.
func (c *CleanupStore) ExpireSending(ctx context.Context, clientKey string, runID, fromID, toID int64, message string) (int, error) {
	res := c.s.db.WithContext(ctx).Model(&warningRow{}).Where("client_key = ? AND warn_run_id = ? AND id >= ? AND id <= ? AND email_status = ?",
		clientKey, runID, fromID, toID, cleanup.EmailSending).
		Updates(map[string]any{"email_status": cleanup.EmailUnconfirmed, "email_message": message, "updated_at": c.s.now().UTC()})
	if res.Error != nil {
		return 0, fmt.Errorf("store: expire sending e-mails: %w", res.Error)
	}
	return int(res.RowsAffected), nil
}

// ClaimEmail implements cleanup.WarningStore.
func (c *CleanupStore) ClaimEmail(ctx context.Context, clientKey string, id int64, at time.Time) (bool, error) {
	res := c.s.db.WithContext(ctx).Model(&warningRow{}).Where("client_key = ? AND id = ? AND email_status = ?", clientKey, id, cleanup.EmailQueued).
		Updates(map[string]any{"email_status": cleanup.EmailSending, "email_sending_at": at.UTC(), "updated_at": at.UTC()})
	if res.Error != nil {
		return false, fmt.Errorf("store: claim e-mail: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// RecordEmail implements cleanup.WarningStore.
func (c *CleanupStore) RecordEmail(ctx context.Context, clientKey string, id int64, status, message string, at time.Time) error {
	upd := map[string]any{"email_status": status, "email_message": message, "updated_at": at.UTC(),
		"email_attempts": gorm.Expr("email_attempts + 1")}
	if status == cleanup.EmailSent {
		upd["email_sent_at"] = at.UTC()
	}
	err := c.s.db.WithContext(ctx).Model(&warningRow{}).Where("client_key = ? AND id = ? AND email_status = ?", clientKey, id, cleanup.EmailSending).
		Updates(upd).Error
	if err != nil {
		return fmt.Errorf("store: record e-mail: %w", err)
	}
	return nil
}

// warningCounts computes the warning counters of runs (users, not rows):
// warned, grace and spared from their rows, removed and failed from the
// warnings they closed, the e-mail outcomes from the warnings they made.
// Runs without any get none.
func warningCounts(db *gorm.DB, clientKey string, runIDs []int64) (map[int64]*cleanup.WarningCounts, error) {
	out := map[int64]*cleanup.WarningCounts{}
	if len(runIDs) == 0 {
		return out, nil
	}
	get := func(id int64) *cleanup.WarningCounts {
		if out[id] == nil {
			out[id] = &cleanup.WarningCounts{}
		}
		return out[id]
	}
	type count struct {
		RunID int64
		Key   string
		N     int
	}
	var rows []count
	if err := db.Raw(`SELECT run_id, outcome AS key, COUNT(DISTINCT account_id) AS n FROM run_users
		WHERE client_key = ? AND run_id IN ? AND outcome IN ? GROUP BY run_id, outcome`, clientKey, runIDs,
		[]string{cleanup.OutcomeWarned, cleanup.OutcomeGrace, cleanup.OutcomeSpared}).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: count warned rows: %w", err)
	}
	for _, r := range rows {
		c := get(r.RunID)
		switch r.Key {
		case cleanup.OutcomeWarned:
			c.Warned = r.N
		case cleanup.OutcomeGrace:
			c.Grace = r.N
		case cleanup.OutcomeSpared:
			c.Spared = r.N
		}
	}
	rows = nil
	if err := db.Raw(`SELECT close_run_id AS run_id, state AS key, COUNT(*) AS n FROM warnings
		WHERE client_key = ? AND close_run_id IN ? AND state IN ? GROUP BY close_run_id, state`, clientKey, runIDs,
		[]string{cleanup.WarningRemoved, cleanup.WarningFailed, cleanup.WarningCancelled}).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: count closed warnings: %w", err)
	}
	for _, r := range rows {
		switch r.Key {
		case cleanup.WarningRemoved:
			get(r.RunID).Removed = r.N
		case cleanup.WarningFailed:
			get(r.RunID).RemovalFailed = r.N
		case cleanup.WarningCancelled:
			get(r.RunID).Cancelled = r.N
		}
	}
	rows = nil
	if err := db.Raw(`SELECT warn_run_id AS run_id, email_status AS key, COUNT(*) AS n FROM warnings
		WHERE client_key = ? AND warn_run_id IN ? GROUP BY warn_run_id, email_status`, clientKey, runIDs).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: count warning e-mails: %w", err)
	}
	for _, r := range rows {
		c := get(r.RunID)
		switch r.Key {
		case cleanup.EmailSent:
			c.EmailSent = r.N
		case cleanup.EmailFailed:
			c.EmailFailed = r.N
		case cleanup.EmailQueued, cleanup.EmailSending:
			c.EmailPending += r.N
		case cleanup.EmailUnconfirmed:
			c.EmailUnconfirmed = r.N
		case cleanup.EmailNoAddress:
			c.NoAddress = r.N
		}
	}
	return out, nil
}

// attachWarningCounts sets the warning counters of the runs that have any.
func attachWarningCounts(db *gorm.DB, clientKey string, runs []cleanup.Run) error {
	ids := make([]int64, len(runs))
	for i, r := range runs {
		ids[i] = r.ID
	}
	counts, err := warningCounts(db, clientKey, ids)
	if err != nil {
		return err
	}
	for i := range runs {
		runs[i].Counts.Warnings = counts[runs[i].ID]
	}
	return nil
}

// attachCleanupWarnings sets the open-warning summary of the cleanups.
func attachCleanupWarnings(db *gorm.DB, clientKey string, cs []cleanup.Cleanup) error {
	var rows []struct {
		CleanupID int64
		N         int
	}
	if err := db.Raw(`SELECT cleanup_id, COUNT(*) AS n FROM warnings WHERE client_key = ? AND state = ? GROUP BY cleanup_id`,
		clientKey, cleanup.WarningWarned).Scan(&rows).Error; err != nil {
		return fmt.Errorf("store: open warnings per cleanup: %w", err)
	}
	by := map[int64]*cleanup.CleanupWarnings{}
	for _, r := range rows {
		var first warningRow
		if err := db.Select("removal_date").Where("client_key = ? AND cleanup_id = ? AND state = ?", clientKey, r.CleanupID, cleanup.WarningWarned).
			Order("removal_date").Take(&first).Error; err != nil {
			return fmt.Errorf("store: next removal of cleanup %d: %w", r.CleanupID, err)
		}
		by[r.CleanupID] = &cleanup.CleanupWarnings{Open: r.N, NextRemoval: first.RemovalDate.UTC()}
	}
	for i := range cs {
		cs[i].Warnings = by[cs[i].ID]
	}
	return nil
}

// attachRowWarnings sets the warning of the rows that have one.
func attachRowWarnings(db *gorm.DB, clientKey string, rows []runUserRow, out []cleanup.AffectedUser) error {
	var ids []int64
	for _, r := range rows {
		if r.WarningID != nil {
			ids = append(ids, *r.WarningID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	var ws []warningRow
	if err := db.Where("client_key = ? AND id IN ?", clientKey, ids).Find(&ws).Error; err != nil {
		return fmt.Errorf("store: warnings of rows: %w", err)
	}
	by := make(map[int64]warningRow, len(ws))
	for _, w := range ws {
		by[w.ID] = w
	}
	for i, r := range rows {
		if r.WarningID == nil {
			continue
		}
		if w, ok := by[*r.WarningID]; ok {
			out[i].Warning = &cleanup.RowWarning{WarnedAt: w.WarnedAt.UTC(), RemovalDate: w.RemovalDate.UTC(), State: w.State,
				EmailStatus: w.EmailStatus, EmailMessage: w.EmailMessage, Message: w.Message}
		}
	}
	return nil
}
