package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/idpexport"
)

// Defaults of ExporterConfig.
const (
	DefaultExportBatchSize = 20_000
)

// exportBuffers is the number of chunk buffers of a generation: one per
// file open at a time (at most two) plus chunks waiting to be stored.
const exportBuffers = 4

// Messages written to run rows by the export.
const (
	// ManualPrefix starts the message of a row the Entra file cannot carry.
	ManualPrefix = "Needs manual action: "
	// GuestMessage flags a B2B guest in an Entra file.
	GuestMessage = "B2B guest (#EXT#): check that this is the user's principal name in Entra before uploading"
)

// ExporterConfig tunes an Exporter; the zero value is usable.
type ExporterConfig struct {
	// BatchSize is the number of rows read per keyset query (default
	// DefaultExportBatchSize).
	BatchSize int
	// ChunkSize is the size of the stored chunks (default
	// DefaultExportChunkSize).
	ChunkSize int
	Logger    *slog.Logger // nil: discard
}

// Exporter generates and stores the export files of finished runs: one
// Entra bulk-remove CSV per identity-provider group (split into parts), the
// audit CSV and JSON of all the run's rows and, when there are Entra files,
// the ZIP bundle. It implements cleanup.Exporter.
//
// Generation streams rows from the database in keyset batches straight
// through the idpexport writers into stored chunks, so memory does not grow
// with the number of rows. It happens once per run: when the run already
// has complete files, GenerateRunExports does nothing. Files become visible
// only when all of them are written (see migrationExportFiles); the files
// of an attempt that failed are deleted by the next attempt. Two attempts
// for the same run must not overlap (the run engine's lease ensures it).
//
// The Entra files list the rows' e-mail addresses as user principal names
// (settings refuse the "objectId" identifier until run rows carry the
// users' Entra object ids).
type Exporter struct {
	s     *Store
	batch int
	chunk int
	log   *slog.Logger
}

