package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/connect/connecttest"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/entra/entratest"
	"github.com/example/usercleanup/internal/idpexport"
)

// TestRestoreEndToEnd runs the app in-process (serve's wiring, River, the
// HTTP API) against the fake Atlassian cloud and the fake Microsoft Graph,
// on SQLite and PostgreSQL. Run A removes inactive users from an
// Atlassian-managed group and exports those of an Entra-synced group; run
// B removes inactive members of another synced group through Graph. Then:
// a dry run of A's restore changes nothing and previews the bulk-add file;
// a restore of two selected users of A restores exactly those; someone
// else deactivates, deletes and re-adds some users; the restore of all of
// A gives back exactly the rest (the managed group is as before the run
// but for the users someone else changed, each with its reason; the Entra
// bulk-add file is byte for byte the expected one); a second restore finds
// nothing to do; the restore of B re-adds the members in Graph; run C
// deactivates accounts and its restore reactivates exactly those. Tenant B
// cannot restore, nor see, tenant A's runs.
func TestRestoreEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server")
	}
	onEachDatabase(t, restoreEndToEnd)
}

// restoreApp is the running app of the restore test and its fakes.
type restoreApp struct {
	cloud *atlassiantest.Cloud
	graph *entratest.Server
	ks    *connecttest.KeyServer
	base  string
}

func startRestoreApp(t *testing.T, databaseURL string) *restoreApp {
	t.Helper()
	cloud := atlassiantest.New(atlassiantest.Options{Seed: 23, Users: 320, ExtraGroups: 2})
	t.Cleanup(cloud.Close)
	graph := entratest.NewServer(entratest.Options{})
	t.Cleanup(graph.Close)
	ks, err := connecttest.NewKeyServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ks.Close)
	addr := freeAddr(t)
	a := &restoreApp{cloud: cloud, graph: graph, ks: ks, base: "http://" + addr}
	env := map[string]string{
		"ADDR": addr, "BASE_URL": a.base, "DATABASE_URL": databaseURL, "ENCRYPTION_KEY": testKeyB64(),
		"CONNECT_INSTALL_KEYS_URLS": ks.URL, "CONNECT_ALLOWED_HOSTS": "127.0.0.1", "ORG_API_URL": cloud.APIURL(),
		"GRAPH_API_URL": graph.URL, "GRAPH_LOGIN_URL": graph.URL, "JOB_SCHEDULE_EVERY": "1s", "LOG_LEVEL": "debug",
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		// Both the install-keys server and the Graph fake are httptest TLS
		// servers: they share httptest's certificate, which this trusts.
		done <- serveWith(ctx, envFunc(env), logs, serveOptions{transport: ks.Client().Transport})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop")
		}
		if t.Failed() {
			t.Logf("serve log:\n%s", tail(logs.String(), 8000))
		}
	})
	waitHealthy(t, a.base+"/healthz", done)
	return a
}

// install installs a tenant of the product (the fake site holds one
// installation of the app) and returns its API client.
func (a *restoreApp) install(t *testing.T, p connect.Product, clientKey string) *apiClient {
	t.Helper()
	app := connect.DescriptorParams{Product: p, BaseURL: a.base, AppKey: defaultAppKey}.App()
	tenant := signedInstall(t, a.ks, a.cloud.Site(p), app, clientKey, "shared-secret-of-"+clientKey+"-0123456789")
	return &apiClient{t: t, base: app.BaseURL + "/api", tenant: tenant, account: orgAdmin(t, a.cloud)}
}

// restoreRow is a row of Show users with what the test reads.
type restoreRow struct {
	apiRow
	Email  string `json:"email"`
	Reason string `json:"reason"`
}

// runAndWait starts a cleanup's run (or, with restoreOf, a restore) and
// waits for it to finish.
func runAndWait(t *testing.T, api *apiClient, path string, body any) apiRun {
	t.Helper()
	var out struct{ RunID int64 }
	if code := api.do(http.MethodPost, path, body, &out); code != http.StatusAccepted {
		t.Fatalf("POST %s: %d", path, code)
	}
	r := api.waitRun(out.RunID, 90*time.Second, func(r apiRun) bool { return r.Status != cleanup.RunQueued && r.Status != cleanup.RunRunning })
	if r.Status != cleanup.RunSucceeded {
		t.Fatalf("run %d (%s) %s: %s %+v", r.ID, path, r.Status, r.Error, r.Counts)
	}
	return r
}

