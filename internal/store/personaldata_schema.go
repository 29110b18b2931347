package store

// migrationPersonalData is schema version 13: what personal data
// reporting (Atlassian's personal data reporting API) needs.
//
//   - run_users.erased_at and warnings.erased_at mark rows whose account
//     Atlassian reported closed: their name, e-mail address and account id
//     were replaced by a tombstone (the counts stay). profile_at is when
//     a row's name and e-mail address were last refreshed because
//     Atlassian reported the account updated (NULL: as stored at
//     created_at); the report's updatedAt is the later of the two.
//   - runs.exports_stale marks a finished run whose export files were
//     deleted by an erasure and must be generated again from its
//     tombstoned rows.
//   - personal_data_reports holds each tenant's reporting cycle: when it
//     last reported and when it reports next.
//   - personal_data_erasures is the audit of erasures: one row per closed
//     account erased from a tenant, with the tombstone that replaced it
//     and how many rows changed (run rows, warnings, runs, and other rows:
//     licence snapshot users, snapshots and review decisions), never the
//     erased data.
//
// The covering index of the Entra pass gains erased_at, so the pass still
// reads the index alone while it leaves erased rows out of the files.
func migrationPersonalData() Migration {
	sqlite := `
ALTER TABLE run_users ADD COLUMN erased_at DATETIME;
ALTER TABLE run_users ADD COLUMN profile_at DATETIME;
ALTER TABLE warnings ADD COLUMN erased_at DATETIME;
ALTER TABLE warnings ADD COLUMN profile_at DATETIME;
ALTER TABLE runs ADD COLUMN exports_stale BOOLEAN NOT NULL DEFAULT 0;
CREATE INDEX runs_exports_stale ON runs (exports_stale) WHERE exports_stale;
CREATE INDEX run_users_account ON run_users (account_id);
CREATE INDEX warnings_account ON warnings (client_key, account_id);
DROP INDEX run_users_export_members;
CREATE INDEX run_users_export_members ON run_users (run_id, action, outcome, group_id, email_key, id, email, erased_at);
CREATE TABLE personal_data_reports (
	client_key TEXT NOT NULL PRIMARY KEY,
	reported_at DATETIME,
	next_report_at DATETIME NOT NULL,
	cycle_seconds INTEGER NOT NULL DEFAULT 0,
	last_error TEXT NOT NULL DEFAULT ''
);
CREATE TABLE personal_data_erasures (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	client_key TEXT NOT NULL,
	tombstone TEXT NOT NULL,
	run_rows INTEGER NOT NULL,
	warnings INTEGER NOT NULL,
	runs INTEGER NOT NULL,
	other_rows INTEGER NOT NULL DEFAULT 0,
	erased_at DATETIME NOT NULL
);
CREATE INDEX personal_data_erasures_client ON personal_data_erasures (client_key, id);
`
	postgres := `
ALTER TABLE run_users ADD COLUMN erased_at TIMESTAMPTZ;
ALTER TABLE run_users ADD COLUMN profile_at TIMESTAMPTZ;
ALTER TABLE warnings ADD COLUMN erased_at TIMESTAMPTZ;
ALTER TABLE warnings ADD COLUMN profile_at TIMESTAMPTZ;
ALTER TABLE runs ADD COLUMN exports_stale BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX runs_exports_stale ON runs (exports_stale) WHERE exports_stale;
CREATE INDEX run_users_account ON run_users (account_id);
CREATE INDEX warnings_account ON warnings (client_key, account_id);
DROP INDEX run_users_export_members;
CREATE INDEX run_users_export_members ON run_users (run_id, action, outcome, group_id COLLATE "C", email_key COLLATE "C", id) INCLUDE (email, erased_at);
CREATE TABLE personal_data_reports (
	client_key TEXT NOT NULL PRIMARY KEY,
	reported_at TIMESTAMPTZ,
	next_report_at TIMESTAMPTZ NOT NULL,
	cycle_seconds BIGINT NOT NULL DEFAULT 0,
	last_error TEXT NOT NULL DEFAULT ''
);
CREATE TABLE personal_data_erasures (
	id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	client_key TEXT NOT NULL,
	tombstone TEXT NOT NULL,
	run_rows BIGINT NOT NULL,
	warnings BIGINT NOT NULL,
	runs BIGINT NOT NULL,
	other_rows BIGINT NOT NULL DEFAULT 0,
	erased_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX personal_data_erasures_client ON personal_data_erasures (client_key, id);
`
	return Migration{Version: 13, Name: "personal data reporting", SQLite: sqlite, Postgres: postgres}
}
