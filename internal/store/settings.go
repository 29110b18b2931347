package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/example/usercleanup/internal/cleanup"
)

// settingsRow is the tenant_settings table.
type settingsRow struct {
	ClientKey         string `gorm:"primaryKey"`
	Settings          string
	OrgAPIKey         string `gorm:"column:org_api_key"`         // sealed by Cipher
	EntraClientSecret string `gorm:"column:entra_client_secret"` // sealed by Cipher
	Version           int64
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

func (settingsRow) TableName() string { return "tenant_settings" }

func orgKeyAAD(clientKey string) string { return "tenant_settings.org_api_key\x00" + clientKey }
func entraSecretAAD(clientKey string) string {
	return "tenant_settings.entra_client_secret\x00" + clientKey
}

func (c *CleanupStore) settingsRow(db *gorm.DB, clientKey string) (settingsRow, bool, error) {
	var row settingsRow
	err := db.Where("client_key = ?", clientKey).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return settingsRow{}, false, nil
	}
	return row, err == nil, err
}

func decodeSettings(row settingsRow, found bool) (cleanup.Settings, error) {
	if !found {
		return cleanup.DefaultSettings(), nil
	}
	s := cleanup.DefaultSettings()
	if err := json.Unmarshal([]byte(row.Settings), &s); err != nil {
		return cleanup.Settings{}, fmt.Errorf("store: decode settings of %s: %w", row.ClientKey, err)
	}
	s.UpdatedAt = row.UpdatedAt.UTC()
	s.Version = row.Version
	return s, nil
}

// Settings implements cleanup.Store: the tenant's settings, or the
// defaults when none are stored.
func (c *CleanupStore) Settings(ctx context.Context, clientKey string) (cleanup.Settings, error) {
	row, found, err := c.settingsRow(c.s.db.WithContext(ctx), clientKey)
	if err != nil {
		return cleanup.Settings{}, fmt.Errorf("store: get settings: %w", err)
	}
	return decodeSettings(row, found)
}

// errSettingsChanged: the stored settings are not at the version the
// change was built on.
var errSettingsChanged = &cleanup.Error{Kind: cleanup.KindConflict, Message: "the settings changed meanwhile"}

// SaveSettings implements cleanup.Store. Credentials are sealed with the
// Cipher, bound to the tenant; the settings JSON never holds one. The
// update is conditional on the version (the row's, or none for a first
// save), so of two changes built on the same version one is refused.
func (c *CleanupStore) SaveSettings(ctx context.Context, clientKey string, s cleanup.Settings, ch cleanup.SecretChanges, ifVersion int64) (cleanup.Settings, error) {
	var out cleanup.Settings
	err := c.s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		row, found, err := c.settingsRow(tx, clientKey)
		if err != nil {
			return err
		}
		if (found && row.Version != ifVersion) || (!found && ifVersion != 0) {
			return errSettingsChanged
		}
		now := c.s.now().UTC()
		if ch.APIKey != nil {
			if row.OrgAPIKey, err = c.seal(ch.APIKey.Reveal(), orgKeyAAD(clientKey)); err != nil {
				return err
			}
		}
		if ch.EntraClientSecret != nil {
			if row.EntraClientSecret, err = c.seal(ch.EntraClientSecret.Reveal(), entraSecretAAD(clientKey)); err != nil {
				return err
			}
		}
		s.UpdatedAt, s.Version = now, 0 // the version lives in its column
		body, err := json.Marshal(s)
		if err != nil {
			return err
		}
		row.Settings = string(body)
		row.UpdatedAt = now
		if !found {
			row.ClientKey, row.CreatedAt, row.Version = clientKey, now, 1
			if err := tx.Create(&row).Error; err != nil {
				return err
			}
		} else {
			row.Version++
			res := tx.Model(&settingsRow{}).Where("client_key = ? AND version = ?", clientKey, ifVersion).Updates(map[string]any{
				"settings": row.Settings, "org_api_key": row.OrgAPIKey, "entra_client_secret": row.EntraClientSecret,
				"version": row.Version, "updated_at": now,
			})
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected != 1 {
				return errSettingsChanged
			}
		}
		out, err = decodeSettings(row, true)
		return err
	})
	switch {
	case errors.Is(err, gorm.ErrForeignKeyViolated):
		return cleanup.Settings{}, &cleanup.Error{Kind: cleanup.KindNotFound, Message: "the installation is unknown", Err: err}
	case errors.Is(err, gorm.ErrDuplicatedKey):
		// Two first saves at once: the other one won.
		return cleanup.Settings{}, &cleanup.Error{Kind: cleanup.KindConflict, Message: errSettingsChanged.Message, Err: err}
	case cleanup.KindOf(err) == cleanup.KindConflict:
		return cleanup.Settings{}, err
	case err != nil:
		return cleanup.Settings{}, fmt.Errorf("store: save settings: %w", err)
	}
	return out, nil
}

func (c *CleanupStore) seal(plain, aad string) (string, error) {
	if plain == "" {
		return "", nil
	}
	return c.s.cipher.Seal(plain, aad)
}

// Credentials implements cleanup.Store: the decrypted credentials.
func (c *CleanupStore) Credentials(ctx context.Context, clientKey string) (cleanup.Credentials, error) {
	row, found, err := c.settingsRow(c.s.db.WithContext(ctx), clientKey)
	if err != nil {
		return cleanup.Credentials{}, fmt.Errorf("store: get credentials: %w", err)
	}
	if !found {
		return cleanup.Credentials{}, nil
	}
	var cr cleanup.Credentials
	if row.OrgAPIKey != "" {
		k, err := c.s.cipher.Open(row.OrgAPIKey, orgKeyAAD(clientKey))
		if err != nil {
			return cleanup.Credentials{}, fmt.Errorf("store: org API key: %w", err)
		}
		cr.APIKey = cleanup.Secret(k)
	}
	if row.EntraClientSecret != "" {
		k, err := c.s.cipher.Open(row.EntraClientSecret, entraSecretAAD(clientKey))
		if err != nil {
			return cleanup.Credentials{}, fmt.Errorf("store: Entra client secret: %w", err)
		}
		cr.EntraClientSecret = cleanup.Secret(k)
	}
	return cr, nil
}

// MarkAPIKeyVerified implements cleanup.Store.
func (c *CleanupStore) MarkAPIKeyVerified(ctx context.Context, clientKey, orgID string, at time.Time) (cleanup.Settings, error) {
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
		if !found || s.OrgID != orgID || !s.APIKeySet {
			return nil
		}
		at = at.UTC()
		s.APIKeyVerifiedAt = &at
		if err := updateSettingsJSON(tx, clientKey, s); err != nil {
			return err
		}
		s.Version++ // updateSettingsJSON bumped it
		out = s
		return nil
	})
	if err != nil {
		return cleanup.Settings{}, fmt.Errorf("store: mark API key verified: %w", err)
	}
	return out, nil
}

// updateSettingsJSON replaces the tenant's stored settings document (no
// secrets: those live in their own sealed columns) and bumps its version.
func updateSettingsJSON(tx *gorm.DB, clientKey string, s cleanup.Settings) error {
	s.Version = 0 // the version lives in its column
	body, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return tx.Model(&settingsRow{}).Where("client_key = ?", clientKey).
		Updates(map[string]any{"settings": string(body), "version": gorm.Expr("version + 1")}).Error
}
