package connecttest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/connect/connecttest"
)

// lifecycleApp serves the four lifecycle callbacks and one page with the
// connect package, the way an HTTP layer would.
func lifecycleApp(t *testing.T, ks *connecttest.KeyServer, store *connecttest.MemoryStore) (*httptest.Server, connect.App) {
	t.Helper()
	var app connect.App
	lc := &connect.Lifecycle{
		Store:        store,
		Keys:         connect.NewInstallKeyFetcher([]string{ks.URL}, ks.Client()),
		AllowedHosts: []string{"*.atlassian.net"},
	}
	mux := http.NewServeMux()
	status := func(w http.ResponseWriter, err error) {
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
	mux.HandleFunc("POST /jira/installed", func(w http.ResponseWriter, r *http.Request) {
		_, err := lc.Installed(r, app)
		status(w, err)
	})
	mux.HandleFunc("POST /jira/uninstalled", func(w http.ResponseWriter, r *http.Request) { status(w, lc.Uninstalled(r, app)) })
	mux.HandleFunc("POST /jira/enabled", func(w http.ResponseWriter, r *http.Request) { status(w, lc.Enabled(r, app)) })
	mux.HandleFunc("POST /jira/disabled", func(w http.ResponseWriter, r *http.Request) { status(w, lc.Disabled(r, app)) })
	v := &connect.Verifier{Store: store}
	mux.HandleFunc("GET /jira/admin/settings", func(w http.ResponseWriter, r *http.Request) {
		a, err := v.Verify(r, app, connect.QSHComputed)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(a.AccountID))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	app = connect.App{Key: "com.example.test.jira", BaseURL: srv.URL + "/jira", Product: connect.Jira}
	return srv, app
}

func TestInstallPageUninstall(t *testing.T) {
	ks, err := connecttest.NewKeyServer()
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	store := connecttest.NewMemoryStore()
	srv, app := lifecycleApp(t, ks, store)
	ctx := context.Background()
	p := connecttest.InstallPayload{
		Key: app.Key, ClientKey: "client-1", SharedSecret: strings.Repeat("s", 40),
		BaseURL: "https://acme.atlassian.net", ProductType: "jira",
		Extra: map[string]any{"futureField": "kept"},
	}
	if err := ks.Install(ctx, srv.Client(), app.BaseURL, p); err != nil {
		t.Fatalf("install: %v", err)
	}
	tn, err := store.GetTenant(ctx, "client-1")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tn.SharedSecret.Reveal(), p.SharedSecret; got != want {
		t.Errorf("secret = %q, want %q", got, want)
	}
	if !strings.Contains(string(tn.Payload), `"futureField":"kept"`) {
		t.Errorf("payload lost unknown field: %s", tn.Payload)
	}

	pageURL := app.BaseURL + "/admin/settings?cp=&lic=none&xdm_e=https%3A%2F%2Facme.atlassian.net"
	tok, err := connecttest.PageToken(tn, app, http.MethodGet, pageURL, "acc-1", time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	get := func() (int, string) {
		resp, err := srv.Client().Get(connecttest.WithJWT(pageURL, tok))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	if code, body := get(); code != http.StatusOK || body != "acc-1" {
		t.Fatalf("page: %d %q", code, body)
	}

	if err := ks.Uninstall(ctx, srv.Client(), app.BaseURL, p); err != nil {
		t.Fatalf("uninstall: %v", err)
	}
	if code, _ := get(); code != http.StatusUnauthorized {
		t.Fatalf("page after uninstall: %d", code)
	}
	if got := len(store.Tenants()); got != 1 {
		t.Fatalf("tenants = %d", got)
	}
}

func TestMemoryStoreUninstalledWins(t *testing.T) {
	ctx := context.Background()
	s := connecttest.NewMemoryStore()
	if err := s.SaveTenant(ctx, &connect.Tenant{ClientKey: "c", SharedSecret: "x", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { _ = s.SetEnabled(ctx, "c", false) })
	}
	wg.Go(func() { _ = s.MarkUninstalled(ctx, "c", time.Unix(100, 0)) })
	wg.Wait()
	if err := s.SetEnabled(ctx, "c", true); !errors.Is(err, connect.ErrTenantUninstalled) {
		t.Fatalf("SetEnabled after uninstall: %v", err)
	}
	got, err := s.GetTenant(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(time.Unix(100, 0), got.UninstalledAt); diff != "" {
		t.Errorf("UninstalledAt (-want +got):\n%s", diff)
	}
	if got.Enabled {
		t.Errorf("uninstalled tenant still enabled")
	}
}
