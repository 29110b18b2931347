package store

import (
	"sync"
	"time"

	"github.com/example/usercleanup/connect"
)

// Tenant cache bounds. Every authenticated request looks its tenant up
// (connect.Verifier → GetTenant), so installed tenants are served from
// memory.
const (
	// tenantCacheTTLLocal bounds how long an entry is trusted where no
	// other instance can tell this one about a change (SQLite, or
	// PostgreSQL before its listener is up): another process on the same
	// database sees an uninstall, re-install or disable within this time.
	tenantCacheTTLLocal = 2 * time.Second
	// tenantCacheTTLListening bounds an entry on PostgreSQL while the
	// LISTEN connection is up and every change arrives as a notification;
	// it only limits the damage of a notification lost in a way the
	// listener could not notice.
	tenantCacheTTLListening = time.Minute
	// tenantCacheSize bounds the entries: only tenants that exist are
	// cached (an unknown issuer never is), so this is the number of
	// installations served at once, not the tokens anyone can send.
	tenantCacheSize = 10000
)

// tenantCache holds verified tenants by client key.
//
// Consistency: every method of the store that changes a tenants row
// invalidates the entry after its transaction committed (changeTenant), and
// on PostgreSQL the same transaction notifies the other instances.
// A lookup that missed reads the row and fills the entry only if no
// invalidation happened since it started (the generation counter): a
// refill that read the row before a change and finishes after the change
// was invalidated would otherwise put the stale row back, and a stale
// entry holds a shared secret that should no longer verify.
type tenantCache struct {
	now func() time.Time // monotonic clock of the entries, not the domain's

	mu      sync.RWMutex
	gen     uint64 // incremented by every invalidation and flush
	ttl     time.Duration
	entries map[string]tenantEntry
}

type tenantEntry struct {
	tenant  connect.Tenant
	expires time.Time
}

func newTenantCache(ttl time.Duration) *tenantCache {
	return &tenantCache{now: time.Now, ttl: ttl, entries: make(map[string]tenantEntry)}
}

// get returns a copy of the cached tenant. The copy shares Payload with
// the entry: callers must not modify its bytes.
func (c *tenantCache) get(clientKey string) (*connect.Tenant, bool) {
	c.mu.RLock()
	e, ok := c.entries[clientKey]
	c.mu.RUnlock()
	if !ok || !c.now().Before(e.expires) {
		return nil, false
	}
	t := e.tenant
	return &t, true
}

// begin starts a refill: it returns the generation to pass to fill.
func (c *tenantCache) begin() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// fill caches t if nothing was invalidated since begin returned gen.
func (c *tenantCache) fill(t *connect.Tenant, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if _, ok := c.entries[t.ClientKey]; !ok && len(c.entries) >= tenantCacheSize {
		// Full: drop one entry (an arbitrary one: map order), so a
		// burst of installations cannot grow memory without bound.
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	cp := *t
	c.entries[t.ClientKey] = tenantEntry{tenant: cp, expires: c.now().Add(c.ttl)}
}

// invalidate forgets the tenant and voids refills under way.
func (c *tenantCache) invalidate(clientKey string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.entries, clientKey)
}

// setTTL empties the cache, voids refills under way and sets the TTL of
// new entries: the PostgreSQL listener sets the long one once it listens
// (what was cached before may be stale) and the short one when its
// connection is lost (changes may go unnoticed until it is back).
func (c *tenantCache) setTTL(ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.entries)
	c.ttl = ttl
}

// len returns the number of entries.
func (c *tenantCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
