package jobs

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
)

// expectedStats adds up, straight from the seeded organization, what the
// Jira tenant's snapshot must show per product: the users with access by
// band (protected apart) and the seats. Freeable is filled in by the
// caller.
func expectedStats(e *env, set cleanup.Settings, now time.Time, seats map[string]int) map[string]cleanup.ProductStats {
	jira := []string{cleanup.ProductJiraSoftware, cleanup.ProductJiraServiceDesk}
	grants := map[string][]string{}
	members := map[string]map[string]bool{} // product → accounts in its groups (the seats used)
	for _, g := range e.cloud.Groups() {
		grants[g.ID] = g.Products
		for _, p := range g.Products {
			if members[p] == nil {
				members[p] = map[string]bool{}
			}
			for _, id := range e.cloud.Members(g.ID) {
				members[p][id] = true
			}
		}
	}
	out := map[string]cleanup.ProductStats{}
	for _, p := range jira {
		out[p] = cleanup.ProductStats{Key: p, Name: cleanup.ProductName(p),
			Seats: &cleanup.Seats{Licensed: seats[p], Used: len(members[p])}}
	}
	for _, u := range e.cloud.Users() {
		if u.Status == cleanup.StatusDeactivated {
			continue
		}
		has := map[string]bool{}
		for _, id := range u.GroupIDs {
			for _, p := range grants[id] {
				if slices.Contains(jira, p) {
					has[p] = true
				}
			}
		}
		for p := range has {
			ps := out[p]
			ps.Users++
			switch {
			case (cleanup.OrgUser{Roles: u.Roles}).IsAdmin():
				ps.ProtectedAdmins++
			case slices.Contains(set.Exceptions.AccountIDs, u.AccountID):
				ps.ProtectedExceptions++
			case u.AccountType == cleanup.AccountApp:
				ps.ProtectedBots++
			case u.AccountType == cleanup.AccountCustomer:
				ps.ProtectedCustomers++
			default:
				switch set.Activity.Band(u.LastActive[p], now) {
				case cleanup.BandActive:
					ps.Active++
				case cleanup.BandLowUsage:
					ps.LowUsage++
				case cleanup.BandInactive:
					ps.Inactive++
				default:
					ps.Never++
				}
			}
			out[p] = ps
		}
	}
	return out
}

