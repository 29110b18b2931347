package jobs

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/atlassian"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/idpexport"
	"github.com/example/usercleanup/internal/store"
)

const (
	otherAppKey    = "com.example.other"
	otherClientKey = "client-other"
	otherSecret    = "shared-secret-of-the-other-installation-987654"
)

// privacyEnv is two tenants of one organization (two installations on the
// Jira site), each with a finished run of the same cleanup and its export
// files, and the personal data reporter over them.
type privacyEnv struct {
	*env
	exp      *idpexport.Exporter
	runs     map[string]int64 // by client key
	cleanups map[string]int64 // by client key
	waits    *[]time.Duration // Retry-After waits the report client slept
	report   *cleanup.PersonalData
	now      time.Time
}

func newPrivacyEnv(t *testing.T, st *store.Store, users int) *privacyEnv {
	t.Helper()
	ctx := cleanup.AsOperator(context.Background())
	e := newEnv(t, st, atlassiantest.Options{Seed: 11, Users: users, ExtraGroups: 4}, cleanup.SettingsInput{})
	other := e.cloud.Site(connect.Jira).Install(otherAppKey, otherClientKey, otherSecret)
	if err := st.SaveTenant(ctx, other); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var waits []time.Duration
	e.conn = &atlassian.Connector{Tenants: st, Credentials: e.cs, Atlassian: atlassian.Options{
		OrgAPIURL: e.cloud.APIURL(), UserMgmtURL: e.cloud.APIURL(), MaxWait: time.Minute,
		Sleep: func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			waits = append(waits, d)
			mu.Unlock()
			return ctx.Err()
		},
	}}
	svc, err := cleanup.NewService(e.cs, e.conn, nil, e.now)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	x := &privacyEnv{env: e, exp: idpexport.NewExporter(st, idpexport.ExporterConfig{}), runs: map[string]int64{}, cleanups: map[string]int64{}, waits: &waits, now: testNow}
	for _, ck := range []string{testClientKey, otherClientKey} {
		in := seededSettings(e, t, "")
		in.Exceptions.AccountIDs = nil
		k := cleanup.Secret(testAPIKey)
		in.APIKey = &k
		if _, err := svc.SaveSettings(ctx, ck, in); err != nil {
			t.Fatal(err)
		}
		d := cleanup.DefaultDefinition()
		d.Name, d.Action, d.Manual, d.DaysInactive = "inactive", cleanup.ActionRemoveProductAccess, true, 90
		d.LicensingGroupIDs = []string{e.groupID(t, atlassiantest.GroupJiraSoftware), e.groupID(t, atlassiantest.GroupEntraJira)}
		c, err := svc.CreateCleanup(ctx, ck, d)
		if err != nil {
			t.Fatal(err)
		}
		runID, err := svc.StartRun(ctx, ck, c.ID, true, "admin-of-"+ck)
		if err != nil {
			t.Fatal(err)
		}
		en, err := cleanup.NewEngine(cleanup.EngineConfig{Store: e.cs, Connector: e.conn, Exporter: x.exp, Now: e.now,
			StepBudget: time.Minute, LeaseFor: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		x.finish(t, en, ck, runID)
		x.runs[ck], x.cleanups[ck] = runID, c.ID
	}
	x.report, err = cleanup.NewPersonalData(cleanup.PersonalDataConfig{Store: e.cs, Reporter: e.conn, Orgs: e.conn,
		Exporter: x.exp, Now: func() time.Time { return x.now }})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// finish steps a run until it is done.
func (x *privacyEnv) finish(t *testing.T, en *cleanup.Engine, clientKey string, runID int64) {
	t.Helper()
	for i := 0; ; i++ {
		res, err := en.Step(context.Background(), clientKey, runID, fmt.Sprintf("test/%d/%d", runID, i))
		if err != nil {
			t.Fatal(err)
		}
		if res.Done {
			return
		}
		if i > 1000 {
			t.Fatal("run did not finish")
		}
	}
}

// snapshot is everything a tenant's run shows: the run (counts), its rows
// through the service, and the bytes of every export file (ZIP entries
// decompressed), by file kind and name.
type snapshot struct {
	run   cleanup.Run
	rows  []cleanup.AffectedUser
	files map[string][]byte
}

func (x *privacyEnv) snapshot(t *testing.T, clientKey string) snapshot {
	t.Helper()
	return x.snapshotRun(t, clientKey, x.runs[clientKey])
}

func (x *privacyEnv) snapshotRun(t *testing.T, clientKey string, runID int64) snapshot {
	t.Helper()
	ctx := context.Background()
	run, err := x.svc.GetRun(ctx, clientKey, runID)
	if err != nil {
		t.Fatal(err)
	}
	var rows []cleanup.AffectedUser
	for p := 1; ; p++ {
		page, total, err := x.svc.RunUsers(ctx, clientKey, runID, cleanup.RunUserFilter{}, cleanup.Page{Page: p, PerPage: cleanup.MaxPerPage})
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, page...)
		if len(rows) >= total || len(page) == 0 {
			break
		}
	}
	list, err := x.st.RunExports(ctx, clientKey, runID)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range list.Files {
		var b []byte
		if f.Streamed { // the audit files: produced from the rows at download
			var buf bytes.Buffer
			if _, err := idpexport.WriteAudit(ctx, x.st, f, &buf); err != nil {
				t.Fatal(err)
			}
			b = buf.Bytes()
		} else {
			rc, err := x.st.OpenExportFile(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			b, err = io.ReadAll(rc)
			_ = rc.Close()
			if err != nil {
				t.Fatal(err)
			}
		}
		files[f.Kind+"/"+f.FileName] = b
		if f.Kind == cleanup.ExportKindBundle {
			zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			for _, zf := range zr.File {
				r, _ := zf.Open()
				zb, _ := io.ReadAll(r)
				_ = r.Close()
				files["zip/"+zf.Name] = zb
			}
		}
	}
	return snapshot{run: run, rows: rows, files: files}
}

// contains reports where any of the needles appears, byte-wise.
func (s snapshot) contains(needles ...string) []string {
	var where []string
	for _, n := range needles {
		if n == "" {
			continue
		}
		for _, r := range s.rows {
			if strings.Contains(r.AccountID+"\x00"+r.Name+"\x00"+r.Email+"\x00"+r.Message, n) {
				where = append(where, fmt.Sprintf("row %d has %q", r.ID, n))
			}
		}
		for name, b := range s.files {
			if bytes.Contains(b, []byte(n)) {
				where = append(where, fmt.Sprintf("%s has %q", name, n))
			}
		}
	}
	return where
}

// victim picks an account the Entra file of both tenants' runs carries.
func (x *privacyEnv) victim(t *testing.T, s snapshot) atlassiantest.User {
	t.Helper()
	for _, r := range s.rows {
		if r.Action == cleanup.ActionIdPExport && r.Outcome == cleanup.OutcomeExported && len(r.Name) > 3 {
			u, _ := x.cloud.User(r.AccountID)
			return u
		}
	}
	t.Fatal("the run exported nobody: the test proves nothing")
	return atlassiantest.User{}
}

// TestPersonalDataClosedAccount: an account Atlassian reports closed is
// erased from the reporting tenant's run rows and from every export file
// (Entra CSV, audit CSV and JSON, the ZIP and its README), byte-wise; the
// run's counts and every other row stay; the Entra file loses that one
// row; an audit entry names only the tombstone; the other tenant, which
// stores the same account, is untouched.
func TestPersonalDataClosedAccount(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := cleanup.AsOperator(context.Background())
			st, _ := b.open(t)
			x := newPrivacyEnv(t, st, 240)
			before := x.snapshot(t, testClientKey)
			otherBefore := x.snapshot(t, otherClientKey)
			v := x.victim(t, before)
			if len(before.contains(v.Name, v.Email)) == 0 || len(otherBefore.contains(v.Name, v.Email)) == 0 {
				t.Fatal("the victim is not in both tenants' data: the test proves nothing")
			}
			x.cloud.CloseAccount(v.AccountID)

			res, err := x.report.Report(ctx, testClientKey)
			if err != nil {
				t.Fatal(err)
			}
			if res.Closed != 1 || res.Deferred != 0 {
				t.Fatalf("report %+v, want one closed account erased", res)
			}
			after := x.snapshot(t, testClientKey)
			if where := after.contains(v.AccountID, v.Name, v.Email); len(where) > 0 {
				t.Errorf("the closed account is still there:\n%s", strings.Join(where, "\n"))
			}
			if diff := cmp.Diff(before.run.Counts, after.run.Counts); diff != "" {
				t.Errorf("counts changed (-before +after):\n%s", diff)
			}
			if len(after.rows) != len(before.rows) {
				t.Fatalf("%d rows, had %d", len(after.rows), len(before.rows))
			}
			tombstones := map[string]bool{}
			for i, r := range after.rows {
				was := before.rows[i]
				if was.AccountID != v.AccountID {
					if diff := cmp.Diff(was, r); diff != "" {
						t.Errorf("another row changed (-before +after):\n%s", diff)
					}
					continue
				}
				if r.Name != cleanup.ClosedAccountName || r.Email != "" || !strings.HasPrefix(r.AccountID, cleanup.ClosedAccountPrefix) ||
					r.Outcome != was.Outcome || r.Action != was.Action || r.Reason != was.Reason {
					t.Errorf("erased row %+v, was %+v", r, was)
				}
				tombstones[r.AccountID] = true
			}
			if len(tombstones) != 1 {
				t.Errorf("tombstones %v, want one for the account", tombstones)
			}
			// The Entra file has one member less; the audit files show the tombstone.
			for name, b := range after.files {
				switch {
				case strings.HasPrefix(name, cleanup.ExportKindEntra+"/"):
					if got, want := bytes.Count(b, []byte("\n")), bytes.Count(before.files[name], []byte("\n"))-1; got != want {
						t.Errorf("%s has %d lines, want %d", name, got, want)
					}
				case strings.HasPrefix(name, cleanup.ExportKindAuditCSV+"/"), strings.HasPrefix(name, cleanup.ExportKindAuditJSON+"/"):
					if !bytes.Contains(b, []byte(cleanup.ClosedAccountName)) {
						t.Errorf("%s does not show the tombstone", name)
					}
				}
			}
			if len(after.files) != len(before.files) {
				t.Errorf("%d files after, %d before", len(after.files), len(before.files))
			}
			erasures, err := x.cs.Erasures(ctx, testClientKey)
			if err != nil {
				t.Fatal(err)
			}
			if len(erasures) != 1 || !tombstones[erasures[0].Tombstone] || erasures[0].RunRows == 0 {
				t.Errorf("audit entries %+v, want one with the tombstone", erasures)
			}
			// The other tenant stores the account too: untouched.
			otherAfter := x.snapshot(t, otherClientKey)
			if diff := cmp.Diff(otherBefore.rows, otherAfter.rows); diff != "" {
				t.Errorf("the other tenant's rows changed:\n%s", diff)
			}
			for name, b := range otherBefore.files {
				if !bytes.Equal(b, otherAfter.files[name]) {
					t.Errorf("the other tenant's %s changed", name)
				}
			}
			// The account is no longer reported by the tenant that erased it.
			accounts, err := x.cs.PersonalDataAccounts(ctx, testClientKey)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range accounts {
				if a.AccountID == v.AccountID || strings.HasPrefix(a.AccountID, cleanup.ClosedAccountPrefix) {
					t.Errorf("still reported: %s", a.AccountID)
				}
			}
		})
	}
}

