package jobs

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// seededSettings: Entra ID configured (export mode), one exception account
// and one exception group, company domain example.com.
func seededSettings(e *env, t *testing.T, exceptionAccount string) cleanup.SettingsInput {
	in := cleanup.SettingsInput{Settings: cleanup.DefaultSettings()}
	in.OrgID = e.cloud.OrgID()
	in.CompanyDomains = []string{atlassiantest.VerifiedDomain}
	in.IdentityProvider.Provider = cleanup.ProviderEntra
	in.Exceptions.AccountIDs = []string{exceptionAccount}
	return in
}

// pick returns the seeded accounts the scenario names.
func scenarioAccounts(t *testing.T, users []atlassiantest.User) (exception string) {
	t.Helper()
	// An account the cleanup would otherwise remove: a person inactive in
	// Jira Software for more than a year.
	for _, u := range users[3:] {
		last, ok := u.LastActive[cleanup.ProductJiraSoftware]
		if u.AccountType == cleanup.AccountAtlassian && u.Status == cleanup.StatusActive && ok &&
			!last.IsZero() && testNow.Sub(last) > 365*24*time.Hour {
			return u.AccountID
		}
	}
	t.Fatal("no account for the exception")
	return ""
}

// rowLine is the pinned form of a row.
func rowLine(r cleanup.AffectedUser) string {
	return strings.Join([]string{r.AccountID, r.GroupName, r.Action, r.Outcome, r.Reason, r.Message}, " | ")
}

