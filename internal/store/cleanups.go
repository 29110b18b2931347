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

// EnqueueFunc schedules the next step of a run inside the transaction that
// commits the run's progress (the job queue's transactional insert), so the
// progress and its continuation are committed together or not at all.
type EnqueueFunc func(ctx context.Context, tx *sql.Tx, clientKey string, runID int64) error

// CleanupStore keeps the cleanup domain's data: settings, cleanups, runs
// and their rows. It implements cleanup.Store and cleanup.RunStore. Every
// query is scoped by client key.
type CleanupStore struct {
	s       *Store
	enqueue EnqueueFunc
	// followUp schedules run follow-ups (followup.go); nil: none.
	followUp FollowUpFunc
	// mail schedules the batches of warning e-mails (warnings.go); nil:
	// none.
	mail MailFunc
}

var (
	_ cleanup.Store    = (*CleanupStore)(nil)
	_ cleanup.RunStore = (*CleanupStore)(nil)
)

// Cleanups returns the cleanup domain's store. enqueue schedules a run's
// next step in the committing transaction; nil schedules nothing (the
// caller drives runs itself, as tests and benchmarks do).
func (s *Store) Cleanups(enqueue EnqueueFunc) *CleanupStore {
	return &CleanupStore{s: s, enqueue: enqueue}
}

// sqlTx returns the database/sql transaction under a GORM transaction.
func sqlTx(tx *gorm.DB) (*sql.Tx, error) {
	t, ok := tx.Statement.ConnPool.(*sql.Tx)
	if !ok {
		return nil, fmt.Errorf("store: transaction is %T, not *sql.Tx", tx.Statement.ConnPool)
	}
	return t, nil
}

// cleanupRow is the cleanups table.
type cleanupRow struct {
	ID              int64
	ClientKey       string
	Name            string
	Definition      string
	Scheduled       bool
	NextRunAt       *time.Time
	LastScheduledAt *time.Time
	Version         int64
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

func (cleanupRow) TableName() string { return "cleanups" }

// errNoCleanup is a new not-found error (never a shared value: callers may
// annotate errors).
func errNoCleanup() error {
	return &cleanup.Error{Kind: cleanup.KindNotFound, Message: "no such cleanup"}
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func (r cleanupRow) domain() (cleanup.Cleanup, error) {
	var d cleanup.Definition
	if err := json.Unmarshal([]byte(r.Definition), &d); err != nil {
		return cleanup.Cleanup{}, fmt.Errorf("store: decode cleanup %d: %w", r.ID, err)
	}
	d.ID, d.CreatedAt, d.UpdatedAt = r.ID, r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return cleanup.Cleanup{Definition: d, Version: r.Version, NextRunAt: utcPtr(r.NextRunAt), LastScheduledAt: utcPtr(r.LastScheduledAt)}, nil
}

func encodeDefinition(d cleanup.Definition) (string, error) {
	d.ID, d.CreatedAt, d.UpdatedAt = 0, time.Time{}, time.Time{}
	b, err := json.Marshal(d)
	return string(b), err
}

// Cleanups implements cleanup.Store: the tenant's cleanups by id.
func (c *CleanupStore) Cleanups(ctx context.Context, clientKey string) ([]cleanup.Cleanup, error) {
	var rows []cleanupRow
	if err := c.s.db.WithContext(ctx).Where("client_key = ?", clientKey).Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: list cleanups: %w", err)
	}
	out := make([]cleanup.Cleanup, 0, len(rows))
	for _, r := range rows {
		d, err := r.domain()
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	if err := attachCleanupWarnings(c.s.db.WithContext(ctx), clientKey, out); err != nil { // warnings.go
		return nil, err
	}
	return out, nil
}

// Cleanup implements cleanup.Store.
func (c *CleanupStore) Cleanup(ctx context.Context, clientKey string, id int64) (cleanup.Cleanup, error) {
	var r cleanupRow
	err := c.s.db.WithContext(ctx).Where("client_key = ? AND id = ?", clientKey, id).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return cleanup.Cleanup{}, errNoCleanup()
	}
	if err != nil {
		return cleanup.Cleanup{}, fmt.Errorf("store: get cleanup: %w", err)
	}
	return r.domain()
}

// CreateCleanup implements cleanup.Store.
func (c *CleanupStore) CreateCleanup(ctx context.Context, clientKey string, cl cleanup.Cleanup) (cleanup.Cleanup, error) {
	def, err := encodeDefinition(cl.Definition)
	if err != nil {
		return cleanup.Cleanup{}, err
	}
	now := c.s.now().UTC()
	r := cleanupRow{
		ClientKey: clientKey, Name: cl.Name, Definition: def, Scheduled: cl.Scheduled(),
		NextRunAt: utcPtr(cl.NextRunAt), LastScheduledAt: utcPtr(cl.LastScheduledAt),
		Version: 1, CreatedAt: now, UpdatedAt: now,
	}
	if err := c.s.db.WithContext(ctx).Omit("ID").Create(&r).Error; err != nil {
		return cleanup.Cleanup{}, fmt.Errorf("store: create cleanup: %w", err)
	}
	return r.domain()
}

// UpdateCleanup implements cleanup.Store.
func (c *CleanupStore) UpdateCleanup(ctx context.Context, clientKey string, cl cleanup.Cleanup, ifVersion int64) (cleanup.Cleanup, error) {
	def, err := encodeDefinition(cl.Definition)
	if err != nil {
		return cleanup.Cleanup{}, err
	}
	var out cleanup.Cleanup
	err = c.s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		q := tx.Model(&cleanupRow{}).Where("client_key = ? AND id = ?", clientKey, cl.ID)
		if ifVersion > 0 {
			q = q.Where("version = ?", ifVersion)
		}
		res := q.Updates(map[string]any{
			"name": cl.Name, "definition": def, "scheduled": cl.Scheduled(),
			"next_run_at": utcPtr(cl.NextRunAt), "last_scheduled_at": utcPtr(cl.LastScheduledAt),
			"version": gorm.Expr("version + 1"), "updated_at": c.s.now().UTC(),
		})
		if res.Error != nil {
			return res.Error
		}
		var r cleanupRow
		err := tx.Where("client_key = ? AND id = ?", clientKey, cl.ID).Take(&r).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return errNoCleanup()
		}
		if err != nil {
			return err
		}
		if res.RowsAffected == 0 {
			return &cleanup.Error{Kind: cleanup.KindConflict,
				Message: fmt.Sprintf("the cleanup was changed by someone else (version %d, not %d): reload it and try again", r.Version, ifVersion)}
		}
		out, err = r.domain()
		return err
	})
	if err != nil {
		if cleanup.KindOf(err) != cleanup.KindOther {
			return cleanup.Cleanup{}, err
		}
		return cleanup.Cleanup{}, fmt.Errorf("store: update cleanup: %w", err)
	}
	return out, nil
}

