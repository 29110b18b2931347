package cleanup

import "time"

// Actions a cleanup can take.
const (
	// ActionRemoveProductAccess removes users from their licensing groups in
	// Atlassian. Users whose access comes from an IdP-synced group are
	// routed to the identity-provider export for that group instead.
	ActionRemoveProductAccess = "remove-product-access"
	// ActionDeactivate deactivates managed accounts.
	ActionDeactivate = "deactivate"
	// ActionReview adds users to a review list without changing anything.
	ActionReview = "review"
	// ActionEntra is the "Microsoft Entra ID action": identity-provider
	// exports (and, when connected, direct removal) for users whose access
	// comes from IdP-synced groups.
	ActionEntra = "entra"

	// ActionIdPExport is a planned row routed to the identity-provider
	// bulk-remove file of the row's group (GroupSynced, IdentityProvider set).
	ActionIdPExport = "idp-export"
	// ActionIdPRemove is a planned row removed directly in the identity
	// provider (Microsoft Graph) because the cleanup's Entra mode is direct.
	ActionIdPRemove = "idp-remove"
)

// Outcomes of one affected-user row.
const (
	OutcomePending  = "pending"  // planned, not yet applied
	OutcomeDone     = "done"     // the action happened (or had already happened)
	OutcomeExported = "exported" // written to an identity-provider export
	OutcomeReview   = "review"   // added to the review list
	OutcomeSkipped  = "skipped"  // deliberately not acted on (dry run, protected)
	OutcomeManual   = "manual"   // needs manual action; Message says why
	OutcomeFailed   = "failed"   // the action failed; Message says why
)

