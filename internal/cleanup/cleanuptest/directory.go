package cleanuptest

import (
	"context"
	"slices"
	"strconv"
	"sync"

	"github.com/example/usercleanup/internal/cleanup"
)

// Directory is one tenant's outside world as the engine sees it: the
// organization (cleanup.OrgDirectory through Org), the product site
// (cleanup.SiteDirectory through Site) and, optionally, its identity
// provider. The site and the organization share the users and their group
// memberships, as they do in Atlassian. Fail makes a method return an
// error (for example KindUnavailable) until it is cleared.
type Directory struct {
	mu       sync.Mutex
	users    []cleanup.OrgUser
	groups   []cleanup.OrgGroup
	products []cleanup.ProductAccess
	admins   map[string]bool
	// externallyManaged groups refuse membership changes (the product's
	// 400/403/409 for an IdP-synced group, KindExternallyManaged).
	externallyManaged map[string]bool
	fail              map[string]error
	calls             []string
	// PageSize bounds a search page (default 2, so paging is exercised).
	PageSize int
	// IdP is the identity provider the Connector gives (nil: none
	// configured, KindNotConfigured).
	IdP cleanup.IdentityProvider
	// SiteCloudID is the site's cloud id (default "cloud-1"; "" plays an
	// installation that did not say).
	SiteCloudID string
	// ValidOrg and ValidEntra are the credentials a connection test of
	// typed values (Connector.OrgWith, IdPWith) accepts; others fail the
	// test as Atlassian and Microsoft reject them (unauthorized).
	ValidOrg   cleanup.OrgCredentials
	ValidEntra cleanup.EntraCredentials
	// OrgGranting, when set for a product key, is what GroupsGranting
	// answers for it instead of the product's list (an organization that
	// disagrees with the product).
	OrgGranting map[string][]string
}

// NewDirectory returns a directory of the users and groups; products say
// which groups grant which product. The site lists a product's groups only
// when it is Listed (Jira's application roles); the organization answers
// GroupsGranting for every product from the same lists.
func NewDirectory(users []cleanup.OrgUser, groups []cleanup.OrgGroup, products []cleanup.ProductAccess) *Directory {
	return &Directory{users: slices.Clone(users), groups: slices.Clone(groups), products: slices.Clone(products),
		admins: map[string]bool{}, externallyManaged: map[string]bool{}, fail: map[string]error{}, PageSize: 2,
		SiteCloudID: "cloud-1"}
}

// Fail makes method ("SearchUsers", "RemoveGroupMember", …) return err;
// nil clears it.
func (d *Directory) Fail(method string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fail[method] = err
}

// ManageExternally makes the site refuse changes to the group's members.
func (d *Directory) ManageExternally(groupID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.externallyManaged[groupID] = true
}

// Calls returns the calls that changed something, in order, as
// "Method account group" strings.
func (d *Directory) Calls() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls)
}

// User returns the user's current state.
func (d *Directory) User(accountID string) (cleanup.OrgUser, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, u := range d.users {
		if u.AccountID == accountID {
			return u, true
		}
	}
	return cleanup.OrgUser{}, false
}

func (d *Directory) failed(method string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fail[method]
}

// Connector returns a cleanup.Connector whose tenants all see this
// directory.
func (d *Directory) Connector() cleanup.Connector { return connector{d} }

type connector struct{ d *Directory }

func (c connector) Org(context.Context, string) (cleanup.OrgDirectory, error) {
	return org{c.d}, c.d.failed("Org")
}

func (c connector) Site(context.Context, string) (cleanup.SiteDirectory, error) {
	return site{c.d}, c.d.failed("Site")
}

func (c connector) IdP(context.Context, string) (cleanup.IdentityProvider, error) {
	if err := c.d.failed("IdP"); err != nil {
		return nil, err
	}
	if c.d.IdP == nil {
		return nil, &cleanup.Error{Kind: cleanup.KindNotConfigured, Message: "no identity provider is configured"}
	}
	return c.d.IdP, nil
}

func (c connector) OrgWith(_ context.Context, _ string, creds cleanup.OrgCredentials) (cleanup.OrgDirectory, error) {
	if err := c.d.failed("OrgWith"); err != nil {
		return nil, err
	}
	var reject error
	if creds != c.d.ValidOrg {
		reject = &cleanup.Error{Kind: cleanup.KindUnauthorized, Message: "The API key was rejected."}
	}
	return typedOrg{org: org{c.d}, reject: reject}, nil
}

