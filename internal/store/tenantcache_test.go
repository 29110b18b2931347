package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/example/usercleanup/connect"
)

// TestTenantCacheFollowsEveryChange: a tenant served from the cache
// reflects each change the store makes to it at once, on both databases.
func TestTenantCacheFollowsEveryChange(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := openStore(t, b.config(t))
			if s.driver == Postgres {
				waitListening(t, s) // its start empties the cache once
			}
			get := func(t *testing.T) *connect.Tenant {
				t.Helper()
				tn, err := s.GetTenant(ctx, "ck")
				if err != nil {
					t.Fatalf("GetTenant: %v", err)
				}
				return tn
			}
			// cached loads the tenant twice and checks the second load
			// came from memory.
			cached := func(t *testing.T) {
				t.Helper()
				get(t)
				if s.tenants.len() != 1 {
					t.Fatalf("cache holds %d tenants after a lookup, want 1", s.tenants.len())
				}
			}
			tn := sampleTenant("ck", "secret-one-0123456789", t0)
			tn.InstallationID = ""
			if err := s.SaveTenant(ctx, tn); err != nil {
				t.Fatal(err)
			}

			cached(t)
			if err := s.SetEnabled(ctx, "ck", false); err != nil {
				t.Fatal(err)
			}
			if get(t).Enabled {
				t.Error("disabled tenant still enabled")
			}
			cached(t)
			if err := s.SetEnabled(ctx, "ck", true); err != nil {
				t.Fatal(err)
			}
			if !get(t).Enabled {
				t.Error("enabled tenant still disabled")
			}

			cached(t)
			if err := s.SetInstallationID(ctx, "ck", "ari:cloud:ecosystem::installation/9"); err != nil {
				t.Fatal(err)
			}
			if got := get(t).InstallationID; got != "ari:cloud:ecosystem::installation/9" {
				t.Errorf("installation id = %q after binding", got)
			}

			cached(t)
			re := sampleTenant("ck", "secret-two-0123456789", t0.Add(time.Hour))
			if err := s.SaveTenant(ctx, re); err != nil {
				t.Fatal(err)
			}
			if got := get(t).SharedSecret.Reveal(); got != "secret-two-0123456789" {
				t.Errorf("secret after re-install = %q", got)
			}

			cached(t)
			if err := s.MarkUninstalled(ctx, "ck", t0.Add(2*time.Hour)); err != nil {
				t.Fatal(err)
			}
			if got := get(t); got.Installed() || got.SharedSecret != "" {
				t.Errorf("after uninstall: installed %v, secret set %v", got.Installed(), got.SharedSecret != "")
			}

			cached(t)
			cs := s.Cleanups(nil)
			if _, err := cs.EraseCredentials(ctx, "ck"); err != nil {
				t.Fatal(err)
			}
			if s.tenants.len() != 0 {
				t.Error("credential erasure left the tenant cached")
			}

			cached(t)
			for done := false; !done; {
				var err error
				if done, err = cs.PurgeTenant(ctx, "ck", 100); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.GetTenant(ctx, "ck"); !errors.Is(err, connect.ErrUnknownTenant) {
				t.Errorf("GetTenant after purge = %v, want ErrUnknownTenant", err)
			}
		})
	}
}

// TestTenantCacheStaleRefill: a lookup that read the row before a
// re-install and fills the cache after it must not put the old secret
// back. The change runs deterministically between the lookup's read and
// its fill.
func TestTenantCacheStaleRefill(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	ctx := context.Background()
	s := openStore(t, sqliteConfig(t))
	if err := s.SaveTenant(ctx, sampleTenant("ck", "old-secret-0123456789", t0)); err != nil {
		t.Fatal(err)
	}
	fired := false
	s.afterTenantRead = func(string) {
		if fired {
			return
		}
		fired = true
		if err := s.SaveTenant(ctx, sampleTenant("ck", "new-secret-0123456789", t0.Add(time.Hour))); err != nil {
			t.Errorf("re-install during the lookup: %v", err)
		}
	}
	old, err := s.GetTenant(ctx, "ck")
	if err != nil {
		t.Fatal(err)
	}
	if !fired || old.SharedSecret.Reveal() != "old-secret-0123456789" {
		t.Fatalf("the racing lookup read %q (change fired: %v), want the old secret", old.SharedSecret.Reveal(), fired)
	}
	if n := s.tenants.len(); n != 0 {
		t.Errorf("the stale refill was cached (%d entries)", n)
	}
	got, err := s.GetTenant(ctx, "ck")
	if err != nil {
		t.Fatal(err)
	}
	if got.SharedSecret.Reveal() != "new-secret-0123456789" {
		t.Errorf("after the re-install the store answers secret %q, want the new one", got.SharedSecret.Reveal())
	}
}

