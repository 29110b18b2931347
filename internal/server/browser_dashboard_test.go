package server_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
)

// configureOrg stores the organization and its API key for the product's
// tenant, as an admin would in Settings.
func (e *uiEnv) configureOrg(t *testing.T, p connect.Product) {
	t.Helper()
	in := cleanup.SettingsInput{Settings: cleanup.DefaultSettings()}
	in.OrgID = e.cloud.OrgID()
	key := cleanup.Secret("test-org-api-key")
	in.APIKey = &key
	if _, err := e.svc.SaveSettings(cleanup.AsOperator(context.Background()), e.tenants[p].ClientKey, in); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserDashboard: the dashboard opens without figures and says how
// to get them; Refresh runs the snapshot as a job and the page shows its
// progress, then per product a stacked bar (an SVG image with a title and
// a description of every figure, a legend and a data table that agree
// with the API), the seats Jira reports (Confluence: not available), the
// seats the current cleanups could free and the 90-day trend with
// today's point.
func TestBrowserDashboard(t *testing.T) {
	e := newUIEnv(t)
	for _, p := range []connect.Product{connect.Jira, connect.Confluence} {
		t.Run(string(p), func(t *testing.T) {
			e.configureOrg(t, p)
			ctx := e.tab(t)
			e.open(t, ctx, p, "dashboard", e.admin)
			f := e.frame(t, ctx, "/"+string(p)+"/admin/dashboard")
			// The hourly snapshot tick runs once when the job runtime
			// starts, which may be after configureOrg: the page then opens
			// on that snapshot (or its progress) instead of empty.
			waitJS(t, f, "the dashboard", `document.querySelector('#dashboard .uc-state-empty, .uc-product-card') !== null`)
			if evalJS[bool](t, f, `document.querySelector('#dashboard .uc-state-empty') !== null`) {
				if got := evalJS[string](t, f, `document.getElementById('dashboard').textContent`); !strings.Contains(got, "press Refresh") {
					t.Errorf("the empty dashboard says %q", got)
				}
			}
			if got := evalJS[string](t, ctx, `[...document.querySelectorAll('.host-side a')].map(a => a.textContent.trim()).slice(0, 3).join(',')`); got != "Dashboard,Users,Settings" {
				t.Errorf("the app's pages in the host navigation start %q, want Dashboard, Users, Settings", got)
			}

			act(t, f, "refresh", press(chromedp.ID("refresh")))
			if !evalJS[bool](t, f, `document.getElementById('refresh').disabled || document.querySelector('#host-flags .host-flag') !== null`) {
				t.Error("Refresh stays enabled while the snapshot runs")
			}
			waitJS(t, ctx, "refreshed flag", `[...document.querySelectorAll('#host-flags .host-flag')].some(el => el.textContent.includes('Dashboard refreshed'))`)
			waitJS(t, f, "product cards", `document.querySelectorAll('.uc-product-card').length > 0 && !document.getElementById('refresh').disabled`)

			var d cleanup.Dashboard
			e.apiGet(t, p, "/dashboard", &d)
			if d.Latest == nil || d.Latest.Stats == nil || len(d.Latest.Stats.Products) == 0 {
				t.Fatalf("dashboard API: %+v", d)
			}
			for _, ps := range d.Latest.Stats.Products {
				card := `document.querySelector('.uc-product-card[data-product="` + ps.Key + `"]')`
				want := map[string]int{"active": ps.Active, "low-usage": ps.LowUsage, "inactive": ps.Inactive, "never-active": ps.Never,
					"admin": ps.ProtectedAdmins, "exception": ps.ProtectedExceptions, "bot": ps.ProtectedBots, "customer": ps.ProtectedCustomers}
				for seg, n := range want {
					got := evalJS[string](t, f, card+`.querySelector('.uc-chart-table tr[data-segment="`+seg+`"] td').textContent`)
					if got != fmt.Sprint(n) {
						t.Errorf("%s %s: table says %s, API %d", ps.Key, seg, got, n)
					}
					rects := evalJS[int](t, f, card+`.querySelectorAll('svg rect[data-segment="`+seg+`"]').length`)
					if (n > 0) != (rects == 1) {
						t.Errorf("%s %s: %d bar segments for %d users", ps.Key, seg, rects, n)
					}
				}
				svg := evalJS[string](t, f, `(() => { const s = `+card+`.querySelector('svg'); return s.getAttribute('role') + '|' + s.querySelector('title').textContent + '|' + s.querySelector('desc').textContent; })()`)
				if !strings.HasPrefix(svg, "img|"+ps.Name+": users by activity|") || !strings.Contains(svg, fmt.Sprintf("Inactive: %d", ps.Inactive)) {
					t.Errorf("%s chart is not described: %q", ps.Key, svg)
				}
				seats := evalJS[string](t, f, card+`.querySelector('[data-figure="seats"]').textContent`)
				switch {
				case ps.Seats == nil:
					if !strings.Contains(seats, "not available") {
						t.Errorf("%s seats without a report: %q", ps.Key, seats)
					}
				case seats != fmt.Sprintf("Seats: %d used of %d licensed", ps.Seats.Used, ps.Seats.Licensed):
					t.Errorf("%s seats: %q, API %+v", ps.Key, seats, ps.Seats)
				}
				if p == connect.Confluence && ps.Seats != nil {
					t.Errorf("Confluence reports seats: %+v", ps.Seats)
				}
				if p == connect.Jira && ps.Seats == nil {
					t.Errorf("Jira product %s without seats", ps.Key)
				}
				freeable := evalJS[string](t, f, card+`.querySelector('[data-figure="freeable"]').textContent`)
				if !strings.HasPrefix(freeable, fmt.Sprintf("%d seat", ps.Freeable)) {
					t.Errorf("%s freeable: %q, API %d", ps.Key, freeable, ps.Freeable)
				}
			}
			today := evalJS[string](t, f, `document.querySelector('#trend .uc-chart-table tbody tr th').textContent`)
			if len(d.Trend) == 0 || today != d.Trend[len(d.Trend)-1].Day {
				t.Errorf("trend table starts with %q, API trend %+v", today, d.Trend)
			}
			if got := evalJS[string](t, f, `document.querySelector('#trend svg').getAttribute('role') + ' ' + document.querySelector('#trend svg title').textContent`); got != "img Inactive users over the last 90 days" {
				t.Errorf("trend chart: %q", got)
			}
			if got := evalJS[string](t, f, `document.getElementById('snapshot-time').textContent`); !strings.HasPrefix(got, "Snapshot of ") {
				t.Errorf("snapshot time: %q", got)
			}
			e.noRawValues(t, f, "the dashboard")
			if p == connect.Jira {
				screenshot(t, ctx, f, "dashboard")
			}
		})
	}
}

// TestBrowserUsers: the users screen pages the latest snapshot on the
// server; search by e-mail finds the one user, the activity and protected
// filters narrow the list to exactly what the API counts, the columns
// sort (with aria-sort) and Next shows the second page.
func TestBrowserUsers(t *testing.T) {
	e := newUIEnv(t)
	const p = connect.Jira
	e.configureOrg(t, p)
	id, err := e.snaps.Refresh(cleanup.AsOperator(context.Background()), e.tenants[p].ClientKey, e.admin)
	if err != nil {
		t.Fatal(err)
	}
	waitSnapshot(t, e, p, id)
	ctx := e.tab(t)
	e.open(t, ctx, p, "users", e.admin)
	f := e.frame(t, ctx, "/jira/admin/users")
	waitJS(t, f, "the snapshot", `document.getElementById('users-status').textContent.includes('snapshot of')`)
	if got := evalJS[string](t, f, unlabelledJS); got != "" {
		t.Errorf("users screen controls without a label: %s", got)
	}
	snap, err := e.snaps.Snapshot(context.Background(), e.tenants[p].ClientKey, id)
	if err != nil || snap.Status != cleanup.SnapshotSucceeded {
		t.Fatalf("snapshot %+v %v", snap, err)
	}
	status := evalJS[string](t, f, `document.getElementById('users-status').textContent`)
	if !strings.HasPrefix(status, fmt.Sprintf("%d users", snap.Stats.Users)) {
		t.Errorf("status %q, snapshot has %d users", status, snap.Stats.Users)
	}
	if n := evalJS[int](t, f, `document.querySelectorAll('#users-table tbody tr').length`); n != min(50, snap.Stats.Users) {
		t.Errorf("first page has %d rows", n)
	}
	if snap.Stats.Users <= 25 {
		t.Fatalf("the seed has %d users with access: too few to page by 25", snap.Stats.Users)
	}

	var all struct {
		Items []cleanup.SnapshotUser `json:"items"`
		Total int                    `json:"total"`
	}
	e.apiGet(t, p, "/users?perPage=200&sort=email", &all)
	var target cleanup.SnapshotUser
	for _, u := range all.Items {
		if u.Email != "" && u.AccountType == cleanup.AccountAtlassian {
			target = u
			break
		}
	}
	if target.AccountID == "" {
		t.Fatal("no user with an e-mail in the snapshot")
	}
	rows := func() string {
		return evalJS[string](t, f, `[...document.querySelectorAll('#users-table tbody tr')].map(r => r.dataset.account).join(',')`)
	}
	filter := func(what string, set string) {
		t.Helper()
		evalJS[bool](t, f, `(() => { `+set+`; return true; })()`)
		act(t, f, "apply "+what, press(chromedp.CSS(`#user-filters button[type="submit"]`)))
	}
	evalJS[bool](t, f, `(window.rows = () => [...document.querySelectorAll('#users-table tbody tr')].map(r => r.dataset.account).join(','), true)`)

	setValue(t, f, "f-q", strings.ToUpper(target.Email))
	act(t, f, "search", press(chromedp.CSS(`#user-filters button[type="submit"]`)))
	waitJS(t, f, "one user", `document.getElementById('users-status').textContent.startsWith('1 user ')`)
	if got := rows(); got != target.AccountID {
		t.Errorf("search for %s shows %q", target.Email, got)
	}
	evalJS[bool](t, f, `(document.getElementById('f-q').value = '', true)`)

	var inactive struct {
		Total int `json:"total"`
	}
	e.apiGet(t, p, "/users?band=inactive&protected=no", &inactive)
	if inactive.Total == 0 {
		t.Fatal("the seed has no unprotected inactive user")
	}
	filter("inactive, not protected", `document.getElementById('f-band').value = 'inactive'; document.getElementById('f-protected').value = 'no'`)
	waitJS(t, f, "inactive users", fmt.Sprintf(`document.getElementById('users-status').textContent.startsWith('%d user')`, inactive.Total))
	if bad := evalJS[int](t, f, `[...document.querySelectorAll('#users-table tbody tr')].filter(r => r.querySelector('[data-band]').dataset.band !== 'inactive' || r.lastElementChild.textContent !== 'No').length`); bad != 0 {
		t.Errorf("%d rows are not inactive and unprotected", bad)
	}

	filter("every user", `document.getElementById('f-band').value = ''; document.getElementById('f-protected').value = ''`)
	waitJS(t, f, "every user", fmt.Sprintf(`document.getElementById('users-status').textContent.startsWith('%d users')`, snap.Stats.Users))
	act(t, f, "sort by e-mail", press(chromedp.CSS(`button[data-sort="email"]`)))
	waitJS(t, f, "sorted by e-mail", `document.querySelector('button[data-sort="email"]').closest('th').getAttribute('aria-sort') === 'ascending'`)
	var want []string
	for _, u := range all.Items[:min(50, len(all.Items))] {
		want = append(want, u.AccountID)
	}
	waitJS(t, f, "rows in e-mail order", `rows() === `+jsString(strings.Join(want, ",")))
	act(t, f, "sort by e-mail descending", press(chromedp.CSS(`button[data-sort="email"]`)))
	waitJS(t, f, "descending", `document.querySelector('button[data-sort="email"]').closest('th').getAttribute('aria-sort') === 'descending'`)
	act(t, f, "sort by name", press(chromedp.CSS(`button[data-sort="name"]`)))
	waitJS(t, f, "sorted by name", `document.querySelector('button[data-sort="name"]').closest('th').getAttribute('aria-sort') === 'ascending'`)
	filter("25 per page", `document.getElementById('f-perPage').value = '25'`)
	waitJS(t, f, "25 rows", `document.querySelectorAll('#users-table tbody tr').length === 25 && document.getElementById('page-of').textContent.startsWith('Page 1 of')`)
	first := rows()
	act(t, f, "next page", press(chromedp.ID("next-page")))
	waitJS(t, f, "page 2", `document.getElementById('page-of').textContent.startsWith('Page 2 of')`)
	var page2 struct {
		Items []cleanup.SnapshotUser `json:"items"`
	}
	e.apiGet(t, p, "/users?perPage=25&page=2", &page2)
	var want2 []string
	for _, u := range page2.Items {
		want2 = append(want2, u.AccountID)
	}
	if second := rows(); second == first || second != strings.Join(want2, ",") {
		t.Errorf("page 2 shows %q, want %q (page 1 %q)", second, strings.Join(want2, ","), first)
	}
	e.noRawValues(t, f, "the users screen")
	act(t, f, "back to page 1", press(chromedp.ID("prev-page")))
	waitJS(t, f, "page 1", `document.getElementById('page-of').textContent.startsWith('Page 1 of')`)
	screenshot(t, ctx, f, "users")

	// Bulk action: two unprotected users of this page. A dry run starts
	// without asking and changes nothing; Remove product access asks first,
	// stating the action and the count: Cancel starts nothing, confirming
	// runs it as a run whose rows are exactly those users.
	picked := evalJS[[]string](t, f, `[...document.querySelectorAll('#users-table tbody tr')].filter(r => r.lastElementChild.textContent === 'No').slice(0, 2).map(r => r.dataset.account)`)
	if len(picked) != 2 {
		t.Fatalf("no two unprotected users on the page: %v", picked)
	}
	for _, id := range picked {
		act(t, f, "select "+id, press(chromedp.CSS(`#users-table tr[data-account="`+id+`"] input.uc-select`)))
	}
	waitJS(t, f, "2 selected", `document.getElementById('selected-count').textContent === '2 users selected' && !document.getElementById('bulk-remove').disabled`)
	act(t, f, "dry run", press(chromedp.ID("bulk-dry-run")))
	waitProgress(t, f, "the dry run", `b.dataset.status === 'succeeded' && b.textContent.startsWith('Dry run')`)
	if evalJS[bool](t, f, `!!document.getElementById('confirm-dialog')?.open`) {
		t.Error("a dry run asked for confirmation")
	}
	if calls := e.cloud.Calls(); len(calls) != 0 {
		t.Errorf("the dry run changed something: %+v", calls)
	}
	var runs struct{ Total int }
	e.apiGet(t, p, "/runs", &runs)
	before := runs.Total

	act(t, f, "remove", press(chromedp.ID("bulk-remove")))
	waitJS(t, f, "confirmation", `!!document.getElementById('confirm-dialog')?.open`)
	if got := evalJS[string](t, f, `document.getElementById('confirm-dialog-title').textContent + ' | ' + document.getElementById('confirm-yes').textContent`); got != "Remove product access for 2 users? | Remove product access for 2 users" {
		t.Errorf("confirmation says %q", got)
	}
	if got := evalJS[string](t, f, `document.activeElement.id`); got != "confirm-no" {
		t.Errorf("focus in the confirmation is on %q, want Cancel", got)
	}
	act(t, f, "cancel", press(chromedp.ID("confirm-no")))
	waitJS(t, f, "dialog closed", `!document.getElementById('confirm-dialog')`)
	e.apiGet(t, p, "/runs", &runs)
	if runs.Total != before {
		t.Fatalf("Cancel started a run: %d runs, had %d", runs.Total, before)
	}
	act(t, f, "remove, then Escape", press(chromedp.ID("bulk-remove")))
	waitJS(t, f, "confirmation", `!!document.getElementById('confirm-dialog')?.open`)
	act(t, f, "escape", chromedp.KeyEvent(kb.Escape))
	waitJS(t, f, "dialog closed by Escape", `!document.getElementById('confirm-dialog')`)
	e.apiGet(t, p, "/runs", &runs)
	if runs.Total != before {
		t.Fatalf("Escape started a run: %d runs, had %d", runs.Total, before)
	}
	act(t, f, "remove again", press(chromedp.ID("bulk-remove")))
	waitJS(t, f, "confirmation", `!!document.getElementById('confirm-dialog')?.open`)
	act(t, f, "confirm", press(chromedp.ID("confirm-yes")))
	waitProgress(t, f, "the run", `b.dataset.status === 'succeeded' && !b.textContent.startsWith('Dry run')`)
	waitJS(t, f, "selection cleared", `document.getElementById('selected-count').textContent === 'No user selected'`)
	runID := evalJS[string](t, f, `document.querySelector('#bulk-progress .uc-progress').dataset.run`)
	var runRows struct {
		Items []struct {
			AccountID string `json:"accountId"`
		} `json:"items"`
	}
	e.apiGet(t, p, "/runs/"+runID+"/users?perPage=200", &runRows)
	if len(runRows.Items) == 0 {
		t.Fatal("the run has no rows")
	}
	for _, r := range runRows.Items {
		if !slices.Contains(picked, r.AccountID) {
			t.Errorf("the run has a row for %s, who was not chosen", r.AccountID)
		}
	}
	for _, c := range e.cloud.Calls() {
		if !slices.Contains(picked, c.AccountID) {
			t.Errorf("a change for %s, who was not chosen: %+v", c.AccountID, c)
		}
	}

	// Add to exceptions: confirmed, the settings hold the account.
	act(t, f, "select "+picked[0], press(chromedp.CSS(`#users-table tr[data-account="`+picked[0]+`"] input.uc-select`)))
	act(t, f, "add to exceptions", press(chromedp.ID("bulk-exceptions")))
	waitJS(t, f, "confirmation", `!!document.getElementById('confirm-dialog')?.open && document.getElementById('confirm-dialog-title').textContent === 'Add 1 user to the exceptions?'`)
	act(t, f, "confirm", press(chromedp.ID("confirm-yes")))
	waitJS(t, ctx, "flag", `[...document.querySelectorAll('#host-flags .host-flag')].some(el => el.textContent.includes('Added to the exceptions'))`)
	var set cleanup.Settings
	e.apiGet(t, p, "/settings", &set)
	if !slices.Contains(set.Exceptions.AccountIDs, picked[0]) {
		t.Errorf("exceptions %v lack %s", set.Exceptions.AccountIDs, picked[0])
	}
}

// waitSnapshot waits until the snapshot has finished and fails unless it
// succeeded.
func waitSnapshot(t *testing.T, e *uiEnv, p connect.Product, id int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		snap, err := e.snaps.Snapshot(context.Background(), e.tenants[p].ClientKey, id)
		if err != nil {
			t.Fatal(err)
		}
		if snap.Finished() {
			if snap.Status != cleanup.SnapshotSucceeded {
				t.Fatalf("snapshot %+v", snap)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("snapshot still %s after 30 s", snap.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestBrowserReviewList: after a real run of an "Add to list for review"
// cleanup, the users screen's "Marked for review" filter lists exactly
// the users it marked, each with the cleanup; Dismiss (confirmed) takes
// one off the list; Approve (confirmed) runs the cleanup's removal for
// another as a run, which removes exactly that user.
func TestBrowserReviewList(t *testing.T) {
	e := newUIEnv(t)
	const p = connect.Jira
	ck := e.tenants[p].ClientKey
	actx := cleanup.AsOperator(context.Background())
	e.configureOrg(t, p)
	jsw, _ := e.cloud.GroupByName(atlassiantest.GroupJiraSoftware)
	d := cleanup.DefaultDefinition()
	d.Name, d.Action, d.DaysInactive, d.Manual = "Quarterly review", cleanup.ActionReview, 30, true
	d.LicensingGroupIDs = []string{jsw.ID}
	c, err := e.svc.CreateCleanup(actx, ck, d)
	if err != nil {
		t.Fatal(err)
	}
	runID, err := e.svc.StartRun(actx, ck, c.ID, false, e.admin)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		run, err := e.svc.GetRun(actx, ck, runID)
		if err != nil {
			t.Fatal(err)
		}
		if run.Finished() {
			if run.Status != cleanup.RunSucceeded || run.Counts.Reviewed < 2 {
				t.Fatalf("review run %s, %d reviewed", run.Status, run.Counts.Reviewed)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the review run did not finish")
		}
		time.Sleep(100 * time.Millisecond)
	}
	id, err := e.snaps.Refresh(actx, ck, e.admin)
	if err != nil {
		t.Fatal(err)
	}
	waitSnapshot(t, e, p, id)
	var marked struct {
		Items []cleanup.SnapshotUser `json:"items"`
		Total int                    `json:"total"`
	}
	e.apiGet(t, p, "/users?review=true&perPage=200", &marked)
	if marked.Total < 2 {
		t.Fatalf("%d users marked for review", marked.Total)
	}

	ctx := e.tab(t)
	e.open(t, ctx, p, "users", e.admin)
	f := e.frame(t, ctx, "/jira/admin/users")
	waitJS(t, f, "the snapshot", `document.getElementById('users-status').textContent.includes('snapshot of')`)
	evalJS[bool](t, f, `(document.getElementById('f-review').value = 'true', true)`)
	act(t, f, "filter marked for review", press(chromedp.CSS(`#user-filters button[type="submit"]`)))
	waitJS(t, f, "the review list", fmt.Sprintf(`document.getElementById('users-status').textContent.startsWith('%d users')`, marked.Total))
	if bad := evalJS[int](t, f, `[...document.querySelectorAll('#users-table tbody tr')].filter(r => !r.querySelector('.uc-review').textContent.startsWith('Marked by "Quarterly review"')).length`); bad != 0 {
		t.Errorf("%d listed users do not say which cleanup marked them", bad)
	}
	rowIDs := evalJS[[]string](t, f, `[...document.querySelectorAll('#users-table tbody tr')].map(r => r.dataset.account)`)
	dismissed, approved := rowIDs[0], rowIDs[1]

	act(t, f, "select "+dismissed, press(chromedp.CSS(`#users-table tr[data-account="`+dismissed+`"] input.uc-select`)))
	act(t, f, "dismiss", press(chromedp.ID("review-dismiss")))
	waitJS(t, f, "confirmation", `!!document.getElementById('confirm-dialog')?.open && document.getElementById('confirm-dialog-title').textContent === 'Dismiss 1 user from the review list?'`)
	act(t, f, "confirm", press(chromedp.ID("confirm-yes")))
	waitJS(t, f, "one fewer", fmt.Sprintf(`document.getElementById('users-status').textContent.startsWith('%d user') && !document.querySelector('#users-table tr[data-account="%s"]')`, marked.Total-1, dismissed))
	if calls := e.cloud.Calls(); len(calls) != 0 {
		t.Errorf("dismissing changed something: %+v", calls)
	}

	act(t, f, "select "+approved, press(chromedp.CSS(`#users-table tr[data-account="`+approved+`"] input.uc-select`)))
	act(t, f, "approve", press(chromedp.ID("review-approve")))
	waitJS(t, f, "confirmation", `!!document.getElementById('confirm-dialog')?.open && document.getElementById('confirm-dialog-title').textContent === 'Approve the removal for 1 user?'`)
	act(t, f, "confirm", press(chromedp.ID("confirm-yes")))
	waitProgress(t, f, "the approval run", `b.dataset.status === 'succeeded'`)
	if got := evalJS[string](t, f, `document.querySelector('#bulk-progress .uc-progress strong').textContent`); got != "Review approved: Quarterly review, 1 user" {
		t.Errorf("approval run is %q", got)
	}
	waitJS(t, f, "two fewer", fmt.Sprintf(`document.getElementById('users-status').textContent.startsWith('%d user')`, marked.Total-2))
	for _, c := range e.cloud.Calls() {
		if c.AccountID != approved || c.GroupID != jsw.ID {
			t.Errorf("a change other than removing %s from %s: %+v", approved, jsw.Name, c)
		}
	}
	if slices.Contains(e.cloud.Members(jsw.ID), approved) {
		t.Errorf("%s is still in %s", approved, jsw.Name)
	}
	screenshot(t, ctx, f, "review-list")
}

// waitProgress waits until the newest run progress box of the users
// screen (b) satisfies cond, and fails with what the boxes say.
func waitProgress(t *testing.T, f context.Context, what, cond string) {
	t.Helper()
	expr := `(() => { const b = document.querySelector('#bulk-progress .uc-progress'); return !!b && (` + cond + `); })()`
	if _, err := chromedp.Run(f, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		boxes, _ := chromedp.Run(f, chromedp.Evaluate[string](`[...document.querySelectorAll('#bulk-progress .uc-progress')].map(b => b.dataset.run + ' ' + b.dataset.status + ': ' + b.textContent).join(' | ')`))
		t.Fatalf("waiting for %s: %v; progress: %s", what, err, boxes)
	}
}
