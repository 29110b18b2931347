package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/google/go-cmp/cmp"

	usercleanup "github.com/example/usercleanup"
	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/connect/connecttest"
	"github.com/example/usercleanup/internal/atlassian"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/demo"
	"github.com/example/usercleanup/internal/idpexport"
	"github.com/example/usercleanup/internal/jobs"
	"github.com/example/usercleanup/internal/mailer"
	"github.com/example/usercleanup/internal/mailer/mailertest"
	"github.com/example/usercleanup/internal/server"
	"github.com/example/usercleanup/internal/store"
)

// The browser tests drive the admin pages in real headless Chromium, framed
// by the host page (demo.HostPage) exactly as Jira frames them: the host
// page runs on http://localhost:<port> and the app on
// http://127.0.0.1:<port>, two different sites, so the app's iframe is a
// cross-site (out-of-process) frame and every AP call crosses origins over
// postMessage.
//
// Without Chromium the tests skip, unless CHROMIUM_REQUIRED=1 (as in CI).
// UPDATE_SCREENSHOTS=1 rewrites docs/screenshots/*.png.

// uiEnv is the running product: the app (real server, SQLite store, fake
// install keys), the fake Atlassian cloud, both products installed, the
// host page and a browser.
type uiEnv struct {
	appURL  string
	hostURL string
	cloud   *atlassiantest.Cloud
	store   *store.Store
	host    *demo.HostPage
	apps    map[connect.Product]connect.App
	tenants map[connect.Product]*connect.Tenant
	admin   string // an org admin account of the fake cloud
	user    string // a plain user account
	// productAdmin administers the products but is no site admin: no
	// organization-wide actions.
	productAdmin string
	browser      context.Context
	conn         *atlassian.Connector // the runtime's connector (tests set NewIdP)
	svc          *cleanup.Service
	snaps        *cleanup.Snapshots // the dashboard's snapshots
	mail         *mailertest.Server // the SMTP server of the warning e-mails
	// leaveWarnings counts the "leave this page?" prompts (beforeunload)
	// the tabs answered: a page with unsaved changes asks before the host
	// navigates away, and the tests leave.
	leaveWarnings atomic.Int32
}

// siteAdmins answers admin checks through the product's real permission
// API, here served by the fake cloud.
type siteAdmins struct{}

func (siteAdmins) IsAdmin(ctx context.Context, t *connect.Tenant, accountID string) (bool, error) {
	site, err := atlassian.NewSite(t, t.AppKey, atlassian.Options{})
	if err != nil {
		return false, err
	}
	return site.IsAdmin(ctx, accountID)
}

func (siteAdmins) IsSystemAdmin(ctx context.Context, t *connect.Tenant, accountID string) (bool, error) {
	site, err := atlassian.NewSite(t, t.AppKey, atlassian.Options{})
	if err != nil {
		return false, err
	}
	return site.IsSystemAdmin(ctx, accountID)
}

