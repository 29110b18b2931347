package store

import (
	"context"
	"flag"
	"testing"
	"time"
)

var privacyRows = flag.Int("privacy-rows", 1_000_000, "run rows BenchmarkPersonalData reads (in runs of 1,000 rows over 1,000 accounts)")

// BenchmarkPersonalData measures, on a tenant's history of -privacy-rows
// run rows (runs of 1,000 rows; the same 1,000 accounts in every run, as
// a weekly cleanup of one organization would store them), what a report
// costs the database: listing the accounts with their updatedAt
// (PersonalDataAccounts), against reading the same columns of the same
// rows with one plain query (the reference, same run); and erasing one
// account that is in every run (ErasePersonalData, one transaction: the
// time it holds the write lock).
//
//	go test ./internal/store -run '^$' -bench PersonalData -benchtime 1x
//	(TEST_POSTGRES_URL set: PostgreSQL too)
func BenchmarkPersonalData(b *testing.B) {
	for _, be := range backends(b) {
		b.Run(be.name, func(b *testing.B) {
			ctx := context.Background()
			s := openStore(b, be.config(b))
			cs := s.Cleanups(nil)
			seedHistory(b, s, "ck-bench", *privacyRows)
			b.ResetTimer()
			for i := range b.N {
				t0 := time.Now()
				var n int
				rows, err := s.db.WithContext(ctx).Raw(`SELECT u.account_id, u.created_at, u.profile_at FROM run_users u
					JOIN runs r ON r.id = u.run_id WHERE r.client_key = ? AND u.erased_at IS NULL`, "ck-bench").Rows()
				if err != nil {
					b.Fatal(err)
				}
				var id string
				var created time.Time
				var profile *time.Time
				for rows.Next() {
					if err := rows.Scan(&id, &created, &profile); err != nil {
						b.Fatal(err)
					}
					n++
				}
				_ = rows.Close()
				ref := time.Since(t0)

				t1 := time.Now()
				accounts, err := cs.PersonalDataAccounts(ctx, "ck-bench")
				if err != nil {
					b.Fatal(err)
				}
				list := time.Since(t1)
				if n != *privacyRows || len(accounts) != 1000 {
					b.Fatalf("read %d rows, %d accounts", n, len(accounts))
				}

				t2 := time.Now()
				er, err := cs.ErasePersonalData(ctx, "ck-bench", accounts[i%len(accounts)].AccountID, "closed-account-bench", exportT0)
				if err != nil {
					b.Fatal(err)
				}
				erase := time.Since(t2)
				if er.RunRows != *privacyRows/1000 {
					b.Fatalf("erased %d rows, want %d", er.RunRows, *privacyRows/1000)
				}
				b.ReportMetric(list.Seconds(), "accounts-s")
				b.ReportMetric(ref.Seconds(), "plain-read-s")
				b.ReportMetric(list.Seconds()/ref.Seconds(), "accounts/plain")
				b.ReportMetric(float64(erase.Microseconds())/1000, "erase-one-ms")
			}
		})
	}
}
