// Package server is the app's HTTP layer, built on Echo (the only package
// that imports it). routes.go is the single route table, grouped by how
// each route is authenticated:
//
//   - public: the two Connect descriptors, /healthz (liveness), /readyz
//     (database reachable and migrated) and /static/;
//   - lifecycle: POST {installed,uninstalled,enabled,disabled} per product,
//     verified by connect (signed install for install/uninstall);
//   - pages: iframe pages and dialogs, which need a page JWT with a qsh
//     computed for the request and a user who administers the product;
//   - API: JSON endpoints the pages call with AP.context.getToken() tokens
//     (context qsh only, in the Authorization header), also for product
//     admins only; the organization-wide actions need the product's
//     highest admin level, which the cleanup service asks through the
//     request's cleanup.Authority (authority.go).
//
// Handlers return errors; errors.go holds the one table that maps them to
// HTTP statuses, rendered as an HTML page inside the iframe for pages and
// as JSON for everything else.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/web"
)

// Lifecycle verifies and applies the Connect lifecycle callbacks.
// *connect.Lifecycle implements it.
type Lifecycle interface {
	Installed(r *http.Request, app connect.App) (*connect.Tenant, error)
	Uninstalled(r *http.Request, app connect.App) error
	Enabled(r *http.Request, app connect.App) error
	Disabled(r *http.Request, app connect.App) error
}

// Verifier authenticates requests from the product and from the app's own
// pages. *connect.Verifier implements it.
type Verifier interface {
	Verify(r *http.Request, app connect.App, policy connect.QSHPolicy) (*connect.Auth, error)
}

// AdminChecker reports whether the user administers the tenant's product
// (Jira: ADMINISTER permission; Confluence: the administer operation).
type AdminChecker interface {
	IsAdmin(ctx context.Context, t *connect.Tenant, accountID string) (bool, error)
}

// SystemAdminChecker reports whether the user holds the product's highest
// admin level (Jira: the SYSTEM_ADMIN global permission; Confluence: site
// administrator), which organization-wide actions need. Config.Admin may
// implement it; if it does not, nobody may take those actions.
type SystemAdminChecker interface {
	IsSystemAdmin(ctx context.Context, t *connect.Tenant, accountID string) (bool, error)
}

// Readiness checks that the app can serve: its database answers and its
// schema is migrated (*store.Store).
type Readiness interface {
	Ready(ctx context.Context) error
}

// Config holds everything the server needs. Apps, Descriptors, Lifecycle,
// Verifier, Admin and Health are required.
type Config struct {
	// BaseURL is the public URL of the backend (scheme and host, no path).
	BaseURL string
	// Apps are the Connect apps served, one per product; each is routed
	// under "/{product}".
	Apps []connect.App
	// Descriptors holds the rendered descriptor JSON of each app.
	Descriptors map[connect.Product][]byte

	Lifecycle Lifecycle
	Verifier  Verifier
	// Admin answers the admin checks; when it also implements
	// SystemAdminChecker, the check of the highest admin level.
	Admin AdminChecker
	// Health answers GET /readyz; GET /healthz is liveness only.
	Health Readiness

	// HostScriptURL is the URL of Atlassian's all.js (or a local bridge in
	// tests and the demo).
	HostScriptURL string
	// FrameAncestors are the origins allowed to frame pages, for example
	// "https://*.atlassian.net". 'self' is always allowed.
	FrameAncestors []string
	// MaxBodyBytes limits request bodies (default 1 MiB).
	MaxBodyBytes int64
	// AdminCacheTTL and AdminCacheSize bound the admin-check cache
	// (defaults 60 s and 10,000 entries).
	AdminCacheTTL  time.Duration
	AdminCacheSize int

	// Exports lists and serves the runs' export files (*store.Store); nil
	// leaves the export and download routes out.
	Exports Exports
	// DownloadKey signs download links; required with Exports. Derive it
	// from the encryption key with DeriveDownloadKey.
	DownloadKey []byte

	// Cleanup is the cleanup domain behind the JSON API (settings, groups,
	// cleanups, runs, the Microsoft Entra ID connection, mapping and
	// follow-ups: *cleanup.Service); nil leaves those routes out.
	Cleanup CleanupService

	// Snapshots is the licence snapshot behind the dashboard and the users
	// screen (*cleanup.Snapshots); nil leaves their API routes out.
	Snapshots SnapshotService

	// Forge authenticates Forge Invocation Tokens (Connect on Forge) on
	// the API routes of apps it is enabled for (*connect.FITVerifier);
	// nil: Connect context JWTs only.
	Forge ForgeAuthenticator

	// Metrics records requests by route, refused tokens and lifecycle
	// callbacks (metrics.go); nil: none.
	Metrics Metrics

	Logger *slog.Logger     // nil: discard
	Now    func() time.Time // nil: time.Now
}

// Server is the HTTP handler of the app.
type Server struct {
	echo           *echo.Echo
	cfg            Config
	log            *slog.Logger
	now            func() time.Time
	pages          *renderer
	admins         *adminCache
	secHeaders     []fixedHeader // on every response
	noStoreHeaders []fixedHeader
	https          bool
	metrics        *routeMetrics // nil without Config.Metrics
}

// New validates cfg and builds the server with all routes.
func New(cfg Config) (*Server, error) {
	if cfg.Lifecycle == nil || cfg.Verifier == nil || cfg.Admin == nil || cfg.Health == nil {
		return nil, errors.New("server: Lifecycle, Verifier, Admin and Health are required")
	}
	if len(cfg.Apps) == 0 {
		return nil, errors.New("server: no apps configured")
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("server: invalid BaseURL %q", cfg.BaseURL)
	}
	for _, app := range cfg.Apps {
		if app.Product != connect.Jira && app.Product != connect.Confluence {
			return nil, fmt.Errorf("server: unsupported product %q", app.Product)
		}
		if len(cfg.Descriptors[app.Product]) == 0 {
			return nil, fmt.Errorf("server: no descriptor for %s", app.Product)
		}
	}
	if cfg.HostScriptURL == "" {
		return nil, errors.New("server: HostScriptURL is required")
	}
	if err := checkExportsConfig(cfg); err != nil {
		return nil, err
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	assets, err := newAssetSet(web.FS(), web.StaticDir)
	if err != nil {
		return nil, err
	}
	pages, err := newRenderer(web.FS(), assets, cfg.Apps, cfg.HostScriptURL)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:    cfg,
		log:    log,
		now:    now,
		pages:  pages,
		admins: newAdminCache(cfg.Admin, cfg.AdminCacheTTL, cfg.AdminCacheSize, now),
		https:  base.Scheme == "https",
	}
	s.secHeaders = fixedHeaders(securityHeaders(cfg.HostScriptURL, cfg.FrameAncestors, s.https))
	s.noStoreHeaders = noStoreHeaders()

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.handleError
	s.echo = e
	s.routes(e)
	if cfg.Metrics != nil {
		s.metrics = newRouteMetrics(cfg.Metrics, e.Routes())
	}
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }
