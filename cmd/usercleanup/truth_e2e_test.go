package main

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/connect/connecttest"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
)

// inactiveMembers computes from the seed, independently of the app, the
// members of a group that a remove-product-access cleanup with the
// defaults and daysInactive 30 selects: active people, not admins, with a
// last activity in Jira Software 30 days ago or more (never-active users
// are not included by default).
func inactiveMembers(users []atlassiantest.User, groupID string, now time.Time) []atlassiantest.User {
	var out []atlassiantest.User
	for _, u := range users {
		if !slices.Contains(u.GroupIDs, groupID) || u.Status != cleanup.StatusActive ||
			u.AccountType != cleanup.AccountAtlassian || len(u.Roles) > 0 {
			continue
		}
		last := u.LastActive[cleanup.ProductJiraSoftware]
		if last.IsZero() || now.Sub(last) < 30*24*time.Hour {
			continue
		}
		out = append(out, u)
	}
	return out
}

// usableUPN reports whether an Entra bulk-remove file can carry the
// address (the seed hides some e-mails and spoils others on purpose).
func usableUPN(email string) bool {
	at := strings.LastIndexByte(email, '@')
	return email != "" && !strings.ContainsAny(email, " ,;\"") && strings.Count(email, "@") == 1 && strings.Contains(email[at:], ".")
}

// fetchRunExports lists a run's exports and downloads the files, by name.
func fetchRunExports(t *testing.T, api *apiClient, runID int64) (map[string]string, []string) {
	t.Helper()
	var list struct {
		IdentityProvider []struct{ FileName, DownloadURL, GroupName string }
		Bundle           *struct{ FileName, DownloadURL string }
		Pending          bool
	}
	if code := api.do(http.MethodGet, fmt.Sprintf("/runs/%d/exports", runID), nil, &list); code != http.StatusOK || list.Pending {
		t.Fatalf("exports of run %d: %d pending=%v", runID, code, list.Pending)
	}
	get := func(url string) string {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("download %s: %d", url, resp.StatusCode)
		}
		return string(b)
	}
	files := map[string]string{}
	var groups []string
	for _, f := range list.IdentityProvider {
		files[f.GroupName] = get(f.DownloadURL)
		groups = append(groups, f.GroupName)
	}
	if list.Bundle != nil {
		files["bundle"] = get(list.Bundle.DownloadURL)
	}
	return files, groups
}

func csvMembers(csv string) []string {
	lines := strings.Split(strings.TrimSuffix(strings.TrimPrefix(csv, "\ufeff"), "\r\n"), "\r\n")
	return lines[1:] // after the header
}

