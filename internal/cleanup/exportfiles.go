package cleanup

import (
	"context"
	"io"
	"time"
)

// Kinds of stored export files of a run.
const (
	ExportKindEntra     = "entra"      // Entra bulk-remove CSV of one group (or one part of it)
	ExportKindAuditCSV  = "audit-csv"  // every row of the run, CSV (streamed from the rows)
	ExportKindAuditJSON = "audit-json" // every row of the run, JSON (streamed from the rows)
	ExportKindBundle    = "bundle"     // ZIP of the run's Entra files, README and script
	ExportKindEntraAdd  = "entra-add"  // Entra bulk-add CSV of one group (a restore's)
)

// ExportFile describes one export file of a run. A stored file's bytes are
// stored with it and never change after the run's exports were generated;
// a streamed file (the audit CSV and JSON) is produced from the run's rows
// each time it is downloaded, so its Size and SHA256 are not known (0 and
// "").
type ExportFile struct {
	ID               int64
	ClientKey        string
	RunID            int64
	Kind             string // one of the ExportKind constants
	IdentityProvider string // ProviderEntra for Entra files, "" otherwise
	GroupID          string // Atlassian group id of an Entra file
	GroupName        string // Atlassian group name of an Entra file
	IdPGroup         string // the identity-provider group (mapping or name)
	Part, Parts      int    // 1-based part number and number of parts
	FileName         string
	ContentType      string
	Rows             int64 // data rows (members, or affected users)
	Size             int64 // bytes
	SHA256           string
	DryRun           bool
	// Streamed: the bytes are produced from the run's rows when read.
	Streamed bool
	// CreatedAt is when the file was generated (for a streamed audit file:
	// the generation time its JSON names).
	CreatedAt time.Time
}

// RunExports is the list of a run's export files.
type RunExports struct {
	RunID    int64
	DryRun   bool
	Finished bool         // the run has finished (exports exist only after that) and no erasure is regenerating its files
	Files    []ExportFile // complete files only, in kind, group, part order
}

// ExportRun is what generating a run's export files needs to know about
// the run.
type ExportRun struct {
	ClientKey string
	ID        int64
	DryRun    bool
	// Date is when the run started (or was queued), UTC: file names use it.
	Date time.Time
	// Settings is the run's settings snapshot (export options, group
	// mappings).
	Settings Settings
	// Groups is the run's groups snapshot: the identity-provider group
	// object ids its connection found (GroupInfo.IdPGroupID).
	Groups []GroupInfo
	// GeneratedAt is the store's time when the generation began, UTC.
	GeneratedAt time.Time
	// Restore: the run is a restore; its identity-provider files are
	// bulk-add files (ExportKindEntraAdd) of its ActionIdPAddExport rows.
	Restore bool
}

// EntraAction is the action of the rows the run's identity-provider files
// carry (with outcome OutcomeExported): ActionIdPExport, or
// ActionIdPAddExport for a restore.
func (r ExportRun) EntraAction() string {
	if r.Restore {
		return ActionIdPAddExport
	}
	return ActionIdPExport
}

// EntraKind is the kind of the run's identity-provider files.
func (r ExportRun) EntraKind() string {
	if r.Restore {
		return ExportKindEntraAdd
	}
	return ExportKindEntra
}

// ExportGroup is an Atlassian group that has rows for an identity-provider
// file, with the name and provider its rows recorded.
type ExportGroup struct {
	ID               string
	Name             string
	IdentityProvider string
}

// GroupRange is a contiguous range of group ids in byte order: from From
// (inclusive) up to To (exclusive); an empty To has no upper bound, so the
// zero value holds every group. Ranges that follow each other (one's To is
// the next one's From) cover the ids between them without a gap, so a row
// of a group nobody listed still falls into one of them.
type GroupRange struct {
	From string
	To   string
}

// ExportMember is one row an identity-provider file may carry: action
// ExportRun.EntraAction with outcome OutcomeExported.
type ExportMember struct {
	ID      int64 // the row's id
	GroupID string
	Email   string
	// Erased marks a row whose account Atlassian reported closed: its
	// personal data was replaced by a tombstone (personaldata.go), so no
	// file carries it and no note is recorded on it.
	Erased bool
}

// ExportNote is a message export generation records on one row: Manual
// marks the row as needing manual action (the file could not carry it);
// otherwise Message is added to the row's message once.
type ExportNote struct {
	RowID   int64
	Manual  bool
	Message string
}

