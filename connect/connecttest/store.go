// Package connecttest provides test doubles for the connect package: an
// in-memory TenantStore, a fake Atlassian install-keys server that performs
// signed installs against an app, and helpers that mint the HS256 tokens a
// product sends (page tokens with a computed qsh, context tokens). It is a
// normal package so tests of other packages and the demo command can use
// it; it never talks to Atlassian.
package connecttest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/example/usercleanup/connect"
)

// MemoryStore is a connect.TenantStore in memory, safe for concurrent use.
// It stores and returns copies, so callers cannot change stored tenants
// behind its back.
type MemoryStore struct {
	mu      sync.Mutex
	tenants map[string]connect.Tenant
}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{tenants: map[string]connect.Tenant{}}
}

var _ connect.TenantStore = (*MemoryStore)(nil)

func copyTenant(t connect.Tenant) *connect.Tenant {
	t.Payload = slices.Clone(t.Payload)
	return &t
}

// GetTenant implements connect.TenantStore.
func (s *MemoryStore) GetTenant(ctx context.Context, clientKey string) (*connect.Tenant, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tenants[clientKey]
	if !ok {
		return nil, fmt.Errorf("%w: %q", connect.ErrUnknownTenant, clientKey)
	}
	return copyTenant(t), nil
}

// SaveTenant implements connect.TenantStore.
func (s *MemoryStore) SaveTenant(ctx context.Context, t *connect.Tenant) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if t == nil || t.ClientKey == "" {
		return fmt.Errorf("connecttest: tenant without clientKey")
	}
	c := copyTenant(*t)
	c.UninstalledAt = time.Time{}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenants[t.ClientKey] = *c
	return nil
}

// MarkUninstalled implements connect.TenantStore.
func (s *MemoryStore) MarkUninstalled(ctx context.Context, clientKey string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tenants[clientKey]
	if !ok {
		return fmt.Errorf("%w: %q", connect.ErrUnknownTenant, clientKey)
	}
	t.UninstalledAt = at
	t.Enabled = false
	t.SharedSecret = "" // forgotten: a re-install brings a new one
	s.tenants[clientKey] = t
	return nil
}

// SetEnabled implements connect.TenantStore. An uninstalled tenant is left
// unchanged and ErrTenantUninstalled returned.
func (s *MemoryStore) SetEnabled(ctx context.Context, clientKey string, enabled bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tenants[clientKey]
	if !ok {
		return fmt.Errorf("%w: %q", connect.ErrUnknownTenant, clientKey)
	}
	if !t.Installed() {
		return connect.ErrTenantUninstalled
	}
	t.Enabled = enabled
	s.tenants[clientKey] = t
	return nil
}

// Tenants returns copies of all stored tenants, ordered by clientKey.
func (s *MemoryStore) Tenants() []*connect.Tenant {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*connect.Tenant, 0, len(s.tenants))
	for _, t := range s.tenants {
		out = append(out, copyTenant(t))
	}
	slices.SortFunc(out, func(a, b *connect.Tenant) int {
		switch {
		case a.ClientKey < b.ClientKey:
			return -1
		case a.ClientKey > b.ClientKey:
			return 1
		}
		return 0
	})
	return out
}
