package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"

	"github.com/example/usercleanup/connect"
)

// testKey returns a fresh random encryption key.
func testKey(tb testing.TB) []byte {
	tb.Helper()
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		tb.Fatal(err)
	}
	return k
}

// backend opens fresh stores of one database kind.
type backend struct {
	name string
	// config returns a Config for a new, empty database (or schema).
	config func(tb testing.TB) Config
}

// backends lists SQLite always and PostgreSQL when TEST_POSTGRES_URL is set.
func backends(tb testing.TB) []backend {
	tb.Helper()
	bs := []backend{{name: "sqlite", config: sqliteConfig}}
	if u := os.Getenv("TEST_POSTGRES_URL"); u != "" {
		bs = append(bs, backend{name: "postgres", config: func(tb testing.TB) Config { return postgresConfig(tb, u) }})
	} else {
		tb.Log("TEST_POSTGRES_URL not set: PostgreSQL variants skipped")
	}
	return bs
}

func sqliteConfig(tb testing.TB) Config {
	tb.Helper()
	return Config{Driver: SQLite, DSN: filepath.Join(tb.TempDir(), "test.db"), Cipher: mustCipher(tb)}
}

func mustCipher(tb testing.TB) *Cipher {
	tb.Helper()
	c, err := NewCipher(testKey(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// postgresConfig creates a new schema, drops it when the test ends and
// returns a Config whose DSN selects it through search_path.
func postgresConfig(tb testing.TB, base string) Config {
	tb.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	schema := fmt.Sprintf("test_store_%x", b)
	admin, err := gorm.Open(postgres.Open(base), &gorm.Config{})
	if err != nil {
		tb.Fatalf("connect to TEST_POSTGRES_URL: %v", err)
	}
	sqlDB, err := admin.DB()
	if err != nil {
		tb.Fatal(err)
	}
	if err := admin.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		if err := admin.Exec("DROP SCHEMA " + schema + " CASCADE").Error; err != nil {
			tb.Errorf("drop schema: %v", err)
		}
		_ = sqlDB.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return Config{Driver: Postgres, DSN: u.String(), Cipher: mustCipher(tb)}
}

func openStore(tb testing.TB, cfg Config) *Store {
	tb.Helper()
	s, err := Open(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func sampleTenant(key, secret string, at time.Time) *connect.Tenant {
	return &connect.Tenant{
		ClientKey:      key,
		AppKey:         "com.example.usercleanup.jira",
		ProductType:    connect.Jira,
		BaseURL:        "https://example.atlassian.net",
		DisplayURL:     "https://jira.example.com",
		SharedSecret:   connect.Secret(secret),
		InstallationID: "ari:cloud:ecosystem::installation/1",
		CloudID:        "cloud-1",
		Payload:        []byte(`{"clientKey":"` + key + `","unknown":{"kept":true}}`),
		Enabled:        true,
		InstalledAt:    at,
	}
}

func TestTenantStore(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			tests := []struct {
				name string
				run  func(t *testing.T, s *Store)
			}{
				{"get unknown", func(t *testing.T, s *Store) {
					_, err := s.GetTenant(ctx, "nope")
					if !errors.Is(err, connect.ErrUnknownTenant) {
						t.Fatalf("GetTenant(unknown) error = %v, want ErrUnknownTenant", err)
					}
				}},
				{"save and get round trip", func(t *testing.T, s *Store) {
					want := sampleTenant("ck-1", "s3cret", t0)
					if err := s.SaveTenant(ctx, want); err != nil {
						t.Fatal(err)
					}
					got, err := s.GetTenant(ctx, "ck-1")
					if err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("GetTenant mismatch (-want +got):\n%s", diff)
					}
				}},
				{"secret encrypted at rest", func(t *testing.T, s *Store) {
					if err := s.SaveTenant(ctx, sampleTenant("ck-1", "plain-secret-value", t0)); err != nil {
						t.Fatal(err)
					}
					var stored string
					if err := s.db.Raw("SELECT shared_secret FROM tenants WHERE client_key = ?", "ck-1").Scan(&stored).Error; err != nil {
						t.Fatal(err)
					}
					if strings.Contains(stored, "plain-secret-value") || !strings.HasPrefix(stored, "v1.") {
						t.Errorf("stored shared_secret = %q, want a v1 ciphertext", stored)
					}
				}},
				{"reinstall replaces secret and clears uninstall", func(t *testing.T, s *Store) {
					if err := s.SaveTenant(ctx, sampleTenant("ck-1", "old", t0)); err != nil {
						t.Fatal(err)
					}
					if err := s.MarkUninstalled(ctx, "ck-1", t0.Add(time.Hour)); err != nil {
						t.Fatal(err)
					}
					got, err := s.GetTenant(ctx, "ck-1")
					if err != nil {
						t.Fatal(err)
					}
					if got.Installed() || got.Enabled || !got.UninstalledAt.Equal(t0.Add(time.Hour)) {
						t.Fatalf("after uninstall: installed=%v enabled=%v uninstalledAt=%v", got.Installed(), got.Enabled, got.UninstalledAt)
					}
					re := sampleTenant("ck-1", "new", t0.Add(2*time.Hour))
					re.BaseURL = "https://renamed.atlassian.net"
					if err := s.SaveTenant(ctx, re); err != nil {
						t.Fatal(err)
					}
					got, err = s.GetTenant(ctx, "ck-1")
					if err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(re, got); diff != "" {
						t.Errorf("after reinstall (-want +got):\n%s", diff)
					}
					var n int64
					s.db.Table("tenants").Count(&n)
					if n != 1 {
						t.Errorf("tenants rows = %d, want 1 (upsert)", n)
					}
				}},
				{"set enabled", func(t *testing.T, s *Store) {
					if err := s.SaveTenant(ctx, sampleTenant("ck-1", "x", t0)); err != nil {
						t.Fatal(err)
					}
					for _, want := range []bool{false, true, false} {
						if err := s.SetEnabled(ctx, "ck-1", want); err != nil {
							t.Fatal(err)
						}
						got, err := s.GetTenant(ctx, "ck-1")
						if err != nil {
							t.Fatal(err)
						}
						if got.Enabled != want {
							t.Errorf("Enabled = %v, want %v", got.Enabled, want)
						}
					}
				}},
				{"set enabled after uninstall keeps uninstalled", func(t *testing.T, s *Store) {
					if err := s.SaveTenant(ctx, sampleTenant("ck-1", "x", t0)); err != nil {
						t.Fatal(err)
					}
					if err := s.MarkUninstalled(ctx, "ck-1", t0); err != nil {
						t.Fatal(err)
					}
					err := s.SetEnabled(ctx, "ck-1", true)
					if !errors.Is(err, connect.ErrTenantUninstalled) {
						t.Fatalf("SetEnabled(uninstalled) = %v, want ErrTenantUninstalled", err)
					}
					got, err := s.GetTenant(ctx, "ck-1")
					if err != nil {
						t.Fatal(err)
					}
					if got.Installed() || got.Enabled {
						t.Errorf("tenant changed by SetEnabled after uninstall: installed=%v enabled=%v", got.Installed(), got.Enabled)
					}
				}},
				{"unknown tenant updates", func(t *testing.T, s *Store) {
					if err := s.SetEnabled(ctx, "nope", true); !errors.Is(err, connect.ErrUnknownTenant) {
						t.Errorf("SetEnabled(unknown) = %v, want ErrUnknownTenant", err)
					}
					if err := s.MarkUninstalled(ctx, "nope", t0); !errors.Is(err, connect.ErrUnknownTenant) {
						t.Errorf("MarkUninstalled(unknown) = %v, want ErrUnknownTenant", err)
					}
				}},
				{"tenants are isolated", func(t *testing.T, s *Store) {
					a, b := sampleTenant("ck-a", "secret-a", t0), sampleTenant("ck-b", "secret-b", t0)
					for _, tn := range []*connect.Tenant{a, b} {
						if err := s.SaveTenant(ctx, tn); err != nil {
							t.Fatal(err)
						}
					}
					if err := s.MarkUninstalled(ctx, "ck-a", t0); err != nil {
						t.Fatal(err)
					}
					got, err := s.GetTenant(ctx, "ck-b")
					if err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(b, got); diff != "" {
						t.Errorf("tenant b changed (-want +got):\n%s", diff)
					}
				}},
				{"secret moved to another row does not decrypt", func(t *testing.T, s *Store) {
					for _, k := range []string{"ck-a", "ck-b"} {
						if err := s.SaveTenant(ctx, sampleTenant(k, "secret-"+k, t0)); err != nil {
							t.Fatal(err)
						}
					}
					if err := s.db.Exec(`UPDATE tenants SET shared_secret = (SELECT shared_secret FROM tenants WHERE client_key = 'ck-a') WHERE client_key = 'ck-b'`).Error; err != nil {
						t.Fatal(err)
					}
					if _, err := s.GetTenant(ctx, "ck-b"); !errors.Is(err, ErrDecrypt) {
						t.Errorf("GetTenant with swapped secret = %v, want ErrDecrypt", err)
					}
				}},
				{"invalid input", func(t *testing.T, s *Store) {
					if err := s.SaveTenant(ctx, &connect.Tenant{SharedSecret: "x"}); err == nil {
						t.Error("SaveTenant without clientKey succeeded")
					}
					if err := s.SaveTenant(ctx, &connect.Tenant{ClientKey: "x"}); err == nil {
						t.Error("SaveTenant without secret succeeded")
					}
				}},
				{"ping then closed", func(t *testing.T, s *Store) {
					if err := s.Ping(ctx); err != nil {
						t.Fatalf("Ping: %v", err)
					}
					_ = s.Close()
					if err := s.Ping(ctx); !errors.Is(err, ErrUnavailable) {
						t.Fatalf("Ping after Close = %v, want ErrUnavailable", err)
					}
				}},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					tc.run(t, openStore(t, b.config(t)))
				})
			}
		})
	}
}

