package atlassian

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
)

// OrgSearchLimit is the page size used for Organizations searches.
const OrgSearchLimit = 100

// orgService names the Organizations (and User management) API in
// messages.
const orgService = "Organizations API"

// opRemoveMember names a membership removal in messages. Actions on one
// user name neither the user nor the group: the run's row says who, and
// its message (the reason) is then the same for every user it happened
// to, so a run's failures group by reason.
const opRemoveMember = "removing the user from the group"

// opAddMember names a membership addition (a restore) in messages.
const opAddMember = "adding the user back to the group"

// Org is the Organizations (admin) and User management REST API of one
// organization, called with its API key. It implements cleanup.OrgDirectory.
type Org struct {
	cl     *caller
	orgID  string
	orgURL string // <OrgAPIURL>/admin/{v1,v2}/orgs/<orgId> is built from it
	umURL  string
	hook   func(groupID string) bool

	mu     sync.Mutex
	synced map[string]bool   // group id -> synced from an IdP (from Groups)
	intern map[string]string // group ids, product keys, statuses: shared across users
}

var _ cleanup.OrgDirectory = (*Org)(nil)

// NewOrg returns the client of the organization. The API key is sent as a
// Bearer token and appears nowhere else.
func NewOrg(creds cleanup.OrgCredentials, o Options) (*Org, error) {
	if strings.TrimSpace(creds.OrgID) == "" {
		return nil, &cleanup.Error{Kind: cleanup.KindNotConfigured, Field: "orgId", Message: "the organization ID is not set"}
	}
	if strings.TrimSpace(creds.APIKey) == "" {
		return nil, &cleanup.Error{Kind: cleanup.KindNotConfigured, Field: "apiKey", Message: "the organization API key is not set"}
	}
	o = o.withDefaults()
	var urls [2]string
	for i, raw := range []string{o.OrgAPIURL, o.UserMgmtURL} {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, cleanup.Invalid([]string{"orgApiUrl", "userMgmtUrl"}[i], "%q is not an http(s) URL", raw)
		}
		urls[i] = strings.TrimSuffix(u.String(), "/")
	}
	rt, timeout := o.baseTransport()
	hc := &http.Client{Transport: rt, Timeout: timeout, CheckRedirect: noRedirect}
	key := strings.TrimSpace(creds.APIKey)
	auth := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+key) }
	org := &Org{
		cl:     newCaller(hc, o, orgService, auth),
		orgID:  strings.TrimSpace(creds.OrgID),
		orgURL: urls[0], umURL: urls[1],
		hook:   o.GroupSynced,
		synced: map[string]bool{},
		intern: map[string]string{},
	}
	return org, nil
}

func (g *Org) v1(path string) string {
	return g.orgURL + "/admin/v1/orgs/" + url.PathEscape(g.orgID) + path
}

func (g *Org) v2(path string) string {
	return g.orgURL + "/admin/v2/orgs/" + url.PathEscape(g.orgID) + "/directories/-" + path
}

// TestConnection checks the organization ID and API key by reading the
// organization and one page of its groups. The error says what is wrong.
func (g *Org) TestConnection(ctx context.Context) error {
	err := g.cl.getJSON(ctx, g.v1(""), "reading the organization", nil)
	if err == nil {
		var page orgGroupPage
		err = g.cl.doJSON(ctx, call{method: http.MethodPost, url: g.v2("/groups/search"), body: map[string]any{"limit": 1}, op: "searching groups"}, &page)
	}
	if err == nil {
		return nil
	}
	var e *cleanup.Error
	if !errors.As(err, &e) {
		return err
	}
	msg := e.Message
	switch e.Kind {
	case cleanup.KindUnauthorized:
		msg = "The API key was rejected: check that it was copied completely and has not expired or been revoked."
	case cleanup.KindNotFound:
		msg = "This API key cannot see an organization with this ID: check the organization ID (Atlassian Administration → Settings → API keys)."
	case cleanup.KindForbidden:
		msg = "The API key lacks a permission the app needs: create an API key without scopes as an organization admin."
	}
	return &cleanup.Error{Kind: e.Kind, Message: msg, RetryAfter: e.RetryAfter, Err: err}
}

type orgLinks struct {
	Self string `json:"self"`
	Prev string `json:"prev"`
	Next string `json:"next"`
}

type orgGroup struct {
	ID               string `json:"id"`
	Name             string `json:"name"`
	Description      string `json:"description"`
	ExternalSynced   bool   `json:"externalSynced"`
	ManagedBy        string `json:"managedBy"`
	ManagementAccess *struct {
		Modifiable bool `json:"modifiable"`
	} `json:"managementAccess"`
	// Counts holds counts.users when the search asked for it (expand
	// "counts.users"; the docs list "counts.users" and
	// "counts.resources").
	Counts *struct {
		Users *int `json:"users"`
	} `json:"counts"`
}

type orgGroupPage struct {
	Data  []orgGroup `json:"data"`
	Links orgLinks   `json:"links"`
}

