package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	usercleanup "github.com/example/usercleanup"
	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/connect/connecttest"
	"github.com/example/usercleanup/internal/atlassian"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/server"
	"github.com/example/usercleanup/internal/store"
)

// The browser tests drive the admin pages in real headless Chromium, framed
// by the host page (server.HostPage) exactly as Jira frames them: the host
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
	host    *server.HostPage
	apps    map[connect.Product]connect.App
	tenants map[connect.Product]*connect.Tenant
	admin   string // an org admin account of the fake cloud
	user    string // a plain user account
	browser context.Context
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
	ctx := context.Background()

	cloud := atlassiantest.New(atlassiantest.Options{Users: 40, Seed: 7})
	t.Cleanup(cloud.Close)
	ks, err := connecttest.NewKeyServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ks.Close)

	cipher, err := store.NewCipher(make([]byte, store.KeySize))
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
	verifier := &connect.Verifier{Store: st}
	srv, err := server.New(server.Config{
		BaseURL:     appURL,
		Apps:        apps,
		Descriptors: descriptors,
		Lifecycle: &connect.Lifecycle{Store: st, Keys: connect.NewInstallKeyFetcher([]string{ks.URL}, nil),
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
	var sites []server.HostSite
	for i, p := range []connect.Product{connect.Jira, connect.Confluence} {
		site := cloud.Site(p)
		clientKey := fmt.Sprintf("ui-client-%d", i)
		secret := "ui-shared-secret-" + string(p) + "-0123456789abcdef"
		site.RegisterApp(e.apps[p].Key, clientKey, secret)
		if err := ks.Install(ctx, nil, e.apps[p].BaseURL, connecttest.InstallPayload{
			Key: e.apps[p].Key, ClientKey: clientKey, SharedSecret: secret, BaseURL: site.BaseURL(), ProductType: string(p),
		}); err != nil {
			t.Fatalf("install %s: %v", p, err)
		}
		tn, err := st.GetTenant(ctx, clientKey)
		if err != nil {
			t.Fatal(err)
		}
		e.tenants[p] = tn
		sites = append(sites, server.HostSite{App: e.apps[p], ClientKey: clientKey})
	}

	for _, u := range cloud.Users() {
		switch {
		case len(u.Roles) > 0 && e.admin == "":
			e.admin = u.AccountID
		case len(u.Roles) == 0 && u.AccountType == "atlassian" && e.user == "":
			e.user = u.AccountID
		}
	}
	if e.admin == "" || e.user == "" {
		t.Fatalf("seed has no admin (%q) or plain user (%q)", e.admin, e.user)
	}

	host, err := server.NewHostPage(server.HostPageConfig{
		Prefix:  "/",
		Sites:   sites,
		Users:   []server.HostUser{{AccountID: e.admin, Name: "Ada Admin"}, {AccountID: e.user, Name: "Uma User"}},
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

// tab opens a new tab for one test, with a deadline.
func (e *uiEnv) tab(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(e.browser)
	t.Cleanup(cancel)
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancelT)
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
				return fctx
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no iframe for %s among %d targets", path, len(infos))
		}
		time.Sleep(50 * time.Millisecond)
	}
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
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if os.Getenv("UPDATE_SCREENSHOTS") != "1" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
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
	host, err := server.NewHostPage(server.HostPageConfig{
		Sites:   []server.HostSite{{App: app, ClientKey: "k1"}},
		Users:   []server.HostUser{{AccountID: "acc-1", Name: "A"}},
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

	// An uninstalled tenant gets no tokens.
	if err := st.MarkUninstalled(context.Background(), "k1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if got, _ := call("/host/api/token", `{"product":"jira","user":"acc-1"}`, true); got != http.StatusConflict {
		t.Errorf("token for an uninstalled tenant = %d, want 409", got)
	}
}
