package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
)

// The store's side of export generation (cleanup.ExportStore): it reads a
// run's rows in the orders the files need, records the notes generation
// hands it, and stores the files (exports.go). Which rows go into which
// file, identifier checks, notes, names and parts are internal/idpexport's.

var _ cleanup.ExportStore = (*Store)(nil)

// ExportRun implements cleanup.ExportStore.
func (s *Store) ExportRun(ctx context.Context, clientKey string, runID int64) (cleanup.ExportRun, error) {
	r := cleanup.ExportRun{ClientKey: clientKey, ID: runID, GeneratedAt: s.exportTime()}
	var (
		settings, groups string
		started          sql.NullTime
		created          time.Time
	)
	var restoreOf sql.NullInt64
	err := s.sqlDB.QueryRowContext(ctx, s.rebind(`SELECT dry_run, settings, groups, started_at, created_at, restore_of FROM runs WHERE id = ? AND client_key = ?`),
		runID, clientKey).Scan(&r.DryRun, &settings, &groups, &started, &created, &restoreOf)
	if errors.Is(err, sql.ErrNoRows) {
		return r, &cleanup.Error{Kind: cleanup.KindNotFound, Message: "No such run."}
	}
	if err != nil {
		return r, fmt.Errorf("store: read run %d: %w", runID, err)
	}
	r.Restore = restoreOf.Valid && restoreOf.Int64 != 0
	r.Date = created.UTC()
	if started.Valid {
		r.Date = started.Time.UTC()
	}
	r.Settings = cleanup.DefaultSettings()
	if err := json.Unmarshal([]byte(settings), &r.Settings); err != nil {
		return r, fmt.Errorf("store: settings snapshot of run %d: %w", runID, err)
	}
	if err := json.Unmarshal([]byte(groups), &r.Groups); err != nil {
		return r, fmt.Errorf("store: groups snapshot of run %d: %w", runID, err)
	}
	return r, nil
}

