package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	usercleanup "github.com/example/usercleanup"
	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/connect/connecttest"
	"github.com/example/usercleanup/internal/server"
	"github.com/example/usercleanup/internal/store"
)

const (
	forgeJiraAppID = "ari:cloud:ecosystem::app/0a0a0a0a-1111-2222-3333-444444444444"
	forgeConfAppID = "ari:cloud:ecosystem::app/0c0c0c0c-1111-2222-3333-444444444444"
	installSiteA   = "ari:cloud:ecosystem::installation/a0000000-0000-0000-0000-00000000000a"
	installSiteB   = "ari:cloud:ecosystem::installation/b0000000-0000-0000-0000-00000000000b"
	installSiteC   = "ari:cloud:ecosystem::installation/c0000000-0000-0000-0000-00000000000c"
	installUnknown = "ari:cloud:ecosystem::installation/f0000000-0000-0000-0000-00000000000f"
	cloudSiteC     = "c1c1c1c1-0000-4000-8000-00000000000c"
)

// forgeEnv is a running app with Connect and Forge authentication: the
// real server and store, a fake install-keys server (Connect signed
// installs) and a fake Forge JWKS server (FITs).
type forgeEnv struct {
	URL    string
	apps   map[connect.Product]connect.App
	keys   *connecttest.KeyServer
	forge  *connecttest.ForgeServer
	store  *store.Store
	admins *fakeAdmins
	now    time.Time
}