func TestMigrations(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := b.config(t)

			t.Run("reopen applies nothing twice", func(t *testing.T) {
				s := openStore(t, cfg)
				if err := s.SaveTenant(ctx, sampleTenant("ck-1", "x", time.Now())); err != nil {
					t.Fatal(err)
				}
				_ = s.Close()
				s = openStore(t, cfg)
				var versions []int
				if err := s.db.Raw("SELECT version FROM schema_migrations ORDER BY version").Scan(&versions).Error; err != nil {
					t.Fatal(err)
				}
				var want []int
				for _, m := range migrations() {
					want = append(want, m.Version)
				}
				if diff := cmp.Diff(want, versions); diff != "" {
					t.Errorf("schema_migrations (-want +got):\n%s", diff)
				}
				if _, err := s.GetTenant(ctx, "ck-1"); err != nil {
					t.Errorf("data lost on reopen: %v", err)
				}
			})

			t.Run("appended migration runs once", func(t *testing.T) {
				s := openStore(t, cfg)
				calls := 0
				extra := append(migrations(), Migration{
					Version: 1000, Name: "test extra",
					Apply: func(ctx context.Context, tx *gorm.DB, d Driver) error {
						calls++
						return tx.Exec("CREATE TABLE extra_test (id INTEGER)").Error
					},
				})
				for range 2 {
					if err := s.migrate(ctx, extra); err != nil {
						t.Fatal(err)
					}
				}
				if calls != 1 {
					t.Errorf("extra migration ran %d times, want 1", calls)
				}
			})

			t.Run("failed migration rolls back", func(t *testing.T) {
				s := openStore(t, cfg)
				bad := append(migrations(), Migration{
					Version: 2000, Name: "broken",
					SQLite:   "CREATE TABLE half_done (id INTEGER);\nTHIS IS NOT SQL;",
					Postgres: "CREATE TABLE half_done (id INTEGER);\nTHIS IS NOT SQL;",
				})
				if err := s.migrate(ctx, bad); err == nil {
					t.Fatal("broken migration succeeded")
				}
				var n int64
				s.db.Raw("SELECT COUNT(*) FROM schema_migrations WHERE version = 2000").Scan(&n)
				if n != 0 {
					t.Error("broken migration recorded as applied")
				}
				if s.db.Migrator().HasTable("half_done") {
					t.Error("broken migration left a table behind")
				}
			})

			t.Run("concurrent opens", func(t *testing.T) {
				fresh := b.config(t)
				var wg sync.WaitGroup
				errs := make([]error, 4)
				for i := range errs {
					wg.Go(func() {
						s, err := Open(ctx, fresh)
						if err == nil {
							_ = s.Close()
						}
						errs[i] = err
					})
				}
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						t.Errorf("Open #%d: %v", i, err)
					}
				}
			})
		})
	}
}

