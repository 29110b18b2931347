package store

import (
	"context"
	"flag"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/example/usercleanup/internal/cleanup"
)

var purgeRows = flag.Int("purge-rows", 1_000_000, "run rows BenchmarkPurgeHistory deletes (in runs of 1,000 rows)")

// seedHistory gives a tenant runs of 1,000 rows each, n rows in all,
// finished at exportT0.
func seedHistory(b *testing.B, s *Store, clientKey string, n int) {
	b.Helper()
	ctx := context.Background()
	for done := 0; done < n; done += 1000 {
		runID := insertRun(b, s, clientKey, false, true, cleanup.DefaultSettings())
		err := s.db.WithContext(ctx).Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
			INSERT INTO run_users (run_id, client_key, account_id, name, email, account_type, product, group_id, group_name,
				group_synced, identity_provider, last_active, reason, action, outcome, message, email_key, created_at, updated_at)
			SELECT ?, ?, 'acc-' || i, 'User ' || i, 'user' || i || '@example.com', 'atlassian', 'jira-software', 'g-1', 'jira-users',
				FALSE, '', '{}', 'inactive', 'remove-product-access', 'done', '', 'user' || i || '@example.com', ?, ?
			FROM n`, runID, clientKey, exportT0, exportT0).Error
		if err != nil {
			b.Fatalf("seed run users: %v", err)
		}
	}
}

// BenchmarkPurgeHistory measures deleting a tenant's whole history of
// -purge-rows run rows the way the retention pass does it
// (PurgeRunsBefore with cleanup.PurgeBatch, one statement per call, each
// its own transaction): the total time and the longest statement, which
// is the longest the deletion holds a write lock. Run it once per
// database:
//
//	go test ./internal/store -run '^$' -bench PurgeHistory -benchtime 1x
//	(TEST_POSTGRES_URL set: PostgreSQL too)
func BenchmarkPurgeHistory(b *testing.B) {
	for _, be := range backends(b) {
		b.Run(be.name, func(b *testing.B) {
			ctx := context.Background()
			s := openStore(b, be.config(b))
			cs := s.Cleanups(nil)
			for range b.N {
				b.StopTimer()
				seedHistory(b, s, "ck-bench", *purgeRows)
				b.StartTimer()
				var longest time.Duration
				calls, runs := 0, 0
				start := time.Now()
				for {
					t0 := time.Now()
					n, done, err := cs.PurgeRunsBefore(ctx, "ck-bench", exportT0.Add(24*time.Hour), cleanup.PurgeBatch)
					if err != nil {
						b.Fatal(err)
					}
					longest = max(longest, time.Since(t0))
					calls++
					runs += n
					if done {
						break
					}
				}
				total := time.Since(start)
				b.ReportMetric(total.Seconds(), "total-s")
				b.ReportMetric(float64(longest.Microseconds())/1000, "longest-stmt-ms")
				b.ReportMetric(float64(*purgeRows)/total.Seconds(), "rows/s")
				b.ReportMetric(float64(calls), "statements")
				if runs*1000 < *purgeRows {
					b.Fatalf("deleted %d runs, want %d", runs, *purgeRows/1000)
				}
			}
		})
		// The reference: the same history deleted in one transaction,
		// which holds the write lock for all of it.
		b.Run(be.name+"/one-transaction", func(b *testing.B) {
			ctx := context.Background()
			s := openStore(b, be.config(b))
			for range b.N {
				b.StopTimer()
				seedHistory(b, s, "ck-bench", *purgeRows)
				b.StartTimer()
				start := time.Now()
				err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
					if err := tx.Exec(`DELETE FROM run_users WHERE run_id IN (SELECT id FROM runs WHERE client_key = ?)`, "ck-bench").Error; err != nil {
						return err
					}
					return tx.Exec(`DELETE FROM runs WHERE client_key = ?`, "ck-bench").Error
				})
				if err != nil {
					b.Fatal(err)
				}
				total := time.Since(start)
				b.ReportMetric(total.Seconds(), "total-s")
				b.ReportMetric(float64(total.Microseconds())/1000, "longest-stmt-ms")
			}
		})
	}
}
