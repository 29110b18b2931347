package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/connect/connecttest"
	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/idpexport"
)

// isolation is tenant A's data, which no other installation may see or
// change through any route.
type isolation struct {
	*cleanupEnv
	c         *connect.Tenant // a second Jira installation (b is Confluence)
	cleanupID int64
	runID     int64
	fileID    int64    // one of A's export files
	snapID    int64    // A's snapshot
	marked    string   // an account A's review run marked
	markers   []string // strings only A's data contains
}

// isolationProbe exercises one route as the intruder (another
// installation, of the route's product; prefix is "/jira" or
// "/confluence") against tenant A's data.
type isolationProbe func(t *testing.T, x *isolation, intruder *connect.Tenant, prefix string)

// TestTenantIsolationEveryRoute walks the server's own route table
// (Server.Routes, i.e. echo.Routes) and exercises every route as another
// tenant against tenant A's settings, cleanup, run and export files: no
// response carries A's data, and A's data is unchanged afterwards. A route
// the test has no probe for fails it, so a new route is covered the day
// it is added.
func TestTenantIsolationEveryRoute(t *testing.T) {
	x := newIsolation(t)
	probes := isolationProbes()
	used := map[string]bool{}
	for _, r := range x.srv.Routes() {
		key, prefix := routeKey(r.Method, r.Path)
		probe, ok := probes[key]
		if !ok {
			t.Errorf("route %s %s: the tenant-isolation test does not know how to exercise it; "+
				"add a probe for %q to isolationProbes (isolation_test.go)", r.Method, r.Path, key)
			continue
		}
		used[key] = true
		intruder := x.c
		if prefix == "/confluence" {
			intruder = x.b
		}
		t.Run(r.Method+" "+r.Path, func(t *testing.T) { probe(t, x, intruder, prefix) })
	}
	for key := range probes {
		if !used[key] {
			t.Errorf("isolationProbes has a probe for %q, which is not a route of the server", key)
		}
	}
	x.checkAUnchanged(t)
}

// routeKey is the route with its product segment replaced by {product},
// and that segment ("" for routes outside the apps).
func routeKey(method, path string) (key, prefix string) {
	for _, p := range []string{"/jira", "/confluence"} {
		if rest, ok := strings.CutPrefix(path, p+"/"); ok {
			return method + " /{product}/" + rest, p
		}
	}
	return method + " " + path, ""
}