// DeleteCleanup implements cleanup.Store. Its runs stay.
// Its open warnings are cancelled in the same transaction
// (cancelWarnings): nobody is removed for them.
func (c *CleanupStore) DeleteCleanup(ctx context.Context, clientKey string, id int64) error {
	now := c.s.now().UTC()
	err := c.s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Where("client_key = ? AND id = ?", clientKey, id).Delete(&cleanupRow{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return errNoCleanup()
		}
		return cancelWarnings(tx, clientKey, id, now)
	})
	if err != nil {
		if cleanup.KindOf(err) != cleanup.KindOther {
			return err
		}
		return fmt.Errorf("store: delete cleanup: %w", err)
	}
	return nil
}

// DueCleanups implements cleanup.Store: the due cleanups of installed and
// enabled tenants.
func (c *CleanupStore) DueCleanups(ctx context.Context, now time.Time, limit int) ([]cleanup.DueCleanup, error) {
	if limit <= 0 {
		limit = 100
	}
	// Only installed, enabled tenants run: an uninstalled or disabled
	// tenant's cleanups stay due and are picked up once it is enabled.
	var rows []cleanupRow
	err := c.s.db.WithContext(ctx).
		Where("scheduled = ? AND next_run_at IS NOT NULL AND next_run_at <= ?", true, now.UTC()).
		Where("client_key IN (SELECT client_key FROM tenants WHERE uninstalled_at IS NULL AND enabled = ?)", true).
		Order("next_run_at, id").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: due cleanups: %w", err)
	}
	out := make([]cleanup.DueCleanup, 0, len(rows))
	for _, r := range rows {
		d, err := r.domain()
		if err != nil {
			return nil, err
		}
		out = append(out, cleanup.DueCleanup{ClientKey: r.ClientKey, Cleanup: d})
	}
	return out, nil
}

// SetNextRun implements cleanup.Store.
func (c *CleanupStore) SetNextRun(ctx context.Context, clientKey string, id int64, next, lastScheduled *time.Time) error {
	upd := map[string]any{"next_run_at": utcPtr(next)}
	if next == nil {
		upd["scheduled"] = false
	}
	if lastScheduled != nil {
		upd["last_scheduled_at"] = utcPtr(lastScheduled)
	}
	err := c.s.db.WithContext(ctx).Model(&cleanupRow{}).Where("client_key = ? AND id = ?", clientKey, id).Updates(upd).Error
	if err != nil {
		return fmt.Errorf("store: set next run: %w", err)
	}
	return nil
}
