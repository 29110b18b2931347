package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/idpexport"
)

// runNow starts a run of the cleanup through the API and drives the real
// engine over the env's store and the fake cloud until it finishes.
func (e *cleanupEnv) runNow(t *testing.T, tn *connect.Tenant, cleanupID int64, dryRun bool) int64 {
	t.Helper()
	r := e.call(t, tn, http.MethodPost, fmt.Sprintf("/cleanups/%d/run", cleanupID), map[string]bool{"dryRun": dryRun})
	if r.status != http.StatusAccepted {
		t.Fatalf("start run: %d %s", r.status, r.body)
	}
	runID := decode[struct{ RunID int64 }](t, r).RunID
	en, err := cleanup.NewEngine(cleanup.EngineConfig{Store: e.cs, Connector: e.conn,
		Exporter: idpexport.NewExporter(e.st, idpexport.ExporterConfig{}), StepBudget: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		res, err := en.Step(context.Background(), tn.ClientKey, runID, fmt.Sprintf("test/%d", i))
		if err != nil {
			t.Fatalf("step: %v", err)
		}
		if res.Done {
			return runID
		}
		if i > 50 {
			t.Fatalf("run %d did not finish: %+v", runID, res)
		}
	}
}

type apiRunBody struct {
	Status      string                `json:"status"`
	StatusLabel string                `json:"statusLabel"`
	Error       string                `json:"error"`
	Counts      cleanup.RunCounts     `json:"counts"`
	NeedsManual []cleanup.ReasonCount `json:"needsManual"`
	Failures    []cleanup.ReasonCount `json:"failures"`
}

// TestRunsSayWhyAndAccountForEveryone: a run that failed says why in words
// an admin can act on, in GET /runs/:id, the History list and the export
// listing; a run's rows that need manual action are counted and grouped by
// reason; every value comes with its label.
func TestRunsSayWhyAndAccountForEveryone(t *testing.T) {
	e := newCleanupEnv(t)
	e.saveSettings(t, e.a)
	jsw, _ := e.cloud.GroupByName(atlassiantest.GroupJiraSoftware)
	synced, _ := e.cloud.GroupByName(atlassiantest.GroupEntraJira)
	def := map[string]any{"name": "Inactive Jira", "action": cleanup.ActionRemoveProductAccess, "manual": true, "daysInactive": 30,
		"licensingGroupIds": []string{jsw.ID, synced.ID}}
	c := decode[cleanup.Cleanup](t, e.call(t, e.a, http.MethodPost, "/cleanups", def))

	// No identity provider is configured: the synced group's users need
	// manual action, the others are removed in Atlassian.
	runID := e.runNow(t, e.a, c.ID, true)
	run := decode[apiRunBody](t, e.call(t, e.a, http.MethodGet, fmt.Sprintf("/runs/%d", runID), nil))
	if run.Status != cleanup.RunSucceeded || run.StatusLabel != "Succeeded" || run.Counts.Manual == 0 || len(run.NeedsManual) != 1 {
		t.Fatalf("run %+v", run)
	}
	if nm := run.NeedsManual[0]; !strings.Contains(nm.Reason, "no identity provider configured") || nm.Rows != run.Counts.Manual || nm.Users == 0 {
		t.Errorf("needs manual action %+v, counts %+v", nm, run.Counts)
	}
	rows := decode[struct {
		Items []map[string]any `json:"items"`
	}](t, e.call(t, e.a, http.MethodGet, fmt.Sprintf("/runs/%d/users?outcome=manual&perPage=200", runID), nil))
	if len(rows.Items) != run.Counts.Manual {
		t.Errorf("%d manual rows listed, counts say %d", len(rows.Items), run.Counts.Manual)
	}
	for _, r := range rows.Items {
		if r["outcomeLabel"] != "Needs manual action" || r["actionLabel"] != "Remove product access" {
			t.Errorf("row labels %v / %v", r["outcomeLabel"], r["actionLabel"])
		}
	}

	// A real run whose removals Jira refuses for two users: partially
	// failed, the failures grouped by reason (not one reason per user).
	e.cloud.Inject(atlassiantest.Fault{Method: http.MethodDelete, Path: "/rest/api/3/group/user", Status: http.StatusBadRequest, Times: 2})
	partialID := e.runNow(t, e.a, c.ID, false)
	partial := decode[apiRunBody](t, e.call(t, e.a, http.MethodGet, fmt.Sprintf("/runs/%d", partialID), nil))
	if partial.Status != cleanup.RunPartiallyFailed || partial.StatusLabel != "Partially failed" || partial.Counts.Failed != 2 ||
		len(partial.Failures) != 1 || partial.Failures[0].Users != 2 || !strings.Contains(partial.Failures[0].Reason, "HTTP 400") {
		t.Errorf("partially failed run: %s %q, failed %d, reasons %+v", partial.Status, partial.StatusLabel, partial.Counts.Failed, partial.Failures)
	}

	// A wrong API key: the next run fails, and says what to do.
	if r := e.call(t, e.a, http.MethodPatch, "/settings", m{"organization": m{"apiKey": "a-revoked-key"}}); r.status != http.StatusOK {
		t.Fatalf("patch key: %d %s", r.status, r.body)
	}
	failedID := e.runNow(t, e.a, c.ID, true)
	failed := decode[apiRunBody](t, e.call(t, e.a, http.MethodGet, fmt.Sprintf("/runs/%d", failedID), nil))
	if failed.Status != cleanup.RunFailed || failed.StatusLabel != "Failed" ||
		!strings.HasPrefix(failed.Error, "The organization API key was rejected") || !strings.Contains(failed.Error, "HTTP 401") {
		t.Errorf("failed run %+v", failed)
	}
	history := decode[struct {
		Items []apiRunBody `json:"items"`
	}](t, e.call(t, e.a, http.MethodGet, "/runs", nil))
	if len(history.Items) != 3 || history.Items[0].Error != failed.Error || history.Items[0].StatusLabel != "Failed" {
		t.Errorf("history %+v", history.Items)
	}
	exports := decode[struct {
		Run apiRunBody `json:"run"`
	}](t, e.call(t, e.a, http.MethodGet, fmt.Sprintf("/runs/%d/exports", failedID), nil))
	if exports.Run.Error != failed.Error || exports.Run.Status != cleanup.RunFailed {
		t.Errorf("export listing of the failed run: %+v", exports.Run)
	}
	labels := decode[map[string]map[string]string](t, e.call(t, e.a, http.MethodGet, "/labels", nil))
	if labels["runStatus"][cleanup.RunPartiallyFailed] != "Partially failed" || labels["action"][cleanup.ActionIdPExport] == "" {
		t.Errorf("labels %v", labels)
	}
}