// TestPersonalDataBatchesAnd204: every stored account is reported once, in
// requests of at most 90 (the run's admin included); a 204 answer changes
// nothing; the fake refuses 91 accounts with 400.
func TestPersonalDataBatchesAnd204(t *testing.T) {
	ctx := cleanup.AsOperator(context.Background())
	st := openStore(t, store.SQLite, t.TempDir()+"/t.db")
	x := newPrivacyEnv(t, st, 900)
	before := x.snapshot(t, testClientKey)
	accounts, err := x.cs.PersonalDataAccounts(ctx, testClientKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(accounts) <= 2*cleanup.ReportBatchMax {
		t.Fatalf("%d stored accounts: too few for three requests", len(accounts))
	}
	res, err := x.report.Report(ctx, testClientKey)
	if err != nil {
		t.Fatal(err)
	}
	want := (len(accounts) + cleanup.ReportBatchMax - 1) / cleanup.ReportBatchMax
	if res.Requests != want || res.Reported != len(accounts) || res.Closed+res.Updated != 0 {
		t.Errorf("report %+v, want %d requests for %d accounts and no action", res, want, len(accounts))
	}
	perRequest := map[int]int{}
	seen := map[string]bool{}
	for _, r := range x.cloud.Reports() {
		perRequest[r.Request]++
		if seen[r.AccountID] {
			t.Errorf("%s reported twice", r.AccountID)
		}
		seen[r.AccountID] = true
		if r.ClientKey != testClientKey {
			t.Errorf("report signed as %s", r.ClientKey)
		}
	}
	if len(perRequest) != want {
		t.Errorf("the fake received %d requests, want %d", len(perRequest), want)
	}
	for n, c := range perRequest {
		if c > atlassiantest.ReportAccountsMax {
			t.Errorf("request %d carried %d accounts", n, c)
		}
	}
	if !seen["admin-of-"+testClientKey] {
		t.Error("the admin who started the run was not reported")
	}
	after := x.snapshot(t, testClientKey)
	if diff := cmp.Diff(before, after, cmp.AllowUnexported(snapshot{})); diff != "" {
		t.Errorf("204 changed something:\n%s", diff)
	}

	// 91 accounts in one request: the fake refuses it as the API does.
	many := make([]cleanup.ReportedAccount, 91)
	for i := range many {
		many[i] = cleanup.ReportedAccount{AccountID: fmt.Sprintf("acc-%d", i), UpdatedAt: testNow}
	}
	if _, err := x.conn.ReportAccounts(ctx, testClientKey, many); cleanup.KindOf(err) != cleanup.KindInvalid {
		t.Errorf("91 accounts: %v, want KindInvalid", err)
	}
}

// TestPersonalDataRetryAfterAndUpdated: a 429 with Retry-After is waited
// out (the client sleeps what the header says, then sends again); an
// account reported updated gets its current name and e-mail address; the
// cycle the API asks for sets the next report.
func TestPersonalDataRetryAfterAndUpdated(t *testing.T) {
	ctx := cleanup.AsOperator(context.Background())
	st := openStore(t, store.SQLite, t.TempDir()+"/t.db")
	x := newPrivacyEnv(t, st, 240)
	before := x.snapshot(t, testClientKey)
	v := x.victim(t, before)
	// The store dates rows with the real clock: the change comes after.
	x.now = time.Now().Add(time.Second)
	if !x.cloud.UpdateAccount(v.AccountID, "Renamed Person", "renamed.person@example.com", x.now) {
		t.Fatal("no such account")
	}
	x.cloud.Inject(atlassiantest.Fault{Method: "POST", Path: "/app/report-accounts", Status: 429, RetryAfter: "7"})
	x.cloud.SetReportCycle("14")
	x.now = x.now.Add(time.Hour)

	n, err := x.report.ReportDue(ctx, x.now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("%d tenants reported, want 2", n)
	}
	if !slices.Contains(*x.waits, 7*time.Second) {
		t.Errorf("waits %v: Retry-After 7 not honoured", *x.waits)
	}
	after := x.snapshot(t, testClientKey)
	if where := after.contains(v.Email); len(where) > 0 {
		t.Errorf("the old address is still shown: %v", where)
	}
	if len(after.contains("renamed.person@example.com")) == 0 {
		t.Error("the new address is not shown")
	}
	if diff := cmp.Diff(before.run.Counts, after.run.Counts); diff != "" {
		t.Errorf("counts changed:\n%s", diff)
	}
	// Reported just now with a 14-day cycle: not due a week later.
	due, err := x.cs.DueReports(ctx, x.now.Add(8*24*time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 0 {
		t.Errorf("due after 8 days: %v, want none (the API's cycle is 14 days)", due)
	}
	due, err = x.cs.DueReports(ctx, x.now.Add(15*24*time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 2 {
		t.Errorf("due after 15 days: %v, want both tenants", due)
	}
	// Reported updated again after the refresh: updatedAt moved on.
	var last time.Time
	for _, r := range x.cloud.Reports() {
		if r.AccountID == v.AccountID && r.ClientKey == testClientKey {
			last = r.UpdatedAt
		}
	}
	accounts, err := x.cs.PersonalDataAccounts(ctx, testClientKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range accounts {
		if a.AccountID == v.AccountID && !a.UpdatedAt.After(last) {
			t.Errorf("updatedAt %s after the refresh, reported %s before", a.UpdatedAt, last)
		}
	}
}

// TestPersonalDataDeferredWhileRunning: a closed account that a run under
// way still works on (here: the admin who started it) is not erased while
// the run runs: the report says deferred and changes nothing; the next
// report after the run finished erases it.
func TestPersonalDataDeferredWhileRunning(t *testing.T) {
	ctx := cleanup.AsOperator(context.Background())
	st := openStore(t, store.SQLite, t.TempDir()+"/t.db")
	x := newPrivacyEnv(t, st, 120)
	const admin = "557058:closing-admin"
	runID, err := x.svc.StartRun(ctx, testClientKey, x.cleanups[testClientKey], true, admin)
	if err != nil {
		t.Fatal(err)
	}
	x.cloud.CloseAccount(admin)
	res, err := x.report.Report(ctx, testClientKey)
	if err != nil {
		t.Fatal(err)
	}
	if res.Deferred != 1 || res.Closed != 0 {
		t.Fatalf("report while the run is queued: %+v, want one deferred", res)
	}
	run, err := x.svc.GetRun(ctx, testClientKey, runID)
	if err != nil || run.StartedBy != admin {
		t.Fatalf("run started by %q (%v), want it kept while the run is under way", run.StartedBy, err)
	}
	en, err := cleanup.NewEngine(cleanup.EngineConfig{Store: x.cs, Connector: x.conn, Exporter: x.exp, Now: x.env.now,
		StepBudget: time.Minute, LeaseFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	x.finish(t, en, testClientKey, runID)
	res, err = x.report.Report(ctx, testClientKey)
	if err != nil {
		t.Fatal(err)
	}
	if res.Deferred != 0 || res.Closed != 1 {
		t.Fatalf("report after the run: %+v, want the account erased", res)
	}
	run, err = x.svc.GetRun(ctx, testClientKey, runID)
	if err != nil || run.StartedBy != "" {
		t.Errorf("run started by %q (%v) after the erasure", run.StartedBy, err)
	}
}

// TestPersonalDataRestores: a closed account that a restore was limited
// to, and whose rows a restore copied (with a bulk-add file), is erased
// from the restore too: its rows, its bulk-add file and its list of
// selected accounts.
func TestPersonalDataRestores(t *testing.T) {
	ctx := cleanup.AsOperator(context.Background())
	st := openStore(t, store.SQLite, t.TempDir()+"/t.db")
	x := newPrivacyEnv(t, st, 240)
	v := x.victim(t, x.snapshot(t, testClientKey))
	en, err := cleanup.NewEngine(cleanup.EngineConfig{Store: x.cs, Connector: x.conn, Exporter: x.exp, Now: x.env.now,
		StepBudget: time.Minute, LeaseFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	runID, err := x.svc.StartRun(ctx, testClientKey, x.cleanups[testClientKey], false, "admin")
	if err != nil {
		t.Fatal(err)
	}
	x.finish(t, en, testClientKey, runID)
	restoreID, err := x.svc.StartRestore(ctx, testClientKey, runID, cleanup.RestoreInput{DryRun: true, AccountIDs: []string{v.AccountID}}, "admin")
	if err != nil {
		t.Fatal(err)
	}
	x.finish(t, en, testClientKey, restoreID)
	before := x.snapshotRun(t, testClientKey, restoreID)
	if len(before.contains(v.Email)) == 0 {
		t.Fatalf("the restore does not show the account: the test proves nothing (%d rows, files %v)", len(before.rows), len(before.files))
	}
	x.cloud.CloseAccount(v.AccountID)
	if _, err := x.report.Report(ctx, testClientKey); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{runID, restoreID} {
		if where := x.snapshotRun(t, testClientKey, id).contains(v.AccountID, v.Name, v.Email); len(where) > 0 {
			t.Errorf("run %d still shows the account:\n%s", id, strings.Join(where, "\n"))
		}
	}
	var raw string
	if err := st.SQLDB().QueryRow(`SELECT restore_accounts FROM runs WHERE id = ?`, restoreID).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(raw, v.AccountID) || !strings.Contains(raw, cleanup.ClosedAccountPrefix) {
		t.Errorf("restore_accounts = %s, want the tombstone in place of the account", raw)
	}
}
