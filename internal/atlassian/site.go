package atlassian

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/cleanup"
)

// Page sizes the product APIs allow.
const (
	JiraPageSize       = 50  // group/bulk and group/member cap maxResults at 50
	ConfluencePageSize = 200 // membersByGroupId caps limit at 200
)

// Site is the product REST API (Jira or Confluence) of one installed tenant,
// called with the app's own JWT. It implements cleanup.SiteDirectory.
type Site struct {
	cl      *caller
	base    *url.URL // tenant baseUrl (Confluence includes /wiki)
	product connect.Product
	cloudID string
	synced  func(groupID string) bool
}

var _ cleanup.SiteDirectory = (*Site)(nil)

// SiteMember is one member of a product group.
type SiteMember struct {
	AccountID   string
	AccountType string // cleanup.AccountAtlassian, AccountApp or AccountCustomer
	DisplayName string
	Active      bool
}

// NewSite returns the client of the tenant's product. Requests are signed
// with connect.Transport: HS256 with the tenant's shared secret, iss =
// appKey, qsh relative to the tenant baseUrl.
func NewSite(t *connect.Tenant, appKey string, o Options) (*Site, error) {
	if t == nil {
		return nil, cleanup.Invalid("tenant", "no tenant")
	}
	if appKey == "" {
		return nil, cleanup.Invalid("appKey", "the app key is required")
	}
	if t.SharedSecret == "" {
		return nil, cleanup.Invalid("sharedSecret", "the tenant has no shared secret")
	}
	base, err := url.Parse(t.BaseURL)
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, cleanup.Invalid("baseUrl", "the tenant baseUrl %q is not an http(s) URL", t.BaseURL)
	}
	base.RawQuery, base.Fragment = "", ""
	base.Path = strings.TrimSuffix(base.Path, "/")
	base.RawPath = ""
	var service string
	switch t.ProductType {
	case connect.Jira:
		service = "Jira"
	case connect.Confluence:
		service = "Confluence"
	default:
		return nil, cleanup.Invalid("productType", "unknown product %q", t.ProductType)
	}
	o = o.withDefaults()
	rt, timeout := o.baseTransport()
	hc := &http.Client{
		Transport:     &connect.Transport{Tenant: t, AppKey: appKey, Base: rt, Now: o.Now},
		Timeout:       timeout,
		CheckRedirect: noRedirect,
	}
	synced := o.GroupSynced
	if synced == nil {
		synced = func(string) bool { return false }
	}
	return &Site{cl: newCaller(hc, o, service, nil), base: base, product: t.ProductType, cloudID: t.CloudID, synced: synced}, nil
}

// Product returns the product the site client talks to.
func (s *Site) Product() connect.Product { return s.product }

// CloudID implements cleanup.SiteDirectory: the cloud id the signed
// install carried ("" when it carried none).
func (s *Site) CloudID() string { return s.cloudID }

// endpoint returns the URL of an API path below the tenant baseUrl.
func (s *Site) endpoint(path string) string {
	return s.base.String() + path
}

func withQuery(endpoint string, q url.Values) string {
	if len(q) == 0 {
		return endpoint
	}
	return endpoint + "?" + q.Encode()
}

// jiraGroupDetail is a group reference in Jira beans.
type jiraGroupDetail struct {
	GroupID string `json:"groupId"`
	Name    string `json:"name"`
}

type jiraApplicationRole struct {
	Key                  string            `json:"key"`
	Name                 string            `json:"name"`
	Groups               []string          `json:"groups"`
	GroupDetails         []jiraGroupDetail `json:"groupDetails"`
	DefaultGroups        []string          `json:"defaultGroups"`
	DefaultGroupsDetails []jiraGroupDetail `json:"defaultGroupsDetails"`
	// Seats, as GET /rest/api/3/applicationrole documents them: the
	// licensed seats, the users counted against them, and whether the
	// licence is unlimited. Absent fields leave the seats unknown.
	NumberOfSeats     *int `json:"numberOfSeats"`
	UserCount         *int `json:"userCount"`
	HasUnlimitedSeats bool `json:"hasUnlimitedSeats"`
}

