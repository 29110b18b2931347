package jobs

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
)

// TestFollowUp: a run that removed users schedules its follow-up job at
// finish (due FollowUpAfterMinutes later); when it runs, the users someone
// added back are reported as still present, per row and in the counts,
// and the verdicts are filterable.
func TestFollowUp(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := cleanup.AsOperator(context.Background())
			st, dsn := b.open(t)
			in := cleanup.SettingsInput{Settings: cleanup.DefaultSettings()}
			in.IdentityProvider.FollowUpAfterMinutes = 45
			e := newEnv(t, st, atlassiantest.Options{Seed: 9, Users: 120, Now: time.Now}, in)
			group := e.groupID(t, atlassiantest.GroupJiraSoftware)
			d := cleanup.DefaultDefinition()
			d.Name, d.Action, d.Manual, d.DaysInactive = "remove", cleanup.ActionRemoveProductAccess, true, 30
			d.LicensingGroupIDs = []string{group}
			c, err := e.svc.CreateCleanup(ctx, testClientKey, d)
			if err != nil {
				t.Fatal(err)
			}
			rt, work, svc := wireRuntime(t, st, dsn, e.conn, Config{
				Workers: 2, RescueAfter: 3 * time.Second, ScheduleEvery: time.Hour, PollInterval: 100 * time.Millisecond,
			})
			start(t, rt, work)
			// A dry run schedules no follow-up.
			dry, err := svc.StartRun(ctx, testClientKey, c.ID, true, "a")
			if err != nil {
				t.Fatal(err)
			}
			runID, err := svc.StartRun(ctx, testClientKey, c.ID, false, "a")
			if err != nil {
				t.Fatal(err)
			}
			run := waitRun(t, e, runID, func(r cleanup.Run) bool { return r.Finished() })
			if r := waitRun(t, e, dry, func(r cleanup.Run) bool { return r.Finished() }); r.FollowUp != nil {
				t.Errorf("dry run has a follow-up: %+v", r.FollowUp)
			}
			if run.Status != cleanup.RunSucceeded || run.Counts.RemovedInAtlassian < 3 {
				t.Fatalf("run %s %+v", run.Status, run.Counts)
			}
			if run.FollowUp == nil || run.FinishedAt == nil || !run.FollowUp.DueAt.Equal(run.FinishedAt.Add(45*time.Minute)) || run.FollowUp.CheckedAt != nil {
				t.Fatalf("follow-up %+v, want due 45 minutes after %v and unchecked", run.FollowUp, run.FinishedAt)
			}

			// The job waits in the queue for its time.
			var jobID int64
			var scheduledAt time.Time
			q := `SELECT id, scheduled_at FROM river_job WHERE kind = 'run_follow_up'`
			if err := st.SQLDB().QueryRowContext(ctx, q).Scan(&jobID, &scheduledAt); err != nil {
				t.Fatalf("follow-up job: %v", err)
			}
			if d := scheduledAt.Sub(run.FollowUp.DueAt); d < -time.Second || d > time.Second {
				t.Errorf("job scheduled at %v, want %v", scheduledAt, run.FollowUp.DueAt)
			}

			// Meanwhile an admin (or a sync) adds two of the removed users back.
			rows := allRows(t, e.svc, runID, cleanup.RunUserFilter{Outcome: cleanup.OutcomeDone})
			var readded []string
			for _, r := range rows[:2] {
				if !e.cloud.AddMember(group, r.AccountID) {
					t.Fatalf("re-add %s", r.AccountID)
				}
				readded = append(readded, r.AccountID)
			}
			slices.Sort(readded)

			// Time passes: make the job due now.
			retrier, ok := rt.client.(interface {
				JobRetry(ctx context.Context, id int64) (*rivertype.JobRow, error)
			})
			if !ok {
				t.Fatalf("river client %T cannot retry jobs", rt.client)
			}
			if _, err := retrier.JobRetry(ctx, jobID); err != nil {
				t.Fatal(err)
			}
			run = waitRun(t, e, runID, func(r cleanup.Run) bool { return r.FollowUp != nil && r.FollowUp.CheckedAt != nil })
			if run.FollowUp.Checked != len(rows) || run.FollowUp.StillPresent != 2 || run.FollowUp.Error != "" {
				t.Errorf("follow-up %+v, want %d checked and 2 still present", run.FollowUp, len(rows))
			}
			// History lists the follow-up with each run.
			runs, _, err := e.svc.ListRuns(ctx, testClientKey, cleanup.Page{})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range runs {
				if want := r.ID == runID; (r.FollowUp != nil && r.FollowUp.StillPresent == 2) != want {
					t.Errorf("listed run %d follow-up %+v", r.ID, r.FollowUp)
				}
			}
			yes := true
			present, total, err := e.svc.GetFollowUpUsers(ctx, testClientKey, runID, &yes, cleanup.Page{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range present {
				got = append(got, p.AccountID)
				if !p.StillPresent || p.FollowUpMessage != "still a member of "+atlassiantest.GroupJiraSoftware+": someone added them back" {
					t.Errorf("verdict %+v", p)
				}
			}
			slices.Sort(got)
			if total != 2 || !slices.Equal(got, readded) {
				t.Errorf("still present %v (total %d), want %v", got, total, readded)
			}
			no := false
			if _, total, _ := e.svc.GetFollowUpUsers(ctx, testClientKey, runID, &no, cleanup.Page{}); total != len(rows)-2 {
				t.Errorf("%d gone, want %d", total, len(rows)-2)
			}
		})
	}
}

