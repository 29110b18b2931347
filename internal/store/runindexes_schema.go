package store

// migrationRunUserIndexes makes writing run rows cheaper. Every row a run
// evaluates goes into run_users with each of its indexes, and an index
// keyed by a random value (an account ID, an e-mail) changes a different
// page for nearly every row: on SQLite, with a page of user search results
// committed at a time, that wrote about twenty kilobytes to the
// write-ahead log per row and made the commits, not the API's rate limit,
// the bound of a large evaluation. Three of those indexes go:
//
//   - run_users_export (run_id, action, group_id, email_key) is covered by
//     run_users_export_members, which the Entra pass uses; SQLite's
//     planner even preferred the narrower one wrongly (see membersIndex).
//   - run_users_account (account_id), for the personal-data lookups, is
//     folded into the unique key, whose columns are reordered to start
//     with the account: (account_id, run_id, group_id, action). The key's
//     column set, which ON CONFLICT names, is unchanged; lookups by run and
//     account use it as before.
//   - run_users_review keeps only the rows marked for review (a partial
//     index), the only rows its query (openReviewSQL) reads.
//
// BenchmarkCommitRows (50,000 rows of random accounts, 100 per commit) on
// SQLite, on a shared 2-core machine (load 4–8), two runs each: 152 and
// 170 µs of CPU a row before, 94 and 95 after, and about twice the rows a
// second.
func migrationRunUserIndexes() Migration {
	const both = `
DROP INDEX run_users_export;
DROP INDEX run_users_account;
DROP INDEX run_users_review;
CREATE INDEX run_users_review ON run_users (client_key, account_id, run_id) WHERE outcome = 'review';
DROP INDEX run_users_key;
CREATE UNIQUE INDEX run_users_key ON run_users (account_id, run_id, group_id, action);
`
	return Migration{Version: 14, Name: "cheaper run row indexes", SQLite: both, Postgres: both}
}

// migrationWarnedRows is schema version 15: a partial index of the rows
// linked to a warning (cleanups that warn users first), which answers at
// once whether a run has any. An audit download of a run that has none
// reads its rows without joining the warnings table (see AuditRows): on
// SQLite that join cost about a fifth of a download's CPU even for rows
// without a warning. The index holds only the linked rows, so writing
// the others costs nothing more.
func migrationWarnedRows() Migration {
	const both = `CREATE INDEX run_users_warned ON run_users (run_id) WHERE warning_id IS NOT NULL;`
	return Migration{Version: 15, Name: "index of rows with a warning", SQLite: both, Postgres: both}
}