// isolationProbes is how each route is exercised, by route key.
func isolationProbes() map[string]isolationProbe {
	runPath := func(suffix string) isolationProbe {
		return foreignID(http.MethodGet, func(x *isolation) string { return "/runs/" + strconv.FormatInt(x.runID, 10) + suffix })
	}
	cleanupPath := func(method, suffix string) isolationProbe {
		return foreignID(method, func(x *isolation) string {
			return "/cleanups/" + strconv.FormatInt(x.cleanupID, 10) + suffix
		})
	}
	return map[string]isolationProbe{
		// Public: nothing of a tenant.
		"GET /healthz":                          public("/healthz"),
		"GET /readyz":                           public("/readyz"),
		"GET /static/*":                         public("/static/app.css"),
		"GET /{product}/atlassian-connect.json": publicApp("/atlassian-connect.json"),
		"GET /{product}/downloads/:fileId":      foreignDownload,
		"POST /{product}/installed":             foreignLifecycle("installed"),
		"POST /{product}/uninstalled":           foreignLifecycle("uninstalled"),
		"POST /{product}/enabled":               foreignLifecycle("enabled"),
		"POST /{product}/disabled":              foreignLifecycle("disabled"),
		"GET /{product}/admin/settings":         ownPage("/admin/settings"),
		"GET /{product}/admin/cleanup":          ownPage("/admin/cleanup"),
		"GET /{product}/admin/dashboard":        ownPage("/admin/dashboard"),
		"GET /{product}/admin/users":            ownPage("/admin/users"),
		"GET /{product}/api/dashboard":          ownData(http.MethodGet, "/dashboard", nil),
		"POST /{product}/api/snapshots":         ownData(http.MethodPost, "/snapshots", nil),
		"GET /{product}/api/snapshots/:id":      foreignID(http.MethodGet, func(x *isolation) string { return "/snapshots/" + strconv.FormatInt(x.snapID, 10) }),
		"GET /{product}/api/users":              ownData(http.MethodGet, "/users?perPage=200", nil),
		// The review list's decisions name accounts: A's marks are not the
		// intruder's (400: not marked for review).
		"POST /{product}/api/reviews/approve": foreignReview("/reviews/approve"),
		"POST /{product}/api/reviews/dismiss": foreignReview("/reviews/dismiss"),
		// A bulk action names accounts, not A's data: the intruder's run
		// is its own (or refused: not configured).
		"POST /{product}/api/users/actions":            ownData(http.MethodPost, "/users/actions", map[string]any{"action": cleanup.ActionRemoveProductAccess, "accountIds": []string{"557058:intruder"}, "dryRun": true}),
		"GET /{product}/dialogs/export-data":           ownPage("/dialogs/export-data"),
		"GET /{product}/api/me":                        ownData(http.MethodGet, "/me", nil),
		"GET /{product}/api/labels":                    ownData(http.MethodGet, "/labels", nil),
		"GET /{product}/api/settings":                  ownData(http.MethodGet, "/settings", nil),
		"PATCH /{product}/api/settings":                ownData(http.MethodPatch, "/settings", map[string]any{"exceptions": map[string]any{"accountIds": []string{"557058:intruder"}}}),
		"POST /{product}/api/settings/test-connection": ownData(http.MethodPost, "/settings/test-connection", nil),
		"POST /{product}/api/settings/test-entra":      ownData(http.MethodPost, "/settings/test-entra", nil),
		"GET /{product}/api/groups":                    ownData(http.MethodGet, "/groups", nil),
		"GET /{product}/api/entra/mapping":             ownData(http.MethodGet, "/entra/mapping", nil),
		"GET /{product}/api/cleanups":                  ownData(http.MethodGet, "/cleanups", nil),
		"POST /{product}/api/cleanups":                 ownData(http.MethodPost, "/cleanups", intruderCleanup()),
		"GET /{product}/api/cleanups/:id":              cleanupPath(http.MethodGet, ""),
		"PUT /{product}/api/cleanups/:id":              cleanupPath(http.MethodPut, ""),
		"DELETE /{product}/api/cleanups/:id":           cleanupPath(http.MethodDelete, ""),
		"POST /{product}/api/cleanups/:id/run":         cleanupPath(http.MethodPost, "/run"),
		"GET /{product}/api/runs":                      ownData(http.MethodGet, "/runs", nil),
		"GET /{product}/api/runs/:id":                  runPath(""),
		"GET /{product}/api/runs/:id/users":            runPath("/users"),
		"GET /{product}/api/runs/:id/follow-up/users":  runPath("/follow-up/users"),
		"GET /{product}/api/runs/:id/exports":          runPath("/exports"),
		"POST /{product}/api/runs/:id/restore": foreignID(http.MethodPost, func(x *isolation) string {
			return "/runs/" + strconv.FormatInt(x.runID, 10) + "/restore"
		}),
		// The warning e-mail renders with the caller's own site and name.
		"POST /{product}/api/warnings/preview": ownData(http.MethodPost, "/warnings/preview", map[string]any{"warning": map[string]any{"days": 7}}),
		"POST /{product}/api/warnings/test":    ownData(http.MethodPost, "/warnings/test", map[string]any{"warning": map[string]any{"days": 7}}),
	}
}

