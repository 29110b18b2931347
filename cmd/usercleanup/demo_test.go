package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/demo"
)

// The demo test starts `usercleanup demo` through run() on a free port and
// walks a person's first visit in headless Chromium: Settings → "Is user
// provisioning enabled?" → a cleanup with the Microsoft Entra ID action →
// Dry run and Run now → History → Export data → the Entra CSV, whose bytes
// are checked against the seeded organization.
//
// Without Chromium it skips, unless CHROMIUM_REQUIRED=1. UPDATE_SCREENSHOTS=1
// rewrites docs/screenshots/demo-*.png (the README's walkthrough).

// lockedBuffer is an io.Writer safe for the demo's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func demoChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CHROMIUM_REQUIRED") == "1" {
		t.Fatal("Chromium is required (CHROMIUM_REQUIRED=1) but not installed: apt-get install -y chromium")
	}
	t.Skip("Chromium not installed; set CHROMIUM_REQUIRED=1 to make this a failure")
	return ""
}

var demoURLPattern = regexp.MustCompile(`Open (http://localhost:\d+)/ in your browser`)

// runningDemo is a demo started by startDemo.
type runningDemo struct {
	url            string
	stdout, stderr *lockedBuffer
	stop           func() error // cancels the demo and returns run's error
}

// startDemo runs `usercleanup demo args...` until the test ends and waits
// for the URL it prints.
func startDemo(t *testing.T, args ...string) *runningDemo {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &runningDemo{stdout: &lockedBuffer{}, stderr: &lockedBuffer{}}
	done := make(chan error, 1)
	getenv := func(string) string { return "" }
	go func() { done <- run(ctx, append([]string{"demo"}, args...), getenv, d.stdout, d.stderr) }()
	var once sync.Once
	var runErr error
	d.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(30 * time.Second):
				runErr = errors.New("the demo did not stop within 30 s of cancellation")
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := d.stop(); err != nil {
			t.Errorf("demo stopped with %v", err)
		}
		if t.Failed() {
			t.Logf("demo output:\n%s\ndemo log:\n%s", d.stdout.String(), d.stderr.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if m := demoURLPattern.FindStringSubmatch(d.stdout.String()); m != nil {
			d.url = m[1]
			return d
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("the demo ended before it was ready: %v\n%s", err, d.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo printed no URL within 60 s:\n%s", d.stdout.String())
		}
	}
}

// page drives the host page in one browser tab. The host page and the app
// share the demo's origin, so the app's frame (#host-frame) and the dialog's
// frame are reached through contentWindow.
type page struct {
	t   *testing.T
	ctx context.Context
}

func newPage(t *testing.T) *page {
	t.Helper()
	chrome := demoChromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	ctx, cancel := context.WithTimeout(bctx, 3*time.Minute)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &page{t: t, ctx: ctx}
}

// Frames of the host page.
const (
	appFrame    = `#host-frame`
	dialogFrame = `#host-dialog iframe`
)

// inFrame wraps a JavaScript expression so that it runs against the
// frame's document, location and window (the app's CSP forbids eval, so the
// expression runs in the host page with those names bound to the frame's).
func inFrame(frame, expr string) string {
	return `(() => { const f = document.querySelector(` + jsQuote(frame) + `);
		if (!f || !f.contentWindow || !f.contentDocument || f.contentDocument.readyState === 'loading') throw new Error('frame not ready');
		return ((document, location, window) => (` + expr + `))(f.contentDocument, f.contentWindow.location, f.contentWindow); })()`
}

func jsQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// eval evaluates expr in the frame ("" for the host page).
func eval[T any](p *page, frame, expr string) T {
	p.t.Helper()
	if frame != "" {
		expr = inFrame(frame, expr)
	}
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v\n%s", expr, err, p.text())
	}
	return v
}

// wait polls expr in the frame until it is true. Errors (a frame still
// loading, a navigation) count as false.
func (p *page) wait(what, frame, expr string) {
	p.t.Helper()
	if frame != "" {
		expr = inFrame(frame, expr)
	}
	expr = `(() => { try { return !!(` + expr + `); } catch (e) { return false; } })()`
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("waiting for %s (last error %v)\n%s", what, err, p.text())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// text is the visible text of the host page and its frames, for failures.
func (p *page) text() string {
	s, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`[document.body ? document.body.innerText : '',
		...[...document.querySelectorAll('iframe')].map(f => { try { return '--- frame ' + f.src.split('?')[0] + '\n' + f.contentDocument.body.innerText; } catch (e) { return ''; } })].join('\n')`))
	return s
}

