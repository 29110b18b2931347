package server_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
)

// TestBrowserAccessibility walks every page, tab, form state and dialog
// of both products in real Chromium and runs axe-core on each: no serious
// or critical violation anywhere. On the way it checks the keyboard: the
// confirmations are modal (Tab stays inside, Escape closes, the focus goes
// back to the button that opened them), and they say what will happen
// with the numbers of the last dry run. It takes the screenshots of the
// sectioned settings, a confirmation and the Export data dialog with three
// groups, at 1280 and 1024 pixels wide.
func TestBrowserAccessibility(t *testing.T) {
	e := newUIEnv(t)
	axeScript(t)
	// The check can fail: a page with an unlabelled field and faint text
	// has axe-core report them as critical and serious.
	t.Run("axe finds violations", func(t *testing.T) {
		ctx := e.tab(t)
		act(t, ctx, "open a bad page", chromedp.Navigate(`data:text/html,<!doctype html><html lang="en"><title>bad</title><main><input id="x"><p style="color:%23ccc;background:%23fff">faint text</p></main></html>`))
		got := map[string]string{}
		for _, v := range axeViolations(t, ctx, "a bad page") {
			got[v.ID] = v.Impact
		}
		for id, impact := range map[string]string{"label": "critical", "color-contrast": "serious"} {
			if got[id] != impact {
				t.Errorf("axe-core found %v, want %s (%s)", got, id, impact)
			}
		}
	})
	for _, p := range []connect.Product{connect.Jira, connect.Confluence} {
		t.Run(string(p), func(t *testing.T) { e.accessibilityWalk(t, p) })
	}
}