// Products lists Jira's application roles (products) and the groups that
// grant each (Listed). Confluence has no such API: it lists itself without
// groups; its licensing groups come from the Organizations API
// (Org.GroupsGranting) or the settings.
func (s *Site) Products(ctx context.Context) ([]cleanup.ProductAccess, error) {
	if s.product != connect.Jira {
		return []cleanup.ProductAccess{{Key: cleanup.ProductConfluence, Name: cleanup.ProductName(cleanup.ProductConfluence)}}, nil
	}
	var roles []jiraApplicationRole
	if err := s.cl.getJSON(ctx, s.endpoint("/rest/api/3/applicationrole"), "list products (application roles)", &roles); err != nil {
		return nil, err
	}
	out := make([]cleanup.ProductAccess, 0, len(roles))
	for _, r := range roles {
		groups, err := groupIDs(r.Key, r.GroupDetails, len(r.Groups))
		if err != nil {
			return nil, err
		}
		defaults, err := groupIDs(r.Key, r.DefaultGroupsDetails, len(r.DefaultGroups))
		if err != nil {
			return nil, err
		}
		p := cleanup.ProductAccess{Key: r.Key, Name: r.Name, GroupIDs: groups, DefaultGroupIDs: defaults, Listed: true}
		if r.NumberOfSeats != nil && r.UserCount != nil {
			p.Seats = &cleanup.Seats{Licensed: *r.NumberOfSeats, Used: *r.UserCount, Unlimited: r.HasUnlimitedSeats}
		}
		out = append(out, p)
	}
	return out, nil
}

// groupIDs returns the ids of details; a role that names more groups than
// it details (an old Jira without groupDetails) is an error, not a silent
// partial list.
func groupIDs(role string, details []jiraGroupDetail, named int) ([]string, error) {
	ids := make([]string, 0, len(details))
	for _, d := range details {
		if d.GroupID == "" {
			return nil, &cleanup.Error{Kind: cleanup.KindOther,
				Message: fmt.Sprintf("Jira application role %q lists group %q without a group id", role, d.Name)}
		}
		ids = append(ids, d.GroupID)
	}
	if named > len(details) {
		return nil, &cleanup.Error{Kind: cleanup.KindOther,
			Message: fmt.Sprintf("Jira application role %q names %d groups but details only %d", role, named, len(details))}
	}
	return ids, nil
}

type confluenceGroup struct {
	Type string `json:"type"`
	Name string `json:"name"`
	ID   string `json:"id"`
}

// Groups lists all groups of the site, following every page.
func (s *Site) Groups(ctx context.Context) ([]cleanup.SiteGroup, error) {
	var out []cleanup.SiteGroup
	switch s.product {
	case connect.Jira:
		err := jiraPages(ctx, s.cl, s.endpoint("/rest/api/3/group/bulk"), url.Values{}, JiraPageSize, "listing groups",
			func(v []jiraGroupDetail) error {
				for _, g := range v {
					out = append(out, cleanup.SiteGroup{ID: g.GroupID, Name: g.Name})
				}
				return nil
			})
		return out, err
	default:
		first := withQuery(s.endpoint("/rest/api/group"), url.Values{"start": {"0"}, "limit": {fmt.Sprint(ConfluencePageSize)}})
		err := confluencePages(ctx, s.cl, s.base, first, "listing groups", func(v []confluenceGroup) error {
			for _, g := range v {
				out = append(out, cleanup.SiteGroup{ID: g.ID, Name: g.Name})
			}
			return nil
		})
		return out, err
	}
}

