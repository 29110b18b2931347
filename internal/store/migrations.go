package store

// migrations returns the schema history, oldest first. Append new
// migrations at the end with the next version number; never change one
// that has been released. See the package documentation.
func migrations() []Migration {
	return append(append([]Migration{
		{
			Version: 1,
			Name:    "tenants",
			SQLite: `
CREATE TABLE tenants (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	client_key TEXT NOT NULL,
	app_key TEXT NOT NULL,
	product_type TEXT NOT NULL,
	base_url TEXT NOT NULL,
	display_url TEXT NOT NULL DEFAULT '',
	shared_secret TEXT NOT NULL,
	installation_id TEXT NOT NULL DEFAULT '',
	cloud_id TEXT NOT NULL DEFAULT '',
	payload TEXT NOT NULL DEFAULT '{}',
	enabled BOOLEAN NOT NULL DEFAULT 0,
	installed_at DATETIME NOT NULL,
	uninstalled_at DATETIME,
	created_at DATETIME NOT NULL,
	updated_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX tenants_client_key ON tenants (client_key);
CREATE INDEX tenants_installation_id ON tenants (installation_id);
CREATE INDEX tenants_cloud_id ON tenants (cloud_id);
`,
			Postgres: `
CREATE TABLE tenants (
	id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	client_key TEXT NOT NULL,
	app_key TEXT NOT NULL,
	product_type TEXT NOT NULL,
	base_url TEXT NOT NULL,
	display_url TEXT NOT NULL DEFAULT '',
	shared_secret TEXT NOT NULL,
	installation_id TEXT NOT NULL DEFAULT '',
	cloud_id TEXT NOT NULL DEFAULT '',
	payload TEXT NOT NULL DEFAULT '{}',
	enabled BOOLEAN NOT NULL DEFAULT FALSE,
	installed_at TIMESTAMPTZ NOT NULL,
	uninstalled_at TIMESTAMPTZ,
	created_at TIMESTAMPTZ NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX tenants_client_key ON tenants (client_key);
CREATE INDEX tenants_installation_id ON tenants (installation_id);
CREATE INDEX tenants_cloud_id ON tenants (cloud_id);
`,
		},
		migrationCleanupTables(),
		migrationExportFiles(),
	}, migrationRiver()...), migrationFollowUps(), migrationScrubPayloads(), migrationWarnings(), migrationEmailRounds(), migrationRestores(),
		migrationSnapshots(), migrationStreamedExports(), migrationPersonalData(), migrationRunUserIndexes(), migrationWarnedRows())
}