func (c connector) IdPWith(_ context.Context, _ string, creds cleanup.EntraCredentials) (cleanup.IdentityProvider, error) {
	if c.d.IdP == nil {
		return nil, &cleanup.Error{Kind: cleanup.KindNotConfigured, Message: "no identity provider is configured"}
	}
	if creds != c.d.ValidEntra {
		return nil, &cleanup.Error{Kind: cleanup.KindUnauthorized, Message: "The client secret is wrong."}
	}
	return c.d.IdP, nil
}

// typedOrg is the organization reached with typed credentials.
type typedOrg struct {
	org
	reject error
}

func (o typedOrg) TestConnection(ctx context.Context) error {
	if o.reject != nil {
		return o.reject
	}
	return o.org.TestConnection(ctx)
}

// org is the organization view.
type org struct{ d *Directory }

func (o org) TestConnection(context.Context) error { return o.d.failed("TestConnection") }

// GroupsGranting answers from the products' lists: the groups of the
// product, on the site's cloud id only.
func (o org) GroupsGranting(_ context.Context, productKey, cloudID string) ([]cleanup.OrgGroup, error) {
	if err := o.d.failed("GroupsGranting"); err != nil {
		return nil, err
	}
	o.d.mu.Lock()
	defer o.d.mu.Unlock()
	var out []cleanup.OrgGroup
	if cloudID == "" || cloudID != o.d.SiteCloudID {
		return out, nil
	}
	ids, ok := o.d.OrgGranting[productKey]
	for _, p := range o.d.products {
		if p.Key == productKey && !ok {
			ids = p.GroupIDs
		}
	}
	for _, g := range o.d.groups {
		if slices.Contains(ids, g.ID) {
			out = append(out, g)
		}
	}
	return out, nil
}

func (o org) Groups(context.Context) ([]cleanup.OrgGroup, error) {
	if err := o.d.failed("Groups"); err != nil {
		return nil, err
	}
	o.d.mu.Lock()
	defer o.d.mu.Unlock()
	return slices.Clone(o.d.groups), nil
}

// FollowUsers follows the pages of SearchUsers.
func (o org) FollowUsers(ctx context.Context, q cleanup.UserQuery, cursor string, fn func(cleanup.UserPage) error) error {
	return cleanup.FollowUserPages(ctx, o, q, cursor, fn)
}

// SearchUsers pages through the users matching q in directory order; the
// cursor is the index of the next user (the real API's is opaque).
func (o org) SearchUsers(_ context.Context, q cleanup.UserQuery, cursor string) (cleanup.UserPage, error) {
	if err := o.d.failed("SearchUsers"); err != nil {
		return cleanup.UserPage{}, err
	}
	o.d.mu.Lock()
	defer o.d.mu.Unlock()
	start, _ := strconv.Atoi(cursor)
	size := q.Limit
	if size <= 0 || size > o.d.PageSize {
		size = o.d.PageSize
	}
	var page cleanup.UserPage
	for i := start; i < len(o.d.users); i++ {
		u := o.d.users[i]
		if !matches(u, q) {
			continue
		}
		if len(page.Users) == size {
			page.Next = strconv.Itoa(i)
			break
		}
		u.GroupIDs = slices.Clone(u.GroupIDs)
		page.Users = append(page.Users, u)
	}
	return page, nil
}

func matches(u cleanup.OrgUser, q cleanup.UserQuery) bool {
	if len(q.AccountIDs) > 0 && !slices.Contains(q.AccountIDs, u.AccountID) {
		return false
	}
	if len(q.GroupIDs) > 0 && !slices.ContainsFunc(u.GroupIDs, func(g string) bool { return slices.Contains(q.GroupIDs, g) }) {
		return false
	}
	switch q.ClaimStatus {
	case cleanup.ClaimManaged:
		return u.Managed
	case cleanup.ClaimUnmanaged:
		return !u.Managed
	}
	return true
}

// removeMember removes the membership; removing a non-member succeeds.
func (d *Directory) removeMember(method, groupID, accountID string) error {
	if err := d.failed(method); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.externallyManaged[groupID] {
		return &cleanup.Error{Kind: cleanup.KindExternallyManaged, Message: "the group is managed by an identity provider"}
	}
	d.calls = append(d.calls, method+" "+accountID+" "+groupID)
	for i := range d.users {
		if d.users[i].AccountID == accountID {
			d.users[i].GroupIDs = slices.DeleteFunc(slices.Clone(d.users[i].GroupIDs), func(g string) bool { return g == groupID })
		}
	}
	return nil
}