// TestTenantCacheIgnoresUnknownIssuers: lookups of client keys that do not
// exist (tokens with made-up issuers) cache nothing.
func TestTenantCacheIgnoresUnknownIssuers(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, sqliteConfig(t))
	if err := s.SaveTenant(ctx, sampleTenant("real", "secret-0123456789", time.Now())); err != nil {
		t.Fatal(err)
	}
	for i := range 5000 {
		if _, err := s.GetTenant(ctx, fmt.Sprintf("forged-issuer-%d", i)); !errors.Is(err, connect.ErrUnknownTenant) {
			t.Fatalf("GetTenant(forged) = %v, want ErrUnknownTenant", err)
		}
	}
	if n := s.tenants.len(); n != 0 {
		t.Errorf("cache holds %d entries after 5,000 unknown issuers, want 0", n)
	}
	if _, err := s.GetTenant(ctx, "real"); err != nil {
		t.Fatal(err)
	}
	if n := s.tenants.len(); n != 1 {
		t.Errorf("cache holds %d entries after one real tenant, want 1", n)
	}
}

// TestTenantCacheShortTTLWithoutListener: where no other instance can
// announce changes (SQLite), an entry is trusted only for the short TTL,
// so a change made by another process on the same file is seen.
func TestTenantCacheShortTTLWithoutListener(t *testing.T) {
	ctx := context.Background()
	cfg := sqliteConfig(t)
	a := openStore(t, cfg)
	b := openStore(t, cfg) // another process on the same database file
	if err := a.SaveTenant(ctx, sampleTenant("ck", "secret-0123456789", time.Now())); err != nil {
		t.Fatal(err)
	}
	clock := time.Now()
	b.tenants.now = func() time.Time { return clock }
	if _, err := b.GetTenant(ctx, "ck"); err != nil {
		t.Fatal(err)
	}
	if err := a.SetEnabled(ctx, "ck", false); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.GetTenant(ctx, "ck"); !got.Enabled {
		t.Fatal("the entry did not come from the cache") // the test's premise
	}
	clock = clock.Add(tenantCacheTTLLocal)
	if got, _ := b.GetTenant(ctx, "ck"); got.Enabled {
		t.Errorf("after %s the other instance's disable is still not seen", tenantCacheTTLLocal)
	}
}

// TestTenantCacheAcrossInstances: on PostgreSQL a change made through one
// store reaches another store's cache through LISTEN/NOTIFY well within a
// second, also after the listener's connection was killed.
func TestTenantCacheAcrossInstances(t *testing.T) {
	base := os.Getenv("TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("TEST_POSTGRES_URL not set")
	}
	ctx := context.Background()
	cfg := postgresConfig(t, base)
	a := openStore(t, cfg)
	b := openStore(t, cfg)
	waitListening(t, b)
	if err := a.SaveTenant(ctx, sampleTenant("ck", "secret-one-0123456789", time.Now())); err != nil {
		t.Fatal(err)
	}
	// seen polls b until want holds for its tenant, for at most a second.
	seen := func(t *testing.T, what string, want func(*connect.Tenant) bool) {
		t.Helper()
		deadline := time.Now().Add(time.Second)
		for {
			tn, err := b.GetTenant(ctx, "ck")
			if err != nil {
				t.Fatal(err)
			}
			if want(tn) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s on one instance not seen by the other within a second", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	seen(t, "install", func(tn *connect.Tenant) bool { return tn.Installed() })
	if err := a.SaveTenant(ctx, sampleTenant("ck", "secret-two-0123456789", time.Now())); err != nil {
		t.Fatal(err)
	}
	seen(t, "re-install", func(tn *connect.Tenant) bool { return tn.SharedSecret.Reveal() == "secret-two-0123456789" })
	// The premise of what follows: b serves the tenant from memory (a
	// notification still under way may empty its cache once more).
	for deadline := time.Now().Add(time.Second); b.tenants.len() != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the other instance does not cache the tenant")
		}
		if _, err := b.GetTenant(ctx, "ck"); err != nil {
			t.Fatal(err)
		}
	}

	// Kill the listener's connection: it reconnects and, since it may
	// have missed changes, starts from an empty cache.
	pid := b.listenerPID.Load()
	if _, err := a.sqlDB.ExecContext(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.listenerPID.Load() == pid || b.listenerPID.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the listener did not reconnect")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := a.MarkUninstalled(ctx, "ck", time.Now()); err != nil {
		t.Fatal(err)
	}
	seen(t, "uninstall after the listener reconnected", func(tn *connect.Tenant) bool { return !tn.Installed() })
}

// waitListening waits until s's tenant listener listens.
func waitListening(t *testing.T, s *Store) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.listenerPID.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the tenant listener did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