func checkGolden(t *testing.T, name string, lines []string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	got := strings.Join(lines, "\n") + "\n"
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

type removal struct{ group, account string }

// removals returns the fake's recorded membership removals by result.
func removals(c *atlassiantest.Cloud) map[string][]removal {
	out := map[string][]removal{}
	for _, call := range c.Calls() {
		out[call.Result] = append(out[call.Result], removal{call.GroupID, call.AccountID})
	}
	return out
}

// TestEngineRemoveProductAccess runs a remove-product-access cleanup over a
// seeded organization (Atlassian-managed and IdP-synced licensing groups,
// bots, customers, admins, an exception account and group, never-active
// users) in many small steps, and pins the exact rows and removals.
func TestEngineRemoveProductAccess(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := cleanup.AsOperator(context.Background())
			st, _ := b.open(t)
			o := atlassiantest.Options{Seed: 7, Users: 240, ExtraGroups: 8}
			probe := atlassiantest.New(atlassiantest.Options{Seed: 7, Users: 240, ExtraGroups: 8, Now: func() time.Time { return testNow }})
			exception := scenarioAccounts(t, probe.Users())
			probe.Close()
			e := newEnv(t, st, o, cleanup.SettingsInput{})
			in := seededSettings(e, t, exception)
			in.Exceptions.GroupIDs = []string{e.groupID(t, "team-01")}
			if _, err := e.svc.SaveSettings(ctx, testClientKey, in); err != nil {
				t.Fatal(err)
			}

			d := cleanup.DefaultDefinition()
			d.Name = "Inactive Jira users"
			d.Action = cleanup.ActionRemoveProductAccess
			d.LicensingGroupIDs = []string{e.groupID(t, atlassiantest.GroupJiraSoftware), e.groupID(t, atlassiantest.GroupEntraJira)}
			d.DaysInactive = 180
			d.IncludeNeverActive = true
			d.NeverActiveMinAccountAgeDays = 30
			d.Manual = true
			c, err := e.svc.CreateCleanup(ctx, testClientKey, d)
			if err != nil {
				t.Fatalf("create cleanup: %v", err)
			}
			runID, err := e.svc.StartRun(ctx, testClientKey, c.ID, false, "admin-account")
			if err != nil {
				t.Fatal(err)
			}
			en := e.engine(t, 150*time.Millisecond, nil)
			steps := drive(t, en, runID)
			if steps < 3 {
				t.Errorf("run took %d steps; the budget should split it into several", steps)
			}
			run, err := e.svc.GetRun(ctx, testClientKey, runID)
			if err != nil {
				t.Fatal(err)
			}
			if run.Status != cleanup.RunSucceeded || run.Phase != cleanup.PhaseDone || run.FinishedAt == nil {
				t.Fatalf("run = %s/%s (finished %v, error %q), want succeeded/done", run.Status, run.Phase, run.FinishedAt, run.Error)
			}
			rows := allRows(t, e.svc, runID, cleanup.RunUserFilter{})
			var lines []string
			for _, r := range rows {
				lines = append(lines, rowLine(r))
			}
			// Rows are stored in evaluation order; the parallel cursor
			// chains make that order vary from run to run, the set not.
			slices.Sort(lines)
			checkGolden(t, "remove-product-access", lines)

			// Independent checks against the fake's ground truth.
			truth := map[string]atlassiantest.User{}
			for _, u := range probeUsers(t, o) {
				truth[u.AccountID] = u
			}
			synced := map[string]bool{}
			for _, g := range e.cloud.Groups() {
				synced[g.ID] = g.Synced()
			}
			var wantRemoved []removal
			seen := map[string]bool{}
			for _, r := range rows {
				key := r.AccountID + "/" + r.GroupID + "/" + r.Action
				if seen[key] {
					t.Errorf("row %s appears twice", key)
				}
				seen[key] = true
				u := truth[r.AccountID]
				if r.Outcome == cleanup.OutcomeDone || r.Outcome == cleanup.OutcomeExported {
					if len(u.Roles) > 0 || u.AccountType != cleanup.AccountAtlassian || r.AccountID == exception {
						t.Errorf("protected or non-person account %s acted on: %+v", r.AccountID, r)
					}
				}
				switch r.Action {
				case cleanup.ActionRemoveProductAccess:
					if synced[r.GroupID] {
						t.Errorf("synced group %s removed locally for %s", r.GroupName, r.AccountID)
					}
					if r.Outcome == cleanup.OutcomeDone {
						wantRemoved = append(wantRemoved, removal{r.GroupID, r.AccountID})
					}
				case cleanup.ActionIdPExport:
					if !synced[r.GroupID] || r.IdentityProvider != cleanup.ProviderEntra ||
						(r.Outcome != cleanup.OutcomeExported && !protectedRow(r)) {
						t.Errorf("IdP row wrong: %+v", r)
					}
				}
			}
			got := removals(e.cloud)
			if len(got) != 1 || len(got["removed"]) == 0 {
				t.Fatalf("fake recorded %v, want only successful removals", got)
			}
			sortRemovals(wantRemoved)
			gotRemoved := slices.Clone(got["removed"])
			sortRemovals(gotRemoved)
			if diff := cmp.Diff(wantRemoved, gotRemoved, cmp.AllowUnexported(removal{})); diff != "" {
				t.Errorf("removals (-rows +fake):\n%s", diff)
			}
			for _, rm := range gotRemoved {
				if slices.Contains(e.cloud.Members(rm.group), rm.account) {
					t.Errorf("%s still in %s", rm.account, rm.group)
				}
			}
			want := cleanup.RunCounts{}
			for _, r := range rows {
				want.AddRows(r.Action, r.Outcome, 1)
			}
			if run.Counts.RemovedInAtlassian != want.RemovedInAtlassian || run.Counts.ExportedForIdP != want.ExportedForIdP ||
				run.Counts.Rows != len(rows) || run.Counts.Failed != 0 || run.Counts.Evaluated == 0 {
				t.Errorf("counts = %+v, rows say %+v", run.Counts, want)
			}
			if run.Counts.Protected == 0 || run.Counts.RemovedInAtlassian == 0 || run.Counts.ExportedForIdP == 0 {
				t.Errorf("scenario too weak: %+v", run.Counts)
			}

			// Running the cleanup again removes nothing twice: the users are
			// no longer members.
			run2, err := e.svc.StartRun(ctx, testClientKey, c.ID, false, "admin-account")
			if err != nil {
				t.Fatal(err)
			}
			drive(t, e.engine(t, time.Millisecond, nil), run2)
			if again := removals(e.cloud); len(again["removed"]) != len(got["removed"]) || len(again) != 1 {
				t.Errorf("second run made calls: before %d removals, after %v", len(got["removed"]), again)
			}
		})
	}
}

func probeUsers(t *testing.T, o atlassiantest.Options) []atlassiantest.User {
	t.Helper()
	o.Now = func() time.Time { return testNow }
	c := atlassiantest.New(o)
	defer c.Close()
	return c.Users()
}