// do runs browser actions on the host page.
func (p *page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v\n%s", what, err, p.text())
	}
}

// click clicks the element with the CSS selector in the frame.
func (p *page) click(frame, selector string) {
	p.t.Helper()
	p.wait(selector, frame, `document.querySelector(`+jsQuote(selector)+`) !== null`)
	eval[bool](p, frame, `(document.querySelector(`+jsQuote(selector)+`).click(), true)`)
}

// set gives a form control a value as typing or choosing would, with its
// input and change events.
func (p *page) set(frame, id, value string) {
	p.t.Helper()
	p.wait("#"+id, frame, `document.getElementById(`+jsQuote(id)+`) !== null`)
	eval[bool](p, frame, `(() => { const el = document.getElementById(`+jsQuote(id)+`); el.focus(); el.value = `+jsQuote(value)+`;
		el.dispatchEvent(new window.Event('input', {bubbles: true})); el.dispatchEvent(new window.Event('change', {bubbles: true})); return true; })()`)
}

// flag waits for a flag on the host page that contains text.
func (p *page) flag(text string) {
	p.t.Helper()
	p.wait("flag "+text, "", `[...document.querySelectorAll('#host-flags .host-flag')].some(el => el.textContent.includes(`+jsQuote(text)+`))`)
}

// screenshot saves the host page as docs/screenshots/<name>.png when
// UPDATE_SCREENSHOTS=1, with the app's frame scrolled to the element the
// selector names ("": its top).
func (p *page) screenshot(name, scrollTo string) {
	p.t.Helper()
	if os.Getenv("UPDATE_SCREENSHOTS") != "1" {
		return
	}
	eval[bool](p, "", `(document.querySelectorAll('#host-flags .host-flag').forEach(el => el.remove()), window.scrollTo(0, 0), true)`)
	if scrollTo != "" {
		// The host page grows the frame to its content (AP.resize), so the
		// host page scrolls: the element goes 24 px below the window's top.
		eval[bool](p, "", `(() => { const f = document.getElementById('host-frame');
			const el = f.contentDocument.querySelector(`+jsQuote(scrollTo)+`);
			window.scrollTo(0, f.getBoundingClientRect().top + el.getBoundingClientRect().top - 24); return true; })()`)
	}
	time.Sleep(300 * time.Millisecond)
	png, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join("..", "..", "docs", "screenshots", name+".png")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// expectedEntraCSV computes the Entra bulk-remove file of the walkthrough's
// cleanup (Microsoft Entra ID action on entra-jira-software, inactive for
// 30 days or never active, no minimum account age) from the seed's facts:
// every active, non-admin Atlassian account in the group whose last Jira
// Software activity is at least 30 whole days before now, or who never used
// it, identified by its e-mail (the seed's rule: a synced user's UPN is the
// e-mail; B2B guests are listed by e-mail and flagged). Users without a
// usable identifier (hidden e-mail, a space) are listed for manual action
// instead, not in the file. Microsoft's template: UTF-8 BOM, header, CRLF,
// members sorted case-insensitively.
func expectedEntraCSV(t *testing.T, users []atlassiantest.User, group atlassiantest.Group, now time.Time) (string, int) {
	t.Helper()
	var ids []string
	for _, u := range users {
		switch {
		case !slices.Contains(u.GroupIDs, group.ID),
			u.Status != cleanup.StatusActive,
			u.AccountType != cleanup.AccountAtlassian,
			len(u.Roles) > 0:
			continue
		}
		if last := u.LastActive[cleanup.ProductJiraSoftware]; !last.IsZero() && now.Sub(last) < 30*24*time.Hour {
			continue
		}
		if u.ManagementSource == cleanup.SourceSynced && u.UPN != u.Email {
			t.Fatalf("seed: synced user %s has UPN %q and e-mail %q, want them equal", u.AccountID, u.UPN, u.Email)
		}
		if u.Email == "" || strings.ContainsAny(u.Email, " ,;\"") || strings.Count(u.Email, "@") != 1 {
			continue
		}
		ids = append(ids, u.Email)
	}
	slices.SortFunc(ids, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	return "\ufeffMember object ID or user principal name [memberObjectIdOrUpn] Required\r\n" + strings.Join(ids, "\r\n") + "\r\n", len(ids)
}

func TestDemoWalkthrough(t *testing.T) {
	p := newPage(t)
	const users = 200
	d := startDemo(t, "--port", "0", "--users", strconv.Itoa(users), "--data", t.TempDir())

	// The seed's facts, from the same seed (dates differ by the seconds
	// between the two starts).
	seed := atlassiantest.New(atlassiantest.Options{Seed: demo.Seed, Users: users})
	t.Cleanup(seed.Close)
	group, ok := seed.GroupByName(atlassiantest.GroupEntraJira)
	if !ok {
		t.Fatal("seed has no Entra Jira group")
	}

	// The pre-filled connections passed their tests.
	if log := d.stderr.String(); strings.Count(log, `"org_verified":true`) != 2 || strings.Count(log, `"entra_verified":true`) != 2 {
		t.Errorf("the pre-filled connections of both sites are not verified:\n%s", log)
	}

	// The printed summary names what the demo started.
	out := d.stdout.String()
	for _, want := range []string{"Fake Jira site", "Fake Confluence", "Organizations API", "Microsoft Graph", "Install keys", "organization org-0001, 200 accounts", "Pre-filled for the demo"} {
		if !strings.Contains(out, want) {
			t.Errorf("the demo's summary lacks %q:\n%s", want, out)
		}
	}

	// Step 0: the host page opens on Jira admin → Dashboard, framed with
	// a page JWT, with the first snapshot's figures (taken as the demo
	// starts): per Jira product the users by activity, the seats Jira
	// reports and the seats the cleanups could free.
	p.do("open the demo", chromedp.Navigate(d.url+"/"))
	nav := eval[string](p, "", `[...document.querySelectorAll('.host-top nav a')].map(a => a.textContent).join(',')`)
	if nav != "Jira admin,Confluence admin" {
		t.Errorf("host navigation = %q, want Jira admin, Confluence admin", nav)
	}
	if src := eval[string](p, "", `document.getElementById('host-frame').src`); !strings.HasPrefix(src, d.url+"/jira/admin/dashboard?") || !strings.Contains(src, "jwt=") {
		t.Errorf("framed page = %s, want the Jira dashboard with a page JWT", src)
	}
	p.wait("dashboard figures", appFrame, `document.querySelectorAll('.uc-product-card').length === 2 && document.querySelector('#trend svg') !== null`)
	if got := eval[string](p, appFrame, `[...document.querySelectorAll('.uc-product-card h2')].map(h => h.textContent).join(',')`); got != "Jira Service Management,Jira Software" {
		t.Errorf("dashboard products = %q", got)
	}
	if got := eval[string](p, appFrame, `document.querySelector('.uc-product-card[data-product="jira-software"] [data-figure="seats"]').textContent`); !strings.HasPrefix(got, "Seats: ") || !strings.Contains(got, " used of 100000 licensed") {
		t.Errorf("Jira Software seats = %q", got)
	}
	p.screenshot("demo-dashboard", "")

	// Step 1: Settings, with the organization and Entra connection
	// pre-filled.
	p.click("", `.host-side a[href*="page=settings"]`)
	p.wait("settings form", appFrame, `!document.getElementById('settings-form').hidden && document.getElementById('prov-jira-software') !== null`)
	if got := eval[string](p, appFrame, `document.getElementById('orgId').value + ' ' + document.getElementById('provider').value`); got != "org-0001 entra" {
		t.Errorf("pre-filled settings: organization and identity provider = %q, want \"org-0001 entra\"", got)
	}

	// Step 1 (README): each licensing group of Jira Software says where
	// its members are removed and why. Atlassian reports both, so the
	// toggle moves neither: switched on and saved, it agrees with the
	// synced group, and the page warns about the other.
	jsw, _ := seed.GroupByName(atlassiantest.GroupJiraSoftware)
	decisions := func() string {
		return eval[string](p, appFrame, `['`+jsw.ID+`', '`+group.ID+`'].map(id => (document.querySelector('.uc-product[data-product="jira-software"] tr[data-group="' + id + '"] [data-decision]') || {dataset: {}}).dataset.decision).join(' / ')`)
	}
	if got, want := decisions(), "managed in Atlassian: reported by Atlassian / synced: reported by Atlassian, although provisioning is not enabled"; got != want {
		t.Errorf("decisions as the page opens:\n%s\nwant\n%s", got, want)
	}
	p.click(appFrame, "#tab-products")
	p.click(appFrame, "#prov-jira-software")
	p.click(appFrame, "#save-products")
	p.flag("Products and licensing groups saved")
	p.wait("decisions with the toggle on", appFrame, `document.querySelector('.uc-product[data-product="jira-software"] .uc-warnings') !== null`)
	if got, want := decisions(), "managed in Atlassian: reported by Atlassian, although provisioning is enabled / synced: reported by Atlassian"; got != want {
		t.Errorf("decisions with provisioning enabled:\n%s\nwant\n%s", got, want)
	}
	p.screenshot("demo-settings", "#products")

	// Step 2 (README): Scheduling and cleanup → + Add schedule. The form
	// opens as the README describes it.
	p.click("", `.host-side a[href*="page=cleanup"]`)
	p.wait("schedules", appFrame, `location.pathname === '/jira/admin/cleanup' && document.querySelector('#schedules .uc-state-empty, #schedules-table') !== null`)
	p.click(appFrame, "#add-schedule")
	p.wait("creation form", appFrame, `document.getElementById('sched-form') !== null && document.getElementById('sched-lic-`+group.ID+`') !== null`)
	opened := eval[string](p, appFrame, `(() => { const v = (id) => document.getElementById(id); return [
		v('sched-name').value, document.querySelectorAll('#sched-lic input:checked').length, v('sched-days').value,
		v('sched-never').checked, v('sched-minAge').closest('.uc-field').hidden, v('sched-minAge').value,
		v('sched-skipApps').checked, v('sched-skipCustomers').checked, v('sched-action').selectedOptions[0].text,
		v('sched-active').checked, v('sched-freq').value, [...document.querySelectorAll('[id^="sched-wd-"]:checked')].map(e => e.id).join('+'),
		v('sched-time').value].join('|'); })()`)
	if want := "|0|90|false|true|30|true|true|Add to list for review|false|weekly|sched-wd-mon|03:00"; opened != want {
		t.Errorf("the form opens as\n%s\nthe README says\n%s", opened, want)
	}
	if !eval[bool](p, appFrame, `[...document.getElementById('sched-action').options].some(o => o.value === 'entra' && o.text === 'Microsoft Entra ID action')`) {
		t.Fatal(`the form does not offer "Microsoft Entra ID action"`)
	}
	p.set(appFrame, "sched-name", "Entra leavers")
	p.click(appFrame, "#sched-lic-"+group.ID)
	p.set(appFrame, "sched-days", "30")
	p.click(appFrame, "#sched-never")
	// The minimum account age appears under it once ticked.
	p.wait("minimum account age", appFrame, `!document.getElementById('sched-minAge').closest('.uc-field').hidden`)
	p.set(appFrame, "sched-minAge", "0")
	p.set(appFrame, "sched-action", "entra")
	p.wait("Entra options", appFrame, `!document.getElementById('sched-entraMode').closest('.uc-field').hidden`)
	p.screenshot("demo-cleanup", "")
	p.click(appFrame, "#save-schedule")
	p.wait("schedule row", appFrame, `document.querySelector('#schedules-table tbody tr') !== null`)
	if row := eval[string](p, appFrame, `document.querySelector('#schedules-table tbody tr').innerText`); !strings.Contains(row, "Entra leavers") || !strings.Contains(row, "Microsoft Entra ID action") {
		t.Errorf("schedule row = %q", row)
	}

	// Step 3: Dry run, then Run now (after its confirmation).
	p.click(appFrame, `#schedules-table button[data-run="dry"]`)
	p.wait("dry run finished", appFrame, `(document.querySelector('#runs-progress .uc-progress') || {dataset: {}}).dataset.status === 'succeeded'`)
	dryRun := eval[string](p, appFrame, `document.querySelector('#runs-progress .uc-progress').dataset.runId`)
	p.click(appFrame, `#schedules-table button[data-run="now"]`)
	p.click(appFrame, `#confirm-run-confirm`)
	p.wait("run finished", appFrame, `(() => { const e = document.querySelector('#runs-progress .uc-progress'); return e.dataset.runId !== `+jsQuote(dryRun)+` && e.dataset.status === 'succeeded'; })()`)

	// Step 4: History: both runs, each accounting for everyone it matched.
	// Step 5: Export data → the Entra CSV of the run.
	p.click(appFrame, "#tab-history")
	p.wait("two runs in History", appFrame, `document.querySelectorAll('#history-table tbody tr').length === 2`)
	hist := eval[string](p, appFrame, `[...document.querySelectorAll('#history-table tbody tr')].map(tr => [...tr.querySelectorAll('td')].map(td => td.textContent).join('|')).join('\n')`)
	lines := strings.Split(hist, "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "Entra leavers") || !strings.Contains(lines[0], "Succeeded") || !strings.Contains(lines[1], "Yes") {
		t.Errorf("History (newest first: the run, then the dry run) =\n%s", hist)
	}
	if !strings.Contains(lines[0], "exported") || !strings.Contains(lines[0], "manual action") {
		t.Errorf("the run's History row does not account for everyone it matched: %s", lines[0])
	}
	p.screenshot("demo-history", "")
	p.click(appFrame, `#history-table tbody tr:first-child button[data-export]`)
	p.wait("Export data dialog", dialogFrame, `document.querySelector('#idp-exports tr[data-group] a.uc-download') !== null`)
	groups := eval[string](p, dialogFrame, `[...document.querySelectorAll('#idp-exports tr[data-group]')].map(tr => tr.dataset.group).join(',')`)
	if groups != group.Name {
		t.Errorf("identity-provider exports for %q, want one file for %s", groups, group.Name)
	}
	p.screenshot("demo-export", "")
	href := eval[string](p, dialogFrame, `document.querySelector('#idp-exports tr[data-group] a.uc-download').href`)
	resp, err := http.Get(href)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("download %s = %d, %v", href, resp.StatusCode, err)
	}
	want, n := expectedEntraCSV(t, seed.Users(), group, time.Now())
	if n == 0 {
		t.Fatal("the seed has nobody for the walkthrough's cleanup: the test would prove nothing")
	}
	t.Logf("the Entra CSV lists %d users", n)
	if diff := cmp.Diff(want, string(body)); diff != "" {
		t.Errorf("downloaded Entra CSV (-want +got):\n%s", diff)
	}
	p.click(dialogFrame, "#close-dialog")
	p.wait("dialog closed", "", `document.getElementById('host-dialog').hidden`)

	// Step 6: warn before removing. A schedule that e-mails inactive
	// Jira Software users first: preview, a test e-mail, Run now; the
	// Mailbox shows the warnings (jsw is the Jira Software group of step 1).
	p.click(appFrame, "#tab-schedules")
	p.click(appFrame, "#add-schedule")
	p.wait("creation form", appFrame, `document.getElementById('sched-form') !== null && document.getElementById('sched-lic-`+jsw.ID+`') !== null`)
	p.set(appFrame, "sched-name", "Warn Jira users")
	p.click(appFrame, "#sched-lic-"+jsw.ID)
	p.set(appFrame, "sched-days", "90")
	p.set(appFrame, "sched-action", "remove-product-access")
	p.click(appFrame, "#sched-warn")
	p.click(appFrame, "#sched-warn-preview-button")
	p.wait("warning preview", appFrame, `!document.getElementById('sched-warn-preview').hidden && document.getElementById('sched-warn-message').value.includes('{removalDate}')`)
	p.screenshot("demo-warning", `fieldset[data-field="warning"]`)
	p.click(appFrame, "#sched-warn-test")
	p.wait("test e-mail sent", appFrame, `document.getElementById('sched-warn-status').textContent.startsWith('Test e-mail sent to ')`)
	p.click(appFrame, "#save-schedule")
	p.wait("second schedule", appFrame, `document.querySelectorAll('#schedules-table tbody tr').length === 2`)
	p.click(appFrame, `#schedules-table tbody tr:last-child button[data-run="now"]`)
	p.click(appFrame, `#confirm-run-confirm`)
	p.wait("warning run finished", appFrame, `[...document.querySelectorAll('#runs-progress .uc-progress')].some(e => e.textContent.includes('Warn Jira users') && e.dataset.status === 'succeeded')`)
	p.wait("warned in the schedule list", appFrame, `(document.querySelector('#schedules-table tbody tr:last-child [data-warnings]') || {textContent: ''}).textContent.includes('warned, removal on')`)
	p.click("", "#host-mailbox")
	p.wait("mailbox", "", `location.pathname === '/mailbox' && document.readyState === 'complete' && document.querySelectorAll('main article').length > 2`)
	subjects := eval[string](p, "", `[...document.querySelectorAll('main article h2')].map(h => h.textContent).join('\n')`)
	if !strings.Contains(subjects, "[Test] ") || strings.Count(subjects, "Jira Software") < 3 {
		t.Errorf("mailbox subjects:\n%s", subjects)
	}
	p.do("back to the products", chromedp.Navigate(d.url+"/?product=jira&page=cleanup"))

	// Step 7: restore access of the step-3 run. Its restore writes the
	// exported users to the group's bulk-add file: the same users, so the
	// same bytes as the bulk-remove file of step 5.
	p.click(appFrame, "#tab-history")
	p.click(appFrame, `#history-table button[data-restore]`)
	p.wait("restore confirmation", appFrame, `(document.querySelector('[role="alertdialog"]') || {textContent: ''}).textContent.includes('Bulk add members')`)
	p.click(appFrame, "#restore-confirm-yes")
	p.wait("restore finished", appFrame, `(document.querySelector('#runs-progress .uc-progress[data-restore]') || {dataset: {}}).dataset.status === 'succeeded'`)
	p.click(appFrame, "#tab-schedules")
	p.click(appFrame, "#tab-history")
	p.wait("the restore in History", appFrame, `(document.querySelector('#history-table tbody tr:first-child td') || {textContent: ''}).textContent.startsWith('Restore of run #')`)
	p.click(appFrame, `#history-table tbody tr:first-child button[data-export]`)
	p.wait("the restore's Export data", dialogFrame, `document.querySelector('#idp-exports tr[data-group] a.uc-download') !== null && document.getElementById('idp-add-help') !== null`)
	addHref := eval[string](p, dialogFrame, `document.querySelector('#idp-exports tr[data-group] a.uc-download').href`)
	if name := eval[string](p, dialogFrame, `document.querySelector('#idp-exports tr[data-group] a.uc-download').textContent`); !strings.HasPrefix(name, group.Name+"-") || !strings.Contains(name, "-add-members.csv") {
		t.Errorf("the restore's file is %q", name)
	}
	resp, err = http.Get(addHref)
	if err != nil {
		t.Fatal(err)
	}
	body, err = io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("download %s = %d, %v", addHref, resp.StatusCode, err)
	}
	if diff := cmp.Diff(want, string(body)); diff != "" {
		t.Errorf("the restore's bulk-add file (-want +got):\n%s", diff)
	}
	p.click(dialogFrame, "#close-dialog")
	p.wait("dialog closed", "", `document.getElementById('host-dialog').hidden`)

	// The Confluence site is one click away, on the same page of its own.
	p.click("", `.host-top nav a[href*="product=confluence"]`)
	p.wait("Confluence's Scheduling and cleanup", appFrame, `location.pathname === '/confluence/admin/cleanup' && document.querySelector('#schedules .uc-state-empty') !== null`)
	// Its licensing groups are found through the Organizations API: the
	// form offers them.
	conf, ok := seed.GroupByName(atlassiantest.GroupEntraConfluence)
	if !ok {
		t.Fatal("seed has no Entra Confluence group")
	}
	p.click(appFrame, "#add-schedule")
	p.wait("Confluence's licensing groups in the form", appFrame, `document.getElementById('sched-lic-`+conf.ID+`') !== null`)

	// Acting as the account without admin rights, the pages refuse.
	eval[bool](p, "", `(document.getElementById('host-user').selectedIndex = 1, true)`)
	p.click("", `.host-top form button[type="submit"]`)
	p.wait("403 for a user without admin rights", appFrame, `(document.querySelector('[data-status]') || {dataset: {}}).dataset.status === '403'`)

	// Ctrl-C (here: cancelling run's context) stops the demo cleanly.
	if err := d.stop(); err != nil {
		t.Errorf("demo stopped with %v", err)
	}
	if log := d.stderr.String(); !strings.Contains(log, `"msg":"stopped"`) {
		t.Errorf("the demo's log has no clean stop:\n%s", log)
	}
}