// TestReady: a migrated database is ready; one that lacks a migration this
// build knows, or does not answer, is not.
func TestReady(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := openStore(t, b.config(t))
			if err := s.Ready(ctx); err != nil {
				t.Fatalf("Ready after Open: %v", err)
			}
			list := migrations()
			last := list[len(list)-1].Version
			if err := s.db.Exec(`DELETE FROM schema_migrations WHERE version = ?`, last).Error; err != nil {
				t.Fatal(err)
			}
			if err := s.Ready(ctx); !errors.Is(err, ErrNotMigrated) || !strings.Contains(err.Error(), fmt.Sprint(last)) {
				t.Errorf("Ready without migration %d = %v, want ErrNotMigrated naming it", last, err)
			}
			// A newer instance's extra migration does not make it unready.
			if err := s.db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'mine', ?), (?, 'newer', ?)`,
				last, time.Now(), last+1000, time.Now()).Error; err != nil {
				t.Fatal(err)
			}
			if err := s.Ready(ctx); err != nil {
				t.Errorf("Ready with a newer migration applied too: %v", err)
			}
			_ = s.Close()
			if err := s.Ready(ctx); !errors.Is(err, ErrUnavailable) {
				t.Errorf("Ready on a closed database = %v, want ErrUnavailable", err)
			}
		})
	}
}

func TestValidateMigrations(t *testing.T) {
	tests := []struct {
		name string
		list []Migration
		ok   bool
	}{
		{"shipped", migrations(), true},
		{"out of order", []Migration{{Version: 2, SQLite: "x", Postgres: "x"}, {Version: 1, SQLite: "x", Postgres: "x"}}, false},
		{"duplicate", []Migration{{Version: 1, SQLite: "x", Postgres: "x"}, {Version: 1, SQLite: "x", Postgres: "x"}}, false},
		{"missing dialect", []Migration{{Version: 1, SQLite: "x"}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := validateMigrations(tc.list)
			if got := err == nil; got != tc.ok {
				t.Errorf("validateMigrations ok = %v (%v), want %v", got, err, tc.ok)
			}
		})
	}
}

func TestSplitStatements(t *testing.T) {
	got := splitStatements("CREATE TABLE a (x TEXT DEFAULT ';');\n  CREATE INDEX b ON a (x);  \n\n")
	want := []string{"CREATE TABLE a (x TEXT DEFAULT ';')", "CREATE INDEX b ON a (x)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("splitStatements (-want +got):\n%s", diff)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	c := mustCipher(t)
	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{"unreachable postgres", Config{Driver: Postgres, DSN: "postgres://u:pw@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", Cipher: c}, ErrUnavailable},
		{"missing folder", Config{Driver: SQLite, DSN: filepath.Join(t.TempDir(), "no", "such", "x.db"), Cipher: c}, ErrUnavailable},
		{"bad path", Config{Driver: SQLite, DSN: "a.db?mode=ro", Cipher: c}, nil},
		{"no cipher", Config{Driver: SQLite, DSN: filepath.Join(t.TempDir(), "x.db")}, nil},
		{"bad driver", Config{Driver: "mysql", DSN: "x", Cipher: c}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(ctx, tc.cfg)
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("Open error = %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), ":pw@") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}
