package main

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
)

// everything is what an admin can see of a run through the app: the raw
// bodies of the run history API (the run and all its rows) and every
// download of the Export data dialog (Entra files, audit CSV and JSON, the
// ZIP and each of its files decompressed), by name.
func everything(t *testing.T, api *apiClient, runID int64) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	raw := func(path string) []byte {
		var b rawBody
		if code := api.do(http.MethodGet, path, nil, &b); code != http.StatusOK {
			t.Fatalf("GET %s: %d", path, code)
		}
		return b
	}
	out["run"] = raw(fmt.Sprintf("/runs/%d", runID))
	for page := 1; page < 100; page++ {
		b := raw(fmt.Sprintf("/runs/%d/users?perPage=200&page=%d", runID, page))
		out[fmt.Sprintf("users-%d", page)] = b
		if bytes.Contains(b, []byte(`"items":[]`)) || bytes.Contains(b, []byte(`"items":null`)) {
			break
		}
	}
	// The users screen (the latest licence snapshot), every page.
	for page := 1; page < 100; page++ {
		b := raw(fmt.Sprintf("/users?perPage=200&page=%d", page))
		out[fmt.Sprintf("users-screen-%d", page)] = b
		if bytes.Contains(b, []byte(`"items":[]`)) || bytes.Contains(b, []byte(`"items":null`)) {
			break
		}
	}
	// The files are listed, then downloaded; when the erasure regenerates
	// them in between, the old links answer 404 (the files they named are
	// gone), and the listing is read again.
	deadline := time.Now().Add(30 * time.Second)
	for {
		files, ok := exportDownloads(t, api, runID, deadline)
		if ok {
			for name, b := range files {
				out[name] = b
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatal("the exports kept changing while they were downloaded")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// exportDownloads lists a run's exports once they are not pending and
// downloads each (a ZIP also as its files decompressed, "zip:" + name);
// false when a file listed was gone (404) by the time it was downloaded.
func exportDownloads(t *testing.T, api *apiClient, runID int64, deadline time.Time) (map[string][]byte, bool) {
	t.Helper()
	out := map[string][]byte{}
	var list struct {
		IdentityProvider []struct{ FileName, DownloadURL string }
		Audit            []struct{ FileName, DownloadURL string }
		Bundle           *struct{ FileName, DownloadURL string }
		Pending          bool
	}
	for {
		if code := api.do(http.MethodGet, fmt.Sprintf("/runs/%d/exports", runID), nil, &list); code != http.StatusOK {
			t.Fatalf("exports: %d", code)
		}
		if !list.Pending {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("exports stay pending")
		}
		time.Sleep(50 * time.Millisecond)
	}
	get := func(url string) ([]byte, int) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound {
			t.Fatalf("download %s: %d", url, resp.StatusCode)
		}
		return b, resp.StatusCode
	}
	files := append(list.IdentityProvider, list.Audit...)
	if list.Bundle != nil {
		files = append(files, *list.Bundle)
	}
	for _, f := range files {
		b, code := get(f.DownloadURL)
		if code == http.StatusNotFound {
			return nil, false
		}
		out[f.FileName] = b
		if strings.HasSuffix(f.FileName, ".zip") {
			zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			for _, zf := range zr.File {
				r, _ := zf.Open()
				zb, _ := io.ReadAll(r)
				_ = r.Close()
				out["zip:"+zf.Name] = zb
			}
		}
	}
	return out, true
}

// rawBody keeps a response body as it came.
type rawBody []byte

func (j *rawBody) UnmarshalJSON(b []byte) error { *j = append((*j)[:0], b...); return nil }

// find lists where the needles occur, byte-wise.
func find(all map[string][]byte, needles ...string) []string {
	var where []string
	for name, b := range all {
		for _, n := range needles {
			if n != "" && bytes.Contains(b, []byte(n)) {
				where = append(where, fmt.Sprintf("%s contains %q", name, n))
			}
		}
	}
	return where
}

// TestPersonalDataEndToEnd is the scenario through the real program
// (serve, River's personal_data_tick, SQLite and PostgreSQL) against the
// fake Atlassian cloud: a run removes and exports inactive users; one of
// the exported users' account is then closed; the next report erases it:
// the run history API, the audit CSV and JSON, the Entra file and the ZIP
// no longer contain the account's id, name or e-mail address, byte for
// byte; the counts are unchanged; the Entra file has one member less.
// (Other tenants' copies staying untouched is TestPersonalDataClosedAccount
// in internal/jobs: the fake answers "closed" to every installation, as
// Atlassian would.)
func TestPersonalDataEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	onEachDatabase(t, personalDataEndToEnd)
}

func personalDataEndToEnd(t *testing.T, databaseURL string) {
	cloud := atlassiantest.New(atlassiantest.Options{Seed: 31, Users: 300, ExtraGroups: 4})
	t.Cleanup(cloud.Close)
	env, ks := serveEnv(t, cloud, databaseURL, map[string]string{"PERSONAL_DATA_REPORT_INTERVAL": "1s"})
	proc := startServe(t, env)
	managed, _ := cloud.GroupByName(atlassiantest.GroupJiraSoftware)
	synced, _ := cloud.GroupByName(atlassiantest.GroupEntraJira)

	app := connect.DescriptorParams{Product: connect.Jira, BaseURL: env["BASE_URL"], AppKey: defaultAppKey}.App()
	tn := signedInstall(t, ks, cloud.Site(connect.Jira), app, "privacy-client", "shared-secret-of-the-privacy-tenant-0123456789")
	api := &apiClient{t: t, base: app.BaseURL + "/api", tenant: tn, account: orgAdmin(t, cloud)}
	settings := map[string]any{
		"organization":     map[string]any{"orgId": cloud.OrgID(), "apiKey": "test-org-api-key"},
		"identityProvider": map[string]any{"provider": cleanup.ProviderEntra},
	}
	if code := api.do(http.MethodPatch, "/settings", settings, nil); code != http.StatusOK {
		t.Fatalf("patch settings: %d", code)
	}
	var created struct{ ID int64 }
	def := map[string]any{"name": "Inactive Jira Software", "action": cleanup.ActionRemoveProductAccess, "manual": true,
		"daysInactive": 30, "licensingGroupIds": []string{managed.ID, synced.ID}}
	if code := api.do(http.MethodPost, "/cleanups", def, &created); code != http.StatusCreated {
		t.Fatalf("create cleanup: %d", code)
	}
	var started struct{ RunID int64 }
	if code := api.do(http.MethodPost, fmt.Sprintf("/cleanups/%d/run", created.ID), map[string]bool{"dryRun": false}, &started); code != http.StatusAccepted {
		t.Fatalf("start run: %d", code)
	}
	run := api.waitRun(started.RunID, 60*time.Second, func(r apiRun) bool { return r.Status != cleanup.RunQueued && r.Status != cleanup.RunRunning })
	if run.Status != cleanup.RunSucceeded {
		t.Fatalf("run %s: %s", run.Status, run.Error)
	}

	// A licence snapshot: the users screen lists the whole organization.
	var snap struct{ SnapshotID int64 }
	if code := api.do(http.MethodPost, "/snapshots", nil, &snap); code != http.StatusAccepted {
		t.Fatalf("refresh snapshot: %d", code)
	}
	for deadline := time.Now().Add(60 * time.Second); ; {
		var st struct{ Status string }
		if code := api.do(http.MethodGet, fmt.Sprintf("/snapshots/%d", snap.SnapshotID), nil, &st); code != http.StatusOK {
			t.Fatalf("snapshot: %d", code)
		}
		if st.Status == cleanup.SnapshotSucceeded {
			break
		}
		if st.Status == cleanup.SnapshotFailed || time.Now().After(deadline) {
			t.Fatalf("snapshot %s", st.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The victim: a person the run exported to the Entra file.
	before := everything(t, api, run.ID)
	var victim atlassiantest.User
	for _, u := range inactiveMembers(cloud.Users(), synced.ID, time.Now()) {
		if usableUPN(u.Email) && len(u.Name) > 3 && len(find(before, u.Email)) > 0 &&
			len(find(map[string][]byte{"users": before["users-screen-1"], "users2": before["users-screen-2"]}, u.AccountID)) > 0 {
			victim = u
			break
		}
	}
	if victim.AccountID == "" {
		t.Fatal("the run exported nobody: the test proves nothing")
	}
	entraBefore := 0
	for name, b := range before {
		if strings.HasSuffix(name, "remove-members.csv") && !strings.HasPrefix(name, "zip:") {
			entraBefore += bytes.Count(b, []byte("\n"))
		}
	}

	// personal_data_tick looks every second; the next report erases it.
	cloud.CloseAccount(victim.AccountID)
	deadline := time.Now().Add(60 * time.Second)
	var after map[string][]byte
	for {
		after = everything(t, api, run.ID)
		if len(find(after, victim.AccountID, victim.Name, victim.Email)) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not erased after 60 s:\n%s", strings.Join(find(after, victim.AccountID, victim.Name, victim.Email), "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(find(after, cleanup.ClosedAccountName)) == 0 {
		t.Error("no tombstone shown")
	}
	if got := api.run(run.ID); !cmp.Equal(got.Counts, run.Counts) {
		t.Errorf("counts changed:\n%s", cmp.Diff(run.Counts, got.Counts))
	}
	entraAfter := 0
	for name, b := range after {
		if strings.HasSuffix(name, "remove-members.csv") && !strings.HasPrefix(name, "zip:") {
			entraAfter += bytes.Count(b, []byte("\n"))
		}
	}
	if entraAfter != entraBefore-1 {
		t.Errorf("Entra files have %d lines, had %d: want one member less", entraAfter, entraBefore)
	}
	// The report was made in the installation's name.
	reported := false
	for _, r := range cloud.Reports() {
		if r.AccountID == victim.AccountID && r.ClientKey == tn.ClientKey {
			reported = true
		}
	}
	if !reported {
		t.Error("the account was not reported in the installation's name")
	}
	if !strings.Contains(proc.logs.String(), `"msg":"closed account erased"`) {
		t.Error("no audit line for the erasure in the log")
	}
}
