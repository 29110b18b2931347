package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/connect/connecttest"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
)

// The serve binary, built once per test binary.
var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

// serveBinary builds cmd/usercleanup into a temporary folder once.
func serveBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "usercleanup-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "usercleanup")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// process is a running `usercleanup serve`.
type process struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan error
}

func startServe(t *testing.T, env map[string]string) *process {
	t.Helper()
	cmd := exec.Command(serveBinary(t), "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &process{cmd: cmd, logs: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		p.done <- nil
		if t.Failed() {
			t.Logf("serve log:\n%s", tail(p.logs.String(), 4000))
		}
	})
	waitHealthy(t, "http://"+env["ADDR"]+"/readyz", p.done)
	return p
}

// serveEnv starts a fake install-keys server and returns it with the
// environment of a serve process on a free port that trusts it, stores its
// data at databaseURL and reaches the cloud's Organizations API; extra
// adds or replaces variables. The app's base URL is "http://" + env["ADDR"].
func serveEnv(t *testing.T, cloud *atlassiantest.Cloud, databaseURL string, extra map[string]string) (map[string]string, *connecttest.KeyServer) {
	t.Helper()
	ks, err := connecttest.NewKeyServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ks.Close)
	addr := freeAddr(t)
	env := map[string]string{
		"ADDR": addr, "BASE_URL": "http://" + addr, "DATABASE_URL": databaseURL,
		"ENCRYPTION_KEY":            testKeyB64(),
		"CONNECT_INSTALL_KEYS_URLS": ks.URL,
		"SSL_CERT_FILE":             trustKeyServer(t, ks),
		"CONNECT_ALLOWED_HOSTS":     "127.0.0.1",
		"ORG_API_URL":               cloud.APIURL(),
	}
	for k, v := range extra {
		env[k] = v
	}
	return env, ks
}

// trustKeyServer returns the environment that makes a serve process trust
// the fake key server's TLS certificate: the standard SSL_CERT_FILE of
// Go's crypto/x509 on Unix (keys are fetched over https only, and the app
// has no setting that would allow anything else).
func trustKeyServer(t *testing.T, ks *connecttest.KeyServer) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key-server.pem")
	if err := os.WriteFile(path, ks.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// signedInstall registers the app on the fake site and installs it into
// the running app through the signed install.
func signedInstall(t *testing.T, ks *connecttest.KeyServer, site *atlassiantest.Site, app connect.App, clientKey, secret string) *connect.Tenant {
	t.Helper()
	tenant := site.Install(app.Key, clientKey, secret)
	if err := ks.Install(context.Background(), nil, app.BaseURL, connecttest.InstallPayload{
		Key: app.Key, ClientKey: clientKey, SharedSecret: secret, BaseURL: site.BaseURL(), ProductType: string(site.Product()),
	}); err != nil {
		t.Fatalf("install: %v", err)
	}
	return tenant
}

// orgAdmin returns an account of the fake cloud's organization admins.
func orgAdmin(t *testing.T, cloud *atlassiantest.Cloud) string {
	t.Helper()
	for _, u := range cloud.Users() {
		if len(u.Roles) > 0 {
			return u.AccountID
		}
	}
	t.Fatal("the seeded organization has no admin")
	return ""
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// kill SIGKILLs the process and waits for it to exit.
func (p *process) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	p.done <- nil
}

// stop sends SIGTERM and waits for the clean shutdown, which writes out
// every log line (the log writer batches them); a process still running
// after timeout is killed and the test fails.
func (p *process) stop(t *testing.T, timeout time.Duration) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("serve exited with %v after SIGTERM, want a clean exit", err)
		}
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("serve still running %s after SIGTERM", timeout)
	}
	p.done <- nil
}

// apiClient calls the JSON API as a product admin.
type apiClient struct {
	t       *testing.T
	base    string // e.g. http://127.0.0.1:1234/jira/api
	tenant  *connect.Tenant
	account string
}

