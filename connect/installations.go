package connect

import "context"

// InstallationStore maps Forge installations to Connect tenants, the way
// atlassian-connect-express's associateConnect does: a Connect app
// registered on Forge (Connect on Forge) is called by Forge with Forge
// Invocation Tokens naming a Forge installation id, while its data stays
// keyed by the Connect clientKey. Implementations must be safe for
// concurrent use.
//
// Association only ever uses verified data: the installation id and
// cloud id a signed install payload carried (stored on the tenant by
// Lifecycle.Installed), and those of a verified Forge Invocation Token.
type InstallationStore interface {
	// TenantByInstallationID returns the tenant whose InstallationID is
	// installationID, preferring an installed one over uninstalled ones,
	// or an error wrapping ErrUnknownTenant.
	TenantByInstallationID(ctx context.Context, installationID string) (*Tenant, error)
	// TenantsByCloudID returns every tenant (installed or not) whose
	// CloudID is cloudID; none is not an error.
	TenantsByCloudID(ctx context.Context, cloudID string) ([]*Tenant, error)
	// SetInstallationID records the Forge installation id of the tenant
	// with clientKey, only while the tenant has none: it returns an error
	// wrapping ErrUnknownTenant when there is no such tenant or when it is
	// already bound to an installation (another one, or this one). The
	// check and the write must be one atomic step, so two concurrent
	// associations cannot both succeed.
	SetInstallationID(ctx context.Context, clientKey, installationID string) error
}