// NewExporter returns an Exporter that reads and writes through s.
func NewExporter(s *Store, cfg ExporterConfig) *Exporter {
	e := &Exporter{s: s, batch: cfg.BatchSize, chunk: cfg.ChunkSize, log: cfg.Logger}
	if e.batch <= 0 {
		e.batch = DefaultExportBatchSize
	}
	if e.chunk <= 0 {
		e.chunk = DefaultExportChunkSize
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	return e
}

// exportRun is what generation needs to know about a run.
type exportRun struct {
	clientKey string
	id        int64
	dryRun    bool
	date      time.Time
	settings  cleanup.Settings
	created   time.Time
}

// generation is the state of one GenerateRunExports call.
type generation struct {
	e     *Exporter
	run   exportRun
	opts  idpexport.EntraOptions
	sink  *asyncSink // stores the chunks
	entra []cleanup.ExportFile
}

// GenerateRunExports implements cleanup.Exporter.
func (e *Exporter) GenerateRunExports(ctx context.Context, clientKey string, runID int64) (err error) {
	s := e.s
	run, err := e.loadRun(ctx, clientKey, runID)
	if err != nil {
		return err
	}
	var done int
	if err := s.sqlDB.QueryRowContext(ctx, s.rebind(`SELECT COUNT(*) FROM export_files WHERE run_id = ? AND client_key = ? AND complete`),
		runID, clientKey).Scan(&done); err != nil {
		return fmt.Errorf("store: exports of run %d: %w", runID, err)
	}
	if done > 0 {
		e.log.DebugContext(ctx, "exports already generated", "client_key", clientKey, "run_id", runID)
		return nil
	}
	if err := e.deleteIncomplete(ctx, clientKey, runID); err != nil {
		return err
	}
	opts := idpexport.EntraOptions{
		LegacyVersionRow: run.settings.Export.LegacyVersionRow,
		ExampleRow:       run.settings.Export.ExampleRow,
		NoBOM:            run.settings.Export.NoBOM,
		MaxRowsPerFile:   run.settings.Export.MaxRowsPerFile,
	}
	if err := opts.Validate(); err != nil {
		return &cleanup.Error{Kind: cleanup.KindInvalid, Field: "export", Message: "The run's export settings are invalid.", Err: err}
	}
	insert, err := s.sqlDB.PrepareContext(ctx, s.rebind(`INSERT INTO export_chunks (file_id, seq, data) VALUES (?, ?, ?)`))
	if err != nil {
		return fmt.Errorf("store: prepare export: %w", err)
	}
	defer insert.Close()
	g := &generation{e: e, run: run, opts: opts, sink: newAsyncSink(ctx, insert, e.chunk, exportBuffers)}
	defer g.sink.close()
	defer func() {
		if err != nil {
			// Leave nothing half-written behind; the next attempt retries.
			_ = g.sink.close() // no chunk may arrive after the delete
			if derr := e.deleteIncomplete(context.WithoutCancel(ctx), clientKey, runID); derr != nil {
				e.log.WarnContext(ctx, "delete incomplete exports", "client_key", clientKey, "run_id", runID, "error", derr.Error())
			}
		}
	}()
	start := time.Now()
	entraRows, err := g.writeEntraFiles(ctx)
	if err != nil {
		return err
	}
	entraDone := time.Now()
	auditRows, err := g.writeAudit(ctx)
	if err != nil {
		return err
	}
	auditDone := time.Now()
	if err := g.writeBundle(ctx); err != nil {
		return err
	}
	if err := g.sink.close(); err != nil {
		return err
	}
	bundleDone := time.Now()
	if _, err := s.sqlDB.ExecContext(ctx, s.rebind(`UPDATE export_files SET complete = TRUE WHERE run_id = ? AND client_key = ?`),
		runID, clientKey); err != nil {
		return fmt.Errorf("store: complete exports of run %d: %w", runID, err)
	}
	e.log.InfoContext(ctx, "run exports generated", "client_key", clientKey, "run_id", runID,
		"entra_files", len(g.entra), "entra_rows", entraRows, "audit_rows", auditRows,
		"entra_duration", entraDone.Sub(start).Round(time.Millisecond).String(),
		"audit_duration", auditDone.Sub(entraDone).Round(time.Millisecond).String(),
		"bundle_duration", bundleDone.Sub(auditDone).Round(time.Millisecond).String(),
		"duration", time.Since(start).Round(time.Millisecond).String())
	return nil
}

func (e *Exporter) deleteIncomplete(ctx context.Context, clientKey string, runID int64) error {
	s := e.s
	if _, err := s.sqlDB.ExecContext(ctx, s.rebind(`DELETE FROM export_files WHERE run_id = ? AND client_key = ? AND NOT complete`),
		runID, clientKey); err != nil {
		return fmt.Errorf("store: delete incomplete exports of run %d: %w", runID, err)
	}
	return nil
}

func (e *Exporter) loadRun(ctx context.Context, clientKey string, runID int64) (exportRun, error) {
	s := e.s
	r := exportRun{clientKey: clientKey, id: runID}
	var (
		settings string
		started  sql.NullTime
	)
	err := s.sqlDB.QueryRowContext(ctx, s.rebind(`SELECT dry_run, settings, started_at, created_at FROM runs WHERE id = ? AND client_key = ?`),
		runID, clientKey).Scan(&r.dryRun, &settings, &started, &r.created)
	if errors.Is(err, sql.ErrNoRows) {
		return r, &cleanup.Error{Kind: cleanup.KindNotFound, Message: "No such run."}
	}
	if err != nil {
		return r, fmt.Errorf("store: read run %d: %w", runID, err)
	}
	r.date = r.created.UTC()
	if started.Valid {
		r.date = started.Time.UTC()
	}
	r.settings = cleanup.DefaultSettings()
	if err := json.Unmarshal([]byte(settings), &r.settings); err != nil {
		return r, fmt.Errorf("store: settings snapshot of run %d: %w", runID, err)
	}
	return r, nil
}

// newFile creates an incomplete export file and a writer for its bytes.
func (g *generation) newFile(ctx context.Context, f cleanup.ExportFile) (*chunkWriter, error) {
	f.ClientKey, f.RunID, f.DryRun, f.CreatedAt = g.run.clientKey, g.run.id, g.run.dryRun, g.e.s.exportTime()
	if f.Part == 0 {
		f.Part, f.Parts = 1, 1
	}
	id, err := g.e.s.createExportFile(ctx, f)
	if err != nil {
		return nil, err
	}
	return newChunkWriter(g.sink, id), nil
}

// exportGroup is one identity-provider group of a run.
type exportGroup struct {
	id, name, provider string
	naming             idpexport.FileNames
}

// groups lists the run's identity-provider groups with unique file names.
func (g *generation) groups(ctx context.Context) (map[string]*exportGroup, error) {
	s := g.e.s
	// The run's tenant was checked in loadRun; run_users of a run all
	// belong to its tenant, and leaving client_key out keeps these
	// queries on the covering index.
	rows, err := s.sqlDB.QueryContext(ctx, s.rebind(`SELECT DISTINCT group_id FROM run_users`+g.membersIndex()+` WHERE run_id = ? AND action = ? AND outcome = ?`),
		g.run.id, cleanup.ActionIdPExport, cleanup.OutcomeExported)
	if err != nil {
		return nil, fmt.Errorf("store: export groups of run %d: %w", g.run.id, err)
	}
	var list []*exportGroup
	for rows.Next() {
		var gr exportGroup
		if err := rows.Scan(&gr.id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: export groups of run %d: %w", g.run.id, err)
		}
		list = append(list, &gr)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("store: export groups of run %d: %w", g.run.id, err)
	}
	one, err := s.sqlDB.PrepareContext(ctx, s.rebind(`SELECT group_name, identity_provider FROM run_users`+g.membersIndex()+`
		WHERE run_id = ? AND action = ? AND outcome = ? AND group_id = ? ORDER BY email_key`+g.collate()+`, id LIMIT 1`))
	if err != nil {
		return nil, fmt.Errorf("store: export groups of run %d: %w", g.run.id, err)
	}
	defer one.Close()
	for _, gr := range list {
		if err := one.QueryRowContext(ctx, g.run.id, cleanup.ActionIdPExport, cleanup.OutcomeExported, gr.id).Scan(&gr.name, &gr.provider); err != nil {
			return nil, fmt.Errorf("store: export group %q of run %d: %w", gr.id, g.run.id, err)
		}
		if gr.provider == "" {
			gr.provider = cleanup.ProviderEntra
		}
	}
	refs := make([]idpexport.GroupRef, len(list))
	for i, gr := range list {
		refs[i] = idpexport.GroupRef{ID: gr.id, Name: gr.name}
	}
	names := idpexport.UniqueFileNames(refs, g.run.date, g.run.dryRun)
	out := make(map[string]*exportGroup, len(list))
	for i, gr := range list {
		gr.naming = names[i]
		out[gr.id] = gr
	}
	return out, nil
}

// collate is the collation that makes PostgreSQL compare bytes, as the
// Entra writer expects (SQLite's default already does).
func (g *generation) collate() string {
	if g.e.s.driver == Postgres {
		return ` COLLATE "C"`
	}
	return ""
}

// membersIndex names the covering index of the Entra pass for SQLite,
// whose planner otherwise prefers the narrower run_users_export and looks
// every row up in the table (three times slower for a million rows).
// PostgreSQL picks its index by cost.
func (g *generation) membersIndex() string {
	if g.e.s.driver == SQLite {
		return " INDEXED BY run_users_export_members"
	}
	return ""
}

// runIDTerm is run_id in a WHERE clause that must not pick an index on
// run_id: SQLite's unary "+" keeps the planner on the rowid range.
func (g *generation) runIDTerm() string {
	if g.e.s.driver == SQLite {
		return "+run_id"
	}
	return "run_id"
}

// idpGroup is the identity-provider group an Atlassian group maps to.
func (g *generation) idpGroup(gr *exportGroup) string {
	if m := g.run.settings.IdentityProvider.GroupMappings[gr.id]; m != "" {
		return m
	}
	return gr.name
}

// rowNote is a message to record on one run row.
type rowNote struct {
	id      int64
	manual  bool
	message string
}

// groupFile is one part of a group being written.
type groupFile struct {
	id int64
	w  *chunkWriter
}

// writeEntraFiles writes the Entra files of every group, reading the
// idp-export rows in keyset batches ordered by (group_id, email_key).
func (g *generation) writeEntraFiles(ctx context.Context) (int64, error) {
	s := g.e.s
	groups, err := g.groups(ctx)
	if err != nil || len(groups) == 0 {
		return 0, err
	}
	collate := g.collate()
	first, err := s.sqlDB.PrepareContext(ctx, s.rebind(`SELECT id, group_id, email, email_key FROM run_users`+g.membersIndex()+`
		WHERE run_id = ? AND action = ? AND outcome = ?
		ORDER BY group_id`+collate+`, email_key`+collate+`, id LIMIT ?`))
	if err != nil {
		return 0, fmt.Errorf("store: prepare export rows: %w", err)
	}
	defer first.Close()
	next, err := s.sqlDB.PrepareContext(ctx, s.rebind(`SELECT id, group_id, email, email_key FROM run_users`+g.membersIndex()+`
		WHERE run_id = ? AND action = ? AND outcome = ?
		AND (group_id`+collate+`, email_key`+collate+`, id) > (?, ?, ?)
		ORDER BY group_id`+collate+`, email_key`+collate+`, id LIMIT ?`))
	if err != nil {
		return 0, fmt.Errorf("store: prepare export rows: %w", err)
	}
	defer next.Close()
	after, err := s.sqlDB.PrepareContext(ctx, s.rebind(`SELECT id, group_id, email, email_key FROM run_users`+g.membersIndex()+`
		WHERE run_id = ? AND action = ? AND outcome = ? AND group_id`+collate+` > ?
		ORDER BY group_id`+collate+`, email_key`+collate+`, id LIMIT ?`))
	if err != nil {
		return 0, fmt.Errorf("store: prepare export rows: %w", err)
	}
	defer after.Close()

	var (
		skipRest bool // the current group was written from memory: continue after it
		cur      *exportGroup
		writer   *idpexport.EntraWriter
		parts    []groupFile
		notes    []rowNote
		total    int64
		lastGrp  string
		lastKey  string
		lastID   int64
		started  bool
	)
	var recordParts func(written []idpexport.Part) error
	finishGroup := func() error {
		if writer == nil {
			return nil
		}
		w := writer
		writer = nil
		written, err := w.Finish()
		for _, p := range parts {
			_ = p.w.Close() // closed by the Entra writer; this releases the buffer after an error
		}
		if err != nil {
			return fmt.Errorf("store: export group %q of run %d: %w", cur.id, g.run.id, err)
		}
		return recordParts(written)
	}
	recordParts = func(written []idpexport.Part) error {
		if len(written) != len(parts) {
			return fmt.Errorf("store: export group %q of run %d: %d parts written, %d opened", cur.id, g.run.id, len(written), len(parts))
		}
		for i, p := range written {
			f := parts[i]
			if f.w.SHA256() != p.SHA256 || f.w.size != p.Bytes {
				return fmt.Errorf("store: export group %q of run %d: stored part %d differs from what was written", cur.id, g.run.id, p.Part)
			}
			if err := s.finishExportFile(ctx, f.id, p.FileName, len(written), int64(p.Rows), p.Bytes, p.SHA256); err != nil {
				return err
			}
			g.entra = append(g.entra, cleanup.ExportFile{
				ID: f.id, Kind: cleanup.ExportKindEntra, IdentityProvider: cur.provider, GroupID: cur.id,
				GroupName: cur.name, IdPGroup: g.idpGroup(cur), Part: p.Part, Parts: len(written),
				FileName: p.FileName, Rows: int64(p.Rows), Size: p.Bytes, SHA256: p.SHA256,
			})
		}
		parts = parts[:0]
		return nil
	}
	openPart := func(gr *exportGroup) idpexport.OpenPart {
		return func(part int) (io.WriteCloser, error) {
			w, err := g.newFile(ctx, cleanup.ExportFile{
				Kind: cleanup.ExportKindEntra, IdentityProvider: gr.provider, GroupID: gr.id, GroupName: gr.name,
				IdPGroup: g.idpGroup(gr), Part: part, Parts: part,
				FileName: gr.naming.Entra(part, part+1), ContentType: idpexport.MediaTypeCSV,
			})
			if err != nil {
				return nil, err
			}
			parts = append(parts, groupFile{id: w.fileID, w: w})
			return w, nil
		}
	}
	startGroup := func(gr *exportGroup) error {
		cur = gr
		var err error
		writer, err = idpexport.NewEntraWriter(openPart(gr), gr.naming, g.opts)
		return err
	}
	// sortInMemory rewrites the current group from memory when the
	// database order was not the writer's (e-mail keys lower-cased beyond
	// ASCII): its parts so far are dropped and its rows sorted in Go.
	sortInMemory := func() error {
		_, _ = writer.Finish()
		writer = nil
		for _, p := range parts {
			_ = p.w.Close()
		}
		if err := g.sink.sync(); err != nil {
			return err
		}
		for _, p := range parts {
			if _, err := s.sqlDB.ExecContext(ctx, s.rebind(`DELETE FROM export_files WHERE id = ?`), p.id); err != nil {
				return fmt.Errorf("store: drop part of export group %q: %w", cur.id, err)
			}
		}
		parts = parts[:0]
		if err := g.recordNotes(ctx, notes); err != nil {
			return err
		}
		notes = notes[:0]
		g.e.log.WarnContext(ctx, "export group not in writer order, sorting it in memory",
			"client_key", g.run.clientKey, "run_id", g.run.id, "group_id", cur.id)
		written, err := g.writeGroupSorted(ctx, cur, openPart(cur))
		if err != nil {
			return err
		}
		return recordParts(written)
	}
	defer func() {
		if writer != nil {
			_, _ = writer.Finish()
		}
	}()

	for {
		var rows *sql.Rows
		switch {
		case !started:
			rows, err = first.QueryContext(ctx, g.run.id, cleanup.ActionIdPExport, cleanup.OutcomeExported, g.e.batch)
		case skipRest:
			rows, err = after.QueryContext(ctx, g.run.id, cleanup.ActionIdPExport, cleanup.OutcomeExported, lastGrp, g.e.batch)
			skipRest = false
		default:
			rows, err = next.QueryContext(ctx, g.run.id, cleanup.ActionIdPExport, cleanup.OutcomeExported, lastGrp, lastKey, lastID, g.e.batch)
		}
		if err != nil {
			return 0, fmt.Errorf("store: read export rows of run %d: %w", g.run.id, err)
		}
		n := 0
		var (
			id          int64
			grp, em, ek sql.RawBytes
		)
	scan:
		for rows.Next() {
			if err := rows.Scan(&id, &grp, &em, &ek); err != nil {
				rows.Close()
				return 0, fmt.Errorf("store: read export rows of run %d: %w", g.run.id, err)
			}
			n++
			if cur == nil || string(grp) != cur.id {
				if err := finishGroup(); err != nil {
					rows.Close()
					return 0, err
				}
				gr := groups[string(grp)]
				if gr == nil { // a row added after the group list was read
					rows.Close()
					return 0, fmt.Errorf("store: export rows of run %d changed during the export", g.run.id)
				}
				if err := startGroup(gr); err != nil {
					rows.Close()
					return 0, err
				}
			}
			email := string(em)
			norm, problem := idpexport.ValidateIdentifier(email)
			switch {
			case problem != "":
				notes = append(notes, rowNote{id: id, manual: true, message: ManualPrefix + problem})
			default:
				if idpexport.IsGuestUPN(norm) {
					notes = append(notes, rowNote{id: id, message: GuestMessage})
				}
				if err := writer.Write(norm); err != nil {
					rows.Close()
					if !errors.Is(err, idpexport.ErrNotSorted) {
						return 0, fmt.Errorf("store: export group %q of run %d: %w", cur.id, g.run.id, err)
					}
					if err := sortInMemory(); err != nil {
						return 0, err
					}
					lastGrp, cur, skipRest = cur.id, nil, true
					break scan
				}
				total++
			}
			lastID = id
			lastGrp = cur.id
			lastKey = string(ek)
		}
		if skipRest {
			started = true
			continue
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return 0, fmt.Errorf("store: read export rows of run %d: %w", g.run.id, err)
		}
		started = true
		if err := g.recordNotes(ctx, notes); err != nil {
			return 0, err
		}
		notes = notes[:0]
		if n < g.e.batch {
			break
		}
	}
	if err := finishGroup(); err != nil {
		return 0, err
	}
	return total, nil
}

// writeGroupSorted writes one group's Entra files from its rows sorted in
// memory. It is the fallback for a group whose rows the database did not
// return in the writer's order (e-mail keys lower-cased beyond ASCII), so
// its memory grows with that group only.
func (g *generation) writeGroupSorted(ctx context.Context, gr *exportGroup, open idpexport.OpenPart) ([]idpexport.Part, error) {
	s := g.e.s
	rows, err := s.sqlDB.QueryContext(ctx, s.rebind(`SELECT id, email FROM run_users WHERE run_id = ? AND action = ? AND outcome = ? AND group_id = ? ORDER BY id`),
		g.run.id, cleanup.ActionIdPExport, cleanup.OutcomeExported, gr.id)
	if err != nil {
		return nil, fmt.Errorf("store: read export group %q of run %d: %w", gr.id, g.run.id, err)
	}
	var (
		ids   []string
		notes []rowNote
	)
	for rows.Next() {
		var (
			id    int64
			email string
		)
		if err := rows.Scan(&id, &email); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: read export group %q of run %d: %w", gr.id, g.run.id, err)
		}
		norm, problem := idpexport.ValidateIdentifier(email)
		switch {
		case problem != "":
			notes = append(notes, rowNote{id: id, manual: true, message: ManualPrefix + problem})
		default:
			if idpexport.IsGuestUPN(norm) {
				notes = append(notes, rowNote{id: id, message: GuestMessage})
			}
			ids = append(ids, norm)
		}
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("store: read export group %q of run %d: %w", gr.id, g.run.id, err)
	}
	if err := g.recordNotes(ctx, notes); err != nil {
		return nil, err
	}
	written, _, err := idpexport.WriteEntraGroup(open, gr.naming, g.opts, ids)
	if err != nil {
		return nil, fmt.Errorf("store: export group %q of run %d: %w", gr.id, g.run.id, err)
	}
	return written, nil
}

