package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/atlassian"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/store"
)

// benchTenant is the fake cloud's Jira site installed in a SQLite store in
// a temporary folder, with its organization and Microsoft Entra ID
// settings saved: what the run benchmarks (evaluate, restore) drive the
// engine through.
type benchTenant struct {
	clientKey string
	store     *store.Store
	cleanups  *store.CleanupStore
	conn      *atlassian.Connector
	svc       *cleanup.Service
	dir       string
}

// newBenchTenant sets the tenant up; the context it returns acts as the
// operator (the benchmark sets the tenant up itself). Close removes it.
func newBenchTenant(ctx context.Context, name string, cloud *atlassiantest.Cloud) (*benchTenant, context.Context, error) {
	dir, err := os.MkdirTemp("", "ucbench-"+name+"-")
	if err != nil {
		return nil, nil, err
	}
	t := &benchTenant{clientKey: "bench-tenant", dir: dir}
	if err := t.open(ctx, cloud); err != nil {
		t.Close()
		return nil, nil, err
	}
	ctx = cleanup.AsOperator(ctx)
	in := cleanup.SettingsInput{Settings: cleanup.DefaultSettings()}
	in.OrgID = cloud.OrgID()
	in.IdentityProvider.Provider = cleanup.ProviderEntra
	key := cleanup.Secret("test-org-api-key")
	in.APIKey = &key
	if _, err := t.svc.SaveSettings(ctx, t.clientKey, in); err != nil {
		t.Close()
		return nil, nil, fmt.Errorf("settings: %w", err)
	}
	return t, ctx, nil
}

func (t *benchTenant) open(ctx context.Context, cloud *atlassiantest.Cloud) error {
	cipher, err := store.NewCipher(make([]byte, store.KeySize))
	if err != nil {
		return err
	}
	t.store, err = store.Open(ctx, store.Config{Driver: store.SQLite, DSN: filepath.Join(t.dir, "bench.db"), Cipher: cipher})
	if err != nil {
		return err
	}
	const appKey = "com.example.usercleanup"
	if err := t.store.SaveTenant(ctx, cloud.Site(connect.Jira).Install(appKey, t.clientKey, "bench-shared-secret-0123456789")); err != nil {
		return err
	}
	t.cleanups = t.store.Cleanups(nil)
	t.conn = &atlassian.Connector{Tenants: t.store, Credentials: t.cleanups, Atlassian: atlassian.Options{
		HTTPClient: cloud.HTTPClient(), OrgAPIURL: cloud.APIURL(), UserMgmtURL: cloud.APIURL(),
	}}
	t.svc, err = cleanup.NewService(t.cleanups, t.conn, nil, nil)
	return err
}

// Close closes the store and removes the folder.
func (t *benchTenant) Close() {
	if t.store != nil {
		t.store.Close()
	}
	os.RemoveAll(t.dir)
}