func sortRemovals(rs []removal) {
	slices.SortFunc(rs, func(a, b removal) int {
		return strings.Compare(a.group+a.account, b.group+b.account)
	})
}

// TestEngineDryRun plans without changing anything.
func TestEngineDryRun(t *testing.T) {
	ctx := cleanup.AsOperator(context.Background())
	st := openStore(t, "sqlite", filepath.Join(t.TempDir(), "t.db"))
	in := cleanup.SettingsInput{Settings: cleanup.DefaultSettings()}
	in.IdentityProvider.Provider = cleanup.ProviderEntra
	e := newEnv(t, st, atlassiantest.Options{Seed: 3, Users: 120}, in)
	d := cleanup.DefaultDefinition()
	d.Name, d.Action, d.Manual, d.DaysInactive = "dry", cleanup.ActionRemoveProductAccess, true, 30
	d.LicensingGroupIDs = []string{e.groupID(t, atlassiantest.GroupJiraSoftware), e.groupID(t, atlassiantest.GroupEntraJira)}
	c, err := e.svc.CreateCleanup(ctx, testClientKey, d)
	if err != nil {
		t.Fatal(err)
	}
	runID, err := e.svc.StartRun(ctx, testClientKey, c.ID, true, "a")
	if err != nil {
		t.Fatal(err)
	}
	exp := &recordingExporter{}
	drive(t, e.engine(t, time.Millisecond, exp), runID)
	if calls := e.cloud.Calls(); len(calls) != 0 {
		t.Errorf("dry run made %d changes: %+v", len(calls), calls[0])
	}
	if !slices.Equal(exp.runs, []int64{runID}) {
		t.Errorf("exports generated for %v, want [%d]", exp.runs, runID)
	}
	rows := allRows(t, e.svc, runID, cleanup.RunUserFilter{})
	if len(rows) == 0 {
		t.Fatal("dry run planned nothing")
	}
	var skipped, previewed, protected int
	for _, r := range rows {
		switch {
		case protectedRow(r):
			protected++
		case r.Action == cleanup.ActionRemoveProductAccess && r.Outcome == cleanup.OutcomeSkipped && strings.HasPrefix(r.Message, "dry run, nothing changed"):
			skipped++
		case r.Action == cleanup.ActionIdPExport && r.Outcome == cleanup.OutcomeExported && strings.HasPrefix(r.Message, "dry run (the file is a preview)"):
			previewed++
		default:
			t.Errorf("dry-run row %+v", r)
		}
	}
	run, _ := e.svc.GetRun(ctx, testClientKey, runID)
	if run.Status != cleanup.RunSucceeded || skipped == 0 || previewed == 0 || run.Counts.Skipped != skipped+protected ||
		run.Counts.ExportedForIdP != previewed || run.Counts.RemovedInAtlassian != 0 {
		t.Errorf("run %s counts %+v (skipped %d, previewed %d, protected %d)", run.Status, run.Counts, skipped, previewed, protected)
	}
}

// protectedRow reports whether the row is a protected user's skipped row.
func protectedRow(r cleanup.AffectedUser) bool {
	return r.Outcome == cleanup.OutcomeSkipped && strings.HasPrefix(r.Message, "protected")
}

type recordingExporter struct{ runs []int64 }

func (r *recordingExporter) GenerateRunExports(_ context.Context, _ string, runID int64) error {
	r.runs = append(r.runs, runID)
	return nil
}

