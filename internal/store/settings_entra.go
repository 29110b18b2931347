package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/example/usercleanup/internal/cleanup"
)

// MarkEntraTested implements cleanup.Store.
func (c *CleanupStore) MarkEntraTested(ctx context.Context, clientKey, tenantID, clientID string, at time.Time, failure string) (cleanup.Settings, error) {
	var out cleanup.Settings
	err := c.s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		row, found, err := c.settingsRow(tx, clientKey)
		if err != nil {
			return err
		}
		s, err := decodeSettings(row, found)
		if err != nil {
			return err
		}
		out = s
		e := &s.IdentityProvider.Entra
		if !found || e.TenantID != tenantID || e.ClientID != clientID || !e.SecretSet {
			return nil
		}
		if failure == "" {
			at = at.UTC()
			e.VerifiedAt, e.LastTestNote = &at, ""
		} else {
			e.VerifiedAt, e.LastTestNote = nil, failure
		}
		if err := updateSettingsJSON(tx, clientKey, s); err != nil {
			return err
		}
		s.Version++ // updateSettingsJSON bumped it
		out = s
		return nil
	})
	if err != nil {
		return cleanup.Settings{}, fmt.Errorf("store: mark Entra connection tested: %w", err)
	}
	return out, nil
}