func newIsolation(t *testing.T) *isolation {
	t.Helper()
	ctx := context.Background()
	x := &isolation{cleanupEnv: newCleanupEnv(t)}
	// C is a second Jira installation; the fake site does not know its
	// secret, so whatever C asks of the product fails, as it should.
	x.c = &connect.Tenant{ClientKey: "tenant-c", SharedSecret: "secret-of-tenant-c-0123456789",
		ProductType: connect.Jira, BaseURL: x.a.BaseURL, AppKey: x.a.AppKey, Enabled: true}
	if err := x.st.SaveTenant(ctx, x.c); err != nil {
		t.Fatal(err)
	}
	for _, tn := range []*connect.Tenant{x.b, x.c} {
		x.admins.grantSystem(tn.ClientKey, x.admin)
	}

	// A: settings with the organization, a cleanup, a finished dry run
	// with its export files.
	x.saveSettings(t, x.a)
	name := "Tenant A only: inactive reviewers"
	def := map[string]any{"name": name, "action": cleanup.ActionReview, "licensingGroupIds": []string{x.jswID(t)}, "manual": true, "daysInactive": 30}
	r := x.call(t, x.a, http.MethodPost, "/cleanups", def)
	if r.status != http.StatusCreated {
		t.Fatalf("A creates a cleanup: %d %s", r.status, r.body)
	}
	x.cleanupID = decode[cleanup.Cleanup](t, r).ID
	r = x.call(t, x.a, http.MethodPost, fmt.Sprintf("/cleanups/%d/run", x.cleanupID), map[string]bool{"dryRun": true})
	if r.status != http.StatusAccepted {
		t.Fatalf("A starts a run: %d %s", r.status, r.body)
	}
	x.runID = decode[struct{ RunID int64 }](t, r).RunID
	x.finish(t, x.runID)

	exports := decode[runExports](t, x.call(t, x.a, http.MethodGet, fmt.Sprintf("/runs/%d/exports", x.runID), nil))
	if len(exports.Audit) == 0 {
		t.Fatalf("A's run has no export files: %+v", exports)
	}
	x.fileID = exports.Audit[0].ID
	users := decode[struct {
		Items []struct{ Email, AccountID string }
	}](t, x.call(t, x.a, http.MethodGet, fmt.Sprintf("/runs/%d/users", x.runID), nil))
	// A real run of the review cleanup marks A's users for review.
	r = x.call(t, x.a, http.MethodPost, fmt.Sprintf("/cleanups/%d/run", x.cleanupID), map[string]bool{"dryRun": false})
	if r.status != http.StatusAccepted {
		t.Fatalf("A starts a review run: %d %s", r.status, r.body)
	}
	x.finish(t, decode[struct{ RunID int64 }](t, r).RunID)
	x.snapID = x.takeSnapshot(t, x.a)
	x.markers = []string{x.a.ClientKey, name, x.cloud.OrgID()}
	for _, u := range users.Items {
		if u.AccountID != x.admin { // the admin acts for every tenant
			x.markers = append(x.markers, u.AccountID)
			break
		}
	}
	if len(x.markers) < 4 {
		t.Fatal("A's run affected nobody; the probes would prove little")
	}
	review := decode[struct {
		Items []struct{ AccountID string }
	}](t, x.call(t, x.a, http.MethodGet, "/users?review=true", nil))
	if len(review.Items) == 0 {
		t.Fatal("A's review run marked nobody")
	}
	x.marked = review.Items[0].AccountID
	x.markers = append(x.markers, x.marked)
	return x
}

// finish drives A's run to the end in process (the env has no job
// runtime), exports included.
func (x *isolation) finish(t *testing.T, runID int64) {
	t.Helper()
	en, err := cleanup.NewEngine(cleanup.EngineConfig{Store: x.cs, Connector: x.conn, Exporter: idpexport.NewExporter(x.st, idpexport.ExporterConfig{})})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		res, err := en.Step(context.Background(), x.a.ClientKey, runID, fmt.Sprintf("isolation/step-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if res.Done {
			return
		}
	}
	t.Fatal("A's run did not finish")
}

// noMarkers fails when a response shows any of A's data.
func (x *isolation) noMarkers(t *testing.T, what string, r response) {
	t.Helper()
	for _, m := range x.markers {
		if strings.Contains(r.body, m) {
			t.Errorf("%s shows tenant A's %q: %d %s", what, m, r.status, r.body)
		}
	}
}