func (c *apiClient) do(method, path string, body any, out any) int {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	tok, err := connecttest.ContextToken(c.tenant, c.account, time.Now(), time.Minute)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "JWT "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
	if resp.StatusCode >= 300 {
		c.t.Logf("%s %s -> %d %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode
}

// apiRun is the part of GET /runs/:id the test reads.
type apiRun struct {
	ID     int64             `json:"id"`
	Status string            `json:"status"`
	Phase  string            `json:"phase"`
	Error  string            `json:"error"`
	Counts cleanup.RunCounts `json:"counts"`
}

type apiRow struct {
	AccountID string `json:"accountId"`
	GroupID   string `json:"groupId"`
	Action    string `json:"action"`
	Outcome   string `json:"outcome"`
	Message   string `json:"message"`
}

func (c *apiClient) run(id int64) apiRun {
	c.t.Helper()
	var r apiRun
	if code := c.do(http.MethodGet, "/runs/"+strconv.FormatInt(id, 10), nil, &r); code != http.StatusOK {
		c.t.Fatalf("get run: %d", code)
	}
	return r
}

func (c *apiClient) waitRun(id int64, timeout time.Duration, until func(apiRun) bool) apiRun {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := c.run(id)
		if until(r) {
			return r
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("run %d stuck at %s/%s counts %+v", id, r.Status, r.Phase, r.Counts)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *apiClient) rows(id int64) []apiRow { return runRows[apiRow](c, id) }

// runRows pages through GET /runs/{id}/users into rows of type T.
func runRows[T any](c *apiClient, id int64) []T {
	c.t.Helper()
	var all []T
	for page := 1; ; page++ {
		var p struct {
			Items []T `json:"items"`
			Total int `json:"total"`
		}
		if code := c.do(http.MethodGet, fmt.Sprintf("/runs/%d/users?perPage=200&page=%d", id, page), nil, &p); code != http.StatusOK {
			c.t.Fatalf("run users: %d", code)
		}
		all = append(all, p.Items...)
		if len(p.Items) == 0 || len(all) >= p.Total {
			return all
		}
	}
}

func rowKey(r apiRow) string { return r.AccountID + "|" + r.GroupID + "|" + r.Action }

// TestCrashResume SIGKILLs a real serve process in the middle of applying
// a run, restarts it, and checks that every removal happened exactly once
// and every planned row exists exactly once.
func TestCrashResume(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	onEachDatabase(t, crashResume)
}

func crashResume(t *testing.T, databaseURL string) {
	cloud := atlassiantest.New(atlassiantest.Options{Seed: 11, Users: 500, ExtraGroups: 4})
	t.Cleanup(cloud.Close)
	env, ks := serveEnv(t, cloud, databaseURL, map[string]string{"JOB_RESCUE_AFTER": "3s", "LOG_LEVEL": "debug"})
	base := env["BASE_URL"]
	first := startServe(t, env)

	site := cloud.Site(connect.Jira)
	app := connect.DescriptorParams{Product: connect.Jira, BaseURL: base, AppKey: defaultAppKey}.App()
	const clientKey, secret = "crash-client", "shared-secret-of-the-crash-test-0123456789"
	tenant := signedInstall(t, ks, site, app, clientKey, secret)
	api := &apiClient{t: t, base: app.BaseURL + "/api", tenant: tenant, account: orgAdmin(t, cloud)}

	settings := map[string]any{"organization": map[string]any{"orgId": cloud.OrgID(), "apiKey": "test-org-api-key"}}
	if code := api.do(http.MethodPatch, "/settings", settings, nil); code != http.StatusOK {
		t.Fatalf("patch settings: %d", code)
	}
	jsw, _ := cloud.GroupByName(atlassiantest.GroupJiraSoftware)
	var created struct {
		ID int64 `json:"id"`
	}
	def := map[string]any{"name": "Crash test", "action": cleanup.ActionRemoveProductAccess,
		"licensingGroupIds": []string{jsw.ID}, "daysInactive": 30, "manual": true}
	if code := api.do(http.MethodPost, "/cleanups", def, &created); code != http.StatusCreated {
		t.Fatalf("create cleanup: %d", code)
	}
	start := func(dry bool) int64 {
		var out struct {
			RunID int64 `json:"runId"`
		}
		if code := api.do(http.MethodPost, fmt.Sprintf("/cleanups/%d/run", created.ID), map[string]bool{"dryRun": dry}, &out); code != http.StatusAccepted {
			t.Fatalf("start run: %d", code)
		}
		return out.RunID
	}
	finished := func(r apiRun) bool { return r.Status != cleanup.RunQueued && r.Status != cleanup.RunRunning }

	// The plan: a dry run of the same cleanup.
	dry := api.waitRun(start(true), 30*time.Second, finished)
	if dry.Status != cleanup.RunSucceeded {
		t.Fatalf("dry run %s: %s", dry.Status, dry.Error)
	}
	planned := map[string]bool{}
	wantRemovals := map[string]bool{}
	for _, r := range api.rows(dry.ID) {
		planned[rowKey(r)] = true
		if r.Action == cleanup.ActionRemoveProductAccess && !strings.HasPrefix(r.Message, "protected") {
			wantRemovals[r.GroupID+"|"+r.AccountID] = true
		}
	}
	if len(wantRemovals) < 40 {
		t.Fatalf("only %d removals planned; the scenario needs more", len(wantRemovals))
	}

	// The real run, slowed down, killed in the middle of applying.
	cloud.SetLatency(40 * time.Millisecond)
	runID := start(false)
	at := api.waitRun(runID, 30*time.Second, func(r apiRun) bool {
		return finished(r) || (r.Phase == cleanup.PhaseApply && r.Counts.RemovedInAtlassian >= 10)
	})
	first.kill(t)
	if finished(at) || at.Counts.Pending == 0 {
		t.Fatalf("the kill came too late: %s/%s %+v", at.Status, at.Phase, at.Counts)
	}
	t.Logf("killed at %d of %d removals", at.Counts.RemovedInAtlassian, len(wantRemovals))

	startServe(t, env)
	final := api.waitRun(runID, 60*time.Second, finished)
	if final.Status != cleanup.RunSucceeded {
		t.Fatalf("run %s: %s (%+v)", final.Status, final.Error, final.Counts)
	}

	// Every planned row exactly once, every removal done.
	rows := api.rows(runID)
	seen := map[string]int{}
	verified := 0
	for _, r := range rows {
		seen[rowKey(r)]++
		if strings.HasPrefix(r.Message, "verified after a restart") {
			verified++
		}
		if r.Action == cleanup.ActionRemoveProductAccess && !strings.HasPrefix(r.Message, "protected") && r.Outcome != cleanup.OutcomeDone {
			t.Errorf("row %s: outcome %s (%s)", rowKey(r), r.Outcome, r.Message)
		}
	}
	var missing, extra, dup []string
	for k := range planned {
		if seen[k] == 0 {
			missing = append(missing, k)
		}
	}
	for k, n := range seen {
		if !planned[k] {
			extra = append(extra, k)
		}
		if n > 1 {
			dup = append(dup, k)
		}
	}
	t.Logf("%d rows were in doubt after the kill and verified with one bulk read", verified)
	sort.Strings(missing)
	if len(missing)+len(extra)+len(dup) > 0 {
		t.Errorf("rows: missing %v, unplanned %v, duplicated %v", missing, extra, dup)
	}

	// The fake's record: each planned removal exactly once, nothing else.
	calls := map[string]int{}
	for _, c := range cloud.Calls() {
		if c.Result != "removed" {
			t.Errorf("unexpected call %+v", c)
			continue
		}
		calls[c.GroupID+"|"+c.AccountID]++
	}
	for k := range wantRemovals {
		if calls[k] != 1 {
			t.Errorf("removal %s happened %d times, want 1", k, calls[k])
		}
	}
	for k := range calls {
		if !wantRemovals[k] {
			t.Errorf("unplanned removal %s", k)
		}
	}
	if final.Counts.RemovedInAtlassian != len(wantRemovals) {
		t.Errorf("counts say %d removed, want %d", final.Counts.RemovedInAtlassian, len(wantRemovals))
	}
}

// onEachDatabase runs fn as a subtest on a new SQLite file and, when
// TEST_POSTGRES_URL is set, on a new PostgreSQL schema.
func onEachDatabase(t *testing.T, fn func(t *testing.T, databaseURL string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, "sqlite://"+filepath.Join(t.TempDir(), "app.db")) })
	u := os.Getenv("TEST_POSTGRES_URL")
	if u == "" {
		t.Log("TEST_POSTGRES_URL not set: PostgreSQL variant skipped")
		return
	}
	t.Run("postgres", func(t *testing.T) { fn(t, postgresSchemaURL(t, u)) })
}

// postgresSchemaURL creates a schema dropped when the test ends and returns
// a URL selecting it.
func postgresSchemaURL(t *testing.T, base string) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := fmt.Sprintf("test_crash_%x", b)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to TEST_POSTGRES_URL: %v", err)
	}
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
		_ = conn.Close(context.Background())
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
