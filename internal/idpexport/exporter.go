package idpexport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
)

// DefaultBatchSize is the number of rows an Exporter reads per query.
const DefaultBatchSize = 20_000

// ExporterConfig tunes an Exporter; the zero value is usable.
type ExporterConfig struct {
	// BatchSize is the number of rows read per query (default
	// DefaultBatchSize).
	BatchSize int
	// ChunkSize is the size of the stored chunks (0: the store's default).
	ChunkSize int
	// EntraWorkers is the number of workers that write the Entra files,
	// each whole groups at a time (0: one per core, between 2 and 4; see
	// maxDefaultEntraWorkers). The files are the same for any number.
	EntraWorkers int
	Logger       *slog.Logger // nil: discard
}

// Exporter generates and stores the export files of finished runs: one
// Entra bulk-remove CSV per identity-provider group (split into parts) and,
// when there are Entra files, the ZIP bundle; it records the audit CSV and
// JSON of all the run's rows, which are not stored but streamed from the
// rows when downloaded (OpenAudit). For a restore
// (cleanup.ExportRun.Restore) the Entra files are "Bulk add members" files
// of the same template, named …-add-members.csv, and there is no bundle. It
// implements cleanup.Exporter.
//
// It owns the rules (which rows go into which Entra file, the identifier
// check and the notes recorded on rows, the identity-provider group each
// file is for, file names and parts); the cleanup.ExportStore reads the
// rows in the orders the files need and stores the bytes. Generation
// streams: rows are read in batches straight through the writers into the
// store's sink, so memory does not grow with the number of rows. The Entra
// files are written by a few workers at once, each whole groups from its
// own ranges of group ids, so reading, formatting and storing overlap
// across cores and connections; the files are the same for any number of
// workers. It happens once per run: when the run already has complete
// files, GenerateRunExports does nothing. Files become visible only when
// all of them are written; the files of an attempt that failed are
// deleted by the next attempt. Two attempts for the same run must not
// overlap (the run engine's lease ensures it).
//
// The Entra files list the rows' e-mail addresses as user principal names
// (settings refuse the "objectId" identifier until run rows carry the
// users' Entra object ids).
type Exporter struct {
	store        cleanup.ExportStore
	batch        int
	chunk        int
	entraWorkers int
	log          *slog.Logger
}

var _ cleanup.Exporter = (*Exporter)(nil)

