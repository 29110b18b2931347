package store

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/cputime"
)

var (
	commitRows = flag.Int("commit-rows", 50_000, "run rows BenchmarkCommitRows writes")
	commitSize = flag.Int("commit-size", 100, "rows per commit in BenchmarkCommitRows (a user-search page is 100)")
)

// BenchmarkCommitRows measures what an evaluation's commits cost the
// database: -commit-rows rows of random accounts (as the user search
// returns them), written -commit-size at a time by CleanupStore.Commit with the
// run's cursor and counts, as the engine commits a page. It reports the
// wall time and the process's CPU time per row of the whole series.
//
//	go test ./internal/store -run '^$' -bench CommitRows -benchtime 1x
//	(TEST_POSTGRES_URL set: PostgreSQL too)
func BenchmarkCommitRows(b *testing.B) {
	for _, be := range backends(b) {
		b.Run(be.name, func(b *testing.B) {
			ctx := context.Background()
			s := openStore(b, be.config(b))
			cs := s.Cleanups(nil)
			if err := s.SaveTenant(ctx, sampleTenant("ck-bench", "secret-of-ck-bench-0123456789", exportT0)); err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			for range b.N {
				runID, err := cs.CreateRun(ctx, cleanup.NewRun{ClientKey: "ck-bench", CleanupName: "bench",
					Settings: cleanup.DefaultSettings(), Trigger: "manual", DryRun: true})
				if err != nil {
					b.Fatal(err)
				}
				until := time.Now().Add(time.Hour)
				if _, err := cs.AcquireRunLease(ctx, "ck-bench", runID, "owner", until); err != nil {
					b.Fatal(err)
				}
				if err := cs.BeginRun(ctx, "ck-bench", runID, "owner", nil, exportT0); err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				cpu0, cpuOK := cputime.Process()
				for done := 0; done < *commitRows; done += *commitSize {
					rows := make([]cleanup.AffectedUser, 0, *commitSize)
					for range min(*commitSize, *commitRows-done) {
						id := fmt.Sprintf("557058:%08x-%04x", rng.Uint32(), rng.Uint32()&0xffff)
						rows = append(rows, cleanup.AffectedUser{AccountID: id, Name: "User " + id,
							Email: id[7:] + "@example.com", AccountType: "atlassian", Product: "jira-software",
							GroupID: "g-1", GroupName: "jira-software-users",
							LastActive: map[string]time.Time{"jira-software": exportT0.Add(-400 * 24 * time.Hour)},
							Reason:     "inactive for 400 days", Action: cleanup.ActionRemoveProductAccess,
							Outcome: cleanup.OutcomeSkipped, Message: "dry run, nothing changed: "})
					}
					cursor := fmt.Sprintf("chains/v1:{\"page\":%d}", done)
					err := cs.Commit(ctx, cleanup.Commit{ClientKey: "ck-bench", RunID: runID, Owner: "owner", LeaseUntil: until,
						Rows: rows, AddCounts: &cleanup.Counts{Evaluated: len(rows), Matched: len(rows)}, Cursor: &cursor})
					if err != nil {
						b.Fatal(err)
					}
				}
				took := time.Since(start)
				b.ReportMetric(float64(took.Microseconds())/float64(*commitRows), "µs/row")
				b.ReportMetric(float64(*commitRows)/took.Seconds(), "rows/s")
				if cpu1, ok := cputime.Process(); ok && cpuOK {
					b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(*commitRows), "cpu-µs/row")
				}
			}
		})
	}
}
