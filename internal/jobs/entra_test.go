package jobs

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/idpexport"
)

// The fake Entra app registration of the tests.
const (
	testEntraTenant = "8b0c9e7a-4c1e-4f44-9d55-2f6f3c1a7e01"
	testEntraClient = "5d6a1b2c-3e4f-4a5b-8c7d-9e0f1a2b3c4d"
)

// fakeIdP is an in-memory Microsoft Entra ID: users by UPN or e-mail,
// groups with their flags and members. It removes in batches of 20 like the
// Graph adapter and counts every DELETE it receives. Jobs must not import
// the Graph adapter (internal/entra); it is tested against the Graph fake
// on its own.
type fakeIdP struct {
	mu       sync.Mutex
	users    map[string]cleanup.IdPUser // by lower-case UPN or e-mail
	groups   map[string]cleanup.IdPGroup
	members  map[string]map[string]bool // group id -> object ids
	deletes  map[string]int             // group id + "/" + object id -> DELETEs received
	listings map[string]int             // group id -> MemberIDs calls
	batches  int
	// fail makes a removal fail (e.g. missing permission) by object id.
	fail map[string]string
	// afterBatch runs after each batch was applied; an error returned is
	// the call's error and the batch's results are lost (the response
	// never arrived).
	afterBatch func(n int) error
}

func newFakeIdP() *fakeIdP {
	return &fakeIdP{users: map[string]cleanup.IdPUser{}, groups: map[string]cleanup.IdPGroup{},
		members: map[string]map[string]bool{}, deletes: map[string]int{}, listings: map[string]int{}, fail: map[string]string{}}
}

func (f *fakeIdP) addUser(upn string, guest bool) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := fmt.Sprintf("obj-%04d", len(f.users)+1)
	u := cleanup.IdPUser{ObjectID: id, UPN: upn, Mail: upn, Guest: guest}
	if guest {
		u.UPN = strings.ReplaceAll(upn, "@", "_") + "#EXT#@contoso.onmicrosoft.com"
	}
	f.users[strings.ToLower(upn)] = u
	return id
}

func (f *fakeIdP) addGroup(g cleanup.IdPGroup, memberIDs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.groups[g.ID] = g
	f.members[g.ID] = map[string]bool{}
	for _, id := range memberIDs {
		f.members[g.ID][id] = true
	}
}

func (f *fakeIdP) isMember(groupID, id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.members[groupID][id]
}

func (f *fakeIdP) deleteCounts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.deletes))
	for k, v := range f.deletes {
		out[k] = v
	}
	return out
}

func (f *fakeIdP) TestConnection(context.Context) error { return nil }

func (f *fakeIdP) ResolveUsers(_ context.Context, upns []string) (map[string]cleanup.IdPUser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]cleanup.IdPUser{}
	for _, u := range upns {
		if v, ok := f.users[strings.ToLower(u)]; ok {
			out[u] = v
		}
	}
	return out, nil
}

func (f *fakeIdP) FindGroup(_ context.Context, idOrName string) (cleanup.IdPGroup, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if g, ok := f.groups[idOrName]; ok {
		return g, nil
	}
	var found []cleanup.IdPGroup
	for _, g := range f.groups {
		if g.Name == idOrName {
			found = append(found, g)
		}
	}
	switch len(found) {
	case 0:
		return cleanup.IdPGroup{}, cleanup.Errorf(cleanup.KindNotFound, "no group %q in Microsoft Entra ID", idOrName)
	case 1:
		return found[0], nil
	}
	return cleanup.IdPGroup{}, cleanup.Errorf(cleanup.KindConflict, "%d groups are named %q", len(found), idOrName)
}