func chromiumPath(t testing.TB) string {
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

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func newUIEnv(t *testing.T) *uiEnv {
	t.Helper()
	chrome := chromiumPath(t)
	axeScript(t) // the tests check accessibility on the way
	ctx := context.Background()

	cloud := atlassiantest.New(atlassiantest.Options{Users: 40, Seed: 7})
	t.Cleanup(cloud.Close)
	ks, err := connecttest.NewKeyServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ks.Close)

	encKey := make([]byte, store.KeySize)
	cipher, err := store.NewCipher(encKey)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := store.Open(ctx, store.Config{Driver: store.SQLite, DSN: filepath.Join(t.TempDir(), "app.db"), Cipher: cipher, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })

	appLn, hostLn := listen(t), listen(t)
	appURL := "http://" + appLn.Addr().String()
	hostURL := "http://localhost:" + fmt.Sprint(hostLn.Addr().(*net.TCPAddr).Port)
	e := &uiEnv{appURL: appURL, hostURL: hostURL, cloud: cloud, store: st,
		apps: map[connect.Product]connect.App{}, tenants: map[connect.Product]*connect.Tenant{}}

	var apps []connect.App
	descriptors := map[connect.Product][]byte{}
	for _, p := range []connect.Product{connect.Jira, connect.Confluence} {
		params := connect.DescriptorParams{Product: p, BaseURL: appURL, AppKey: appKey}
		d, err := connect.RenderDescriptor(usercleanup.DescriptorTemplate, params)
		if err != nil {
			t.Fatal(err)
		}
		descriptors[p] = d
		apps = append(apps, params.App())
		e.apps[p] = params.App()
	}
	// The cleanup service and its River runtime, as `serve` wires them,
	// with the fake cloud as Atlassian.
	rt, err := jobs.New(ctx, jobs.Config{DB: st.SQLDB(), Driver: string(st.Driver()), Logger: log, PollInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cs := st.Cleanups(rt.EnqueueStep).WithFollowUps(rt.EnqueueFollowUp).WithMail(rt.EnqueueWarningEmails)
	conn := &atlassian.Connector{Tenants: st, Credentials: cs, Atlassian: atlassian.Options{
		OrgAPIURL: cloud.APIURL(), UserMgmtURL: cloud.APIURL(), Logger: log,
	}}
	mail, err := mailertest.Start(mailertest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mail.Close)
	e.mail = mail
	mailer, err := mailer.New(mailer.Config{Host: mail.Host(), Port: mail.Port(), TLS: mailer.TLSNone, From: "cleanup@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	e.conn = conn
	budget, lease := rt.RunTiming()
	engine, err := cleanup.NewEngine(cleanup.EngineConfig{Store: cs, Connector: conn, Logger: log, Warnings: cs,
		Exporter: idpexport.NewExporter(st, idpexport.ExporterConfig{}), StepBudget: budget, LeaseFor: lease})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := cleanup.NewService(cs, conn, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc = svc.WithWarnings(cs, mailer)
	e.svc = svc
	notifier, err := cleanup.NewNotifier(cleanup.NotifierConfig{Store: cs, Mailer: mailer, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := cleanup.NewSnapshots(cleanup.SnapshotsConfig{Store: st.Snapshots(rt.EnqueueSnapshot), Source: cs, Connector: conn, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e.snaps = snaps
	if err := rt.Start(ctx, jobs.Work{Steps: engine, Gate: svc, Schedules: svc, FollowUps: svc, Retention: svc, Runs: cs, Emails: notifier, Snapshots: snaps}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rt.Stop(sctx)
	})
	downloadKey, err := server.DeriveDownloadKey(encKey)
	if err != nil {
		t.Fatal(err)
	}

	verifier := &connect.Verifier{Store: st}
	srv, err := server.New(server.Config{
		Cleanup:     svc,
		Snapshots:   snaps,
		Exports:     st,
		DownloadKey: downloadKey,
		BaseURL:     appURL,
		Apps:        apps,
		Descriptors: descriptors,
		Lifecycle: &connect.Lifecycle{Store: st, Keys: connect.NewInstallKeyFetcher([]string{ks.URL}, ks.Client()),
			Verifier: verifier, AllowedHosts: []string{"127.0.0.1"}},
		Verifier:       verifier,
		Admin:          siteAdmins{},
		Health:         st,
		HostScriptURL:  "/static/ap-bridge.js",
		FrameAncestors: []string{hostURL},
		Logger:         log,
	})
	if err != nil {
		t.Fatal(err)
	}
	app := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = app.Serve(appLn) }()
	t.Cleanup(func() { _ = app.Close() })

	// Install the app into both fake sites through the signed install.
	var sites []demo.HostSite
	for i, p := range []connect.Product{connect.Jira, connect.Confluence} {
		site := cloud.Site(p)
		clientKey := fmt.Sprintf("ui-client-%d", i)
		secret := "ui-shared-secret-" + string(p) + "-0123456789abcdef"
		site.RegisterApp(e.apps[p].Key, clientKey, secret)
		if err := ks.Install(ctx, nil, e.apps[p].BaseURL, connecttest.InstallPayload{
			Key: e.apps[p].Key, ClientKey: clientKey, SharedSecret: secret, BaseURL: site.BaseURL(), ProductType: string(p),
			CloudID: site.CloudID(),
		}); err != nil {
			t.Fatalf("install %s: %v", p, err)
		}
		tn, err := st.GetTenant(ctx, clientKey)
		if err != nil {
			t.Fatal(err)
		}
		e.tenants[p] = tn
		sites = append(sites, demo.HostSite{App: e.apps[p], ClientKey: clientKey})
	}

	for _, u := range cloud.Users() {
		switch {
		case len(u.Roles) > 0 && e.admin == "":
			e.admin = u.AccountID
		case len(u.Roles) == 0 && u.AccountType == "atlassian" && e.user == "":
			e.user = u.AccountID
		case len(u.Roles) == 0 && u.AccountType == "atlassian" && e.productAdmin == "":
			e.productAdmin = u.AccountID
		}
	}
	if e.admin == "" || e.user == "" || !cloud.SetRoles(e.productAdmin, "atlassian/admin") {
		t.Fatalf("seed has no admin (%q), plain user (%q) or product admin (%q)", e.admin, e.user, e.productAdmin)
	}

	host, err := demo.NewHostPage(demo.HostPageConfig{
		Prefix: "/",
		Sites:  sites,
		Users: []demo.HostUser{{AccountID: e.admin, Name: "Ada Admin"}, {AccountID: e.user, Name: "Uma User"},
			{AccountID: e.productAdmin, Name: "Pat Product-admin"}},
		Tenants: st,
		Logger:  log,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.host = host
	hs := &http.Server{Handler: host, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(hostLn) }()
	t.Cleanup(func() { _ = hs.Close() })

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(bctx); err != nil { // start the browser
		t.Fatalf("start chromium: %v", err)
	}
	e.browser = bctx
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return e
}

// tab opens a new tab for one test, with a deadline. It leaves a page
// that asks before leaving (unsaved changes), counting the prompts.
func (e *uiEnv) tab(t *testing.T) context.Context {
	t.Helper()
	return e.tabFor(t, 60*time.Second)
}

// tabFor is tab with another deadline.
func (e *uiEnv) tabFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(e.browser)
	t.Cleanup(cancel)
	ctx, cancelT := context.WithTimeout(ctx, d)
	t.Cleanup(cancelT)
	if err := chromedp.Do(ctx); err != nil { // open the tab
		t.Fatalf("open a tab: %v", err)
	}
	err := chromedp.Listen(ctx, func(ev any) {
		if d, ok := ev.(*page.EventJavascriptDialogOpening); ok && d.Type == page.DialogTypeBeforeunload {
			e.leaveWarnings.Add(1)
			go func() {
				_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
			}()
		}
	})
	if err != nil {
		t.Fatalf("listen to the tab: %v", err)
	}
	return ctx
}

// open shows the host page with the app's module framed, as the account.
func (e *uiEnv) open(t *testing.T, ctx context.Context, p connect.Product, module, accountID string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(e.hostURL+e.host.URL(p, module, accountID))); err != nil {
		t.Fatalf("open host page: %v", err)
	}
}

// frame attaches to the app's cross-site iframe whose URL path is path and
// returns a context that runs actions inside it.
func (e *uiEnv) frame(t *testing.T, ctx context.Context, path string) context.Context {
	t.Helper()
	prefix := e.appURL + path + "?"
	deadline := time.Now().Add(15 * time.Second)
	for {
		infos, err := chromedp.Targets(ctx)
		if err != nil {
			t.Fatalf("targets: %v", err)
		}
		for _, info := range infos {
			if info.Type == "iframe" && strings.HasPrefix(info.URL, prefix) {
				fctx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(info.TargetID))
				t.Cleanup(cancel)
				failOnExceptions(t, fctx, path)
				return fctx
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no iframe for %s among %d targets", path, len(infos))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// failOnExceptions fails the test on any uncaught exception or unhandled
// rejection in the frame from now on.
func failOnExceptions(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	var mu sync.Mutex
	var seen []string
	err := chromedp.Listen(ctx, func(ev any) {
		if ex, ok := ev.(*runtime.EventExceptionThrown); ok {
			msg := ex.ExceptionDetails.Text
			if ex.ExceptionDetails.Exception != nil {
				msg += " " + ex.ExceptionDetails.Exception.Description
			}
			mu.Lock()
			seen = append(seen, msg)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("listen to %s: %v", path, err)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range seen {
			t.Errorf("uncaught JavaScript exception in %s: %s", path, m)
		}
	})
}

// waitJS polls a JavaScript predicate in ctx until it is truthy.
func waitJS(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
		t.Fatalf("waiting for %s: %v\npage text:\n%s", what, err, text)
	}
}

// evalJS evaluates an expression in ctx.
func evalJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// screenshot saves the host page (with the framed app) as
// docs/screenshots/<name>.png when UPDATE_SCREENSHOTS=1.
// The frame is scrolled to its top and the host's flags are dismissed
// first, so the picture shows the page as it opens.
func screenshot(t *testing.T, ctx, frame context.Context, name string) {
	t.Helper()
	screenshotAt(t, ctx, frame, name, 1280)
}

// screenshotAt is screenshot with the window width (1280 or 1024 pixels:
// the widths the pages are checked at).
func screenshotAt(t *testing.T, ctx, frame context.Context, name string, width int64) {
	t.Helper()
	if os.Getenv("UPDATE_SCREENSHOTS") != "1" {
		return
	}
	evalJS[bool](t, frame, `(document.activeElement && document.activeElement.blur(), window.scrollTo(0, 0), true)`)
	evalJS[bool](t, ctx, `(document.querySelectorAll('#host-flags .host-flag').forEach(el => el.remove()), window.scrollTo(0, 0), true)`)
	// A cross-site frame is painted only inside the viewport, so the
	// viewport grows to the whole host page for the picture.
	height := evalJS[int64](t, ctx, `Math.max(900, Math.ceil(Math.max(
		document.getElementById('host-frame').getBoundingClientRect().bottom,
		document.querySelector('#host-dialog .host-dialog-box').getBoundingClientRect().bottom) + 24))`)
	act(t, ctx, "grow the viewport", chromedp.EmulateViewport(width, height))
	evalJS[bool](t, frame, `new Promise(r => setTimeout(() => r(true), 400))`)
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if _, err := chromedp.Call(ctx, emulation.ClearDeviceMetricsOverride, cdp.Empty{}); err != nil {
		t.Fatalf("reset the viewport: %v", err)
	}
	path := filepath.Join("..", "..", "docs", "screenshots", name+".png")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBrowserNonAdminSees403(t *testing.T) {
	e := newUIEnv(t)
	for _, p := range []connect.Product{connect.Jira, connect.Confluence} {
		t.Run(string(p), func(t *testing.T) {
			ctx := e.tab(t)
			e.open(t, ctx, p, "settings", e.user)
			f := e.frame(t, ctx, "/"+string(p)+"/admin/settings")
			waitJS(t, f, "the error page", `document.querySelector('[data-status]') !== null`)
			got := evalJS[string](t, f, `document.querySelector('[data-status]').dataset.status + ' ' + document.querySelector('.uc-message h1').textContent`)
			if !strings.HasPrefix(got, "403 ") {
				t.Errorf("non-admin sees %q, want 403 content", got)
			}
			if n := evalJS[int](t, f, `document.querySelectorAll('#settings-form').length`); n != 0 {
				t.Errorf("non-admin got the settings form")
			}
		})
	}
}

// TestBrowserOrgWideControls: a product admin who is not a site admin sees
// the organization and Microsoft Entra ID credentials and the deactivate
// action disabled, with the reason; a site admin sees them enabled.
func TestBrowserOrgWideControls(t *testing.T) {
	e := newUIEnv(t)
	const credentialFields = `['orgId', 'apiKey', 'apiKeyRemove', 'entraTenantId', 'entraClientId', 'entraClientSecret']`
	for _, p := range []connect.Product{connect.Jira, connect.Confluence} {
		t.Run(string(p), func(t *testing.T) {
			ctx := e.tab(t)
			e.open(t, ctx, p, "settings", e.productAdmin)
			f := e.frame(t, ctx, "/"+string(p)+"/admin/settings")
			waitJS(t, f, "the settings form", `!document.getElementById('settings-form').hidden && !document.getElementById('org-admin-note').hidden`)
			if n := evalJS[int](t, f, credentialFields+`.filter(id => !document.getElementById(id).disabled).length`); n != 0 {
				t.Errorf("%d credential fields are enabled for a product admin", n)
			}
			if evalJS[bool](t, f, `document.getElementById('companyDomains').disabled`) {
				t.Error("the other settings are disabled too")
			}
			note := evalJS[string](t, f, `document.getElementById('org-admin-note').textContent`)
			if !strings.Contains(note, "affect the whole organization") {
				t.Errorf("the note says %q", note)
			}

			e.open(t, ctx, p, "cleanup", e.productAdmin)
			f = e.frame(t, ctx, "/"+string(p)+"/admin/cleanup")
			waitJS(t, f, "the schedules", `document.getElementById('schedules').textContent.includes('No schedules')`)
			evalJS[bool](t, f, `(document.getElementById('add-schedule').click(), true)`)
			waitJS(t, f, "the editor", `!!document.querySelector('#sched-form select[data-field="action"]')`)
			if !evalJS[bool](t, f, `document.querySelector('#sched-form select[data-field="action"] option[value="deactivate"]').disabled`) {
				t.Error("a product admin may choose the deactivate action")
			}
			if help := evalJS[string](t, f, `document.getElementById('sched-form').textContent`); !strings.Contains(help, "affect the whole organization") {
				t.Error("the form does not say why deactivation is unavailable")
			}

			e.open(t, ctx, p, "settings", e.admin)
			f = e.frame(t, ctx, "/"+string(p)+"/admin/settings")
			waitJS(t, f, "the settings form", `!document.getElementById('settings-form').hidden && document.getElementById('orgId').disabled === false`)
			if !evalJS[bool](t, f, `document.getElementById('org-admin-note').hidden`) {
				t.Error("a site admin sees the note")
			}
		})
	}
}

// TestBrowserBridge checks the host page and the AP bridge themselves:
// context tokens the API accepts, flags, and a dialog with its own page JWT,
// custom data and close event.
func TestBrowserBridge(t *testing.T) {
	e := newUIEnv(t)
	ctx := e.tab(t)
	e.open(t, ctx, connect.Jira, "cleanup", e.admin)
	f := e.frame(t, ctx, "/jira/admin/cleanup")
	waitJS(t, f, "AP", `typeof window.AP === 'object'`)

	// A context token from the host page works for the API, twice (a
	// fresh token per request).
	got := evalJS[string](t, f, `(async () => {
		const ids = [];
		for (let i = 0; i < 2; i++) {
			const tok = await AP.context.getToken();
			const r = await fetch('/jira/api/me', {headers: {Authorization: 'JWT ' + tok}});
			if (!r.ok) return 'status ' + r.status;
			ids.push((await r.json()).accountId);
		}
		return ids.join(',');
	})()`)
	if want := e.admin + "," + e.admin; got != want {
		t.Errorf("/api/me with bridge tokens = %q, want %q", got, want)
	}

	// Flags appear on the host page.
	evalJS[bool](t, f, `(AP.flag.create({title: 'Saved', body: 'It worked', type: 'success'}), true)`)
	waitJS(t, ctx, "flag", `[...document.querySelectorAll('#host-flags .host-flag')].some(el => el.textContent.includes('It worked'))`)

	// A dialog opens in its own frame with its own page JWT, reads its
	// custom data and closes with data for the opener.
	evalJS[bool](t, f, `(window.dialogResult = null, AP.dialog.create({key: 'export-data', customData: {runId: 42}}).on('close', d => { window.dialogResult = d; }), true)`)
	waitJS(t, ctx, "dialog overlay", `!document.getElementById('host-dialog').hidden`)
	d := e.frame(t, ctx, "/jira/dialogs/export-data")
	waitJS(t, d, "dialog AP", `typeof window.AP === 'object'`)
	if got := evalJS[float64](t, d, `AP.dialog.getCustomData().then(c => c.runId)`); got != 42 {
		t.Errorf("dialog custom data runId = %v, want 42", got)
	}
	// The main page may not read the dialog's data.
	if got := evalJS[string](t, f, `AP.dialog.getCustomData().then(() => 'answered', e => e.message)`); got != "not a dialog" {
		t.Errorf("getCustomData from the opener = %q, want refusal", got)
	}
	evalJS[bool](t, d, `(AP.dialog.close({done: true}), true)`)
	waitJS(t, ctx, "dialog closed", `document.getElementById('host-dialog').hidden`)
	waitJS(t, f, "close event", `window.dialogResult && window.dialogResult.done === true`)
}

// TestHostPageAPI checks the host page's own endpoints: they refuse
// requests without the header a cross-origin page cannot send, unknown
// users and modules.
func TestHostPageAPI(t *testing.T) {
	st := connecttest.NewMemoryStore()
	tn := &connect.Tenant{ClientKey: "k1", SharedSecret: "secret-0123456789", ProductType: connect.Jira, BaseURL: "https://x.atlassian.net"}
	if err := st.SaveTenant(context.Background(), tn); err != nil {
		t.Fatal(err)
	}
	app := connect.App{Key: "app.jira", BaseURL: "http://127.0.0.1:1/jira", Product: connect.Jira}
	host, err := demo.NewHostPage(demo.HostPageConfig{
		Sites:   []demo.HostSite{{App: app, ClientKey: "k1"}},
		Users:   []demo.HostUser{{AccountID: "acc-1", Name: "A"}},
		Tenants: st,
	})
	if err != nil {
		t.Fatal(err)
	}
	call := func(path, body string, header bool) (int, string) {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if header {
			req.Header.Set("X-Host-Page", "1")
		}
		rec := httptest.NewRecorder()
		host.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	tests := []struct {
		name, path, body string
		header           bool
		want             int
	}{
		{"token", "/host/api/token", `{"product":"jira","user":"acc-1"}`, true, http.StatusOK},
		{"no header", "/host/api/token", `{"product":"jira","user":"acc-1"}`, false, http.StatusForbidden},
		{"unknown user", "/host/api/token", `{"product":"jira","user":"nobody"}`, true, http.StatusBadRequest},
		{"unknown product", "/host/api/token", `{"product":"bitbucket","user":"acc-1"}`, true, http.StatusBadRequest},
		{"bad json", "/host/api/token", `{`, true, http.StatusBadRequest},
		{"frame", "/host/api/frame", `{"product":"jira","user":"acc-1","key":"export-data"}`, true, http.StatusOK},
		{"unknown module", "/host/api/frame", `{"product":"jira","user":"acc-1","key":"nope"}`, true, http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, body := call(tc.path, tc.body, tc.header)
			if got != tc.want {
				t.Errorf("POST %s = %d %s, want %d", tc.path, got, body, tc.want)
			}
		})
	}

	// The frame URL is the module URL with the standard parameters and a
	// page JWT the app's verifier accepts.
	_, body := call("/host/api/frame", `{"product":"jira","user":"acc-1","key":"export-data"}`, true)
	var out struct{ URL string }
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, out.URL, nil)
	auth, err := (&connect.Verifier{Store: st}).Verify(req, app, connect.QSHComputed)
	if err != nil {
		t.Fatalf("frame URL %s does not verify: %v", out.URL, err)
	}
	if auth.AccountID != "acc-1" || auth.ClientKey != "k1" {
		t.Errorf("frame token = %+v", auth)
	}
	for _, p := range []string{"xdm_e=https%3A%2F%2Fx.atlassian.net", "xdm_c=", "cp=", "lic=none", "cv="} {
		if !strings.Contains(out.URL, p) {
			t.Errorf("frame URL %s lacks %s", out.URL, p)
		}
	}

	// The page frames the module with a page JWT; dialogs and unknown
	// products are not pages.
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		host.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	code, page := get("/host/?product=jira&page=cleanup&user=acc-1")
	if code != http.StatusOK || !strings.Contains(page, `src="http://127.0.0.1:1/jira/admin/cleanup?`) || !strings.Contains(page, "jwt=") {
		t.Errorf("host page = %d, want the framed cleanup page with a JWT:\n%s", code, page)
	}
	for _, path := range []string{"/host/?page=export-data", "/host/?product=bitbucket", "/host/?user=nobody", "/host/nothing"} {
		if code, _ := get(path); code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, code)
		}
	}
	if code, body := get("/host/host-bridge.js"); code != http.StatusOK || !strings.Contains(body, "postMessage") {
		t.Errorf("GET host-bridge.js = %d", code)
	}

	// Wrap serves the host page's routes and passes the rest to the app.
	teapot := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	for path, want := range map[string]int{"/host/": http.StatusOK, "/host": http.StatusOK, "/host/host-bridge.js": http.StatusOK, "/jira/admin/settings": http.StatusTeapot, "/host/other": http.StatusTeapot} {
		rec := httptest.NewRecorder()
		host.Wrap(teapot).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != want {
			t.Errorf("Wrap: GET %s = %d, want %d", path, rec.Code, want)
		}
	}

	// An uninstalled tenant gets no tokens.
	if err := st.MarkUninstalled(context.Background(), "k1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if got, _ := call("/host/api/token", `{"product":"jira","user":"acc-1"}`, true); got != http.StatusConflict {
		t.Errorf("token for an uninstalled tenant = %d, want 409", got)
	}
}

// apiGet calls the app's JSON API as the admin with a context token, as
// the pages do, and decodes the answer into v.
func (e *uiEnv) apiGet(t *testing.T, p connect.Product, path string, v any) {
	t.Helper()
	tok, err := connecttest.ContextToken(e.tenants[p], e.admin, time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodGet, e.appURL+"/"+string(p)+"/api"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "JWT "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// act runs browser actions in ctx and fails the test on error.
func act(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
		t.Fatalf("%s: %v\npage text:\n%s", what, err, text)
	}
}

// press activates a control the way a keyboard user does: it waits until
// the control is visible and enabled, focuses it and lets the page click it.
// A mouse click at the control's coordinates can land beside it on a loaded
// machine while the host is still resizing the frame; the handlers under
// test are the same either way.
func press[S chromedp.Selectable](sel S) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.WaitVisible(sel),
		chromedp.WaitEnabled(sel),
		chromedp.Focus(sel),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			clicked, err := chromedp.Evaluate[bool](`(() => { const el = document.activeElement; if (!el || el === document.body) return false; el.click(); return true; })()`)(ctx, t)
			if err == nil && !clicked {
				err = errors.New("no focused control to click")
			}
			return err
		}),
	)
}

// setValue replaces an input's value as a user would: focus, select all,
// type.
func setValue(t *testing.T, ctx context.Context, id, value string) {
	t.Helper()
	evalJS[bool](t, ctx, `(() => { const el = document.getElementById(`+jsString(id)+`); el.focus(); el.select && el.select(); return true; })()`)
	act(t, ctx, "type into #"+id, chromedp.SendKeys(chromedp.ID(id), value))
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// unlabelled returns the ids (or tag names) of visible form controls
// without a label: every input must have one.
const unlabelledJS = `[...document.querySelectorAll('input, select, textarea')]
	.filter(el => el.type !== 'hidden' && !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
	.map(el => el.id || el.tagName).join(',')`

// TestBrowserAdminFlow walks the admin through the product on the Jira
// site: settings with "Is user provisioning enabled?", a schedule with the
// Microsoft Entra ID action, a dry run with progress, History, "Show
// users", the "Export data" dialog and the Entra CSV download.
func TestBrowserAdminFlow(t *testing.T) {
	e := newUIEnv(t)
	ctx := e.tab(t)
	const p = connect.Jira

	// --- Settings ---
	e.open(t, ctx, p, "settings", e.admin)
	f := e.frame(t, ctx, "/jira/admin/settings")
	waitJS(t, f, "settings form", `!document.getElementById('settings-form').hidden && document.querySelector('#products .uc-product, #products .uc-empty') !== null`)
	if got := evalJS[string](t, f, unlabelledJS); got != "" {
		t.Errorf("settings controls without a label: %s", got)
	}
	setValue(t, f, "orgId", e.cloud.OrgID())
	setValue(t, f, "apiKey", "test-org-api-key")
	waitJS(t, f, "unsaved changes shown", `!document.querySelector('#tab-organization .uc-dirty-mark').hidden && document.getElementById('status-organization').textContent === 'Unsaved changes'`)
	act(t, f, "save the organization", press(chromedp.ID("save-organization")))
	waitJS(t, ctx, "saved flag", `[...document.querySelectorAll('#host-flags .host-flag')].some(el => el.textContent.includes('Organization saved'))`)
	waitJS(t, f, "saved, no unsaved changes", `document.getElementById('status-organization').textContent === 'Saved' && document.querySelector('#tab-organization .uc-dirty-mark').hidden`)
	act(t, f, "identity provider", press(chromedp.ID("tab-identityProvider")))
	evalJS[bool](t, f, `(() => { const s = document.getElementById('provider'); s.value = 'entra'; s.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`)
	act(t, f, "save the identity provider", press(chromedp.ID("save-identityProvider")))
	waitJS(t, ctx, "saved flag", `[...document.querySelectorAll('#host-flags .host-flag')].some(el => el.textContent.includes('Identity provider saved'))`)
	waitJS(t, f, "licensing groups of jira-software", `document.getElementById('prov-jira-software') !== null`)
	act(t, f, "organization", press(chromedp.ID("tab-organization")))

	// Test connection with the stored key.
	act(t, f, "test connection", press(chromedp.ID("test-connection")))
	waitJS(t, f, "connection result", `document.getElementById('test-result').className === 'uc-result-ok'`)

	// "Is user provisioning enabled?" for Jira Software, saved and persisted.
	// Atlassian reports where both of its licensing groups are managed, so
	// the toggle decides neither: the page says so per group, and warns.
	if evalJS[bool](t, f, `document.getElementById('prov-jira-software').checked`) {
		t.Fatal("provisioning already enabled before the toggle")
	}
	jswGroup, _ := e.cloud.GroupByName(atlassiantest.GroupJiraSoftware)
	entraJira, _ := e.cloud.GroupByName(atlassiantest.GroupEntraJira)
	act(t, f, "toggle provisioning", press(chromedp.ID("tab-products")), press(chromedp.ID("prov-jira-software")), press(chromedp.ID("save-products")))
	decision := func(g atlassiantest.Group) string {
		return `(document.querySelector('.uc-product[data-product="jira-software"] tr[data-group="` + g.ID + `"] [data-decision]') || {dataset: {}}).dataset.decision`
	}
	waitJS(t, f, "decisions with the toggle on", decision(jswGroup)+` === 'managed in Atlassian: reported by Atlassian, although provisioning is enabled'`)
	if got := evalJS[string](t, f, decision(entraJira)); got != "synced: reported by Atlassian" {
		t.Errorf("decision for %s = %q", entraJira.Name, got)
	}
	if warn := evalJS[string](t, f, `document.querySelector('.uc-product[data-product="jira-software"] .uc-warnings').textContent`); !strings.Contains(warn, "Provisioning is enabled for Jira Software, but Atlassian reports \"jira-software-users\" as managed in Atlassian") {
		t.Errorf("the disagreement warning says %q", warn)
	}
	var set cleanup.Settings
	e.apiGet(t, p, "/settings", &set)
	if !set.IdentityProvider.ProvisioningEnabled["jira-software"] || set.IdentityProvider.Provider != cleanup.ProviderEntra || !set.APIKeySet {
		t.Fatalf("settings after save = %+v, want provisioning on for jira-software, Entra, API key set", set.IdentityProvider)
	}
	e.noRawValues(t, f, "Settings")
	screenshot(t, ctx, f, "settings")

	// Bad input: the field is named next to it and in the summary, which
	// links to it, and nothing is saved. An unsaved change of another
	// section stays unsaved, and its tab says so.
	act(t, f, "organization", press(chromedp.ID("tab-organization")))
	setValue(t, f, "companyDomains", "changed.example")
	act(t, f, "activity and exports", press(chromedp.ID("tab-activityAndExport")))
	setValue(t, f, "activeDays", "0")
	act(t, f, "save invalid", press(chromedp.ID("save-activityAndExport")))
	waitJS(t, f, "field error", `document.querySelector('[data-error-for="activity.activeDays"]') !== null`)
	if got := evalJS[string](t, f, `document.getElementById('activeDays').closest('.uc-field').querySelector('.uc-field-error').textContent`); got != "Active: last active less than (days) must be a whole number of days between 1 and 3650." {
		t.Errorf("activeDays error = %q", got)
	}
	if got := evalJS[string](t, f, `document.activeElement.id`); got != "activeDays" {
		t.Errorf("focus after a failed save is on %q, want the invalid field", got)
	}
	if got := evalJS[string](t, f, `(document.querySelector('#section-activityAndExport .uc-error-summary a') || {}).hash || ''`); got != "#activeDays" {
		t.Errorf("the error summary links to %q, want #activeDays", got)
	}
	if !evalJS[bool](t, f, `!document.querySelector('#tab-organization .uc-dirty-mark').hidden`) {
		t.Error("the organization tab does not show its unsaved change")
	}
	var after cleanup.Settings
	e.apiGet(t, p, "/settings", &after)
	if len(after.CompanyDomains) != 0 || after.Activity.ActiveDays != set.Activity.ActiveDays {
		t.Errorf("an invalid save changed the settings: domains %v, activeDays %d", after.CompanyDomains, after.Activity.ActiveDays)
	}

	// --- Scheduling and cleanup: a schedule with the Entra action ---
	entraGroup, ok := e.cloud.GroupByName(atlassiantest.GroupEntraJira)
	if !ok {
		t.Fatal("seed has no Entra Jira group")
	}
	e.open(t, ctx, p, "cleanup", e.admin)
	f = e.frame(t, ctx, "/jira/admin/cleanup")
	waitJS(t, f, "schedules", `document.querySelector('#schedules .uc-state-empty') !== null`)
	act(t, f, "add schedule", press(chromedp.ID("add-schedule")))
	waitJS(t, f, "creation form", `document.getElementById('sched-form') !== null`)
	if got := evalJS[string](t, f, unlabelledJS); got != "" {
		t.Errorf("form controls without a label: %s", got)
	}
	if !evalJS[bool](t, f, `[...document.getElementById('sched-action').options].some(o => o.value === 'entra' && o.text === 'Microsoft Entra ID action')`) {
		t.Fatal(`the form lacks "Microsoft Entra ID action" with an identity provider configured`)
	}
	setValue(t, f, "sched-name", "Entra leavers")
	act(t, f, "choose group", press(chromedp.ID("sched-lic-"+entraGroup.ID)))
	setValue(t, f, "sched-days", "30")
	act(t, f, "never active", press(chromedp.ID("sched-never")))
	setValue(t, f, "sched-minAge", "0")
	evalJS[bool](t, f, `(() => { const s = document.getElementById('sched-action'); s.value = 'entra'; s.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`)
	// A new schedule starts inactive: the admin activates it when ready.
	waitJS(t, f, "next cleanup preview", `document.getElementById('sched-next').textContent === 'Next cleanup: not scheduled (inactive)' && !document.getElementById('sched-entraMode').closest('.uc-field').hidden`)
	if evalJS[bool](t, f, `document.getElementById('sched-active').checked`) {
		t.Error("a new schedule starts active")
	}
	// The preview of the schedule once active (switched on and off again).
	act(t, f, "preview active", press(chromedp.ID("sched-active")))
	waitJS(t, f, "next cleanup preview", `document.getElementById('sched-next').dataset.next !== ''`)
	preview := evalJS[string](t, f, `document.getElementById('sched-next').dataset.next`)
	act(t, f, "inactive again", press(chromedp.ID("sched-active")))
	screenshot(t, ctx, f, "form")
	act(t, f, "create schedule", press(chromedp.ID("save-schedule")))
	waitJS(t, f, "schedule row", `document.querySelector('#schedules-table tbody tr') !== null`)
	row := evalJS[string](t, f, `document.querySelector('#schedules-table tbody tr').innerText`)
	for _, want := range []string{"Entra leavers", "Microsoft Entra ID action"} {
		if !strings.Contains(row, want) {
			t.Errorf("schedule row %q lacks %q", row, want)
		}
	}
	var list struct{ Cleanups []cleanup.Cleanup }
	e.apiGet(t, p, "/cleanups", &list)
	if len(list.Cleanups) != 1 || list.Cleanups[0].Schedule.Active || list.Cleanups[0].NextRunAt != nil {
		t.Fatalf("cleanups = %+v, want one, inactive", list.Cleanups)
	}
	created := list.Cleanups[0]
	if created.Action != cleanup.ActionEntra || !slices.Equal(created.LicensingGroupIDs, []string{entraGroup.ID}) || created.DaysInactive != 30 || !created.IncludeNeverActive {
		t.Errorf("created cleanup = %+v", created.Definition)
	}

	// The active switch asks first (no dry run yet: it says so), then
	// activates the schedule (a versioned update); the form's preview
	// agrees with the server's next run. Cancel leaves it inactive.
	toggle := fmt.Sprintf("active-%d", created.ID)
	act(t, f, "activate", press(chromedp.ID(toggle)))
	waitJS(t, f, "activation asks", `document.getElementById('confirm-activate') !== null && document.querySelector('#confirm-activate [data-no-dry-run]') !== null`)
	act(t, f, "cancel", press(chromedp.ID("confirm-activate-cancel")))
	waitJS(t, f, "still inactive, focus back", `document.getElementById('confirm-activate') === null && !document.getElementById(`+jsString(toggle)+`).checked && document.activeElement.id === `+jsString(toggle))
	act(t, f, "activate", press(chromedp.ID(toggle)))
	waitJS(t, f, "activation asks", `document.getElementById('confirm-activate') !== null`)
	axeCheck(t, f, "activation confirmation")
	act(t, f, "confirm", press(chromedp.ID("confirm-activate-confirm")))
	waitJS(t, ctx, "activated flag", `[...document.querySelectorAll('#host-flags .host-flag')].some(el => el.textContent.includes('Schedule activated'))`)
	var active cleanup.Cleanup
	e.apiGet(t, p, fmt.Sprintf("/cleanups/%d", created.ID), &active)
	if !active.Schedule.Active || active.Version != created.Version+1 || active.NextRunAt == nil {
		t.Fatalf("after activating: active %v, version %d (was %d), next run %v", active.Schedule.Active, active.Version, created.Version, active.NextRunAt)
	}
	if got, want := preview, active.NextRunAt.UTC().Format("2006-01-02T15:04:05.000Z"); got != want {
		t.Errorf("form preview %s, server's next run %s", got, want)
	}
	waitJS(t, f, "schedule row", `(document.querySelector('#schedules-table tbody tr td:nth-child(4)') || {textContent: '—'}).textContent !== '—'`)
	screenshot(t, ctx, f, "schedules")

	// --- Dry run with progress, without blocking the page ---
	act(t, f, "dry run", press(chromedp.CSS(`#schedules-table button[data-run="dry"]`)))
	waitJS(t, f, "progress", `document.querySelector('#runs-progress .uc-progress') !== null`)
	// The page stays usable while the run goes on.
	act(t, f, "switch tab during the run", press(chromedp.ID("tab-manual")), press(chromedp.ID("tab-schedules")))
	waitJS(t, f, "run finished", `document.querySelector('#runs-progress .uc-progress').dataset.status === 'succeeded'`)
	// "Go to results" opens that run's users.
	finishedRun := evalJS[string](t, f, `document.querySelector('#runs-progress .uc-progress').dataset.runId`)
	act(t, f, "go to results", press(chromedp.CSS(`#runs-progress button[data-results="`+finishedRun+`"]`)))
	waitJS(t, f, "the run's users", `!document.getElementById('run-users').hidden && document.querySelector('#users-table tbody tr') !== null && document.getElementById('tab-history').getAttribute('aria-selected') === 'true'`)

	// --- History, Show users ---
	act(t, f, "history", press(chromedp.ID("tab-history")))
	waitJS(t, f, "history row", `document.querySelector('#history-table tbody tr') !== null`)
	hist := evalJS[string](t, f, `[...document.querySelectorAll('#history-table tbody tr:first-child td')].map(td => td.textContent).join('|')`)
	for _, want := range []string{"Entra leavers", "Yes", "Succeeded"} {
		if !strings.Contains(hist, want) {
			t.Errorf("history row %q lacks %q", hist, want)
		}
	}
	if text := evalJS[string](t, f, `document.getElementById('history-list').textContent`); strings.Contains(text, "null") || strings.Contains(text, "undefined") {
		t.Errorf("history shows %q", text)
	}
	runID := evalJS[string](t, f, `document.querySelector('#history-table tbody tr').dataset.run`)
	screenshot(t, ctx, f, "history")
	act(t, f, "show users", press(chromedp.CSS(`#history-table tbody tr button`)))
	waitJS(t, f, "users table", `document.querySelector('#users-table tbody tr') !== null`)
	if !strings.Contains(evalJS[string](t, f, `document.getElementById('users-table').innerText`), entraGroup.Name) {
		t.Errorf("the run's users do not show the Entra group")
	}
	// Filter by outcome: the page shows what the API has for the filter.
	var manual struct{ Total int }
	e.apiGet(t, p, "/runs/"+runID+"/users?outcome=manual", &manual)
	if manual.Total == 0 {
		t.Fatal("the seeded run has no manual row to filter for")
	}
	evalJS[bool](t, f, `(document.getElementById('filter-outcome').value = 'manual', true)`)
	act(t, f, "filter", press(chromedp.CSS(`.uc-filters button[type="submit"]`)))
	waitJS(t, f, "filtered users", `document.getElementById('filter-outcome').value === 'manual' && document.querySelector('#users-table, #users-results .uc-state-empty') !== null`)
	outcomes := evalJS[[]string](t, f, `[...document.querySelectorAll('#users-table tbody tr td:last-child .uc-lozenge')].map(el => el.textContent)`)
	if len(outcomes) != manual.Total {
		t.Errorf("manual filter shows %d rows, the API has %d", len(outcomes), manual.Total)
	}
	for _, o := range outcomes {
		if o != "Needs manual action" {
			t.Errorf("manual filter shows a %q row", o)
		}
	}
	axeCheck(t, f, "users needing manual action")
	// The users needing manual action are listed by reason above them.
	if got := evalJS[string](t, f, `(document.querySelector('#run-header [data-reasons="manual"]') || {}).textContent || ''`); !strings.Contains(got, "Why some users need manual action") {
		t.Errorf("the run's header lacks the manual-action reasons: %q", got)
	}
	e.noRawValues(t, f, "Show users")
	act(t, f, "back to history", press(chromedp.ID("users-back")))
	e.noRawValues(t, f, "History")
	// The History row accounts for everyone and links to exactly those
	// who need manual action.
	needManual := fmt.Sprintf("%d need manual action", manual.Total)
	if manual.Total == 1 {
		needManual = "1 needs manual action"
	}
	acct := evalJS[string](t, f, `document.querySelector('#history-table tbody tr .uc-accounting').textContent`)
	if !strings.Contains(acct, "exported") || !strings.Contains(acct, needManual) {
		t.Errorf("history accounting %q, want the exported and %d needing manual action", acct, manual.Total)
	}
	act(t, f, "show manual from history", press(chromedp.CSS(`#history-table tbody tr button[data-show="manual"]`)))
	waitJS(t, f, "manual users", `document.getElementById('filter-outcome').value === 'manual' && document.querySelectorAll('#users-table tbody tr').length === `+fmt.Sprint(manual.Total))
	if text := evalJS[string](t, f, `document.getElementById('run-users').innerText`); strings.Contains(text, "idp-export") || strings.Contains(text, "partially_failed") {
		t.Errorf("Show users shows raw values: %q", text)
	}
	act(t, f, "back to history", press(chromedp.ID("users-back")))

	// --- Export data dialog and the Entra CSV ---
	act(t, f, "export data", press(chromedp.CSS(`#history-table button[data-export]`)))
	d := e.frame(t, ctx, "/jira/dialogs/export-data")
	waitJS(t, d, "identity provider exports", `document.querySelector('#idp-exports a.uc-download') !== null`)
	e.noRawValues(t, d, "the Export data dialog")
	screenshot(t, ctx, d, "dialog")
	href := evalJS[string](t, d, `document.querySelector('#idp-exports tr[data-group] a.uc-download').href`)
	csv := evalJS[string](t, d, `fetch(document.querySelector('#idp-exports tr[data-group] a.uc-download').href).then(r => r.ok ? r.text() : 'status ' + r.status)`)

	// The expected file: Microsoft's bulk-remove template (UTF-8 BOM,
	// header, CRLF) with the e-mail of every row the run routed to Entra
	// for the group, in e-mail order.
	var users struct {
		Items []struct {
			Email, Action, Outcome string
		}
		Total int
	}
	e.apiGet(t, p, "/runs/"+runID+"/users?perPage=200&group="+entraGroup.ID, &users)
	var emails []string
	for _, u := range users.Items {
		switch {
		case u.Action != cleanup.ActionIdPExport:
		case u.Outcome == cleanup.OutcomeManual: // no UPN: listed for manual action, not in the file
		case u.Email == "":
			t.Errorf("row without a UPN is %q, want manual: %+v", u.Outcome, u)
		default:
			emails = append(emails, u.Email)
		}
	}
	if len(emails) == 0 {
		t.Fatalf("the dry run routed nobody to Entra (%d rows)", users.Total)
	}
	slices.SortFunc(emails, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	want := "\ufeffMember object ID or user principal name [memberObjectIdOrUpn] Required\r\n" + strings.Join(emails, "\r\n") + "\r\n"
	resp, err := http.Get(href)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("download = %d", resp.StatusCode)
	}
	if diff := cmp.Diff(want, string(body)); diff != "" {
		t.Errorf("downloaded Entra CSV (-want +got):\n%s", diff)
	}
	// fetch() in the page decodes UTF-8 and drops the BOM, as a browser does.
	if csv != strings.TrimPrefix(want, "\ufeff") {
		t.Errorf("the link fetched in the page gave %q", csv)
	}
	// The dialog accounts for everyone the run matched and links to
	// those who need manual action: the link closes it on them.
	if got := evalJS[string](t, d, `document.getElementById('run-account').textContent`); !strings.Contains(got, needManual) || !strings.Contains(got, "exported") {
		t.Errorf("export dialog accounting %q", got)
	}
	act(t, d, "show manual from the dialog", press(chromedp.ID("show-manual")))
	waitJS(t, ctx, "dialog closed", `document.getElementById('host-dialog').hidden`)
	waitJS(t, f, "manual users after the dialog", `!document.getElementById('run-users').hidden && document.getElementById('filter-outcome').value === 'manual' && document.querySelectorAll('#users-table tbody tr').length === `+fmt.Sprint(manual.Total))
}

// TestBrowserConfluenceWithoutIdP runs the Confluence site without an
// identity provider, keyboard first: no Entra action is offered, a manual
// dry run on a non-synced group has an "Export data" dialog without
// identity-provider exports, and Escape closes it. It also checks the
// token retry and the "API down" message of the pages' API client.
func TestBrowserConfluenceWithoutIdP(t *testing.T) {
	e := newUIEnv(t)
	ctx := e.tab(t)
	const p = connect.Confluence

	e.open(t, ctx, p, "settings", e.admin)
	f := e.frame(t, ctx, "/confluence/admin/settings")
	waitJS(t, f, "settings form", `!document.getElementById('settings-form').hidden`)

	// An expired token is replaced once and the call succeeds.
	expired, err := connecttest.ContextToken(e.tenants[p], e.admin, time.Now().Add(-time.Hour), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got := evalJS[string](t, f, `(async () => {
		const m = await import('/static/js/api.js');
		const real = AP.context.getToken;
		let calls = 0;
		AP.context.getToken = (cb) => { calls++; const p = calls === 1 ? Promise.resolve(`+jsString(expired)+`) : real(); if (cb) p.then(cb); return p; };
		try { const s = await m.api('GET', '/settings'); return calls + ':' + typeof s.activity; }
		catch (e) { return 'error ' + e.status + ' ' + e.message; }
		finally { AP.context.getToken = real; }
	})()`)
	if got != "2:object" {
		t.Errorf("expired token: %q, want a second token and success", got)
	}

	// API down: a message, not a blank frame, and nothing half-done.
	if got := evalJS[string](t, f, `(() => {
		window.realFetch = window.fetch;
		window.fetch = () => Promise.reject(new TypeError('Failed to fetch'));
		document.getElementById('save-organization').click();
		return 'clicked';
	})()`); got != "clicked" {
		t.Fatalf("API down: save not clicked: %q", got)
	}
	waitJS(t, f, "API down message", `!document.querySelector('#section-organization .uc-error-summary').hidden`)
	axeCheck(t, f, "settings: the service cannot be reached")
	if msg := evalJS[string](t, f, `(window.fetch = window.realFetch, document.querySelector('#section-organization .uc-error-summary').textContent)`); !strings.Contains(msg, "cannot be reached") || !strings.Contains(msg, "Nothing was saved") {
		t.Errorf("API down message = %q", msg)
	}

	// Confluence does not list its licensing groups: with the organization
	// set, User Cleanup finds them through the Organizations API (the
	// groups with a product role on the site); nobody types them.
	group, ok := e.cloud.GroupByName(atlassiantest.GroupConfluence)
	if !ok {
		t.Fatal("seed has no Confluence group")
	}
	synced, _ := e.cloud.GroupByName(atlassiantest.GroupEntraConfluence)
	setValue(t, f, "orgId", e.cloud.OrgID())
	setValue(t, f, "apiKey", "test-org-api-key")
	act(t, f, "save", press(chromedp.ID("save-organization")))
	waitJS(t, ctx, "saved flag", `[...document.querySelectorAll('#host-flags .host-flag')].some(el => el.textContent.includes('Organization saved'))`)
	act(t, f, "products", press(chromedp.ID("tab-products")))
	for _, g := range []atlassiantest.Group{group, synced} {
		waitJS(t, f, "Confluence with its licensing group "+g.Name, `document.querySelector('.uc-product[data-product="confluence"] [data-group=`+jsString(g.ID)+`]') !== null`)
	}
	if got := evalJS[string](t, f, `document.querySelector('.uc-product[data-product="confluence"] .uc-subtle').textContent`); got != "Licensing groups: found through the Organizations API." {
		t.Errorf("Confluence's groups come from %q", got)
	}
	var set cleanup.Settings
	e.apiGet(t, p, "/settings", &set)
	if len(set.LicensingGroups) != 0 {
		t.Errorf("licensing groups were stored by hand: %v", set.LicensingGroups)
	}
	// A list chosen by hand overrides what was found.
	evalJS[bool](t, f, `(document.querySelector('.uc-product[data-product="confluence"] details').open = true, true)`)
	act(t, f, "choose the licensing group by hand", press(chromedp.ID("lg-confluence-"+group.ID)), press(chromedp.ID("save-products")))
	waitJS(t, f, "Confluence's groups chosen by hand", `document.querySelector('.uc-product[data-product="confluence"] .uc-subtle').textContent === 'Licensing groups: chosen in Settings.'`)
	if n := evalJS[int](t, f, `document.querySelectorAll('.uc-product[data-product="confluence"] tbody tr').length`); n != 1 {
		t.Errorf("%d licensing groups shown with the override, want 1", n)
	}
	e.apiGet(t, p, "/settings", &set)
	if diff := cmp.Diff(map[string][]string{cleanup.ProductConfluence: {group.ID}}, set.LicensingGroups); diff != "" {
		t.Errorf("licensing groups chosen by hand (-want +got):\n%s", diff)
	}
	e.open(t, ctx, p, "cleanup", e.admin)
	f = e.frame(t, ctx, "/confluence/admin/cleanup")
	waitJS(t, f, "schedules", `document.querySelector('#schedules .uc-state-empty, #schedules-table') !== null`)

	// Tabs by keyboard: arrows move the selection and the focus.
	act(t, f, "arrow to Manual cleanup", chromedp.SendKeys(chromedp.ID("tab-schedules"), kb.ArrowRight))
	if got := evalJS[string](t, f, `document.activeElement.id + ' ' + document.getElementById('tab-manual').getAttribute('aria-selected') + ' ' + document.getElementById('panel-manual').hidden`); got != "tab-manual true false" {
		t.Fatalf("after ArrowRight: %q, want the Manual cleanup tab focused and shown", got)
	}
	waitJS(t, f, "manual form", `document.getElementById('manual-form') !== null`)
	if evalJS[bool](t, f, `[...document.getElementById('manual-action').options].some(o => o.value === 'entra')`) {
		t.Error("the Microsoft Entra ID action is offered without an identity provider")
	}
	setValue(t, f, "manual-name", "Confluence leavers")
	waitJS(t, f, "the group's checkbox", `document.getElementById(`+jsString("manual-lic-"+group.ID)+`) !== null`)
	act(t, f, "choose group", chromedp.SendKeys(chromedp.ID("manual-lic-"+group.ID), " "))
	evalJS[bool](t, f, `(() => { const s = document.getElementById('manual-action'); s.value = 'remove-product-access'; s.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`)
	setValue(t, f, "manual-days", "30")
	act(t, f, "dry run", chromedp.SendKeys(chromedp.ID("manual-dry"), kb.Enter))
	// The progress shows next to the form's buttons, where the run started.
	waitJS(t, f, "run finished", `(document.querySelector('#manual-form .uc-progress') || {dataset: {}}).dataset.status === 'succeeded'`)

	dryRunID := evalJS[string](t, f, `document.querySelector('#manual-form .uc-progress').dataset.runId`)
	var dry struct{ Counts cleanup.RunCounts }
	e.apiGet(t, p, "/runs/"+dryRunID, &dry)
	if got, want := evalJS[string](t, f, `document.querySelector('#manual-form .uc-progress-text').textContent`),
		fmt.Sprintf("Succeeded — evaluated %d users, matched %d. Go to results", dry.Counts.Evaluated, dry.Counts.Matched); got != want {
		t.Errorf("the finished dry run says %q, want %q", got, want)
	}

	// Run now asks first, in a modal that says what the dry run found,
	// then removes access for real.
	before := len(e.cloud.Calls())
	act(t, f, "run now", chromedp.SendKeys(chromedp.ID("manual-run"), kb.Enter))
	waitJS(t, f, "confirmation", `document.getElementById('confirm-run') !== null && document.activeElement.id === 'confirm-run-cancel'`)
	if got, want := evalJS[string](t, f, `document.querySelector('#confirm-run [data-impact]').textContent`), fmt.Sprintf("Remove Confluence access for %d users?", dry.Counts.Matched); got != want {
		t.Errorf("the confirmation asks %q, want %q", got, want)
	}
	if n := len(e.cloud.Calls()); n != before {
		t.Fatalf("Run now acted before the confirmation (%d calls)", n-before)
	}
	act(t, f, "confirm", press(chromedp.ID("confirm-run-confirm")))
	waitJS(t, f, "focus back on Run now", `document.getElementById('confirm-run') === null && document.activeElement.id === 'manual-run'`)
	waitJS(t, f, "real run finished", `(() => { const p = document.querySelector('#manual-form .uc-progress'); return p.dataset.runId !== `+jsString(dryRunID)+` && p.dataset.status === 'succeeded'; })()`)
	removed := 0
	for _, c := range e.cloud.Calls()[before:] {
		if c.GroupID == group.ID && c.Result == "removed" {
			removed++
		}
	}
	if removed == 0 {
		t.Errorf("the run removed nobody from %s: %+v", group.Name, e.cloud.Calls()[before:])
	}

	act(t, f, "history", chromedp.SendKeys(chromedp.ID("tab-manual"), kb.ArrowRight))
	waitJS(t, f, "history row", `document.querySelector('#history-table tbody tr') !== null`)
	act(t, f, "export data", chromedp.SendKeys(chromedp.CSS(`#history-table button[data-export]`), kb.Enter))
	d := e.frame(t, ctx, "/confluence/dialogs/export-data")
	waitJS(t, d, "exports", `document.getElementById('audit-heading') !== null`)
	if got := evalJS[string](t, d, `(document.getElementById('no-idp') || {}).textContent || ''`); got != "This cleanup did not affect any users in identity-provider groups." {
		t.Errorf("no-IdP message = %q", got)
	}
	if evalJS[bool](t, d, `document.getElementById('idp-exports') !== null`) {
		t.Error("the dialog shows identity-provider exports for a run without synced users")
	}
	if n := evalJS[int](t, d, `document.querySelectorAll('a.uc-download').length`); n != 2 {
		t.Errorf("audit downloads = %d, want CSV and JSON", n)
	}
	// Only the key press: the dialog closes on it, so its frame is gone
	// before a key release could be delivered (SendKeys would fail then).
	act(t, d, "escape", chromedp.Focus(chromedp.ID("close-dialog")), chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, input.DispatchKeyEvent, input.DispatchKeyEventParams{
			Type: input.DispatchKeyEventTypeRawKeyDown, Key: "Escape", Code: "Escape", WindowsVirtualKeyCode: 27, NativeVirtualKeyCode: 27})
		return err
	}))
	waitJS(t, ctx, "dialog closed", `document.getElementById('host-dialog').hidden`)
	waitJS(t, f, "focus back on Export data", `document.activeElement && document.activeElement.dataset.export !== undefined`)
}