// TestSnapshotJob takes the Jira tenant's snapshot through the job
// runtime, as Refresh does, on SQLite and PostgreSQL, and checks every
// figure against the seeded organization: the bands from the activity
// settings, the protected users apart (an admin, an exception account,
// bots, customers), the seats Jira reports, and the seats the current
// cleanup would free, which must be exactly the users a dry run of that
// cleanup would remove. The users screen then lists every user with
// access, and the day's history point is the inactive count.
func TestSnapshotJob(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := cleanup.AsOperator(context.Background())
			st, dsn := b.open(t)
			e := newEnv(t, st, atlassiantest.Options{Seed: 21, Users: 150}, cleanup.SettingsInput{})
			e.cloud.SetSeats(cleanup.ProductJiraSoftware, 120)
			set, err := e.svc.GetSettings(ctx, testClientKey)
			if err != nil {
				t.Fatal(err)
			}
			var exception string
			for _, u := range e.cloud.Users() {
				if u.AccountType == cleanup.AccountAtlassian && len(u.Roles) == 0 && u.Status == cleanup.StatusActive && len(u.GroupIDs) > 0 {
					exception = u.AccountID
					break
				}
			}
			set.Exceptions.AccountIDs = []string{exception}
			set.Activity = cleanup.ActivityBands{ActiveDays: 20, LowUsageDays: 60}
			if _, err := e.svc.SaveSettings(ctx, testClientKey, cleanup.SettingsInput{Settings: set}); err != nil {
				t.Fatal(err)
			}
			set, _ = e.svc.GetSettings(ctx, testClientKey)
			d := cleanup.DefaultDefinition()
			d.Name, d.Action, d.DaysInactive = "inactive jira", cleanup.ActionRemoveProductAccess, 90
			d.LicensingGroupIDs = []string{e.groupID(t, atlassiantest.GroupJiraSoftware)}
			if _, err := e.svc.CreateCleanup(ctx, testClientKey, d); err != nil {
				t.Fatal(err)
			}
			review := d
			review.Name, review.Action = "review only", cleanup.ActionReview
			if _, err := e.svc.CreateCleanup(ctx, testClientKey, review); err != nil {
				t.Fatal(err)
			}

			// The users a dry run of the cleanup would remove, per product.
			runID, err := e.svc.StartRun(ctx, testClientKey, mustCleanupID(t, e, "inactive jira"), true, "admin")
			if err != nil {
				t.Fatal(err)
			}
			drive(t, e.engine(t, time.Millisecond, nil), runID)
			freed := map[string]map[string]bool{}
			for _, r := range allRows(t, e.svc, runID, cleanup.RunUserFilter{}) {
				if r.Outcome == cleanup.OutcomeSkipped && strings.HasPrefix(r.Message, "protected") {
					continue
				}
				if r.Outcome != cleanup.OutcomeSkipped { // a dry run settles its pending rows to skipped
					continue
				}
				for _, p := range strings.Split(r.Product, ",") {
					if freed[p] == nil {
						freed[p] = map[string]bool{}
					}
					freed[p][r.AccountID] = true
				}
			}
			if len(freed[cleanup.ProductJiraSoftware]) == 0 {
				t.Fatal("the scenario frees nothing: the seed has no inactive Jira Software user")
			}

			rt, work, _ := wireRuntime(t, st, dsn, e.conn, Config{Workers: 2, RescueAfter: 5 * time.Second, PollInterval: 100 * time.Millisecond})
			snaps, err := cleanup.NewSnapshots(cleanup.SnapshotsConfig{Store: st.Snapshots(rt.EnqueueSnapshot), Source: e.cs,
				Connector: e.conn, Now: func() time.Time { return testNow }, PageSize: 40})
			if err != nil {
				t.Fatal(err)
			}
			work.Snapshots = snaps
			start(t, rt, work)
			id, err := snaps.Refresh(ctx, testClientKey, "admin")
			if err != nil {
				t.Fatal(err)
			}
			var snap cleanup.Snapshot
			deadline := time.Now().Add(60 * time.Second)
			for {
				if snap, err = snaps.Snapshot(ctx, testClientKey, id); err != nil {
					t.Fatal(err)
				}
				if snap.Finished() || time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if snap.Status != cleanup.SnapshotSucceeded || snap.Stats == nil {
				t.Fatalf("snapshot %+v", snap)
			}

			want := expectedStats(e, set, testNow, map[string]int{cleanup.ProductJiraSoftware: 120, cleanup.ProductJiraServiceDesk: atlassiantest.DefaultSeats})
			for p, ps := range want {
				ps.Freeable = len(freed[p])
				want[p] = ps
			}
			got := map[string]cleanup.ProductStats{}
			for _, ps := range snap.Stats.Products {
				got[ps.Key] = ps
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("per-product figures (-want +got):\n%s", diff)
			}
			if w := want[cleanup.ProductJiraSoftware]; w.ProtectedExceptions != 1 || w.ProtectedAdmins == 0 || w.Inactive == 0 || w.Active+w.LowUsage == 0 {
				t.Errorf("the seed does not exercise every band and protection: %+v", w)
			}
			if diff := cmp.Diff([]string{"inactive jira"}, snap.Stats.Cleanups); diff != "" {
				t.Errorf("cleanups counted (-want +got):\n%s", diff)
			}

			// The users screen lists every user with access exactly once.
			users, total, latest, err := snaps.Users(ctx, testClientKey, cleanup.SnapshotUserFilter{}, cleanup.Page{PerPage: cleanup.MaxPerPage})
			if err != nil || latest == nil || latest.ID != id {
				t.Fatalf("users: %v, %+v", err, latest)
			}
			if total != snap.Stats.Users || len(users) != min(total, cleanup.MaxPerPage) {
				t.Errorf("users total %d (page %d), snapshot says %d", total, len(users), snap.Stats.Users)
			}
			_, admins, _, err := snaps.Users(ctx, testClientKey, cleanup.SnapshotUserFilter{Protected: cleanup.ProtectedAdmin, Product: cleanup.ProductJiraSoftware}, cleanup.Page{})
			if err != nil {
				t.Fatal(err)
			}
			if admins != want[cleanup.ProductJiraSoftware].ProtectedAdmins {
				t.Errorf("admins with Jira Software on the users screen: %d, want %d", admins, want[cleanup.ProductJiraSoftware].ProtectedAdmins)
			}
			dash, err := snaps.Dashboard(ctx, testClientKey)
			if err != nil {
				t.Fatal(err)
			}
			wantTrend := []cleanup.TrendPoint{}
			for _, p := range []string{cleanup.ProductJiraServiceDesk, cleanup.ProductJiraSoftware} {
				wantTrend = append(wantTrend, cleanup.TrendPoint{Day: testNow.Format(time.DateOnly), Product: p, Users: want[p].Users, Inactive: want[p].Inactive})
			}
			if dash.Latest == nil || dash.Latest.ID != id || dash.Current != nil {
				t.Errorf("dashboard latest %+v current %+v", dash.Latest, dash.Current)
			}
			if want := testNow.AddDate(0, 0, -cleanup.TrendDays).Format(time.DateOnly); dash.TrendFrom != want {
				t.Errorf("trend from %s, want %s", dash.TrendFrom, want)
			}
			trend, err := st.Snapshots(nil).Trend(ctx, testClientKey, testNow.Format(time.DateOnly))
			if diff := cmp.Diff(wantTrend, trend); err != nil || diff != "" {
				t.Errorf("history (-want +got):\n%s %v", diff, err)
			}
		})
	}
}