// entraFiles downloads a run's identity-provider files: name → content.
func entraFiles(t *testing.T, api *apiClient, runID int64) map[string]string {
	t.Helper()
	var list struct {
		IdentityProvider []struct{ Kind, FileName, DownloadURL string }
		Bundle           *struct{ FileName string }
	}
	if code := api.do(http.MethodGet, fmt.Sprintf("/runs/%d/exports", runID), nil, &list); code != http.StatusOK {
		t.Fatalf("exports of run %d: %d", runID, code)
	}
	out := map[string]string{}
	for _, f := range list.IdentityProvider {
		resp, err := http.Get(f.DownloadURL)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("download %s: %d", f.FileName, resp.StatusCode)
		}
		if f.Kind != cleanup.ExportKindEntraAdd && f.Kind != cleanup.ExportKindEntra {
			t.Errorf("%s: kind %q", f.FileName, f.Kind)
		}
		out[f.Kind+" "+f.FileName] = string(b)
	}
	if list.Bundle != nil {
		out["bundle "+list.Bundle.FileName] = "zip"
	}
	return out
}

// expectedAddFile is the Entra bulk-add file of the addresses, built from
// the documented template (BOM, the one header, CRLF, members sorted by
// lower-cased address) independently of the exporter.
func expectedAddFile(emails []string) string {
	sorted := slices.Clone(emails)
	slices.SortFunc(sorted, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	var b strings.Builder
	b.WriteString("\ufeff" + idpexport.EntraMemberHeader + "\r\n")
	for _, e := range sorted {
		b.WriteString(e + "\r\n")
	}
	return b.String()
}

func sortedClone(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func restoreEndToEnd(t *testing.T, databaseURL string) {
	a := startRestoreApp(t, databaseURL)
	cloud, graph := a.cloud, a.graph
	now := time.Now()
	managed, _ := cloud.GroupByName(atlassiantest.GroupJiraSoftware)
	synced, _ := cloud.GroupByName(atlassiantest.GroupEntraJira)

	// A second synced licensing group whose members run B removes through
	// Graph: inactive people of the organization, mirrored in Entra ID with
	// a few active ones.
	direct := cloud.AddGroup(atlassiantest.Group{Name: "entra-jira-direct", ExternalSynced: true, ManagedBy: "external",
		Products: []string{cleanup.ProductJiraSoftware}})
	graph.AddGroup(synced.Name, entratest.GroupFlags{})
	directGraph := graph.AddGroup(direct.Name, entratest.GroupFlags{})
	objectID := map[string]string{} // e-mail → Entra object id
	inactive, active := 0, 0
	for _, u := range cloud.Users() {
		if u.Status != cleanup.StatusActive || u.AccountType != cleanup.AccountAtlassian || len(u.Roles) > 0 || !usableUPN(u.Email) {
			continue
		}
		last, ok := u.LastActive[cleanup.ProductJiraSoftware]
		old := ok && !last.IsZero() && now.Sub(last) > 60*24*time.Hour
		recent := ok && !last.IsZero() && now.Sub(last) < 25*24*time.Hour
		switch {
		case old && inactive < 12:
			inactive++
		case recent && active < 4:
			active++
		default:
			continue
		}
		cloud.AddMember(direct.ID, u.AccountID)
		id := graph.AddUser(u.Email, u.Email, false)
		graph.AddMember(directGraph, id)
		objectID[u.Email] = id
	}
	if inactive < 8 || active < 1 {
		t.Fatalf("the seed gives %d inactive and %d active users for the direct group", inactive, active)
	}

	api := a.install(t, connect.Jira, "restore-a")
	settings := map[string]any{
		"organization": map[string]any{"orgId": cloud.OrgID(), "apiKey": "test-org-api-key"},
		"identityProvider": map[string]any{"provider": cleanup.ProviderEntra,
			"entra": map[string]any{"tenantId": graph.TenantID(), "clientId": graph.ClientID()}, "entraClientSecret": graph.ClientSecret()},
	}
	if code := api.do(http.MethodPatch, "/settings", settings, nil); code != http.StatusOK {
		t.Fatalf("patch settings: %d", code)
	}
	other := a.install(t, connect.Confluence, "restore-b")
	if code := other.do(http.MethodPatch, "/settings", map[string]any{
		"organization": map[string]any{"orgId": cloud.OrgID(), "apiKey": "test-org-api-key"}}, nil); code != http.StatusOK {
		t.Fatalf("patch settings of B: %d", code)
	}

	managedBefore := sortedClone(cloud.Members(managed.ID))
	syncedBefore := sortedClone(cloud.Members(synced.ID))
	directBefore := sortedClone(graph.Members(directGraph))

	// Run A: remove product access in the managed group, export the synced.
	var ca, cb struct{ ID int64 }
	if code := api.do(http.MethodPost, "/cleanups", map[string]any{"name": "Inactive Jira Software", "action": cleanup.ActionRemoveProductAccess,
		"manual": true, "daysInactive": 30, "licensingGroupIds": []string{managed.ID, synced.ID}}, &ca); code != http.StatusCreated {
		t.Fatalf("create cleanup A: %d", code)
	}
	runA := runAndWait(t, api, fmt.Sprintf("/cleanups/%d/run", ca.ID), map[string]bool{"dryRun": false})
	var removed, exported []restoreRow
	exportedEmail := map[string]string{} // account → e-mail
	for _, r := range runRows[restoreRow](api, runA.ID) {
		switch {
		case r.Action == cleanup.ActionRemoveProductAccess && r.Outcome == cleanup.OutcomeDone:
			removed = append(removed, r)
		case r.Action == cleanup.ActionIdPExport && r.Outcome == cleanup.OutcomeExported:
			exported = append(exported, r)
			exportedEmail[r.AccountID] = r.Email
		}
	}
	if len(removed) < 8 || len(exported) < 5 {
		t.Fatalf("run A removed %d and exported %d users: too few to prove anything", len(removed), len(exported))
	}
	if got := sortedClone(cloud.Members(managed.ID)); len(got) != len(managedBefore)-len(removed) {
		t.Fatalf("run A left %d members of %s, want %d", len(got), managed.Name, len(managedBefore)-len(removed))
	}

	// Run B: remove the inactive members of the direct group through Graph.
	if code := api.do(http.MethodPost, "/cleanups", map[string]any{"name": "Inactive in Entra", "action": cleanup.ActionEntra,
		"entraMode": cleanup.EntraModeDirect, "manual": true, "daysInactive": 30, "licensingGroupIds": []string{direct.ID}}, &cb); code != http.StatusCreated {
		t.Fatalf("create cleanup B: %d", code)
	}
	runB := runAndWait(t, api, fmt.Sprintf("/cleanups/%d/run", cb.ID), map[string]bool{"dryRun": false})
	var removedInEntra []restoreRow
	for _, r := range runRows[restoreRow](api, runB.ID) {
		if r.Action == cleanup.ActionIdPRemove && r.Outcome == cleanup.OutcomeDone {
			removedInEntra = append(removedInEntra, r)
		}
	}
	if len(removedInEntra) < 8 || len(graph.Removals()) != len(removedInEntra) {
		t.Fatalf("run B removed %d rows, Graph saw %d removals", len(removedInEntra), len(graph.Removals()))
	}

	callsBefore := len(cloud.Calls())
	restorePath := fmt.Sprintf("/runs/%d/restore", runA.ID)

	// Tenant B can neither restore nor see A's run.
	if code := other.do(http.MethodPost, restorePath, map[string]any{"dryRun": false}, nil); code != http.StatusNotFound {
		t.Errorf("B restores A's run: %d, want 404", code)
	}

	// A dry run of the restore changes nothing and previews the file.
	dry := runAndWait(t, api, restorePath, map[string]any{"dryRun": true})
	if n := len(cloud.Calls()); n != callsBefore {
		t.Errorf("the dry-run restore changed the cloud: %+v", cloud.Calls()[callsBefore:])
	}
	if dry.Counts.Skipped != len(removed) || dry.Counts.ExportedForIdP != len(exported) {
		t.Errorf("dry-run restore counts %+v, want %d skipped and %d exported", dry.Counts, len(removed), len(exported))
	}
	for name := range entraFiles(t, api, dry.ID) {
		if !strings.HasSuffix(name, "-dry-run-add-members.csv") {
			t.Errorf("dry-run restore file %q", name)
		}
	}

	// Restore two selected users: one removed in Atlassian, one exported.
	x, y := removed[0], exported[0]
	sel := runAndWait(t, api, restorePath, map[string]any{"dryRun": false, "accountIds": []string{y.AccountID, x.AccountID}})
	selRows := runRows[restoreRow](api, sel.ID)
	var selGot []string
	for _, r := range selRows {
		selGot = append(selGot, r.AccountID+" "+r.Action+" "+r.Outcome)
	}
	slices.Sort(selGot)
	selWant := []string{x.AccountID + " " + cleanup.ActionRestoreGroup + " " + cleanup.OutcomeDone,
		y.AccountID + " " + cleanup.ActionIdPAddExport + " " + cleanup.OutcomeExported}
	slices.Sort(selWant)
	if diff := cmp.Diff(selWant, selGot); diff != "" {
		t.Errorf("selected restore rows (-want +got):\n%s", diff)
	}
	if !slices.Contains(cloud.Members(managed.ID), x.AccountID) {
		t.Errorf("%s is not back in %s", x.AccountID, managed.Name)
	}
	for name, content := range entraFiles(t, api, sel.ID) {
		if !strings.HasPrefix(name, cleanup.ExportKindEntraAdd+" "+synced.Name+"-") || !strings.HasSuffix(name, "-add-members.csv") {
			t.Errorf("selected restore file %q", name)
		}
		if want := expectedAddFile([]string{y.Email}); content != want {
			t.Errorf("selected restore file %q:\n%q\nwant\n%q", name, content, want)
		}
	}

	// Someone else changes some users meanwhile.
	deactivated, deleted, back := removed[1], removed[2], removed[3]
	deletedExported := exported[1]
	cloud.SetStatus(deactivated.AccountID, cleanup.StatusDeactivated)
	cloud.RemoveFromOrg(deleted.AccountID)
	cloud.RemoveFromOrg(deletedExported.AccountID)
	cloud.AddMember(managed.ID, back.AccountID)
	callsBefore = len(cloud.Calls())

	// Restore the whole run.
	all := runAndWait(t, api, restorePath, map[string]any{"dryRun": false})
	want := map[string]string{} // account → outcome: message prefix
	for _, r := range removed {
		want[r.AccountID] = cleanup.OutcomeDone + ": re-added to the group"
	}
	var wantFile []string
	for _, r := range exported {
		want[r.AccountID] = cleanup.OutcomeExported + ": written to the bulk-add file"
		if r.AccountID != y.AccountID && r.AccountID != deletedExported.AccountID {
			wantFile = append(wantFile, r.Email)
		}
	}
	want[x.AccountID] = fmt.Sprintf("%s: already restored by run #%d", cleanup.OutcomeNotRestored, sel.ID)
	want[y.AccountID] = fmt.Sprintf("%s: already restored by run #%d", cleanup.OutcomeNotRestored, sel.ID)
	want[deactivated.AccountID] = cleanup.OutcomeNotRestored + ": the account has been deactivated since the run"
	want[deleted.AccountID] = cleanup.OutcomeNotRestored + ": no longer in the organization"
	want[deletedExported.AccountID] = cleanup.OutcomeNotRestored + ": no longer in the organization"
	want[back.AccountID] = cleanup.OutcomeHasAccess + ": already back in the group"
	allRows := runRows[restoreRow](api, all.ID)
	if len(allRows) != len(removed)+len(exported) {
		t.Errorf("the restore has %d rows, want %d", len(allRows), len(removed)+len(exported))
	}
	for _, r := range allRows {
		got := r.Outcome + ": " + r.Message
		if w := want[r.AccountID]; !strings.HasPrefix(got, w) {
			t.Errorf("restore row %s %s: %q, want %q…", r.AccountID, r.Action, got, w)
		}
		if !strings.Contains(r.Reason, fmt.Sprintf("run #%d", runA.ID)) {
			t.Errorf("restore row %s: reason %q does not name run #%d", r.AccountID, r.Reason, runA.ID)
		}
	}
	// The managed group is as it was before run A, but for the users
	// someone else changed since (not re-added, each with its reason).
	// (RemoveFromOrg took the deleted users' other memberships too.)
	gone := func(ids ...string) func(string) bool {
		return func(id string) bool { return slices.Contains(ids, id) }
	}
	wantManaged := slices.DeleteFunc(slices.Clone(managedBefore), gone(deactivated.AccountID, deleted.AccountID, deletedExported.AccountID))
	if diff := cmp.Diff(wantManaged, sortedClone(cloud.Members(managed.ID))); diff != "" {
		t.Errorf("%s after the restore (-want +got):\n%s", managed.Name, diff)
	}
	wantSynced := slices.DeleteFunc(slices.Clone(syncedBefore), gone(deleted.AccountID, deletedExported.AccountID))
	if diff := cmp.Diff(wantSynced, sortedClone(cloud.Members(synced.ID))); diff != "" {
		t.Errorf("%s changed in Atlassian (-want +got):\n%s", synced.Name, diff)
	}
	var added []string
	for _, c := range cloud.Calls()[callsBefore:] {
		if c.Method != http.MethodPost || c.GroupID != managed.ID || c.Result != "added" {
			t.Errorf("unexpected call of the restore: %+v", c)
			continue
		}
		added = append(added, c.AccountID)
	}
	if want := len(removed) - 4; len(added) != want { // x (earlier), deactivated, deleted, back
		t.Errorf("the restore re-added %d users, want %d", len(added), want)
	}
	if all.Counts.Restored != len(removed)-4 || all.Counts.ExportedForIdP != len(wantFile) || all.Counts.HasAccess != 1 || all.Counts.NotRestored != 5 {
		t.Errorf("restore counts %+v", all.Counts)
	}
	files := entraFiles(t, api, all.ID)
	if len(files) != 1 {
		t.Fatalf("restore files: %v", slices.Collect(maps.Keys(files)))
	}
	for name, content := range files {
		wantName := fmt.Sprintf("%s %s-%s-add-members.csv", cleanup.ExportKindEntraAdd, synced.Name, time.Now().UTC().Format(time.DateOnly))
		if name != wantName {
			t.Errorf("restore file %q, want %q", name, wantName)
		}
		if diff := cmp.Diff(expectedAddFile(wantFile), content); diff != "" {
			t.Errorf("the bulk-add file (-want +got):\n%s", diff)
		}
	}

	// Restoring again finds nothing to do.
	callsBefore = len(cloud.Calls())
	again := runAndWait(t, api, restorePath, map[string]any{"dryRun": false})
	if again.Counts.Restored != 0 || again.Counts.ExportedForIdP != 0 || len(cloud.Calls()) != callsBefore {
		t.Errorf("the second restore did something: %+v, calls %+v", again.Counts, cloud.Calls()[callsBefore:])
	}
	if files := entraFiles(t, api, again.ID); len(files) != 0 {
		t.Errorf("the second restore wrote files: %v", slices.Collect(maps.Keys(files)))
	}

	// Restore run B through Graph: one removed user was deleted in Entra
	// meanwhile, another was added back by someone else.
	// (Users someone else deactivated or deleted in Atlassian above are
	// not re-added in Entra either.)
	changed := map[string]bool{deactivated.AccountID: true, deleted.AccountID: true, deletedExported.AccountID: true}
	var candidates []restoreRow
	for _, r := range removedInEntra {
		if !changed[r.AccountID] {
			candidates = append(candidates, r)
		}
	}
	deletedInEntra, readded := candidates[0], candidates[1]
	graph.DeleteUser(objectID[deletedInEntra.Email])
	graph.AddMember(directGraph, objectID[readded.Email])
	restB := runAndWait(t, api, fmt.Sprintf("/runs/%d/restore", runB.ID), map[string]any{"dryRun": false})
	notBack := map[string]bool{objectID[deletedInEntra.Email]: true}
	for _, r := range runRows[restoreRow](api, restB.ID) {
		wantOutcome := cleanup.OutcomeDone
		switch {
		case r.AccountID == deletedInEntra.AccountID:
			wantOutcome = cleanup.OutcomeNotRestored
		case changed[r.AccountID]:
			wantOutcome = cleanup.OutcomeNotRestored
			notBack[objectID[r.Email]] = true
		case r.AccountID == readded.AccountID:
			wantOutcome = cleanup.OutcomeHasAccess
		}
		if r.Action != cleanup.ActionIdPAdd || r.Outcome != wantOutcome {
			t.Errorf("restore of B: %s %s %s %q, want %s", r.Email, r.Action, r.Outcome, r.Message, wantOutcome)
		}
	}
	wantDirect := slices.DeleteFunc(slices.Clone(directBefore), func(id string) bool { return notBack[id] })
	if diff := cmp.Diff(wantDirect, sortedClone(graph.Members(directGraph))); diff != "" {
		t.Errorf("Entra group %s after the restore (-want +got):\n%s", direct.Name, diff)
	}
	if n := len(graph.Additions()); n != len(removedInEntra)-len(notBack)-1 {
		t.Errorf("Graph saw %d additions, want %d", n, len(removedInEntra)-len(notBack)-1)
	}

	// Run C deactivates the inactive managed accounts of the managed
	// group (suspended ones too); its restore reactivates exactly those
	// and suspends again those that were suspended.
	statuses := func() map[string]string {
		m := map[string]string{}
		for _, u := range cloud.Users() {
			m[u.AccountID] = u.Status
		}
		return m
	}
	statusBefore := statuses()
	var cc struct{ ID int64 }
	if code := api.do(http.MethodPost, "/cleanups", map[string]any{"name": "Deactivate inactive", "action": cleanup.ActionDeactivate,
		"manual": true, "daysInactive": 30, "licensingGroupIds": []string{managed.ID}}, &cc); code != http.StatusCreated {
		t.Fatalf("create cleanup C: %d", code)
	}
	runC := runAndWait(t, api, fmt.Sprintf("/cleanups/%d/run", cc.ID), map[string]bool{"dryRun": false})
	deactivatedByC := 0
	for id, st := range statuses() {
		if st != statusBefore[id] {
			if st != cleanup.StatusDeactivated {
				t.Errorf("run C made %s %s", id, st)
			}
			deactivatedByC++
		}
	}
	if deactivatedByC < 3 || runC.Counts.Deactivated != deactivatedByC {
		t.Fatalf("run C deactivated %d accounts, counts %+v", deactivatedByC, runC.Counts)
	}
	restC := runAndWait(t, api, fmt.Sprintf("/runs/%d/restore", runC.ID), map[string]any{"dryRun": false})
	if diff := cmp.Diff(statusBefore, statuses()); diff != "" {
		t.Errorf("account statuses after restoring run C (-before +after):\n%s", diff)
	}
	if restC.Counts.Restored != deactivatedByC {
		t.Errorf("restore of C counts %+v, want %d restored", restC.Counts, deactivatedByC)
	}
	suspendedBack := 0
	for _, r := range runRows[restoreRow](api, restC.ID) {
		want := "reactivated"
		if statusBefore[r.AccountID] == cleanup.StatusSuspended {
			want = "reactivated and suspended again, as before the run"
			suspendedBack++
		}
		if r.Action != cleanup.ActionReactivate || r.Outcome != cleanup.OutcomeDone || r.Message != want {
			t.Errorf("restore of C: %s %s %s %q, want %q", r.AccountID, r.Action, r.Outcome, r.Message, want)
		}
	}
	if suspendedBack == 0 {
		t.Error("run C deactivated no suspended account: the test does not show that suspensions come back")
	}

	// History lists the restores as runs of their own kind.
	var hist struct {
		Items []struct {
			ID        int64  `json:"id"`
			Trigger   string `json:"trigger"`
			RestoreOf int64  `json:"restoreOf"`
		} `json:"items"`
	}
	if code := api.do(http.MethodGet, "/runs?perPage=20", nil, &hist); code != http.StatusOK {
		t.Fatalf("history: %d", code)
	}
	restores := map[int64]int64{}
	for _, r := range hist.Items {
		if r.Trigger == cleanup.TriggerRestore {
			restores[r.ID] = r.RestoreOf
		}
	}
	wantRestores := map[int64]int64{dry.ID: runA.ID, sel.ID: runA.ID, all.ID: runA.ID, again.ID: runA.ID, restB.ID: runB.ID, restC.ID: runC.ID}
	if diff := cmp.Diff(wantRestores, restores); diff != "" {
		t.Errorf("restores in History (-want +got):\n%s", diff)
	}
	if code := other.do(http.MethodGet, "/runs/"+strconv.FormatInt(all.ID, 10), nil, nil); code != http.StatusNotFound {
		t.Errorf("B reads A's restore: %d, want 404", code)
	}
}
