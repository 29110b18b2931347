package cleanup

import "context"

// Identity providers the app knows.
const (
	ProviderEntra = "entra" // Microsoft Entra ID
)

// IdPUser is a user of the identity provider.
type IdPUser struct {
	ObjectID string
	UPN      string
	Mail     string
	Guest    bool // UPN contains #EXT# (B2B guest)
}

// IdPGroup is a group of the identity provider and whether its members can
// be changed through the API (and the bulk-remove upload, which has the same
// limits).
type IdPGroup struct {
	ID             string
	Name           string
	Dynamic        bool // membership rule; change the rule instead
	OnPremSynced   bool // synced from on-premises AD; change it there
	MailEnabled    bool // mail-enabled security group or distribution list
	RoleAssignable bool // needs RoleManagement.ReadWrite.Directory
}

// ChangeBlocker returns why members cannot be removed through the API, or ""
// when they can.
func (g IdPGroup) ChangeBlocker() string {
	switch {
	case g.OnPremSynced:
		return "the group is synced from on-premises Active Directory: remove the members there"
	case g.Dynamic:
		return "the group has dynamic membership: change its membership rule instead"
	case g.MailEnabled:
		return "the group is mail-enabled (mail-enabled security group or distribution list): change it in Exchange"
	}
	return ""
}

// Removal outcomes reported by an identity provider.
const (
	RemovalRemoved   = "removed"    // the membership was removed now
	RemovalNotMember = "not-member" // it was already gone: counts as done
	RemovalFailed    = "failed"     // see Message
)

// RemovalResult is the outcome of removing one member.
type RemovalResult struct {
	ObjectID string
	Outcome  string
	Message  string // for failures: safe to show to an admin
}

// IdentityProvider removes users from groups in the identity provider
// directly (Microsoft Graph for Entra ID).
type IdentityProvider interface {
	// TestConnection gets a token and checks the permissions the app needs;
	// the error's Message says what is wrong.
	TestConnection(ctx context.Context) error
	// ResolveUsers maps UPNs (or e-mail addresses) to users. UPNs that do not
	// exist are absent from the map, not an error.
	ResolveUsers(ctx context.Context, upns []string) (map[string]IdPUser, error)
	// FindGroup finds a group by object id or, failing that, by exact display
	// name; more than one match by name is a KindConflict error.
	FindGroup(ctx context.Context, idOrName string) (IdPGroup, error)
	// MemberIDs lists the object ids of the group's user members, all pages.
	MemberIDs(ctx context.Context, groupID string) ([]string, error)
	// RemoveMembers removes users (object ids) from the group, batching and
	// retrying throttled requests itself. It returns one result per id.
	RemoveMembers(ctx context.Context, groupID string, objectIDs []string) ([]RemovalResult, error)
	// AddMembers adds users (object ids) to the group (a restore),
	// batching and retrying throttled requests itself. It returns one
	// result per id (MemberAdded, MemberAlready, MemberUserGone or
	// MemberFailed); on error, the results known so far.
	AddMembers(ctx context.Context, groupID string, objectIDs []string) ([]AddResult, error)
}
