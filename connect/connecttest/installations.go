package connecttest

import (
	"context"
	"fmt"

	"github.com/example/usercleanup/connect"
)

var _ connect.InstallationStore = (*MemoryStore)(nil)

// TenantByInstallationID implements connect.InstallationStore: an
// installed tenant wins over uninstalled ones, then the latest install.
func (s *MemoryStore) TenantByInstallationID(ctx context.Context, installationID string) (*connect.Tenant, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if installationID == "" {
		return nil, fmt.Errorf("%w: no installation id", connect.ErrUnknownTenant)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var best *connect.Tenant
	for _, t := range s.tenants {
		if t.InstallationID != installationID {
			continue
		}
		if best == nil || better(&t, best) {
			best = copyTenant(t)
		}
	}
	if best == nil {
		return nil, fmt.Errorf("%w: installation %q", connect.ErrUnknownTenant, installationID)
	}
	return best, nil
}

// better orders tenants sharing an installation id: installed first, then
// the most recent install, then clientKey for determinism.
func better(a, b *connect.Tenant) bool {
	if a.Installed() != b.Installed() {
		return a.Installed()
	}
	if !a.InstalledAt.Equal(b.InstalledAt) {
		return a.InstalledAt.After(b.InstalledAt)
	}
	return a.ClientKey < b.ClientKey
}

// TenantsByCloudID implements connect.InstallationStore.
func (s *MemoryStore) TenantsByCloudID(ctx context.Context, cloudID string) ([]*connect.Tenant, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []*connect.Tenant
	if cloudID == "" {
		return out, nil
	}
	for _, t := range s.Tenants() {
		if t.CloudID == cloudID {
			out = append(out, t)
		}
	}
	return out, nil
}

// SetInstallationID implements connect.InstallationStore.
func (s *MemoryStore) SetInstallationID(ctx context.Context, clientKey, installationID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tenants[clientKey]
	if !ok {
		return fmt.Errorf("%w: %q", connect.ErrUnknownTenant, clientKey)
	}
	if t.InstallationID != "" {
		return fmt.Errorf("%w: %q is bound to an installation already", connect.ErrUnknownTenant, clientKey)
	}
	t.InstallationID = installationID
	s.tenants[clientKey] = t
	return nil
}
