package main

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/example/usercleanup/internal/atlassian"
	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/entra"
)

// graphConfig holds the Microsoft Graph endpoints (GRAPH_API_URL,
// GRAPH_LOGIN_URL); sovereign clouds and tests change them.
type graphConfig struct {
	APIURL   string
	LoginURL string
}

// loadGraphConfig reads GRAPH_API_URL and GRAPH_LOGIN_URL (https base URLs,
// defaults Microsoft's global cloud).
func loadGraphConfig(getenv func(string) string) (graphConfig, configErrors) {
	var errs configErrors
	c := graphConfig{APIURL: entra.DefaultGraphURL, LoginURL: entra.DefaultLoginURL}
	for _, v := range []struct {
		name string
		dst  *string
	}{{"GRAPH_API_URL", &c.APIURL}, {"GRAPH_LOGIN_URL", &c.LoginURL}} {
		raw := strings.TrimSpace(getenv(v.name))
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			errs = append(errs, badVar(v.name, "must be an https base URL without credentials, query or fragment"))
			continue
		}
		*v.dst = strings.TrimRight(u.String(), "/")
	}
	return c, errs
}

// graphClients builds and caches Microsoft Graph clients, one per app
// registration and secret: the token cache and the client-side write limit
// (Graph's quota is per application and tenant) are then shared by every
// job of a tenant. A changed secret gives a new client.
type graphClients struct {
	cfg  graphConfig
	http *http.Client
	log  *slog.Logger

	mu      sync.Mutex
	clients map[string]graphEntry // by tenant and client id
}

type graphEntry struct {
	fingerprint [32]byte // of the secret: a new secret replaces the client
	client      *entra.Client
}

func newGraphClients(cfg graphConfig, hc *http.Client, log *slog.Logger) *graphClients {
	return &graphClients{cfg: cfg, http: hc, log: log, clients: map[string]graphEntry{}}
}

var _ atlassian.IdPFactory = (*graphClients)(nil).IdP

// IdP implements atlassian.IdPFactory.
func (g *graphClients) IdP(ctx context.Context, tenantID, clientID string, secret cleanup.Secret) (cleanup.IdentityProvider, error) {
	key := tenantID + "\x00" + clientID
	fp := sha256.Sum256([]byte(secret.Reveal()))
	g.mu.Lock()
	defer g.mu.Unlock()
	if e, ok := g.clients[key]; ok && e.fingerprint == fp {
		return e.client, nil
	}
	c, err := g.build(ctx, tenantID, clientID, secret)
	if err != nil {
		return nil, err
	}
	g.clients[key] = graphEntry{fp, c}
	return c, nil
}

var _ atlassian.IdPFactory = (*graphClients)(nil).Uncached

// Uncached implements atlassian.IdPFactory for connection tests of typed
// values: a client of its own, not kept, so a wrong secret being tried
// never replaces the working client of the tenant's jobs.
func (g *graphClients) Uncached(ctx context.Context, tenantID, clientID string, secret cleanup.Secret) (cleanup.IdentityProvider, error) {
	return g.build(ctx, tenantID, clientID, secret)
}

func (g *graphClients) build(ctx context.Context, tenantID, clientID string, secret cleanup.Secret) (*entra.Client, error) {
	return entra.New(ctx, entra.Config{
		TenantID: tenantID, ClientID: clientID, ClientSecret: secret.Reveal(),
		GraphURL: g.cfg.APIURL, LoginURL: g.cfg.LoginURL,
		HTTPClient: g.http, Logger: g.log,
	})
}