// TestDemoRestart checks that a second start keeps the data (and the
// admin's settings) and that --reset starts fresh, without a browser.
func TestDemoRestart(t *testing.T) {
	dir := t.TempDir()
	first := startDemo(t, "--port", "0", "--users", "40", "--data", dir)
	if err := first.stop(); err != nil {
		t.Fatalf("first start: %v", err)
	}
	if !strings.Contains(first.stderr.String(), "demo: pre-filled the settings") {
		t.Errorf("the first start did not pre-fill the settings:\n%s", first.stderr.String())
	}
	again := startDemo(t, "--port", "0", "--users", "40", "--data", dir)
	if err := again.stop(); err != nil {
		t.Fatalf("second start: %v", err)
	}
	if log := again.stderr.String(); !strings.Contains(log, "keeping the saved settings") || strings.Contains(log, "demo: pre-filled the settings") {
		t.Errorf("a second start did not keep the saved settings:\n%s", log)
	}
	fresh := startDemo(t, "--port", "0", "--users", "40", "--data", dir, "--reset")
	if err := fresh.stop(); err != nil {
		t.Fatalf("start with --reset: %v", err)
	}
	if log := fresh.stderr.String(); !strings.Contains(log, "deleted the previous demo data") || !strings.Contains(log, "demo: pre-filled the settings") {
		t.Errorf("--reset did not start fresh:\n%s", log)
	}
}