// TestEngineInDoubtRows: rows marked attempted before a crash are checked
// with one bulk read; a membership already gone is done without a call,
// one still present is removed once.
func TestEngineInDoubtRows(t *testing.T) {
	ctx := cleanup.AsOperator(context.Background())
	st := openStore(t, "sqlite", filepath.Join(t.TempDir(), "t.db"))
	e := newEnv(t, st, atlassiantest.Options{Seed: 5, Users: 150}, cleanup.SettingsInput{})
	d := cleanup.DefaultDefinition()
	d.Name, d.Action, d.Manual, d.DaysInactive = "doubt", cleanup.ActionRemoveProductAccess, true, 30
	d.LicensingGroupIDs = []string{e.groupID(t, atlassiantest.GroupJiraSoftware)}
	c, err := e.svc.CreateCleanup(ctx, testClientKey, d)
	if err != nil {
		t.Fatal(err)
	}
	runID, err := e.svc.StartRun(ctx, testClientKey, c.ID, false, "a")
	if err != nil {
		t.Fatal(err)
	}
	// Evaluate only: step until the phase is apply.
	en := e.engine(t, 300*time.Millisecond, nil)
	for i := 0; ; i++ {
		run, err := e.svc.GetRun(ctx, testClientKey, runID)
		if err != nil {
			t.Fatal(err)
		}
		if run.Phase == cleanup.PhaseApply {
			break
		}
		if i > 1000 || run.Finished() {
			t.Fatalf("run never reached apply: %s/%s", run.Status, run.Phase)
		}
		if _, err := en.Step(ctx, testClientKey, runID, fmt.Sprintf("eval-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	pending, err := e.cs.PendingRows(ctx, testClientKey, runID, []string{cleanup.ActionRemoveProductAccess}, 4)
	if err != nil || len(pending) < 4 {
		t.Fatalf("pending = %d, %v", len(pending), err)
	}
	// A crashed worker marked four rows attempted; it removed the first two
	// (the calls reached Atlassian) and died before recording outcomes.
	owner := "crashed-worker"
	if _, err := e.cs.AcquireRunLease(ctx, testClientKey, runID, owner, testNow.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, p := range pending {
		ids = append(ids, p.ID)
	}
	if err := e.cs.MarkAttempted(ctx, testClientKey, runID, owner, ids, testNow); err != nil {
		t.Fatal(err)
	}
	g := pending[0].GroupID
	for _, p := range pending[:2] {
		site, _ := e.conn.Site(ctx, testClientKey)
		if err := site.RemoveGroupMember(ctx, g, p.AccountID); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.cs.ReleaseRunLease(ctx, testClientKey, runID, owner); err != nil {
		t.Fatal(err)
	}
	drive(t, en, runID)

	perAccount := map[string]int{}
	for _, call := range e.cloud.Calls() {
		if call.Result != "removed" {
			t.Errorf("unexpected call %+v", call)
		}
		perAccount[call.AccountID]++
	}
	for acc, n := range perAccount {
		if n != 1 {
			t.Errorf("%s removed %d times", acc, n)
		}
	}
	rows := allRows(t, e.svc, runID, cleanup.RunUserFilter{})
	byID := map[int64]cleanup.AffectedUser{}
	acted := 0
	for _, r := range rows {
		byID[r.ID] = r
		if protectedRow(r) {
			continue
		}
		acted++
		if r.Outcome != cleanup.OutcomeDone {
			t.Errorf("row %d outcome %s", r.ID, r.Outcome)
		}
	}
	for i, p := range pending {
		r := byID[p.ID]
		verified := strings.HasPrefix(r.Message, "verified after a restart")
		if verified != (i < 2) {
			t.Errorf("row %d (%d): message %q, want verified=%v", i, p.ID, r.Message, i < 2)
		}
	}
	if len(perAccount) != acted {
		t.Errorf("%d accounts removed, %d rows acted on", len(perAccount), acted)
	}
}

// TestEngineUnavailableAndFailures: a rate-limited removal pauses the run
// (retry later, nothing failed, progress kept); a refused removal is a
// failed row with its message and the run ends partially failed.
func TestEngineUnavailableAndFailures(t *testing.T) {
	ctx := cleanup.AsOperator(context.Background())
	st := openStore(t, "sqlite", filepath.Join(t.TempDir(), "t.db"))
	e := newEnv(t, st, atlassiantest.Options{Seed: 5, Users: 150}, cleanup.SettingsInput{})
	d := cleanup.DefaultDefinition()
	d.Name, d.Action, d.Manual, d.DaysInactive = "faults", cleanup.ActionRemoveProductAccess, true, 30
	d.LicensingGroupIDs = []string{e.groupID(t, atlassiantest.GroupJiraSoftware)}
	c, err := e.svc.CreateCleanup(ctx, testClientKey, d)
	if err != nil {
		t.Fatal(err)
	}
	runID, err := e.svc.StartRun(ctx, testClientKey, c.ID, false, "a")
	if err != nil {
		t.Fatal(err)
	}
	// One action at a time: a request cancelled in flight could otherwise
	// reach the fake after the next fault is injected and consume it.
	en, err := cleanup.NewEngine(cleanup.EngineConfig{Store: e.cs, Connector: e.conn, Concurrency: 1, ApplyBatch: 7,
		Now: (&tickingClock{t: testNow.Add(time.Minute), step: time.Millisecond}).Now})
	if err != nil {
		t.Fatal(err)
	}
	e.cloud.Inject(atlassiantest.Fault{Method: "DELETE", Path: "/rest/api/3/group/user", Status: 429, RetryAfter: "600"})
	var res cleanup.StepResult
	for i := 0; res.RetryAfter == 0; i++ {
		if i > 100 {
			t.Fatal("the rate limit never paused the run")
		}
		if res, err = en.Step(ctx, testClientKey, runID, fmt.Sprintf("s-%d", i)); err != nil {
			t.Fatal(err)
		}
		if res.Done {
			t.Fatal("run finished despite the rate limit")
		}
	}
	if res.RetryAfter < 5*time.Minute {
		t.Errorf("retry after %s, want the server's 10 minutes", res.RetryAfter)
	}
	run, _ := e.svc.GetRun(ctx, testClientKey, runID)
	if run.Status != cleanup.RunRunning || run.Phase != cleanup.PhaseApply || run.Counts.Failed != 0 {
		t.Fatalf("paused run = %s/%s %+v", run.Status, run.Phase, run.Counts)
	}

	e.cloud.Inject(atlassiantest.Fault{Method: "DELETE", Path: "/rest/api/3/group/user", Status: 403})
	drive(t, en, runID)
	run, _ = e.svc.GetRun(ctx, testClientKey, runID)
	if run.Status != cleanup.RunPartiallyFailed || run.Counts.Failed != 1 || run.Counts.RemovedInAtlassian == 0 {
		t.Fatalf("run = %s %+v, want partially failed with one failed row", run.Status, run.Counts)
	}
	failed := allRows(t, e.svc, runID, cleanup.RunUserFilter{Outcome: cleanup.OutcomeFailed})
	if len(failed) != 1 || failed[0].Message == "" || strings.Contains(failed[0].Message, testAPIKey) {
		t.Errorf("failed rows = %+v", failed)
	}
	// Every other planned removal happened exactly once.
	per := map[string]int{}
	for _, call := range e.cloud.Calls() {
		if call.Result == "removed" {
			per[call.AccountID]++
		}
	}
	for acc, n := range per {
		if n != 1 {
			t.Errorf("%s removed %d times", acc, n)
		}
	}
	if len(per) != run.Counts.RemovedInAtlassian {
		t.Errorf("fake removed %d, run counts %d", len(per), run.Counts.RemovedInAtlassian)
	}
}

// TestEngineReroutesRefusedSyncedGroup: an admin override marks an
// IdP-synced group as Atlassian-managed; Atlassian refuses the removals,
// and the rows are routed to the identity-provider export with the reason
// instead of failing (and never pretend to be removed).
func TestEngineReroutesRefusedSyncedGroup(t *testing.T) {
	ctx := cleanup.AsOperator(context.Background())
	st := openStore(t, "sqlite", filepath.Join(t.TempDir(), "t.db"))
	e := newEnv(t, st, atlassiantest.Options{Seed: 5, Users: 150}, cleanup.SettingsInput{})
	entraJira := e.groupID(t, atlassiantest.GroupEntraJira)
	in := cleanup.SettingsInput{Settings: cleanup.DefaultSettings()}
	in.OrgID = e.cloud.OrgID()
	in.IdentityProvider.Provider = cleanup.ProviderEntra
	in.IdentityProvider.GroupOverrides = map[string]bool{entraJira: false}
	if _, err := e.svc.SaveSettings(ctx, testClientKey, in); err != nil {
		t.Fatal(err)
	}
	d := cleanup.DefaultDefinition()
	d.Name, d.Action, d.Manual, d.DaysInactive = "override", cleanup.ActionRemoveProductAccess, true, 30
	d.LicensingGroupIDs = []string{entraJira}
	c, err := e.svc.CreateCleanup(ctx, testClientKey, d)
	if err != nil {
		t.Fatal(err)
	}
	runID, err := e.svc.StartRun(ctx, testClientKey, c.ID, false, "a")
	if err != nil {
		t.Fatal(err)
	}
	drive(t, e.engine(t, time.Millisecond, nil), runID)
	rows := allRows(t, e.svc, runID, cleanup.RunUserFilter{})
	acted := 0
	for _, r := range rows {
		if protectedRow(r) {
			continue
		}
		acted++
		if r.Action != cleanup.ActionIdPExport || r.Outcome != cleanup.OutcomeExported || !r.GroupSynced ||
			r.IdentityProvider != cleanup.ProviderEntra || !strings.Contains(r.Message, "refused") {
			t.Errorf("row %+v, want rerouted to the Entra export", r)
		}
	}
	run, _ := e.svc.GetRun(ctx, testClientKey, runID)
	if acted == 0 || run.Status != cleanup.RunSucceeded || run.Counts.RemovedInAtlassian != 0 || run.Counts.ExportedForIdP != acted {
		t.Errorf("run %s %+v (%d rows acted on)", run.Status, run.Counts, acted)
	}
	for _, call := range e.cloud.Calls() {
		if call.Result != "externally-managed" {
			t.Errorf("call %+v", call)
		}
	}
}

// TestEngineDeactivate deactivates managed, invited accounts through the
// User management API; unmanaged and IdP-synced accounts are manual rows.
func TestEngineDeactivate(t *testing.T) {
	ctx := cleanup.AsOperator(context.Background())
	st := openStore(t, "sqlite", filepath.Join(t.TempDir(), "t.db"))
	e := newEnv(t, st, atlassiantest.Options{Seed: 8, Users: 160}, cleanup.SettingsInput{})
	d := cleanup.DefaultDefinition()
	d.Name, d.Action, d.Manual, d.DaysInactive = "leavers", cleanup.ActionDeactivate, true, 60
	d.LicensingGroupIDs = []string{e.groupID(t, atlassiantest.GroupJiraSoftware), e.groupID(t, atlassiantest.GroupJiraServiceMgmt)}
	c, err := e.svc.CreateCleanup(ctx, testClientKey, d)
	if err != nil {
		t.Fatal(err)
	}
	runID, err := e.svc.StartRun(ctx, testClientKey, c.ID, false, "a")
	if err != nil {
		t.Fatal(err)
	}
	drive(t, e.engine(t, 5*time.Millisecond, nil), runID)
	truth := map[string]atlassiantest.User{}
	for _, u := range e.cloud.Users() {
		truth[u.AccountID] = u
	}
	done := map[string]bool{}
	manual := 0
	for _, r := range allRows(t, e.svc, runID, cleanup.RunUserFilter{}) {
		u := truth[r.AccountID]
		switch {
		case protectedRow(r):
		case r.Outcome == cleanup.OutcomeDone:
			if !u.Managed || u.ManagementSource == cleanup.SourceSynced || u.Status != cleanup.StatusDeactivated {
				t.Errorf("deactivated %+v (now %s)", r, u.Status)
			}
			done[r.AccountID] = true
		case r.Outcome == cleanup.OutcomeManual:
			manual++
			if u.Managed && u.ManagementSource != cleanup.SourceSynced {
				t.Errorf("managed invited account left manual: %+v", r)
			}
		default:
			t.Errorf("row %+v", r)
		}
	}
	calls := map[string]int{}
	for _, call := range e.cloud.Calls() {
		if call.Result != "deactivated" {
			t.Errorf("call %+v", call)
		}
		calls[call.AccountID]++
	}
	if len(done) == 0 || manual == 0 || len(calls) != len(done) {
		t.Errorf("%d deactivated rows, %d manual, %d accounts deactivated in the fake", len(done), manual, len(calls))
	}
	for acc, n := range calls {
		if n != 1 || !done[acc] {
			t.Errorf("%s deactivated %d times (row done: %v)", acc, n, done[acc])
		}
	}
}

// TestEngineEntraDirect removes rows of an IdP-synced group directly in
// Microsoft Entra ID (the fake Graph): each member once, in batches; users
// without a findable e-mail are manual rows.
func secretOf(s string) *cleanup.Secret { v := cleanup.Secret(s); return &v }