func mustCleanupID(t *testing.T, e *env, name string) int64 {
	t.Helper()
	cs, err := e.svc.ListCleanups(cleanup.AsOperator(context.Background()), testClientKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Name == name {
			return c.ID
		}
	}
	t.Fatalf("no cleanup %q", name)
	return 0
}

// TestUserActionRun: a bulk "remove product access" of the users screen
// runs through the engine as a run: a dry run changes nothing; the run
// removes exactly the chosen users from every Atlassian-managed licensing
// group they are in, however recently they were active, skips a chosen
// admin (protected, with the reason), leaves a synced group's membership
// to the identity provider (manual without one) while removing that
// user's Atlassian-managed groups, and touches nobody else.
func TestUserActionRun(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := cleanup.AsOperator(context.Background())
			st, _ := b.open(t)
			e := newEnv(t, st, atlassiantest.Options{Seed: 21, Users: 150}, cleanup.SettingsInput{})
			jsw := e.groupID(t, atlassiantest.GroupJiraSoftware)
			entra := e.groupID(t, atlassiantest.GroupEntraJira)
			var active, admin, synced string
			for _, u := range e.cloud.Users() {
				in := func(g string) bool { return slices.Contains(u.GroupIDs, g) }
				ok := u.AccountType == cleanup.AccountAtlassian && u.Status == cleanup.StatusActive
				switch {
				case !ok:
				case active == "" && len(u.Roles) == 0 && in(jsw) && !in(entra) && testNow.Sub(u.LastActive[cleanup.ProductJiraSoftware]) < 10*24*time.Hour:
					active = u.AccountID
				case admin == "" && (cleanup.OrgUser{Roles: u.Roles}).IsAdmin() && in(jsw):
					admin = u.AccountID
				case synced == "" && len(u.Roles) == 0 && in(entra) && !in(jsw):
					synced = u.AccountID
				}
			}
			if active == "" || admin == "" || synced == "" {
				t.Fatalf("seed lacks an active, an admin or a synced-only user: %q %q %q", active, admin, synced)
			}
			chosen := []string{active, admin, synced}
			if _, err := e.svc.StartUserAction(ctx, testClientKey, cleanup.UserAction{Action: cleanup.ActionDeactivate, AccountIDs: chosen}, "admin"); cleanup.KindOf(err) != cleanup.KindInvalid {
				t.Errorf("deactivate from the users screen: %v, want invalid", err)
			}
			if _, err := e.svc.StartUserAction(ctx, testClientKey, cleanup.UserAction{Action: cleanup.ActionRemoveProductAccess}, "admin"); cleanup.KindOf(err) != cleanup.KindInvalid {
				t.Errorf("no users: %v, want invalid", err)
			}

			dry, err := e.svc.StartUserAction(ctx, testClientKey, cleanup.UserAction{Action: cleanup.ActionRemoveProductAccess, AccountIDs: chosen, DryRun: true}, "admin")
			if err != nil {
				t.Fatal(err)
			}
			drive(t, e.engine(t, time.Millisecond, nil), dry)
			if calls := e.cloud.Calls(); len(calls) != 0 {
				t.Fatalf("the dry run changed something: %+v", calls)
			}
			want := map[string]string{}
			for _, id := range chosen {
				u, _ := e.cloud.User(id)
				for _, g := range u.GroupIDs {
					switch {
					case g != jsw && g != entra && !isLicensing(e, g):
					case id == admin:
						want[id+" "+g] = cleanup.OutcomeSkipped
					case g == entra:
						want[id+" "+g] = cleanup.OutcomeManual
					default:
						want[id+" "+g] = cleanup.OutcomeDone
					}
				}
			}
			runID, err := e.svc.StartUserAction(ctx, testClientKey, cleanup.UserAction{Action: cleanup.ActionRemoveProductAccess, AccountIDs: chosen}, "admin")
			if err != nil {
				t.Fatal(err)
			}
			drive(t, e.engine(t, time.Millisecond, nil), runID)
			run, err := e.svc.GetRun(ctx, testClientKey, runID)
			if err != nil {
				t.Fatal(err)
			}
			if run.Status != cleanup.RunSucceeded || run.CleanupName != "Users screen: remove product access, 3 users" || run.DryRun {
				t.Errorf("run %s %q dry %v: %s", run.Status, run.CleanupName, run.DryRun, run.Error)
			}
			got := map[string]string{}
			for _, r := range allRows(t, e.svc, runID, cleanup.RunUserFilter{}) {
				got[r.AccountID+" "+r.GroupID] = r.Outcome
				if r.AccountID == admin && !strings.HasPrefix(r.Message, "protected") {
					t.Errorf("admin row message %q", r.Message)
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			var calls []string
			for _, c := range e.cloud.Calls() {
				calls = append(calls, c.AccountID+" "+c.GroupID)
			}
			var wantCalls []string
			for k, o := range want {
				if o == cleanup.OutcomeDone {
					wantCalls = append(wantCalls, k)
				}
			}
			slices.Sort(calls)
			slices.Sort(wantCalls)
			if diff := cmp.Diff(wantCalls, calls); diff != "" {
				t.Errorf("removals (-want +got):\n%s", diff)
			}
			if slices.Contains(e.cloud.Members(jsw), active) {
				t.Errorf("%s is still in jira-software-users", active)
			}
		})
	}
}

