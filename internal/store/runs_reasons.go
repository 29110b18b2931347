package store

import (
	"context"
	"fmt"

	"github.com/example/usercleanup/internal/cleanup"
)

// RunReasons implements cleanup.Store: the run's rows of one outcome,
// grouped by message, most users first (ties by message), on the
// run_users_outcome index.
func (c *CleanupStore) RunReasons(ctx context.Context, clientKey string, runID int64, outcome string, limit int) ([]cleanup.ReasonCount, error) {
	if limit <= 0 {
		limit = cleanup.MaxReasons
	}
	rows, err := c.s.sqlDB.QueryContext(ctx, c.s.rebind(`SELECT message, COUNT(DISTINCT account_id) AS users, COUNT(*) AS n
		FROM run_users WHERE run_id = ? AND client_key = ? AND outcome = ?
		GROUP BY message ORDER BY users DESC, message LIMIT ?`), runID, clientKey, outcome, limit)
	if err != nil {
		return nil, fmt.Errorf("store: reasons of run %d: %w", runID, err)
	}
	defer rows.Close()
	out := []cleanup.ReasonCount{}
	for rows.Next() {
		var r cleanup.ReasonCount
		if err := rows.Scan(&r.Reason, &r.Users, &r.Rows); err != nil {
			return nil, fmt.Errorf("store: reasons of run %d: %w", runID, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: reasons of run %d: %w", runID, err)
	}
	return out, nil
}
