package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/connect/connecttest"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/store"
)

// TestNoSecretInClear runs the real program at debug level, installs a
// tenant, re-installs it with a new shared secret, stores an organization
// API key and a Microsoft Entra client secret and uses the API key, then
// looks for every one of those secrets in everything the app wrote: every
// file of the SQLite database (the database, -wal and -shm, while the app
// runs and after it is killed), every row of every table on PostgreSQL
// (as text), the log of the whole flow at debug level, including a full
// cleanup run that removes users, and the /metrics output.
func TestNoSecretInClear(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "app.db")
		secretFlow(t, "sqlite://"+path, func(t *testing.T) [][]byte {
			files, err := filepath.Glob(filepath.Join(dir, "*"))
			if err != nil {
				t.Fatal(err)
			}
			var out [][]byte
			names := map[string]bool{}
			for _, f := range files {
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				names[filepath.Base(f)] = true
				out = append(out, data)
			}
			for _, want := range []string{"app.db", "app.db-wal", "app.db-shm"} {
				if !names[want] {
					t.Errorf("no %s to look into (files: %v)", want, names)
				}
			}
			return out
		})
	})
	t.Run("postgres", func(t *testing.T) {
		base := os.Getenv("TEST_POSTGRES_URL")
		if base == "" {
			t.Skip("TEST_POSTGRES_URL not set")
		}
		u := postgresSchemaURL(t, base)
		secretFlow(t, u, func(t *testing.T) [][]byte { return dumpPostgres(t, u) })
	})
}

// secretFlow runs the flow against the database and checks what dump
// returns (called while the app runs and once more after it was killed)
// and the log.
func secretFlow(t *testing.T, databaseURL string, dump func(t *testing.T) [][]byte) {
	cloud := atlassiantest.New(atlassiantest.Options{Users: 10})
	t.Cleanup(cloud.Close)
	const apiKey = "org-api-key-never-in-clear-5d2c9a"
	cloud.AddAPIKey(apiKey, true)
	env, ks := serveEnv(t, cloud, databaseURL, map[string]string{
		"GRAPH_LOGIN_URL": "https://127.0.0.1:1", // refuses at once: the typed Entra test gets its verdict fast
		"LOG_LEVEL":       "debug",
		"METRICS_ADDR":    freeAddr(t),
	})
	base := env["BASE_URL"]
	p := startServe(t, env)

	site := cloud.Site(connect.Jira)
	app := connect.DescriptorParams{Product: connect.Jira, BaseURL: base, AppKey: defaultAppKey}.App()
	const clientKey = "secret-test-client"
	secrets := map[string]string{
		"first shared secret":  "first-shared-secret-never-in-clear-8e1f",
		"second shared secret": "second-shared-secret-never-in-clear-03ab",
		"org API key":          apiKey,
		"Entra client secret":  "entra-client-secret-never-in-clear-6c7d",
		"typed API key":        "typed-org-api-key-tested-never-stored-91fe",
		"typed Entra secret":   "typed-entra-secret-tested-never-stored-27aa",
	}
	var tenant *connect.Tenant
	for _, s := range []string{secrets["first shared secret"], secrets["second shared secret"]} {
		tenant = signedInstall(t, ks, site, app, clientKey, s) // the second is a re-install with a new secret
	}
	api := &apiClient{t: t, base: app.BaseURL + "/api", tenant: tenant, account: orgAdmin(t, cloud)}
	// Typed values are tested once and never stored or logged.
	var typed cleanup.CredentialTest
	if code := api.do(http.MethodPost, "/settings/test-connection", map[string]string{"orgId": cloud.OrgID(), "apiKey": secrets["typed API key"]}, &typed); code != http.StatusOK || typed.OK {
		t.Fatalf("test a typed key: %d %+v", code, typed)
	}
	entraTyped := map[string]string{"tenantId": "0f7c2b1e-3a4d-4e5f-8a9b-0c1d2e3f4a5b", "clientId": "1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d",
		"clientSecret": secrets["typed Entra secret"]}
	if code := api.do(http.MethodPost, "/settings/test-entra", entraTyped, nil); code != http.StatusOK {
		t.Fatalf("test a typed Entra secret: %d", code) // the login service is not reachable here: a verdict
	}
	settings := map[string]any{
		"organization": map[string]any{"orgId": cloud.OrgID(), "apiKey": apiKey},
		"identityProvider": map[string]any{
			"provider": cleanup.ProviderEntra, "followUpAfterMinutes": 60,
			"entra":             map[string]any{"tenantId": "0f7c2b1e-3a4d-4e5f-8a9b-0c1d2e3f4a5b", "clientId": "1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d"},
			"entraClientSecret": secrets["Entra client secret"],
		},
	}
	if code := api.do(http.MethodPatch, "/settings", settings, nil); code != http.StatusOK {
		t.Fatalf("patch settings: %d", code)
	}
	var stored cleanup.CredentialTest
	if code := api.do(http.MethodPost, "/settings/test-connection", nil, &stored); code != http.StatusOK || !stored.OK {
		t.Fatalf("test connection: %d %+v", code, stored) // the stored key was decrypted and used
	}
	// A full run: the org API key reads the users, the shared secret
	// signs the removals in the product.
	managed, _ := cloud.GroupByName(atlassiantest.GroupJiraSoftware)
	var created struct{ ID int64 }
	def := map[string]any{"name": "Secrets run", "action": cleanup.ActionRemoveProductAccess, "manual": true,
		"daysInactive": 30, "includeNeverActive": true, "licensingGroupIds": []string{managed.ID}}
	if code := api.do(http.MethodPost, "/cleanups", def, &created); code != http.StatusCreated {
		t.Fatalf("create cleanup: %d", code)
	}
	var started struct{ RunID int64 }
	if code := api.do(http.MethodPost, fmt.Sprintf("/cleanups/%d/run", created.ID), map[string]bool{"dryRun": false}, &started); code != http.StatusAccepted {
		t.Fatalf("start run: %d", code)
	}
	run := api.waitRun(started.RunID, 60*time.Second, func(r apiRun) bool { return r.Status != cleanup.RunQueued && r.Status != cleanup.RunRunning })
	if run.Status != cleanup.RunSucceeded || run.Counts.Matched == 0 {
		t.Fatalf("run %s (%s), counts %+v: want a run that acted", run.Status, run.Error, run.Counts)
	}
	metrics := scrapeText(t, "http://"+env["METRICS_ADDR"]+"/metrics")

	check := func(when string, blobs [][]byte) {
		t.Helper()
		for name, s := range secrets {
			for _, blob := range blobs {
				if bytes.Contains(blob, []byte(s)) {
					t.Errorf("%s: the %s is stored in clear", when, name)
					break
				}
			}
		}
	}
	check("while running", dump(t))

	// Uninstalling erases every stored credential at once: the shared
	// secret, the org API key and the Entra client secret (not even their
	// sealed forms stay).
	if err := ks.Uninstall(context.Background(), nil, app.BaseURL, connecttest.InstallPayload{
		Key: app.Key, ClientKey: clientKey, BaseURL: site.BaseURL(), ProductType: string(connect.Jira),
	}); err != nil {
		t.Fatalf("uninstall: %v", err)
	}
	checkErased(t, databaseURL, clientKey)
	p.kill(t)
	check("after the app was killed", dump(t))
	check("log", [][]byte{[]byte(p.logs.String())})
	check("metrics", [][]byte{metrics})
	if !strings.Contains(p.logs.String(), `"msg":"run finished"`) {
		t.Error("the log has no finished run: the test did not look at a full run's log")
	}
	if !strings.Contains(p.logs.String(), `"level":"DEBUG"`) {
		t.Error("the log has no debug lines: the test did not look at a debug log")
	}
}