// ManualRows implements cleanup.ExportStore.
func (s *Store) ManualRows(ctx context.Context, run cleanup.ExportRun, limit int) ([]cleanup.AffectedUser, int, error) {
	var total int
	if err := s.sqlDB.QueryRowContext(ctx, s.rebind(`SELECT COUNT(*) FROM run_users WHERE run_id = ? AND outcome = ?`),
		run.ID, cleanup.OutcomeManual).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: manual rows of run %d: %w", run.ID, err)
	}
	rows, err := s.sqlDB.QueryContext(ctx, s.rebind(`SELECT id, account_id, name, email, group_id, group_name, action, message
		FROM run_users WHERE run_id = ? AND outcome = ? ORDER BY id LIMIT ?`), run.ID, cleanup.OutcomeManual, max(limit, 0))
	if err != nil {
		return nil, 0, fmt.Errorf("store: manual rows of run %d: %w", run.ID, err)
	}
	defer rows.Close()
	var out []cleanup.AffectedUser
	for rows.Next() {
		u := cleanup.AffectedUser{RunID: run.ID, Outcome: cleanup.OutcomeManual}
		if err := rows.Scan(&u.ID, &u.AccountID, &u.Name, &u.Email, &u.GroupID, &u.GroupName, &u.Action, &u.Message); err != nil {
			return nil, 0, fmt.Errorf("store: manual rows of run %d: %w", run.ID, err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("store: manual rows of run %d: %w", run.ID, err)
	}
	return out, total, nil
}

// HasExports implements cleanup.ExportStore.
func (s *Store) HasExports(ctx context.Context, run cleanup.ExportRun) (bool, error) {
	var done int
	if err := s.sqlDB.QueryRowContext(ctx, s.rebind(`SELECT COUNT(*) FROM export_files WHERE run_id = ? AND client_key = ? AND complete`),
		run.ID, run.ClientKey).Scan(&done); err != nil {
		return false, fmt.Errorf("store: exports of run %d: %w", run.ID, err)
	}
	return done > 0, nil
}

// DeleteIncompleteExports implements cleanup.ExportStore.
func (s *Store) DeleteIncompleteExports(ctx context.Context, run cleanup.ExportRun) error {
	if _, err := s.sqlDB.ExecContext(ctx, s.rebind(`DELETE FROM export_files WHERE run_id = ? AND client_key = ? AND NOT complete`),
		run.ID, run.ClientKey); err != nil {
		return fmt.Errorf("store: delete incomplete exports of run %d: %w", run.ID, err)
	}
	return nil
}

// CompleteExports implements cleanup.ExportStore.
func (s *Store) CompleteExports(ctx context.Context, run cleanup.ExportRun) error {
	if _, err := s.sqlDB.ExecContext(ctx, s.rebind(`UPDATE export_files SET complete = TRUE WHERE run_id = ? AND client_key = ?`),
		run.ID, run.ClientKey); err != nil {
		return fmt.Errorf("store: complete exports of run %d: %w", run.ID, err)
	}
	return nil
}

// The run's tenant was checked when the run was loaded (ExportRun); the
// run_users of a run all belong to its tenant, and leaving client_key out
// of the Entra pass keeps its queries on the covering index.

// ExportGroups implements cleanup.ExportStore. It skips through the
// covering index of the Entra pass: one probe per group reads the group's
// first row in Entra order (its name and identity provider) and the next
// probe starts after that group, so it reads one row per group, not every
// row of the run.
func (s *Store) ExportGroups(ctx context.Context, run cleanup.ExportRun) ([]cleanup.ExportGroup, error) {
	firstSQL, nextSQL := s.exportGroupsSQL()
	first, err := s.sqlDB.PrepareContext(ctx, firstSQL)
	if err != nil {
		return nil, fmt.Errorf("store: export groups of run %d: %w", run.ID, err)
	}
	defer first.Close()
	next, err := s.sqlDB.PrepareContext(ctx, nextSQL)
	if err != nil {
		return nil, fmt.Errorf("store: export groups of run %d: %w", run.ID, err)
	}
	defer next.Close()
	var list []cleanup.ExportGroup
	for {
		var g cleanup.ExportGroup
		var row *sql.Row
		if len(list) == 0 {
			row = first.QueryRowContext(ctx, run.ID, run.EntraAction(), cleanup.OutcomeExported)
		} else {
			row = next.QueryRowContext(ctx, run.ID, run.EntraAction(), cleanup.OutcomeExported, list[len(list)-1].ID)
		}
		switch err := row.Scan(&g.ID, &g.Name, &g.IdentityProvider); {
		case errors.Is(err, sql.ErrNoRows):
			return list, nil
		case err != nil:
			return nil, fmt.Errorf("store: export groups of run %d: %w", run.ID, err)
		}
		list = append(list, g)
	}
}

// exportGroupsSQL returns ExportGroups' probes: the first group's first
// row, and the first row of the group after a given one. group_id is
// compared in the index's collation, or PostgreSQL cannot use the index
// for it and scans the run instead.
func (s *Store) exportGroupsSQL() (first, next string) {
	collate := s.collate()
	const columns = `SELECT group_id, group_name, identity_provider FROM run_users`
	where := ` WHERE run_id = ? AND action = ? AND outcome = ?`
	order := ` ORDER BY group_id` + collate + `, email_key` + collate + `, id LIMIT 1`
	return s.rebind(columns + s.membersIndex() + where + order),
		s.rebind(columns + s.membersIndex() + where + ` AND group_id` + collate + ` > ?` + order)
}

// groupMembersSQL is GroupExportMembers' query.
func (s *Store) groupMembersSQL() string {
	return s.rebind(`SELECT id, email, erased_at IS NOT NULL FROM run_users WHERE run_id = ? AND action = ? AND outcome = ? AND group_id` +
		s.collate() + ` = ? ORDER BY id`)
}

// collate is the collation that makes PostgreSQL compare bytes, as the
// Entra writer expects (SQLite's default already does).
func (s *Store) collate() string {
	if s.driver == Postgres {
		return ` COLLATE "C"`
	}
	return ""
}

// membersIndex names the covering index of the Entra pass for SQLite,
// whose planner otherwise prefers the narrower run_users_export and looks
// every row up in the table (three times slower for a million rows).
// PostgreSQL picks its index by cost.
func (s *Store) membersIndex() string {
	if s.driver == SQLite {
		return " INDEXED BY run_users_export_members"
	}
	return ""
}

// runIDTerm is run_id in a WHERE clause that must not pick an index on
// run_id: SQLite's unary "+" keeps the planner on the rowid range.
func (s *Store) runIDTerm() string {
	if s.driver == SQLite {
		return "+run_id"
	}
	return "run_id"
}

// ExportMembers implements cleanup.ExportStore: keyset batches in
// (group_id, email_key, id) order, within the group range. Every bound on
// group_id is compared in the index's collation, so each batch is one
// ordered range of run_users_export_members on both databases.
func (s *Store) ExportMembers(ctx context.Context, run cleanup.ExportRun, groups cleanup.GroupRange, batch int) (cleanup.ExportMemberCursor, error) {
	if batch <= 0 {
		return nil, errors.New("store: export members: batch size must be positive")
	}
	if groups.To != "" && groups.To <= groups.From {
		return nil, fmt.Errorf("store: export members: empty group range [%q, %q)", groups.From, groups.To)
	}
	first, next, after := s.exportMembersSQL(groups.To != "")
	return &memberCursor{s: s, run: run, groups: groups, batch: batch, first: first, next: next, after: after}, nil
}

// exportMembersSQL returns the Entra pass's batch queries: the first batch
// of a range (from its first group on), the batch after a row (keyset),
// and the batch after a group (SkipGroup). bounded adds the range's upper
// bound. Their parameters: run, action, outcome, then the query's start
// (From; group, e-mail key, id; group), then the upper bound when bounded,
// then the limit.
func (s *Store) exportMembersSQL(bounded bool) (first, next, after string) {
	collate := s.collate()
	const columns = `SELECT id, group_id, email, email_key, erased_at IS NOT NULL FROM run_users`
	where := columns + s.membersIndex() + ` WHERE run_id = ? AND action = ? AND outcome = ?`
	end := ` ORDER BY group_id` + collate + `, email_key` + collate + `, id LIMIT ?`
	if bounded {
		end = ` AND group_id` + collate + ` < ?` + end
	}
	return s.rebind(where + ` AND group_id` + collate + ` >= ?` + end),
		s.rebind(where + ` AND (group_id` + collate + `, email_key` + collate + `, id) > (?, ?, ?)` + end),
		s.rebind(where + ` AND group_id` + collate + ` > ?` + end)
}

// memberCursor is the keyset position of the Entra pass in one group
// range.
type memberCursor struct {
	s                  *Store
	run                cleanup.ExportRun
	groups             cleanup.GroupRange
	batch              int
	first, next, after string
	started, done      bool
	skip               bool // the next batch starts after lastGroup
	lastGroup, lastKey string
	lastID             int64
}

// Next implements cleanup.ExportMemberCursor.
func (c *memberCursor) Next(ctx context.Context, buf []cleanup.ExportMember) ([]cleanup.ExportMember, error) {
	buf = buf[:0]
	if c.done {
		return buf, nil
	}
	args := []any{c.run.ID, c.run.EntraAction(), cleanup.OutcomeExported}
	q := c.first
	switch {
	case c.skip:
		q, args = c.after, append(args, c.lastGroup)
	case c.started:
		q, args = c.next, append(args, c.lastGroup, c.lastKey, c.lastID)
	default:
		args = append(args, c.groups.From)
	}
	if c.groups.To != "" {
		args = append(args, c.groups.To)
	}
	args = append(args, c.batch)
	var err error
	if c.s.readers != nil {
		if err := ctx.Err(); err != nil {
			return buf, err
		}
		buf, err = c.readSQLite(q, args, buf)
	} else {
		buf, err = c.readPostgres(ctx, q, args, buf) // exports_postgres.go
	}
	if err != nil {
		return buf, fmt.Errorf("store: read export rows of run %d: %w", c.run.ID, err)
	}
	c.started, c.skip = true, false
	c.done = len(buf) < c.batch
	if n := len(buf); n > 0 {
		c.lastGroup, c.lastID = buf[n-1].GroupID, buf[n-1].ID
	}
	return buf, nil
}

// SkipGroup implements cleanup.ExportMemberCursor.
func (c *memberCursor) SkipGroup(groupID string) {
	c.lastGroup, c.skip, c.done = groupID, true, false
}

// GroupExportMembers implements cleanup.ExportStore.
func (s *Store) GroupExportMembers(ctx context.Context, run cleanup.ExportRun, groupID string) ([]cleanup.ExportMember, error) {
	rows, err := s.sqlDB.QueryContext(ctx, s.groupMembersSQL(), run.ID, run.EntraAction(), cleanup.OutcomeExported, groupID)
	if err != nil {
		return nil, fmt.Errorf("store: read export group %q of run %d: %w", groupID, run.ID, err)
	}
	defer rows.Close()
	var out []cleanup.ExportMember
	for rows.Next() {
		m := cleanup.ExportMember{GroupID: groupID}
		if err := rows.Scan(&m.ID, &m.Email, &m.Erased); err != nil {
			return nil, fmt.Errorf("store: read export group %q of run %d: %w", groupID, run.ID, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read export group %q of run %d: %w", groupID, run.ID, err)
	}
	return out, nil
}

// RecordExportNotes implements cleanup.ExportStore: manual notes set the
// row's outcome and message; other notes are added to the row's message
// once, after what the run wrote.
func (s *Store) RecordExportNotes(ctx context.Context, run cleanup.ExportRun, notes []cleanup.ExportNote) error {
	if len(notes) == 0 {
		return nil
	}
	tx, err := s.sqlDB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: record export notes: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	now := s.now().UTC()
	manual, err := tx.PrepareContext(ctx, s.rebind(`UPDATE run_users SET outcome = ?, message = ?, updated_at = ? WHERE id = ? AND run_id = ?`))
	if err != nil {
		return fmt.Errorf("store: record export notes: %w", err)
	}
	defer manual.Close()
	flag, err := tx.PrepareContext(ctx, s.rebind(`UPDATE run_users
		SET message = CASE WHEN message = '' THEN ? ELSE message || ' ' || ? END, updated_at = ?
		WHERE id = ? AND run_id = ? AND message NOT LIKE ?`))
	if err != nil {
		return fmt.Errorf("store: record export notes: %w", err)
	}
	defer flag.Close()
	for _, n := range notes {
		if n.Manual {
			_, err = manual.ExecContext(ctx, cleanup.OutcomeManual, n.Message, now, n.RowID, run.ID)
		} else {
			_, err = flag.ExecContext(ctx, n.Message, n.Message, now, n.RowID, run.ID, "%"+n.Message+"%")
		}
		if err != nil {
			return fmt.Errorf("store: record export note on row %d: %w", n.RowID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: record export notes: %w", err)
	}
	return nil
}

// warnedRowsSQL asks whether any row of a run is linked to a warning; the
// partial index run_users_warned answers it without reading the run.
const warnedRowsSQL = `SELECT EXISTS (SELECT 1 FROM run_users WHERE run_id = ? AND warning_id IS NOT NULL)`

// AuditRows implements cleanup.ExportStore. The run's rows lie between its
// first and last id; reading that id range in order walks the table once
// instead of looking every row up from an index. The range is read in
// chunks by parallel workers (auditRowsCursor); batch bounds a chunk's
// ids.
func (s *Store) AuditRows(ctx context.Context, run cleanup.ExportRun, batch int) (cleanup.AuditCursor, error) {
	if batch <= 0 {
		return nil, errors.New("store: audit rows: batch size must be positive")
	}
	var first, last sql.NullInt64
	if err := s.sqlDB.QueryRowContext(ctx, s.rebind(`SELECT MIN(id), MAX(id) FROM run_users WHERE run_id = ?`), run.ID).Scan(&first, &last); err != nil {
		return nil, fmt.Errorf("store: audit rows of run %d: %w", run.ID, err)
	}
	if !first.Valid {
		return &auditRowsCursor{run: run}, nil // no rows
	}
	width := int64(min(batch, auditChunkIDs))
	// The row's warning (cleanups with warnings) comes with it: its dates
	// and e-mail outcome are columns of the audit. A run none of whose rows
	// has a warning (run_users_warned says so at once) is read without the
	// join, its warning columns NULL (of the join's types) as the join
	// would leave them.
	var warned bool
	if err := s.sqlDB.QueryRowContext(ctx, s.rebind(warnedRowsSQL), run.ID).Scan(&warned); err != nil {
		return nil, fmt.Errorf("store: audit rows of run %d: %w", run.ID, err)
	}
	warningColumns, from := `CAST(NULL AS TIMESTAMPTZ), CAST(NULL AS TIMESTAMPTZ), CAST(NULL AS TEXT), CAST(NULL AS TEXT), CAST(NULL AS TEXT)`, `run_users u`
	if warned {
		warningColumns = `w.warned_at, w.removal_date, w.state, w.email_status, w.email_message`
		from = `run_users u LEFT JOIN warnings w ON w.id = u.warning_id`
	}
	query := `SELECT u.id, u.account_id, u.name, u.email, u.account_type, u.product, u.group_id,
		u.group_name, u.group_synced, u.identity_provider, u.last_active, u.reason, u.action, u.outcome, u.message, u.created_at, u.updated_at,
		` + warningColumns + `
		FROM ` + from + `
		WHERE u.id > ? AND u.id <= ? AND ` + strings.Replace(s.runIDTerm(), "run_id", "u.run_id", 1) + ` = ? AND u.client_key = ? ORDER BY u.id LIMIT ?`
	nChunks := int((last.Int64 - first.Int64 + width) / width)
	workers := min(auditReadWorkers, nChunks)
	// Every worker's statement is prepared before any starts, so a
	// database that cannot be read is an error here, before a download
	// sends a byte.
	readers := make([]auditChunkReader, 0, workers)
	for range workers {
		var (
			r   auditChunkReader
			err error
		)
		if s.driver == SQLite {
			r, err = s.sqliteChunkReader(run, query, width)
		} else {
			r, err = s.pgxChunkReader(ctx, run, query, width)
		}
		if err != nil {
			for _, r := range readers {
				r.close()
			}
			return nil, fmt.Errorf("store: audit rows of run %d: %w", run.ID, err)
		}
		readers = append(readers, r)
	}
	return startAuditRows(ctx, run, first.Int64, width, nChunks, readers), nil
}