// Groups lists all groups of the organization with their sync flags, and
// remembers which are synced from an identity provider (for removals).
func (g *Org) Groups(ctx context.Context) ([]cleanup.OrgGroup, error) {
	return g.searchGroups(ctx, nil, "listing groups")
}

// Roles that make a group a licensing group of a product.
//
// The groups search filters by "canonical Atlassian role IDs" (roleIds) and
// resource ids (resourceIds), but the docs list the role ids only for the
// users search: atlassian/user "Can access the product, with no product
// admin permissions", atlassian/admin "Can access the product, with product
// admin permissions", and atlassian/guest, customer, user-access-admin,
// contributor, basic, stakeholder, org-admin, site-admin, ai-access. We
// take user and admin: the two that are the product's (billable) access.
// Guest (one Confluence space), customer, contributor, basic and
// stakeholder are limited or non-billable access, and user-access-admin,
// org-admin and site-admin grant no product at all. The docs do not say
// that a group given a product in Atlassian Administration holds exactly
// these ids on the product's resource; Jira's own answer (its application
// roles) is compared with ours as a check (cleanup.loadCatalog).
const (
	RoleUser  = "atlassian/user"  // product access without admin permissions
	RoleAdmin = "atlassian/admin" // product access with admin permissions
)

// ResourceARI returns the Atlassian Resource Identifier of a product on a
// site, as the Organizations API filters by it. The docs give one example,
// "ari:cloud:jira-core::site/1" (the product key as the resource owner,
// then the site's cloud id); the other products are named by analogy:
// "ari:cloud:confluence::site/<cloudId>", "ari:cloud:jira-software::site/<cloudId>".
func ResourceARI(productKey, cloudID string) string {
	return "ari:cloud:" + productKey + "::site/" + cloudID
}

// ProductGroups lists the groups whose role assignments grant access to
// any of the resources (see ResourceARI) with any of the roles (default
// RoleUser and RoleAdmin): the licensing groups of a product.
func (g *Org) ProductGroups(ctx context.Context, resourceIDs, roleIDs []string) ([]cleanup.OrgGroup, error) {
	if len(resourceIDs) == 0 {
		return nil, cleanup.Invalid("resourceIds", "at least one resource is required")
	}
	if len(roleIDs) == 0 {
		roleIDs = []string{RoleUser, RoleAdmin}
	}
	return g.searchGroups(ctx, map[string]any{"resourceIds": resourceIDs, "roleIds": roleIDs}, "listing licensing groups")
}

// GroupsGranting implements cleanup.OrgDirectory: the groups with product
// access (RoleUser or RoleAdmin) on the product's resource of the site.
// This is how Confluence's licensing groups are found: Confluence has no
// API that says which groups grant it, while the groups search filters by
// role and resource. For Jira it is a cross-check of the application roles.
func (g *Org) GroupsGranting(ctx context.Context, productKey, cloudID string) ([]cleanup.OrgGroup, error) {
	if productKey == "" || cloudID == "" {
		return nil, cleanup.Invalid("resourceIds", "a product and the site's cloud id are required")
	}
	return g.ProductGroups(ctx, []string{ResourceARI(productKey, cloudID)}, nil)
}

// searchGroups follows every page of a groups search with the filters.
func (g *Org) searchGroups(ctx context.Context, filters map[string]any, op string) ([]cleanup.OrgGroup, error) {
	guard := newPageGuard(g.cl.service, op, g.cl.o.MaxPages)
	var out []cleanup.OrgGroup
	cursor := ""
	for {
		if err := guard.visit(cursor); err != nil {
			return nil, err
		}
		body := map[string]any{"limit": OrgSearchLimit, "expand": []string{"counts.users"}}
		for k, v := range filters {
			body[k] = v
		}
		if cursor != "" {
			body["cursor"] = cursor
		}
		var page orgGroupPage
		if err := g.cl.doJSON(ctx, call{method: http.MethodPost, url: g.v2("/groups/search"), body: body, op: op}, &page); err != nil {
			return nil, err
		}
		for _, d := range page.Data {
			og := cleanup.OrgGroup{ID: d.ID, Name: d.Name, Description: d.Description, ExternalSynced: d.ExternalSynced,
				ManagedBy: d.ManagedBy, Modifiable: true, MemberCount: -1}
			if d.ManagementAccess != nil {
				og.Modifiable = d.ManagementAccess.Modifiable
			}
			if d.Counts != nil && d.Counts.Users != nil {
				og.MemberCount = *d.Counts.Users
			}
			out = append(out, og)
		}
		if page.Links.Next == "" {
			break
		}
		if len(page.Data) == 0 {
			return nil, guard.noProgress()
		}
		cursor = page.Links.Next
	}
	g.mu.Lock()
	for _, og := range out {
		g.synced[og.ID] = og.SyncedFromIdP()
	}
	g.mu.Unlock()
	return out, nil
}

// isSynced reports whether the group is known to be synced from an IdP.
func (g *Org) isSynced(groupID string) bool {
	g.mu.Lock()
	s := g.synced[groupID]
	g.mu.Unlock()
	return s || (g.hook != nil && g.hook(groupID))
}