// checkErased opens the app's database as the app does and checks that the
// tenant keeps no credential.
func checkErased(t *testing.T, databaseURL, clientKey string) {
	t.Helper()
	ctx := context.Background()
	db, err := parseDatabaseURL(databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	key, err := decodeKey(testKeyB64())
	if err != nil {
		t.Fatal(err)
	}
	cipher, err := store.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, store.Config{Driver: db.Driver, DSN: db.DSN, Cipher: cipher})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tn, err := st.GetTenant(ctx, clientKey)
	if err != nil || tn.Installed() || tn.SharedSecret != "" {
		t.Errorf("after uninstall: tenant %+v, %v; want uninstalled without a shared secret", tn, err)
	}
	cr, err := st.Cleanups(nil).Credentials(ctx, clientKey)
	if err != nil || cr.APIKey != "" || cr.EntraClientSecret != "" {
		t.Errorf("after uninstall: credentials %v, %v; want none", cr, err)
	}
}

// dumpPostgres returns every row of every table in the app's schema as
// text (the schema is the search_path of schemaURL).
func dumpPostgres(t *testing.T, schemaURL string) [][]byte {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, schemaURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) < 5 {
		t.Fatalf("only %d tables in the schema: %v", len(tables), tables)
	}
	var out [][]byte
	for _, tbl := range tables {
		rows, err := conn.Query(ctx, fmt.Sprintf(`SELECT t::text FROM %s t`, pgx.Identifier{tbl}.Sanitize()))
		if err != nil {
			t.Fatal(err)
		}
		texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, []byte(tbl+"\n"+strings.Join(texts, "\n")))
	}
	return out
}
