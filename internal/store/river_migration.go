package store

import (
	"context"
	"fmt"

	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"gorm.io/gorm"
)

// riverSplitVersion is the last River schema version applied by the first
// River migration. On PostgreSQL River's version 4 adds an enum value that
// version 6 uses, and a new enum value cannot be used in the transaction
// that added it, so River's versions are applied in two of our migrations
// (each is one transaction).
const riverSplitVersion = 4

// migrationRiver returns schema versions 4 and 5: the job queue's tables
// (River), applied with rivermigrate inside our migrations' transactions.
// River records its own versions in river_migration, so a later River
// upgrade adds a migration here that migrates up again and applies only
// River's new versions.
func migrationRiver() []Migration {
	return []Migration{
		{Version: 4, Name: "river job queue (river 1-4)", Apply: riverMigrate(riverSplitVersion)},
		{Version: 5, Name: "river job queue (river 5-8)", Apply: riverMigrate(0)},
	}
}

// riverMigrate migrates River's schema up to target (0: latest) in tx.
// River deprecates MigrateTx because some of its migrations cannot share a
// transaction (on PostgreSQL one adds an enum value that the next uses);
// we keep it, so River's tables are versioned and locked with ours, and
// split River's history at that boundary into two of our migrations.
func riverMigrate(target int) func(ctx context.Context, tx *gorm.DB, d Driver) error {
	return func(ctx context.Context, tx *gorm.DB, d Driver) error {
		stx, err := sqlTx(tx)
		if err != nil {
			return err
		}
		opts := &rivermigrate.MigrateOpts{TargetVersion: target}
		switch d {
		case SQLite:
			m, err := rivermigrate.New(riversqlite.New(nil), nil)
			if err != nil {
				return err
			}
			_, err = m.MigrateTx(ctx, stx, rivermigrate.DirectionUp, opts)
			return err
		case Postgres:
			m, err := rivermigrate.New(riverdatabasesql.New(nil), nil)
			if err != nil {
				return err
			}
			_, err = m.MigrateTx(ctx, stx, rivermigrate.DirectionUp, opts)
			return err
		}
		return fmt.Errorf("store: no River migration for driver %q", d)
	}
}
