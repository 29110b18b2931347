package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/example/usercleanup/internal/cleanup"
)

// openReviewSQL selects the open review marks of a tenant (the first
// argument, twice): per account, the rows of real (not dry) runs with
// outcome review that no decision covers (a decision covers the runs up
// to its run_id).
const openReviewSQL = `SELECT ru.account_id, ru.run_id FROM run_users ru
JOIN runs r ON r.id = ru.run_id AND r.dry_run = FALSE
WHERE ru.client_key = ? AND ru.outcome = 'review'
AND NOT EXISTS (SELECT 1 FROM review_decisions d WHERE d.client_key = ? AND d.account_id = ru.account_id AND d.run_id >= ru.run_id)`

type reviewDecisionRow struct {
	ClientKey string `gorm:"primaryKey"`
	AccountID string `gorm:"primaryKey"`
	RunID     int64
	State     string
	DecidedBy string
	DecidedAt time.Time
}

func (reviewDecisionRow) TableName() string { return "review_decisions" }

// ReviewMarks implements cleanup.SnapshotStore: the open review mark of
// each of the accounts that has one, from its latest review run.
func (st *SnapshotStore) ReviewMarks(ctx context.Context, clientKey string, accountIDs []string) (map[string]cleanup.ReviewMark, error) {
	out := map[string]cleanup.ReviewMark{}
	if len(accountIDs) == 0 {
		return out, nil
	}
	var rows []struct {
		AccountID   string
		RunID       int64
		CleanupID   *int64
		CleanupName string
		StartedAt   *time.Time
	}
	err := st.s.db.WithContext(ctx).Raw(`SELECT m.account_id, m.run_id, r.cleanup_id, r.cleanup_name, r.started_at
FROM (SELECT o.account_id, MAX(o.run_id) AS run_id FROM (`+openReviewSQL+`) o WHERE o.account_id IN ? GROUP BY o.account_id) m
JOIN runs r ON r.id = m.run_id AND r.client_key = ?`, clientKey, clientKey, accountIDs, clientKey).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: review marks: %w", err)
	}
	for _, r := range rows {
		m := cleanup.ReviewMark{RunID: r.RunID, CleanupName: r.CleanupName, MarkedAt: utcPtr(r.StartedAt)}
		if r.CleanupID != nil {
			m.CleanupID = *r.CleanupID
		}
		out[r.AccountID] = m
	}
	return out, nil
}

// DecideReviews implements cleanup.SnapshotStore: the decision covers each
// account's review marks up to its latest review run.
func (st *SnapshotStore) DecideReviews(ctx context.Context, clientKey string, marks map[string]cleanup.ReviewMark, state, by string, at time.Time) error {
	err := st.s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for id, m := range marks {
			row := reviewDecisionRow{ClientKey: clientKey, AccountID: id, RunID: m.RunID, State: state, DecidedBy: by, DecidedAt: at.UTC()}
			if err := tx.Clauses(clause.OnConflict{
				Columns:   []clause.Column{{Name: "client_key"}, {Name: "account_id"}},
				DoUpdates: clause.AssignmentColumns([]string{"run_id", "state", "decided_by", "decided_at"}),
			}).Create(&row).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: decide reviews: %w", err)
	}
	return nil
}
