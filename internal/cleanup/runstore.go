package cleanup

import (
	"context"
	"time"
)

// Commit is one committed step of a run: everything in it is written in one
// transaction, conditional on Owner still holding the run's lease (else the
// store returns an error of KindConflict and writes nothing).
type Commit struct {
	ClientKey  string
	RunID      int64
	Owner      string
	LeaseUntil time.Time // the renewed lease
	// Rows are inserted; a row already present (same run, account, group and
	// action) is left alone, so a page evaluated twice inserts nothing twice.
	Rows []AffectedUser
	// AddCounts is added to the run's evaluation counters.
	AddCounts *Counts
	// Cursor, when not nil, is stored as the evaluation cursor.
	Cursor *string
	// Outcomes update pending rows.
	Outcomes []RowOutcome
	// Warnings are changes of the cleanup's warnings (warning.go); each
	// links the commit's rows of its account to the warning.
	Warnings []WarningChange
	// Phase, when not empty, is the run's new phase.
	Phase string
	// EndChunk releases the lease and schedules the next step of the run in
	// the same transaction.
	EndChunk bool
}

// RunStore is the persistence the engine needs. Every method is scoped by
// client key; a run of another tenant is KindNotFound.
type RunStore interface {
	// AcquireRunLease takes the run's lease for owner until the given time
	// when it is free, expired or already owner's, and returns the run. A
	// lease held by someone else is a KindConflict error whose RetryAfter
	// says when it expires.
	AcquireRunLease(ctx context.Context, clientKey string, runID int64, owner string, until time.Time) (Run, error)
	// ReleaseRunLease gives the lease up if owner holds it.
	ReleaseRunLease(ctx context.Context, clientKey string, runID int64, owner string) error
	// BeginRun marks a queued run running at startedAt with the groups
	// snapshot.
	BeginRun(ctx context.Context, clientKey string, runID int64, owner string, groups []GroupInfo, startedAt time.Time) error
	// Commit writes one step's progress atomically (see Commit).
	Commit(ctx context.Context, c Commit) error
	// PendingRows returns up to limit rows with outcome pending and one of
	// the actions, in id order.
	PendingRows(ctx context.Context, clientKey string, runID int64, actions []string, limit int) ([]PendingRow, error)
	// MarkAttempted sets attempted_at on the rows (committed before acting).
	MarkAttempted(ctx context.Context, clientKey string, runID int64, owner string, ids []int64, at time.Time) error
	// SettleRows sets the outcome of every pending row with one of the
	// actions; a non-empty prefix is prepended to each row's message.
	SettleRows(ctx context.Context, clientKey string, runID int64, owner string, actions []string, outcome, prefix string) error
	// RunRowsAfter returns up to limit rows of a run of the tenant with
	// an id above afterID, in id order (a restore reads its original).
	RunRowsAfter(ctx context.Context, clientKey string, runID, afterID int64, limit int) ([]AffectedUser, error)
	// RestoredBy tells which of the accounts' rows of run originalID an
	// earlier restore already gave back: by RestoreKey, the id of the
	// restore (other than exceptRunID, not a dry run) whose row for it is
	// done, exported or has-access.
	RestoredBy(ctx context.Context, clientKey string, originalID, exceptRunID int64, accountIDs []string) (map[string]int64, error)
	// FinishRun sets the final status (and error message), phase done,
	// finished_at and the counts from the rows, and releases the lease. An
	// empty status is derived from the rows: partially_failed when a row
	// failed, else succeeded.
	FinishRun(ctx context.Context, clientKey string, runID int64, owner, status, message string, at time.Time) error
}

// Connector gives the directories of a tenant, built from its installation
// and stored credentials.
type Connector interface {
	// Org returns the Organizations API client; KindNotConfigured when the
	// organization id or API key is missing.
	Org(ctx context.Context, clientKey string) (OrgDirectory, error)
	// Site returns the product REST API client of the installation.
	Site(ctx context.Context, clientKey string) (SiteDirectory, error)
	// IdP returns the identity provider client; KindNotConfigured when no
	// connection is configured.
	IdP(ctx context.Context, clientKey string) (IdentityProvider, error)
	// OrgWith returns an Organizations API client for the credentials, of
	// the tenant's installation but not shared with its jobs nor kept: a
	// connection test of values as typed.
	OrgWith(ctx context.Context, clientKey string, creds OrgCredentials) (OrgDirectory, error)
	// IdPWith returns an identity-provider client of the app registration,
	// not kept: a connection test of values as typed.
	IdPWith(ctx context.Context, clientKey string, creds EntraCredentials) (IdentityProvider, error)
}

// Exporter generates the identity-provider exports of a finished run
// (implemented by the exports component). It must be idempotent: it may be
// called again for the same run after a crash.
//
// The rows an identity-provider file may contain are those with action
// ActionIdPExport AND outcome OutcomeExported: the engine settles every
// exportable row to exported (in dry runs too, the file being a preview)
// before calling the Exporter. Rows of protected users keep the planned
// action with outcome skipped, and rows without a configured identity
// provider are manual: neither may ever appear in a bulk-remove file.
type Exporter interface {
	GenerateRunExports(ctx context.Context, clientKey string, runID int64) error
}