// recordNotes marks rows the Entra file could not carry as needing manual
// action and flags guests, in one transaction.
func (g *generation) recordNotes(ctx context.Context, notes []rowNote) error {
	if len(notes) == 0 {
		return nil
	}
	s := g.e.s
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
	// A flag is added to the row's message once, after what the run wrote.
	flag, err := tx.PrepareContext(ctx, s.rebind(`UPDATE run_users
		SET message = CASE WHEN message = '' THEN ? ELSE message || ' ' || ? END, updated_at = ?
		WHERE id = ? AND run_id = ? AND message NOT LIKE ?`))
	if err != nil {
		return fmt.Errorf("store: record export notes: %w", err)
	}
	defer flag.Close()
	for _, n := range notes {
		if n.manual {
			_, err = manual.ExecContext(ctx, cleanup.OutcomeManual, n.message, now, n.id, g.run.id)
		} else {
			_, err = flag.ExecContext(ctx, n.message, n.message, now, n.id, g.run.id, "%"+n.message+"%")
		}
		if err != nil {
			return fmt.Errorf("store: record export note on row %d: %w", n.id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: record export notes: %w", err)
	}
	return nil
}

// writeAudit writes the audit CSV and JSON of all the run's rows in one
// pass in id order.
func (g *generation) writeAudit(ctx context.Context) (int64, error) {
	s := g.e.s
	csvName, jsonName := idpexport.AuditFileNames(g.run.id, g.run.date, g.run.dryRun)
	cw, err := g.newFile(ctx, cleanup.ExportFile{Kind: cleanup.ExportKindAuditCSV, FileName: csvName, ContentType: idpexport.MediaTypeCSV})
	if err != nil {
		return 0, err
	}
	defer cw.Close() // after an error: gives the buffer back
	jw, err := g.newFile(ctx, cleanup.ExportFile{Kind: cleanup.ExportKindAuditJSON, FileName: jsonName, ContentType: idpexport.MediaTypeJSON})
	if err != nil {
		return 0, err
	}
	defer jw.Close()
	csvOut, err := idpexport.NewAuditCSVWriter(cw)
	if err != nil {
		return 0, err
	}
	jsonOut, err := idpexport.NewAuditJSONWriter(jw, idpexport.AuditMeta{RunID: g.run.id, DryRun: g.run.dryRun, GeneratedAt: g.e.s.exportTime()})
	if err != nil {
		return 0, err
	}
	stmt, err := s.sqlDB.PrepareContext(ctx, s.rebind(`SELECT id, account_id, name, email, account_type, product, group_id,
		group_name, group_synced, identity_provider, last_active, reason, action, outcome, message, created_at, updated_at
		FROM run_users WHERE id > ? AND id <= ? AND `+g.runIDTerm()+` = ? AND client_key = ? ORDER BY id LIMIT ?`))
	if err != nil {
		return 0, fmt.Errorf("store: prepare audit rows: %w", err)
	}
	defer stmt.Close()

	// Two goroutines share the work: this one reads and converts rows,
	// the other formats them into both files (whose chunks a third one
	// stores), so the database driver and the writers overlap.
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
	total, readErr := g.readAudit(ctx, stmt, free, full, &failed)
	close(full)
	if err := <-written; err != nil {
		return 0, err
	}
	if readErr != nil {
		return 0, readErr
	}
	if err := csvOut.Close(); err != nil {
		return 0, err
	}
	if err := jsonOut.Close(); err != nil {
		return 0, err
	}
	for _, w := range []*chunkWriter{cw, jw} {
		if err := w.Close(); err != nil {
			return 0, err
		}
	}
	if err := s.finishExportFile(ctx, cw.fileID, csvName, 1, total, cw.size, cw.SHA256()); err != nil {
		return 0, err
	}
	if err := s.finishExportFile(ctx, jw.fileID, jsonName, 1, total, jw.size, jw.SHA256()); err != nil {
		return 0, err
	}
	return total, nil
}

// Audit pipeline sizes: batches in flight and rows per batch.
const (
	auditBatches   = 4
	auditBatchRows = 256
)

// auditBatch is a batch of converted rows handed to the writing goroutine.
type auditBatch struct {
	users []cleanup.AffectedUser
	n     int
}

// readAudit reads all the run's rows in id order in keyset batches,
// converts them into batches taken from free and sends those to full. It
// stops early when failed is set (the writer gave up).
func (g *generation) readAudit(ctx context.Context, stmt *sql.Stmt, free <-chan *auditBatch, full chan<- *auditBatch, failed *atomic.Bool) (int64, error) {
	sc := newAuditScanner(g.run.id, g.run.dryRun)
	var (
		lastID int64
		total  int64
		b      *auditBatch
	)
	send := func() {
		if b != nil && b.n > 0 {
			full <- b
			b = nil
		}
	}
	defer send()
	// The run's rows lie between its first and last id; reading that id
	// range in order walks the table once instead of looking every row up
	// from an index.
	var first, last sql.NullInt64
	if err := g.e.s.sqlDB.QueryRowContext(ctx, g.e.s.rebind(`SELECT MIN(id), MAX(id) FROM run_users WHERE run_id = ?`), g.run.id).Scan(&first, &last); err != nil {
		return 0, fmt.Errorf("store: audit rows of run %d: %w", g.run.id, err)
	}
	if !first.Valid {
		return 0, nil
	}
	lastID = first.Int64 - 1
	for !failed.Load() {
		rows, err := stmt.QueryContext(ctx, lastID, last.Int64, g.run.id, g.run.clientKey, g.e.batch)
		if err != nil {
			return total, fmt.Errorf("store: read audit rows of run %d: %w", g.run.id, err)
		}
		n := 0
		for rows.Next() {
			if b == nil {
				b = <-free
				b.n = 0
			}
			u := &b.users[b.n]
			if err := sc.scan(rows, u); err != nil {
				rows.Close()
				return total, fmt.Errorf("store: read audit rows of run %d: %w", g.run.id, err)
			}
			b.n++
			lastID = u.ID
			n++
			if b.n == len(b.users) {
				send()
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return total, fmt.Errorf("store: read audit rows of run %d: %w", g.run.id, err)
		}
		total += int64(n)
		if n < g.e.batch {
			break
		}
	}
	return total, nil
}

// writeBundle writes the ZIP of the run's Entra files, when there are any.
func (g *generation) writeBundle(ctx context.Context) error {
	if len(g.entra) == 0 {
		return nil
	}
	info := idpexport.BundleInfo{RunID: g.run.id, RunDate: g.run.date, DryRun: g.run.dryRun, Options: g.opts}
	files := make([]idpexport.BundleFile, 0, len(g.entra))
	var rows int64
	for _, f := range g.entra {
		f := f
		bf := idpexport.BundleFile{
			Name: f.FileName, GroupName: f.IdPGroup, Part: f.Part, Parts: f.Parts, Rows: int(f.Rows), SHA256: f.SHA256,
			Open: func() (io.ReadCloser, error) { return g.e.s.OpenExportFile(ctx, f) },
		}
		if cleanup.IsObjectID(f.IdPGroup) {
			bf.EntraGroupID, bf.GroupName = f.IdPGroup, f.GroupName
		}
		files = append(files, bf)
		rows += f.Rows
	}
	// The Entra files are read back from the database: wait for their
	// last chunks.
	if err := g.sink.sync(); err != nil {
		return err
	}
	name := idpexport.BundleFileName(info)
	w, err := g.newFile(ctx, cleanup.ExportFile{Kind: cleanup.ExportKindBundle, FileName: name, ContentType: idpexport.MediaTypeZIP})
	if err != nil {
		return err
	}
	defer w.Close()
	if err := idpexport.WriteBundle(w, files, info); err != nil {
		return fmt.Errorf("store: bundle of run %d: %w", g.run.id, err)
	}
	if err := w.Close(); err != nil {
		return err
	}
	return g.e.s.finishExportFile(ctx, w.fileID, name, 1, rows, w.size, w.SHA256())
}