// waitRun polls the run until ok or 30 seconds passed.
func waitRun(t *testing.T, e *env, runID int64, ok func(cleanup.Run) bool) cleanup.Run {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := e.svc.GetRun(context.Background(), testClientKey, runID)
		if err != nil {
			t.Fatal(err)
		}
		if ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %d: condition not met: %s %+v", runID, r.Status, r.FollowUp)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestFollowUpCannotCheck: when the organization API key was removed since
// the run, the follow-up records why it could not check instead of
// failing forever.
func TestFollowUpCannotCheck(t *testing.T) {
	ctx := cleanup.AsOperator(context.Background())
	st := openStore(t, "sqlite", filepath.Join(t.TempDir(), "t.db"))
	e := newEnv(t, st, atlassiantest.Options{Seed: 9, Users: 60}, cleanup.SettingsInput{})
	d := cleanup.DefaultDefinition()
	d.Name, d.Action, d.Manual, d.DaysInactive = "remove", cleanup.ActionRemoveProductAccess, true, 30
	d.LicensingGroupIDs = []string{e.groupID(t, atlassiantest.GroupJiraSoftware)}
	c, err := e.svc.CreateCleanup(ctx, testClientKey, d)
	if err != nil {
		t.Fatal(err)
	}
	runID, err := e.svc.StartRun(ctx, testClientKey, c.ID, false, "a")
	if err != nil {
		t.Fatal(err)
	}
	drive(t, e.engine(t, time.Millisecond, nil), runID)
	set, err := e.svc.GetSettings(ctx, testClientKey)
	if err != nil {
		t.Fatal(err)
	}
	none := cleanup.Secret("")
	if _, err := e.svc.SaveSettings(ctx, testClientKey, cleanup.SettingsInput{Settings: set, APIKey: &none}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.CheckFollowUp(ctx, testClientKey, runID); err != nil {
		t.Fatal(err)
	}
	run, err := e.svc.GetRun(ctx, testClientKey, runID)
	if err != nil {
		t.Fatal(err)
	}
	if f := run.FollowUp; f == nil || f.CheckedAt == nil || f.Checked != 0 || !strings.HasPrefix(f.Error, "the follow-up could not read the organization: ") {
		t.Errorf("follow-up %+v", f)
	}
	if err := e.svc.CheckFollowUp(ctx, "other-tenant", runID); cleanup.KindOf(err) != cleanup.KindNotFound {
		t.Errorf("another tenant's run: %v", err)
	}
}
