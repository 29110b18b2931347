package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	usercleanup "github.com/example/usercleanup"
	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/connect/connecttest"
	"github.com/example/usercleanup/internal/server"
	"github.com/example/usercleanup/internal/store"
)

const (
	appKey        = "com.example.usercleanup"
	hostScriptURL = "https://connect-cdn.atl-paas.net/all.js"
	adminID       = "557058:admin"
	userID        = "557058:user"
)

// fakeAdmins answers admin checks from a fixed set of account ids. It
// stands in for the product's permission API, which internal/atlassian
// calls in production.
type fakeAdmins struct {
	mu       sync.Mutex
	admins   map[string]bool
	system   map[string]bool // holders of the highest admin level
	calls    int
	sysCalls int
}

func (f *fakeAdmins) IsAdmin(_ context.Context, t *connect.Tenant, accountID string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.admins[t.ClientKey+"/"+accountID], nil
}

func (f *fakeAdmins) IsSystemAdmin(_ context.Context, t *connect.Tenant, accountID string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sysCalls++
	return f.system[t.ClientKey+"/"+accountID], nil
}

func (f *fakeAdmins) grant(clientKey, accountID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.admins[clientKey+"/"+accountID] = true
}

// grantSystem makes the account a product admin with the highest admin
// level.
func (f *fakeAdmins) grantSystem(clientKey, accountID string) {
	f.grant(clientKey, accountID)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.system == nil {
		f.system = map[string]bool{}
	}
	f.system[clientKey+"/"+accountID] = true
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	discard atomic.Bool // benchmarks: drop what is written
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	if b.discard.Load() {
		return len(p), nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is a running app: the real server and store on a temp SQLite file,
// a fake install-keys server and a fake admin check.
type env struct {
	URL    string
	apps   map[connect.Product]connect.App
	keys   *connecttest.KeyServer
	store  *store.Store
	admins *fakeAdmins
	logs   *syncBuffer
	now    time.Time
	// level is the log's level (debug unless a benchmark sets another).
	level *slog.LevelVar
	// handler is the server itself, for benchmarks that call it without
	// a network in between.
	handler http.Handler
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	clock := func() time.Time { return now }

	ks, err := connecttest.NewKeyServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ks.Close)
	ks.Now = clock

	key := make([]byte, store.KeySize)
	cipher, err := store.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	level := &slog.LevelVar{}
	level.Set(slog.LevelDebug)
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: level}))
	st, err := store.Open(ctx, store.Config{Driver: store.SQLite, DSN: filepath.Join(t.TempDir(), "app.db"), Cipher: cipher, Logger: log, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })

	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String()
	e := &env{URL: base, apps: map[connect.Product]connect.App{}, keys: ks, store: st,
		admins: &fakeAdmins{admins: map[string]bool{}}, logs: logs, now: now, level: level}

	var apps []connect.App
	descriptors := map[connect.Product][]byte{}
	for _, p := range []connect.Product{connect.Jira, connect.Confluence} {
		params := connect.DescriptorParams{Product: p, BaseURL: base, AppKey: appKey}
		d, err := connect.RenderDescriptor(usercleanup.DescriptorTemplate, params)
		if err != nil {
			t.Fatal(err)
		}
		descriptors[p] = d
		apps = append(apps, params.App())
		e.apps[p] = params.App()
	}
	verifier := &connect.Verifier{Store: st, Now: clock}
	srv, err := server.New(server.Config{
		BaseURL:     base,
		Apps:        apps,
		Descriptors: descriptors,
		Lifecycle: &connect.Lifecycle{
			Store: st, Keys: connect.NewInstallKeyFetcher([]string{ks.URL}, ks.Client()), Verifier: verifier,
			AllowedHosts: []string{"*.atlassian.net"}, Now: clock,
		},
		Verifier:      verifier,
		Admin:         e.admins,
		Health:        st,
		HostScriptURL: hostScriptURL,
		Logger:        log,
		Now:           clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv
	e.handler = srv
	ts.Start()
	t.Cleanup(ts.Close)
	return e
}

// install performs a signed install of a tenant of the product's app.
func (e *env) install(t testing.TB, p connect.Product, clientKey, secret string) *connect.Tenant {
	t.Helper()
	site := "https://" + strings.ReplaceAll(clientKey, ":", "-") + ".atlassian.net"
	if p == connect.Confluence {
		site += "/wiki"
	}
	err := e.keys.Install(context.Background(), nil, e.apps[p].BaseURL, connecttest.InstallPayload{
		Key: e.apps[p].Key, ClientKey: clientKey, SharedSecret: secret, BaseURL: site,
		ProductType: string(p),
	})
	if err != nil {
		t.Fatalf("install %s: %v", clientKey, err)
	}
	return &connect.Tenant{ClientKey: clientKey, SharedSecret: connect.Secret(secret), ProductType: p, BaseURL: site}
}

// pageURL returns the URL a product loads for a page, with the standard
// query parameters and a page token for the account.
func (e *env) pageURL(t testing.TB, tn *connect.Tenant, p connect.Product, path, accountID string) string {
	t.Helper()
	u := e.apps[p].BaseURL + path + "?xdm_e=" + strings.TrimSuffix(tn.BaseURL, "/wiki") + "&xdm_c=channel-1&cp=&lic=none&cv=1001.0.0"
	tok, err := connecttest.PageToken(tn, e.apps[p], http.MethodGet, u, accountID, e.now, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return connecttest.WithJWT(u, tok)
}

type response struct {
	status int
	header http.Header
	body   string
}

func do(t testing.TB, method, url string, header http.Header, body io.Reader) response {
	t.Helper()
	return doWith(t, http.DefaultClient, method, url, header, body)
}

// doWith sends the request with the client and reads the whole answer.
func doWith(t testing.TB, client *http.Client, method, url string, header http.Header, body io.Reader) response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func get(t testing.TB, url string) response { t.Helper(); return do(t, http.MethodGet, url, nil, nil) }

func TestDescriptors(t *testing.T) {
	e := newEnv(t)
	for _, p := range []connect.Product{connect.Jira, connect.Confluence} {
		t.Run(string(p), func(t *testing.T) {
			r := get(t, e.URL+"/"+string(p)+"/atlassian-connect.json")
			if r.status != http.StatusOK {
				t.Fatalf("status = %d, want 200", r.status)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			var d struct {
				Key     string `json:"key"`
				BaseURL string `json:"baseUrl"`
			}
			if err := json.Unmarshal([]byte(r.body), &d); err != nil {
				t.Fatalf("descriptor is not JSON: %v", err)
			}
			want := struct{ Key, BaseURL string }{e.apps[p].Key, e.apps[p].BaseURL}
			if diff := cmp.Diff(want, struct{ Key, BaseURL string }{d.Key, d.BaseURL}); diff != "" {
				t.Errorf("descriptor (-want +got):\n%s", diff)
			}
			checkConnectHeaders(t, r)
		})
	}
}

// checkConnectHeaders checks the headers every descriptor-declared URL
// needs to be framed by the product and to pass Atlassian's scanner.
func checkConnectHeaders(t *testing.T, r response) {
	t.Helper()
	if v := r.header.Get("X-Frame-Options"); v != "" {
		t.Errorf("X-Frame-Options = %q, want none (breaks the product iframe)", v)
	}
	csp := r.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-ancestors 'self' https://*.atlassian.net") {
		t.Errorf("Content-Security-Policy = %q, want frame-ancestors with the product hosts", csp)
	}
	cc := r.header.Get("Cache-Control")
	if !strings.Contains(cc, "no-cache") || !strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control = %q, want no-cache and no-store", cc)
	}
	if v := r.header.Get("Referrer-Policy"); v != "strict-origin-when-cross-origin" {
		t.Errorf("Referrer-Policy = %q", v)
	}
	if v := r.header.Get("X-Content-Type-Options"); v != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q", v)
	}
	if r.header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id")
	}
}

