package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/idpexport"
)

// TestRestoreAPI: POST /api/runs/{id}/restore says what is wrong with a
// request (400 without dryRun, with an empty or unknown account), refuses
// what cannot be restored with the reason (409 for a dry run, a restore,
// a second restore while one is queued) and queues a restore (202) that
// lists as a run of its own kind.
func TestRestoreAPI(t *testing.T) {
	e := newCleanupEnv(t)
	e.saveSettings(t, e.a)
	jsw, _ := e.cloud.GroupByName(atlassiantest.GroupJiraSoftware)
	def := map[string]any{"name": "Inactive Jira", "action": cleanup.ActionRemoveProductAccess, "manual": true, "daysInactive": 30,
		"licensingGroupIds": []string{jsw.ID}}
	c := decode[cleanup.Cleanup](t, e.call(t, e.a, http.MethodPost, "/cleanups", def))
	dry := e.runNow(t, e.a, c.ID, true)
	real := e.runNow(t, e.a, c.ID, false)
	var removed string
	for _, u := range decode[struct {
		Items []struct {
			AccountID string `json:"accountId"`
		} `json:"items"`
	}](t, e.call(t, e.a, http.MethodGet, fmt.Sprintf("/runs/%d/users?outcome=done", real), nil)).Items {
		removed = u.AccountID
	}
	if removed == "" {
		t.Fatal("the run removed nobody")
	}
	path := func(id int64) string { return fmt.Sprintf("/runs/%d/restore", id) }
	tests := []struct {
		name   string
		id     int64
		body   any
		status int
		want   string
	}{
		{"no dryRun", real, map[string]any{}, http.StatusBadRequest, "dry run"},
		{"empty account", real, map[string]any{"dryRun": false, "accountIds": []string{" "}}, http.StatusBadRequest, "entry 1 is empty"},
		{"unknown account", real, map[string]any{"dryRun": false, "accountIds": []string{removed, "557058:nobody"}}, http.StatusBadRequest, "not users of run #"},
		{"a dry run", dry, map[string]any{"dryRun": false}, http.StatusConflict, "a dry run changed nothing"},
		{"no such run", real + 100, map[string]any{"dryRun": false}, http.StatusNotFound, "no such run"},
	}
	for _, tt := range tests {
		r := e.call(t, e.a, http.MethodPost, path(tt.id), tt.body)
		if r.status != tt.status || !strings.Contains(r.body, tt.want) {
			t.Errorf("%s: %d %s, want %d with %q", tt.name, r.status, r.body, tt.status, tt.want)
		}
	}
	r := e.call(t, e.a, http.MethodPost, path(real), map[string]any{"dryRun": false, "accountIds": []string{removed}})
	if r.status != http.StatusAccepted {
		t.Fatalf("restore: %d %s", r.status, r.body)
	}
	restoreID := decode[struct{ RunID int64 }](t, r).RunID
	if r := e.call(t, e.a, http.MethodPost, path(real), map[string]any{"dryRun": true}); r.status != http.StatusConflict ||
		!strings.Contains(r.body, fmt.Sprintf("restore run #%d of this run has not finished", restoreID)) {
		t.Errorf("second restore while one is queued: %d %s", r.status, r.body)
	}
	got := decode[struct {
		Trigger         string   `json:"trigger"`
		TriggerLabel    string   `json:"triggerLabel"`
		RestoreOf       int64    `json:"restoreOf"`
		RestoreAccounts []string `json:"restoreAccounts"`
		Phase           string   `json:"phase"`
		PhaseLabel      string   `json:"phaseLabel"`
	}](t, e.call(t, e.a, http.MethodGet, fmt.Sprintf("/runs/%d", restoreID), nil))
	if got.Trigger != cleanup.TriggerRestore || got.RestoreOf != real || len(got.RestoreAccounts) != 1 || got.RestoreAccounts[0] != removed ||
		got.Phase != cleanup.PhaseRestorePlan || got.TriggerLabel == got.Trigger || got.PhaseLabel == got.Phase {
		t.Errorf("the restore run: %+v", got)
	}
	en, err := cleanup.NewEngine(cleanup.EngineConfig{Store: e.cs, Connector: e.conn,
		Exporter: idpexport.NewExporter(e.st, idpexport.ExporterConfig{}), StepBudget: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		res, err := en.Step(context.Background(), e.a.ClientKey, restoreID, fmt.Sprintf("restore/%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if res.Done {
			break
		}
	}
	if r := e.call(t, e.a, http.MethodPost, path(restoreID), map[string]any{"dryRun": false}); r.status != http.StatusConflict ||
		!strings.Contains(r.body, "this run is a restore") {
		t.Errorf("restore of a restore: %d %s", r.status, r.body)
	}
}
