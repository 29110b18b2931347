package atlassian

import (
	"crypto/sha256"
	"sync"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/cleanup"
)

// Clients hands out one Site per installation and one Org per
// organization, so the concurrency bound and the rate-limit pacing of a
// tenant are shared by every job that talks to it. A client is replaced
// when the installation's base URL or secret, or the organization's API
// key, changes. The zero value is not usable; call NewClients.
type Clients struct {
	o     Options
	mu    sync.Mutex
	sites map[string]siteEntry // by clientKey
	orgs  map[string]orgEntry  // by org ID
}

type siteEntry struct {
	fingerprint [32]byte
	site        *Site
}

type orgEntry struct {
	fingerprint [32]byte
	org         *Org
}

// NewClients returns a client cache whose clients use o.
func NewClients(o Options) *Clients {
	return &Clients{o: o, sites: map[string]siteEntry{}, orgs: map[string]orgEntry{}}
}

// fingerprint hashes the parts of a credential that make a client
// different; secrets are only kept as a hash.
func fingerprint(parts ...string) [32]byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// Site returns the client of the installation.
func (c *Clients) Site(t *connect.Tenant) (*Site, error) {
	if t == nil {
		return nil, cleanup.Invalid("tenant", "no tenant")
	}
	fp := fingerprint(t.AppKey, t.BaseURL, string(t.ProductType), t.CloudID, t.SharedSecret.Reveal())
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.sites[t.ClientKey]; ok && e.fingerprint == fp {
		return e.site, nil
	}
	s, err := NewSite(t, t.AppKey, c.o)
	if err != nil {
		return nil, err
	}
	c.sites[t.ClientKey] = siteEntry{fp, s}
	return s, nil
}

// Org returns the client of the organization.
func (c *Clients) Org(creds cleanup.OrgCredentials) (*Org, error) {
	fp := fingerprint(creds.OrgID, creds.APIKey)
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.orgs[creds.OrgID]; ok && e.fingerprint == fp {
		return e.org, nil
	}
	g, err := NewOrg(creds, c.o)
	if err != nil {
		return nil, err
	}
	c.orgs[creds.OrgID] = orgEntry{fp, g}
	return g, nil
}

// newOrg returns a client of the credentials that is not cached.
func (c *Clients) newOrg(creds cleanup.OrgCredentials) (*Org, error) {
	return NewOrg(creds, c.o)
}