// TestHealthzAndReadyz: /healthz is liveness (200 while the process
// serves, whatever the database does); /readyz is 200 only while the
// database answers and is migrated.
func TestHealthzAndReadyz(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		if r := get(t, e.URL+path); r.status != http.StatusOK || !strings.Contains(r.body, `"ok"`) {
			t.Fatalf("%s = %d %s, want 200 ok", path, r.status, r.body)
		}
	}
	_ = e.store.Close()
	if r := get(t, e.URL+"/readyz"); r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, `"unavailable"`) {
		t.Fatalf("readyz with closed DB = %d %s, want 503 unavailable", r.status, r.body)
	}
	if r := get(t, e.URL+"/healthz"); r.status != http.StatusOK {
		t.Fatalf("healthz with closed DB = %d, want 200 (liveness)", r.status)
	}
}

func TestStaticAndUnknown(t *testing.T) {
	e := newEnv(t)
	r := get(t, e.URL+"/static/app.css")
	if r.status != http.StatusOK || !strings.Contains(r.body, ".ac-content") {
		t.Errorf("GET /static/app.css = %d", r.status)
	}
	if r := get(t, e.URL+"/static/"); r.status != http.StatusNotFound {
		t.Errorf("GET /static/ = %d, want 404 (no listing)", r.status)
	}
	r = get(t, e.URL+"/jira/no-such-page")
	if r.status != http.StatusNotFound {
		t.Errorf("unknown route = %d, want 404", r.status)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || body["error"] == nil {
		t.Errorf("404 body = %q, want JSON with error", r.body)
	}
}

func TestPageFlow(t *testing.T) {
	e := newEnv(t)
	tn := e.install(t, connect.Jira, "jira:site-1", "first-secret-0123456789")
	e.admins.grant(tn.ClientKey, adminID)

	pages := []string{"/admin/settings", "/admin/cleanup", "/dialogs/export-data"}
	for _, path := range pages {
		r := get(t, e.pageURL(t, tn, connect.Jira, path, adminID))
		if r.status != http.StatusOK {
			t.Fatalf("GET %s = %d %s, want 200", path, r.status, r.body)
		}
		for _, want := range []string{`<main class="ac-content">`, `src="` + hostScriptURL + `"`, tn.BaseURL} {
			if !strings.Contains(r.body, want) {
				t.Errorf("GET %s body lacks %q", path, want)
			}
		}
		checkConnectHeaders(t, r)
	}

	// Non-admins are refused, with an HTML page inside the iframe.
	r := get(t, e.pageURL(t, tn, connect.Jira, "/admin/settings", userID))
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "administrator") || !strings.Contains(r.header.Get("Content-Type"), "text/html") {
		t.Errorf("non-admin page = %d %q, want 403 HTML", r.status, r.header.Get("Content-Type"))
	}
	r = get(t, e.pageURL(t, tn, connect.Jira, "/admin/settings", ""))
	if r.status != http.StatusForbidden {
		t.Errorf("anonymous page = %d, want 403", r.status)
	}

	// The request log never holds the token (it is in the query).
	if logs := e.logs.String(); strings.Contains(logs, "jwt=") || strings.Contains(logs, "eyJ") {
		t.Errorf("logs contain a JWT:\n%s", logs)
	}
	if !strings.Contains(e.logs.String(), `"client_key":"jira:site-1"`) {
		t.Error("request log lacks the client key")
	}

	// Uninstall: every later page load is refused.
	if err := e.keys.Uninstall(context.Background(), nil, e.apps[connect.Jira].BaseURL, connecttest.InstallPayload{
		Key: e.apps[connect.Jira].Key, ClientKey: tn.ClientKey, BaseURL: tn.BaseURL, ProductType: "jira",
	}); err != nil {
		t.Fatal(err)
	}
	if r := get(t, e.pageURL(t, tn, connect.Jira, "/admin/settings", adminID)); r.status != http.StatusUnauthorized {
		t.Errorf("page after uninstall = %d, want 401", r.status)
	}

	// Reinstall with a new secret: the old one is rejected, the new accepted.
	re := e.install(t, connect.Jira, tn.ClientKey, "second-secret-0123456789")
	if r := get(t, e.pageURL(t, tn, connect.Jira, "/admin/settings", adminID)); r.status != http.StatusUnauthorized {
		t.Errorf("page with the old secret = %d, want 401", r.status)
	}
	if r := get(t, e.pageURL(t, re, connect.Jira, "/admin/settings", adminID)); r.status != http.StatusOK {
		t.Errorf("page with the new secret = %d, want 200", r.status)
	}
}