func TestParseDemoArgs(t *testing.T) {
	tests := []struct {
		args    []string
		want    demoOptions
		wantErr string
	}{
		{nil, demoOptions{Port: 8080, Users: 300, Data: "data/demo"}, ""},
		{[]string{"--port", "9000", "--users", "5000", "--reset", "--data", "/tmp/x/"}, demoOptions{Port: 9000, Users: 5000, Reset: true, Data: "/tmp/x"}, ""},
		{[]string{"-port=0"}, demoOptions{Port: 0, Users: 300, Data: "data/demo"}, ""},
		{[]string{"--port", "70000"}, demoOptions{}, "--port must be from 0 to 65535"},
		{[]string{"--users", "3"}, demoOptions{}, "--users must be from 10 to 100000"},
		{[]string{"--users", "many"}, demoOptions{}, "invalid value"},
		{[]string{"--data", " "}, demoOptions{}, "--data must name a folder"},
		{[]string{"--verbose"}, demoOptions{}, "flag provided but not defined"},
		{[]string{"extra"}, demoOptions{}, "unexpected arguments"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			got, err := parseDemoArgs(tc.args, io.Discard)
			if tc.wantErr != "" {
				var ue *usageError
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want a usage error containing %q", err, tc.wantErr)
				}
				if exitCode(err) != 2 {
					t.Errorf("exit code %d, want 2", exitCode(err))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
	var help bytes.Buffer
	if _, err := parseDemoArgs([]string{"-h"}, &help); !errors.Is(err, flag.ErrHelp) || !strings.Contains(help.String(), "-users") {
		t.Errorf("-h = %v, usage %q", err, help.String())
	}
}

// TestServeKeepsItsTrust checks that only the demo trusts local install
// keys and 127.0.0.1 tenants: serve's defaults are Atlassian's.
func TestServeKeepsItsTrust(t *testing.T) {
	cfg, err := loadConfig(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(connect.DefaultInstallKeyURLs(), cfg.InstallKeysURLs); diff != "" {
		t.Errorf("serve's install-key URLs (-want +got):\n%s", diff)
	}
	for _, host := range []string{"127.0.0.1:8080", "localhost:8080"} {
		if connect.HostAllowed(host, cfg.AllowedHosts) {
			t.Errorf("serve allows tenants on %s", host)
		}
	}
	if cfg.HostScriptURL != defaultHostScriptURL {
		t.Errorf("serve's pages load %s, want Atlassian's all.js", cfg.HostScriptURL)
	}
}

// TestResetDemoData deletes only the demo's own files.
func TestResetDemoData(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{demoDatabaseFile, demoDatabaseFile + "-wal", encryptionKeyFile, "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := resetDemoData(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{demoDatabaseFile, demoDatabaseFile + "-wal", encryptionKeyFile}, removed); diff != "" {
		t.Errorf("removed (-want +got):\n%s", diff)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(left) != 1 || filepath.Base(left[0]) != "notes.txt" {
		t.Errorf("left %v, want only notes.txt", left)
	}
	if removed, err := resetDemoData(filepath.Join(dir, "missing")); err != nil || len(removed) != 0 {
		t.Errorf("reset of a missing folder = %v, %v", removed, err)
	}
}