func (f *fakeIdP) MemberIDs(_ context.Context, groupID string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listings[groupID]++
	var ids []string
	for id := range f.members[groupID] {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// AddMembers is not used by these tests (restores are tested against
// cleanuptest and the Graph fake).
func (f *fakeIdP) AddMembers(context.Context, string, []string) ([]cleanup.AddResult, error) {
	return nil, cleanup.Errorf(cleanup.KindForbidden, "not in this test")
}

func (f *fakeIdP) RemoveMembers(ctx context.Context, groupID string, ids []string) ([]cleanup.RemovalResult, error) {
	var out []cleanup.RemovalResult
	for chunk := range slices.Chunk(ids, 20) {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		f.mu.Lock()
		f.batches++
		n := f.batches
		var res []cleanup.RemovalResult
		for _, id := range chunk {
			f.deletes[groupID+"/"+id]++
			switch {
			case f.fail[id] != "":
				res = append(res, cleanup.RemovalResult{ObjectID: id, Outcome: cleanup.RemovalFailed, Message: f.fail[id]})
			case f.members[groupID][id]:
				delete(f.members[groupID], id)
				res = append(res, cleanup.RemovalResult{ObjectID: id, Outcome: cleanup.RemovalRemoved})
			default:
				res = append(res, cleanup.RemovalResult{ObjectID: id, Outcome: cleanup.RemovalNotMember})
			}
		}
		hook := f.afterBatch
		f.mu.Unlock()
		if hook != nil {
			if err := hook(n); err != nil {
				return out, err
			}
		}
		out = append(out, res...)
	}
	return out, nil
}

// entraEnv is a tenant whose Entra-synced Jira group is mirrored in a fake
// Entra ID: every member with a usable e-mail exists there, by e-mail.
type entraEnv struct {
	*env
	idp        *fakeIdP
	atlGroup   string            // Atlassian group id of the synced group
	entraGroup string            // its Entra object id
	byEmail    map[string]string // e-mail -> object id
	emails     []string          // sorted
	cleanupID  int64
}

func newEntraEnv(t *testing.T, users int, flags cleanup.IdPGroup) *entraEnv {
	t.Helper()
	ctx := cleanup.AsOperator(context.Background())
	st := openStore(t, "sqlite", filepath.Join(t.TempDir(), "t.db"))
	e := newEnv(t, st, atlassiantest.Options{Seed: 4, Users: users}, cleanup.SettingsInput{})
	idp := newFakeIdP()
	e.conn.NewIdP = func(_ context.Context, tenantID, clientID string, secret cleanup.Secret) (cleanup.IdentityProvider, error) {
		if tenantID != testEntraTenant || clientID != testEntraClient || secret.Reveal() != "s3cret-value" {
			return nil, fmt.Errorf("unexpected credentials %q %q", tenantID, clientID)
		}
		return idp, nil
	}
	atl, _ := e.cloud.GroupByName(atlassiantest.GroupEntraJira)
	ee := &entraEnv{env: e, idp: idp, atlGroup: atl.ID, entraGroup: "entra-group-1", byEmail: map[string]string{}}
	var members []string
	for _, acc := range e.cloud.Members(atl.ID) {
		u, _ := e.cloud.User(acc)
		if u.Email == "" || ee.byEmail[u.Email] != "" {
			continue
		}
		id := idp.addUser(u.Email, false)
		ee.byEmail[u.Email] = id
		ee.emails = append(ee.emails, u.Email)
		members = append(members, id)
	}
	slices.Sort(ee.emails)
	flags.ID, flags.Name = ee.entraGroup, atlassiantest.GroupEntraJira
	idp.addGroup(flags, members...)

	in := cleanup.SettingsInput{Settings: cleanup.DefaultSettings()}
	in.OrgID = e.cloud.OrgID()
	in.IdentityProvider.Provider = cleanup.ProviderEntra
	in.IdentityProvider.Entra.TenantID, in.IdentityProvider.Entra.ClientID = testEntraTenant, testEntraClient
	in.EntraClientSecret = secretOf("s3cret-value")
	if _, err := e.svc.SaveSettings(ctx, testClientKey, in); err != nil {
		t.Fatal(err)
	}
	return ee
}

// startDirect creates (once) a direct-mode Entra cleanup of the synced
// group and starts a run of it.
func (e *entraEnv) startDirect(t *testing.T, dryRun bool) int64 {
	t.Helper()
	ctx := cleanup.AsOperator(context.Background())
	if e.cleanupID == 0 {
		d := cleanup.DefaultDefinition()
		d.Name, d.Action, d.EntraMode, d.Manual, d.DaysInactive = "entra", cleanup.ActionEntra, cleanup.EntraModeDirect, true, 60
		d.LicensingGroupIDs = []string{e.atlGroup}
		c, err := e.svc.CreateCleanup(ctx, testClientKey, d)
		if err != nil {
			t.Fatal(err)
		}
		e.cleanupID = c.ID
	}
	runID, err := e.svc.StartRun(ctx, testClientKey, e.cleanupID, dryRun, "a")
	if err != nil {
		t.Fatal(err)
	}
	return runID
}

// TestEngineEntraDirect: direct mode over the fake Entra ID removes every
// resolvable member exactly once, guests by their object id; non-members
// are done without a change, users unknown in Entra are manual, and a
// refused removal goes to the bulk-remove file instead.
func TestEngineEntraDirect(t *testing.T) {
	ctx := cleanup.AsOperator(context.Background())
	e := newEntraEnv(t, 200, cleanup.IdPGroup{})
	// A dry run shows who the cleanup selects.
	dry := e.startDirect(t, true)
	drive(t, e.engine(t, time.Millisecond, nil), dry)
	var selected []string
	for _, r := range allRows(t, e.svc, dry, cleanup.RunUserFilter{}) {
		if !protectedRow(r) && e.byEmail[r.Email] != "" {
			selected = append(selected, r.Email)
		}
	}
	slices.Sort(selected)
	if len(selected) < 8 {
		t.Fatalf("only %d selected members with e-mail", len(selected))
	}
	if len(e.idp.deleteCounts()) != 0 {
		t.Fatalf("the dry run sent DELETEs: %v", e.idp.deleteCounts())
	}
	// Shape the directory: a guest, a user who left the Entra group, one
	// unknown in Entra, one whose removal is refused.
	guestEmail, leftEmail, unknownEmail, refusedEmail := selected[0], selected[1], selected[2], selected[3]
	e.idp.mu.Lock()
	gu := e.idp.users[strings.ToLower(guestEmail)]
	gu.Guest, gu.UPN = true, "guest_ext#EXT#@contoso.onmicrosoft.com"
	e.idp.users[strings.ToLower(guestEmail)] = gu
	delete(e.idp.members[e.entraGroup], e.byEmail[leftEmail])
	delete(e.idp.users, strings.ToLower(unknownEmail))
	delete(e.idp.members[e.entraGroup], e.byEmail[unknownEmail])
	e.idp.fail[e.byEmail[refusedEmail]] = "Insufficient privileges to complete the operation."
	e.idp.mu.Unlock()

	runID := e.startDirect(t, false)
	drive(t, e.engine(t, time.Millisecond, nil), runID)

	deletes := e.idp.deleteCounts()
	type got struct{ action, outcome, message string }
	rows := map[string]got{}
	for _, r := range allRows(t, e.svc, runID, cleanup.RunUserFilter{}) {
		if protectedRow(r) || r.Email == "" {
			continue
		}
		rows[r.Email] = got{r.Action, r.Outcome, r.Message}
	}
	if len(rows) == 0 {
		t.Fatal("no rows acted on")
	}
	for email, r := range rows {
		id := e.byEmail[email]
		want := got{cleanup.ActionIdPRemove, cleanup.OutcomeDone, "removed in the identity provider"}
		wantDeletes := 1
		switch email {
		case leftEmail:
			want.message = "already not a member in the identity provider"
		case unknownEmail:
			want.outcome = cleanup.OutcomeManual
			want.message = "no user with this e-mail address or user name in Microsoft Entra ID: remove them there by hand"
			wantDeletes = 0
		case refusedEmail:
			want = got{cleanup.ActionIdPExport, cleanup.OutcomeExported,
				"direct removal failed (Insufficient privileges to complete the operation.): exported to the group's bulk-remove file"}
		}
		if r != want {
			t.Errorf("%s: got %+v, want %+v", email, r, want)
		}
		if n := deletes[e.entraGroup+"/"+id]; id != "" && n != wantDeletes {
			t.Errorf("%s: %d DELETEs, want %d", email, n, wantDeletes)
		}
		if want.outcome == cleanup.OutcomeDone && e.idp.isMember(e.entraGroup, id) {
			t.Errorf("%s is still a member in Entra", email)
		}
	}
	for _, special := range []string{guestEmail, leftEmail, unknownEmail, refusedEmail} {
		if _, ok := rows[special]; !ok {
			t.Errorf("%s was not selected: pick inactive users for the special cases", special)
		}
	}
	if len(e.cloud.Calls()) != 0 {
		t.Errorf("Atlassian changed: %+v", e.cloud.Calls())
	}
	run, err := e.svc.GetRun(ctx, testClientKey, runID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != cleanup.RunSucceeded || run.Counts.RemovedInIdP != len(rows)-2 || run.Counts.Manual != 1 || run.Counts.ExportedForIdP != 1 {
		t.Errorf("run %s %+v", run.Status, run.Counts)
	}
}

// TestEngineEntraDirectUnchangeableGroup: a group whose members cannot be
// changed through Graph is refused with the reason; nothing is sent.
func TestEngineEntraDirectUnchangeableGroup(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags cleanup.IdPGroup
	}{
		{"on-premises synced", cleanup.IdPGroup{OnPremSynced: true}},
		{"dynamic", cleanup.IdPGroup{Dynamic: true}},
		{"mail-enabled", cleanup.IdPGroup{MailEnabled: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEntraEnv(t, 200, tc.flags)
			runID := e.startDirect(t, false)
			drive(t, e.engine(t, time.Millisecond, nil), runID)
			n := 0
			for _, r := range allRows(t, e.svc, runID, cleanup.RunUserFilter{}) {
				if protectedRow(r) {
					continue
				}
				n++
				if r.Outcome != cleanup.OutcomeManual || r.Message != tc.flags.ChangeBlocker() {
					t.Errorf("row %s: %s %q, want manual %q", r.Email, r.Outcome, r.Message, tc.flags.ChangeBlocker())
				}
			}
			if n == 0 || len(e.idp.deleteCounts()) != 0 {
				t.Errorf("%d rows, DELETEs %v", n, e.idp.deleteCounts())
			}
		})
	}
}

// TestEngineEntraCrashMidBatch: the process dies (the step's context ends)
// after some $batch requests reached Graph but before their outcomes were
// recorded, or Graph throttles beyond the adapter's patience mid-call. The
// next steps check the in-doubt rows against one listing of the group and
// remove the rest: every removed user got exactly one DELETE and every row
// has an outcome.
func TestEngineEntraCrashMidBatch(t *testing.T) {
	for _, tc := range []struct {
		name     string
		throttle bool
	}{{"killed", false}, {"throttled", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := cleanup.AsOperator(context.Background())
			e := newEntraEnv(t, 1000, cleanup.IdPGroup{})
			runID := e.startDirect(t, false)
			clock := &tickingClock{t: testNow.Add(time.Minute), step: time.Millisecond}
			en, err := cleanup.NewEngine(cleanup.EngineConfig{
				Store: e.cs, Connector: e.conn, Now: clock.Now,
				StepBudget: time.Hour, LeaseFor: time.Hour, PageSize: 50, ApplyBatch: 45,
			})
			if err != nil {
				t.Fatal(err)
			}
			sctx, kill := context.WithCancel(ctx)
			defer kill()
			e.idp.mu.Lock()
			e.idp.afterBatch = func(n int) error {
				if n != 2 {
					return nil
				}
				if tc.throttle {
					return &cleanup.Error{Kind: cleanup.KindUnavailable, Message: "Microsoft Graph is throttling", RetryAfter: time.Second}
				}
				kill()
				return context.Canceled
			}
			e.idp.mu.Unlock()
			steps := 0
			for {
				steps++
				res, err := en.Step(sctx, testClientKey, runID, fmt.Sprintf("first/%d", steps))
				if err != nil || res.RetryAfter > 0 {
					if tc.throttle != (err == nil && res.RetryAfter > 0) || tc.throttle == (err != nil && errors.Is(err, context.Canceled)) {
						t.Fatalf("interrupted step: %+v, %v", res, err)
					}
					break
				}
				if res.Done || steps > 100 {
					t.Fatalf("the run finished before the interruption (%d steps)", steps)
				}
			}
			before := e.idp.deleteCounts()
			if len(before) != 40 {
				t.Fatalf("%d DELETEs before the interruption, want the 40 of two full batches", len(before))
			}
			e.idp.mu.Lock()
			e.idp.afterBatch = nil
			e.idp.mu.Unlock()
			drive(t, en, runID)

			if n := e.idp.listings[e.entraGroup]; n != 1 {
				t.Errorf("%d member listings of the group, want 1 (the in-doubt check)", n)
			}
			for k, n := range e.idp.deleteCounts() {
				if n != 1 {
					t.Errorf("%s: %d DELETEs, want exactly 1", k, n)
				}
			}
			verified := 0
			for _, r := range allRows(t, e.svc, runID, cleanup.RunUserFilter{}) {
				if protectedRow(r) {
					continue
				}
				if r.Outcome == cleanup.OutcomePending {
					t.Errorf("row %s still pending", r.Email)
				}
				if id := e.byEmail[r.Email]; id != "" && (r.Outcome != cleanup.OutcomeDone || e.idp.isMember(e.entraGroup, id)) {
					t.Errorf("row %s: %s %q, member=%v", r.Email, r.Outcome, r.Message, e.idp.isMember(e.entraGroup, id))
				}
				if strings.HasPrefix(r.Message, "verified after a restart") {
					verified++
				}
			}
			// Killed: nothing of the step was recorded, so both batches
			// sent are in doubt. Throttled: the first batch's outcomes
			// were recorded with the pause.
			want := 40
			if tc.throttle {
				want = 20
			}
			if verified != want {
				t.Errorf("%d rows verified after the restart, want %d", verified, want)
			}
		})
	}
}

// TestEngineEntraDirectRefusedMidCall: Graph refuses (not throttling) part
// way through the removals of a group: what was removed is done, the rest
// goes to the bulk-remove file, and the run still succeeds.
func TestEngineEntraDirectRefusedMidCall(t *testing.T) {
	ctx := cleanup.AsOperator(context.Background())
	e := newEntraEnv(t, 1000, cleanup.IdPGroup{})
	runID := e.startDirect(t, false)
	e.idp.mu.Lock()
	e.idp.afterBatch = func(n int) error {
		if n == 2 {
			return &cleanup.Error{Kind: cleanup.KindForbidden, Message: "Insufficient privileges to complete the operation."}
		}
		return nil
	}
	e.idp.mu.Unlock()
	clock := &tickingClock{t: testNow.Add(time.Minute), step: time.Millisecond}
	en, err := cleanup.NewEngine(cleanup.EngineConfig{Store: e.cs, Connector: e.conn, Now: clock.Now,
		StepBudget: time.Hour, LeaseFor: time.Hour, PageSize: 50, ApplyBatch: 45})
	if err != nil {
		t.Fatal(err)
	}
	drive(t, en, runID)
	done, exported := 0, 0
	for _, r := range allRows(t, e.svc, runID, cleanup.RunUserFilter{}) {
		switch {
		case protectedRow(r) || e.byEmail[r.Email] == "":
		case r.Action == cleanup.ActionIdPRemove && r.Outcome == cleanup.OutcomeDone:
			done++
		case r.Action == cleanup.ActionIdPExport && r.Outcome == cleanup.OutcomeExported &&
			r.Message == "direct removal failed (Insufficient privileges to complete the operation.): exported to the group's bulk-remove file":
			exported++
		default:
			t.Errorf("row %s: %s %s %q", r.Email, r.Action, r.Outcome, r.Message)
		}
	}
	run, err := e.svc.GetRun(ctx, testClientKey, runID)
	if err != nil {
		t.Fatal(err)
	}
	if done == 0 || exported == 0 || run.Status != cleanup.RunSucceeded || run.Counts.ExportedForIdP != exported {
		t.Errorf("%d done, %d exported, run %s %+v", done, exported, run.Status, run.Counts)
	}
}

// TestEngineEntraExportUnmappedGroup: with a Microsoft Entra ID connection,
// an export-mode run checks the synced group's mapping when it starts. A
// mapping that finds no Entra group makes every selected user of the
// group "needs manual action" with that reason, and no bulk-remove file is
// written for a group that does not exist; mapped right, the file is
// written.
func TestEngineEntraExportUnmappedGroup(t *testing.T) {
	ctx := cleanup.AsOperator(context.Background())
	e := newEntraEnv(t, 200, cleanup.IdPGroup{})
	mapping := func(target string) {
		t.Helper()
		m := map[string]string{}
		if target != "" {
			m[e.atlGroup] = target
		}
		if _, err := e.svc.UpdateSettings(ctx, testClientKey, cleanup.SettingsPatch{IdentityProvider: &cleanup.IdentityProviderSection{GroupMappings: &m}}, 0); err != nil {
			t.Fatal(err)
		}
	}
	d := cleanup.DefaultDefinition()
	d.Name, d.Action, d.Manual, d.DaysInactive = "entra export", cleanup.ActionEntra, true, 60
	d.LicensingGroupIDs = []string{e.atlGroup}
	c, err := e.svc.CreateCleanup(ctx, testClientKey, d)
	if err != nil {
		t.Fatal(err)
	}
	exp := idpexport.NewExporter(e.st, idpexport.ExporterConfig{})
	run := func() int64 {
		t.Helper()
		id, err := e.svc.StartRun(ctx, testClientKey, c.ID, true, "a")
		if err != nil {
			t.Fatal(err)
		}
		drive(t, e.engine(t, time.Millisecond, exp), id)
		return id
	}

	mapping("Jira users (EMEA)") // no such Entra group
	id := run()
	n := 0
	for _, r := range allRows(t, e.svc, id, cleanup.RunUserFilter{}) {
		if protectedRow(r) {
			continue
		}
		n++
		if r.Outcome != cleanup.OutcomeManual || !strings.Contains(r.Message, `no Microsoft Entra ID group matches the group mapping "Jira users (EMEA)"`) {
			t.Errorf("row %s: %s %q, want manual with the mapping's reason", r.Email, r.Outcome, r.Message)
		}
	}
	files, err := e.st.RunExports(ctx, testClientKey, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files.Files {
		if f.Kind == cleanup.ExportKindEntra || f.Kind == cleanup.ExportKindBundle {
			t.Errorf("a file for an unmapped group: %s", f.FileName)
		}
	}
	if n == 0 {
		t.Fatal("the run selected nobody: the test proves nothing")
	}

	mapping("") // the default: the group of the same name, which exists
	id = run()
	files, err = e.st.RunExports(ctx, testClientKey, id)
	if err != nil {
		t.Fatal(err)
	}
	entraFiles := 0
	for _, f := range files.Files {
		if f.Kind == cleanup.ExportKindEntra {
			entraFiles++
		}
	}
	if entraFiles != 1 {
		t.Errorf("%d Entra files with the group found, want 1", entraFiles)
	}
}