func TestForgedPageTokens(t *testing.T) {
	e := newEnv(t)
	tn := e.install(t, connect.Jira, "jira:site-1", "first-secret-0123456789")
	e.admins.grant(tn.ClientKey, adminID)
	app := e.apps[connect.Jira]
	page := app.BaseURL + "/admin/settings?cp=&lic=none"
	valid, err := connecttest.PageToken(tn, app, http.MethodGet, page, adminID, e.now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		qsh, err := connect.QueryStringHash(http.MethodGet, "/jira/admin/settings", "cp=&lic=none", "/jira")
		if err != nil {
			t.Fatal(err)
		}
		c := jwt.MapClaims{"iss": tn.ClientKey, "sub": adminID, "qsh": qsh, "iat": e.now.Unix(), "exp": e.now.Add(time.Minute).Unix()}
		mod(c)
		return c
	}
	sign := func(c jwt.MapClaims, secret string) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	none := func(c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	secret := tn.SharedSecret.Reveal()
	ctxTok, err := connecttest.ContextToken(tn, adminID, e.now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	other := e.install(t, connect.Confluence, "conf:site-2", "conf-secret-0123456789")
	e.admins.grant(other.ClientKey, adminID)
	otherTok, err := connecttest.PageToken(other, app, http.MethodGet, page, adminID, e.now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		url    string
		header http.Header
	}{
		{"no token", page, nil},
		{"empty token", page + "&jwt=", nil},
		{"garbage", connecttest.WithJWT(page, "not.a.jwt"), nil},
		{"alg none", connecttest.WithJWT(page, none(claims(func(jwt.MapClaims) {}))), nil},
		{"wrong secret", connecttest.WithJWT(page, sign(claims(func(jwt.MapClaims) {}), "wrong-secret-0123456789")), nil},
		{"tampered signature", connecttest.WithJWT(page, valid[:len(valid)-3]+"AAA"), nil},
		{"qsh of another page", connecttest.WithJWT(app.BaseURL+"/admin/cleanup?cp=&lic=none", valid), nil},
		{"query changed", connecttest.WithJWT(page+"&extra=1", valid), nil},
		{"context qsh on page", connecttest.WithJWT(page, ctxTok), nil},
		{"no qsh", connecttest.WithJWT(page, sign(claims(func(c jwt.MapClaims) { delete(c, "qsh") }), secret)), nil},
		{"expired", connecttest.WithJWT(page, sign(claims(func(c jwt.MapClaims) {
			c["iat"] = e.now.Add(-time.Hour).Unix()
			c["exp"] = e.now.Add(-10 * time.Minute).Unix()
		}), secret)), nil},
		{"no exp", connecttest.WithJWT(page, sign(claims(func(c jwt.MapClaims) { delete(c, "exp") }), secret)), nil},
		{"issued in the future", connecttest.WithJWT(page, sign(claims(func(c jwt.MapClaims) {
			c["iat"] = e.now.Add(time.Hour).Unix()
			c["exp"] = e.now.Add(2 * time.Hour).Unix()
		}), secret)), nil},
		{"unknown tenant", connecttest.WithJWT(page, sign(claims(func(c jwt.MapClaims) { c["iss"] = "jira:unknown" }), secret)), nil},
		{"token in query and header", connecttest.WithJWT(page, valid), http.Header{"Authorization": {"JWT " + valid}}},
		{"tenant of the Confluence app", connecttest.WithJWT(page, otherTok), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, http.MethodGet, tc.url, tc.header, nil)
			if r.status != http.StatusUnauthorized {
				t.Errorf("status = %d, want 401; body %s", r.status, r.body)
			}
			if !strings.Contains(r.header.Get("Content-Type"), "text/html") {
				t.Errorf("Content-Type = %q, want an HTML error page", r.header.Get("Content-Type"))
			}
			checkConnectHeaders(t, r)
		})
	}
	// The valid token itself is accepted: the table above fails for the
	// forgery, not for the set-up.
	if r := get(t, connecttest.WithJWT(page, valid)); r.status != http.StatusOK {
		t.Fatalf("valid token = %d, want 200", r.status)
	}
}

