package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	usercleanup "github.com/example/usercleanup"
	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/connect/connecttest"
	"github.com/example/usercleanup/internal/atlassian"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/server"
	"github.com/example/usercleanup/internal/store"
)

// cleanupEnv is the real server with the real cleanup service over a temp
// SQLite store and the fake Atlassian cloud; two tenants are installed.
type cleanupEnv struct {
	url    string
	cloud  *atlassiantest.Cloud
	st     *store.Store
	srv    *server.Server
	apps   map[connect.Product]connect.App
	dlKey  []byte
	cs     *store.CleanupStore
	conn   *atlassian.Connector
	admins *fakeAdmins
	snaps  *cleanup.Snapshots // taken in process (no job runtime): takeSnapshot
	a, b   *connect.Tenant    // Jira and Confluence installations
	admin  string
	logs   *syncBuffer // the server's and the service's log, at debug level
}

func newCleanupEnv(t *testing.T) *cleanupEnv {
	t.Helper()
	ctx := context.Background()
	cloud := atlassiantest.New(atlassiantest.Options{Seed: 21, Users: 60})
	t.Cleanup(cloud.Close)
	encKey := make([]byte, store.KeySize)
	cipher, err := store.NewCipher(encKey)
	if err != nil {
		t.Fatal(err)
	}
	dlKey, err := server.DeriveDownloadKey(encKey)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := store.Open(ctx, store.Config{Driver: store.SQLite, DSN: filepath.Join(t.TempDir(), "app.db"), Cipher: cipher})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e := &cleanupEnv{cloud: cloud, st: st, cs: st.Cleanups(nil), admins: &fakeAdmins{admins: map[string]bool{}},
		apps: map[connect.Product]connect.App{}, dlKey: dlKey, logs: logs}
	keyOf := func(p connect.Product) string { return connect.DescriptorParams{Product: p, AppKey: appKey}.Key() }
	e.a = cloud.Site(connect.Jira).Install(keyOf(connect.Jira), "tenant-a", "secret-of-tenant-a-0123456789")
	e.b = cloud.Site(connect.Confluence).Install(keyOf(connect.Confluence), "tenant-b", "secret-of-tenant-b-0123456789")
	for _, tn := range []*connect.Tenant{e.a, e.b} {
		if err := st.SaveTenant(ctx, tn); err != nil {
			t.Fatal(err)
		}
	}
	e.admin = cloud.Users()[0].AccountID
	e.admins.grantSystem("tenant-a", e.admin)
	e.admins.grantSystem("tenant-b", e.admin)
	e.conn = &atlassian.Connector{Tenants: st, Credentials: e.cs, Atlassian: atlassian.Options{OrgAPIURL: cloud.APIURL(), UserMgmtURL: cloud.APIURL()}}
	svc, err := cleanup.NewService(e.cs, e.conn, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.snaps, err = cleanup.NewSnapshots(cleanup.SnapshotsConfig{Store: st.Snapshots(nil), Source: e.cs, Connector: e.conn, Logger: log}); err != nil {
		t.Fatal(err)
	}

	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String()
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
	verifier := &connect.Verifier{Store: st}
	srv, err := server.New(server.Config{
		BaseURL: base, Apps: apps, Descriptors: descriptors,
		Lifecycle: &connect.Lifecycle{Store: st, Keys: connect.NewInstallKeyFetcher([]string{"http://127.0.0.1:1"}, nil), Verifier: verifier},
		Verifier:  verifier, Admin: e.admins, Health: st, HostScriptURL: hostScriptURL,
		Cleanup: svc, Snapshots: e.snaps, Exports: st, DownloadKey: dlKey, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv
	ts.Start()
	t.Cleanup(ts.Close)
	e.url, e.srv = base, srv
	return e
}

// takeSnapshot refreshes the tenant's snapshot through the API and takes
// it in process, as the snapshot job would, and returns its id.
func (e *cleanupEnv) takeSnapshot(t *testing.T, tn *connect.Tenant) int64 {
	t.Helper()
	r := e.call(t, tn, http.MethodPost, "/snapshots", nil)
	if r.status != http.StatusAccepted {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	id := decode[struct{ SnapshotID int64 }](t, r).SnapshotID
	if err := e.snaps.Take(context.Background(), tn.ClientKey, id); err != nil {
		t.Fatal(err)
	}
	return id
}

// call sends a JSON request to the tenant's API as the admin.
func (e *cleanupEnv) call(t *testing.T, tn *connect.Tenant, method, path string, body any, hdr ...string) response {
	t.Helper()
	return e.callAs(t, tn, e.admin, method, path, body, hdr...)
}

// callAs sends a JSON request to the tenant's API as the account.
func (e *cleanupEnv) callAs(t *testing.T, tn *connect.Tenant, account, method, path string, body any, hdr ...string) response {
	t.Helper()
	tok, err := connecttest.ContextToken(tn, account, time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{"Authorization": {"JWT " + tok}, "Content-Type": {"application/json"}}
	for i := 0; i+1 < len(hdr); i += 2 {
		h.Set(hdr[i], hdr[i+1])
	}
	var rd *strings.Reader
	switch b := body.(type) {
	case nil:
		rd = strings.NewReader("")
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = strings.NewReader(string(raw))
	}
	prefix := "/jira/api"
	if tn.ProductType == connect.Confluence {
		prefix = "/confluence/api"
	}
	return do(t, method, e.url+prefix+path, h, rd)
}

func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
	return v
}

type errBody struct {
	Error  string            `json:"error"`
	Fields map[string]string `json:"fields"`
}

func fieldNames(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// saveSettings stores the org id and API key for the tenant (the
// organization section).
func (e *cleanupEnv) saveSettings(t *testing.T, tn *connect.Tenant) {
	t.Helper()
	org := map[string]any{"organization": map[string]any{"orgId": e.cloud.OrgID(), "apiKey": "test-org-api-key"}}
	if r := e.call(t, tn, http.MethodPatch, "/settings", org); r.status != http.StatusOK {
		t.Fatalf("patch settings: %d %s", r.status, r.body)
	}
}

func (e *cleanupEnv) jswID(t *testing.T) string {
	g, ok := e.cloud.GroupByName(atlassiantest.GroupJiraSoftware)
	if !ok {
		t.Fatal("no jira-software-users")
	}
	return g.ID
}

func TestCleanupAPIValidation(t *testing.T) {
	e := newCleanupEnv(t)
	valid := map[string]any{"name": "Inactive", "action": cleanup.ActionReview, "licensingGroupIds": []string{e.jswID(t)}, "manual": true}

	// Without organization settings a cleanup cannot read activity.
	r := e.call(t, e.a, http.MethodPost, "/cleanups", valid)
	if eb := decode[errBody](t, r); r.status != http.StatusBadRequest || eb.Fields["settings"] == "" {
		t.Fatalf("no settings: %d %s", r.status, r.body)
	}
	e.saveSettings(t, e.a)

	tests := []struct {
		name   string
		body   any
		fields []string
	}{
		{"everything wrong", map[string]any{"name": " ", "daysInactive": 0, "action": "explode", "licensingGroupIds": []string{"no-such-group"}, "manual": true},
			[]string{"action", "daysInactive", "licensingGroupIds", "name"}},
		{"threshold too large", map[string]any{"name": "x", "daysInactive": 3651, "action": cleanup.ActionReview, "licensingGroupIds": []string{e.jswID(t)}, "manual": true},
			[]string{"daysInactive"}},
		{"bad cron", map[string]any{"name": "x", "action": cleanup.ActionReview, "licensingGroupIds": []string{e.jswID(t)},
			"schedule": map[string]any{"active": true, "frequency": "cron", "cron": "61 * * * *", "timeZone": "UTC"}},
			[]string{"schedule.cron"}},
		{"unknown field", `{"name":"x","bogus":1}`, []string{"body"}},
		{"wrong type", `{"name":"x","daysInactive":"ninety"}`, []string{"daysInactive"}},
		{"not JSON", `{"name":`, []string{"body"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.call(t, e.a, http.MethodPost, "/cleanups", tc.body)
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d %s, want 400", r.status, r.body)
			}
			if diff := cmp.Diff(tc.fields, fieldNames(decode[errBody](t, r).Fields)); diff != "" {
				t.Errorf("fields (-want +got):\n%s\n%s", diff, r.body)
			}
		})
	}
	// The messages read as the end of a sentence that starts with the
	// field's name on the page ("Days inactive must be a whole number."),
	// never in JSON's terms.
	for body, want := range map[string]map[string]string{
		`{"name":"x","daysInactive":1.5}`:     {"daysInactive": "must be a whole number"},
		`{"name":"x","skipApps":"yes"}`:       {"skipApps": "must be on or off (true or false)"},
		`{"name":"x","emailDomains":"a.com"}`: {"emailDomains": "must be a list"},
	} {
		if got := decode[errBody](t, e.call(t, e.a, http.MethodPost, "/cleanups", body)).Fields; !cmp.Equal(got, want) {
			t.Errorf("%s: fields %v, want %v", body, got, want)
		}
	}
	if got := decode[errBody](t, e.call(t, e.a, http.MethodPost, "/cleanups", map[string]any{"name": "x", "daysInactive": 0, "action": cleanup.ActionReview,
		"licensingGroupIds": []string{e.jswID(t)}, "manual": true})).Fields["daysInactive"]; got != "must be a whole number of days between 1 and 3650" {
		t.Errorf("daysInactive 0: %q", got)
	}
	if r := e.call(t, e.a, http.MethodPost, "/cleanups", valid); r.status != http.StatusCreated {
		t.Fatalf("valid cleanup: %d %s", r.status, r.body)
	}
}

func TestSettingsAPISecrets(t *testing.T) {
	e := newCleanupEnv(t)
	e.saveSettings(t, e.a)
	r := e.call(t, e.a, http.MethodGet, "/settings", nil)
	if r.status != http.StatusOK || strings.Contains(r.body, "test-org-api-key") || !strings.Contains(r.body, `"apiKeySet":true`) {
		t.Fatalf("settings: %d %s", r.status, r.body)
	}
	r = e.call(t, e.a, http.MethodPost, "/settings/test-connection", nil)
	if r.status != http.StatusOK || !strings.Contains(r.body, `"ok":true`) || !strings.Contains(r.body, `"apiKeyVerifiedAt"`) || strings.Contains(r.body, "test-org-api-key") {
		t.Fatalf("test connection: %d %s", r.status, r.body)
	}
	// The other tenant has its own (default) settings.
	r = e.call(t, e.b, http.MethodGet, "/settings", nil)
	if !strings.Contains(r.body, `"apiKeySet":false`) {
		t.Errorf("tenant b sees %s", r.body)
	}
	r = e.call(t, e.a, http.MethodGet, "/groups", nil)
	groups := decode[struct{ Groups []cleanup.GroupInfo }](t, r)
	synced := 0
	for _, g := range groups.Groups {
		if g.Synced {
			synced++
		}
	}
	if r.status != http.StatusOK || len(groups.Groups) == 0 || synced == 0 {
		t.Errorf("groups: %d, %d groups, %d synced", r.status, len(groups.Groups), synced)
	}
}

func TestCleanupAPIConcurrencyAndIsolation(t *testing.T) {
	e := newCleanupEnv(t)
	e.saveSettings(t, e.a)
	e.saveSettings(t, e.b)
	def := map[string]any{"name": "Inactive", "action": cleanup.ActionReview, "licensingGroupIds": []string{e.jswID(t)}, "manual": true}
	r := e.call(t, e.a, http.MethodPost, "/cleanups", def)
	if r.status != http.StatusCreated || r.header.Get("ETag") != `"1"` {
		t.Fatalf("create: %d %s etag %q", r.status, r.body, r.header.Get("ETag"))
	}
	c := decode[cleanup.Cleanup](t, r)
	path := fmt.Sprintf("/cleanups/%d", c.ID)

	def["name"] = "Renamed"
	if r := e.call(t, e.a, http.MethodPut, path, def, "If-Match", `"1"`); r.status != http.StatusOK || r.header.Get("ETag") != `"2"` {
		t.Fatalf("update with current version: %d %s", r.status, r.body)
	}
	if r := e.call(t, e.a, http.MethodPut, path, def, "If-Match", `"1"`); r.status != http.StatusConflict {
		t.Fatalf("update with stale version: %d %s, want 409", r.status, r.body)
	}
	r = e.call(t, e.a, http.MethodPut, path, def)
	if got := decode[cleanup.Cleanup](t, r); r.status != http.StatusOK || got.Version != 3 || got.UpdatedAt.IsZero() {
		t.Fatalf("last write wins: %d %s", r.status, r.body)
	}

	// Tenant b cannot see or touch tenant a's cleanup or runs.
	runR := e.call(t, e.a, http.MethodPost, path+"/run", map[string]bool{"dryRun": true})
	if runR.status != http.StatusAccepted {
		t.Fatalf("start run: %d %s", runR.status, runR.body)
	}
	runID := decode[struct{ RunID int64 }](t, runR).RunID
	for _, req := range []struct{ method, path string }{
		{http.MethodGet, path}, {http.MethodPut, path}, {http.MethodDelete, path}, {http.MethodPost, path + "/run"},
		{http.MethodGet, fmt.Sprintf("/runs/%d", runID)}, {http.MethodGet, fmt.Sprintf("/runs/%d/users", runID)},
		{http.MethodGet, "/cleanups/not-a-number"},
	} {
		var body any
		if req.method == http.MethodPut {
			body = def
		} else if req.method == http.MethodPost {
			body = map[string]bool{"dryRun": false}
		}
		if r := e.call(t, e.b, req.method, req.path, body); r.status != http.StatusNotFound {
			t.Errorf("tenant b %s %s = %d %s, want 404", req.method, req.path, r.status, r.body)
		}
	}
	if r := e.call(t, e.b, http.MethodGet, "/runs", nil); !strings.Contains(r.body, `"total":0`) {
		t.Errorf("tenant b lists runs %s", r.body)
	}

	// Deleting keeps the history.
	if r := e.call(t, e.a, http.MethodDelete, path, nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d", r.status)
	}
	if r := e.call(t, e.a, http.MethodGet, path, nil); r.status != http.StatusNotFound {
		t.Errorf("deleted cleanup: %d", r.status)
	}
	if r := e.call(t, e.a, http.MethodGet, fmt.Sprintf("/runs/%d", runID), nil); r.status != http.StatusOK {
		t.Errorf("run of a deleted cleanup: %d", r.status)
	}
}

// TestManualRunWhileDisabled: while the app is disabled on the site a
// manual run is refused with 409 and the reason; once enabled it starts.
func TestManualRunWhileDisabled(t *testing.T) {
	e := newCleanupEnv(t)
	e.saveSettings(t, e.a)
	def := map[string]any{"name": "Review", "action": cleanup.ActionReview, "licensingGroupIds": []string{e.jswID(t)},
		"manual": true, "daysInactive": 30}
	c := decode[cleanup.Cleanup](t, e.call(t, e.a, http.MethodPost, "/cleanups", def))
	if err := e.st.SetEnabled(context.Background(), e.a.ClientKey, false); err != nil {
		t.Fatal(err)
	}
	r := e.call(t, e.a, http.MethodPost, fmt.Sprintf("/cleanups/%d/run", c.ID), map[string]bool{"dryRun": true})
	if r.status != http.StatusConflict || decode[errBody](t, r).Error != cleanup.ReasonDisabled {
		t.Errorf("run while disabled: %d %s, want 409 %q", r.status, r.body, cleanup.ReasonDisabled)
	}
	if _, total, _ := e.cs.Runs(context.Background(), e.a.ClientKey, cleanup.Page{}); total != 0 {
		t.Errorf("%d runs created while disabled", total)
	}
	if err := e.st.SetEnabled(context.Background(), e.a.ClientKey, true); err != nil {
		t.Fatal(err)
	}
	if r := e.call(t, e.a, http.MethodPost, fmt.Sprintf("/cleanups/%d/run", c.ID), map[string]bool{"dryRun": true}); r.status != http.StatusAccepted {
		t.Errorf("run after enabled: %d %s", r.status, r.body)
	}
}

// TestOrgWideActionsNeedSystemAdmin: a product admin uses the app but may
// not deactivate accounts or change the organization or Entra credentials;
// the product's highest admin level may. /api/me tells the pages which.
func TestOrgWideActionsNeedSystemAdmin(t *testing.T) {
	e := newCleanupEnv(t)
	const productAdmin = "557058:product-admin-only"
	e.admins.grant(e.a.ClientKey, productAdmin)
	e.saveSettings(t, e.a) // as the system admin
	reason := "only a Jira administrator with the System administrator global permission can do that"

	me := func(account string) map[string]any {
		r := e.callAs(t, e.a, account, http.MethodGet, "/me", nil)
		if r.status != http.StatusOK {
			t.Fatalf("me as %s: %d %s", account, r.status, r.body)
		}
		return decode[map[string]any](t, r)["capabilities"].(map[string]any)
	}
	if c := me(e.admin); c["orgAdmin"] != true || c["orgAdminReason"] != nil {
		t.Errorf("system admin's capabilities: %v", c)
	}
	if c := me(productAdmin); c["orgAdmin"] != false || !strings.Contains(fmt.Sprint(c["orgAdminReason"]), reason) {
		t.Errorf("product admin's capabilities: %v", c)
	}

	refused := func(what string, r response) {
		t.Helper()
		if r.status != http.StatusForbidden || !strings.Contains(decode[errBody](t, r).Error, reason) {
			t.Errorf("%s as a product admin: %d %s, want 403 saying who may", what, r.status, r.body)
		}
	}
	type m = map[string]any
	for name, patch := range map[string]m{
		"set the API key":      {"organization": m{"apiKey": "another-org-api-key"}},
		"remove the API key":   {"organization": m{"apiKey": ""}},
		"change the org id":    {"organization": m{"orgId": "another-org"}},
		"set the Entra secret": {"identityProvider": m{"entraClientSecret": "another-secret"}},
		"connect Entra":        {"identityProvider": m{"entra": m{"tenantId": "0f7c2b1e-3a4d-4e5f-8a9b-0c1d2e3f4a5b", "clientId": "1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d"}}},
	} {
		refused(name, e.callAs(t, e.a, productAdmin, http.MethodPatch, "/settings", patch))
	}
	// Testing credentials needs the same level as changing them.
	refused("test a typed API key", e.callAs(t, e.a, productAdmin, http.MethodPost, "/settings/test-connection", m{"apiKey": "guess"}))
	refused("test the stored API key", e.callAs(t, e.a, productAdmin, http.MethodPost, "/settings/test-connection", nil))
	refused("test Microsoft Entra ID", e.callAs(t, e.a, productAdmin, http.MethodPost, "/settings/test-entra", nil))
	if r := e.callAs(t, e.a, productAdmin, http.MethodPatch, "/settings", m{"organization": m{"companyDomains": []string{"example.com"}}}); r.status != http.StatusOK {
		t.Errorf("other settings as a product admin: %d %s", r.status, r.body)
	}
	if cr, _ := e.cs.Credentials(context.Background(), e.a.ClientKey); cr.APIKey.Reveal() != "test-org-api-key" {
		t.Errorf("the org API key changed: %v", cr)
	}

	def := func(action string) map[string]any {
		return map[string]any{"name": "Cleanup " + action, "action": action, "licensingGroupIds": []string{e.jswID(t)}, "manual": true, "daysInactive": 30}
	}
	refused("create a deactivating cleanup", e.callAs(t, e.a, productAdmin, http.MethodPost, "/cleanups", def(cleanup.ActionDeactivate)))
	review := e.callAs(t, e.a, productAdmin, http.MethodPost, "/cleanups", def(cleanup.ActionReview))
	if review.status != http.StatusCreated {
		t.Fatalf("create a review cleanup as a product admin: %d %s", review.status, review.body)
	}
	deact := e.call(t, e.a, http.MethodPost, "/cleanups", def(cleanup.ActionDeactivate))
	if deact.status != http.StatusCreated {
		t.Fatalf("create a deactivating cleanup as the system admin: %d %s", deact.status, deact.body)
	}
	d := decode[cleanup.Cleanup](t, deact)
	path := fmt.Sprintf("/cleanups/%d", d.ID)
	refused("change a deactivating cleanup", e.callAs(t, e.a, productAdmin, http.MethodPut, path, def(cleanup.ActionDeactivate)))
	refused("turn a review cleanup into a deactivating one", e.callAs(t, e.a, productAdmin, http.MethodPut,
		fmt.Sprintf("/cleanups/%d", decode[cleanup.Cleanup](t, review).ID), def(cleanup.ActionDeactivate)))
	for _, dry := range []bool{true, false} {
		refused(fmt.Sprintf("run a deactivating cleanup (dry run %v)", dry), e.callAs(t, e.a, productAdmin, http.MethodPost, path+"/run", map[string]bool{"dryRun": dry}))
	}
	if r := e.callAs(t, e.a, productAdmin, http.MethodPost, fmt.Sprintf("/cleanups/%d/run", decode[cleanup.Cleanup](t, review).ID), map[string]bool{"dryRun": true}); r.status != http.StatusAccepted {
		t.Errorf("run a review cleanup as a product admin: %d %s", r.status, r.body)
	}
	if r := e.call(t, e.a, http.MethodPost, path+"/run", map[string]bool{"dryRun": true}); r.status != http.StatusAccepted {
		t.Errorf("run a deactivating cleanup as the system admin: %d %s", r.status, r.body)
	}
	// The answers are cached as briefly as the admin check: the product
	// was asked once per account.
	e.admins.mu.Lock()
	calls := e.admins.sysCalls
	e.admins.mu.Unlock()
	if calls != 2 {
		t.Errorf("the product was asked %d times about the highest admin level, want 2 (one per account)", calls)
	}
}

func TestRunsAPIPaging(t *testing.T) {
	e := newCleanupEnv(t)
	e.saveSettings(t, e.a)
	def := map[string]any{"name": "Review", "action": cleanup.ActionReview, "licensingGroupIds": []string{e.jswID(t)},
		"manual": true, "daysInactive": 30}
	c := decode[cleanup.Cleanup](t, e.call(t, e.a, http.MethodPost, "/cleanups", def))
	var ids []int64
	for range 3 {
		r := e.call(t, e.a, http.MethodPost, fmt.Sprintf("/cleanups/%d/run", c.ID), map[string]bool{"dryRun": false})
		ids = append(ids, decode[struct{ RunID int64 }](t, r).RunID)
	}
	if r := e.call(t, e.a, http.MethodPost, fmt.Sprintf("/cleanups/%d/run", c.ID), `{}`); r.status != http.StatusBadRequest {
		t.Errorf("run without dryRun: %d", r.status)
	}
	type runsPage struct {
		Items []struct{ ID int64 }
		Page  int
		Total int
	}
	p1 := decode[runsPage](t, e.call(t, e.a, http.MethodGet, "/runs?perPage=2", nil))
	p2 := decode[runsPage](t, e.call(t, e.a, http.MethodGet, "/runs?perPage=2&page=2", nil))
	got := []int64{}
	for _, it := range append(p1.Items, p2.Items...) {
		got = append(got, it.ID)
	}
	if want := []int64{ids[2], ids[1], ids[0]}; !cmp.Equal(got, want) || p1.Total != 3 || len(p1.Items) != 2 {
		t.Errorf("runs newest first = %v (total %d), want %v", got, p1.Total, want)
	}
	if r := e.call(t, e.a, http.MethodGet, "/runs?perPage=0", nil); r.status != http.StatusBadRequest ||
		!cmp.Equal(fieldNames(decode[errBody](t, r).Fields), []string{"perPage"}) {
		t.Errorf("perPage=0: %d %s", r.status, r.body)
	}

	// Execute one run in process and page through its rows.
	en, err := cleanup.NewEngine(cleanup.EngineConfig{Store: e.cs, Connector: e.conn})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		res, err := en.Step(context.Background(), "tenant-a", ids[0], fmt.Sprintf("t-%d", i))
		if err != nil || i > 100 {
			t.Fatalf("step: %v", err)
		}
		if res.Done {
			break
		}
	}
	run := decode[struct {
		Status   string
		Counts   cleanup.RunCounts
		Progress struct{ Percent, Total, Evaluated int }
	}](t, e.call(t, e.a, http.MethodGet, fmt.Sprintf("/runs/%d", ids[0]), nil))
	if run.Status != cleanup.RunSucceeded || run.Counts.Reviewed < 3 || run.Progress.Percent != 100 ||
		run.Progress.Total != run.Counts.Evaluated || run.Progress.Evaluated != run.Counts.Evaluated {
		t.Fatalf("run: %+v", run)
	}
	type rowsPage struct {
		Items []struct {
			ID      int64
			Outcome string
		}
		Total int
	}
	seen := map[int64]bool{}
	for page := 1; ; page++ {
		p := decode[rowsPage](t, e.call(t, e.a, http.MethodGet, fmt.Sprintf("/runs/%d/users?outcome=review&perPage=2&page=%d", ids[0], page), nil))
		if p.Total != run.Counts.Reviewed {
			t.Fatalf("total %d, want %d", p.Total, run.Counts.Reviewed)
		}
		for _, it := range p.Items {
			if seen[it.ID] || it.Outcome != cleanup.OutcomeReview {
				t.Errorf("row %d (%s) twice or wrong outcome", it.ID, it.Outcome)
			}
			seen[it.ID] = true
		}
		if len(p.Items) == 0 {
			break
		}
	}
	if len(seen) != run.Counts.Reviewed {
		t.Errorf("paged %d rows, want %d", len(seen), run.Counts.Reviewed)
	}
	if r := e.call(t, e.a, http.MethodGet, fmt.Sprintf("/runs/%d/users?outcome=bogus", ids[0]), nil); r.status != http.StatusBadRequest {
		t.Errorf("bad outcome filter: %d", r.status)
	}
	if p := decode[rowsPage](t, e.call(t, e.a, http.MethodGet, fmt.Sprintf("/runs/%d/users?outcome=done", ids[0]), nil)); p.Total != 0 {
		t.Errorf("a review run has %d done rows", p.Total)
	}
}
