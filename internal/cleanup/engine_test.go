package cleanup_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/cleanup/cleanuptest"
)

// The engine's phases, each unit-tested on the in-memory fakes of
// cleanuptest: no database, no HTTP. internal/jobs runs the same engine
// end to end on SQLite and PostgreSQL against the fake Atlassian cloud.

const (
	tenant  = "tenant-a"
	gJira   = "g-jira"  // jira-software-users, Atlassian-managed
	gSynced = "g-entra" // synced from Entra ID (detected)
	gOther  = "g-other" // another synced group
)

var engineNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func user(id string, daysInactive int, groups ...string) cleanup.OrgUser {
	return cleanup.OrgUser{
		AccountID: id, Name: id, Email: id + "@example.com", AccountType: cleanup.AccountAtlassian,
		Status: cleanup.StatusActive, Managed: true, ManagementSource: cleanup.SourceInvited,
		AddedToOrg: engineNow.AddDate(-3, 0, 0), GroupIDs: groups,
		LastActive: map[string]time.Time{cleanup.ProductJiraSoftware: engineNow.AddDate(0, 0, -daysInactive)},
	}
}

// world is a tenant's directory with five users of the Jira group (two of
// them also in the synced group), its settings and the run store.
type world struct {
	dir      *cleanuptest.Directory
	idp      *cleanuptest.IdentityProvider
	store    *cleanuptest.RunStore
	clock    *clock
	exporter *recordingExporter
	settings cleanup.Settings
}

func newWorld() *world {
	users := []cleanup.OrgUser{
		user("u1-old", 100, gJira),
		user("u2-active", 1, gJira),
		user("u3-older", 200, gJira, gSynced),
		user("u4-old", 60, gJira, gSynced),
		user("u5-admin", 300, gJira),
	}
	users[4].Roles = []string{"atlassian/org-admin"}
	groups := []cleanup.OrgGroup{
		{ID: gJira, Name: "jira-software-users", ManagedBy: "admins", Modifiable: true},
		{ID: gSynced, Name: "Sales", ExternalSynced: true},
		{ID: gOther, Name: "Support", ExternalSynced: true},
	}
	products := []cleanup.ProductAccess{{Key: cleanup.ProductJiraSoftware, Name: "Jira Software", GroupIDs: []string{gJira, gSynced, gOther}}}
	s := cleanup.DefaultSettings()
	s.OrgID, s.APIKeySet = "org-1", true
	s.IdentityProvider.Provider = cleanup.ProviderEntra
	c := &clock{t: engineNow}
	return &world{
		dir: cleanuptest.NewDirectory(users, groups, products), idp: cleanuptest.NewIdentityProvider(),
		store: cleanuptest.NewRunStore(c.Now), clock: c, exporter: &recordingExporter{}, settings: s,
	}
}