// ProductGroups lists the Jira groups that grant the product (group/bulk
// with applicationKey). Confluence has no such filter: it returns an
// error of KindInvalid.
func (s *Site) ProductGroups(ctx context.Context, productKey string) ([]cleanup.SiteGroup, error) {
	if s.product != connect.Jira {
		return nil, cleanup.Invalid("product", "Confluence cannot list groups by product")
	}
	if productKey == "" {
		return nil, cleanup.Invalid("product", "a product key is required")
	}
	var out []cleanup.SiteGroup
	q := url.Values{"applicationKey": {productKey}}
	err := jiraPages(ctx, s.cl, s.endpoint("/rest/api/3/group/bulk"), q, JiraPageSize, "listing groups of "+productKey,
		func(v []jiraGroupDetail) error {
			for _, g := range v {
				out = append(out, cleanup.SiteGroup{ID: g.GroupID, Name: g.Name})
			}
			return nil
		})
	return out, err
}

type jiraUser struct {
	AccountID   string `json:"accountId"`
	AccountType string `json:"accountType"`
	DisplayName string `json:"displayName"`
	Active      bool   `json:"active"`
}

type confluenceUser struct {
	Type        string `json:"type"`
	AccountID   string `json:"accountId"`
	AccountType string `json:"accountType"`
	DisplayName string `json:"displayName"`
	Operations  []struct {
		Operation  string `json:"operation"`
		TargetType string `json:"targetType"`
	} `json:"operations"`
}

// GroupMembers lists every member of the group (Jira includes inactive
// users), with the account type so apps and customers can be skipped.
func (s *Site) GroupMembers(ctx context.Context, groupID string) ([]SiteMember, error) {
	if groupID == "" {
		return nil, cleanup.Invalid("groupId", "a group id is required")
	}
	var out []SiteMember
	op := "listing members of group " + groupID
	switch s.product {
	case connect.Jira:
		q := url.Values{"groupId": {groupID}, "includeInactiveUsers": {"true"}}
		err := jiraPages(ctx, s.cl, s.endpoint("/rest/api/3/group/member"), q, JiraPageSize, op, func(v []jiraUser) error {
			for _, u := range v {
				out = append(out, SiteMember{AccountID: u.AccountID, AccountType: u.AccountType, DisplayName: u.DisplayName, Active: u.Active})
			}
			return nil
		})
		return out, err
	default:
		first := withQuery(s.endpoint("/rest/api/group/"+url.PathEscape(groupID)+"/membersByGroupId"),
			url.Values{"start": {"0"}, "limit": {fmt.Sprint(ConfluencePageSize)}})
		err := confluencePages(ctx, s.cl, s.base, first, op, func(v []confluenceUser) error {
			for _, u := range v {
				// Confluence v1 has no active flag on members: "known" users are active.
				out = append(out, SiteMember{AccountID: u.AccountID, AccountType: u.AccountType, DisplayName: u.DisplayName, Active: u.Type != "anonymous"})
			}
			return nil
		})
		return out, err
	}
}

// GroupMemberIDs lists the account ids of a group's members, all pages.
func (s *Site) GroupMemberIDs(ctx context.Context, groupID string) ([]string, error) {
	members, err := s.GroupMembers(ctx, groupID)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.AccountID
	}
	return ids, nil
}

// GroupAccounts implements cleanup.SiteAccountLister: the group's members
// with their account types, as the product reports them.
func (s *Site) GroupAccounts(ctx context.Context, groupID string) ([]cleanup.SiteAccount, error) {
	members, err := s.GroupMembers(ctx, groupID)
	if err != nil {
		return nil, err
	}
	out := make([]cleanup.SiteAccount, len(members))
	for i, m := range members {
		out[i] = cleanup.SiteAccount{AccountID: m.AccountID, Name: m.DisplayName, AccountType: m.AccountType, Active: m.Active}
	}
	return out, nil
}