func TestAPI(t *testing.T) {
	e := newEnv(t)
	jira := e.install(t, connect.Jira, "jira:site-1", "jira-secret-0123456789")
	conf := e.install(t, connect.Confluence, "conf:site-1", "conf-secret-0123456789")
	e.admins.grant(jira.ClientKey, adminID)
	e.admins.grant(conf.ClientKey, adminID)

	token := func(tn *connect.Tenant, account string) http.Header {
		tok, err := connecttest.ContextToken(tn, account, e.now, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return http.Header{"Authorization": {"JWT " + tok}}
	}
	pageTok, err := connecttest.PageToken(jira, e.apps[connect.Jira], http.MethodGet, e.apps[connect.Jira].BaseURL+"/api/me", adminID, e.now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ctxTok, err := connecttest.ContextToken(jira, adminID, e.now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		url        string
		header     http.Header
		wantStatus int
		wantBody   map[string]string
	}{
		{"jira me", e.URL + "/jira/api/me", token(jira, adminID), 200,
			map[string]string{"clientKey": "jira:site-1", "accountId": adminID, "product": "jira"}},
		{"confluence me", e.URL + "/confluence/api/me", token(conf, adminID), 200,
			map[string]string{"clientKey": "conf:site-1", "accountId": adminID, "product": "confluence"}},
		{"no token", e.URL + "/jira/api/me", nil, 401, nil},
		{"page token on API", e.URL + "/jira/api/me", http.Header{"Authorization": {"JWT " + pageTok}}, 401, nil},
		{"jira tenant on confluence API", e.URL + "/confluence/api/me", token(jira, adminID), 401, nil},
		{"confluence tenant on jira API", e.URL + "/jira/api/me", token(conf, adminID), 401, nil},
		{"non-admin", e.URL + "/jira/api/me", token(jira, userID), 403, nil},
		// API routes take context tokens from the Authorization header
		// only: a token in a URL leaks into logs and Referer headers.
		{"context token in the query", connecttest.WithJWT(e.URL+"/jira/api/me", ctxTok), nil, 401, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, http.MethodGet, tc.url, tc.header, nil)
			if r.status != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", r.status, tc.wantStatus, r.body)
			}
			body := identity(t, r.body)
			if tc.wantBody != nil {
				if diff := cmp.Diff(tc.wantBody, body); diff != "" {
					t.Errorf("body (-want +got):\n%s", diff)
				}
			} else if body["error"] == "" {
				t.Errorf("error body %q has no error message", r.body)
			}
			cc := r.header.Get("Cache-Control")
			if !strings.Contains(cc, "no-store") {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
		})
	}
}

