// Package store persists the app's data with GORM, on SQLite (the default,
// pure Go, github.com/glebarez/sqlite) or PostgreSQL (gorm.io/driver/postgres).
// It is the only package that imports GORM and the database drivers; the
// rest of the app sees plain types (connect.Tenant and the cleanup domain).
//
// # Schema and migrations
//
// The schema is created by versioned migrations (migrations.go), applied in
// order by Open, each in its own transaction and recorded in the
// schema_migrations table, so every migration runs exactly once per
// database. On PostgreSQL each migration transaction first takes a
// transaction-scoped advisory lock, so several instances starting at once
// apply each migration once and the others wait and then skip it.
//
// To change the schema, append a Migration to the list returned by
// migrations with the next Version. Never edit or reorder a migration that
// has been released: write a new one. Give SQL per dialect where types
// differ (SQLite and PostgreSQL fields), or an Apply function for steps
// that need Go code (it runs inside the migration's transaction).
//
// River keeps its own schema history (table river_migration): run
// rivermigrate's Migrate on Store.SQLDB after Open rather than inside one
// of these migrations, since River documents that some of its migrations
// cannot share a transaction.
//
// # Secrets
//
// Credentials (the tenants' shared secrets, organization API keys and
// Microsoft Entra client secrets) are encrypted at rest with AES-256-GCM
// (see Cipher), each bound to its tenant and column. Each ciphertext names
// the key that sealed it, so keys can be rotated by adding a new current
// key and keeping the old ones for reading. Nothing else holds a secret:
// the kept install payload is stored without its shared secret
// (connect.ScrubInstallPayload; migration 7 scrubbed older rows), and on
// SQLite deleted content is zeroed (secure_delete) and the write-ahead log
// is truncated after migrations.
package store
