package jobs

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/store"
)

// TestTwoInstancesScheduleOnce starts two job runtimes (two app instances,
// each with its own connections) on one database with a scheduled cleanup
// whose time has come, three daily times having been missed, and both also
// schedule concurrently by hand: exactly one run is created, for the latest
// missed time, and it runs to the end.
func TestTwoInstancesScheduleOnce(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := cleanup.AsOperator(context.Background())
			st, dsn := b.open(t)
			e := newEnv(t, st, atlassiantest.Options{Seed: 9, Users: 80, Now: time.Now}, cleanup.SettingsInput{})
			d := cleanup.DefaultDefinition()
			d.Name, d.Action, d.DaysInactive = "nightly", cleanup.ActionReview, 30
			d.LicensingGroupIDs = []string{e.groupID(t, atlassiantest.GroupJiraSoftware)}
			now := time.Now().UTC()
			d.Schedule = cleanup.Schedule{Active: true, Frequency: cleanup.FrequencyDaily,
				TimeOfDay: now.Add(-2 * time.Hour).Format("15:04"), TimeZone: "UTC"}
			c, err := e.svc.CreateCleanup(ctx, testClientKey, d)
			if err != nil {
				t.Fatal(err)
			}
			last, due := now.Add(-74*time.Hour), now.Add(-time.Minute)
			if err := e.cs.SetNextRun(ctx, testClientKey, c.ID, &due, &last); err != nil {
				t.Fatal(err)
			}
			want, err := cleanup.DueRuns(c.Schedule, last, now)
			if err != nil || !want.Due || !want.Collapsed() {
				t.Fatalf("scenario: %+v, %v", want, err)
			}

			type instance struct {
				rt   *Runtime
				work Work
				svc  *cleanup.Service
			}
			var insts []instance
			for i := range 2 {
				inst := st
				if i == 1 {
					inst = reopen(t, b, st, dsn)
				}
				rt, work, svc := wireRuntime(t, inst, dsn, e.conn, Config{
					Workers: 2, RescueAfter: 3 * time.Second, ScheduleEvery: time.Second, PollInterval: 100 * time.Millisecond,
					InstanceID: fmt.Sprintf("instance-%d", i),
				})
				insts = append(insts, instance{rt, work, svc})
			}
			var wg sync.WaitGroup
			for _, in := range insts {
				wg.Go(func() {
					if err := in.rt.Start(ctx, in.work); err != nil {
						t.Error(err)
					}
					for range 3 {
						if _, err := in.svc.ScheduleDue(ctx, 10); err != nil {
							t.Error(err)
						}
					}
				})
			}
			wg.Wait()
			t.Cleanup(func() {
				for _, in := range insts {
					sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					if err := in.rt.Stop(sctx); err != nil {
						t.Error(err)
					}
					cancel()
				}
			})

			deadline := time.Now().Add(30 * time.Second)
			for {
				runs, total, err := e.svc.ListRuns(ctx, testClientKey, cleanup.Page{})
				if err != nil {
					t.Fatal(err)
				}
				if total > 1 {
					t.Fatalf("%d runs created, want 1", total)
				}
				if total == 1 && runs[0].Finished() {
					r := runs[0]
					if r.Status != cleanup.RunSucceeded || r.Trigger != cleanup.TriggerSchedule ||
						r.ScheduledFor == nil || !r.ScheduledFor.Equal(want.ScheduledAt) || r.CleanupID != c.ID {
						t.Errorf("run = %+v, want a succeeded scheduled run for %s", r, want.ScheduledAt)
					}
					if r.Counts.Reviewed == 0 {
						t.Errorf("the run reviewed nobody: %+v", r.Counts)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no finished run: %+v", runs)
				}
				time.Sleep(100 * time.Millisecond)
			}
			// Let a few more ticks pass: still one run, and the cleanup's next
			// time moved past now.
			time.Sleep(1500 * time.Millisecond)
			if _, total, _ := e.svc.ListRuns(ctx, testClientKey, cleanup.Page{}); total != 1 {
				t.Errorf("%d runs after more ticks, want 1", total)
			}
			got, err := e.svc.GetCleanup(ctx, testClientKey, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.NextRunAt == nil || !got.NextRunAt.After(now) || got.LastScheduledAt == nil || !got.LastScheduledAt.Equal(want.ScheduledAt) {
				t.Errorf("cleanup schedule state: next %v last %v, want next after %s and last %s", got.NextRunAt, got.LastScheduledAt, now, want.ScheduledAt)
			}
		})
	}
}

// reopen opens a second store on the same database, like a second instance.
func reopen(t *testing.T, b backend, st *store.Store, dsn string) *store.Store {
	t.Helper()
	if st.Driver() == store.Postgres {
		return openStore(t, store.Postgres, dsn)
	}
	return st // SQLite: one file, one process
}
