package main

import (
	"fmt"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
)

// TestCrashResumeEvaluation SIGKILLs a real serve process while a run
// evaluates the organization through its parallel cursor chains, restarts
// it, and checks that the finished run evaluated exactly the users of the
// same run never killed: every row once, none missing, the same counts
// (a page evaluated twice would count its users twice; a skipped page
// would lose them).
func TestCrashResumeEvaluation(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	onEachDatabase(t, crashResumeEvaluation)
}

func crashResumeEvaluation(t *testing.T, databaseURL string) {
	cloud := atlassiantest.New(atlassiantest.Options{Seed: 12, Users: 6000, ExtraGroups: 4})
	t.Cleanup(cloud.Close)
	env, ks := serveEnv(t, cloud, databaseURL, map[string]string{"JOB_RESCUE_AFTER": "3s", "LOG_LEVEL": "debug"})
	first := startServe(t, env)

	site := cloud.Site(connect.Jira)
	app := connect.DescriptorParams{Product: connect.Jira, BaseURL: env["BASE_URL"], AppKey: defaultAppKey}.App()
	const clientKey, secret = "crash-eval-client", "shared-secret-of-the-crash-test-0123456789"
	tenant := signedInstall(t, ks, site, app, clientKey, secret)
	api := &apiClient{t: t, base: app.BaseURL + "/api", tenant: tenant, account: orgAdmin(t, cloud)}
	settings := map[string]any{"organization": map[string]any{"orgId": cloud.OrgID(), "apiKey": "test-org-api-key"}}
	if code := api.do(http.MethodPatch, "/settings", settings, nil); code != http.StatusOK {
		t.Fatalf("patch settings: %d", code)
	}
	var groups []string
	for _, name := range []string{atlassiantest.GroupJiraSoftware, atlassiantest.GroupEntraJira} {
		g, ok := cloud.GroupByName(name)
		if !ok {
			t.Fatalf("no group %s", name)
		}
		groups = append(groups, g.ID)
	}
	var created struct {
		ID int64 `json:"id"`
	}
	def := map[string]any{"name": "Crash evaluation", "action": cleanup.ActionRemoveProductAccess,
		"licensingGroupIds": groups, "daysInactive": 30, "includeNeverActive": true, "manual": true}
	if code := api.do(http.MethodPost, "/cleanups", def, &created); code != http.StatusCreated {
		t.Fatalf("create cleanup: %d", code)
	}
	start := func() int64 {
		var out struct {
			RunID int64 `json:"runId"`
		}
		if code := api.do(http.MethodPost, fmt.Sprintf("/cleanups/%d/run", created.ID), map[string]bool{"dryRun": true}, &out); code != http.StatusAccepted {
			t.Fatalf("start run: %d", code)
		}
		return out.RunID
	}
	finished := func(r apiRun) bool { return r.Status != cleanup.RunQueued && r.Status != cleanup.RunRunning }

	// The reference: the same dry run, never killed.
	ref := api.waitRun(start(), 60*time.Second, finished)
	if ref.Status != cleanup.RunSucceeded {
		t.Fatalf("reference run %s: %s", ref.Status, ref.Error)
	}
	want := rowSet(api.rows(ref.ID))
	if ref.Counts.Evaluated < 2000 || len(want) < 1000 {
		t.Fatalf("reference evaluated %d users into %d rows; the scenario needs more", ref.Counts.Evaluated, len(want))
	}

	// The same run slowed down, killed while its chains are part-way.
	cloud.SetLatency(120 * time.Millisecond)
	runID := start()
	at := api.waitRun(runID, 60*time.Second, func(r apiRun) bool {
		return finished(r) || r.Counts.Evaluated >= ref.Counts.Evaluated/3
	})
	first.kill(t)
	if finished(at) || at.Phase != cleanup.PhaseEvaluate || at.Counts.Evaluated >= ref.Counts.Evaluated {
		t.Fatalf("the kill came too late: %s/%s %+v", at.Status, at.Phase, at.Counts)
	}
	t.Logf("killed after %d of %d users evaluated", at.Counts.Evaluated, ref.Counts.Evaluated)

	startServe(t, env)
	final := api.waitRun(runID, 90*time.Second, finished)
	if final.Status != cleanup.RunSucceeded {
		t.Fatalf("run %s: %s (%+v)", final.Status, final.Error, final.Counts)
	}
	if final.Counts.Evaluation != ref.Counts.Evaluation {
		t.Errorf("counts after the restart %+v, want the never-killed run's %+v", final.Counts.Evaluation, ref.Counts.Evaluation)
	}
	got := rowSet(api.rows(runID))
	var missing, extra, dup []string
	for k := range want {
		if got[k] == 0 {
			missing = append(missing, k)
		}
	}
	for k, n := range got {
		if want[k] == 0 {
			extra = append(extra, k)
		}
		if n > 1 {
			dup = append(dup, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing)+len(extra)+len(dup) > 0 {
		t.Errorf("rows: %d missing %v, %d unplanned %v, duplicated %v", len(missing), head(missing), len(extra), head(extra), dup)
	}
}

// rowSet counts the rows by account, group, action and outcome.
func rowSet(rows []apiRow) map[string]int {
	m := map[string]int{}
	for _, r := range rows {
		m[rowKey(r)+"|"+r.Outcome]++
	}
	return m
}

func head(s []string) []string { return s[:min(len(s), 5)] }