// TestProvisioningTruthEndToEnd is the end-to-end scenario through
// the real program (serve, River jobs, SQLite) against the fake Atlassian
// cloud: install; settings with "Is user provisioning enabled?" on for
// Jira Software, whose licensing groups are one Atlassian-managed and one
// Entra-synced group; a cleanup removing product access in both; a dry
// run, then the run; the exports. The run removes exactly the inactive
// members of the Atlassian-managed group, in Atlassian, whatever the
// toggle says, and exports exactly those of the synced group (the users
// whose address a file cannot carry need manual action, each with the
// reason, listed in the ZIP's README).
func TestProvisioningTruthEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	cloud := atlassiantest.New(atlassiantest.Options{Seed: 31, Users: 400, ExtraGroups: 4})
	t.Cleanup(cloud.Close)
	env, ks := serveEnv(t, cloud, "sqlite://"+filepath.Join(t.TempDir(), "app.db"), nil)
	base := env["BASE_URL"]
	startServe(t, env)
	site := cloud.Site(connect.Jira)
	app := connect.DescriptorParams{Product: connect.Jira, BaseURL: base, AppKey: defaultAppKey}.App()
	const clientKey, secret = "truth-client", "shared-secret-of-the-truth-test-0123456789"
	tenant := site.Install(app.Key, clientKey, secret)
	if err := ks.Install(context.Background(), nil, app.BaseURL, connecttest.InstallPayload{
		Key: app.Key, ClientKey: clientKey, SharedSecret: secret, BaseURL: site.BaseURL(), ProductType: string(connect.Jira),
		CloudID: site.CloudID(),
	}); err != nil {
		t.Fatalf("install: %v", err)
	}
	api := &apiClient{t: t, base: app.BaseURL + "/api", tenant: tenant, account: orgAdmin(t, cloud)}

	managed, _ := cloud.GroupByName(atlassiantest.GroupJiraSoftware)
	synced, _ := cloud.GroupByName(atlassiantest.GroupEntraJira)
	settings := map[string]any{
		"organization":     map[string]any{"orgId": cloud.OrgID(), "apiKey": "test-org-api-key"},
		"identityProvider": map[string]any{"provider": cleanup.ProviderEntra},
		"products":         map[string]any{"provisioningEnabled": map[string]bool{cleanup.ProductJiraSoftware: true}},
	}
	if code := api.do(http.MethodPatch, "/settings", settings, nil); code != http.StatusOK {
		t.Fatalf("patch settings: %d", code)
	}
	var catalog cleanup.GroupCatalog
	if code := api.do(http.MethodGet, "/groups", nil, &catalog); code != http.StatusOK {
		t.Fatalf("groups: %d", code)
	}
	for _, g := range catalog.Groups {
		switch g.ID {
		case managed.ID:
			if g.Synced || g.Decision != "managed in Atlassian: reported by Atlassian, although provisioning is enabled" {
				t.Errorf("%s: synced %v, %q", g.Name, g.Synced, g.Decision)
			}
		case synced.ID:
			if !g.Synced || g.Decision != "synced: reported by Atlassian" {
				t.Errorf("%s: synced %v, %q", g.Name, g.Synced, g.Decision)
			}
		}
	}

	var created struct{ ID int64 }
	def := map[string]any{"name": "Inactive Jira Software", "action": cleanup.ActionRemoveProductAccess, "manual": true,
		"daysInactive": 30, "licensingGroupIds": []string{managed.ID, synced.ID}}
	if code := api.do(http.MethodPost, "/cleanups", def, &created); code != http.StatusCreated {
		t.Fatalf("create cleanup: %d", code)
	}
	start := func(dry bool) apiRun {
		var out struct{ RunID int64 }
		if code := api.do(http.MethodPost, fmt.Sprintf("/cleanups/%d/run", created.ID), map[string]bool{"dryRun": dry}, &out); code != http.StatusAccepted {
			t.Fatalf("start run: %d", code)
		}
		return api.waitRun(out.RunID, 60*time.Second, func(r apiRun) bool { return r.Status != cleanup.RunQueued && r.Status != cleanup.RunRunning })
	}

	// What the run must do, from the seed alone.
	now := time.Now()
	var wantRemoved, wantExported, wantManual []string
	for _, u := range inactiveMembers(cloud.Users(), managed.ID, now) {
		wantRemoved = append(wantRemoved, u.AccountID)
	}
	for _, u := range inactiveMembers(cloud.Users(), synced.ID, now) {
		if usableUPN(u.Email) {
			wantExported = append(wantExported, u.Email)
		} else {
			wantManual = append(wantManual, u.AccountID)
		}
	}
	slices.Sort(wantRemoved)
	slices.SortFunc(wantExported, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	if len(wantRemoved) < 10 || len(wantExported) < 5 || len(wantManual) == 0 {
		t.Fatalf("the seed selects %d removals, %d exports, %d manual: too few to prove anything", len(wantRemoved), len(wantExported), len(wantManual))
	}
	t.Logf("the cleanup selects %d removals in Atlassian, %d exports, %d needing manual action", len(wantRemoved), len(wantExported), len(wantManual))

	// The dry run changes nothing and previews the same file.
	dry := start(true)
	if dry.Status != cleanup.RunSucceeded {
		t.Fatalf("dry run %s: %s", dry.Status, dry.Error)
	}
	if calls := cloud.Calls(); len(calls) != 0 {
		t.Fatalf("the dry run changed something: %+v", calls)
	}
	files, groups := fetchRunExports(t, api, dry.ID)
	if diff := cmp.Diff([]string{synced.Name}, groups); diff != "" {
		t.Errorf("dry run files by group (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantExported, csvMembers(files[synced.Name])); diff != "" {
		t.Errorf("dry run's Entra file (-want +got):\n%s", diff)
	}

	// The run.
	run := start(false)
	if run.Status != cleanup.RunSucceeded {
		t.Fatalf("run %s: %s (%+v)", run.Status, run.Error, run.Counts)
	}
	var removed []string
	for _, c := range cloud.Calls() {
		if c.GroupID != managed.ID || c.Result != "removed" {
			t.Errorf("unexpected call %+v", c)
			continue
		}
		removed = append(removed, c.AccountID)
	}
	slices.Sort(removed)
	if diff := cmp.Diff(wantRemoved, removed); diff != "" {
		t.Errorf("removed in Atlassian from %s (-want +got):\n%s", managed.Name, diff)
	}
	files, groups = fetchRunExports(t, api, run.ID)
	if diff := cmp.Diff([]string{synced.Name}, groups); diff != "" {
		t.Errorf("run files by group (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantExported, csvMembers(files[synced.Name])); diff != "" {
		t.Errorf("run's Entra file for %s (-want +got):\n%s", synced.Name, diff)
	}
	if run.Counts.RemovedInAtlassian != len(wantRemoved) || run.Counts.ExportedForIdP != len(wantExported) || run.Counts.Manual != len(wantManual) {
		t.Errorf("counts %+v, want %d removed, %d exported, %d manual", run.Counts, len(wantRemoved), len(wantExported), len(wantManual))
	}

	// Everyone the run matched is accounted for: the ZIP's README lists
	// who needs manual action.
	zr, err := zip.NewReader(bytes.NewReader([]byte(files["bundle"])), int64(len(files["bundle"])))
	if err != nil {
		t.Fatal(err)
	}
	var readme string
	for _, f := range zr.File {
		if f.Name == "README.txt" {
			rc, _ := f.Open()
			b, _ := io.ReadAll(rc)
			_ = rc.Close()
			readme = string(b)
		}
	}
	if !strings.Contains(readme, fmt.Sprintf("Needs manual action (%d)", len(wantManual))) {
		t.Errorf("README does not list the %d users needing manual action:\n%s", len(wantManual), readme)
	}
	for _, id := range wantManual {
		if !strings.Contains(readme, "account "+id) {
			t.Errorf("README does not list %s", id)
		}
	}
}
