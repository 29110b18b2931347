package jobs

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/atlassian"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/store"
)

const (
	testAppKey    = "com.example.usercleanup"
	testClientKey = "client-jira"
	testSecret    = "shared-secret-of-the-test-installation-0123456789"
	testAPIKey    = "test-org-api-key"
)

// testNow is the fixed time of the seeded organization and the engine.
var testNow = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

// backend opens fresh stores of one database kind.
type backend struct {
	name string
	open func(t *testing.T) (*store.Store, string) // store and DSN
}

// backends lists SQLite always and PostgreSQL when TEST_POSTGRES_URL is set.
func backends(t *testing.T) []backend {
	bs := []backend{{name: "sqlite", open: func(t *testing.T) (*store.Store, string) {
		return openStore(t, store.SQLite, filepath.Join(t.TempDir(), "test.db")), ""
	}}}
	if u := os.Getenv("TEST_POSTGRES_URL"); u != "" {
		bs = append(bs, backend{name: "postgres", open: func(t *testing.T) (*store.Store, string) {
			dsn := postgresSchema(t, u)
			return openStore(t, store.Postgres, dsn), dsn
		}})
	} else {
		t.Log("TEST_POSTGRES_URL not set: PostgreSQL variants skipped")
	}
	return bs
}

func openStore(t *testing.T, d store.Driver, dsn string) *store.Store {
	t.Helper()
	c, err := store.NewCipher(make([]byte, store.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(context.Background(), store.Config{Driver: d, DSN: dsn, Cipher: c})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// postgresSchema creates a schema dropped when the test ends and returns a
// URL that selects it.
func postgresSchema(t *testing.T, base string) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := fmt.Sprintf("test_jobs_%x", b)
	ctx := cleanup.AsOperator(context.Background()) // tests set tenants up as the program, not as a product user
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to TEST_POSTGRES_URL: %v", err)
	}
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
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

// tickingClock advances by step on every reading, so step budgets expire
// and runs are split into many steps.
type tickingClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (c *tickingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.step)
	return c.t
}

// env is an installed tenant on the fake cloud with its store and service.
type env struct {
	cloud *atlassiantest.Cloud
	st    *store.Store
	cs    *store.CleanupStore
	conn  *atlassian.Connector
	svc   *cleanup.Service
	now   func() time.Time
}

// newEnv seeds a fake cloud, installs the Jira tenant, stores settings with
// the organization's API key and returns the environment.
func newEnv(t *testing.T, st *store.Store, o atlassiantest.Options, settings cleanup.SettingsInput) *env {
	t.Helper()
	ctx := cleanup.AsOperator(context.Background()) // tests set tenants up as the program, not as a product user
	if o.Now == nil {
		o.Now = func() time.Time { return testNow }
	}
	cloud := atlassiantest.New(o)
	t.Cleanup(cloud.Close)
	tenant := cloud.Site(connect.Jira).Install(testAppKey, testClientKey, testSecret)
	if err := st.SaveTenant(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	cs := st.Cleanups(nil)
	conn := &atlassian.Connector{Tenants: st, Credentials: cs, Atlassian: atlassian.Options{
		OrgAPIURL: cloud.APIURL(), UserMgmtURL: cloud.APIURL(), MaxWait: time.Minute,
		Sleep: func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(min(d, 50*time.Millisecond))
			defer t.Stop()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
				return nil
			}
		},
	}}
	clock := &tickingClock{t: testNow, step: time.Millisecond}
	svc, err := cleanup.NewService(cs, conn, nil, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	if settings.Export.Identifier == "" {
		settings.Settings = cleanup.DefaultSettings()
	}
	if settings.OrgID == "" {
		settings.OrgID = cloud.OrgID()
	}
	if settings.APIKey == nil {
		k := cleanup.Secret(testAPIKey)
		settings.APIKey = &k
	}
	if _, err := svc.SaveSettings(ctx, testClientKey, settings); err != nil {
		t.Fatalf("save settings: %v", err)
	}
	return &env{cloud: cloud, st: st, cs: cs, conn: conn, svc: svc, now: clock.Now}
}

// start starts the runtime and stops it when the test ends.
func start(t *testing.T, rt *Runtime, w Work) {
	t.Helper()
	if err := rt.Start(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rt.Stop(sctx); err != nil {
			t.Error(err)
		}
	})
}

