package store

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"

	"github.com/example/usercleanup/connect"
)

var _ connect.InstallationStore = (*Store)(nil)

// maxTenantsPerCloud bounds TenantsByCloudID: a site has one tenant per
// app, plus a few uninstalled ones after restores.
const maxTenantsPerCloud = 50

// TenantByInstallationID implements connect.InstallationStore: among the
// tenants with the Forge installation id, an installed one wins, then the
// latest install.
func (s *Store) TenantByInstallationID(ctx context.Context, installationID string) (*connect.Tenant, error) {
	if installationID == "" {
		return nil, fmt.Errorf("tenant by installation: %w", connect.ErrUnknownTenant)
	}
	var rows []tenantRow
	err := s.db.WithContext(ctx).Where("installation_id = ?", installationID).
		Order("uninstalled_at IS NOT NULL, installed_at DESC, client_key").Limit(1).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: tenant by installation: %w", err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("tenant by installation: %w", connect.ErrUnknownTenant)
	}
	return s.tenantFromRow(&rows[0])
}

// TenantsByCloudID implements connect.InstallationStore.
func (s *Store) TenantsByCloudID(ctx context.Context, cloudID string) ([]*connect.Tenant, error) {
	if cloudID == "" {
		return nil, nil
	}
	var rows []tenantRow
	err := s.db.WithContext(ctx).Where("cloud_id = ?", cloudID).Order("client_key").
		Limit(maxTenantsPerCloud + 1).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: tenants by cloud id: %w", err)
	}
	if len(rows) > maxTenantsPerCloud {
		return nil, errors.New("store: tenants by cloud id: too many tenants for one site")
	}
	out := make([]*connect.Tenant, 0, len(rows))
	for i := range rows {
		t, err := s.tenantFromRow(&rows[i])
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// SetInstallationID implements connect.InstallationStore: one conditional
// UPDATE binds the tenant only while it has no installation id, so a
// token of another installation (a development environment on the same
// site) can never re-bind it, and two concurrent associations cannot both
// win.
func (s *Store) SetInstallationID(ctx context.Context, clientKey, installationID string) error {
	if installationID == "" {
		return errors.New("store: set installation id: empty id")
	}
	var affected int64
	err := s.changeTenant(ctx, clientKey, func(tx *gorm.DB) error {
		res := tx.Model(&tenantRow{}).Where("client_key = ? AND installation_id = ''", clientKey).
			Updates(map[string]any{"installation_id": installationID, "updated_at": s.now().UTC()})
		affected = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return fmt.Errorf("store: set installation id: %w", err)
	}
	if affected == 0 {
		return fmt.Errorf("set installation id: no unbound tenant %q: %w", clientKey, connect.ErrUnknownTenant)
	}
	return nil
}