func (e *uiEnv) accessibilityWalk(t *testing.T, p connect.Product) {
	ctx := e.tabFor(t, 4*time.Minute)
	base := "/" + string(p)
	shots := p == connect.Jira
	shot := func(f context.Context, name string) {
		if shots {
			screenshotAt(t, ctx, f, name, 1280)
			screenshotAt(t, ctx, f, name+"-1024", 1024)
		}
	}

	// The site's organization; on Jira three licensing groups synced from
	// Entra ID (one reported by Atlassian, two set by the admin), and a
	// schedule that writes their Entra files; on Confluence a schedule
	// that removes access.
	e.apiPatch(t, p, `{"organization": {"orgId": "`+e.cloud.OrgID()+`", "apiKey": "test-org-api-key"}}`)
	var def string
	var groupIDs []string
	if p == connect.Jira {
		jsw, _ := e.cloud.GroupByName(atlassiantest.GroupJiraSoftware)
		jsm, _ := e.cloud.GroupByName(atlassiantest.GroupJiraServiceMgmt)
		entra, _ := e.cloud.GroupByName(atlassiantest.GroupEntraJira)
		e.apiPatch(t, p, `{"identityProvider": {"provider": "entra"}, "products": {"groupOverrides": {"`+jsw.ID+`": true, "`+jsm.ID+`": true}}}`)
		groupIDs = []string{entra.ID, jsw.ID, jsm.ID}
		def = `{"name": "Inactive Jira users leave the Entra groups", "action": "entra", "entraMode": "export", "daysInactive": 30, "includeNeverActive": true, "neverActiveMinAccountAgeDays": 0,`
	} else {
		conf, _ := e.cloud.GroupByName(atlassiantest.GroupConfluence)
		groupIDs = []string{conf.ID}
		def = `{"name": "Inactive Confluence users", "action": "remove-product-access", "daysInactive": 30,`
	}
	def += ` "licensingGroupIds": ["` + strings.Join(groupIDs, `", "`) + `"], "schedule": {"active": false, "frequency": "weekly", "weekdays": ["mon"], "timeOfDay": "03:00", "timeZone": "UTC"}}`
	c := e.apiCreate(t, p, def)

	// --- Settings: every section, an unsaved change, a failed save ---
	e.open(t, ctx, p, "settings", e.admin)
	f := e.frame(t, ctx, base+"/admin/settings")
	waitJS(t, f, "settings", `!document.getElementById('settings-form').hidden && document.querySelector('#products .uc-product') !== null`)
	for _, section := range []string{"organization", "products", "identityProvider", "exceptions", "activityAndExport"} {
		act(t, f, "section "+section, press(chromedp.ID("tab-"+section)))
		waitJS(t, f, "section "+section+" shown", `!document.getElementById('section-`+section+`').hidden`)
		axeCheck(t, f, "settings: "+section)
		if section == "products" {
			shot(f, "settings-sections")
		}
	}
	// Each section is short enough that its Save button is near what it
	// saves (one long form had Save 1,100 px below the provisioning toggle).
	heights := evalJS[string](t, f, `(() => {
		const out = [];
		for (const t of document.querySelectorAll('[role="tab"][data-section]')) {
			t.click();
			const panel = document.getElementById('section-' + t.dataset.section);
			out.push(t.dataset.section + ' ' + Math.round(panel.getBoundingClientRect().height));
		}
		document.getElementById('tab-products').click();
		const toggle = document.querySelector('.uc-prov').getBoundingClientRect().top;
		out.push('toggle to Save ' + Math.round(document.getElementById('save-products').getBoundingClientRect().top - toggle));
		return out.join(', ');
	})()`)
	t.Logf("section heights (px): %s", heights)
	if d := evalJS[float64](t, f, `document.getElementById('save-products').getBoundingClientRect().top - document.querySelector('.uc-prov').getBoundingClientRect().top`); d > 800 {
		t.Errorf("Save is %.0f px below the provisioning toggle", d)
	}
	// Keyboard: the arrows move between the sections.
	act(t, f, "arrow to the first section", chromedp.SendKeys(chromedp.ID("tab-activityAndExport"), kb.Home))
	if got := evalJS[string](t, f, `document.activeElement.id + ' ' + !document.getElementById('section-organization').hidden`); got != "tab-organization true" {
		t.Errorf("Home on the section tabs: %q, want the Organization tab focused and shown", got)
	}
	act(t, f, "activity and exports", press(chromedp.ID("tab-activityAndExport")))
	setValue(t, f, "activeDays", "0")
	setValue(t, f, "maxRowsPerFile", "1.5")
	waitJS(t, f, "unsaved changes", `document.getElementById('status-activityAndExport').textContent === 'Unsaved changes'`)
	axeCheck(t, f, "settings: unsaved changes")
	if got := noFocusRing(t, f); got != "" {
		t.Errorf("controls without a focus ring in Activity and exports: %s", got)
	}
	act(t, f, "save invalid", press(chromedp.ID("save-activityAndExport")))
	waitJS(t, f, "errors", `document.querySelectorAll('#section-activityAndExport .uc-error-summary li').length > 0`)
	summary := evalJS[string](t, f, `document.querySelector('#section-activityAndExport .uc-error-summary').innerText`)
	if !strings.Contains(summary, "Maximum rows per file must be a whole number.") || strings.Contains(summary, "JSON") {
		t.Errorf("the error summary says %q", summary)
	}
	axeCheck(t, f, "settings: errors")
	// The focus ring of a checkbox is visible from the keyboard.
	act(t, f, "focus a checkbox", chromedp.Focus(chromedp.ID("noBom")), chromedp.SendKeys(chromedp.ID("noBom"), kb.Tab+kb.Shift))
	evalJS[bool](t, f, `(document.getElementById('noBom').focus({focusVisible: true}), true)`)
	if got := evalJS[string](t, f, `getComputedStyle(document.getElementById('noBom')).outlineStyle`); got != "solid" {
		t.Errorf("a focused checkbox has outline %q, want a visible ring", got)
	}
	if got := evalJS[string](t, f, `getComputedStyle(document.getElementById('maxRowsPerFile')).borderTopColor`); got != "rgb(226, 72, 61)" {
		t.Errorf("an invalid field's border is %s, want the danger red", got)
	}

	// --- The error page, as a user without admin rights ---
	// Leaving with unsaved changes asks first.
	asked := e.leaveWarnings.Load()
	e.open(t, ctx, p, "settings", e.user)
	f = e.frame(t, ctx, base+"/admin/settings")
	waitJS(t, f, "the error page", `document.querySelector('[data-status]') !== null`)
	if e.leaveWarnings.Load() == asked {
		t.Error("leaving the settings with unsaved changes did not ask")
	}
	axeCheck(t, f, "403 page")

	// --- Scheduling and cleanup ---
	e.open(t, ctx, p, "cleanup", e.admin)
	f = e.frame(t, ctx, base+"/admin/cleanup")
	waitJS(t, f, "schedules", `document.querySelector('#schedules-table tbody tr') !== null`)
	axeCheck(t, f, "schedules")
	if got := noFocusRing(t, f); got != "" {
		t.Errorf("controls without a focus ring on Schedules: %s", got)
	}
	// The check sees a missing ring (a rule that hides it, as a later
	// input:focus{outline:none} once did).
	evalJS[bool](t, f, `(document.head.append(Object.assign(document.createElement('style'), {id: 'no-ring', textContent: '#add-schedule:focus-visible { outline: none !important; }'})), true)`)
	if got := noFocusRing(t, f); got != "add-schedule" {
		t.Errorf("with the ring hidden on + Add schedule the check finds %q", got)
	}
	evalJS[bool](t, f, `(document.getElementById('no-ring').remove(), true)`)
	if got := evalJS[string](t, f, `document.querySelector('.uc-page-header a').target`); got != "_top" {
		t.Errorf("the site link opens in %q, want the top window", got)
	}

	// Delete asks in a modal: Escape closes it, nothing is deleted and
	// the focus is back on Delete.
	del := fmt.Sprintf(`#schedules-table tr[data-cleanup="%d"] button[data-delete]`, c.ID)
	act(t, f, "delete", press(chromedp.CSS(del)))
	waitJS(t, f, "delete asks", `document.getElementById('confirm-delete') !== null && document.activeElement.id === 'confirm-delete-cancel'`)
	axeCheck(t, f, "delete confirmation")
	escape(t, f)
	waitJS(t, f, "closed, focus back on Delete", `document.getElementById('confirm-delete') === null && document.activeElement === document.querySelector(`+jsString(del)+`)`)
	e.apiSend(t, p, http.MethodGet, fmt.Sprintf("/cleanups/%d", c.ID), "", http.StatusOK)

	// Run now without a dry run says there is none.
	act(t, f, "run now", press(chromedp.CSS(`#schedules-table button[data-run="now"]`)))
	waitJS(t, f, "run asks", `document.querySelector('#confirm-run [data-no-dry-run]') !== null`)
	act(t, f, "cancel", press(chromedp.ID("confirm-run-cancel")))
	waitJS(t, f, "closed", `document.getElementById('confirm-run') === null && document.activeElement.dataset.run === 'now'`)

	// A dry run; then Run now states the action, the product and the
	// number of users from it; Tab stays inside the modal.
	act(t, f, "dry run", press(chromedp.CSS(`#schedules-table button[data-run="dry"]`)))
	waitJS(t, f, "dry run finished", `['succeeded', 'partially_failed'].includes((document.querySelector('#runs-progress .uc-progress') || {dataset: {}}).dataset.status)`)
	axeCheck(t, f, "schedules with a finished run")
	runID := evalJS[string](t, f, `document.querySelector('#runs-progress .uc-progress').dataset.runId`)
	var dry struct {
		Counts      cleanup.RunCounts
		NeedsManual []cleanup.ReasonCount
	}
	e.apiGet(t, p, "/runs/"+runID, &dry)
	waitJS(t, f, "the list knows the dry run", `(document.querySelector('#schedules-table td:nth-child(5)') || {textContent: ''}).textContent.includes('dry run')`)
	act(t, f, "run now", press(chromedp.CSS(`#schedules-table button[data-run="now"]`)))
	waitJS(t, f, "run asks", `document.querySelector('#confirm-run [data-impact]') !== null`)
	question := evalJS[string](t, f, `document.querySelector('#confirm-run [data-impact]').textContent`)
	want := fmt.Sprintf("Remove Confluence access for %d users?", dry.Counts.Matched)
	if p == connect.Jira {
		want = fmt.Sprintf("Write the Microsoft Entra ID removal files for %d users (Jira Software and Jira Service Management)? You upload them in the Entra admin center.", dry.Counts.Matched)
	}
	if question != want {
		t.Errorf("the confirmation asks %q, want %q", question, want)
	}
	manual := 0
	for _, r := range dry.NeedsManual {
		manual += r.Users
	}
	wantManual := ""
	switch {
	case manual == 1:
		wantManual = "1 user needs manual action"
	case manual > 1:
		wantManual = fmt.Sprintf("%d users need manual action", manual)
	}
	if got := evalJS[string](t, f, `(document.querySelector('#confirm-run [data-impact-manual]') || {}).textContent || ''`); !strings.HasPrefix(got, wantManual) || (wantManual == "") != (got == "") {
		t.Errorf("the confirmation says %q about the users who need manual action, want %q", got, wantManual)
	}
	// Tab and Shift+Tab go round the modal's buttons and never leave it.
	var seen []string
	for i, shift := range []bool{false, false, false, true, true} {
		key(t, f, "Tab", 9, shift)
		id := evalJS[string](t, f, `document.getElementById('confirm-run').contains(document.activeElement) ? document.activeElement.id : 'outside: ' + document.activeElement.outerHTML.slice(0, 60)`)
		seen = append(seen, id)
		if strings.HasPrefix(id, "outside") {
			t.Fatalf("Tab %d left the modal: %s", i+1, id)
		}
	}
	if want := []string{"confirm-run-confirm", "confirm-run-cancel", "confirm-run-confirm", "confirm-run-cancel", "confirm-run-confirm"}; !slices.Equal(seen, want) {
		t.Errorf("Tab, Tab, Tab, Shift+Tab, Shift+Tab focused %v, want %v", seen, want)
	}
	axeCheck(t, f, "run confirmation")
	shot(f, "confirm-run")
	escape(t, f)
	waitJS(t, f, "closed", `document.getElementById('confirm-run') === null`)

	// The creation form: empty, with the warning options, and refused.
	act(t, f, "add schedule", press(chromedp.ID("add-schedule")))
	waitJS(t, f, "form", `document.getElementById('sched-form') !== null`)
	axeCheck(t, f, "schedule form")
	act(t, f, "warn", press(chromedp.ID("sched-warn")))
	waitJS(t, f, "warning options", `!document.getElementById('sched-warn-box').hidden`)
	axeCheck(t, f, "schedule form with the warning")
	setValue(t, f, "sched-days", "0")
	act(t, f, "create", press(chromedp.ID("save-schedule")))
	waitJS(t, f, "errors", `document.querySelectorAll('#sched-form .uc-error-summary li a').length >= 2`)
	if got := evalJS[string](t, f, `document.querySelector('#sched-form .uc-error-summary').innerText`); !strings.Contains(got, "Name: enter a name for the cleanup.") ||
		!strings.Contains(got, "Days inactive must be a whole number of days between 1 and 3650.") {
		t.Errorf("the form's error summary says %q", got)
	}
	axeCheck(t, f, "schedule form with errors")
	act(t, f, "cancel", press(chromedp.CSS(`#sched-form button[data-cancel]`)))

	// Manual cleanup and History, Show users.
	act(t, f, "manual", press(chromedp.ID("tab-manual")))
	waitJS(t, f, "manual form", `document.getElementById('manual-form') !== null`)
	axeCheck(t, f, "manual cleanup")
	act(t, f, "history", press(chromedp.ID("tab-history")))
	waitJS(t, f, "history", `document.querySelector('#history-table tbody tr') !== null`)
	axeCheck(t, f, "history")
	if got := noFocusRing(t, f); got != "" {
		t.Errorf("controls without a focus ring in History: %s", got)
	}
	act(t, f, "show users", press(chromedp.CSS(`#history-table button[data-users]`)))
	waitJS(t, f, "users", `document.querySelector('#users-table tbody tr, #users-results .uc-state-empty') !== null`)
	axeCheck(t, f, "users of a run")
	act(t, f, "back", press(chromedp.ID("users-back")))

	// The Export data dialog names the run; with three groups the list
	// scrolls inside while the title and Close stay in the frame.
	act(t, f, "export data", press(chromedp.CSS(`#history-table button[data-export]`)))
	d := e.frame(t, ctx, base+"/dialogs/export-data")
	waitJS(t, d, "exports", `document.getElementById('audit-heading') !== null`)
	axeCheck(t, d, "export dialog")
	if got := evalJS[string](t, d, `document.getElementById('export-heading').textContent + ' | ' + document.getElementById('export-run').textContent`); !strings.HasPrefix(got, "Export data: "+c.Name+" | Dry run of ") {
		t.Errorf("the dialog's title says %q", got)
	}
	if p == connect.Jira {
		if n := evalJS[int](t, d, `document.querySelectorAll('#idp-exports tr[data-group]').length`); n != 3 {
			t.Errorf("the dialog lists %d Entra files, want 3", n)
		}
		shot(d, "export-dialog")
	}
	if got := evalJS[string](t, d, `(() => {
		const h = innerHeight, close = document.getElementById('close-dialog').getBoundingClientRect(), title = document.getElementById('export-heading').getBoundingClientRect();
		const spill = [...document.querySelectorAll('a.uc-download')].filter(a => a.scrollWidth > a.clientWidth + 1).length;
		return (close.bottom <= h && close.top >= 0 ? 'close in view' : 'close at ' + close.bottom + ' of ' + h) + ', ' +
			(title.top >= 0 ? 'title in view' : 'title at ' + title.top) + ', ' + spill + ' spilling';
	})()`); got != "close in view, title in view, 0 spilling" {
		t.Errorf("the dialog's layout: %s", got)
	}
	act(t, d, "close", press(chromedp.ID("close-dialog")))
	waitJS(t, ctx, "dialog closed", `document.getElementById('host-dialog').hidden`)
}

