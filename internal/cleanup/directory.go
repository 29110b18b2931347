package cleanup

import (
	"context"
	"time"
)

// Account types as Atlassian reports them.
const (
	AccountAtlassian = "atlassian" // a person
	AccountApp       = "app"       // bot, integration, Connect/Forge app user
	AccountCustomer  = "customer"  // Jira Service Management portal-only customer
)

// Account statuses (Organizations API v2).
const (
	StatusActive      = "active"
	StatusSuspended   = "suspended"
	StatusDeactivated = "deactivated"
)

// Management sources (Organizations API v2 managementSource).
const (
	SourceInvited = "invited" // created in Atlassian
	SourceSynced  = "synced"  // provisioned from an identity provider (SCIM)
)

// Product keys used in product access.
const (
	ProductJiraSoftware        = "jira-software"
	ProductJiraServiceDesk     = "jira-servicedesk"
	ProductJiraCore            = "jira-core"
	ProductJiraProductDiscover = "jira-product-discovery"
	ProductConfluence          = "confluence"
)

// ProductAccess is one product of the site and the groups that grant it.
type ProductAccess struct {
	Key             string   // e.g. "jira-software", "confluence"
	Name            string   // e.g. "Jira Software"
	GroupIDs        []string // licensing groups: membership grants the product
	DefaultGroupIDs []string // groups new users are added to
	// Listed says the product API itself lists the licensing groups (Jira's
	// application roles). Confluence has no such API: its groups are found
	// through the Organizations API (OrgDirectory.GroupsGranting).
	Listed bool
	// Seats are the product's licence seats where the product API reports
	// them (Jira's application roles); nil when it does not (Confluence).
	Seats *Seats
}

// Seats are a product's licence seats as the product reports them.
type Seats struct {
	Licensed  int  `json:"licensed"`  // numberOfSeats
	Used      int  `json:"used"`      // userCount
	Unlimited bool `json:"unlimited"` // hasUnlimitedSeats
}

// What the Organizations API reports about where a group's membership is
// managed (OrgGroup.Origin).
const (
	OriginSynced     = "synced"     // reported synced from an identity provider
	OriginAtlassian  = "atlassian"  // reported managed in Atlassian
	OriginUnreported = "unreported" // the API does not say
)

// OrgGroup is a group as the Organizations API describes it.
type OrgGroup struct {
	ID             string
	Name           string
	Description    string
	ExternalSynced bool   // externalSynced: "created via IdP sync" (false when absent)
	ManagedBy      string // managedBy: "external", "admins", "team-members", "open"; "" when absent
	Modifiable     bool   // managementAccess.modifiable (true when absent)
	MemberCount    int    // -1 when unknown
}

// Origin says what the Organizations API reports about the group's
// membership. The groups search documents three fields for this (the group
// object of POST /admin/v2/orgs/{orgId}/directories/{directoryId}/groups/search):
// externalSynced, "Indication if group was created via IdP Sync";
// managedBy, "Specifies how the group is managed: external, admins,
// team-members, or open"; and managementAccess {deletable, modifiable,
// readable}, "used to determine if the group can be deleted, modified, or
// read". All three are optional in the schema. We read them so:
//
//   - OriginSynced: externalSynced is true, or managedBy is "external".
//   - OriginAtlassian: managedBy is one of the other documented values,
//     "admins", "team-members" or "open" (and externalSynced is not true):
//     the API names who in Atlassian manages the membership.
//   - OriginUnreported: anything else. Both fields absent; externalSynced
//     false alone (it says how the group was created, not who manages its
//     members now, and the docs say nothing of groups linked to an
//     identity provider later); a managedBy value the docs do not list.
//
// managementAccess is not a report of the origin: it says what the caller
// may do with the group (an API key without rights on a directory, or a
// system group, cannot modify it either), so modifiable false alone leaves
// the origin unreported. The product's provisioning toggle decides only
// for unreported groups (ClassifyGroups).
func (g OrgGroup) Origin() string {
	switch {
	case g.ExternalSynced || g.ManagedBy == "external":
		return OriginSynced
	case g.ManagedBy == "admins" || g.ManagedBy == "team-members" || g.ManagedBy == "open":
		return OriginAtlassian
	}
	return OriginUnreported
}

// SyncedFromIdP reports whether the Organizations API reports the group as
// synced from an identity provider.
func (g OrgGroup) SyncedFromIdP() bool { return g.Origin() == OriginSynced }

// SiteGroup is a group as the product REST API lists it.
type SiteGroup struct {
	ID   string
	Name string
}

// OrgUser is one user of the organization with what the cleanup needs:
// identity, account type and status, management, activity and groups.
type OrgUser struct {
	AccountID        string
	Name             string
	Email            string // empty when not visible
	AccountType      string // AccountAtlassian, AccountApp, AccountCustomer
	Status           string // StatusActive, ...
	Managed          bool   // claimStatus "managed" (verified domain)
	ManagementSource string // SourceInvited or SourceSynced
	AddedToOrg       time.Time
	// LastActive maps a product key to the last activity in that product;
	// a product the user has access to but never used maps to the zero time.
	LastActive map[string]time.Time
	GroupIDs   []string // direct group memberships (ids)
	Roles      []string // platform roles, e.g. "atlassian/org-admin", "atlassian/site-admin"
}