// ExportStore is the persistence of export generation: it reads a run's
// rows in the orders the files need and stores the files. It holds no
// rule: which rows go into which file, identifier checks, notes, names and
// parts are the idpexport package's. Every method is scoped to the run's
// tenant.
type ExportStore interface {
	// ExportRun loads the run; a run of another tenant is KindNotFound.
	ExportRun(ctx context.Context, clientKey string, runID int64) (ExportRun, error)
	// HasExports reports whether the run's files were generated already.
	HasExports(ctx context.Context, run ExportRun) (bool, error)
	// DeleteIncompleteExports deletes the files of an attempt that did not
	// complete.
	DeleteIncompleteExports(ctx context.Context, run ExportRun) error
	// ExportGroups lists the groups that have ExportMember rows, in group
	// id order, each with the name and provider of its first row by e-mail.
	ExportGroups(ctx context.Context, run ExportRun) ([]ExportGroup, error)
	// ExportMembers opens a cursor over the run's ExportMember rows whose
	// group id lies in groups, in byte order of group id, then e-mail key
	// (the e-mail trimmed and lower-cased), then id, read in batches of up
	// to batch rows. Cursors over disjoint ranges may be read at the same
	// time.
	ExportMembers(ctx context.Context, run ExportRun, groups GroupRange, batch int) (ExportMemberCursor, error)
	// GroupExportMembers returns one group's ExportMember rows in id order.
	GroupExportMembers(ctx context.Context, run ExportRun, groupID string) ([]ExportMember, error)
	// AuditRows opens a cursor over all the run's rows in id order, read
	// in batches of up to batch rows.
	AuditRows(ctx context.Context, run ExportRun, batch int) (AuditCursor, error)
	// RecordExportNotes writes the notes in one transaction. Calls for
	// different rows may run at the same time.
	RecordExportNotes(ctx context.Context, run ExportRun, notes []ExportNote) error
	// ManualRows returns up to limit of the run's rows that need manual
	// action (outcome manual), in id order, and how many there are.
	ManualRows(ctx context.Context, run ExportRun, limit int) ([]AffectedUser, int, error)
	// ExportFiles opens the sink that stores one generation's files in
	// chunks of chunkSize bytes (0: the store's default).
	ExportFiles(ctx context.Context, run ExportRun, chunkSize int) (ExportFileSink, error)
	// RecordStreamedFile records a file produced from the run's rows when
	// downloaded (Streamed; no bytes stored), incomplete like the sink's
	// files until CompleteExports. Its CreatedAt is kept as given.
	RecordStreamedFile(ctx context.Context, run ExportRun, f ExportFile) error
	// RowCount returns the number of the run's rows.
	RowCount(ctx context.Context, run ExportRun) (int64, error)
	// CompleteExports makes all the run's files visible at once.
	CompleteExports(ctx context.Context, run ExportRun) error
}

// ExportMemberCursor reads ExportMember rows in batches.
type ExportMemberCursor interface {
	// Next returns the next batch, reusing buf's memory; an empty batch is
	// the end.
	Next(ctx context.Context, buf []ExportMember) ([]ExportMember, error)
	// SkipGroup makes the next batch start after the group's rows.
	SkipGroup(groupID string)
}

// AuditCursor reads all of a run's rows in id order.
type AuditCursor interface {
	// Next fills users from the start with the next rows and returns how
	// many it filled; 0 is the end. It reuses the users' memory: each
	// LastActive must be a non-nil map, which is cleared and refilled.
	Next(ctx context.Context, users []AffectedUser) (int, error)
	// Close releases the cursor.
	Close() error
}

// ExportFileSink stores the files of one generation. Files stay invisible
// until ExportStore.CompleteExports. Create, Finish, Drop and Sync may be
// called from several goroutines at once (each writing its own files);
// Close comes after all of them.
type ExportFileSink interface {
	// Create records an incomplete file (the sink sets its tenant, run,
	// dry-run flag and creation time) and returns a writer of its bytes.
	Create(ctx context.Context, f ExportFile) (ExportFileWriter, error)
	// Finish records a written file's final name, number of parts and
	// rows; its size and hash come from the closed writer.
	Finish(ctx context.Context, w ExportFileWriter, fileName string, parts int, rows int64) error
	// Drop deletes a file.
	Drop(ctx context.Context, w ExportFileWriter) error
	// Sync waits until every byte written so far is stored.
	Sync() error
	// Open reads a file of this generation back; Sync first.
	Open(ctx context.Context, fileID int64) (io.ReadCloser, error)
	// Close stores what is pending and stops the sink; later calls report
	// the first error.
	Close() error
}

// ExportFileWriter writes one file's bytes. Close stores the last of them;
// it may be called twice.
type ExportFileWriter interface {
	io.WriteCloser
	FileID() int64
	Size() int64    // bytes written
	SHA256() string // lowercase hex of the bytes written
}