func newForgeEnv(t *testing.T) *forgeEnv {
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
	fs, err := connecttest.NewForgeServer(forgeJiraAppID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fs.Close)
	fs.Now = clock

	cipher, err := store.NewCipher(make([]byte, store.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(ctx, store.Config{Driver: store.SQLite, DSN: filepath.Join(t.TempDir(), "app.db"), Cipher: cipher, Logger: log, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })

	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String()
	e := &forgeEnv{URL: base, apps: map[connect.Product]connect.App{}, keys: ks, forge: fs, store: st,
		admins: &fakeAdmins{admins: map[string]bool{}}, now: now}
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
	jwks := connect.NewJWKSFetcher(fs.URL, fs.Client(), clock)
	jwks.Timeout = 2 * time.Second
	srv, err := server.New(server.Config{
		BaseURL:     base,
		Apps:        apps,
		Descriptors: descriptors,
		Lifecycle: &connect.Lifecycle{
			Store: st, Keys: connect.NewInstallKeyFetcher([]string{ks.URL}, ks.Client()), Verifier: verifier,
			AllowedHosts: []string{"*.atlassian.net"}, Now: clock,
		},
		Verifier: verifier,
		Forge: &connect.FITVerifier{
			Keys: jwks,
			AppIDs: map[string]string{
				e.apps[connect.Jira].Key:       forgeJiraAppID,
				e.apps[connect.Confluence].Key: forgeConfAppID,
			},
			Installations: st,
			Now:           clock,
		},
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
	ts.Start()
	t.Cleanup(ts.Close)
	return e
}

// install performs a Connect signed install; installationID and cloudID
// are sent in the payload when not empty (apps registered on Forge).
func (e *forgeEnv) install(t *testing.T, p connect.Product, clientKey, installationID, cloudID string) *connect.Tenant {
	t.Helper()
	site := "https://" + strings.ReplaceAll(clientKey, ":", "-") + ".atlassian.net"
	secret := clientKey + "-secret-0123456789abcdef"
	payload := connecttest.InstallPayload{
		Key: e.apps[p].Key, ClientKey: clientKey, SharedSecret: secret, BaseURL: site,
		ProductType: string(p), InstallationID: installationID, CloudID: cloudID,
	}
	if err := e.keys.Install(context.Background(), nil, e.apps[p].BaseURL, payload); err != nil {
		t.Fatalf("install %s: %v", clientKey, err)
	}
	return &connect.Tenant{ClientKey: clientKey, SharedSecret: connect.Secret(secret), ProductType: p, BaseURL: site}
}

func (e *forgeEnv) fit(t *testing.T, f connecttest.FIT) http.Header {
	t.Helper()
	tok, err := e.forge.Mint(f)
	if err != nil {
		t.Fatal(err)
	}
	return http.Header{"Authorization": {"Bearer " + tok}}
}

func TestForgeAPISameTenantAsConnect(t *testing.T) {
	e := newForgeEnv(t)
	a := e.install(t, connect.Jira, "jira:site-a", installSiteA, "")
	b := e.install(t, connect.Jira, "jira:site-b", installSiteB, "")
	e.admins.grant(a.ClientKey, adminID)
	e.admins.grant(b.ClientKey, adminID)
	me := e.URL + "/jira/api/me"

	ctxTok, err := connecttest.ContextToken(a, adminID, e.now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	viaConnect := do(t, http.MethodGet, me, http.Header{"Authorization": {"JWT " + ctxTok}}, nil)
	viaForge := do(t, http.MethodGet, me, e.fit(t, connecttest.FIT{InstallationID: installSiteA, AccountID: adminID}), nil)
	if viaConnect.status != 200 || viaForge.status != 200 {
		t.Fatalf("connect %d %s / forge %d %s", viaConnect.status, viaConnect.body, viaForge.status, viaForge.body)
	}
	if diff := cmp.Diff(viaConnect.body, viaForge.body); diff != "" {
		t.Errorf("Forge and Connect see different data (-connect +forge):\n%s", diff)
	}
	body := identity(t, viaForge.body)
	if diff := cmp.Diff(map[string]string{"clientKey": "jira:site-a", "accountId": adminID, "product": "jira"}, body); diff != "" {
		t.Errorf("forge body (-want +got):\n%s", diff)
	}
	if cc := viaForge.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control = %q", cc)
	}

	tests := []struct {
		name       string
		url        string
		fit        connecttest.FIT
		header     func(http.Header)
		wantStatus int
		wantClient string
	}{
		{name: "other installation gets its own tenant", url: me,
			fit: connecttest.FIT{InstallationID: installSiteB, AccountID: adminID}, wantStatus: 200, wantClient: "jira:site-b"},
		{name: "unknown installation", url: me,
			fit: connecttest.FIT{InstallationID: installUnknown, AccountID: adminID}, wantStatus: 401},
		{name: "unknown installation on site A's cloud is not guessed", url: me,
			fit: connecttest.FIT{InstallationID: installUnknown, CloudID: "a1a1a1a1-0000-4000-8000-00000000000a", AccountID: adminID}, wantStatus: 401},
		{name: "non-admin principal", url: me,
			fit: connecttest.FIT{InstallationID: installSiteA, AccountID: userID}, wantStatus: 403},
		{name: "no principal", url: me,
			fit: connecttest.FIT{InstallationID: installSiteA}, wantStatus: 403},
		{name: "jira FIT on the confluence API", url: e.URL + "/confluence/api/me",
			fit: connecttest.FIT{InstallationID: installSiteA, AccountID: adminID}, wantStatus: 401},
		{name: "FIT of another Forge app", url: me,
			fit: connecttest.FIT{AppID: forgeConfAppID, InstallationID: installSiteA, AccountID: adminID}, wantStatus: 401},
		{name: "expired FIT", url: me,
			fit: connecttest.FIT{InstallationID: installSiteA, AccountID: adminID, TTL: -time.Minute}, wantStatus: 401},
		{name: "FIT plus Connect JWT", url: me,
			fit:    connecttest.FIT{InstallationID: installSiteA, AccountID: adminID},
			header: func(h http.Header) { h.Add("Authorization", "JWT "+ctxTok) }, wantStatus: 401},
		{name: "tampered FIT", url: me,
			fit: connecttest.FIT{InstallationID: installSiteB, AccountID: adminID},
			header: func(h http.Header) {
				// Keep B's signature, claim A's installation.
				good := e.fit(t, connecttest.FIT{InstallationID: installSiteA, AccountID: adminID}).Get("Authorization")
				bad := h.Get("Authorization")
				h.Set("Authorization", good[:strings.LastIndexByte(good, '.')]+bad[strings.LastIndexByte(bad, '.'):])
			}, wantStatus: 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := e.fit(t, tc.fit)
			if tc.header != nil {
				tc.header(h)
			}
			r := do(t, http.MethodGet, tc.url, h, nil)
			if r.status != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", r.status, tc.wantStatus, r.body)
			}
			if tc.wantStatus != 200 && strings.Contains(r.body, "jira:site-a") {
				t.Errorf("rejected request saw tenant A: %s", r.body)
			}
			if tc.wantClient != "" {
				got := identity(t, r.body)
				if got["clientKey"] != tc.wantClient {
					t.Errorf("clientKey = %q, want %q", got["clientKey"], tc.wantClient)
				}
			}
		})
	}

	// After a Connect uninstall the installation's FITs are refused.
	if err := e.keys.Uninstall(context.Background(), nil, e.apps[connect.Jira].BaseURL, connecttest.InstallPayload{
		Key: e.apps[connect.Jira].Key, ClientKey: a.ClientKey, BaseURL: a.BaseURL, ProductType: "jira",
	}); err != nil {
		t.Fatal(err)
	}
	if r := do(t, http.MethodGet, me, e.fit(t, connecttest.FIT{InstallationID: installSiteA, AccountID: adminID}), nil); r.status != 401 {
		t.Errorf("FIT after uninstall: %d %s", r.status, r.body)
	}
}

func TestForgeAPIAssociatesBySignedCloudID(t *testing.T) {
	e := newForgeEnv(t)
	// Installed through Connect before the app was registered on Forge:
	// the signed install carried the site's cloud id but no installation.
	c := e.install(t, connect.Jira, "jira:site-c", "", cloudSiteC)
	e.admins.grant(c.ClientKey, adminID)
	r := do(t, http.MethodGet, e.URL+"/jira/api/me",
		e.fit(t, connecttest.FIT{InstallationID: installSiteC, CloudID: cloudSiteC, AccountID: adminID}), nil)
	if r.status != 200 || !strings.Contains(r.body, `"clientKey":"jira:site-c"`) {
		t.Fatalf("associated call: %d %s", r.status, r.body)
	}
	got, err := e.store.GetTenant(context.Background(), c.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	if got.InstallationID != installSiteC {
		t.Errorf("stored installation = %q, want %q", got.InstallationID, installSiteC)
	}
}

func TestForgeAPIJWKSDown(t *testing.T) {
	e := newForgeEnv(t)
	a := e.install(t, connect.Jira, "jira:site-a", installSiteA, "")
	e.admins.grant(a.ClientKey, adminID)
	e.forge.Fail(http.StatusInternalServerError)
	r := do(t, http.MethodGet, e.URL+"/jira/api/me", e.fit(t, connecttest.FIT{InstallationID: installSiteA, AccountID: adminID}), nil)
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503; body %s", r.status, r.body)
	}
	// Connect context JWTs do not depend on the JWKS.
	tok, err := connecttest.ContextToken(a, adminID, e.now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if r := do(t, http.MethodGet, e.URL+"/jira/api/me", http.Header{"Authorization": {"JWT " + tok}}, nil); r.status != 200 {
		t.Fatalf("connect during JWKS outage: %d %s", r.status, r.body)
	}
}

// After registration on Forge no enabled/disabled events arrive: a tenant
// whose last Connect event was "disabled" must still be served (the
// enabled flag gates nothing), by FIT and by context JWT alike.
func TestForgeAPIIgnoresEnabledFlag(t *testing.T) {
	e := newForgeEnv(t)
	a := e.install(t, connect.Jira, "jira:site-a", installSiteA, "")
	e.admins.grant(a.ClientKey, adminID)
	if err := e.store.SetEnabled(context.Background(), a.ClientKey, false); err != nil {
		t.Fatal(err)
	}
	tok, err := connecttest.ContextToken(a, adminID, e.now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]http.Header{
		"forge":   e.fit(t, connecttest.FIT{InstallationID: installSiteA, AccountID: adminID}),
		"connect": {"Authorization": {"JWT " + tok}},
	} {
		if r := do(t, http.MethodGet, e.URL+"/jira/api/me", h, nil); r.status != 200 {
			t.Errorf("%s call for a disabled tenant: %d %s", name, r.status, r.body)
		}
	}
}
