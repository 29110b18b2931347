package store

import (
	"cmp"
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
	"sync"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
)

// DefaultExportChunkSize is the size of the chunks export files are stored
// in: large enough that a file of a million rows is a few dozen INSERTs,
// small enough that neither writing nor serving a file holds much memory.
const DefaultExportChunkSize = 1 << 20

// exportFileColumns are the columns scanned by scanExportFile, in order.
const exportFileColumns = `id, client_key, run_id, kind, identity_provider, group_id, group_name, idp_group,
	part, parts, file_name, content_type, row_count, size, sha256, dry_run, streamed, created_at`

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
		&f.DryRun, &f.Streamed, &f.CreatedAt)
	f.CreatedAt = f.CreatedAt.UTC()
	return f, err
}

// RunExports lists the complete export files of one of the tenant's runs.
// A run that does not exist or belongs to another tenant is a
// cleanup.KindNotFound error; a run whose exports are not generated yet
// has no files. A run whose files are being generated again after a
// personal data erasure or refresh reads as not finished.
func (s *Store) RunExports(ctx context.Context, clientKey string, runID int64) (cleanup.RunExports, error) {
	out := cleanup.RunExports{RunID: runID}
	var finished sql.NullTime
	var stale bool
	err := s.sqlDB.QueryRowContext(ctx, s.rebind(`SELECT dry_run, finished_at, exports_stale FROM runs WHERE id = ? AND client_key = ?`),
		runID, clientKey).Scan(&out.DryRun, &finished, &stale)
	if errors.Is(err, sql.ErrNoRows) {
		return out, &cleanup.Error{Kind: cleanup.KindNotFound, Message: "No such run."}
	}
	if err != nil {
		return out, fmt.Errorf("store: read run %d: %w", runID, err)
	}
	// Files an erasure deleted are being generated again: not finished
	// until they are there (personal data reporting).
	out.Finished = finished.Valid && !stale
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

// OpenExportFile returns a reader of a stored file's bytes. It reads one
// chunk at a time, each with its own short query, so a slow download holds
// neither a connection nor a transaction between chunks. A streamed file
// has no stored bytes (idpexport.WriteAudit produces them).
func (s *Store) OpenExportFile(ctx context.Context, f cleanup.ExportFile) (io.ReadCloser, error) {
	if f.ID <= 0 || f.Streamed {
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

// chunkSink stores the chunks of export files.
type chunkSink interface {
	// buffer returns an empty buffer whose capacity is the chunk size.
	buffer() []byte
	// put stores data as chunk seq of the file. It takes data over and
	// returns an empty buffer to continue with.
	put(fileID int64, seq int, data []byte) ([]byte, error)
	// release takes back a buffer that is no longer used.
	release(buf []byte)
}

// stmtSink stores each chunk before put returns.
type stmtSink struct {
	ctx    context.Context
	insert *sql.Stmt
	size   int
}

func (s stmtSink) buffer() []byte { return make([]byte, 0, s.size) }
func (s stmtSink) release([]byte) {}
func (s stmtSink) put(fileID int64, seq int, data []byte) ([]byte, error) {
	_, err := s.insert.ExecContext(s.ctx, fileID, seq, data)
	return data[:0], err
}

// asyncSink stores chunks on a goroutine of its own, so that reading rows
// and formatting them overlap with writing the previous chunk. Several
// producers (the Entra pass's workers) may put, sync and release at once.
//
// Memory is bounded without counting buffers: a producer holds one buffer
// per open file, at most queued chunks wait in jobs (put blocks when it is
// full) and one is being stored; put takes a free buffer or makes one, so
// no more buffers exist than are in use at the busiest moment: open files
// + queued + 1. A producer never waits for a buffer, only for room in the
// queue, which the goroutine empties whatever the producers hold, so no
// set of producers can wait on each other.
//
// The first error is kept and returned by every later call.
type asyncSink struct {
	ctx    context.Context
	insert *sql.Stmt
	size   int
	jobs   chan chunkJob
	free   chan []byte // buffers to reuse; one that finds it full is left to the GC
	done   chan struct{}

	// sending is held shared while a producer sends on jobs and
	// exclusively by close, so nothing is sent on the closed channel.
	sending sync.RWMutex
	closed  bool // guarded by sending

	mu  sync.Mutex
	err error
}

type chunkJob struct {
	fileID  int64
	seq     int
	data    []byte
	barrier chan struct{} // set: no data, closed when every earlier job is done
}

// errSinkClosed is returned by a put or sync after close.
var errSinkClosed = errors.New("store: export sink closed")

func newAsyncSink(ctx context.Context, insert *sql.Stmt, size, queued int) *asyncSink {
	a := &asyncSink{ctx: ctx, insert: insert, size: size,
		jobs: make(chan chunkJob, queued), free: make(chan []byte, queued+1), done: make(chan struct{})}
	go a.run()
	return a
}

func (a *asyncSink) run() {
	defer close(a.done)
	for j := range a.jobs {
		if j.barrier != nil {
			close(j.barrier)
			continue
		}
		if a.failed() == nil {
			if _, err := a.insert.ExecContext(a.ctx, j.fileID, j.seq, j.data); err != nil {
				a.fail(fmt.Errorf("store: write chunk %d of export file %d: %w", j.seq, j.fileID, err))
			}
		}
		a.release(j.data)
	}
}

func (a *asyncSink) failed() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// fail keeps err unless an error was kept already.
func (a *asyncSink) fail(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err == nil {
		a.err = err
	}
}

func (a *asyncSink) buffer() []byte {
	select {
	case b := <-a.free:
		return b
	default:
		return make([]byte, 0, a.size)
	}
}

func (a *asyncSink) release(buf []byte) {
	if buf == nil {
		return
	}
	select {
	case a.free <- buf[:0]:
	default: // enough buffers are waiting to be reused
	}
}

// send queues a job unless the sink is closed.
func (a *asyncSink) send(j chunkJob) error {
	a.sending.RLock()
	defer a.sending.RUnlock()
	if a.closed {
		return errSinkClosed
	}
	a.jobs <- j
	return nil
}

func (a *asyncSink) put(fileID int64, seq int, data []byte) ([]byte, error) {
	if err := a.failed(); err != nil {
		a.release(data)
		return nil, err
	}
	if err := a.send(chunkJob{fileID: fileID, seq: seq, data: data}); err != nil {
		a.release(data)
		return nil, err
	}
	return a.buffer(), nil
}

// sync waits until every chunk put so far (by any producer) is stored.
func (a *asyncSink) sync() error {
	b := make(chan struct{})
	if err := a.send(chunkJob{barrier: b}); err != nil {
		return cmp.Or(a.failed(), err)
	}
	<-b
	return a.failed()
}

// close stores the pending chunks and stops the goroutine. Later calls
// only report the error.
func (a *asyncSink) close() error {
	a.sending.Lock()
	if !a.closed {
		a.closed = true
		close(a.jobs)
	}
	a.sending.Unlock()
	<-a.done
	return a.failed()
}

// chunkWriter stores what is written to it as chunks of one export file and
// hashes it. Close stores the last, partial chunk and gives the buffer back.
type chunkWriter struct {
	sink   chunkSink
	fileID int64
	seq    int
	buf    []byte // len = pending bytes, cap = chunk size
	size   int64
	sum    hash.Hash
	err    error
	closed bool
}

func newChunkWriter(sink chunkSink, fileID int64) *chunkWriter {
	return &chunkWriter{sink: sink, fileID: fileID, buf: sink.buffer(), sum: sha256.New()}
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
	w.sum.Write(w.buf)
	w.size += int64(len(w.buf))
	buf, err := w.sink.put(w.fileID, w.seq, w.buf)
	w.buf = buf
	if err != nil {
		w.err = fmt.Errorf("store: write chunk %d of export file %d: %w", w.seq, w.fileID, err)
		return w.err
	}
	w.seq++
	return nil
}

// Close stores the last chunk and releases the buffer. It is safe to call
// twice.
func (w *chunkWriter) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err == nil {
		w.err = w.flush()
	}
	w.sink.release(w.buf)
	w.buf = nil
	return w.err
}

// SHA256 returns the lowercase hex SHA-256 of the stored bytes.
func (w *chunkWriter) SHA256() string { return hex.EncodeToString(w.sum.Sum(nil)) }

// FileID is the id of the file being written.
func (w *chunkWriter) FileID() int64 { return w.fileID }

// Size is the number of bytes written so far.
func (w *chunkWriter) Size() int64 { return w.size }

// exportQueuedChunks is the number of chunks of a generation that may wait
// to be stored; the producers' open files hold one buffer each besides.
const exportQueuedChunks = 4

// ExportFiles implements cleanup.ExportStore: the sink stores chunks on a
// goroutine of its own (asyncSink), so formatting overlaps with storing.
func (s *Store) ExportFiles(ctx context.Context, run cleanup.ExportRun, chunkSize int) (cleanup.ExportFileSink, error) {
	if chunkSize <= 0 {
		chunkSize = DefaultExportChunkSize
	}
	insert, err := s.sqlDB.PrepareContext(ctx, s.rebind(`INSERT INTO export_chunks (file_id, seq, data) VALUES (?, ?, ?)`))
	if err != nil {
		return nil, fmt.Errorf("store: prepare export: %w", err)
	}
	return &fileSink{s: s, run: run, insert: insert, chunks: newAsyncSink(ctx, insert, chunkSize, exportQueuedChunks)}, nil
}

// fileSink is the cleanup.ExportFileSink of one generation.
type fileSink struct {
	s      *Store
	run    cleanup.ExportRun
	insert *sql.Stmt
	chunks *asyncSink
	closed bool
	err    error
}

// Create implements cleanup.ExportFileSink.
func (f *fileSink) Create(ctx context.Context, file cleanup.ExportFile) (cleanup.ExportFileWriter, error) {
	file.ClientKey, file.RunID, file.DryRun, file.CreatedAt = f.run.ClientKey, f.run.ID, f.run.DryRun, f.s.exportTime()
	if file.Part == 0 {
		file.Part, file.Parts = 1, 1
	}
	id, err := f.s.createExportFile(ctx, file)
	if err != nil {
		return nil, err
	}
	return newChunkWriter(f.chunks, id), nil
}

// Finish implements cleanup.ExportFileSink.
func (f *fileSink) Finish(ctx context.Context, w cleanup.ExportFileWriter, fileName string, parts int, rows int64) error {
	return f.s.finishExportFile(ctx, w.FileID(), fileName, parts, rows, w.Size(), w.SHA256())
}

// Drop implements cleanup.ExportFileSink. Its chunks may still be on
// their way: wait for them, so none arrives after the delete.
func (f *fileSink) Drop(ctx context.Context, w cleanup.ExportFileWriter) error {
	_ = w.Close()
	if err := f.chunks.sync(); err != nil {
		return err
	}
	if _, err := f.s.sqlDB.ExecContext(ctx, f.s.rebind(`DELETE FROM export_files WHERE id = ?`), w.FileID()); err != nil {
		return fmt.Errorf("store: drop export file %d: %w", w.FileID(), err)
	}
	return nil
}

// Sync implements cleanup.ExportFileSink.
func (f *fileSink) Sync() error { return f.chunks.sync() }

// Open implements cleanup.ExportFileSink.
func (f *fileSink) Open(ctx context.Context, fileID int64) (io.ReadCloser, error) {
	return f.s.OpenExportFile(ctx, cleanup.ExportFile{ID: fileID})
}

// Close implements cleanup.ExportFileSink.
func (f *fileSink) Close() error {
	if !f.closed {
		f.closed = true
		f.err = f.chunks.close()
		if err := f.insert.Close(); f.err == nil && err != nil {
			f.err = fmt.Errorf("store: close export: %w", err)
		}
	}
	return f.err
}

// RecordStreamedFile implements cleanup.ExportStore.
func (s *Store) RecordStreamedFile(ctx context.Context, run cleanup.ExportRun, f cleanup.ExportFile) error {
	f.ClientKey, f.RunID, f.DryRun, f.Streamed, f.Size, f.SHA256 = run.ClientKey, run.ID, run.DryRun, true, 0, ""
	if f.Part == 0 {
		f.Part, f.Parts = 1, 1
	}
	_, err := s.createExportFile(ctx, f)
	return err
}

// RowCount implements cleanup.ExportStore.
func (s *Store) RowCount(ctx context.Context, run cleanup.ExportRun) (int64, error) {
	var n int64
	if err := s.sqlDB.QueryRowContext(ctx, s.rebind(`SELECT COUNT(*) FROM run_users WHERE run_id = ?`), run.ID).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: rows of run %d: %w", run.ID, err)
	}
	return n, nil
}

// createExportFile inserts an incomplete export_files row and returns its id.
func (s *Store) createExportFile(ctx context.Context, f cleanup.ExportFile) (int64, error) {
	var id int64
	err := s.sqlDB.QueryRowContext(ctx, s.rebind(`INSERT INTO export_files
		(client_key, run_id, kind, identity_provider, group_id, group_name, idp_group, part, parts,
		 file_name, content_type, row_count, size, sha256, dry_run, streamed, complete, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, '', ?, ?, FALSE, ?) RETURNING id`),
		f.ClientKey, f.RunID, f.Kind, f.IdentityProvider, f.GroupID, f.GroupName, f.IdPGroup, f.Part, f.Parts,
		f.FileName, f.ContentType, f.Rows, f.DryRun, f.Streamed, f.CreatedAt.UTC()).Scan(&id)
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