func (w *world) engine(t *testing.T) *cleanup.Engine {
	t.Helper()
	en, err := cleanup.NewEngine(cleanup.EngineConfig{
		Store: w.store, Connector: w.dir.Connector(), Exporter: w.exporter, Now: w.clock.Now,
		StepBudget: time.Hour, LeaseFor: time.Minute, ApplyBatch: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	return en
}

// groups classifies the world's groups as a run's snapshot does.
func (w *world) groups(t *testing.T) []cleanup.GroupInfo {
	t.Helper()
	org, _ := w.dir.Connector().Org(context.Background(), tenant)
	site, _ := w.dir.Connector().Site(context.Background(), tenant)
	og, _ := org.Groups(context.Background())
	sg, _ := site.Groups(context.Background())
	products, _ := site.Products(context.Background())
	return cleanup.ClassifyGroups(products, og, sg, w.settings)
}

// applyRun stores a running run at the apply phase and its pending rows.
func (w *world) applyRun(t *testing.T, dryRun bool, attempted *time.Time, rows ...cleanup.AffectedUser) int64 {
	t.Helper()
	started := engineNow
	id := w.store.AddRun(cleanup.Run{ClientKey: tenant, CleanupName: "c", Definition: cleanup.DefaultDefinition(),
		Settings: w.settings, Groups: w.groups(t), DryRun: dryRun, Status: cleanup.RunRunning,
		Phase: cleanup.PhaseApply, StartedAt: &started})
	w.store.AddRows(id, attempted, rows...)
	return id
}

func pending(account, group, action string) cleanup.AffectedUser {
	return cleanup.AffectedUser{AccountID: account, Email: account + "@example.com", GroupID: group, GroupName: group,
		Action: action, Outcome: cleanup.OutcomePending, IdentityProvider: cleanup.ProviderEntra}
}

// step runs one step and fails the test on an error.
func step(t *testing.T, en *cleanup.Engine, runID int64, owner string) cleanup.StepResult {
	t.Helper()
	res, err := en.Step(context.Background(), tenant, runID, owner)
	if err != nil {
		t.Fatalf("step %s: %v", owner, err)
	}
	return res
}

// outcomes returns the outcomes the run's commits settled, in order.
func outcomes(s *cleanuptest.RunStore) []string {
	var out []string
	for _, c := range s.Commits() {
		for _, o := range c.Outcomes {
			out = append(out, fmt.Sprintf("%d %s: %s", o.ID, o.Outcome, o.Message))
		}
	}
	return out
}

// recordingExporter records the runs it exported; err fails them.
type recordingExporter struct {
	mu   sync.Mutex
	runs []int64
	err  error
}

func (r *recordingExporter) GenerateRunExports(_ context.Context, _ string, runID int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs = append(r.runs, runID)
	return r.err
}

// TestEngineEvaluatePhase: the groups are classified once and snapshotted,
// each page of the user search is committed with its rows (a dry run's
// settled already), counts and the next cursor, and the last page moves
// the run to apply.
func TestEngineEvaluatePhase(t *testing.T) {
	w := newWorld()
	d := cleanup.DefaultDefinition()
	d.Name, d.Action, d.Manual, d.DaysInactive = "Inactive Jira", cleanup.ActionRemoveProductAccess, true, 30
	d.LicensingGroupIDs = []string{gJira}
	id := w.store.AddRun(cleanup.Run{ClientKey: tenant, CleanupName: d.Name, Definition: d, Settings: w.settings, DryRun: true})
	if res := step(t, w.engine(t), id, "o1"); !res.Done {
		t.Fatalf("step = %+v, want the dry run done", res)
	}
	// Two chains (managed, unmanaged; every user here is managed): each
	// commit stores both chains' cursors, the managed chain's only moving
	// forward (pages "", "2", "4", done), and only the last commit has both
	// done and moves to apply. Pages that arrive together are committed
	// together (at most one per chain), so how many commits there are
	// depends on scheduling: at least two for the four pages.
	var evaluation []cleanup.Commit
	for _, c := range w.store.Commits() {
		if c.Cursor != nil {
			evaluation = append(evaluation, c)
		}
	}
	var cursors []string
	progress := -1
	for i, c := range evaluation {
		cursors = append(cursors, *c.Cursor+"|"+c.Phase)
		var st struct {
			Chains []struct {
				Claim, Cursor string
				Done          bool
			}
		}
		if err := json.Unmarshal([]byte(strings.TrimPrefix(*c.Cursor, "chains/v1:")), &st); err != nil || len(st.Chains) != 2 {
			t.Fatalf("commit %d: cursor %q: %v", i, *c.Cursor, err)
		}
		managed := st.Chains[0]
		p := slices.Index([]string{"", "2", "4"}, managed.Cursor)
		if managed.Done {
			p = 3
		}
		if managed.Claim != cleanup.ClaimManaged || p < 0 || p < progress {
			t.Errorf("commit %d: managed chain %+v after progress %d", i, managed, progress)
		}
		progress = p
		last := i == len(evaluation)-1
		if both := managed.Done && st.Chains[1].Done; both != last || (c.Phase == cleanup.PhaseApply) != last {
			t.Errorf("commit %d of %d: both chains done %v, phase %q", i, len(evaluation), both, c.Phase)
		}
	}
	if len(cursors) < 2 || progress != 3 {
		t.Errorf("evaluation commits (cursor|phase):\n%s", strings.Join(cursors, "\n"))
	}
	// A dry run's rows are committed settled (dryrun.go): the apply
	// phase has nothing left to update.
	for _, c := range w.store.Commits() {
		for _, r := range c.Rows {
			if r.Outcome == cleanup.OutcomePending {
				t.Errorf("dry run committed %s %s pending", r.AccountID, r.Action)
			}
		}
	}
	run, _ := w.store.Run(id)
	if run.StartedAt == nil || len(run.Groups) != 3 || run.Counts.Evaluated != 5 {
		t.Errorf("run %+v: want started, three groups snapshotted, five users evaluated", run)
	}
	want := []string{
		"u1-old g-jira remove-product-access skipped: dry run, nothing changed",
		"u3-older g-jira remove-product-access skipped: dry run, nothing changed",
		"u4-old g-jira remove-product-access skipped: dry run, nothing changed",
		"u5-admin g-jira remove-product-access skipped: protected: site or organization admin",
	}
	if diff := cmp.Diff(want, w.store.Messages(id)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

// TestEngineToggleDoesNotOverrideAtlassian: with "Is user provisioning
// enabled?" on for Jira Software, the members of the group Atlassian
// reports as managed in Atlassian are still removed in Atlassian, and those
// of the synced group go to the identity provider.
func TestEngineToggleDoesNotOverrideAtlassian(t *testing.T) {
	w := newWorld()
	w.settings.IdentityProvider.ProvisioningEnabled = map[string]bool{cleanup.ProductJiraSoftware: true}
	d := cleanup.DefaultDefinition()
	d.Name, d.Action, d.Manual, d.DaysInactive = "Inactive Jira", cleanup.ActionRemoveProductAccess, true, 30
	d.LicensingGroupIDs = []string{gJira, gSynced}
	id := w.store.AddRun(cleanup.Run{ClientKey: tenant, CleanupName: d.Name, Definition: d, Settings: w.settings})
	for i := 0; ; i++ {
		if res := step(t, w.engine(t), id, fmt.Sprintf("o%d", i)); res.Done {
			break
		}
		if i > 10 {
			t.Fatal("run did not finish")
		}
	}
	want := []string{
		"u1-old g-jira remove-product-access done: removed from the group",
		`u3-older g-entra idp-export exported: group synced from Microsoft Entra ID: exported to the bulk-remove file for its group "Sales"`,
		"u3-older g-jira remove-product-access done: removed from the group",
		`u4-old g-entra idp-export exported: group synced from Microsoft Entra ID: exported to the bulk-remove file for its group "Sales"`,
		"u4-old g-jira remove-product-access done: removed from the group",
		"u5-admin g-jira remove-product-access skipped: protected: site or organization admin",
	}
	if diff := cmp.Diff(want, w.store.Messages(id)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	want = []string{"RemoveGroupMember u1-old g-jira", "RemoveGroupMember u3-older g-jira", "RemoveGroupMember u4-old g-jira"}
	calls := w.dir.Calls()
	slices.Sort(calls)
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("removals in Atlassian (-want +got):\n%s", diff)
	}
}

// TestEngineApplyPhase: pending rows are marked attempted, acted on and
// settled in row order; rows for the identity-provider file are exported
// without a call; the run finishes with its exports.
func TestEngineApplyPhase(t *testing.T) {
	w := newWorld()
	id := w.applyRun(t, false, nil,
		pending("u1-old", gJira, cleanup.ActionRemoveProductAccess),
		pending("u3-older", gJira, cleanup.ActionRemoveProductAccess),
		pending("u4-old", "", cleanup.ActionDeactivate),
		pending("u3-older", gSynced, cleanup.ActionIdPExport),
	)
	if res := step(t, w.engine(t), id, "o1"); !res.Done {
		t.Fatalf("step = %+v, want done", res)
	}
	want := []string{
		"u1-old g-jira remove-product-access done: removed from the group",
		"u3-older g-jira remove-product-access done: removed from the group",
		"u4-old  deactivate done: deactivated",
		"u3-older g-entra idp-export exported",
	}
	if diff := cmp.Diff(want, w.store.Messages(id)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if got := outcomes(w.store); !slices.IsSortedFunc(got, func(a, b string) int { return strings.Compare(a, b) }) {
		t.Errorf("outcomes not in row order: %q", got)
	}
	if u, _ := w.dir.User("u4-old"); u.Status != cleanup.StatusDeactivated {
		t.Errorf("u4-old is %s, want deactivated", u.Status)
	}
	if u, _ := w.dir.User("u1-old"); slices.Contains(u.GroupIDs, gJira) {
		t.Error("u1-old is still in the Jira group")
	}
	run, _ := w.store.Run(id)
	if run.Status != cleanup.RunSucceeded || run.Counts.RemovedInAtlassian != 2 || run.Counts.Deactivated != 1 || run.Counts.ExportedForIdP != 1 {
		t.Errorf("run %s %+v", run.Status, run.Counts)
	}
	if !slices.Equal(w.exporter.runs, []int64{id}) {
		t.Errorf("exports generated for %v, want [%d]", w.exporter.runs, id)
	}
}

// TestEngineApplyDryRun: nothing changes; the identity-provider rows are
// exported as a preview and every other action is skipped.
func TestEngineApplyDryRun(t *testing.T) {
	w := newWorld()
	id := w.applyRun(t, true, nil,
		pending("u1-old", gJira, cleanup.ActionRemoveProductAccess),
		pending("u3-older", gSynced, cleanup.ActionIdPExport),
	)
	step(t, w.engine(t), id, "o1")
	want := []string{
		"u1-old g-jira remove-product-access skipped: dry run, nothing changed",
		"u3-older g-entra idp-export exported: dry run (the file is a preview)",
	}
	if diff := cmp.Diff(want, w.store.Messages(id)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if calls := w.dir.Calls(); len(calls) != 0 {
		t.Errorf("a dry run changed the directory: %q", calls)
	}
}

// TestEngineApplyInDoubt: rows an earlier attempt may have acted on are
// checked with one user search first; only those still to do are acted on.
func TestEngineApplyInDoubt(t *testing.T) {
	w := newWorld()
	site, _ := w.dir.Connector().Site(context.Background(), tenant)
	if err := site.RemoveGroupMember(context.Background(), gJira, "u1-old"); err != nil { // the earlier attempt
		t.Fatal(err)
	}
	attempted := engineNow.Add(-time.Minute)
	id := w.applyRun(t, false, &attempted,
		pending("u1-old", gJira, cleanup.ActionRemoveProductAccess),
		pending("u3-older", gJira, cleanup.ActionRemoveProductAccess),
	)
	step(t, w.engine(t), id, "o1")
	want := []string{
		"u1-old g-jira remove-product-access done: verified after a restart: already removed from the group",
		"u3-older g-jira remove-product-access done: removed from the group",
	}
	if diff := cmp.Diff(want, w.store.Messages(id)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"RemoveGroupMember u1-old g-jira", "RemoveGroupMember u3-older g-jira"}, w.dir.Calls()); diff != "" {
		t.Errorf("calls (-want +got): u1-old must not be removed twice\n%s", diff)
	}
}

// TestEngineApplyReroutesExternallyManaged: a product that refuses because
// an identity provider owns the group sends the row to that group's
// bulk-remove file.
func TestEngineApplyReroutesExternallyManaged(t *testing.T) {
	w := newWorld()
	w.dir.ManageExternally(gJira)
	id := w.applyRun(t, false, nil, pending("u1-old", gJira, cleanup.ActionRemoveProductAccess))
	step(t, w.engine(t), id, "o1")
	want := []string{"u1-old g-jira idp-export exported: the group is managed by Microsoft Entra ID (Atlassian refused the removal): exported to its bulk-remove file"}
	if diff := cmp.Diff(want, w.store.Messages(id)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

// TestEngineApplyPausesWhileUnavailable: an unavailable remote pauses the
// run (the lease is held until the retry time, the rows stay pending and
// attempted); the next step verifies before acting again.
func TestEngineApplyPausesWhileUnavailable(t *testing.T) {
	w := newWorld()
	id := w.applyRun(t, false, nil, pending("u1-old", gJira, cleanup.ActionRemoveProductAccess))
	w.dir.Fail("RemoveGroupMember", &cleanup.Error{Kind: cleanup.KindUnavailable, Message: "rate limited", RetryAfter: 7 * time.Second})
	en := w.engine(t)
	if res := step(t, en, id, "o1"); res.RetryAfter != 7*time.Second || res.Done {
		t.Fatalf("step = %+v, want a retry after 7s", res)
	}
	if owner, until := w.store.Lease(id); owner != "o1" || !until.Equal(engineNow.Add(7*time.Second)) {
		t.Errorf("lease %s until %v, want o1 until the retry", owner, until)
	}
	if res := step(t, en, id, "o2"); res.RetryAfter <= 0 {
		t.Errorf("another worker during the pause: %+v, want to wait for the lease", res)
	}
	w.dir.Fail("RemoveGroupMember", nil)
	w.clock.Add(8 * time.Second)
	if res := step(t, en, id, "o3"); !res.Done {
		t.Fatalf("after the pause: %+v", res)
	}
	if diff := cmp.Diff([]string{"u1-old g-jira remove-product-access done: removed from the group"}, w.store.Messages(id)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

// idpWorld adds Entra ID: Sales (gSynced) with u3 and u4 as members, a
// refused removal, and a dynamic Support group (gOther).
func idpWorld(t *testing.T) *world {
	w := newWorld()
	w.dir.IdP = w.idp
	w.idp.AddGroup(cleanup.IdPGroup{ID: "oid-sales", Name: "Sales"})
	w.idp.AddGroup(cleanup.IdPGroup{ID: "oid-support", Name: "Support", Dynamic: true})
	w.idp.AddUser(cleanup.IdPUser{ObjectID: "oid-u3", UPN: "u3-older@example.com"}, "oid-sales")
	w.idp.AddUser(cleanup.IdPUser{ObjectID: "oid-u4", UPN: "u4-old@example.com"}, "oid-sales")
	w.idp.AddUser(cleanup.IdPUser{ObjectID: "oid-u1", UPN: "u1-old@example.com"})
	w.idp.AddUser(cleanup.IdPUser{ObjectID: "oid-u6", UPN: "u6@example.com"}, "oid-sales")
	w.idp.Refuse("oid-u6", "Insufficient privileges")
	return w
}

// TestEngineRemovesInIdP: rows for direct removal, group by group: a
// member is removed, a non-member is done, a refused removal and an
// unknown group go to the bulk-remove file, a dynamic group and unknown
// users are manual; the outcomes come in the same order every time.
func TestEngineRemovesInIdP(t *testing.T) {
	var first []string
	for i := range 5 {
		w := idpWorld(t)
		noEmail := pending("u7-hidden", gSynced, cleanup.ActionIdPRemove)
		noEmail.Email = ""
		id := w.applyRun(t, false, nil,
			pending("u6", gSynced, cleanup.ActionIdPRemove),
			pending("u9-unknown", gSynced, cleanup.ActionIdPRemove),
			pending("u3-older", gSynced, cleanup.ActionIdPRemove),
			noEmail,
			pending("u1-old", gSynced, cleanup.ActionIdPRemove),
			pending("u4-old", gOther, cleanup.ActionIdPRemove),
			pending("u4-old", "g-gone", cleanup.ActionIdPRemove),
		)
		step(t, w.engine(t), id, "o1")
		got := outcomes(w.store)
		if i > 0 {
			if diff := cmp.Diff(first, got); diff != "" {
				t.Fatalf("outcome order changed between runs (-first +now):\n%s", diff)
			}
			continue
		}
		first = got
		// Three rows per batch (ApplyBatch): per batch and group, the
		// rows resolution settles first, then the removals in row order.
		want := []string{
			"2 manual: no user with this e-mail address or user name in Microsoft Entra ID: remove them there by hand",
			"1 exported: direct removal failed (Insufficient privileges): exported to the group's bulk-remove file",
			"3 done: removed in the identity provider",
			"4 manual: the e-mail address is not visible, so the user cannot be found in Microsoft Entra ID: remove them there by hand",
			"5 done: already not a member in the identity provider",
			"6 manual: the group has dynamic membership: change its membership rule instead",
			"7 exported: identity provider group: no group g-gone: exported to the group's bulk-remove file",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("outcomes (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"oid-sales oid-u3"}, w.idp.Removed()); diff != "" {
			t.Errorf("removals (-want +got):\n%s", diff)
		}
		run, _ := w.store.Run(id)
		if run.Counts.RemovedInIdP != 2 || run.Counts.Manual != 3 || run.Counts.ExportedForIdP != 2 {
			t.Errorf("counts %+v", run.Counts)
		}
	}
}

// TestEngineRemovesInIdPLeftoversInRowOrder: users the identity provider
// reported nothing for go to the bulk-remove file in row order, every
// time (they were once emitted in map order).
func TestEngineRemovesInIdPLeftoversInRowOrder(t *testing.T) {
	var want []string
	for i := 1; i <= 6; i++ {
		want = append(want, fmt.Sprintf("%d exported: the identity provider reported no result: exported to the group's bulk-remove file", i))
	}
	for range 10 {
		w := idpWorld(t)
		var rows []cleanup.AffectedUser
		for i := 1; i <= 6; i++ {
			oid := fmt.Sprintf("oid-s%d", i)
			w.idp.AddUser(cleanup.IdPUser{ObjectID: oid, UPN: fmt.Sprintf("s%d@example.com", i)}, "oid-sales")
			w.idp.Silence(oid)
			rows = append(rows, pending(fmt.Sprintf("s%d", i), gSynced, cleanup.ActionIdPRemove))
		}
		id := w.applyRun(t, false, nil, rows...)
		en, err := cleanup.NewEngine(cleanup.EngineConfig{Store: w.store, Connector: w.dir.Connector(), Now: w.clock.Now,
			StepBudget: time.Hour, ApplyBatch: 10})
		if err != nil {
			t.Fatal(err)
		}
		step(t, en, id, "o1")
		if diff := cmp.Diff(want, outcomes(w.store)); diff != "" {
			t.Fatalf("outcomes (-want +got):\n%s", diff)
		}
	}
}

// TestEngineRemovesInIdPRecheck: after a restart, rows that may have been
// removed are checked against one listing of the group; nothing is
// removed twice.
func TestEngineRemovesInIdPRecheck(t *testing.T) {
	w := idpWorld(t)
	attempted := engineNow.Add(-time.Minute)
	id := w.applyRun(t, false, &attempted,
		pending("u1-old", gSynced, cleanup.ActionIdPRemove), // not a member any more
		pending("u3-older", gSynced, cleanup.ActionIdPRemove),
	)
	step(t, w.engine(t), id, "o1")
	want := []string{
		"1 done: verified after a restart: no longer a member in the identity provider",
		"2 done: removed in the identity provider",
	}
	if diff := cmp.Diff(want, outcomes(w.store)); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
}

// TestEngineRemovesInIdPRecheckFailsOneOutcomePerRow: when listing the
// group's members fails after a restart, the rows still to remove go to
// the bulk-remove file, and the rows resolution already settled as manual
// (no visible e-mail, unknown user) keep that one outcome: every row gets
// exactly one.
func TestEngineRemovesInIdPRecheckFailsOneOutcomePerRow(t *testing.T) {
	w := idpWorld(t)
	w.idp.Fail("MemberIDs", &cleanup.Error{Kind: cleanup.KindForbidden, Message: "listing members is not allowed"})
	attempted := engineNow.Add(-time.Minute)
	noEmail := pending("u7-hidden", gSynced, cleanup.ActionIdPRemove)
	noEmail.Email = ""
	id := w.applyRun(t, false, &attempted,
		pending("u3-older", gSynced, cleanup.ActionIdPRemove),
		noEmail,
		pending("u9-unknown", gSynced, cleanup.ActionIdPRemove),
	)
	step(t, w.engine(t), id, "o1")
	want := []string{
		"2 manual: the e-mail address is not visible, so the user cannot be found in Microsoft Entra ID: remove them there by hand",
		"3 manual: no user with this e-mail address or user name in Microsoft Entra ID: remove them there by hand",
		"1 exported: list the group's members: listing members is not allowed: exported to the group's bulk-remove file",
	}
	if diff := cmp.Diff(want, outcomes(w.store)); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	if removed := w.idp.Removed(); len(removed) != 0 {
		t.Errorf("removed %v without knowing whether they were still members", removed)
	}
	for _, r := range w.store.Rows(id) {
		if r.Outcome == cleanup.OutcomePending {
			t.Errorf("row %d still pending", r.ID)
		}
	}
}

// TestEngineChecksGroupMappingsAtStart: with a Microsoft Entra ID
// connection, a run checks each synced group's mapping when it starts. A
// group found is exported (its object id is in the snapshot for the
// bundle's README); a mapping that finds no group makes its users "needs
// manual action" with the reason, and no file is written for them.
func TestEngineChecksGroupMappingsAtStart(t *testing.T) {
	for _, tc := range []struct {
		name, mapping, wantID string
		want                  []string
	}{
		{"found", "", "oid-sales", []string{
			`u3-older g-entra idp-export exported: dry run (the file is a preview): group synced from Microsoft Entra ID: exported to the bulk-remove file for its group "Sales"`,
			`u4-old g-entra idp-export exported: dry run (the file is a preview): group synced from Microsoft Entra ID: exported to the bulk-remove file for its group "Sales"`,
		}},
		{"not found", "Sales EMEA", "", []string{
			`u3-older g-entra idp-export manual: no Microsoft Entra ID group matches the group mapping "Sales EMEA": check the mapping in Settings, or remove the user there by hand`,
			`u4-old g-entra idp-export manual: no Microsoft Entra ID group matches the group mapping "Sales EMEA": check the mapping in Settings, or remove the user there by hand`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := idpWorld(t)
			w.settings.IdentityProvider.Entra = cleanup.EntraConnection{TenantID: "t", ClientID: "c", SecretSet: true}
			if tc.mapping != "" {
				w.settings.IdentityProvider.GroupMappings = map[string]string{gSynced: tc.mapping}
			}
			d := cleanup.DefaultDefinition()
			d.Name, d.Action, d.Manual, d.DaysInactive = "Entra", cleanup.ActionEntra, true, 30
			d.LicensingGroupIDs = []string{gSynced, gOther}
			id := w.store.AddRun(cleanup.Run{ClientKey: tenant, CleanupName: d.Name, Definition: d, Settings: w.settings, DryRun: true})
			if res := step(t, w.engine(t), id, "o1"); !res.Done {
				t.Fatalf("step = %+v, want the dry run done", res)
			}
			if diff := cmp.Diff(tc.want, w.store.Messages(id)); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			run, _ := w.store.Run(id)
			for _, g := range run.Groups {
				switch g.ID {
				case gSynced:
					if g.IdPGroupID != tc.wantID {
						t.Errorf("snapshot of %s: Entra object id %q, want %q", g.Name, g.IdPGroupID, tc.wantID)
					}
				case gOther: // Support is dynamic in Entra ID: its members cannot be removed there
					if g.Removal != cleanup.RemovalIdPUnmapped || !strings.Contains(g.RemovalNote, "dynamic membership") {
						t.Errorf("snapshot of %s: %s %q, want unmapped (dynamic)", g.Name, g.Removal, g.RemovalNote)
					}
				}
			}
		})
	}
}

// TestEngineRemovesInIdPUnavailable: without a working identity-provider
// client the rows go to the bulk-remove file; an unavailable one pauses.
func TestEngineRemovesInIdPUnavailable(t *testing.T) {
	w := newWorld() // no identity provider configured
	id := w.applyRun(t, false, nil, pending("u3-older", gSynced, cleanup.ActionIdPRemove))
	step(t, w.engine(t), id, "o1")
	want := []string{"1 exported: direct removal in the identity provider is not available (no identity provider is configured): exported to the group's bulk-remove file"}
	if diff := cmp.Diff(want, outcomes(w.store)); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}

	w = idpWorld(t)
	w.idp.Fail("RemoveMembers", &cleanup.Error{Kind: cleanup.KindUnavailable, Message: "throttled", RetryAfter: 30 * time.Second})
	id = w.applyRun(t, false, nil, pending("u3-older", gSynced, cleanup.ActionIdPRemove))
	if res := step(t, w.engine(t), id, "o1"); res.RetryAfter != 30*time.Second {
		t.Errorf("step = %+v, want a retry after 30s", res)
	}
	if rows := w.store.Rows(id); rows[0].Outcome != cleanup.OutcomePending {
		t.Errorf("row %+v, want still pending", rows[0])
	}
}

// TestEngineExportPhase: the exports are generated, then the run finishes
// with its status derived from the rows; an export failure fails the run,
// an unavailable store of exports pauses it.
func TestEngineExportPhase(t *testing.T) {
	exportRun := func(w *world, rows ...cleanup.AffectedUser) int64 {
		id := w.store.AddRun(cleanup.Run{ClientKey: tenant, Settings: w.settings, Status: cleanup.RunRunning, Phase: cleanup.PhaseExport})
		w.store.AddRows(id, nil, rows...)
		return id
	}
	failed := pending("u1-old", gJira, cleanup.ActionRemoveProductAccess)
	failed.Outcome = cleanup.OutcomeFailed

	w := newWorld()
	id := exportRun(w, failed)
	if res := step(t, w.engine(t), id, "o1"); !res.Done {
		t.Fatalf("step = %+v", res)
	}
	if run, _ := w.store.Run(id); run.Status != cleanup.RunPartiallyFailed || run.Phase != cleanup.PhaseDone || run.FinishedAt == nil {
		t.Errorf("run %s/%s, want partially failed and done", run.Status, run.Phase)
	}

	w = newWorld()
	w.exporter.err = &cleanup.Error{Kind: cleanup.KindUnavailable, Message: "database busy"}
	id = exportRun(w)
	if res := step(t, w.engine(t), id, "o1"); res.RetryAfter != 15*time.Second {
		t.Errorf("unavailable export: %+v, want the default 15s retry", res)
	}
	if run, _ := w.store.Run(id); run.Finished() {
		t.Error("a paused export finished the run")
	}

	w = newWorld()
	w.exporter.err = errors.New("disk full at /var/lib/secret")
	id = exportRun(w)
	step(t, w.engine(t), id, "o1")
	if run, _ := w.store.Run(id); run.Status != cleanup.RunFailed || !strings.Contains(run.Error, "unexpected reason") || strings.Contains(run.Error, "/var/lib") {
		t.Errorf("run %s %q, want failed with a safe message", run.Status, run.Error)
	}
}

// TestEngineFailureSaysWhatToDo: a run that fails says why in words an
// admin can act on, with the remote's answer as the detail.
func TestEngineFailureSaysWhatToDo(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"rejected key", &cleanup.Error{Kind: cleanup.KindUnauthorized, Service: cleanup.ServiceOrganization,
			Message: "Organizations API: listing groups failed with HTTP 401: Unauthorized"},
			"The organization API key was rejected: it may be mistyped, expired or revoked. Enter a valid key in Settings → Organization, test it, and run the cleanup again. (Organizations API: listing groups failed with HTTP 401: Unauthorized)"},
		{"unknown organization", &cleanup.Error{Kind: cleanup.KindNotFound, Service: cleanup.ServiceOrganization,
			Message: "Organizations API: listing groups failed with HTTP 404"},
			"The Organizations API does not know the organization ID in Settings, or the API key cannot see it. Check the organization ID in Settings → Organization, test the connection, and run the cleanup again. (Organizations API: listing groups failed with HTTP 404)"},
		{"no advice", &cleanup.Error{Kind: cleanup.KindConflict, Message: "the directory changed meanwhile"},
			"The directory changed meanwhile."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			w.dir.Fail("Groups", tc.err)
			d := cleanup.DefaultDefinition()
			d.Name, d.Action, d.Manual, d.LicensingGroupIDs = "c", cleanup.ActionReview, true, []string{gJira}
			id := w.store.AddRun(cleanup.Run{ClientKey: tenant, CleanupName: d.Name, Definition: d, Settings: w.settings})
			if res := step(t, w.engine(t), id, "o1"); !res.Done {
				t.Fatalf("step = %+v, want the run done (failed)", res)
			}
			if run, _ := w.store.Run(id); run.Status != cleanup.RunFailed || run.Error != tc.want {
				t.Errorf("run %s:\n%q\nwant\n%q", run.Status, run.Error, tc.want)
			}
		})
	}
}

// TestEngineLease: a run another worker holds is retried after its lease;
// a run that does not exist (or is another tenant's) is done; a finished
// run is left alone.
func TestEngineLease(t *testing.T) {
	w := newWorld()
	id := w.applyRun(t, false, nil, pending("u1-old", gJira, cleanup.ActionRemoveProductAccess))
	if _, err := w.store.AcquireRunLease(context.Background(), tenant, id, "other", engineNow.Add(90*time.Second)); err != nil {
		t.Fatal(err)
	}
	en := w.engine(t)
	if res := step(t, en, id, "o1"); res.RetryAfter != 90*time.Second {
		t.Errorf("held lease: %+v, want a retry when it expires", res)
	}
	if res, err := en.Step(context.Background(), "tenant-b", id, "o1"); err != nil || !res.Done {
		t.Errorf("another tenant's run: %+v, %v; want done", res, err)
	}
	w.clock.Add(2 * time.Minute)
	step(t, en, id, "o1")
	calls := len(w.dir.Calls())
	if res := step(t, en, id, "o2"); !res.Done || len(w.dir.Calls()) != calls {
		t.Errorf("finished run: %+v, %d calls (was %d)", res, len(w.dir.Calls()), calls)
	}
}
