package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
)

// DefaultExportChunkSize is the size of the chunks export files are stored
// in: large enough that a file of a million rows is a few dozen INSERTs,
// small enough that neither writing nor serving a file holds much memory.
const DefaultExportChunkSize = 1 << 20

// exportFileColumns are the columns scanned by scanExportFile, in order.
const exportFileColumns = `id, client_key, run_id, kind, identity_provider, group_id, group_name, idp_group,
	part, parts, file_name, content_type, row_count, size, sha256, dry_run, created_at`

// rebind turns the ? placeholders of q into $1, $2, … for PostgreSQL. The
// queries of this package never contain a literal "?".
func (s *Store) rebind(q string) string {
	if s.driver != Postgres {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

type rowScanner interface{ Scan(dest ...any) error }

func scanExportFile(r rowScanner) (cleanup.ExportFile, error) {
	var f cleanup.ExportFile
	err := r.Scan(&f.ID, &f.ClientKey, &f.RunID, &f.Kind, &f.IdentityProvider, &f.GroupID, &f.GroupName,
		&f.IdPGroup, &f.Part, &f.Parts, &f.FileName, &f.ContentType, &f.Rows, &f.Size, &f.SHA256,
		&f.DryRun, &f.CreatedAt)
	f.CreatedAt = f.CreatedAt.UTC()
	return f, err
}

// RunExports lists the complete export files of one of the tenant's runs.
// A run that does not exist or belongs to another tenant is a
// cleanup.KindNotFound error; a run whose exports are not generated yet
// has no files.
func (s *Store) RunExports(ctx context.Context, clientKey string, runID int64) (cleanup.RunExports, error) {
	out := cleanup.RunExports{RunID: runID}
	var finished sql.NullTime
	err := s.sqlDB.QueryRowContext(ctx, s.rebind(`SELECT dry_run, finished_at FROM runs WHERE id = ? AND client_key = ?`),
		runID, clientKey).Scan(&out.DryRun, &finished)
	if errors.Is(err, sql.ErrNoRows) {
		return out, &cleanup.Error{Kind: cleanup.KindNotFound, Message: "No such run."}
	}
	if err != nil {
		return out, fmt.Errorf("store: read run %d: %w", runID, err)
	}
	out.Finished = finished.Valid
	rows, err := s.sqlDB.QueryContext(ctx, s.rebind(`SELECT `+exportFileColumns+` FROM export_files
		WHERE client_key = ? AND run_id = ? AND complete
		ORDER BY kind, group_name, group_id, part`), clientKey, runID)
	if err != nil {
		return out, fmt.Errorf("store: list exports of run %d: %w", runID, err)
	}
	defer rows.Close()
	for rows.Next() {
		f, err := scanExportFile(rows)
		if err != nil {
			return out, fmt.Errorf("store: list exports of run %d: %w", runID, err)
		}
		out.Files = append(out.Files, f)
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("store: list exports of run %d: %w", runID, err)
	}
	return out, nil
}

// ExportFile returns the complete export file with the id, whichever
// tenant it belongs to: the caller must check f.ClientKey (a signed
// download link names the tenant). Unknown or incomplete files are a
// cleanup.KindNotFound error.
func (s *Store) ExportFile(ctx context.Context, id int64) (cleanup.ExportFile, error) {
	f, err := scanExportFile(s.sqlDB.QueryRowContext(ctx,
		s.rebind(`SELECT `+exportFileColumns+` FROM export_files WHERE id = ? AND complete`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return f, &cleanup.Error{Kind: cleanup.KindNotFound, Message: "No such file."}
	}
	if err != nil {
		return f, fmt.Errorf("store: read export file %d: %w", id, err)
	}
	return f, nil
}

// OpenExportFile returns a reader of the file's bytes. It reads one chunk
// at a time, each with its own short query, so a slow download holds
// neither a connection nor a transaction between chunks.
func (s *Store) OpenExportFile(ctx context.Context, f cleanup.ExportFile) (io.ReadCloser, error) {
	if f.ID <= 0 {
		return nil, errors.New("store: OpenExportFile needs a stored file")
	}
	return &chunkReader{ctx: ctx, s: s, fileID: f.ID, query: s.rebind(`SELECT data FROM export_chunks WHERE file_id = ? AND seq = ?`)}, nil
}

// chunkReader reads a stored file chunk by chunk.
type chunkReader struct {
	ctx    context.Context
	s      *Store
	fileID int64
	query  string
	seq    int
	cur    []byte
	eof    bool
	closed bool
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, errors.New("store: read of a closed export file")
	}
	for len(r.cur) == 0 {
		if r.eof {
			return 0, io.EOF
		}
		var data []byte
		err := r.s.sqlDB.QueryRowContext(r.ctx, r.query, r.fileID, r.seq).Scan(&data)
		if errors.Is(err, sql.ErrNoRows) {
			r.eof = true
			return 0, io.EOF
		}
		if err != nil {
			return 0, fmt.Errorf("store: read chunk %d of export file %d: %w", r.seq, r.fileID, err)
		}
		r.seq++
		r.cur = data
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

func (r *chunkReader) Close() error {
	r.closed = true
	r.cur = nil
	return nil
}

// chunkWriter stores what is written to it as chunks of one export file and
// hashes it. Close stores the last, partial chunk.
type chunkWriter struct {
	ctx    context.Context
	insert *sql.Stmt
	fileID int64
	seq    int
	buf    []byte // len = pending bytes, cap = chunk size
	size   int64
	sum    hash.Hash
	err    error
	closed bool
}

func newChunkWriter(ctx context.Context, insert *sql.Stmt, fileID int64, buf []byte) *chunkWriter {
	return &chunkWriter{ctx: ctx, insert: insert, fileID: fileID, buf: buf[:0], sum: sha256.New()}
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errors.New("store: write to a closed export file")
	}
	if w.err != nil {
		return 0, w.err
	}
	written := 0
	for len(p) > 0 {
		n := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf = w.buf[:len(w.buf)+n]
		p = p[n:]
		written += n
		if len(w.buf) == cap(w.buf) {
			if err := w.flush(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

func (w *chunkWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if _, err := w.insert.ExecContext(w.ctx, w.fileID, w.seq, w.buf); err != nil {
		w.err = fmt.Errorf("store: write chunk %d of export file %d: %w", w.seq, w.fileID, err)
		return w.err
	}
	w.sum.Write(w.buf)
	w.size += int64(len(w.buf))
	w.seq++
	w.buf = w.buf[:0]
	return nil
}

// Close stores the last chunk. It is safe to call twice.
func (w *chunkWriter) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err != nil {
		return w.err
	}
	return w.flush()
}

// SHA256 returns the lowercase hex SHA-256 of the stored bytes.
func (w *chunkWriter) SHA256() string { return hex.EncodeToString(w.sum.Sum(nil)) }

// createExportFile inserts an incomplete export_files row and returns its id.
func (s *Store) createExportFile(ctx context.Context, f cleanup.ExportFile) (int64, error) {
	var id int64
	err := s.sqlDB.QueryRowContext(ctx, s.rebind(`INSERT INTO export_files
		(client_key, run_id, kind, identity_provider, group_id, group_name, idp_group, part, parts,
		 file_name, content_type, row_count, size, sha256, dry_run, complete, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, '', ?, FALSE, ?) RETURNING id`),
		f.ClientKey, f.RunID, f.Kind, f.IdentityProvider, f.GroupID, f.GroupName, f.IdPGroup, f.Part, f.Parts,
		f.FileName, f.ContentType, f.DryRun, f.CreatedAt.UTC()).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: create export file %q: %w", f.FileName, err)
	}
	return id, nil
}

// finishExportFile records a written file's final name, size and hash.
func (s *Store) finishExportFile(ctx context.Context, id int64, fileName string, parts int, rows, size int64, sum string) error {
	_, err := s.sqlDB.ExecContext(ctx, s.rebind(`UPDATE export_files
		SET file_name = ?, parts = ?, row_count = ?, size = ?, sha256 = ? WHERE id = ?`),
		fileName, parts, rows, size, sum, id)
	if err != nil {
		return fmt.Errorf("store: finish export file %d: %w", id, err)
	}
	return nil
}

// exportTime is the creation time recorded for files.
func (s *Store) exportTime() time.Time { return s.now().UTC() }