// checkAUnchanged fails when A's installation, settings or cleanup changed.
func (x *isolation) checkAUnchanged(t *testing.T) {
	t.Helper()
	got, err := x.st.GetTenant(context.Background(), x.a.ClientKey)
	if err != nil || !got.Installed() || !got.Enabled || got.SharedSecret.Reveal() != x.a.SharedSecret.Reveal() {
		t.Errorf("A's installation changed: %+v, %v", got, err)
	}
	if r := x.call(t, x.a, http.MethodGet, "/settings", nil); !strings.Contains(r.body, x.cloud.OrgID()) {
		t.Errorf("A's settings changed: %s", r.body)
	}
	r := x.call(t, x.a, http.MethodGet, fmt.Sprintf("/cleanups/%d", x.cleanupID), nil)
	if c := decode[cleanup.Cleanup](t, r); r.status != http.StatusOK || c.Version != 1 {
		t.Errorf("A's cleanup changed: %d %s", r.status, r.body)
	}
	if r := x.call(t, x.a, http.MethodGet, "/runs", nil); !strings.Contains(r.body, `"total":2`) {
		t.Errorf("A's runs changed: %s", r.body)
	}
	// A's snapshot is still the latest and lists the marked users.
	d := decode[cleanup.Dashboard](t, x.call(t, x.a, http.MethodGet, "/dashboard", nil))
	if d.Latest == nil || d.Latest.ID != x.snapID || d.Current != nil {
		t.Errorf("A's dashboard changed: latest %+v current %+v", d.Latest, d.Current)
	}
	if r := x.call(t, x.a, http.MethodGet, "/users?perPage=200", nil); !strings.Contains(r.body, x.markers[3]) {
		t.Errorf("A's users screen lost %s: %s", x.markers[3], r.body)
	}
}

// callIntruder sends an API request as the tenant's admin to the prefix's API.
func (x *isolation) callIntruder(t *testing.T, tn *connect.Tenant, prefix, method, path string, body any) response {
	t.Helper()
	if string(tn.ProductType) != strings.TrimPrefix(prefix, "/") {
		t.Fatalf("%s is not a %s tenant", tn.ClientKey, prefix)
	}
	return x.call(t, tn, method, path, body)
}

func public(path string) isolationProbe {
	return func(t *testing.T, x *isolation, _ *connect.Tenant, _ string) {
		r := get(t, x.url+path)
		if r.status != http.StatusOK {
			t.Errorf("GET %s = %d", path, r.status)
		}
		x.noMarkers(t, path, r)
	}
}

func publicApp(path string) isolationProbe {
	return func(t *testing.T, x *isolation, _ *connect.Tenant, prefix string) { public(prefix+path)(t, x, nil, "") }
}

// ownData: the intruder's own view (or change) of a tenant-wide resource
// shows nothing of A's; A's data is checked unchanged at the end.
func ownData(method, path string, body any) isolationProbe {
	return func(t *testing.T, x *isolation, in *connect.Tenant, prefix string) {
		r := x.callIntruder(t, in, prefix, method, path, body)
		if r.status >= 500 {
			t.Errorf("%s %s as %s = %d %s", method, path, in.ClientKey, r.status, r.body)
		}
		x.noMarkers(t, method+" "+path, r)
	}
}

// foreignID: A's cleanup or run, addressed by id by the intruder, is the
// plain 404 (and the same request as A succeeds, so the 404 is about the
// tenant, not the path).
func foreignID(method string, path func(*isolation) string) isolationProbe {
	return func(t *testing.T, x *isolation, in *connect.Tenant, prefix string) {
		p := path(x)
		var body any
		switch method {
		case http.MethodPut:
			body = intruderCleanup()
		case http.MethodPost:
			body = map[string]bool{"dryRun": true}
		}
		r := x.callIntruder(t, in, prefix, method, p, body)
		if r.status != http.StatusNotFound {
			t.Errorf("%s %s as %s = %d %s, want 404", method, p, in.ClientKey, r.status, r.body)
		}
		x.noMarkers(t, method+" "+p, r)
		if method == http.MethodGet {
			if own := x.call(t, x.a, method, p, nil); own.status != http.StatusOK {
				t.Errorf("%s %s as A = %d %s: the probe proves nothing", method, p, own.status, own.body)
			}
		}
	}
}