// AffectedUser is one row of a run: one user in one group (or, for account
// actions, one user) with the decision and its outcome.
type AffectedUser struct {
	ID          int64
	RunID       int64
	AccountID   string
	Name        string
	Email       string
	AccountType string
	// PriorStatus is the account's status when the run evaluated it
	// (StatusActive, StatusSuspended, …; "" in runs made before it was
	// recorded); in a restore's row, the status the restore gives back.
	PriorStatus      string
	Product          string // product key the group grants, "" for account actions
	GroupID          string
	GroupName        string
	GroupSynced      bool   // the group is synced from an identity provider
	IdentityProvider string // ProviderEntra when GroupSynced and an IdP is configured
	// LastActive maps a product key to the last activity; zero time = never.
	LastActive map[string]time.Time
	Reason     string // why the user was selected, e.g. "inactive for 412 days"
	Action     string // the action planned for this row
	Outcome    string
	Message    string // outcome detail, safe to show
	DryRun     bool
	// Warning is the row's warning (cleanups with warnings), nil when none.
	Warning   *RowWarning
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Run statuses.
const (
	RunQueued          = "queued"
	RunRunning         = "running"
	RunSucceeded       = "succeeded"
	RunPartiallyFailed = "partially_failed"
	RunFailed          = "failed"
)

// Run phases, in order. A run moves forward only.
const (
	PhaseEvaluate = "evaluate" // page through the organization's users, plan rows
	PhaseApply    = "apply"    // act on the planned rows (skipped for dry runs)
	PhaseWarnings = "warnings" // cleanups with warnings: spare and close warnings
	PhaseNotify   = "notify"   // cleanups with warnings: wait for the warning e-mails
	PhaseExport   = "export"   // generate the identity-provider exports
	PhaseDone     = "done"
)

// Run triggers.
const (
	TriggerManual   = "manual"
	TriggerSchedule = "schedule"
)

// RunCounts are the counters of a run as history shows them: the
// evaluation's counters and the outcome of the rows.
type RunCounts struct {
	Evaluated          int `json:"evaluated"`
	Matched            int `json:"matched"`
	Protected          int `json:"protected"`
	RemovedInAtlassian int `json:"removedInAtlassian"`
	ExportedForIdP     int `json:"exportedForIdp"`
	RemovedInIdP       int `json:"removedInIdp"`
	Deactivated        int `json:"deactivated"`
	Reviewed           int `json:"reviewed"`
	Manual             int `json:"manual"`
	Skipped            int `json:"skipped"`
	// Restored, HasAccess and NotRestored count the rows of a restore
	// (restore.go): given back, nothing to give back, deliberately not
	// given back. A restore's rows in a bulk-add file count as
	// ExportedForIdP.
	Restored    int `json:"restored"`
	HasAccess   int `json:"hasAccess"`
	NotRestored int `json:"notRestored"`
	Failed      int `json:"failed"`
	Pending     int `json:"pending"`
	Rows        int `json:"rows"`
	// Evaluation holds every evaluation counter (why users were not selected).
	Evaluation Counts `json:"evaluation"`
	// Warnings counts the users of a cleanup with warnings (nil when the
	// run has none).
	Warnings *WarningCounts `json:"warnings,omitempty"`
}

// AddRows adds n rows of one action and outcome to the outcome counters.
func (c *RunCounts) AddRows(action, outcome string, n int) {
	c.Rows += n
	switch outcome {
	case OutcomeDone:
		switch action {
		case ActionRestoreGroup, ActionReactivate, ActionIdPAdd, ActionIdPAddExport:
			c.Restored += n
		case ActionDeactivate:
			c.Deactivated += n
		case ActionIdPRemove:
			c.RemovedInIdP += n
		default:
			c.RemovedInAtlassian += n
		}
	case OutcomeExported:
		c.ExportedForIdP += n
	case OutcomeReview:
		c.Reviewed += n
	case OutcomeManual:
		c.Manual += n
	case OutcomeSkipped:
		c.Skipped += n
	case OutcomeFailed:
		c.Failed += n
	case OutcomePending:
		c.Pending += n
	case OutcomeHasAccess:
		c.HasAccess += n
	case OutcomeNotRestored:
		c.NotRestored += n
	}
}

// Run is one execution of a cleanup, with snapshots of what it runs: the
// definition, the settings (never a credential) and, once evaluation
// started, the classified groups. Resuming a run uses the snapshots, so it
// plans exactly what it planned before a crash.
type Run struct {
	ID          int64       `json:"id"`
	ClientKey   string      `json:"-"`
	CleanupID   int64       `json:"cleanupId,omitempty"` // 0: the cleanup was not stored (or is gone)
	CleanupName string      `json:"cleanupName"`
	Definition  Definition  `json:"-"`
	Settings    Settings    `json:"-"`
	Groups      []GroupInfo `json:"-"`
	Trigger     string      `json:"trigger"`
	StartedBy   string      `json:"startedBy,omitempty"`
	// RestoreOf is the run a restore takes back (0: not a restore), and
	// RestoreAccounts the users it restores (none: all of them).
	RestoreOf       int64      `json:"restoreOf,omitempty"`
	RestoreAccounts []string   `json:"restoreAccounts,omitempty"`
	ScheduledFor    *time.Time `json:"scheduledFor,omitempty"`
	DryRun          bool       `json:"dryRun"`
	Status          string     `json:"status"`
	Phase           string     `json:"phase"`
	// Cursor is where the run's first phase is: the evaluation's cursor
	// chains (engine_chains.go), or the last original row a restore
	// planned (engine_restore.go).
	Cursor     string     `json:"-"`
	Counts     RunCounts  `json:"counts"`
	Error      string     `json:"error,omitempty"`
	QueuedAt   time.Time  `json:"queuedAt"`
	StartedAt  *time.Time `json:"startedAt,omitempty"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	UpdatedAt  time.Time  `json:"updatedAt"`
	// FollowUp is the re-check after the next provisioning cycle, nil
	// when none is scheduled (dry runs, nothing removed or exported).
	FollowUp *FollowUp `json:"followUp,omitempty"`
	// EmailRounds is how many times the notify phase queued the run's
	// warning e-mails again after their sending jobs ended with e-mails
	// left (engine_warn.go).
	EmailRounds int `json:"-"`
	// Failures and NeedsManual group the rows that failed, and those that
	// need manual action, by reason, most users first (Service.GetRun
	// only; at most MaxReasons each).
	Failures    []ReasonCount `json:"failures,omitempty"`
	NeedsManual []ReasonCount `json:"needsManual,omitempty"`
}

// MaxReasons bounds the reasons Service.GetRun lists per outcome.
const MaxReasons = 20

// ManualNotePrefix starts the message export generation records on a row
// it makes need manual action (the Entra file cannot carry the row): the
// row's message reads on its own in Show users and the audit log. Lists of
// reasons under a "needs manual action" heading drop it.
const ManualNotePrefix = "Needs manual action: "

// ReasonCount is how many users, and rows, of a run share one outcome and
// reason (the rows' message).
type ReasonCount struct {
	Reason string `json:"reason"`
	Users  int    `json:"users"`
	Rows   int    `json:"rows"`
}

// Finished reports whether the run reached a final status.
func (r Run) Finished() bool {
	switch r.Status {
	case RunSucceeded, RunPartiallyFailed, RunFailed:
		return true
	}
	return false
}

// RunRef names a run of a tenant.
type RunRef struct {
	ClientKey string
	ID        int64
}

// NewRun is a run to create.
type NewRun struct {
	ClientKey    string
	CleanupID    int64 // 0 for none
	CleanupName  string
	Definition   Definition
	Settings     Settings
	Trigger      string
	StartedBy    string
	ScheduledFor *time.Time // scheduled runs: the schedule time (unique per cleanup)
	DryRun       bool
	// NextRunAt is stored on the cleanup with a scheduled run, in the same
	// transaction (nil: leave it).
	NextRunAt *time.Time
	// RestoreOf, RestoreAccounts: a restore (restore.go) of that run, for
	// those users (none: all). A restore starts in PhaseRestorePlan with
	// the original's groups snapshot (Groups).
	RestoreOf       int64
	RestoreAccounts []string
	Groups          []GroupInfo
}

// FirstPhase is the phase a new run starts in.
func (n NewRun) FirstPhase() string {
	if n.RestoreOf != 0 {
		return PhaseRestorePlan
	}
	return PhaseEvaluate
}

// PendingRow is a row the apply phase still has to act on. AttemptedAt is
// set when an earlier attempt may have acted: the row is in doubt.
type PendingRow struct {
	AffectedUser
	AttemptedAt *time.Time
}

// RowOutcome is the result of acting on one row. Action, GroupSynced and
// IdentityProvider replace the row's when Rerouted (a group turned out to be
// managed by an identity provider).
type RowOutcome struct {
	ID               int64
	Outcome          string
	Message          string
	Rerouted         bool
	Action           string
	GroupSynced      bool
	IdentityProvider string
}
