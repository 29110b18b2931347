package store

import (
	"context"
	"strings"
	"testing"
)

// TestRunUserIndexesServeLookups: after migration 14 dropped three of
// run_users' indexes, the lookups they served still use an index on
// SQLite (PostgreSQL chooses by cost, which on a test-sized table is a
// sequential scan, so only SQLite's plans are checked).
func TestRunUserIndexesServeLookups(t *testing.T) {
	s := openStore(t, sqliteConfig(t))
	for _, tc := range []struct {
		name, query, index string
	}{
		{"personal data by account", `SELECT id FROM run_users WHERE account_id = ? AND run_id IN (SELECT id FROM runs WHERE client_key = ?)`, "run_users_key"},
		{"rows of a run by account", `SELECT id FROM run_users WHERE client_key = ? AND run_id = ? AND account_id IN (?, ?)`, "run_users_key"},
		{"open review marks", openReviewSQL, "run_users_review"},
		{"run counts", runCountsSQL, "COVERING INDEX run_users_export_members"},
		{"Entra pass", `SELECT id, email FROM run_users` + s.membersIndex() + ` WHERE run_id = ? AND action = ? AND outcome = ? ORDER BY group_id, email_key, id`, "run_users_export_members"},
	} {
		rows, err := s.sqlDB.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+tc.query, "a", "b", "c", "d")
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		_ = rows.Close()
		got := strings.Join(plan, "; ")
		if !strings.Contains(got, "run_users") || !strings.Contains(got, tc.index) {
			t.Errorf("%s: plan %q does not use %s", tc.name, got, tc.index)
		}
	}
}
