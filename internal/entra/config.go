package entra

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
)

// Default endpoints of the Microsoft public cloud.
const (
	DefaultGraphURL = "https://graph.microsoft.com"
	DefaultLoginURL = "https://login.microsoftonline.com"
)

// Graph's app+tenant write quota (identity and access service limits).
const (
	DefaultWritesPerWindow = 3000
	DefaultWindow          = 150 * time.Second
)

// maxBatch is the largest number of requests Graph accepts in one $batch.
const maxBatch = 20

// Config configures a Client. TenantID, ClientID and ClientSecret are
// required; everything else has a default.
type Config struct {
	TenantID     string // directory (tenant) id or a verified domain
	ClientID     string // application (client) id
	ClientSecret string // never logged: see LogValue
	GraphURL     string // default DefaultGraphURL (GRAPH_API_URL)
	LoginURL     string // default DefaultLoginURL (GRAPH_LOGIN_URL)
	// HTTPClient is the base client whose Transport carries every request
	// (token and Graph). Optional; tests pass the fake's TLS client.
	HTTPClient *http.Client
	Now        func() time.Time
	// Sleep waits d or until ctx is done (then it returns ctx's error).
	Sleep func(ctx context.Context, d time.Duration) error
	// WritesPerWindow writes in any Window: the client-side write limit.
	WritesPerWindow int
	Window          time.Duration
	Logger          *slog.Logger
}

// LogValue redacts the client secret.
func (c Config) LogValue() slog.Value {
	secret := ""
	if c.ClientSecret != "" {
		secret = "[redacted]"
	}
	return slog.GroupValue(
		slog.String("tenant_id", c.TenantID),
		slog.String("client_id", c.ClientID),
		slog.String("client_secret", secret),
		slog.String("graph_url", c.GraphURL),
		slog.String("login_url", c.LoginURL),
	)
}

// String redacts the client secret in %v and %s.
func (c Config) String() string { return c.LogValue().String() }

// sleepCtx is the default Config.Sleep.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// withDefaults validates c and fills in defaults. Errors are
// cleanup.FieldErrors-based KindInvalid errors naming the setting.
func (c Config) withDefaults() (Config, error) {
	c.TenantID = strings.TrimSpace(c.TenantID)
	c.ClientID = strings.TrimSpace(c.ClientID)
	fe := cleanup.FieldErrors{}
	if c.TenantID == "" {
		fe.Add("tenant_id", "enter the directory (tenant) ID of your Microsoft Entra tenant")
	} else if strings.ContainsAny(c.TenantID, "/?#% ") {
		fe.Add("tenant_id", "the directory (tenant) ID must be a GUID or a domain name")
	}
	if c.ClientID == "" {
		fe.Add("client_id", "enter the application (client) ID of the app registration")
	} else if strings.ContainsAny(c.ClientID, "/?#% ") {
		fe.Add("client_id", "the application (client) ID must be a GUID")
	}
	if c.ClientSecret == "" {
		fe.Add("client_secret", "enter a client secret value of the app registration")
	}
	var err error
	if c.GraphURL, err = baseURL(c.GraphURL, DefaultGraphURL); err != nil {
		fe.Add("graph_url", "%v", err)
	}
	if c.LoginURL, err = baseURL(c.LoginURL, DefaultLoginURL); err != nil {
		fe.Add("login_url", "%v", err)
	}
	if c.WritesPerWindow < 0 || c.Window < 0 {
		fe.Add("writes_per_window", "the write limit must not be negative")
	}
	if err := fe.Err(); err != nil {
		return c, err
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = sleepCtx
	}
	if c.WritesPerWindow == 0 {
		c.WritesPerWindow = DefaultWritesPerWindow
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// baseURL checks an https base URL and strips a trailing slash.
func baseURL(raw, def string) (string, error) {
	if raw == "" {
		return def, nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%q is not an https base URL", raw)
	}
	return strings.TrimRight(raw, "/"), nil
}
