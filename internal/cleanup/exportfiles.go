package cleanup

import "time"

// Kinds of stored export files of a run.
const (
	ExportKindEntra     = "entra"      // Entra bulk-remove CSV of one group (or one part of it)
	ExportKindAuditCSV  = "audit-csv"  // every row of the run, CSV
	ExportKindAuditJSON = "audit-json" // every row of the run, JSON
	ExportKindBundle    = "bundle"     // ZIP of the run's Entra files, README and script
)

// ExportFile describes one stored export file. Its bytes are stored with it
// and never change after the run's exports were generated.
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
	CreatedAt        time.Time
}

// RunExports is the list of a run's export files.
type RunExports struct {
	RunID    int64
	DryRun   bool
	Finished bool         // the run has finished (exports exist only after that)
	Files    []ExportFile // complete files only, in kind, group, part order
}
