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
	ID               int64
	RunID            int64
	AccountID        string
	Name             string
	Email            string
	AccountType      string
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
	CreatedAt  time.Time
	UpdatedAt  time.Time
}
