package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/example/usercleanup/connect"
)

// tenantRow is the tenants table. It never leaves this package.
type tenantRow struct {
	ID             int64
	ClientKey      string
	AppKey         string
	ProductType    string
	BaseURL        string `gorm:"column:base_url"`
	DisplayURL     string `gorm:"column:display_url"`
	SharedSecret   string // sealed by Cipher
	InstallationID string
	CloudID        string
	Payload        string
	Enabled        bool
	InstalledAt    time.Time
	UninstalledAt  *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

func (tenantRow) TableName() string { return "tenants" }

// secretAAD binds a sealed shared secret to its tenant.
func secretAAD(clientKey string) string { return "tenants.shared_secret\x00" + clientKey }

var _ connect.TenantStore = (*Store)(nil)

// GetTenant implements connect.TenantStore. Tenants that exist are served
// from memory (tenantcache.go); an unknown client key is never cached.
// The tenant's Payload is shared with the cache: do not modify its bytes.
func (s *Store) GetTenant(ctx context.Context, clientKey string) (*connect.Tenant, error) {
	if t, ok := s.tenants.get(clientKey); ok {
		return t, nil
	}
	gen := s.tenants.begin()
	var row tenantRow
	err := s.db.WithContext(ctx).Where("client_key = ?", clientKey).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fmt.Errorf("get tenant: %w", connect.ErrUnknownTenant)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get tenant: %w", err)
	}
	t, err := s.tenantFromRow(&row)
	if err != nil {
		return nil, err
	}
	if s.afterTenantRead != nil {
		s.afterTenantRead(clientKey)
	}
	s.tenants.fill(t, gen)
	return t, nil
}

// tenantFromRow opens the row's sealed secret and converts it. An
// uninstalled tenant has none (MarkUninstalled erased it).
func (s *Store) tenantFromRow(row *tenantRow) (*connect.Tenant, error) {
	var secret string
	if row.SharedSecret != "" {
		var err error
		if secret, err = s.cipher.Open(row.SharedSecret, secretAAD(row.ClientKey)); err != nil {
			return nil, fmt.Errorf("store: tenant shared secret: %w", err)
		}
	}
	t := &connect.Tenant{
		ClientKey:      row.ClientKey,
		AppKey:         row.AppKey,
		ProductType:    connect.Product(row.ProductType),
		BaseURL:        row.BaseURL,
		DisplayURL:     row.DisplayURL,
		SharedSecret:   connect.Secret(secret),
		InstallationID: row.InstallationID,
		CloudID:        row.CloudID,
		Payload:        []byte(row.Payload),
		Enabled:        row.Enabled,
		InstalledAt:    row.InstalledAt.UTC(),
	}
	if row.UninstalledAt != nil {
		t.UninstalledAt = row.UninstalledAt.UTC()
	}
	return t, nil
}

// SaveTenant implements connect.TenantStore: one INSERT ... ON CONFLICT
// statement inserts the tenant or replaces every field of an existing one
// (keeping its creation time) and clears UninstalledAt.
func (s *Store) SaveTenant(ctx context.Context, t *connect.Tenant) error {
	if t == nil || t.ClientKey == "" {
		return errors.New("store: save tenant: no clientKey")
	}
	if t.SharedSecret == "" {
		return errors.New("store: save tenant: no shared secret")
	}
	sealed, err := s.cipher.Seal(t.SharedSecret.Reveal(), secretAAD(t.ClientKey))
	if err != nil {
		return err
	}
	now := s.now().UTC()
	installedAt := t.InstalledAt.UTC()
	if t.InstalledAt.IsZero() {
		installedAt = now
	}
	// The lifecycle already dropped the shared secret from the payload;
	// the store makes sure no caller can keep it in clear.
	payload := keptPayload(t.Payload)
	row := tenantRow{
		ClientKey:      t.ClientKey,
		AppKey:         t.AppKey,
		ProductType:    string(t.ProductType),
		BaseURL:        t.BaseURL,
		DisplayURL:     t.DisplayURL,
		SharedSecret:   sealed,
		InstallationID: t.InstallationID,
		CloudID:        t.CloudID,
		Payload:        payload,
		Enabled:        t.Enabled,
		InstalledAt:    installedAt,
		CreatedAt:      now,
		UpdatedAt:      now,
	}
	err = s.changeTenant(ctx, t.ClientKey, func(tx *gorm.DB) error {
		return tx.Omit("ID").Clauses(clause.OnConflict{
			Columns: []clause.Column{{Name: "client_key"}},
			DoUpdates: clause.AssignmentColumns([]string{
				"app_key", "product_type", "base_url", "display_url", "shared_secret",
				"installation_id", "cloud_id", "payload", "enabled", "installed_at",
				"uninstalled_at", "updated_at",
			}),
		}).Create(&row).Error
	})
	if err != nil {
		return fmt.Errorf("store: save tenant: %w", err)
	}
	return nil
}

// MarkUninstalled implements connect.TenantStore. The tenant row is kept
// (a later signed install revives it) but its shared secret is erased in
// the same statement: no token for it verifies while it is uninstalled.
func (s *Store) MarkUninstalled(ctx context.Context, clientKey string, at time.Time) error {
	at = at.UTC()
	var affected int64
	err := s.changeTenant(ctx, clientKey, func(tx *gorm.DB) error {
		res := tx.Model(&tenantRow{}).Where("client_key = ?", clientKey).
			Updates(map[string]any{
				// A repeated uninstall keeps the first time: the retention
				// period counts from it.
				"uninstalled_at": gorm.Expr("COALESCE(uninstalled_at, ?)", at),
				"enabled":        false, "shared_secret": "", "updated_at": s.now().UTC(),
			})
		affected = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return fmt.Errorf("store: mark tenant uninstalled: %w", err)
	}
	if affected == 0 {
		return fmt.Errorf("mark tenant uninstalled: %w", connect.ErrUnknownTenant)
	}
	return nil
}

// SetEnabled implements connect.TenantStore. The update is conditional on
// the tenant being installed, so an uninstall that races with a disabled
// event always wins.
func (s *Store) SetEnabled(ctx context.Context, clientKey string, enabled bool) error {
	var affected int64
	err := s.changeTenant(ctx, clientKey, func(tx *gorm.DB) error {
		res := tx.Model(&tenantRow{}).Where("client_key = ? AND uninstalled_at IS NULL", clientKey).
			Updates(map[string]any{"enabled": enabled, "updated_at": s.now().UTC()})
		affected = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return fmt.Errorf("store: set tenant enabled: %w", err)
	}
	if affected > 0 {
		return nil
	}
	var n int64
	if err := s.db.WithContext(ctx).Model(&tenantRow{}).Where("client_key = ?", clientKey).Count(&n).Error; err != nil {
		return fmt.Errorf("store: set tenant enabled: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("set tenant enabled: %w", connect.ErrUnknownTenant)
	}
	return fmt.Errorf("set tenant enabled: %w", connect.ErrTenantUninstalled)
}
