package store

import (
	"context"
	"slices"
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
		{"rows with a warning", warnedRowsSQL, "run_users_warned"},
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

// TestEntraGroupQueriesUseTheIndex: the probes that find a run's export
// groups, and the Entra pass's batches within a range of groups, read
// run_users_export_members in order, and every bound on group_id is
// compared in the index's collation, so both databases answer it from the
// index
// (on PostgreSQL a plain "group_id = ?" cannot use the index's
// COLLATE "C" column: each of the 100 group probes of a million-row run
// scanned the table, 19 s in all). PostgreSQL's plans are read with
// sequential scans disabled, since on a test-sized table it would
// rightly prefer them: the check is that the index can serve the
// group_id condition, without a sort.
func TestEntraGroupQueriesUseTheIndex(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := openStore(t, b.config(t))
			conn, err := s.sqlDB.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			explain := "EXPLAIN QUERY PLAN "
			if s.driver == Postgres {
				explain = "EXPLAIN "
				if _, err := conn.ExecContext(ctx, "SET enable_seqscan = off"); err != nil {
					t.Fatal(err)
				}
			}
			first, next := s.exportGroupsSQL()
			rangeFirst, rangeNext, rangeAfter := s.exportMembersSQL(true)
			openFirst, openNext, openAfter := s.exportMembersSQL(false)
			base := []any{int64(1), "idp-export", "exported"}
			with := func(args ...any) []any { return append(slices.Clone(base), args...) }
			for _, tc := range []struct {
				name, query string
				args        []any
				groupCond   bool // PostgreSQL must apply a group_id bound in the index
				upperBound  bool // the index range must end at the group range's end
			}{
				{"first group", first, base, false, false},
				{"next group", next, with("group-1"), true, false},
				// The Entra pass's batches in a range of groups.
				{"range: first batch", rangeFirst, with("group-1", "group-5", 100), true, true},
				{"range: next batch", rangeNext, with("group-2", "a@x.com", int64(7), "group-5", 100), true, true},
				{"range: after a group", rangeAfter, with("group-2", "group-5", 100), true, true},
				{"last range: first batch", openFirst, with("group-5", 100), true, false},
				{"last range: next batch", openNext, with("group-6", "a@x.com", int64(7), 100), true, false},
				{"last range: after a group", openAfter, with("group-6", 100), true, false},
			} {
				rows, err := conn.QueryContext(ctx, explain+tc.query, tc.args...)
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				var plan []string
				cols, _ := rows.Columns()
				for rows.Next() {
					dest := make([]any, len(cols))
					var line string
					for i := range dest {
						dest[i] = new(any)
					}
					dest[len(dest)-1] = &line // the plan text is the last column on both
					if err := rows.Scan(dest...); err != nil {
						t.Fatal(err)
					}
					plan = append(plan, line)
				}
				_ = rows.Close()
				got := strings.Join(plan, "; ")
				switch s.driver {
				case SQLite:
					if !strings.Contains(got, "run_users_export_members") || strings.Contains(got, "TEMP B-TREE") {
						t.Errorf("%s: plan %q does not read run_users_export_members in order", tc.name, got)
					}
					if tc.upperBound && !strings.Contains(got, "group_id<?") {
						t.Errorf("%s: plan %q does not end the index range at the group range's end", tc.name, got)
					}
				case Postgres:
					if !strings.Contains(got, "run_users_export_members") || tc.groupCond && !indexCondOn(plan, "group_id") {
						t.Errorf("%s: plan %q does not use run_users_export_members for group_id", tc.name, got)
					}
					if filterOn(plan, "group_id") {
						t.Errorf("%s: plan %q filters group_id after the index: the scan would not stop at the range's end", tc.name, got)
					}
					if strings.Contains(got, "Sort") {
						t.Errorf("%s: plan %q sorts", tc.name, got)
					}
				}
			}
		})
	}
}

// filterOn reports whether a PostgreSQL plan filters the rows an index
// returned on column: a bound that is not an index condition does not
// stop the scan.
func filterOn(plan []string, column string) bool {
	for _, line := range plan {
		if strings.Contains(line, "Filter:") && strings.Contains(line, column) {
			return true
		}
	}
	return false
}

// indexCondOn reports whether a PostgreSQL plan has an index condition on
// column (a filter applied to the rows the index returned does not count).
func indexCondOn(plan []string, column string) bool {
	for _, line := range plan {
		if strings.Contains(line, "Index Cond:") && strings.Contains(line, column) {
			return true
		}
	}
	return false
}
