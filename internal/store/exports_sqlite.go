package store

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
	sqlite3 "modernc.org/sqlite/lib"
)

// The export's reads on SQLite through a reader connection of the store's
// pool (sqliteread.go): the same queries, batches and results as through
// database/sql, without the driver's per-cell cost.

// Parallel reading of the audit rows on SQLite: the run's id range is cut
// into chunks of at most auditChunkIDs ids, auditReadWorkers goroutines
// read every auditReadWorkers-th chunk each on their own reader connection
// (WAL lets readers run side by side), and Next hands the rows out strictly
// in chunk order. With the driver out of the way reading a row (SQLite's
// own work, mostly) still costs more than formatting it, and a download
// has the machine's cores to itself more often than not.
//
// Memory is bounded: each worker fills at most auditChunksAhead chunks
// ahead of Next. A failure of any worker is returned by Next when its
// chunk comes up: the chunks before it were all handed out, none of its
// rows or any later chunk's are. Close (or the context's end) stops every
// worker.
const (
	auditReadWorkers = 2
	auditChunkIDs    = 2048
	auditChunksAhead = 2
)

// auditChunk is the rows of one id chunk, or the error reading it.
type auditChunk struct {
	users []cleanup.AffectedUser
	n     int
	err   error
}

// sqliteAuditCursor is an auditCursor reading in parallel through reader
// connections.
type sqliteAuditCursor struct {
	run     cleanup.ExportRun
	width   int64 // ids per chunk
	first   int64 // the run's first id
	nChunks int
	filled  []chan *auditChunk // per worker: its chunks, in order
	free    []chan *auditChunk // per worker: chunks Next is done with
	next    int                // the chunk Next reads from
	cur     *auditChunk        // the chunk being handed out, nil between chunks
	pos     int                // the next row of cur
	err     error              // the failure Next returned; it keeps returning it
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// sqliteAuditRows starts the workers that read c's id range (AuditRows)
// with query, the batch query re-run per chunk.
func (s *Store) sqliteAuditRows(ctx context.Context, c *auditCursor, query string) (cleanup.AuditCursor, error) {
	width := int64(min(c.batch, auditChunkIDs))
	span := c.maxID - c.lastID
	pc := &sqliteAuditCursor{run: c.run, width: width, first: c.lastID + 1, nChunks: int((span + width - 1) / width)}
	workers := min(auditReadWorkers, pc.nChunks)
	// Open every worker's statement before starting any, so a database
	// that cannot be read is an error here, before a byte is sent.
	stmts := make([]*sqliteStmt, 0, workers)
	release := func() {
		for _, st := range stmts {
			r := st.r
			st.close()
			s.readers.put(r)
		}
	}
	for range workers {
		r, err := s.readers.get()
		if err != nil {
			release()
			return nil, fmt.Errorf("store: audit rows of run %d: %w", c.run.ID, err)
		}
		st, err := r.prepare(query)
		if err == nil {
			err = st.bind(int64(0), int64(0), c.run.ID, c.run.ClientKey, width)
			if err != nil {
				st.close()
			}
		}
		if err != nil {
			s.readers.put(r)
			release()
			return nil, fmt.Errorf("store: prepare audit rows: %w", err)
		}
		stmts = append(stmts, st)
	}
	// The workers live until Close, not only as long as the caller's
	// context: Close (or that context's end) stops them.
	wctx, cancel := context.WithCancel(ctx)
	pc.cancel = cancel
	for range stmts {
		filled, free := make(chan *auditChunk, auditChunksAhead), make(chan *auditChunk, auditChunksAhead)
		for range auditChunksAhead {
			free <- newAuditChunk(int(width))
		}
		pc.filled, pc.free = append(pc.filled, filled), append(pc.free, free)
	}
	for w, st := range stmts {
		pc.wg.Add(1)
		go func() {
			defer pc.wg.Done()
			defer s.readers.put(st.r)
			defer st.close()
			pc.work(wctx, w, workers, st, newAuditScanner(c.run.ID, c.run.DryRun))
		}()
	}
	return pc, nil
}

func newAuditChunk(rows int) *auditChunk {
	ch := &auditChunk{users: make([]cleanup.AffectedUser, rows)}
	for i := range ch.users {
		ch.users[i].LastActive = make(map[string]time.Time, 4)
	}
	return ch
}

// work reads chunks w, w+workers, w+2·workers … in order, until the last,
// a failure, or the end of ctx.
func (c *sqliteAuditCursor) work(ctx context.Context, w, workers int, st *sqliteStmt, sc *auditScanner) {
	for k := w; k < c.nChunks; k += workers {
		var ch *auditChunk
		select {
		case ch = <-c.free[w]:
		case <-ctx.Done():
			return
		}
		lo := c.first + int64(k)*c.width // ids lo ≤ id < lo+width
		ch.n, ch.err = c.readChunk(st, sc, lo-1, lo-1+c.width, ch.users)
		select {
		case c.filled[w] <- ch:
		case <-ctx.Done():
			return
		}
		if ch.err != nil {
			return
		}
	}
}

// readChunk reads the rows with after < id ≤ upTo into users.
func (c *sqliteAuditCursor) readChunk(st *sqliteStmt, sc *auditScanner, after, upTo int64, users []cleanup.AffectedUser) (int, error) {
	if err := st.reset(); err != nil {
		return 0, err
	}
	if err := st.bind(after, upTo); err != nil {
		return 0, err
	}
	n := 0
	for {
		ok, err := st.step()
		if err != nil || !ok {
			return n, err
		}
		if n == len(users) { // cannot happen: a chunk has at most width ids
			return n, fmt.Errorf("more than %d rows between ids %d and %d", len(users), after, upTo)
		}
		if err := sc.scanSQLite(st, &users[n]); err != nil {
			return n, err
		}
		n++
	}
}

// Next implements cleanup.AuditCursor.
func (c *sqliteAuditCursor) Next(ctx context.Context, users []cleanup.AffectedUser) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n := 0
	for n < len(users) {
		if c.cur == nil {
			if c.next == c.nChunks {
				break
			}
			select {
			case c.cur = <-c.filled[c.next%len(c.filled)]:
			case <-ctx.Done():
				c.err = ctx.Err()
				return n, c.err
			}
			if c.cur.err != nil {
				c.err = fmt.Errorf("store: read audit rows of run %d: %w", c.run.ID, c.cur.err)
				return n, c.err
			}
			c.pos = 0
		}
		// Hand the rows over by swapping them with the caller's: the
		// caller gets the filled row, the chunk the caller's memory.
		for c.pos < c.cur.n && n < len(users) {
			users[n], c.cur.users[c.pos] = c.cur.users[c.pos], users[n]
			c.pos++
			n++
		}
		if c.pos == c.cur.n {
			c.free[c.next%len(c.free)] <- c.cur // never blocks: the chunk came from this worker
			c.cur = nil
			c.next++
		}
	}
	return n, nil
}

// Close implements cleanup.AuditCursor: it stops the workers and waits
// for them to give their connections back.
func (c *sqliteAuditCursor) Close() error {
	if c.cancel != nil {
		c.cancel()
		c.wg.Wait()
		c.cancel = nil
	}
	return nil
}

// scanSQLite reads the current row of st (the columns of AuditRows'
// query) into u, converting each column as the driver and database/sql
// do for the database/sql path (scan).
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
