package server_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/connect/connecttest"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
)

// apiSend sends a JSON request to the product's API as the admin
// (another admin's tab, in the tests) and fails unless it answers want.
func (e *uiEnv) apiSend(t *testing.T, p connect.Product, method, path, body string, want int) response {
	t.Helper()
	tok, err := connecttest.ContextToken(e.tenants[p], e.admin, time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	r := do(t, method, e.appURL+"/"+string(p)+"/api"+path,
		http.Header{"Authorization": {"JWT " + tok}, "Content-Type": {"application/json"}}, strings.NewReader(body))
	if r.status != want {
		t.Fatalf("%s %s: %d %s", method, path, r.status, r.body)
	}
	return r
}

// apiPatch changes settings through the API.
func (e *uiEnv) apiPatch(t *testing.T, p connect.Product, body string) {
	t.Helper()
	e.apiSend(t, p, http.MethodPatch, "/settings", body, http.StatusOK)
}

// noRawValues fails the test when the frame's text shows a value of the
// label table where its words belong: any value that reads like a machine
// value (with "-" or "_", such as "idp-export" or "partially_failed").
func (e *uiEnv) noRawValues(t *testing.T, f context.Context, what string) {
	t.Helper()
	var table map[string]map[string]string
	e.apiGet(t, connect.Jira, "/labels", &table)
	text := evalJS[string](t, f, `document.body.innerText`)
	for kind, values := range table {
		for v := range values {
			if strings.ContainsAny(v, "-_") && strings.Contains(text, v) {
				t.Errorf("%s shows the raw %s %q instead of its words", what, kind, v)
			}
		}
	}
}

func (e *uiEnv) storedKey(t *testing.T, p connect.Product) string {
	t.Helper()
	cr, err := e.store.Cleanups(nil).Credentials(context.Background(), e.tenants[p].ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	return cr.APIKey.Reveal()
}

// TestBrowserSettingsKeepWhatWasSet reproduces how settings were lost: an
// admin saves a wrong API key, reloads (the groups cannot load with it),
// fixes the key and saves. Nothing they set is lost: the provisioning
// toggle, the per-group setting and the exception group survive, because a
// section that did not load is not sent. The wrong key is saved only after
// its failed test is confirmed; and a save built on a copy someone else
// changed meanwhile is refused with the advice to reload.
func TestBrowserSettingsKeepWhatWasSet(t *testing.T) {
	e := newUIEnv(t)
	ctx := e.tab(t)
	const p = connect.Jira
	jsm, _ := e.cloud.GroupByName(atlassiantest.GroupJiraServiceMgmt)
	team, _ := e.cloud.GroupByName("team-01")
	open := func() context.Context {
		e.open(t, ctx, p, "settings", e.admin)
		f := e.frame(t, ctx, "/jira/admin/settings")
		waitJS(t, f, "settings form", `!document.getElementById('settings-form').hidden`)
		return f
	}
	saved := func(f context.Context, section string) {
		t.Helper()
		waitJS(t, f, section+" saved", `document.getElementById('status-`+section+`').textContent === 'Saved'`)
	}

	// What the admin sets: the organization, provisioning for Jira
	// Software, Jira Service Management's group as synced, an exception
	// group.
	f := open()
	setValue(t, f, "orgId", e.cloud.OrgID())
	setValue(t, f, "apiKey", "test-org-api-key")
	act(t, f, "save the organization", press(chromedp.ID("save-organization")))
	saved(f, "organization")
	waitJS(t, f, "products", `document.getElementById('prov-jira-software') !== null`)
	act(t, f, "products", press(chromedp.ID("tab-products")))
	evalJS[bool](t, f, `(() => { const s = document.getElementById('override-`+jsm.ID+`'); s.value = 'synced'; s.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`)
	act(t, f, "provisioning", press(chromedp.ID("prov-jira-software")))
	// Unsaved changes in two sections; saving one keeps the other's.
	act(t, f, "exceptions", press(chromedp.ID("tab-exceptions")), press(chromedp.ID("exc-group-"+team.ID)))
	waitJS(t, f, "two sections unsaved", `!document.querySelector('#tab-products .uc-dirty-mark').hidden && !document.querySelector('#tab-exceptions .uc-dirty-mark').hidden`)
	act(t, f, "save the exceptions", press(chromedp.ID("save-exceptions")))
	saved(f, "exceptions")
	if !evalJS[bool](t, f, `document.getElementById('prov-jira-software').checked && !document.querySelector('#tab-products .uc-dirty-mark').hidden`) {
		t.Fatal("saving the exceptions dropped the unsaved products")
	}
	act(t, f, "save the products", press(chromedp.ID("tab-products")), press(chromedp.ID("save-products")))
	saved(f, "products")
	var want cleanup.Settings
	e.apiGet(t, p, "/settings", &want)
	if !want.IdentityProvider.ProvisioningEnabled[cleanup.ProductJiraSoftware] || want.IdentityProvider.GroupOverrides[jsm.ID] != true ||
		!slices.Contains(want.Exceptions.GroupIDs, team.ID) {
		t.Fatalf("the admin's settings were not saved: %+v %+v", want.IdentityProvider, want.Exceptions)
	}

	// A wrong key: tested before it is saved. Declined, the stored key
	// stays; confirmed, it is saved.
	act(t, f, "organization", press(chromedp.ID("tab-organization")))
	setValue(t, f, "apiKey", "a-wrong-key")
	act(t, f, "save the wrong key", press(chromedp.ID("save-organization")))
	waitJS(t, f, "asked to confirm", `document.getElementById('confirm-organization').textContent.includes('The organization API key failed its test: The API key was rejected')`)
	axeCheck(t, f, "settings: save a key that failed its test?")
	act(t, f, "keep the stored key", press(chromedp.ID("save-cancel")))
	waitJS(t, f, "nothing saved", `document.getElementById('status-organization').textContent === 'Nothing was saved.'`)
	if got := e.storedKey(t, p); got != "test-org-api-key" {
		t.Fatalf("a declined key was stored: %q", got)
	}
	act(t, f, "save the wrong key again", press(chromedp.ID("save-organization")))
	waitJS(t, f, "asked again", `!document.getElementById('confirm-organization').hidden`)
	act(t, f, "save anyway", press(chromedp.ID("save-anyway")))
	saved(f, "organization")
	if got := e.storedKey(t, p); got != "a-wrong-key" {
		t.Fatalf("stored key %q after confirming", got)
	}

	// Reload: the groups cannot be read with the wrong key. The sections
	// that need them say so and are not sent.
	f = open()
	waitJS(t, f, "products not loaded", `document.querySelector('#products [data-not-loaded]') !== null && document.querySelector('#exception-groups [data-not-loaded]') !== null`)
	if got := evalJS[string](t, f, `document.querySelector('#products [data-not-loaded]').textContent`); !strings.Contains(got, "stay as saved") {
		t.Errorf("the products section says %q", got)
	}
	act(t, f, "products", press(chromedp.ID("tab-products")))
	axeCheck(t, f, "settings: the groups did not load")
	act(t, f, "organization", press(chromedp.ID("tab-organization")))

	// Fix the key and save: nothing the admin set is lost.
	setValue(t, f, "apiKey", "test-org-api-key")
	act(t, f, "save the right key", press(chromedp.ID("save-organization")))
	saved(f, "organization")
	var got cleanup.Settings
	e.apiGet(t, p, "/settings", &got)
	if !got.IdentityProvider.ProvisioningEnabled[cleanup.ProductJiraSoftware] || got.IdentityProvider.GroupOverrides[jsm.ID] != true ||
		!slices.Equal(want.Exceptions.GroupIDs, got.Exceptions.GroupIDs) {
		t.Errorf("settings lost: provisioning %v, overrides %v, exception groups %v (want %v)",
			got.IdentityProvider.ProvisioningEnabled, got.IdentityProvider.GroupOverrides, got.Exceptions.GroupIDs, want.Exceptions.GroupIDs)
	}
	f = open()
	waitJS(t, f, "the groups again", `document.getElementById('prov-jira-software') !== null`)
	if !evalJS[bool](t, f, `document.getElementById('prov-jira-software').checked && document.getElementById('override-`+jsm.ID+`').value === 'synced' && document.getElementById('exc-group-`+team.ID+`').checked`) {
		t.Error("the page does not show what the admin set")
	}

	// Someone else saves another section meanwhile: this page's save of
	// the organization is not refused, and their change stands.
	e.apiPatch(t, p, `{"activityAndExport": {"activity": {"activeDays": 20, "lowUsageDays": 60}}}`)
	setValue(t, f, "companyDomains", "mine.example")
	act(t, f, "save the organization after another section changed", press(chromedp.ID("save-organization")))
	saved(f, "organization")
	e.apiGet(t, p, "/settings", &got)
	if got.Activity.ActiveDays != 20 || !slices.Equal(got.CompanyDomains, []string{"mine.example"}) {
		t.Errorf("after saving another section: activity %+v, domains %v", got.Activity, got.CompanyDomains)
	}
	if v := evalJS[string](t, f, `document.getElementById('activeDays').value`); v != "20" {
		t.Errorf("the unchanged activity section shows %s, want the stored 20", v)
	}
	// Someone else saves the same section: this page's save is refused,
	// with the advice to reload the section, and their change stands.
	e.apiPatch(t, p, `{"organization": {"companyDomains": ["theirs.example"]}}`)
	setValue(t, f, "companyDomains", "mine-again.example")
	act(t, f, "save on an outdated copy", press(chromedp.ID("save-organization")))
	waitJS(t, f, "conflict", `!document.querySelector('#section-organization .uc-error-summary').hidden && document.getElementById('reload-organization') !== null`)
	if msg := evalJS[string](t, f, `document.querySelector('#section-organization .uc-error-summary').textContent`); !strings.Contains(msg, `Someone else saved "Organization"`) {
		t.Errorf("conflict message %q", msg)
	}
	axeCheck(t, f, "settings: conflict")
	e.apiGet(t, p, "/settings", &got)
	if !slices.Equal(got.CompanyDomains, []string{"theirs.example"}) {
		t.Errorf("after the refused save: domains %v", got.CompanyDomains)
	}
	act(t, f, "reload", press(chromedp.ID("reload-organization")))
	waitJS(t, f, "reloaded", `document.getElementById('companyDomains').value === 'theirs.example' && document.querySelector('#tab-organization .uc-dirty-mark').hidden`)
}

// apiCreate creates a cleanup through the API as the admin and returns it.
func (e *uiEnv) apiCreate(t *testing.T, p connect.Product, def string) cleanup.Cleanup {
	t.Helper()
	return decode[cleanup.Cleanup](t, e.apiSend(t, p, http.MethodPost, "/cleanups", def, http.StatusCreated))
}

// TestBrowserRunsSayWhy: a run that fails says why, in words an admin can
// act on, in the progress banner, the completion flag, the History row,
// Show users and the Export data dialog (none of them claims "no users
// selected"); a partially failed run lists how many users failed and why.
func TestBrowserRunsSayWhy(t *testing.T) {
	e := newUIEnv(t)
	ctx := e.tab(t)
	const p = connect.Jira
	jsw, _ := e.cloud.GroupByName(atlassiantest.GroupJiraSoftware)
	e.apiPatch(t, p, `{"organization": {"orgId": "`+e.cloud.OrgID()+`", "apiKey": "test-org-api-key"}}`)
	e.apiCreate(t, p, `{"name": "Inactive Jira", "action": "remove-product-access", "licensingGroupIds": ["`+jsw.ID+`"],
		"daysInactive": 30, "schedule": {"active": false, "frequency": "daily", "timeOfDay": "03:00", "timeZone": "UTC"}}`)
	e.apiPatch(t, p, `{"organization": {"apiKey": "a-revoked-key"}}`)
	const reason = "The organization API key was rejected"

	e.open(t, ctx, p, "cleanup", e.admin)
	f := e.frame(t, ctx, "/jira/admin/cleanup")
	waitJS(t, f, "schedule row", `document.querySelector('#schedules-table tbody tr') !== null`)
	act(t, f, "dry run", press(chromedp.CSS(`#schedules-table button[data-run="dry"]`)))
	waitJS(t, f, "run failed", `(document.querySelector('#runs-progress .uc-progress') || {dataset: {}}).dataset.status === 'failed'`)
	waitJS(t, f, "the banner says why", `(document.querySelector('#runs-progress .uc-run-error') || {}).textContent.includes(`+jsString(reason)+`)`)
	axeCheck(t, f, "a failed run")
	waitJS(t, ctx, "the flag says why", `[...document.querySelectorAll('#host-flags .host-flag')].some(el => el.textContent.includes('Dry run: failed') && el.textContent.includes(`+jsString(reason)+`))`)

	act(t, f, "history", press(chromedp.ID("tab-history")))
	waitJS(t, f, "history row", `document.querySelector('#history-table tbody tr[data-status="failed"] .uc-run-error') !== null`)
	if got := evalJS[string](t, f, `document.querySelector('#history-table tbody tr .uc-run-error').textContent`); !strings.Contains(got, reason) || !strings.Contains(got, "HTTP 401") {
		t.Errorf("history row says %q", got)
	}
	act(t, f, "show users", press(chromedp.CSS(`#history-table tbody tr button[data-users]`)))
	waitJS(t, f, "users of the failed run", `document.querySelector('#run-header.uc-run-header') !== null && document.querySelector('#users-results .uc-state-empty') !== null`)
	if got := evalJS[string](t, f, `document.getElementById('run-users').innerText`); !strings.Contains(got, "This run failed, so it changed nobody: "+reason) ||
		!strings.Contains(got, "The run failed before it matched any users.") || strings.Contains(got, "did not select") {
		t.Errorf("Show users of the failed run says %q", got)
	}
	e.noRawValues(t, f, "Show users")
	act(t, f, "back", press(chromedp.ID("users-back")))
	e.noRawValues(t, f, "History")
	act(t, f, "export data", press(chromedp.CSS(`#history-table button[data-export]`)))
	d := e.frame(t, ctx, "/jira/dialogs/export-data")
	waitJS(t, d, "the dialog says why", `document.getElementById('run-failed') !== null`)
	e.noRawValues(t, d, "the Export data dialog")
	axeCheck(t, d, "export dialog of a failed run")
	if got := evalJS[string](t, d, `document.getElementById('exports').innerText`); !strings.Contains(got, reason) || strings.Contains(got, "did not affect any users") {
		t.Errorf("the export dialog of the failed run says %q", got)
	}
	act(t, d, "close", press(chromedp.ID("close-dialog")))
	waitJS(t, ctx, "dialog closed", `document.getElementById('host-dialog').hidden`)

	// With the key fixed, a real run whose removals Jira refuses for two
	// users: partially failed, the two grouped under one reason.
	e.apiPatch(t, p, `{"organization": {"apiKey": "test-org-api-key"}}`)
	e.cloud.Inject(atlassiantest.Fault{Method: http.MethodDelete, Path: "/rest/api/3/group/user", Status: http.StatusBadRequest, Times: 2})
	act(t, f, "schedules", press(chromedp.ID("tab-schedules")))
	waitJS(t, f, "schedule row", `document.querySelector('#schedules-table tbody tr button[data-run="now"]') !== null`)
	act(t, f, "run now", press(chromedp.CSS(`#schedules-table button[data-run="now"]`)))
	act(t, f, "confirm", press(chromedp.ID("confirm-run-confirm")))
	waitJS(t, f, "partially failed", `(document.querySelector('#runs-progress .uc-progress') || {dataset: {}}).dataset.status === 'partially_failed'`)
	waitJS(t, f, "the banner accounts for it", `(document.querySelector('#runs-progress .uc-accounting') || {}).textContent.includes('2 failed')`)
	act(t, f, "show the failed users", press(chromedp.CSS(`#runs-progress button[data-show="failed"]`)))
	waitJS(t, f, "failed users", `document.querySelectorAll('#users-table tbody tr[data-outcome="failed"]').length === 2 && document.querySelector('#run-header [data-reasons="failed"]') !== null`)
	if got := evalJS[string](t, f, `document.querySelector('#run-header [data-reasons="failed"]').innerText`); !strings.Contains(got, "2 users: Jira: removing the user from the group failed with HTTP 400") {
		t.Errorf("failure reasons %q", got)
	}
	if got := evalJS[string](t, f, `document.querySelector('#run-header').textContent`); !strings.Contains(got, "Partially failed") || strings.Contains(got, "partially_failed") {
		t.Errorf("the run's header says %q", got)
	}
	e.noRawValues(t, f, "Show users of the partially failed run")
}

// TestBrowserSettingsHistory: "Keep run history and exports for (days)"
// shows the default, saves a valid value and refuses one below the
// minimum, keeping the stored value.
func TestBrowserSettingsHistory(t *testing.T) {
	e := newUIEnv(t)
	ctx := e.tab(t)
	const p = connect.Jira
	open := func() context.Context {
		e.open(t, ctx, p, "settings", e.admin)
		f := e.frame(t, ctx, "/jira/admin/settings")
		waitJS(t, f, "settings form", `!document.getElementById('settings-form').hidden`)
		return f
	}
	f := open()
	if got := evalJS[string](t, f, `document.getElementById('keepHistoryDays').value`); got != "400" {
		t.Errorf("keep history shows %q, want the default 400", got)
	}
	if label := evalJS[string](t, f, `document.querySelector('label[for=keepHistoryDays]').textContent`); label != "Keep run history and exports for (days)" {
		t.Errorf("label %q", label)
	}
	act(t, f, "activity and exports", press(chromedp.ID("tab-activityAndExport")))
	setValue(t, f, "keepHistoryDays", "90")
	act(t, f, "save 90 days", press(chromedp.ID("save-activityAndExport")))
	waitJS(t, f, "saved", `document.getElementById('status-activityAndExport').textContent === 'Saved'`)
	var got cleanup.Settings
	e.apiGet(t, p, "/settings", &got)
	if got.History.KeepDays != 90 {
		t.Fatalf("stored keepDays %d, want 90", got.History.KeepDays)
	}

	// Below the minimum: refused (by the browser's own check or the
	// server's, whichever comes first), the stored value stays.
	setValue(t, f, "keepHistoryDays", "10")
	act(t, f, "save 10 days", press(chromedp.ID("save-activityAndExport")))
	waitJS(t, f, "refused", `(() => { const el = document.getElementById('keepHistoryDays'); return el.matches(':invalid') || el.getAttribute('aria-invalid') === 'true'; })()`)
	e.apiGet(t, p, "/settings", &got)
	if got.History.KeepDays != 90 {
		t.Errorf("stored keepDays %d after a refused value, want 90", got.History.KeepDays)
	}
	// The API refuses it with the field named.
	r := e.apiSend(t, p, "PATCH", "/settings", `{"activityAndExport": {"history": {"keepDays": 29}}}`, 400)
	if !strings.Contains(r.body, "history.keepDays") {
		t.Errorf("API refusal %s does not name history.keepDays", r.body)
	}
	f = open()
	waitJS(t, f, "reloaded", `document.getElementById('keepHistoryDays').value === '90'`)
}