// groupID returns the id of a seeded group by name.
func (e *env) groupID(t *testing.T, name string) string {
	t.Helper()
	g, ok := e.cloud.GroupByName(name)
	if !ok {
		t.Fatalf("no seeded group %q", name)
	}
	return g.ID
}

// engine returns an engine over the env whose clock advances by tick per
// reading (budget 1 s: small ticks make many short steps).
func (e *env) engine(t *testing.T, tick time.Duration, exp cleanup.Exporter) *cleanup.Engine {
	t.Helper()
	clock := &tickingClock{t: testNow.Add(time.Minute), step: tick}
	en, err := cleanup.NewEngine(cleanup.EngineConfig{
		Store: e.cs, Connector: e.conn, Exporter: exp, Now: clock.Now,
		StepBudget: time.Second, LeaseFor: time.Hour, PageSize: 50, ApplyBatch: 7,
	})
	if err != nil {
		t.Fatal(err)
	}
	return en
}

// drive steps the run until it is done and returns the number of steps.
func drive(t *testing.T, en *cleanup.Engine, runID int64) int {
	t.Helper()
	for i := 1; i <= 10000; i++ {
		res, err := en.Step(context.Background(), testClientKey, runID, fmt.Sprintf("test/step-%d", i))
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if res.RetryAfter > 0 {
			t.Fatalf("step %d asks to retry after %s", i, res.RetryAfter)
		}
		if res.Done {
			return i
		}
	}
	t.Fatal("run did not finish in 10,000 steps")
	return 0
}

// allRows returns every row of the run, all pages.
func allRows(t *testing.T, svc *cleanup.Service, runID int64, f cleanup.RunUserFilter) []cleanup.AffectedUser {
	t.Helper()
	var out []cleanup.AffectedUser
	for p := 1; ; p++ {
		rows, total, err := svc.RunUsers(context.Background(), testClientKey, runID, f, cleanup.Page{Page: p, PerPage: cleanup.MaxPerPage})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rows...)
		if len(out) >= total || len(rows) == 0 {
			if len(out) != total {
				t.Fatalf("paged %d rows, total says %d", len(out), total)
			}
			return out
		}
	}
}

// wireRuntime builds a job runtime on st the way the command does: one
// CleanupStore whose commits enqueue through the runtime, the connector
// (with atl's options) reading that store, the engine and the service over
// it. like is the connector to copy (Atlassian options, Graph factory).
// It returns the runtime, the work to start it with and the service.
func wireRuntime(t *testing.T, st *store.Store, dsn string, like *atlassian.Connector, cfg Config) (*Runtime, Work, *cleanup.Service) {
	t.Helper()
	cfg.DB, cfg.Driver, cfg.DSN = st.SQLDB(), string(st.Driver()), dsn
	rt, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cs := st.Cleanups(rt.EnqueueStep).WithFollowUps(rt.EnqueueFollowUp)
	conn := &atlassian.Connector{Tenants: st, Credentials: cs, Atlassian: like.Atlassian, NewIdP: like.NewIdP}
	budget, lease := rt.RunTiming()
	en, err := cleanup.NewEngine(cleanup.EngineConfig{Store: cs, Connector: conn, StepBudget: budget, LeaseFor: lease})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := cleanup.NewService(cs, conn, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := cleanup.NewSnapshots(cleanup.SnapshotsConfig{Store: st.Snapshots(rt.EnqueueSnapshot), Source: cs, Connector: conn})
	if err != nil {
		t.Fatal(err)
	}
	return rt, Work{Steps: en, Gate: svc, Schedules: svc, FollowUps: svc, Retention: svc, Runs: cs, Snapshots: snaps}, svc
}
