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
}

// OrgGroup is a group as the Organizations API describes it.
type OrgGroup struct {
	ID             string
	Name           string
	Description    string
	ExternalSynced bool   // "created via IdP sync"
	ManagedBy      string // "external", "admins", "team-members", "open"
	Modifiable     bool   // managementAccess.modifiable
	MemberCount    int    // -1 when unknown
}

// SyncedFromIdP reports whether the Organizations API says the group's
// membership is owned by an identity provider.
func (g OrgGroup) SyncedFromIdP() bool {
	return g.ExternalSynced || g.ManagedBy == "external" || !g.Modifiable
}

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

// UserQuery narrows a user search.
type UserQuery struct {
	AccountIDs []string // only these accounts (used to re-check memberships)
	GroupIDs   []string // only members of these groups
	Limit      int      // page size; 0 means the API maximum
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
	// SearchUsers returns one page of users (with product access and group
	// ids) starting at cursor ("" for the first page).
	SearchUsers(ctx context.Context, q UserQuery, cursor string) (UserPage, error)
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
}

// SiteDirectory is the product REST API (Jira or Confluence) of one tenant,
// called with the app's own signed JWT.
type SiteDirectory interface {
	// Products lists the site's products and the groups that grant each.
	// Confluence has no such API: it returns nil, and licensing groups come
	// from settings and the Organizations API.
	Products(ctx context.Context) ([]ProductAccess, error)
	// Groups lists all groups of the site.
	Groups(ctx context.Context) ([]SiteGroup, error)
	// GroupMemberIDs lists the account ids of a group's members, all pages.
	GroupMemberIDs(ctx context.Context, groupID string) ([]string, error)
	// RemoveGroupMember removes the account from the group. Removing a
	// non-member succeeds; an IdP-managed group gives KindExternallyManaged.
	RemoveGroupMember(ctx context.Context, groupID, accountID string) error
	// IsAdmin reports whether the account may administer the product.
	IsAdmin(ctx context.Context, accountID string) (bool, error)
}
