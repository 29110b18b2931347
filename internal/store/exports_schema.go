package store

// migrationExportFiles is schema version 3: the stored export files of runs
// (export_files) and their bytes in chunks of about 1 MiB (export_chunks).
//
// A file is written while it streams: its export_files row is inserted first
// with complete = false, the chunks follow, and when every file of the run
// is written one UPDATE marks them all complete. Readers only ever see
// complete files; a generation that crashed leaves incomplete rows that the
// next attempt deletes (the chunks go with them, ON DELETE CASCADE).
// UNIQUE(run_id, kind, group_id, part) stops two writers producing the same
// file twice.
//
// run_users_export_members covers the Entra pass of an export: the keyset
// batches in (group_id, email_key, id) order read the index alone, never
// the table. On PostgreSQL it is in byte order ("C" collation), the order
// the Entra writer needs, so the batches seek instead of sorting.
//
// PostgreSQL compresses the chunks with lz4 where the server supports it:
// pglz, the default, compresses CSV at about 40 MB/s and was the slowest
// part of exporting a million rows; lz4 is four times faster at the same
// size.
func migrationExportFiles() Migration {
	return Migration{
		Version: 3,
		Name:    "export_files, export_chunks",
		SQLite: `
CREATE TABLE export_files (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	client_key TEXT NOT NULL,
	run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	kind TEXT NOT NULL,
	identity_provider TEXT NOT NULL DEFAULT '',
	group_id TEXT NOT NULL DEFAULT '',
	group_name TEXT NOT NULL DEFAULT '',
	idp_group TEXT NOT NULL DEFAULT '',
	part INTEGER NOT NULL DEFAULT 1,
	parts INTEGER NOT NULL DEFAULT 1,
	file_name TEXT NOT NULL,
	content_type TEXT NOT NULL,
	row_count INTEGER NOT NULL DEFAULT 0,
	size INTEGER NOT NULL DEFAULT 0,
	sha256 TEXT NOT NULL DEFAULT '',
	dry_run BOOLEAN NOT NULL DEFAULT 0,
	complete BOOLEAN NOT NULL DEFAULT 0,
	created_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX export_files_key ON export_files (run_id, kind, group_id, part);
CREATE INDEX export_files_client_run ON export_files (client_key, run_id);
CREATE INDEX run_users_export_members ON run_users (run_id, action, outcome, group_id, email_key, id, email);
CREATE TABLE export_chunks (
	file_id INTEGER NOT NULL REFERENCES export_files (id) ON DELETE CASCADE,
	seq INTEGER NOT NULL,
	data BLOB NOT NULL,
	PRIMARY KEY (file_id, seq)
);
`,
		Postgres: `
CREATE TABLE export_files (
	id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	client_key TEXT NOT NULL,
	run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	kind TEXT NOT NULL,
	identity_provider TEXT NOT NULL DEFAULT '',
	group_id TEXT NOT NULL DEFAULT '',
	group_name TEXT NOT NULL DEFAULT '',
	idp_group TEXT NOT NULL DEFAULT '',
	part INTEGER NOT NULL DEFAULT 1,
	parts INTEGER NOT NULL DEFAULT 1,
	file_name TEXT NOT NULL,
	content_type TEXT NOT NULL,
	row_count BIGINT NOT NULL DEFAULT 0,
	size BIGINT NOT NULL DEFAULT 0,
	sha256 TEXT NOT NULL DEFAULT '',
	dry_run BOOLEAN NOT NULL DEFAULT FALSE,
	complete BOOLEAN NOT NULL DEFAULT FALSE,
	created_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX export_files_key ON export_files (run_id, kind, group_id, part);
CREATE INDEX export_files_client_run ON export_files (client_key, run_id);
CREATE INDEX run_users_export_members ON run_users (run_id, action, outcome, group_id COLLATE "C", email_key COLLATE "C", id) INCLUDE (email);
CREATE TABLE export_chunks (
	file_id BIGINT NOT NULL REFERENCES export_files (id) ON DELETE CASCADE,
	seq INTEGER NOT NULL,
	data BYTEA NOT NULL,
	PRIMARY KEY (file_id, seq)
);
DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_settings, unnest(enumvals) AS v(name) WHERE pg_settings.name = 'default_toast_compression' AND v.name = 'lz4') THEN ALTER TABLE export_chunks ALTER COLUMN data SET COMPRESSION lz4; END IF; END $$;
`,
	}
}

// migrationStreamedExports is schema version 12: export files whose bytes
// are not stored but produced from the run's rows when downloaded (the
// audit CSV and JSON; idpexport.WriteAudit). Such a file has streamed set,
// no chunks, and size 0 and an empty sha256 (they are known only when it
// is read); its created_at is the generation time the audit JSON names.
// Audit files stored before this version keep their chunks and are served
// as stored.
func migrationStreamedExports() Migration {
	return Migration{
		Version:  12,
		Name:     "export_files.streamed",
		SQLite:   `ALTER TABLE export_files ADD COLUMN streamed BOOLEAN NOT NULL DEFAULT 0;`,
		Postgres: `ALTER TABLE export_files ADD COLUMN streamed BOOLEAN NOT NULL DEFAULT FALSE;`,
	}
}