// addMember adds the membership; adding a member again succeeds. An
// unknown account is KindNotFound.
func (d *Directory) addMember(method, groupID, accountID string) error {
	if err := d.failed(method); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.externallyManaged[groupID] {
		return &cleanup.Error{Kind: cleanup.KindExternallyManaged, Message: "the group is managed by an identity provider"}
	}
	for i := range d.users {
		if d.users[i].AccountID == accountID {
			d.calls = append(d.calls, method+" "+accountID+" "+groupID)
			if !slices.Contains(d.users[i].GroupIDs, groupID) {
				d.users[i].GroupIDs = append(slices.Clone(d.users[i].GroupIDs), groupID)
			}
			return nil
		}
	}
	return &cleanup.Error{Kind: cleanup.KindNotFound, Message: "no such account"}
}

func (o org) RemoveGroupMember(_ context.Context, groupID, accountID string) error {
	return o.d.removeMember("OrgRemoveGroupMember", groupID, accountID)
}

func (o org) setStatus(method, accountID, status string) error {
	if err := o.d.failed(method); err != nil {
		return err
	}
	o.d.mu.Lock()
	defer o.d.mu.Unlock()
	for i := range o.d.users {
		if o.d.users[i].AccountID == accountID {
			o.d.calls = append(o.d.calls, method+" "+accountID)
			o.d.users[i].Status = status
			return nil
		}
	}
	return &cleanup.Error{Kind: cleanup.KindNotFound, Message: "no such account"}
}

func (o org) Suspend(_ context.Context, accountID string) error {
	return o.setStatus("Suspend", accountID, cleanup.StatusSuspended)
}

func (o org) Restore(_ context.Context, accountID string) error {
	return o.setStatus("Restore", accountID, cleanup.StatusActive)
}

// Deactivate deactivates the account; an already deactivated one succeeds.
func (o org) Deactivate(_ context.Context, accountID, _ string) error {
	return o.setStatus("Deactivate", accountID, cleanup.StatusDeactivated)
}

// Reactivate reactivates the account; an active one succeeds.
func (o org) Reactivate(_ context.Context, accountID string) error {
	return o.setStatus("Reactivate", accountID, cleanup.StatusActive)
}

// site is the product view.
type site struct{ d *Directory }

func (s site) Products(context.Context) ([]cleanup.ProductAccess, error) {
	if err := s.d.failed("Products"); err != nil {
		return nil, err
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	out := make([]cleanup.ProductAccess, len(s.d.products))
	for i, p := range s.d.products {
		out[i] = p
		out[i].GroupIDs = nil
		if p.Listed {
			out[i].GroupIDs = slices.Clone(p.GroupIDs)
		}
	}
	return out, nil
}

// CloudID implements cleanup.SiteDirectory.
func (s site) CloudID() string {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	return s.d.SiteCloudID
}

func (s site) Groups(context.Context) ([]cleanup.SiteGroup, error) {
	if err := s.d.failed("SiteGroups"); err != nil {
		return nil, err
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	out := make([]cleanup.SiteGroup, len(s.d.groups))
	for i, g := range s.d.groups {
		out[i] = cleanup.SiteGroup{ID: g.ID, Name: g.Name}
	}
	return out, nil
}

func (s site) GroupMemberIDs(_ context.Context, groupID string) ([]string, error) {
	if err := s.d.failed("GroupMemberIDs"); err != nil {
		return nil, err
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	var ids []string
	for _, u := range s.d.users {
		if slices.Contains(u.GroupIDs, groupID) {
			ids = append(ids, u.AccountID)
		}
	}
	return ids, nil
}

func (s site) RemoveGroupMember(_ context.Context, groupID, accountID string) error {
	return s.d.removeMember("RemoveGroupMember", groupID, accountID)
}

func (s site) AddGroupMember(_ context.Context, groupID, accountID string) error {
	return s.d.addMember("AddGroupMember", groupID, accountID)
}

func (s site) IsAdmin(_ context.Context, accountID string) (bool, error) {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	return s.d.admins[accountID], nil
}