// foreignReview: A's review marks (its run marked users for review),
// decided by the intruder, are refused as not marked, and A's marks stay
// open.
func foreignReview(path string) isolationProbe {
	return func(t *testing.T, x *isolation, in *connect.Tenant, prefix string) {
		r := x.callIntruder(t, in, prefix, http.MethodPost, path, map[string]any{"accountIds": []string{x.marked}, "dryRun": false})
		if r.status != http.StatusBadRequest {
			t.Errorf("POST %s as %s = %d %s, want 400", path, in.ClientKey, r.status, r.body)
		}
		x.noMarkers(t, "POST "+path, r)
		own := x.call(t, x.a, http.MethodGet, "/users?review=true&perPage=200", nil)
		if !strings.Contains(own.body, x.marked) {
			t.Errorf("A's review mark of %s is gone: %.300s", x.marked, own.body)
		}
	}
}

// foreignDownload: a link to A's file signed for the intruder is the plain
// 404 (TestExportsTenantIsolation forges many more links).
func foreignDownload(t *testing.T, x *isolation, in *connect.Tenant, prefix string) {
	exp := time.Now().Add(2 * time.Minute).Unix()
	p := connect.Product(strings.TrimPrefix(prefix, "/"))
	if r := get(t, signLink(x.dlKey, x.url, p, in.ClientKey, x.fileID, exp, x.admin)); r.status != http.StatusNotFound {
		t.Errorf("A's file through a link signed for %s: %d, want 404", in.ClientKey, r.status)
	}
	if p == connect.Jira {
		if r := get(t, signLink(x.dlKey, x.url, p, x.a.ClientKey, x.fileID, exp, x.admin)); r.status != http.StatusOK {
			t.Errorf("A's own link: %d: the probe proves nothing", r.status)
		}
	}
}

// foreignLifecycle: a lifecycle callback about A's installation, signed
// with the intruder's shared secret, is refused and changes nothing.
func foreignLifecycle(event string) isolationProbe {
	return func(t *testing.T, x *isolation, in *connect.Tenant, prefix string) {
		app := x.apps[connect.Product(strings.TrimPrefix(prefix, "/"))]
		u := app.BaseURL + "/" + event
		tok, err := connecttest.PageToken(in, app, http.MethodPost, u, "", time.Now(), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		body := `{"key":"` + app.Key + `","clientKey":"` + x.a.ClientKey + `","sharedSecret":"taken-over-0123456789abcdef",` +
			`"baseUrl":"` + x.a.BaseURL + `","productType":"` + string(app.Product) + `","eventType":"` + event + `"}`
		r := do(t, http.MethodPost, u, http.Header{"Authorization": {"JWT " + tok}, "Content-Type": {"application/json"}}, strings.NewReader(body))
		if r.status < 400 || r.status >= 500 {
			t.Errorf("POST %s about A signed by %s = %d %s, want a refusal", event, in.ClientKey, r.status, r.body)
		}
		// With A's iss (the intruder cannot sign it) nothing changes either.
		claims := jwt.MapClaims{"iss": x.a.ClientKey, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix(), "qsh": "x"}
		forged, err := connecttest.SignHS256(in, claims)
		if err != nil {
			t.Fatal(err)
		}
		r = do(t, http.MethodPost, u, http.Header{"Authorization": {"JWT " + forged}, "Content-Type": {"application/json"}}, strings.NewReader(body))
		if r.status < 400 || r.status >= 500 {
			t.Errorf("POST %s about A with a forged iss = %d %s, want a refusal", event, r.status, r.body)
		}
		x.checkAUnchanged(t)
	}
}

// ownPage: the intruder's admin page renders, with nothing of A's.
func ownPage(path string) isolationProbe {
	return func(t *testing.T, x *isolation, in *connect.Tenant, prefix string) {
		app := x.apps[connect.Product(strings.TrimPrefix(prefix, "/"))]
		u := app.BaseURL + path + "?xdm_e=" + in.BaseURL
		tok, err := connecttest.PageToken(in, app, http.MethodGet, u, x.admin, time.Now(), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		r := get(t, connecttest.WithJWT(u, tok))
		if r.status != http.StatusOK {
			t.Errorf("GET %s as %s = %d", path, in.ClientKey, r.status)
		}
		x.noMarkers(t, path, r)
	}
}

// intruderCleanup is a cleanup definition the intruders write.
func intruderCleanup() map[string]any {
	return map[string]any{"name": "Intruder's cleanup", "action": cleanup.ActionReview, "manual": true, "daysInactive": 30}
}
