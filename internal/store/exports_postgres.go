package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
)

// pgxChunkReader reads audit chunks (auditRowsCursor) on PostgreSQL with
// pgx itself, on a connection the worker holds: the rows' wire values are
// read in place. Why: through database/sql, pgx's stdlib adapter turned
// every text cell into a Go string, boxed it in an interface and
// database/sql copied it again; that was about 40% of a download's CPU,
// formatting the file under 10%.
type pgxChunkReader struct {
	conn  *sql.Conn
	query string
	run   cleanup.ExportRun
	width int64
	sc    *auditScanner
}

func (s *Store) pgxChunkReader(ctx context.Context, run cleanup.ExportRun, query string, width int64) (auditChunkReader, error) {
	conn, err := s.sqlDB.Conn(ctx)
	if err != nil {
		return nil, err
	}
	return &pgxChunkReader{conn: conn, query: s.rebind(query), run: run, width: width, sc: newAuditScanner(run.ID, run.DryRun)}, nil
}

func (r *pgxChunkReader) close() { _ = r.conn.Close() }

func (r *pgxChunkReader) readChunk(ctx context.Context, after, upTo int64, users []cleanup.AffectedUser) (int, error) {
	n := 0
	err := r.conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("unexpected PostgreSQL driver connection %T", dc)
		}
		rows, err := c.Conn().Query(ctx, r.query, after, upTo, r.run.ID, r.run.ClientKey, r.width)
		if err != nil {
			return err
		}
		defer rows.Close()
		cols, err := newPGXAuditColumns(c.Conn().TypeMap(), rows.FieldDescriptions())
		if err != nil {
			return err
		}
		for rows.Next() {
			if n == len(users) { // cannot happen: a chunk has at most width ids
				return fmt.Errorf("more than %d rows between ids %d and %d", len(users), after, upTo)
			}
			if err := r.scan(cols, rows.RawValues(), &users[n]); err != nil {
				return err
			}
			n++
		}
		return rows.Err()
	})
	return n, err
}

// pgxAuditColumns knows how to decode the columns of AuditRows' query
// that are not text: the id, group_synced and the four times, with pgx's
// own scan plans for the result's formats.
type pgxAuditColumns struct {
	id, synced pgtype.ScanPlan
	times      [4]pgtype.ScanPlan // created_at, updated_at, warned_at, removal_date
}

// The columns of AuditRows' query.
const (
	auditColID, auditColSynced, auditColCreated, auditColUpdated, auditColWarned, auditColRemoval = 0, 8, 15, 16, 17, 18
	auditColumnCount                                                                              = 22
)

func newPGXAuditColumns(m *pgtype.Map, fds []pgconn.FieldDescription) (*pgxAuditColumns, error) {
	if len(fds) != auditColumnCount {
		return nil, fmt.Errorf("audit rows: %d columns, want %d", len(fds), auditColumnCount)
	}
	for i, fd := range fds {
		switch i {
		case auditColID, auditColSynced, auditColCreated, auditColUpdated, auditColWarned, auditColRemoval:
		default:
			// Text columns are read as their bytes: the same in text and
			// binary format.
			if fd.DataTypeOID != pgtype.TextOID && fd.DataTypeOID != pgtype.VarcharOID {
				return nil, fmt.Errorf("audit rows: column %s has type %d, want text", fd.Name, fd.DataTypeOID)
			}
		}
	}
	var (
		id     int64
		synced bool
		t      time.Time
	)
	cols := &pgxAuditColumns{
		id:     m.PlanScan(fds[auditColID].DataTypeOID, fds[auditColID].Format, &id),
		synced: m.PlanScan(fds[auditColSynced].DataTypeOID, fds[auditColSynced].Format, &synced),
	}
	for k, i := range []int{auditColCreated, auditColUpdated, auditColWarned, auditColRemoval} {
		cols.times[k] = m.PlanScan(fds[i].DataTypeOID, fds[i].Format, &t)
	}
	return cols, nil
}

