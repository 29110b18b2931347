package store

import (
	"context"
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// Migration is one versioned schema change. Exactly one of the SQL pair or
// Apply is used: SQLite/Postgres hold the statements for each dialect
// (separated by semicolons; the same text may be given twice when the
// dialects agree), Apply runs Go code inside the migration's transaction.
type Migration struct {
	Version  int    // unique, increasing; never reuse or renumber
	Name     string // short description, recorded in schema_migrations
	SQLite   string
	Postgres string
	Apply    func(ctx context.Context, tx *gorm.DB, d Driver) error
}

// migrationLockKey is the first half of the PostgreSQL advisory lock key;
// the second half is a hash of the current schema, so apps sharing a
// database in different schemas do not wait on each other.
const migrationLockKey = 0x75636c6e // "ucln"

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version INTEGER PRIMARY KEY,
	name TEXT NOT NULL,
	applied_at TIMESTAMP NOT NULL
)`

// migrate applies every migration not yet recorded in schema_migrations,
// in order, each in its own transaction.
func (s *Store) migrate(ctx context.Context, list []Migration) error {
	if err := validateMigrations(list); err != nil {
		return err
	}
	db := s.db.WithContext(ctx)
	if err := db.Transaction(func(tx *gorm.DB) error {
		if err := s.lock(tx); err != nil {
			return err
		}
		return tx.Exec(createMigrationsTable).Error
	}); err != nil {
		return fmt.Errorf("store: create schema_migrations: %w", err)
	}
	applied := 0
	for _, m := range list {
		done := false
		err := db.Transaction(func(tx *gorm.DB) error {
			if err := s.lock(tx); err != nil {
				return err
			}
			var n int64
			if err := tx.Raw(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n).Error; err != nil {
				return err
			}
			if n > 0 {
				done = true
				return nil
			}
			if err := s.applyMigration(ctx, tx, m); err != nil {
				return err
			}
			return tx.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.Version, m.Name, s.now().UTC()).Error
		})
		if err != nil {
			return fmt.Errorf("store: migration %d (%s): %w", m.Version, m.Name, err)
		}
		if !done {
			applied++
			s.log.InfoContext(ctx, "applied migration", "version", m.Version, "name", m.Name)
		}
	}
	s.log.DebugContext(ctx, "database schema up to date", "applied", applied, "known", len(list))
	return nil
}

// lock serialises migrations across processes on PostgreSQL for the rest
// of tx. SQLite transactions are already exclusive (_txlock=immediate).
func (s *Store) lock(tx *gorm.DB) error {
	if s.driver != Postgres {
		return nil
	}
	return tx.Exec(`SELECT pg_advisory_xact_lock(?, hashtext(current_schema()))`, migrationLockKey).Error
}

func (s *Store) applyMigration(ctx context.Context, tx *gorm.DB, m Migration) error {
	if m.Apply != nil {
		return m.Apply(ctx, tx, s.driver)
	}
	stmts := m.SQLite
	if s.driver == Postgres {
		stmts = m.Postgres
	}
	for _, stmt := range splitStatements(stmts) {
		if err := tx.Exec(stmt).Error; err != nil {
			return err
		}
	}
	return nil
}

func validateMigrations(list []Migration) error {
	prev := 0
	for _, m := range list {
		if m.Version <= prev {
			return fmt.Errorf("store: migration %d (%s) out of order", m.Version, m.Name)
		}
		prev = m.Version
		if m.Apply == nil && (m.SQLite == "" || m.Postgres == "") {
			return fmt.Errorf("store: migration %d (%s) has no SQL for one dialect", m.Version, m.Name)
		}
	}
	return nil
}

// splitStatements splits a migration script at semicolons that end a line.
// Migrations must not put a statement-ending semicolon mid-line or a
// line-ending semicolon inside a string literal.
func splitStatements(script string) []string {
	var out []string
	start := 0
	for i := 0; i < len(script); i++ {
		if script[i] != ';' {
			continue
		}
		j := i + 1
		for j < len(script) && (script[j] == ' ' || script[j] == '\t' || script[j] == '\r') {
			j++
		}
		if j < len(script) && script[j] != '\n' {
			continue
		}
		if stmt := strings.TrimSpace(script[start:i]); stmt != "" {
			out = append(out, stmt)
		}
		start = i + 1
	}
	if stmt := strings.TrimSpace(script[start:]); stmt != "" {
		out = append(out, stmt)
	}
	return out
}
