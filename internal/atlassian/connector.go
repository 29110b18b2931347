package atlassian

import (
	"context"
	"fmt"
	"sync"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/cleanup"
)

// TenantSource gives an installation by client key (*store.Store).
type TenantSource interface {
	GetTenant(ctx context.Context, clientKey string) (*connect.Tenant, error)
}

// CredentialSource gives a tenant's settings and decrypted credentials
// (*store.CleanupStore).
type CredentialSource interface {
	Settings(ctx context.Context, clientKey string) (cleanup.Settings, error)
	Credentials(ctx context.Context, clientKey string) (cleanup.Credentials, error)
}

// IdPFactory builds the identity-provider client of one Microsoft Entra ID
// app registration (directory id, application id, client secret). The
// command wires it to the Microsoft Graph adapter (internal/entra), which is
// the only package allowed to import the Graph SDK; tests pass fakes.
type IdPFactory func(ctx context.Context, tenantID, clientID string, secret cleanup.Secret) (cleanup.IdentityProvider, error)

// Connector builds a tenant's Atlassian and Microsoft clients from its
// installation and stored settings. It implements cleanup.Connector. The
// identity-provider client comes from NewIdP, which the command wires to
// internal/entra, so this package never imports the Graph SDK.
//
// Atlassian clients come from one Clients cache per Connector:
// every job of a tenant shares its Site and Org client, so the per-tenant
// concurrency bound and the rate-limit pacing hold across jobs. Groups the
// Organizations API lists as synced from an identity provider are
// remembered (group ids are globally unique), so the Site client maps a
// product's refusal to change such a group to KindExternallyManaged.
type Connector struct {
	Tenants     TenantSource
	Credentials CredentialSource
	// Atlassian configures the product and Organizations clients (base
	// URLs of the Organizations API, HTTP client, logger, clock). Its
	// GroupSynced is set by the Connector.
	Atlassian Options
	// NewIdP builds the Microsoft Entra ID client; nil: direct removal in the
	// identity provider is unavailable (KindNotConfigured).
	NewIdP IdPFactory
	// TestIdP builds a client that is not kept, for connection tests of
	// typed values (NewIdP may cache its clients); nil: NewIdP.
	TestIdP IdPFactory

	once    sync.Once
	clients *Clients
	mu      sync.RWMutex
	synced  map[string]bool // group id -> synced from an IdP (from Org.Groups)
}

var _ cleanup.Connector = (*Connector)(nil)

func (c *Connector) init() {
	c.once.Do(func() {
		o := c.Atlassian
		c.synced = map[string]bool{}
		o.GroupSynced = c.groupSynced
		c.clients = NewClients(o)
	})
}

// Clients returns the client cache every tenant's jobs share. The admin
// check of the pages uses it too, so its product calls are paced with the
// tenant's other requests and no client is built per check.
func (c *Connector) Clients() *Clients {
	c.init()
	return c.clients
}

// groupSynced reports whether the Organizations API listed the group as
// synced from an identity provider.
func (c *Connector) groupSynced(groupID string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.synced[groupID]
}

func (c *Connector) recordGroups(groups []cleanup.OrgGroup) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, g := range groups {
		if g.SyncedFromIdP() {
			c.synced[g.ID] = true
		} else {
			delete(c.synced, g.ID)
		}
	}
}

// Org implements cleanup.Connector.
func (c *Connector) Org(ctx context.Context, clientKey string) (cleanup.OrgDirectory, error) {
	c.init()
	s, err := c.Credentials.Settings(ctx, clientKey)
	if err != nil {
		return nil, err
	}
	cr, err := c.Credentials.Credentials(ctx, clientKey)
	if err != nil {
		return nil, err
	}
	org, err := c.clients.Org(cleanup.OrgCredentials{OrgID: s.OrgID, APIKey: cr.APIKey.Reveal()})
	if err != nil {
		return nil, err
	}
	return &recordingOrg{OrgDirectory: org, record: c.recordGroups}, nil
}

// recordingOrg remembers the synced groups of every group listing.
type recordingOrg struct {
	cleanup.OrgDirectory
	record func([]cleanup.OrgGroup)
}

func (o *recordingOrg) Groups(ctx context.Context) ([]cleanup.OrgGroup, error) {
	gs, err := o.OrgDirectory.Groups(ctx)
	if err == nil {
		o.record(gs)
	}
	return gs, err
}

// OrgWith implements cleanup.Connector: a client of the credentials made
// for one connection test, outside the cache (a typed key that fails its
// test must not replace the working client of the tenant's jobs).
func (c *Connector) OrgWith(_ context.Context, _ string, creds cleanup.OrgCredentials) (cleanup.OrgDirectory, error) {
	c.init()
	return c.clients.newOrg(creds)
}

// IdPWith implements cleanup.Connector: a client of the app registration
// made for one connection test.
func (c *Connector) IdPWith(ctx context.Context, _ string, creds cleanup.EntraCredentials) (cleanup.IdentityProvider, error) {
	build := c.TestIdP
	if build == nil {
		build = c.NewIdP
	}
	if build == nil {
		return nil, &cleanup.Error{Kind: cleanup.KindNotConfigured, Message: "this server has no Microsoft Graph client configured"}
	}
	cl, err := build(ctx, creds.TenantID, creds.ClientID, creds.Secret)
	if err != nil {
		return nil, fmt.Errorf("microsoft graph client: %w", err)
	}
	return cl, nil
}

// Site implements cleanup.Connector.
func (c *Connector) Site(ctx context.Context, clientKey string) (cleanup.SiteDirectory, error) {
	c.init()
	t, err := c.Tenants.GetTenant(ctx, clientKey)
	if err != nil {
		return nil, &cleanup.Error{Kind: cleanup.KindNotFound, Message: "the installation is unknown", Err: err}
	}
	return c.clients.Site(t)
}

// IdP implements cleanup.Connector.
func (c *Connector) IdP(ctx context.Context, clientKey string) (cleanup.IdentityProvider, error) {
	s, err := c.Credentials.Settings(ctx, clientKey)
	if err != nil {
		return nil, err
	}
	idp := s.IdentityProvider
	if idp.Provider != cleanup.ProviderEntra || !idp.Entra.Connected() {
		return nil, &cleanup.Error{Kind: cleanup.KindNotConfigured, Field: "identityProvider.entra", Message: "no Microsoft Entra ID connection is configured"}
	}
	if c.NewIdP == nil {
		return nil, &cleanup.Error{Kind: cleanup.KindNotConfigured, Message: "this server has no Microsoft Graph client configured"}
	}
	cr, err := c.Credentials.Credentials(ctx, clientKey)
	if err != nil {
		return nil, err
	}
	cl, err := c.NewIdP(ctx, idp.Entra.TenantID, idp.Entra.ClientID, cr.EntraClientSecret)
	if err != nil {
		return nil, fmt.Errorf("microsoft graph client: %w", err)
	}
	return cl, nil
}
