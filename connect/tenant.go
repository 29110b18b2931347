package connect

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"
)

// Product is the Atlassian product a Connect app is installed in.
type Product string

// The products this framework serves.
const (
	Jira       Product = "jira"
	Confluence Product = "confluence"
)

// App describes one Connect app served by this backend: its descriptor key,
// its descriptor baseUrl and the product it is built for. One backend may
// serve several apps (one per product), each under its own baseUrl path.
type App struct {
	Key     string  // descriptor "key", e.g. "com.example.usercleanup.jira"
	BaseURL string  // descriptor "baseUrl", e.g. "https://app.example.com/jira"
	Product Product // jira or confluence
}

// Secret holds a credential. It never prints, logs or marshals its value;
// call Reveal where the value is really needed (signing, encryption).
type Secret string

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

// String redacts the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString redacts the secret in %#v.
func (s Secret) GoString() string { return s.String() }

// LogValue redacts the secret in log/slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON redacts the secret in JSON output.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// Tenant is one installation of one Connect app in one product site,
// identified by its clientKey.
type Tenant struct {
	ClientKey      string    // opaque; key all tenant data by it
	AppKey         string    // the app key the tenant installed ("key" in the payload)
	ProductType    Product   // "jira" or "confluence"
	BaseURL        string    // product base URL for REST calls (Confluence includes /wiki)
	DisplayURL     string    // optional custom-domain URL, for links shown to people only
	SharedSecret   Secret    // HS256 key for all symmetric JWTs
	InstallationID string    // Forge installation id, when the product sent one
	CloudID        string    // site cloud id, when known
	Payload        []byte    // install payload as received (unknown fields kept), without the shared secret
	Enabled        bool      // last enabled/disabled state
	InstalledAt    time.Time // time of the last verified install
	UninstalledAt  time.Time // zero while installed
}

// Installed reports whether the tenant is currently installed.
func (t *Tenant) Installed() bool { return t != nil && t.UninstalledAt.IsZero() }

// TenantStore persists tenants. Implementations must be safe for concurrent use.
type TenantStore interface {
	// GetTenant returns the tenant with the clientKey, or an error wrapping
	// ErrUnknownTenant. Verify calls it for every request; an
	// implementation may answer from memory, but never with a tenant that
	// a later SaveTenant, MarkUninstalled or SetEnabled changed (an old
	// shared secret would keep verifying), and should not remember
	// unknown client keys (anyone can send tokens with made-up issuers).
	GetTenant(ctx context.Context, clientKey string) (*Tenant, error)
	// SaveTenant inserts or replaces the tenant with t.ClientKey (a verified
	// install). It clears UninstalledAt.
	SaveTenant(ctx context.Context, t *Tenant) error
	// MarkUninstalled records that the tenant was uninstalled at the time
	// and forgets its shared secret (a later signed install brings a new
	// one), so no token of the tenant verifies while it is uninstalled.
	MarkUninstalled(ctx context.Context, clientKey string, at time.Time) error
	// SetEnabled records an enabled/disabled event. It must not change an
	// uninstalled tenant (uninstalled wins over a concurrent disabled) and
	// returns an error wrapping ErrTenantUninstalled in that case.
	SetEnabled(ctx context.Context, clientKey string, enabled bool) error
}