// IsAdmin reports whether the user holds an organization or site admin role.
// Such users are always protected from cleanup.
func (u OrgUser) IsAdmin() bool {
	for _, r := range u.Roles {
		switch r {
		case "atlassian/org-admin", "atlassian/site-admin", "atlassian/admin":
			return true
		}
	}
	return false
}

// UserPage is one page of a user search. Next is empty on the last page.
type UserPage struct {
	Users []OrgUser
	Next  string
}

// Claim statuses of a user search (Organizations API v2 claimStatus): every
// account of the organization is one or the other, so the two searches
// split any search into disjoint halves.
const (
	ClaimManaged   = "managed"   // accounts of a verified domain
	ClaimUnmanaged = "unmanaged" // every other account
)

// UserQuery narrows a user search.
type UserQuery struct {
	AccountIDs []string // only these accounts (used to re-check memberships)
	GroupIDs   []string // only members of these groups
	// ClaimStatus, when set (ClaimManaged or ClaimUnmanaged), keeps only
	// accounts with that claim status.
	ClaimStatus string
	Limit       int // page size; 0 means the API maximum
}

// OrgCredentials identify an organization and the API key to call it.
type OrgCredentials struct {
	OrgID  string
	APIKey string // plain text only in memory, never logged
}

// OrgDirectory is the Organizations (admin) REST API of one organization.
type OrgDirectory interface {
	// TestConnection checks the org ID and API key; the error's Kind and
	// Message say what is wrong (unauthorized key, unknown org, forbidden).
	TestConnection(ctx context.Context) error
	// Groups lists all groups of the organization with their sync flags.
	Groups(ctx context.Context) ([]OrgGroup, error)
	// GroupsGranting lists the groups whose role assignments grant the
	// product on the site with the cloud id (product access, with or
	// without admin permissions): its licensing groups.
	GroupsGranting(ctx context.Context, productKey, cloudID string) ([]OrgGroup, error)
	// SearchUsers returns one page of users (with product access and group
	// ids) starting at cursor ("" for the first page).
	SearchUsers(ctx context.Context, q UserQuery, cursor string) (UserPage, error)
	// FollowUsers follows the search's cursor chain from cursor ("" for
	// the first page) and calls fn with each page in order, until the last
	// page (Next empty), an error or fn's error. It may request the next
	// page while fn runs (FollowUserPages does not).
	FollowUsers(ctx context.Context, q UserQuery, cursor string, fn func(UserPage) error) error
	// RemoveGroupMember removes the account from the group. Removing a
	// non-member succeeds. A group synced from an identity provider gives
	// KindExternallyManaged.
	RemoveGroupMember(ctx context.Context, groupID, accountID string) error
	// Suspend suspends the account's access to the organization's apps.
	Suspend(ctx context.Context, accountID string) error
	// Restore restores a suspended account.
	Restore(ctx context.Context, accountID string) error
	// Deactivate deactivates a managed account (User management API).
	// Deactivating an already deactivated account succeeds.
	Deactivate(ctx context.Context, accountID, message string) error
	// Reactivate reactivates a deactivated managed account (User
	// management API). Reactivating an active account succeeds.
	Reactivate(ctx context.Context, accountID string) error
}

// SiteDirectory is the product REST API (Jira or Confluence) of one tenant,
// called with the app's own signed JWT.
type SiteDirectory interface {
	// Products lists the site's products and, where the product API says
	// (Listed), the groups that grant each. Confluence has no such API: it
	// lists itself without groups, which come from the Organizations API
	// (OrgDirectory.GroupsGranting) or the settings.
	Products(ctx context.Context) ([]ProductAccess, error)
	// CloudID is the site's cloud id, "" when the installation did not
	// say (the Organizations API names the site's resources by it).
	CloudID() string
	// Groups lists all groups of the site.
	Groups(ctx context.Context) ([]SiteGroup, error)
	// GroupMemberIDs lists the account ids of a group's members, all pages.
	GroupMemberIDs(ctx context.Context, groupID string) ([]string, error)
	// RemoveGroupMember removes the account from the group. Removing a
	// non-member succeeds; an IdP-managed group gives KindExternallyManaged.
	RemoveGroupMember(ctx context.Context, groupID, accountID string) error
	// AddGroupMember adds the account to the group (a restore). An
	// IdP-managed group gives KindExternallyManaged, an account or group
	// that does not exist KindNotFound.
	AddGroupMember(ctx context.Context, groupID, accountID string) error
	// IsAdmin reports whether the account may administer the product.
	IsAdmin(ctx context.Context, accountID string) (bool, error)
}

// SiteAccount is a member of a site group as the product API reports it.
type SiteAccount struct {
	AccountID   string
	Name        string
	AccountType string // AccountAtlassian, AccountApp or AccountCustomer
	Active      bool
}

// SiteAccountLister is implemented by site directories that report the
// account type of a group's members. The Organizations API lists
// Atlassian accounts only; app (bot) and customer accounts that hold a
// licensing group's product access are seen through the product API.
type SiteAccountLister interface {
	GroupAccounts(ctx context.Context, groupID string) ([]SiteAccount, error)
}

// FollowUserPages implements OrgDirectory.FollowUsers with SearchUsers, one
// page after the other.
func FollowUserPages(ctx context.Context, org OrgDirectory, q UserQuery, cursor string, fn func(UserPage) error) error {
	for {
		p, err := org.SearchUsers(ctx, q, cursor)
		if err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
		if p.Next == "" {
			return nil
		}
		cursor = p.Next
	}
}
