package store

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"github.com/example/usercleanup/connect"
)

// scrubBatch is how many tenant rows the payload scrub reads at a time.
const scrubBatch = 500

// migrationScrubPayloads is schema version 7: the install payloads that
// versions before it kept verbatim held the tenant's shared secret in
// clear, next to its encrypted copy. The migration rewrites every kept
// payload without it (connect.ScrubInstallPayload); a payload that is not
// a JSON object is replaced by "{}". On SQLite the connections run with
// secure_delete, so the old row content is zeroed in the database file,
// and the write-ahead log that still holds it is checkpointed and
// truncated once the migration is committed (see Open).
func migrationScrubPayloads() Migration {
	return Migration{Version: 7, Name: "scrub shared secrets from kept install payloads", Apply: scrubPayloads}
}

func scrubPayloads(ctx context.Context, tx *gorm.DB, _ Driver) error {
	var lastID int64
	for {
		var rows []tenantRow
		if err := tx.WithContext(ctx).Select("id", "payload").Where("id > ?", lastID).Order("id").
			Limit(scrubBatch).Find(&rows).Error; err != nil {
			return fmt.Errorf("read payloads: %w", err)
		}
		for _, r := range rows {
			kept := keptPayload([]byte(r.Payload))
			if kept == r.Payload {
				continue
			}
			if err := tx.WithContext(ctx).Model(&tenantRow{}).Where("id = ?", r.ID).
				Update("payload", kept).Error; err != nil {
				return fmt.Errorf("scrub payload of tenant row %d: %w", r.ID, err)
			}
		}
		if len(rows) < scrubBatch {
			return nil
		}
		lastID = rows[len(rows)-1].ID
	}
}

// keptPayload is the form of an install payload the store keeps: without
// the shared secret, and "{}" for anything that is not a JSON object.
func keptPayload(payload []byte) string {
	if len(payload) == 0 {
		return "{}"
	}
	kept, err := connect.ScrubInstallPayload(payload)
	if err != nil {
		return "{}"
	}
	return string(kept)
}