// NewExporter returns an Exporter that reads and writes through store.
func NewExporter(store cleanup.ExportStore, cfg ExporterConfig) *Exporter {
	e := &Exporter{store: store, batch: cfg.BatchSize, chunk: cfg.ChunkSize, entraWorkers: cfg.EntraWorkers, log: cfg.Logger}
	if e.batch <= 0 {
		e.batch = DefaultBatchSize
	}
	if e.entraWorkers <= 0 {
		e.entraWorkers = defaultEntraWorkers()
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	return e
}

// generation is the state of one GenerateRunExports call.
type generation struct {
	e     *Exporter
	run   cleanup.ExportRun
	opts  EntraOptions
	sink  cleanup.ExportFileSink
	entra []cleanup.ExportFile // the Entra files written, in group then part order, for the bundle
}

// GenerateRunExports implements cleanup.Exporter.
func (e *Exporter) GenerateRunExports(ctx context.Context, clientKey string, runID int64) (err error) {
	run, err := e.store.ExportRun(ctx, clientKey, runID)
	if err != nil {
		return err
	}
	if done, err := e.store.HasExports(ctx, run); err != nil || done {
		if done {
			e.log.DebugContext(ctx, "exports already generated", "client_key", clientKey, "run_id", runID)
		}
		return err
	}
	if err := e.store.DeleteIncompleteExports(ctx, run); err != nil {
		return err
	}
	opts := EntraOptionsOf(run.Settings.Export)
	if err := opts.Validate(); err != nil {
		return &cleanup.Error{Kind: cleanup.KindInvalid, Field: "export", Message: "The run's export settings are invalid.", Err: err}
	}
	sink, err := e.store.ExportFiles(ctx, run, e.chunk)
	if err != nil {
		return err
	}
	g := &generation{e: e, run: run, opts: opts, sink: sink}
	defer sink.Close()
	defer func() {
		if err != nil {
			// Leave nothing half-written behind; the next attempt retries.
			_ = sink.Close() // no chunk may arrive after the delete
			if derr := e.store.DeleteIncompleteExports(context.WithoutCancel(ctx), run); derr != nil {
				e.log.WarnContext(ctx, "delete incomplete exports", "client_key", clientKey, "run_id", runID, "error", derr.Error())
			}
		}
	}()
	return g.generate(ctx)
}

// generate writes every file, then makes them visible.
func (g *generation) generate(ctx context.Context) error {
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	count := g.countRows(ctx) // auditpass.go
	defer func() {
		cancel()
		if count != nil {
			<-count // the count's goroutine does not outlive the call
		}
	}()
	entraRows, err := g.writeEntraFiles(ctx)
	if err != nil {
		return err
	}
	entraDone := time.Now()
	c := <-count
	count = nil
	if c.err != nil {
		return c.err
	}
	auditRows, err := g.recordAudit(ctx, c.n) // auditpass.go: streamed at download
	if err != nil {
		return err
	}
	auditDone := time.Now()
	if err := g.writeBundle(ctx); err != nil {
		return err
	}
	if err := g.sink.Close(); err != nil {
		return err
	}
	bundleDone := time.Now()
	if err := g.e.store.CompleteExports(ctx, g.run); err != nil {
		return err
	}
	g.e.log.InfoContext(ctx, "run exports generated", "client_key", g.run.ClientKey, "run_id", g.run.ID,
		"entra_files", len(g.entra), "entra_rows", entraRows, "entra_workers", g.e.entraWorkers, "audit_rows", auditRows,
		"entra_duration", entraDone.Sub(start).Round(time.Millisecond).String(),
		"audit_duration", auditDone.Sub(entraDone).Round(time.Millisecond).String(),
		"bundle_duration", bundleDone.Sub(auditDone).Round(time.Millisecond).String(),
		"duration", time.Since(start).Round(time.Millisecond).String())
	return nil
}

// EntraOptionsOf returns the Entra file options of a tenant's export
// settings.
func EntraOptionsOf(x cleanup.ExportOptions) EntraOptions {
	return EntraOptions{
		LegacyVersionRow: x.LegacyVersionRow,
		ExampleRow:       x.ExampleRow,
		NoBOM:            x.NoBOM,
		MaxRowsPerFile:   x.MaxRowsPerFile,
	}
}

// writeBundle writes the ZIP of the run's Entra files, when there are any.
// A restore's bulk-add files get none: the bundle's README and script are
// about removing members.
func (g *generation) writeBundle(ctx context.Context) error {
	if len(g.entra) == 0 || g.run.Restore {
		return nil
	}
	info := BundleInfo{RunID: g.run.ID, RunDate: g.run.Date, DryRun: g.run.DryRun, Options: g.opts}
	manual, total, err := g.e.store.ManualRows(ctx, g.run, ReadmeManualMax)
	if err != nil {
		return err
	}
	info.Manual, info.ManualTotal = manual, total
	found := map[string]string{} // Atlassian group id → Entra object id the run's connection found
	for _, gr := range g.run.Groups {
		if cleanup.IsObjectID(gr.IdPGroupID) {
			found[gr.ID] = gr.IdPGroupID
		}
	}
	files := make([]BundleFile, 0, len(g.entra))
	var rows int64
	for _, f := range g.entra {
		bf := BundleFile{
			Name: f.FileName, GroupName: f.IdPGroup, EntraGroupID: found[f.GroupID],
			Part: f.Part, Parts: f.Parts, Rows: int(f.Rows), SHA256: f.SHA256, Size: f.Size,
			Open: func() (io.ReadCloser, error) { return g.sink.Open(ctx, f.ID) },
		}
		if cleanup.IsObjectID(f.IdPGroup) {
			bf.EntraGroupID, bf.GroupName = f.IdPGroup, f.GroupName
		}
		files = append(files, bf)
		rows += f.Rows
	}
	// The Entra files are read back from the store: wait for their last
	// chunks.
	if err := g.sink.Sync(); err != nil {
		return err
	}
	name := BundleFileName(info)
	w, err := g.sink.Create(ctx, cleanup.ExportFile{Kind: cleanup.ExportKindBundle, FileName: name, ContentType: MediaTypeZIP})
	if err != nil {
		return err
	}
	defer w.Close()
	if err := WriteBundle(w, files, info); err != nil {
		return fmt.Errorf("idpexport: bundle of run %d: %w", g.run.ID, err)
	}
	if err := w.Close(); err != nil {
		return err
	}
	return g.sink.Finish(ctx, w, name, 1, rows)
}

// errChanged reports rows that appeared while the export read them.
var errChanged = errors.New("idpexport: the run's rows changed during the export")