// isLicensing reports whether the seeded group grants a Jira product.
func isLicensing(e *env, groupID string) bool {
	for _, g := range e.cloud.Groups() {
		if g.ID == groupID {
			return slices.Contains(g.Products, cleanup.ProductJiraSoftware) || slices.Contains(g.Products, cleanup.ProductJiraServiceDesk)
		}
	}
	return false
}

// TestReviewList: a real run of an "Add to list for review" cleanup marks
// its users (a dry run marks nobody); the users screen's "marked for
// review" filter lists exactly them, each with the cleanup; dismissing
// one takes it off the list and changes nothing; approving others runs
// the cleanup's removal (its licensing group) for exactly them, as a run,
// and takes them off the list; a user not marked cannot be approved.
func TestReviewList(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := cleanup.AsOperator(context.Background())
			st, _ := b.open(t)
			e := newEnv(t, st, atlassiantest.Options{Seed: 21, Users: 150}, cleanup.SettingsInput{})
			jsw := e.groupID(t, atlassiantest.GroupJiraSoftware)
			d := cleanup.DefaultDefinition()
			d.Name, d.Action, d.DaysInactive, d.Manual = "review inactive", cleanup.ActionReview, 180, true
			d.LicensingGroupIDs = []string{jsw}
			c, err := e.svc.CreateCleanup(ctx, testClientKey, d)
			if err != nil {
				t.Fatal(err)
			}
			snaps, err := cleanup.NewSnapshots(cleanup.SnapshotsConfig{Store: st.Snapshots(nil), Source: e.cs, Connector: e.conn, Now: func() time.Time { return testNow }})
			if err != nil {
				t.Fatal(err)
			}
			marked := func() []string {
				t.Helper()
				users, _, _, err := snaps.Users(ctx, testClientKey, cleanup.SnapshotUserFilter{Review: true}, cleanup.Page{PerPage: cleanup.MaxPerPage})
				if err != nil {
					t.Fatal(err)
				}
				var out []string
				for _, u := range users {
					if u.Review == nil || u.Review.CleanupName != "review inactive" || u.Review.CleanupID != c.ID {
						t.Errorf("%s listed with mark %+v", u.AccountID, u.Review)
					}
					out = append(out, u.AccountID)
				}
				slices.Sort(out)
				return out
			}
			for _, dry := range []bool{true, false} {
				runID, err := e.svc.StartRun(ctx, testClientKey, c.ID, dry, "admin")
				if err != nil {
					t.Fatal(err)
				}
				drive(t, e.engine(t, time.Millisecond, nil), runID)
				if dry {
					id, err := snaps.Refresh(ctx, testClientKey, "admin")
					if err != nil {
						t.Fatal(err)
					}
					if err := snaps.Take(ctx, testClientKey, id); err != nil {
						t.Fatal(err)
					}
					if got := marked(); len(got) != 0 {
						t.Fatalf("a dry run marked %v", got)
					}
					continue
				}
				var want []string
				for _, r := range allRows(t, e.svc, runID, cleanup.RunUserFilter{Outcome: cleanup.OutcomeReview}) {
					want = append(want, r.AccountID)
				}
				slices.Sort(want)
				want = slices.Compact(want)
				if len(want) < 3 {
					t.Fatalf("the review run marked %d users; the test needs 3", len(want))
				}
				if diff := cmp.Diff(want, marked()); diff != "" {
					t.Fatalf("marked for review (-want +got):\n%s", diff)
				}
			}
			list := marked()
			dismiss, approve := list[0], list[1:3]
			var unmarked string
			for _, u := range e.cloud.Users() {
				if !slices.Contains(list, u.AccountID) {
					unmarked = u.AccountID
					break
				}
			}
			if _, err := snaps.ApproveReviews(ctx, testClientKey, cleanup.ReviewDecision{AccountIDs: []string{approve[0], unmarked}}, "admin"); cleanup.KindOf(err) != cleanup.KindInvalid {
				t.Errorf("approving an unmarked user: %v, want invalid", err)
			}
			if n, err := snaps.DismissReviews(ctx, testClientKey, cleanup.ReviewDecision{AccountIDs: []string{dismiss}}, "admin"); err != nil || n != 1 {
				t.Fatalf("dismiss: %d %v", n, err)
			}
			if calls := e.cloud.Calls(); len(calls) != 0 {
				t.Fatalf("dismissing changed something: %+v", calls)
			}
			runIDs, err := snaps.ApproveReviews(ctx, testClientKey, cleanup.ReviewDecision{AccountIDs: approve}, "admin")
			if err != nil || len(runIDs) != 1 {
				t.Fatalf("approve: %v %v", runIDs, err)
			}
			drive(t, e.engine(t, time.Millisecond, nil), runIDs[0])
			run, err := e.svc.GetRun(ctx, testClientKey, runIDs[0])
			if err != nil || run.Status != cleanup.RunSucceeded || run.CleanupID != c.ID || run.CleanupName != "Review approved: review inactive, 2 users" {
				t.Errorf("approval run %+v %v", run, err)
			}
			var calls []string
			for _, cl := range e.cloud.Calls() {
				calls = append(calls, cl.AccountID+" "+cl.GroupID)
			}
			slices.Sort(calls)
			if diff := cmp.Diff([]string{approve[0] + " " + jsw, approve[1] + " " + jsw}, calls); diff != "" {
				t.Errorf("removals (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(list[3:], marked()); diff != "" {
				t.Errorf("still marked (-want +got):\n%s", diff)
			}
		})
	}
}
