package idpexport

import (
	"context"
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

// writeAudit writes the audit CSV and JSON of all the run's rows in one
// pass in id order.
func (g *generation) writeAudit(ctx context.Context) (int64, error) {
	csvName, jsonName := AuditFileNames(g.run.ID, g.run.Date, g.run.DryRun)
	cw, err := g.sink.Create(ctx, cleanup.ExportFile{Kind: cleanup.ExportKindAuditCSV, FileName: csvName, ContentType: MediaTypeCSV})
	if err != nil {
		return 0, err
	}
	defer cw.Close() // after an error: gives the buffer back
	jw, err := g.sink.Create(ctx, cleanup.ExportFile{Kind: cleanup.ExportKindAuditJSON, FileName: jsonName, ContentType: MediaTypeJSON})
	if err != nil {
		return 0, err
	}
	defer jw.Close()
	csvOut, err := NewAuditCSVWriter(cw)
	if err != nil {
		return 0, err
	}
	jsonOut, err := NewAuditJSONWriter(jw, AuditMeta{RunID: g.run.ID, DryRun: g.run.DryRun, GeneratedAt: g.run.GeneratedAt})
	if err != nil {
		return 0, err
	}
	cursor, err := g.e.store.AuditRows(ctx, g.run, g.e.batch)
	if err != nil {
		return 0, err
	}
	defer cursor.Close()
	total, err := g.auditPipeline(ctx, cursor, csvOut, jsonOut)
	if err != nil {
		return 0, err
	}
	if err := csvOut.Close(); err != nil {
		return 0, err
	}
	if err := jsonOut.Close(); err != nil {
		return 0, err
	}
	for _, w := range []cleanup.ExportFileWriter{cw, jw} {
		if err := w.Close(); err != nil {
			return 0, err
		}
	}
	if err := g.sink.Finish(ctx, cw, csvName, 1, total); err != nil {
		return 0, err
	}
	if err := g.sink.Finish(ctx, jw, jsonName, 1, total); err != nil {
		return 0, err
	}
	return total, nil
}

// auditPipeline shares the work between two goroutines: this one reads
// rows from the cursor into batches, the other formats them into both
// files (whose chunks the sink stores on a third), so the database driver
// and the writers overlap.
func (g *generation) auditPipeline(ctx context.Context, cursor cleanup.AuditCursor, csvOut *AuditCSVWriter, jsonOut *AuditJSONWriter) (int64, error) {
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
				if err = csvOut.Write(b.users[i]); err == nil {
					err = jsonOut.Write(b.users[i])
				}
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
