package store

// migrationCleanupTables is schema version 2: tenant settings, cleanup
// definitions, runs and their affected-user rows (the run history).
// A run keeps snapshots of its definition, settings (no secrets) and
// classified groups, so resuming it after a crash plans the same rows.
//
// runs.cleanup_id has no foreign key on purpose: a run's history survives
// deleting its cleanup. UNIQUE(cleanup_id, scheduled_for) makes a second
// run for the same scheduled time impossible, whichever instance tries.
// run_users is keyed by (run_id, account_id, group_id, action), so a page
// evaluated again after a crash inserts nothing twice; attempted_at is set
// before an external action and marks rows in doubt after a crash.
//
// It is long because it is the migration's SQL text for both databases, a
// table rather than logic; released migrations are never edited.
func migrationCleanupTables() Migration {
	return Migration{
		Version: 2,
		Name:    "settings, cleanups, runs, run_users",
		SQLite: `
CREATE TABLE tenant_settings (
	client_key TEXT NOT NULL PRIMARY KEY REFERENCES tenants (client_key) ON DELETE CASCADE,
	settings TEXT NOT NULL DEFAULT '{}',
	org_api_key TEXT NOT NULL DEFAULT '',
	entra_client_secret TEXT NOT NULL DEFAULT '',
	version INTEGER NOT NULL DEFAULT 1,
	created_at DATETIME NOT NULL,
	updated_at DATETIME NOT NULL
);
CREATE TABLE cleanups (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	client_key TEXT NOT NULL,
	name TEXT NOT NULL,
	definition TEXT NOT NULL,
	scheduled BOOLEAN NOT NULL DEFAULT 0,
	next_run_at DATETIME,
	last_scheduled_at DATETIME,
	version INTEGER NOT NULL DEFAULT 1,
	created_at DATETIME NOT NULL,
	updated_at DATETIME NOT NULL
);
CREATE INDEX cleanups_client_key ON cleanups (client_key, id);
CREATE INDEX cleanups_due ON cleanups (scheduled, next_run_at);
CREATE TABLE runs (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	client_key TEXT NOT NULL,
	cleanup_id INTEGER,
	cleanup_name TEXT NOT NULL DEFAULT '',
	definition TEXT NOT NULL,
	settings TEXT NOT NULL,
	groups TEXT NOT NULL DEFAULT '[]',
	trigger TEXT NOT NULL,
	started_by TEXT NOT NULL DEFAULT '',
	scheduled_for DATETIME,
	dry_run BOOLEAN NOT NULL DEFAULT 0,
	status TEXT NOT NULL,
	phase TEXT NOT NULL,
	cursor TEXT NOT NULL DEFAULT '',
	counts TEXT NOT NULL DEFAULT '{}',
	error TEXT NOT NULL DEFAULT '',
	lease_owner TEXT NOT NULL DEFAULT '',
	lease_until DATETIME,
	queued_at DATETIME NOT NULL,
	started_at DATETIME,
	finished_at DATETIME,
	created_at DATETIME NOT NULL,
	updated_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX runs_cleanup_scheduled_for ON runs (cleanup_id, scheduled_for);
CREATE INDEX runs_client_key ON runs (client_key, id);
CREATE INDEX runs_status ON runs (status);
CREATE TABLE run_users (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	client_key TEXT NOT NULL,
	account_id TEXT NOT NULL,
	name TEXT NOT NULL DEFAULT '',
	email TEXT NOT NULL DEFAULT '',
	account_type TEXT NOT NULL DEFAULT '',
	product TEXT NOT NULL DEFAULT '',
	group_id TEXT NOT NULL DEFAULT '',
	group_name TEXT NOT NULL DEFAULT '',
	group_synced BOOLEAN NOT NULL DEFAULT 0,
	identity_provider TEXT NOT NULL DEFAULT '',
	last_active TEXT NOT NULL DEFAULT '{}',
	reason TEXT NOT NULL DEFAULT '',
	action TEXT NOT NULL,
	outcome TEXT NOT NULL,
	message TEXT NOT NULL DEFAULT '',
	email_key TEXT NOT NULL DEFAULT '',
	attempted_at DATETIME,
	created_at DATETIME NOT NULL,
	updated_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX run_users_key ON run_users (run_id, account_id, group_id, action);
CREATE INDEX run_users_run ON run_users (run_id, id);
CREATE INDEX run_users_outcome ON run_users (run_id, outcome);
CREATE INDEX run_users_export ON run_users (run_id, action, group_id, email_key);
`,
		Postgres: `
CREATE TABLE tenant_settings (
	client_key TEXT NOT NULL PRIMARY KEY REFERENCES tenants (client_key) ON DELETE CASCADE,
	settings TEXT NOT NULL DEFAULT '{}',
	org_api_key TEXT NOT NULL DEFAULT '',
	entra_client_secret TEXT NOT NULL DEFAULT '',
	version BIGINT NOT NULL DEFAULT 1,
	created_at TIMESTAMPTZ NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE cleanups (
	id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	client_key TEXT NOT NULL,
	name TEXT NOT NULL,
	definition TEXT NOT NULL,
	scheduled BOOLEAN NOT NULL DEFAULT FALSE,
	next_run_at TIMESTAMPTZ,
	last_scheduled_at TIMESTAMPTZ,
	version BIGINT NOT NULL DEFAULT 1,
	created_at TIMESTAMPTZ NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX cleanups_client_key ON cleanups (client_key, id);
CREATE INDEX cleanups_due ON cleanups (scheduled, next_run_at);
CREATE TABLE runs (
	id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	client_key TEXT NOT NULL,
	cleanup_id BIGINT,
	cleanup_name TEXT NOT NULL DEFAULT '',
	definition TEXT NOT NULL,
	settings TEXT NOT NULL,
	groups TEXT NOT NULL DEFAULT '[]',
	trigger TEXT NOT NULL,
	started_by TEXT NOT NULL DEFAULT '',
	scheduled_for TIMESTAMPTZ,
	dry_run BOOLEAN NOT NULL DEFAULT FALSE,
	status TEXT NOT NULL,
	phase TEXT NOT NULL,
	cursor TEXT NOT NULL DEFAULT '',
	counts TEXT NOT NULL DEFAULT '{}',
	error TEXT NOT NULL DEFAULT '',
	lease_owner TEXT NOT NULL DEFAULT '',
	lease_until TIMESTAMPTZ,
	queued_at TIMESTAMPTZ NOT NULL,
	started_at TIMESTAMPTZ,
	finished_at TIMESTAMPTZ,
	created_at TIMESTAMPTZ NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX runs_cleanup_scheduled_for ON runs (cleanup_id, scheduled_for);
CREATE INDEX runs_client_key ON runs (client_key, id);
CREATE INDEX runs_status ON runs (status);
CREATE TABLE run_users (
	id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	client_key TEXT NOT NULL,
	account_id TEXT NOT NULL,
	name TEXT NOT NULL DEFAULT '',
	email TEXT NOT NULL DEFAULT '',
	account_type TEXT NOT NULL DEFAULT '',
	product TEXT NOT NULL DEFAULT '',
	group_id TEXT NOT NULL DEFAULT '',
	group_name TEXT NOT NULL DEFAULT '',
	group_synced BOOLEAN NOT NULL DEFAULT FALSE,
	identity_provider TEXT NOT NULL DEFAULT '',
	last_active TEXT NOT NULL DEFAULT '{}',
	reason TEXT NOT NULL DEFAULT '',
	action TEXT NOT NULL,
	outcome TEXT NOT NULL,
	message TEXT NOT NULL DEFAULT '',
	email_key TEXT NOT NULL DEFAULT '',
	attempted_at TIMESTAMPTZ,
	created_at TIMESTAMPTZ NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX run_users_key ON run_users (run_id, account_id, group_id, action);
CREATE INDEX run_users_run ON run_users (run_id, id);
CREATE INDEX run_users_outcome ON run_users (run_id, outcome);
CREATE INDEX run_users_export ON run_users (run_id, action, group_id, email_key);
`,
	}
}
