package server

import (
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/example/usercleanup/connect"
)

// adminCache remembers admin-check results per tenant, account and level
// (product admin, or the product's highest admin level) for a short time,
// so every page load and API call does not cost a product request. It is
// bounded: the least recently used entry goes first. Errors are not
// cached.
type adminCache struct {
	check AdminChecker
	sys   SystemAdminChecker // nil: nobody holds the highest level
	ttl   time.Duration
	size  int
	now   func() time.Time

	mu      sync.Mutex
	entries map[adminKey]*list.Element
	order   *list.List // front: most recently used; values are *adminEntry
}

type adminKey struct {
	clientKey, accountID string
	system               bool // the highest admin level, not the product admin check
}

type adminEntry struct {
	key     adminKey
	admin   bool
	expires time.Time
}

func newAdminCache(check AdminChecker, ttl time.Duration, size int, now func() time.Time) *adminCache {
	if ttl <= 0 {
		ttl = 60 * time.Second
	}
	if size <= 0 {
		size = 10000
	}
	sys, _ := check.(SystemAdminChecker)
	return &adminCache{check: check, sys: sys, ttl: ttl, size: size, now: now,
		entries: make(map[adminKey]*list.Element), order: list.New()}
}

// IsAdmin returns the cached answer or asks the checker.
func (c *adminCache) IsAdmin(ctx context.Context, t *connect.Tenant, accountID string) (bool, error) {
	return c.lookup(ctx, adminKey{t.ClientKey, accountID, false}, func() (bool, error) {
		return c.check.IsAdmin(ctx, t, accountID)
	})
}

// IsSystemAdmin returns the cached answer to whether the account holds the
// product's highest admin level, or asks the checker (the same product
// client as IsAdmin). Without a SystemAdminChecker nobody does.
func (c *adminCache) IsSystemAdmin(ctx context.Context, t *connect.Tenant, accountID string) (bool, error) {
	if c.sys == nil {
		return false, nil
	}
	return c.lookup(ctx, adminKey{t.ClientKey, accountID, true}, func() (bool, error) {
		return c.sys.IsSystemAdmin(ctx, t, accountID)
	})
}

func (c *adminCache) lookup(ctx context.Context, k adminKey, ask func() (bool, error)) (bool, error) {
	now := c.now()
	c.mu.Lock()
	if el, ok := c.entries[k]; ok {
		e := el.Value.(*adminEntry)
		if now.Before(e.expires) {
			c.order.MoveToFront(el)
			c.mu.Unlock()
			return e.admin, nil
		}
		c.order.Remove(el)
		delete(c.entries, k)
	}
	c.mu.Unlock()

	admin, err := ask()
	if err != nil {
		return false, err
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[k]; ok { // filled concurrently
		c.order.Remove(el)
		delete(c.entries, k)
	}
	for c.order.Len() >= c.size {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.entries, oldest.Value.(*adminEntry).key)
	}
	c.entries[k] = c.order.PushFront(&adminEntry{key: k, admin: admin, expires: now.Add(c.ttl)})
	return admin, nil
}

// Forget drops every entry of the tenant (after a reinstall).
func (c *adminCache) Forget(clientKey string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, el := range c.entries {
		if k.clientKey == clientKey {
			c.order.Remove(el)
			delete(c.entries, k)
		}
	}
}

// Len returns the number of cached entries.
func (c *adminCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
