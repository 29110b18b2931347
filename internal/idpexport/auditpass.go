package idpexport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
)

// Audit pipeline sizes: batches in flight and rows per batch.
const (
	auditBatches   = 4
	auditBatchRows = 256
)

// auditBatch is a batch of rows handed to the formatting goroutine.
type auditBatch struct {
	users []cleanup.AffectedUser
	n     int
}

// recordAudit records the run's audit CSV and JSON as streamed files: no
// bytes are stored, WriteAudit produces them from the run's rows when they
// are downloaded. Their creation time is the generation's, which the JSON
// names as generatedAt. rows is the run's row count (countRows).
func (g *generation) recordAudit(ctx context.Context, rows int64) (int64, error) {
	csvName, jsonName := AuditFileNames(g.run.ID, g.run.Date, g.run.DryRun)
	for _, f := range []cleanup.ExportFile{
		{Kind: cleanup.ExportKindAuditCSV, FileName: csvName, ContentType: MediaTypeCSV},
		{Kind: cleanup.ExportKindAuditJSON, FileName: jsonName, ContentType: MediaTypeJSON},
	} {
		f.Rows, f.CreatedAt = rows, g.run.GeneratedAt
		if err := g.e.store.RecordStreamedFile(ctx, g.run, f); err != nil {
			return 0, err
		}
	}
	return rows, nil
}

// countRows counts the run's rows on a goroutine of its own, so that the
// count (a pass over the run's index, 50–110 ms for a million rows) runs
// beside the Entra pass instead of after it; the count does not depend on
// anything the pass writes. The result arrives once on the returned
// channel.
func (g *generation) countRows(ctx context.Context) <-chan rowCount {
	out := make(chan rowCount, 1)
	go func() {
		n, err := g.e.store.RowCount(ctx, g.run)
		out <- rowCount{n, err}
	}()
	return out
}

// rowCount is countRows' result.
type rowCount struct {
	n   int64
	err error
}

// AuditSource is what WriteAudit reads: the run and its rows in id order
// (cleanup.ExportStore has both; *store.Store implements it).
type AuditSource interface {
	ExportRun(ctx context.Context, clientKey string, runID int64) (cleanup.ExportRun, error)
	AuditRows(ctx context.Context, run cleanup.ExportRun, batch int) (cleanup.AuditCursor, error)
}

// AuditStream is a streamed audit file ready to be written: its run is
// loaded and its rows' cursor open, so an unknown run or a database that
// cannot be read is an error before any byte is sent.
type AuditStream struct {
	// ctx is the caller's (a download's request): WriteTo, an io.WriterTo,
	// reads the rows under it.
	ctx    context.Context
	file   cleanup.ExportFile
	run    cleanup.ExportRun
	cursor cleanup.AuditCursor
}

// OpenAudit prepares the streamed audit file f (kind ExportKindAuditCSV
// or ExportKindAuditJSON) of its run for WriteTo, reading rows in batches
// of batch (0: DefaultBatchSize). This is the one path from a run's rows to
// its audit files: they hold what the rows hold when downloaded. Close
// the stream when done.
func OpenAudit(ctx context.Context, src AuditSource, f cleanup.ExportFile, batch int) (*AuditStream, error) {
	if f.Kind != cleanup.ExportKindAuditCSV && f.Kind != cleanup.ExportKindAuditJSON {
		return nil, fmt.Errorf("idpexport: %s is not an audit file (%s)", f.FileName, f.Kind)
	}
	if batch <= 0 {
		batch = DefaultBatchSize
	}
	run, err := src.ExportRun(ctx, f.ClientKey, f.RunID)
	if err != nil {
		return nil, err
	}
	cursor, err := src.AuditRows(ctx, run, batch)
	if err != nil {
		return nil, err
	}
	return &AuditStream{ctx: ctx, file: f, run: run, cursor: cursor}, nil
}

// WriteTo writes the whole file to w and returns the bytes written. The
// bytes are those the exporter stored before audit files were streamed:
// the CSV and JSON writers of audit.go over the rows in id order, the JSON
// naming the file's creation time as generatedAt.
func (a *AuditStream) WriteTo(w io.Writer) (int64, error) {
	cw := &byteCounter{w: w}
	var (
		write func(*cleanup.AffectedUser) error
		close func() error
	)
	switch a.file.Kind {
	case cleanup.ExportKindAuditCSV:
		out, err := NewAuditCSVWriter(cw)
		if err != nil {
			return cw.n, err
		}
		write, close = func(u *cleanup.AffectedUser) error { return out.Write(*u) }, out.Close
	default:
		out, err := NewAuditJSONWriter(cw, AuditMeta{RunID: a.run.ID, DryRun: a.run.DryRun, GeneratedAt: a.file.CreatedAt})
		if err != nil {
			return cw.n, err
		}
		write, close = func(u *cleanup.AffectedUser) error { return out.Write(*u) }, out.Close
	}
	if _, err := pipeAudit(a.ctx, a.cursor, write); err != nil {
		return cw.n, err
	}
	err := close()
	return cw.n, err
}

// Close closes the rows' cursor.
func (a *AuditStream) Close() error { return a.cursor.Close() }

// WriteAudit writes the streamed audit file f to w (OpenAudit, WriteTo,
// Close).
func WriteAudit(ctx context.Context, src AuditSource, f cleanup.ExportFile, w io.Writer) (int64, error) {
	a, err := OpenAudit(ctx, src, f, 0)
	if err != nil {
		return 0, err
	}
	n, err := a.WriteTo(w)
	return n, errors.Join(err, a.Close())
}

// byteCounter counts the bytes written through it.
type byteCounter struct {
	w io.Writer
	n int64
}

func (c *byteCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// pipeAudit shares the work between two goroutines: this one reads rows
// from the cursor into batches, the other formats them (write), so the
// database driver and the writer overlap. It returns the rows written.
func pipeAudit(ctx context.Context, cursor cleanup.AuditCursor, write func(*cleanup.AffectedUser) error) (int64, error) {
	batches := make([]auditBatch, auditBatches)
	free := make(chan *auditBatch, auditBatches)
	for i := range batches {
		batches[i].users = make([]cleanup.AffectedUser, auditBatchRows)
		for j := range batches[i].users {
			batches[i].users[j].LastActive = make(map[string]time.Time, 4)
		}
		free <- &batches[i]
	}
	full := make(chan *auditBatch, auditBatches)
	var failed atomic.Bool
	written := make(chan error, 1)
	go func() {
		var err error
		for b := range full {
			for i := 0; i < b.n && err == nil; i++ {
				err = write(&b.users[i])
			}
			if err != nil {
				failed.Store(true)
			}
			free <- b
		}
		written <- err
	}()
	var (
		total   int64
		readErr error
	)
	for !failed.Load() {
		b := <-free
		b.n, readErr = cursor.Next(ctx, b.users)
		if b.n == 0 || readErr != nil {
			free <- b
			break
		}
		total += int64(b.n)
		full <- b
	}
	close(full)
	if err := <-written; err != nil {
		return 0, err
	}
	return total, readErr
}