// scan fills u from a row's wire values, as scan does through
// database/sql: NULL text is "", a NULL warned_at means no warning.
func (r *pgxChunkReader) scan(cols *pgxAuditColumns, v [][]byte, u *cleanup.AffectedUser) error {
	if err := cols.id.Scan(v[auditColID], &u.ID); err != nil {
		return fmt.Errorf("id: %w", err)
	}
	sc := r.sc
	u.RunID, u.DryRun = sc.runID, sc.dryRun
	u.AccountID = string(v[1])
	u.Name = string(v[2])
	u.Email = string(v[3])
	u.AccountType = sc.str(v[4])
	u.Product = sc.str(v[5])
	u.GroupID = sc.str(v[6])
	u.GroupName = sc.str(v[7])
	if err := cols.synced.Scan(v[auditColSynced], &u.GroupSynced); err != nil {
		return fmt.Errorf("row %d: group_synced: %w", u.ID, err)
	}
	u.IdentityProvider = sc.str(v[9])
	if err := sc.lastActive(v[10], u.LastActive); err != nil {
		return fmt.Errorf("row %d: last_active: %w", u.ID, err)
	}
	u.Reason = sc.str(v[11])
	u.Action = sc.str(v[12])
	u.Outcome = sc.str(v[13])
	u.Message = sc.str(v[14])
	if err := cols.times[0].Scan(v[auditColCreated], &u.CreatedAt); err != nil {
		return fmt.Errorf("row %d: created_at: %w", u.ID, err)
	}
	if err := cols.times[1].Scan(v[auditColUpdated], &u.UpdatedAt); err != nil {
		return fmt.Errorf("row %d: updated_at: %w", u.ID, err)
	}
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	u.Warning = nil
	if v[auditColWarned] != nil { // the row has a warning
		w := &cleanup.RowWarning{State: sc.str(v[19]), EmailStatus: sc.str(v[20]), EmailMessage: string(v[21])}
		if err := cols.times[2].Scan(v[auditColWarned], &w.WarnedAt); err != nil {
			return fmt.Errorf("row %d: warned_at: %w", u.ID, err)
		}
		if v[auditColRemoval] != nil {
			if err := cols.times[3].Scan(v[auditColRemoval], &w.RemovalDate); err != nil {
				return fmt.Errorf("row %d: removal_date: %w", u.ID, err)
			}
		}
		w.WarnedAt, w.RemovalDate = w.WarnedAt.UTC(), w.RemovalDate.UTC()
		u.Warning = w
	}
	return nil
}

// readPostgres appends the rows of one Entra batch query (memberCursor.Next)
// read with pgx itself, for the reason pgxChunkReader gives: through
// database/sql every cell was converted, boxed and copied, about 40% of our
// CPU in the Entra pass. Only the e-mail (and the group id when it
// changes) becomes a Go string; the last row's e-mail key is kept for the
// next batch's keyset.
func (c *memberCursor) readPostgres(ctx context.Context, q string, args []any, buf []cleanup.ExportMember) ([]cleanup.ExportMember, error) {
	conn, err := c.s.sqlDB.Conn(ctx)
	if err != nil {
		return buf, err
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		pc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("unexpected PostgreSQL driver connection %T", dc)
		}
		rows, err := pc.Conn().Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		fds := rows.FieldDescriptions()
		if len(fds) != 5 {
			return fmt.Errorf("export rows: %d columns, want 5", len(fds))
		}
		var (
			id      int64
			erased  bool
			group   string
			lastKey []byte
		)
		m := pc.Conn().TypeMap()
		idPlan := m.PlanScan(fds[0].DataTypeOID, fds[0].Format, &id)
		erasedPlan := m.PlanScan(fds[4].DataTypeOID, fds[4].Format, &erased)
		for rows.Next() {
			v := rows.RawValues()
			if err := idPlan.Scan(v[0], &id); err != nil {
				return fmt.Errorf("id: %w", err)
			}
			if err := erasedPlan.Scan(v[4], &erased); err != nil {
				return fmt.Errorf("row %d: erased: %w", id, err)
			}
			if string(v[1]) != group { // no allocation unless the group changes
				group = string(v[1])
			}
			buf = append(buf, cleanup.ExportMember{ID: id, GroupID: group, Email: string(v[2]), Erased: erased})
			lastKey = append(lastKey[:0], v[3]...)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if lastKey != nil {
			c.lastKey = string(lastKey)
		}
		return nil
	})
	return buf, err
}
