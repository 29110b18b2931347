package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
	sqlite3 "modernc.org/sqlite/lib"
)

// The export's reads on SQLite through a reader connection of the store's
// pool (sqliteread.go): the same queries, batches and results as through
// database/sql, without the driver's per-cell cost.

// sqliteChunkReader reads audit chunks (auditRowsCursor) on a reader
// connection: the query, prepared once, is re-run per chunk.
type sqliteChunkReader struct {
	s  *Store
	st *sqliteStmt
	sc *auditScanner
}

func (s *Store) sqliteChunkReader(run cleanup.ExportRun, query string, width int64) (auditChunkReader, error) {
	r, err := s.readers.get()
	if err != nil {
		return nil, err
	}
	st, err := r.prepare(query)
	if err != nil {
		s.readers.put(r)
		return nil, err
	}
	// The run, tenant and limit stay bound; each chunk binds its ids.
	if err := st.bind(int64(0), int64(0), run.ID, run.ClientKey, width); err != nil {
		st.close()
		s.readers.put(r)
		return nil, err
	}
	return &sqliteChunkReader{s: s, st: st, sc: newAuditScanner(run.ID, run.DryRun)}, nil
}

// readChunk does not watch ctx: a chunk takes milliseconds, and the
// cursor checks ctx between chunks.
func (r *sqliteChunkReader) readChunk(ctx context.Context, after, upTo int64, users []cleanup.AffectedUser) (int, error) {
	if err := r.st.reset(); err != nil {
		return 0, err
	}
	if err := r.st.bind(after, upTo); err != nil {
		return 0, err
	}
	n := 0
	for {
		ok, err := r.st.step()
		if err != nil || !ok {
			return n, err
		}
		if n == len(users) { // cannot happen: a chunk has at most width ids
			return n, fmt.Errorf("more than %d rows between ids %d and %d", len(users), after, upTo)
		}
		if err := r.sc.scanSQLite(r.st, &users[n]); err != nil {
			return n, err
		}
		n++
	}
}

func (r *sqliteChunkReader) close() {
	conn := r.st.r
	r.st.close()
	r.s.readers.put(conn)
}

// scanSQLite reads the current row of st (the columns of AuditRows'
// query) into u, converting each column as the driver and database/sql
// did before these reads went past them: a time the driver cannot parse
// or a boolean other than 0 or 1 is an error, NULL text is "".
func (sc *auditScanner) scanSQLite(st *sqliteStmt, u *cleanup.AffectedUser) error {
	u.ID = st.int64(0)
	u.RunID, u.DryRun = sc.runID, sc.dryRun
	u.AccountID = string(st.text(1))
	u.Name = string(st.text(2))
	u.Email = string(st.text(3))
	u.AccountType = sc.str(st.text(4))
	u.Product = sc.str(st.text(5))
	u.GroupID = sc.str(st.text(6))
	u.GroupName = sc.str(st.text(7))
	var err error
	if u.GroupSynced, err = sqliteBool(st, 8); err != nil {
		return fmt.Errorf("row %d: group_synced: %w", u.ID, err)
	}
	u.IdentityProvider = sc.str(st.text(9))
	if err := sc.lastActive(st.text(10), u.LastActive); err != nil {
		return fmt.Errorf("row %d: last_active: %w", u.ID, err)
	}
	u.Reason = sc.str(st.text(11))
	u.Action = sc.str(st.text(12))
	u.Outcome = sc.str(st.text(13))
	u.Message = sc.str(st.text(14))
	if u.CreatedAt, err = sqliteTime(st, 15); err != nil {
		return fmt.Errorf("row %d: created_at: %w", u.ID, err)
	}
	if u.UpdatedAt, err = sqliteTime(st, 16); err != nil {
		return fmt.Errorf("row %d: updated_at: %w", u.ID, err)
	}
	u.Warning = nil
	if !st.isNull(17) { // the row has a warning
		w := &cleanup.RowWarning{State: sc.str(st.text(19)), EmailStatus: sc.str(st.text(20)), EmailMessage: string(st.text(21))}
		if w.WarnedAt, err = sqliteTime(st, 17); err != nil {
			return fmt.Errorf("row %d: warned_at: %w", u.ID, err)
		}
		if !st.isNull(18) {
			if w.RemovalDate, err = sqliteTime(st, 18); err != nil {
				return fmt.Errorf("row %d: removal_date: %w", u.ID, err)
			}
		}
		u.Warning = w
	}
	return nil
}

// sqliteTime reads a DATETIME column as UTC (a NULL column is an error,
// as scanning NULL into a time.Time is).
func sqliteTime(st *sqliteStmt, i int) (time.Time, error) {
	if t := st.columnType(i); t != sqlite3.SQLITE_TEXT {
		return time.Time{}, fmt.Errorf("store: column type %d is not a time", t)
	}
	t, err := parseSQLiteTime(st.text(i))
	return t.UTC(), err
}

// sqliteBool reads a BOOLEAN column as database/sql converts the driver's
// value: the integers 1 and 0, or text strconv.ParseBool accepts.
func sqliteBool(st *sqliteStmt, i int) (bool, error) {
	switch st.columnType(i) {
	case sqlite3.SQLITE_INTEGER:
		switch v := st.int64(i); v {
		case 0, 1:
			return v == 1, nil
		default:
			return false, fmt.Errorf("store: %d is not a boolean", v)
		}
	case sqlite3.SQLITE_TEXT:
		return strconv.ParseBool(string(st.text(i)))
	default:
		return false, fmt.Errorf("store: column type %d is not a boolean", st.columnType(i))
	}
}

// readSQLite appends the rows of one Entra batch query (memberCursor.Next)
// read on a reader connection, converting its columns as read does.
func (c *memberCursor) readSQLite(q string, args []any, buf []cleanup.ExportMember) ([]cleanup.ExportMember, error) {
	r, err := c.s.readers.get()
	if err != nil {
		return buf, err
	}
	defer c.s.readers.put(r)
	st, err := r.prepare(q)
	if err != nil {
		return buf, err
	}
	defer st.close()
	if err := st.bind(args...); err != nil {
		return buf, err
	}
	var (
		group   string
		lastKey []byte // the last row's e-mail key, copied out of SQLite's memory
	)
	for {
		ok, err := st.step()
		if err != nil {
			return buf, err
		}
		if !ok {
			break
		}
		if grp := st.text(1); string(grp) != group { // no allocation unless the group changes
			group = string(grp)
		}
		erased, err := sqliteBool(st, 4)
		if err != nil {
			return buf, fmt.Errorf("row %d: erased: %w", st.int64(0), err)
		}
		buf = append(buf, cleanup.ExportMember{ID: st.int64(0), GroupID: group, Email: string(st.text(2)), Erased: erased})
		lastKey = append(lastKey[:0], st.text(3)...)
	}
	if len(buf) > 0 {
		c.lastKey = string(lastKey)
	}
	return buf, nil
}
