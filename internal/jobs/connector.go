package jobs

import (
	"context"
	"fmt"
	"net/http"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/atlassian"
	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/entra"
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

// Connector builds a tenant's Atlassian and Microsoft clients from its
// installation and stored settings. It implements cleanup.Connector.
type Connector struct {
	Tenants     TenantSource
	Credentials CredentialSource
	// Atlassian configures the product and Organizations clients (base
	// URLs of the Organizations API, HTTP client, logger, clock).
	Atlassian atlassian.Options
	// Entra holds the Microsoft Graph endpoints and HTTP client; tenant,
	// client id and secret come from the tenant's settings.
	Entra entra.Config
}

var _ cleanup.Connector = (*Connector)(nil)

// Org implements cleanup.Connector.
func (c *Connector) Org(ctx context.Context, clientKey string) (cleanup.OrgDirectory, error) {
	s, err := c.Credentials.Settings(ctx, clientKey)
	if err != nil {
		return nil, err
	}
	cr, err := c.Credentials.Credentials(ctx, clientKey)
	if err != nil {
		return nil, err
	}
	return atlassian.NewOrg(cleanup.OrgCredentials{OrgID: s.OrgID, APIKey: cr.APIKey.Reveal()}, c.Atlassian)
}

// Site implements cleanup.Connector.
func (c *Connector) Site(ctx context.Context, clientKey string) (cleanup.SiteDirectory, error) {
	t, err := c.Tenants.GetTenant(ctx, clientKey)
	if err != nil {
		return nil, &cleanup.Error{Kind: cleanup.KindNotFound, Message: "the installation is unknown", Err: err}
	}
	return atlassian.NewSite(t, t.AppKey, c.Atlassian)
}

// IdP implements cleanup.Connector.
func (c *Connector) IdP(ctx context.Context, clientKey string) (cleanup.IdentityProvider, error) {
	s, err := c.Credentials.Settings(ctx, clientKey)
	if err != nil {
		return nil, err
	}
	idp := s.IdentityProvider
	if idp.Provider != cleanup.ProviderEntra || !idp.Entra.Connected() {
		return nil, &cleanup.Error{Kind: cleanup.KindNotConfigured, Message: "no Microsoft Graph connection is configured"}
	}
	cr, err := c.Credentials.Credentials(ctx, clientKey)
	if err != nil {
		return nil, err
	}
	cfg := c.Entra
	cfg.TenantID, cfg.ClientID, cfg.ClientSecret = idp.Entra.TenantID, idp.Entra.ClientID, cr.EntraClientSecret.Reveal()
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	cl, err := entra.New(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("microsoft graph client: %w", err)
	}
	return cl, nil
}