// identity decodes a JSON object of strings (an error body, or /api/me
// without its capabilities, which TestMeCapabilities checks).
func identity(t *testing.T, body string) map[string]string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", body, err)
	}
	delete(m, "capabilities")
	out := map[string]string{}
	for k, v := range m {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			t.Fatalf("%s in %q is not a string", k, body)
		}
		out[k] = s
	}
	return out
}

func TestAdminCheckCached(t *testing.T) {
	e := newEnv(t)
	tn := e.install(t, connect.Jira, "jira:site-1", "jira-secret-0123456789")
	e.admins.grant(tn.ClientKey, adminID)
	for range 3 {
		if r := get(t, e.pageURL(t, tn, connect.Jira, "/admin/settings", adminID)); r.status != http.StatusOK {
			t.Fatalf("status = %d", r.status)
		}
	}
	e.admins.mu.Lock()
	calls := e.admins.calls
	e.admins.mu.Unlock()
	if calls != 1 {
		t.Errorf("admin checks = %d for 3 page loads, want 1 (cached)", calls)
	}
}

func TestLifecycle(t *testing.T) {
	e := newEnv(t)
	base := e.apps[connect.Jira].BaseURL
	big := strings.Repeat("x", 2<<20)
	tests := []struct {
		name   string
		path   string
		header http.Header
		body   string
		want   int
	}{
		{"install without token", "/installed", nil, `{"clientKey":"x"}`, 401},
		{"install with HS256 token", "/installed", http.Header{"Authorization": {"JWT eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln"}}, `{"clientKey":"x"}`, 401},
		{"uninstall without token", "/uninstalled", nil, `{"clientKey":"x"}`, 401},
		{"enabled without token", "/enabled", nil, `{"clientKey":"x"}`, 401},
		{"disabled without token", "/disabled", nil, `{"clientKey":"x"}`, 401},
		{"body too large", "/installed", nil, big, 413},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{"Content-Type": {"application/json"}}
			for k, v := range tc.header {
				h[k] = v
			}
			r := do(t, http.MethodPost, base+tc.path, h, strings.NewReader(tc.body))
			if r.status != tc.want {
				t.Errorf("status = %d, want %d; body %s", r.status, tc.want, r.body)
			}
			if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
				t.Errorf("Content-Type = %q, want JSON", r.header.Get("Content-Type"))
			}
		})
	}

	// A valid signed install answers 204 and stores the tenant.
	tn := e.install(t, connect.Jira, "jira:site-1", "jira-secret-0123456789")
	got, err := e.store.GetTenant(context.Background(), tn.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	if got.SharedSecret.Reveal() != "jira-secret-0123456789" || !got.Installed() {
		t.Errorf("stored tenant: installed=%v", got.Installed())
	}

	// enabled/disabled are signed with the shared secret (computed qsh).
	for _, step := range []struct {
		path    string
		enabled bool
	}{{"/disabled", false}, {"/enabled", true}} {
		tok, err := connecttest.PageToken(tn, e.apps[connect.Jira], http.MethodPost, base+step.path, "", e.now, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		body := `{"key":"` + e.apps[connect.Jira].Key + `","clientKey":"` + tn.ClientKey + `","baseUrl":"` + tn.BaseURL + `","productType":"jira","eventType":"` + strings.TrimPrefix(step.path, "/") + `"}`
		r := do(t, http.MethodPost, base+step.path, http.Header{"Authorization": {"JWT " + tok}, "Content-Type": {"application/json"}}, strings.NewReader(body))
		if r.status != http.StatusNoContent {
			t.Fatalf("POST %s = %d %s, want 204", step.path, r.status, r.body)
		}
		got, err := e.store.GetTenant(context.Background(), tn.ClientKey)
		if err != nil {
			t.Fatal(err)
		}
		if got.Enabled != step.enabled {
			t.Errorf("after %s: Enabled = %v, want %v", step.path, got.Enabled, step.enabled)
		}
	}
}

// BenchmarkPageLoad measures an authenticated admin page load through the
// real handler stack (JWT verification with the SQLite tenant lookup,
// cached admin check, template rendering), over loopback HTTP.
func BenchmarkPageLoad(b *testing.B) {
	e := newEnv(b)
	tn := e.install(b, connect.Jira, "jira:bench", "bench-secret-0123456789")
	e.admins.grant(tn.ClientKey, adminID)
	u := e.pageURL(b, tn, connect.Jira, "/admin/settings", adminID)
	b.ReportAllocs()
	for b.Loop() {
		if r := get(b, u); r.status != http.StatusOK {
			b.Fatalf("status %d", r.status)
		}
	}
}