// AllGroupMembers reads the members of several groups concurrently (bounded
// by MaxConcurrency) and returns them by group id. The first error cancels
// the rest.
func (s *Site) AllGroupMembers(ctx context.Context, groupIDs []string) (map[string][]SiteMember, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		out      = make(map[string][]SiteMember, len(groupIDs))
		firstErr error
		wg       sync.WaitGroup
	)
	work := make(chan string)
	for range min(s.cl.o.MaxConcurrency, max(len(groupIDs), 1)) {
		wg.Go(func() {
			for id := range work {
				m, err := s.GroupMembers(ctx, id)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
					cancel()
				}
				out[id] = m
				mu.Unlock()
			}
		})
	}
feed:
	for _, id := range slices.Compact(slices.Sorted(slices.Values(groupIDs))) {
		select {
		case work <- id:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// RemoveGroupMember removes the account from the group. Removing a
// non-member succeeds (the product answers 404); a group synced from an
// identity provider gives KindExternallyManaged.
func (s *Site) RemoveGroupMember(ctx context.Context, groupID, accountID string) error {
	if groupID == "" {
		return cleanup.Invalid("groupId", "a group id is required")
	}
	if accountID == "" {
		return cleanup.Invalid("accountId", "an account id is required")
	}
	q := url.Values{"groupId": {groupID}, "accountId": {accountID}}
	path := "/rest/api/3/group/user"
	if s.product == connect.Confluence {
		path = "/rest/api/group/userByGroupId"
	}
	_, err := s.cl.do(ctx, call{method: http.MethodDelete, url: withQuery(s.endpoint(path), q),
		op: opRemoveMember, removal: true, synced: s.synced(groupID)})
	return err
}

// AddGroupMember adds the account to the group (a restore): Jira's POST
// /rest/api/3/group/user?groupId= and Confluence's POST
// /wiki/rest/api/group/userByGroupId?groupId=, both with {"accountId"} and
// site administration permission. An IdP-managed group gives
// KindExternallyManaged, an unknown account or group KindNotFound.
func (s *Site) AddGroupMember(ctx context.Context, groupID, accountID string) error {
	if groupID == "" {
		return cleanup.Invalid("groupId", "a group id is required")
	}
	if accountID == "" {
		return cleanup.Invalid("accountId", "an account id is required")
	}
	q := url.Values{"groupId": {groupID}}
	path := "/rest/api/3/group/user"
	if s.product == connect.Confluence {
		path = "/rest/api/group/userByGroupId"
	}
	_, err := s.cl.do(ctx, call{method: http.MethodPost, url: withQuery(s.endpoint(path), q),
		body: map[string]string{"accountId": accountID}, op: opAddMember, addition: true, synced: s.synced(groupID)})
	return err
}

// IsAdmin reports whether the account may administer the product: Jira's
// ADMINISTER global permission (permissions/check), Confluence's
// "administer" operation on the application (user?expand=operations).
func (s *Site) IsAdmin(ctx context.Context, accountID string) (bool, error) {
	if accountID == "" {
		return false, cleanup.Invalid("accountId", "an account id is required")
	}
	op := "checking admin permission of " + accountID
	if s.product == connect.Jira {
		body := map[string]any{"accountId": accountID, "globalPermissions": []string{"ADMINISTER"}}
		var res struct {
			GlobalPermissions []string `json:"globalPermissions"`
		}
		if err := s.cl.doJSON(ctx, call{method: http.MethodPost, url: s.endpoint("/rest/api/3/permissions/check"), body: body, op: op}, &res); err != nil {
			return false, err
		}
		return slices.Contains(res.GlobalPermissions, "ADMINISTER"), nil
	}
	q := url.Values{"accountId": {accountID}, "expand": {"operations"}}
	var u confluenceUser
	if err := s.cl.getJSON(ctx, withQuery(s.endpoint("/rest/api/user"), q), op, &u); err != nil {
		return false, err
	}
	for _, o := range u.Operations {
		if o.Operation == "administer" && o.TargetType == "application" {
			return true, nil
		}
	}
	return false, nil
}