// noFocusRing returns the visible controls of the frame that show no
// focus ring when the keyboard focuses them (the focus comes from Tab
// first, so the browser is in keyboard mode).
func noFocusRing(t *testing.T, f context.Context) string {
	t.Helper()
	evalJS[bool](t, f, `(document.querySelector('button, a[href], input, select, textarea').focus(), true)`)
	key(t, f, "Tab", 9, false)
	return evalJS[string](t, f, `[...document.querySelectorAll('button, a[href], input, select, textarea, summary, [tabindex="0"]')]
		.filter(el => !el.disabled && el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden')
		.filter(el => { el.focus({focusVisible: true}); const cs = getComputedStyle(el); return document.activeElement === el && (cs.outlineStyle === 'none' || cs.outlineWidth === '0px'); })
		.map(el => el.id || el.tagName.toLowerCase() + '.' + el.className).join(', ')`)
}

// key presses a key (keyDown and keyUp, with Shift when shift) in the
// frame, where the focus is, as the keyboard does.
func key(t *testing.T, f context.Context, name string, code int64, shift bool) {
	t.Helper()
	var mod int64
	if shift {
		mod = 8 // Shift (DispatchKeyEventParams.Modifiers)
	}
	act(t, f, "press "+name, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
			if _, err := chromedp.Call(ctx, input.DispatchKeyEvent, input.DispatchKeyEventParams{
				Type: typ, Key: name, Code: name, WindowsVirtualKeyCode: code, NativeVirtualKeyCode: code, Modifiers: mod}); err != nil {
				return err
			}
		}
		return nil
	}))
}

// escape presses Escape in the frame (only the key press: the element
// that gets it may be gone before a key release).
func escape(t *testing.T, f context.Context) {
	t.Helper()
	act(t, f, "escape", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, input.DispatchKeyEvent, input.DispatchKeyEventParams{
			Type: input.DispatchKeyEventTypeRawKeyDown, Key: "Escape", Code: "Escape", WindowsVirtualKeyCode: 27, NativeVirtualKeyCode: 27})
		return err
	}))
}
