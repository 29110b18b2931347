package main

import (
	"context"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/connect/connecttest"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
)

// TestTwoInstancesSeeTenantChanges runs two instances of the program on
// one PostgreSQL database. Each serves verified tenants from memory; a
// re-install or an uninstall received by one instance must be refused by
// the other within a second: a real page request signed with the old
// shared secret.
func TestTwoInstancesSeeTenantChanges(t *testing.T) {
	base := os.Getenv("TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("TEST_POSTGRES_URL not set")
	}
	dbURL := postgresSchemaURL(t, base)
	cloud := atlassiantest.New(atlassiantest.Options{Users: 20})
	t.Cleanup(cloud.Close)
	ks, err := connecttest.NewKeyServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ks.Close)
	start := func(name string) string {
		addr := freeAddr(t)
		env := map[string]string{
			"ADDR": addr, "BASE_URL": "http://" + addr,
			"DATABASE_URL":              dbURL,
			"ENCRYPTION_KEY":            testKeyB64(),
			"CONNECT_INSTALL_KEYS_URLS": ks.URL,
			"CONNECT_ALLOWED_HOSTS":     "127.0.0.1",
			"LOG_LEVEL":                 "warn",
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- serveWith(ctx, envFunc(env), &syncBuffer{}, serveOptions{transport: ks.Client().Transport})
		}()
		t.Cleanup(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				t.Errorf("instance %s did not stop", name)
			}
		})
		waitHealthy(t, "http://"+addr+"/healthz", done)
		return "http://" + addr
	}
	baseA, baseB := start("A"), start("B")

	var admin string
	for _, u := range cloud.Users() {
		if len(u.Roles) > 0 {
			admin = u.AccountID
			break
		}
	}
	site := cloud.Site(connect.Jira)
	appA := connect.DescriptorParams{Product: connect.Jira, BaseURL: baseA, AppKey: defaultAppKey}.App()
	appB := connect.DescriptorParams{Product: connect.Jira, BaseURL: baseB, AppKey: defaultAppKey}.App()
	const clientKey = "two-instances"
	ctx := context.Background()
	lifecycle := func(t *testing.T, install bool, secret string) *connect.Tenant {
		t.Helper()
		tenant := site.Install(appA.Key, clientKey, secret)
		p := connecttest.InstallPayload{Key: appA.Key, ClientKey: clientKey, SharedSecret: secret,
			BaseURL: site.BaseURL(), ProductType: string(connect.Jira)}
		do := ks.Install
		if !install {
			do = ks.Uninstall
		}
		if err := do(ctx, nil, appA.BaseURL, p); err != nil {
			t.Fatalf("lifecycle callback to instance A: %v", err)
		}
		return tenant
	}
	// pageOnB loads the settings page from instance B with a fresh token
	// signed with the tenant's secret.
	pageOnB := func(t *testing.T, tenant *connect.Tenant) int {
		t.Helper()
		u := appB.BaseURL + "/admin/settings?cp=&lic=none&xdm_e=" + site.BaseURL()
		tok, err := connecttest.PageToken(tenant, appB, http.MethodGet, u, admin, time.Now(), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(connecttest.WithJWT(u, tok))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	// refusedWithin polls B until it refuses tenant's tokens.
	refusedWithin := func(t *testing.T, what string, tenant *connect.Tenant, limit time.Duration) {
		t.Helper()
		start := time.Now()
		for {
			code := pageOnB(t, tenant)
			if code == http.StatusUnauthorized {
				t.Logf("%s: instance B refused the old secret after %s", what, time.Since(start).Round(time.Millisecond))
				return
			}
			if code != http.StatusOK {
				t.Fatalf("%s: instance B answered %d, want 200 or 401", what, code)
			}
			if time.Since(start) > limit {
				t.Fatalf("%s on instance A: instance B still accepts the old secret after %s", what, limit)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	first := lifecycle(t, true, "first-shared-secret-0123456789")
	for range 3 { // B now serves the tenant from memory
		if code := pageOnB(t, first); code != http.StatusOK {
			t.Fatalf("page on B after the install on A = %d, want 200", code)
		}
	}
	second := lifecycle(t, true, "second-shared-secret-0123456789")
	refusedWithin(t, "re-install", first, time.Second)
	if code := pageOnB(t, second); code != http.StatusOK {
		t.Fatalf("page on B with the new secret = %d, want 200", code)
	}
	lifecycle(t, false, "second-shared-secret-0123456789")
	refusedWithin(t, "uninstall", second, time.Second)
}
