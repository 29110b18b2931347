package server_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
)

// TestBrowserRestoreAccess: after a run removed inactive users from a
// group, the admin restores one user from Show users (tick, "Restore
// access for 1 selected user", a confirmation that says what happens to
// how many users) and then the whole run from its History row (Cancel
// first: nothing starts, focus returns; then confirm). Each restore shows
// its progress and ends; the fake cloud has the users back in the group,
// and History lists the restores as runs of their own.
func TestBrowserRestoreAccess(t *testing.T) {
	e := newUIEnv(t)
	ctx := e.tab(t)
	const p = connect.Jira
	ck := e.tenants[p].ClientKey
	in := cleanup.SettingsInput{Settings: cleanup.DefaultSettings()}
	in.OrgID = e.cloud.OrgID()
	key := cleanup.Secret("test-org-api-key")
	in.APIKey = &key
	octx := cleanup.AsOperator(context.Background())
	if _, err := e.svc.SaveSettings(octx, ck, in); err != nil {
		t.Fatal(err)
	}
	jsw, _ := e.cloud.GroupByName(atlassiantest.GroupJiraSoftware)
	before := slices.Sorted(slices.Values(e.cloud.Members(jsw.ID)))
	d := cleanup.DefaultDefinition()
	d.Name, d.Action, d.Manual, d.DaysInactive, d.IncludeNeverActive, d.NeverActiveMinAccountAgeDays = "Inactive Jira", cleanup.ActionRemoveProductAccess, true, 30, true, 0
	d.LicensingGroupIDs = []string{jsw.ID}
	c, err := e.svc.CreateCleanup(octx, ck, d)
	if err != nil {
		t.Fatal(err)
	}
	runID, err := e.svc.StartRun(octx, ck, c.ID, false, e.admin)
	if err != nil {
		t.Fatal(err)
	}
	waitRun := func(id int64) cleanup.Run {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			r, err := e.svc.GetRun(octx, ck, id)
			if err != nil {
				t.Fatal(err)
			}
			if r.Finished() {
				return r
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %d stuck: %+v", id, r)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	run := waitRun(runID)
	removed := len(before) - len(e.cloud.Members(jsw.ID))
	if run.Status != cleanup.RunSucceeded || removed < 2 || run.Counts.RemovedInAtlassian != removed {
		t.Fatalf("the run removed %d users: %+v", removed, run)
	}

	e.open(t, ctx, p, "cleanup", e.admin)
	f := e.frame(t, ctx, "/jira/admin/cleanup")
	act(t, f, "history", press(chromedp.ID("tab-history")))
	waitJS(t, f, "restore button", fmt.Sprintf(`document.querySelector('#history-table button[data-restore="%d"]') !== null`, runID))

	// Restore one user from Show users.
	act(t, f, "show users", press(chromedp.CSS(fmt.Sprintf(`#history-table tr[data-run="%d"] button[data-users]`, runID))))
	waitJS(t, f, "users with checkboxes", `document.querySelector('#users-table input.uc-select') !== null`)
	if got := evalJS[string](t, f, unlabelledJS); got != "" {
		t.Errorf("controls without a label: %s", got)
	}
	if !evalJS[bool](t, f, `document.getElementById('restore-selected').disabled`) {
		t.Error("the restore button is enabled with nobody selected")
	}
	account := evalJS[string](t, f, `document.querySelector('#users-table input.uc-select').dataset.account`)
	act(t, f, "tick a user", press(chromedp.CSS(`#users-table input.uc-select`)))
	waitJS(t, f, "one selected", `document.getElementById('restore-selected').textContent === 'Restore access for 1 selected user'`)
	act(t, f, "restore selected", press(chromedp.ID("restore-selected")))
	waitJS(t, f, "confirmation", `document.querySelector('[role="alertdialog"]') !== null`)
	text := evalJS[string](t, f, `document.querySelector('[role="alertdialog"]').textContent`)
	for _, want := range []string{"Restore access of Inactive Jira (run #", "For the 1 selected user of this run", "not restored"} {
		if !strings.Contains(text, want) {
			t.Errorf("confirmation %q lacks %q", text, want)
		}
	}
	if got := evalJS[string](t, f, `document.activeElement.id`); got != "restore-confirm-yes" {
		t.Errorf("focus on %q, want the confirm button", got)
	}
	act(t, f, "confirm", press(chromedp.ID("restore-confirm-yes")))
	waitJS(t, f, "restore finished", `(() => { const el = document.querySelector('#runs-progress .uc-progress[data-restore]'); return el && el.dataset.status === 'succeeded'; })()`)
	if got := evalJS[string](t, f, `document.querySelector('#runs-progress .uc-progress[data-restore] .uc-accounting').textContent`); got != "1 restored" {
		t.Errorf("selected restore says %q, want 1 restored", got)
	}
	if !slices.Contains(e.cloud.Members(jsw.ID), account) || len(e.cloud.Members(jsw.ID)) != len(before)-removed+1 {
		t.Errorf("after the selected restore %d members, want %d with %s", len(e.cloud.Members(jsw.ID)), len(before)-removed+1, account)
	}

	// The whole run from History: Cancel first, then confirm.
	act(t, f, "back to history", press(chromedp.ID("users-back")))
	act(t, f, "reload history", press(chromedp.ID("tab-manual")), press(chromedp.ID("tab-history")))
	restore := fmt.Sprintf(`#history-table button[data-restore="%d"]`, runID)
	waitJS(t, f, "history with the restore", `document.querySelectorAll('#history-table tbody tr').length === 2`)
	act(t, f, "restore the run", press(chromedp.CSS(restore)))
	waitJS(t, f, "confirmation", `document.querySelector('[role="alertdialog"]') !== null`)
	text = evalJS[string](t, f, `document.querySelector('[role="alertdialog"]').textContent`)
	if want := fmt.Sprintf("re-add %d removed group memberships in Atlassian", removed); !strings.Contains(text, "For every user this run changed") || !strings.Contains(text, want) {
		t.Errorf("confirmation %q lacks %q", text, want)
	}
	axeCheck(t, f, "restore confirmation")
	screenshot(t, ctx, f, "history-restore")
	act(t, f, "cancel", press(chromedp.ID("restore-confirm-cancel")))
	waitJS(t, f, "confirmation closed, focus back", `document.querySelector('[role="alertdialog"]') === null && document.activeElement.dataset.restore === '`+fmt.Sprint(runID)+`'`)
	if runs, _, err := e.svc.ListRuns(octx, ck, cleanup.Page{}); err != nil || len(runs) != 2 {
		t.Fatalf("cancel started something: %d runs, %v", len(runs), err)
	}
	act(t, f, "restore the run", press(chromedp.CSS(restore)))
	waitJS(t, f, "confirmation", `document.querySelector('[role="alertdialog"]') !== null`)
	act(t, f, "confirm", press(chromedp.ID("restore-confirm-yes")))
	waitJS(t, f, "both restores finished", `[...document.querySelectorAll('#runs-progress .uc-progress[data-restore]')].filter(el => el.dataset.status === 'succeeded').length === 2`)
	if got := slices.Sorted(slices.Values(e.cloud.Members(jsw.ID))); !slices.Equal(got, before) {
		t.Errorf("after restoring the run the group has %d members, want the %d it had", len(got), len(before))
	}
	act(t, f, "reload history", press(chromedp.ID("tab-manual")), press(chromedp.ID("tab-history")))
	waitJS(t, f, "three runs", `document.querySelectorAll('#history-table tbody tr').length === 3`)
	names := evalJS[string](t, f, `[...document.querySelectorAll('#history-table tbody tr td:first-child')].map(td => td.textContent).join('|')`)
	want := fmt.Sprintf("Restore of run #%d: Inactive Jira|Restore of run #%d: Inactive Jira|Inactive Jira", runID, runID)
	if names != want {
		t.Errorf("History names %q, want %q", names, want)
	}
	if n := evalJS[int](t, f, `document.querySelectorAll('#history-table button[data-restore]').length`); n != 1 {
		t.Errorf("%d rows offer Restore access, want only the run's", n)
	}
	e.noRawValues(t, f, "History with restores")
}