// RemoveGroupMember removes the account from the group (Organizations v2).
// Removing a non-member succeeds; a group synced from an identity provider
// gives KindExternallyManaged.
func (g *Org) RemoveGroupMember(ctx context.Context, groupID, accountID string) error {
	if groupID == "" {
		return cleanup.Invalid("groupId", "a group id is required")
	}
	if accountID == "" {
		return cleanup.Invalid("accountId", "an account id is required")
	}
	_, err := g.cl.do(ctx, call{method: http.MethodDelete,
		url: g.v2("/groups/" + url.PathEscape(groupID) + "/memberships/" + url.PathEscape(accountID)),
		op:  opRemoveMember, removal: true, synced: g.isSynced(groupID)})
	return err
}

func (g *Org) userAction(ctx context.Context, accountID, action, op string) error {
	if accountID == "" {
		return cleanup.Invalid("accountId", "an account id is required")
	}
	_, err := g.cl.do(ctx, call{method: http.MethodPost, url: g.v2("/users/" + url.PathEscape(accountID) + "/" + action),
		op: op})
	return err
}

// Suspend suspends the account's access to the organization's apps.
func (g *Org) Suspend(ctx context.Context, accountID string) error {
	return g.userAction(ctx, accountID, "suspend", "suspending the account")
}

// Restore restores a suspended account.
func (g *Org) Restore(ctx context.Context, accountID string) error {
	return g.userAction(ctx, accountID, "restore", "restoring the account")
}

// Deactivate deactivates a managed account through the User management
// API. An account managed by an external directory gives
// KindExternallyManaged; an unmanaged account KindForbidden.
func (g *Org) Deactivate(ctx context.Context, accountID, message string) error {
	if accountID == "" {
		return cleanup.Invalid("accountId", "an account id is required")
	}
	var body any
	if message != "" {
		body = map[string]string{"message": message}
	}
	_, err := g.cl.do(ctx, call{method: http.MethodPost, url: g.umURL + "/users/" + url.PathEscape(accountID) + "/manage/lifecycle/disable",
		body: body, op: "deactivating the account"})
	return err
}

// Reactivate reactivates a deactivated managed account through the User
// management API (POST /users/{account_id}/manage/lifecycle/enable, 204).
// Like Deactivate, an account managed by an external directory gives
// KindExternallyManaged and an unmanaged one KindForbidden.
func (g *Org) Reactivate(ctx context.Context, accountID string) error {
	if accountID == "" {
		return cleanup.Invalid("accountId", "an account id is required")
	}
	_, err := g.cl.do(ctx, call{method: http.MethodPost, url: g.umURL + "/users/" + url.PathEscape(accountID) + "/manage/lifecycle/enable",
		op: "reactivating the account"})
	return err
}

type lastActivePage struct {
	Data struct {
		ProductAccess []struct {
			Key                 string `json:"key"`
			LastActive          string `json:"last_active"`
			LastActiveTimestamp string `json:"last_active_timestamp"`
		} `json:"product_access"`
		AddedToOrg string `json:"added_to_org"`
	} `json:"data"`
	Links struct {
		Next string `json:"next"`
	} `json:"links"`
}

// LastActive reads one user's last activity per product from the v1
// last-active-dates endpoint (the fallback when a search lacks it). A
// product the user can use but never used maps to the zero time.
func (g *Org) LastActive(ctx context.Context, accountID string) (map[string]time.Time, error) {
	if accountID == "" {
		return nil, cleanup.Invalid("accountId", "an account id is required")
	}
	endpoint := g.v1("/directory/users/" + url.PathEscape(accountID) + "/last-active-dates")
	guard := newPageGuard(g.cl.service, "reading last-active dates", g.cl.o.MaxPages)
	out := map[string]time.Time{}
	cursor := ""
	for {
		if err := guard.visit(cursor); err != nil {
			return nil, err
		}
		u := endpoint
		if cursor != "" {
			u += "?" + url.Values{"cursor": {cursor}}.Encode()
		}
		var page lastActivePage
		if err := g.cl.getJSON(ctx, u, "reading last-active dates of "+accountID, &page); err != nil {
			return nil, err
		}
		for _, p := range page.Data.ProductAccess {
			t, err := parseLastActive(p.LastActiveTimestamp, p.LastActive)
			if err != nil {
				return nil, &cleanup.Error{Kind: cleanup.KindOther, Message: "Organizations API returned a malformed last_active for " + accountID, Err: err}
			}
			if prev, ok := out[p.Key]; !ok || t.After(prev) {
				out[p.Key] = t
			}
		}
		next := page.Links.Next
		if next == "" {
			return out, nil
		}
		// links.next is a cursor or a URL carrying ?cursor=.
		if nu, err := url.Parse(next); err == nil && nu.Query().Get("cursor") != "" {
			next = nu.Query().Get("cursor")
		}
		cursor = next
	}
}

func parseLastActive(ts, date string) (time.Time, error) {
	switch {
	case ts != "":
		return time.Parse(time.RFC3339, ts)
	case date != "":
		return time.Parse(time.DateOnly, date)
	}
	return time.Time{}, nil
}
