package atlassiantest

import (
	"net/http"
	"slices"
	"strings"
)

// The Organizations API groups search (POST
// /admin/v2/orgs/{orgId}/directories/{dirId}/groups/search) as documented
// (jira.js src/admin/models/multiDirectoryGroupSearchRequest.ts and
// multiDirectoryGroup.ts): filters by group ids or names, search term,
// roles and resources; the group object with its documented origin fields
// and the counts the search expands.

// groupSearchRequest is the body of the groups search (jira.js
// multiDirectoryGroupSearchRequest).
type groupSearchRequest struct {
	Cursor      string   `json:"cursor"`
	Limit       int      `json:"limit"`
	GroupIDs    []string `json:"groupIds"`
	GroupNames  []string `json:"groupNames"`
	SearchTerm  string   `json:"searchTerm"`
	ResourceIDs []string `json:"resourceIds"`
	RoleIDs     []string `json:"roleIds"`
	Expand      []string `json:"expand"`
}

// canonicalRoles are the role ids the docs list ("The allowed roles
// are: …", users search; the groups search filters by the same "canonical
// Atlassian role IDs").
var canonicalRoles = []string{
	"atlassian/user", "atlassian/admin", "atlassian/guest", "atlassian/customer", "atlassian/user-access-admin",
	"atlassian/contributor", "atlassian/basic", "atlassian/stakeholder", "atlassian/org-admin",
	"atlassian/site-admin", "atlassian/ai-access",
}

// validate answers a 400 for filters the docs call invalid and returns
// false. Documented: searchTerm and groupNames, and groupIds and
// groupNames, are mutually exclusive ("returns a 400 Bad Request");
// ADMIN-400-4 is "Invalid resource" and ADMIN-400-24 "Invalid request
// body". The docs do not say which code a role id outside the canonical
// list, or a resource id that is no ARI, gets: we answer ADMIN-400-24 and
// ADMIN-400-4. A well-formed ARI of a resource the organization does not
// have is a filter that matches nothing (the docs are silent; "Unknown
// resource", ADMIN-404-1, is for paths that name a resource).
func (q *groupSearchRequest) validate(w http.ResponseWriter) bool {
	bad := func(code, detail string) bool {
		writeJSON(w, http.StatusBadRequest, orgErrors(http.StatusBadRequest, code, detail))
		return false
	}
	switch {
	case q.SearchTerm != "" && len(q.GroupNames) > 0:
		return bad("ADMIN-400-24", "searchTerm and groupNames are mutually exclusive.")
	case len(q.GroupIDs) > 0 && len(q.GroupNames) > 0:
		return bad("ADMIN-400-24", "groupIds and groupNames are mutually exclusive.")
	}
	for _, role := range q.RoleIDs {
		if !slices.Contains(canonicalRoles, role) {
			return bad("ADMIN-400-24", "Unknown role id: "+role)
		}
	}
	for _, ari := range q.ResourceIDs {
		if !isSiteARI(ari) {
			return bad("ADMIN-400-4", "Invalid resource: "+ari)
		}
	}
	for _, e := range q.Expand {
		if e != "counts.users" && e != "counts.resources" {
			return bad("ADMIN-400-24", "Unknown expand value: "+e)
		}
	}
	return true
}

// isSiteARI reports whether s is an Atlassian Resource Identifier of the
// form "ari:cloud:<resource owner>::<type>/<id>" (the docs' example is
// "ari:cloud:jira-core::site/1").
func isSiteARI(s string) bool {
	rest, ok := strings.CutPrefix(s, "ari:cloud:")
	if !ok {
		return false
	}
	owner, res, ok := strings.Cut(rest, "::")
	typ, id, ok2 := strings.Cut(res, "/")
	return ok && ok2 && owner != "" && typ != "" && id != "" && !strings.ContainsAny(owner+typ+id, " :/")
}

func (c *Cloud) groupSearch(w http.ResponseWriter, r *http.Request) {
	var q groupSearchRequest
	if !decodeBody(w, r, &q) || !q.validate(w) {
		return
	}
	pos, ok := decodeCursor("g", q.Cursor)
	if !ok {
		writeJSON(w, http.StatusBadRequest, orgErrors(http.StatusBadRequest, "ADMIN-400-1", "Invalid page cursor."))
		return
	}
	limit := pageLimit(q.Limit, orgGroupSearchMaxLimit)
	match := func(g *group) bool {
		return (len(q.GroupIDs) == 0 || slices.Contains(q.GroupIDs, g.ID)) &&
			(len(q.GroupNames) == 0 || slices.ContainsFunc(q.GroupNames, func(n string) bool { return strings.EqualFold(n, g.Name) })) &&
			(q.SearchTerm == "" || strings.Contains(strings.ToLower(g.Name), strings.ToLower(q.SearchTerm))) &&
			c.grants(g, q.ResourceIDs, q.RoleIDs)
	}
	users, resources := slices.Contains(q.Expand, "counts.users"), slices.Contains(q.Expand, "counts.resources")
	c.mu.Lock()
	data := make([]map[string]any, 0, limit)
	i := pos
	for ; i < len(c.groups) && len(data) < limit; i++ {
		g := c.groups[i]
		if match(g) {
			data = append(data, c.groupJSON(g, users, resources))
		}
	}
	more := false
	for j := i; j < len(c.groups); j++ {
		if match(c.groups[j]) {
			more, i = true, j
			break
		}
	}
	c.mu.Unlock()
	links := map[string]any{"self": q.Cursor}
	if more {
		links["next"] = encodeCursor("g", i)
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "links": links})
}

// groupJSON is the documented group object (jira.js multiDirectoryGroup):
// externalSynced and managedBy report where its membership is managed
// (omitted for a group seeded with OriginUnreported), managementAccess
// what the caller may do with it, counts what the search expanded. c.mu
// is held.
func (c *Cloud) groupJSON(g *group, users, resources bool) map[string]any {
	out := map[string]any{
		"id": g.ID, "name": g.Name, "description": g.Description, "directoryId": directoryID,
		"managementAccess": map[string]bool{"deletable": g.Modifiable, "modifiable": g.Modifiable, "readable": true},
	}
	if !g.OriginUnreported {
		out["externalSynced"], out["managedBy"] = g.ExternalSynced, g.ManagedBy
	}
	counts := map[string]int{}
	if users {
		counts["users"] = len(g.members)
	}
	if resources {
		counts["resources"] = len(c.roleAssignments(g))
	}
	if len(counts) > 0 {
		out["counts"] = counts
	}
	return out
}

// roleAssignments are the group's roles on the sites' resources: a
// licensing group holds "atlassian/user" (an admin group
// "atlassian/admin") on the resource of each product it grants, on every
// site serving the product; a site-admin group holds
// "atlassian/site-admin" on the resources of every site. c.mu is held.
func (c *Cloud) roleAssignments(g *group) map[string][]string {
	out := map[string][]string{}
	role := "atlassian/user"
	if g.Admin {
		role = "atlassian/admin"
	}
	for _, s := range c.sites {
		for _, p := range productKeys {
			if !productOfSite(s.product, p) {
				continue
			}
			ari := "ari:cloud:" + p + "::site/" + s.cloudID
			if slices.Contains(g.Products, p) {
				out[ari] = append(out[ari], role)
			}
			if g.SiteAdmin {
				out[ari] = append(out[ari], "atlassian/site-admin")
			}
		}
	}
	return out
}

// grants reports whether the group holds one of the roles on one of the
// resources (an empty filter matches any; with both empty every group
// matches, with either set only groups holding a role do). c.mu is held.
func (c *Cloud) grants(g *group, resourceIDs, roleIDs []string) bool {
	if len(resourceIDs) == 0 && len(roleIDs) == 0 {
		return true
	}
	for ari, roles := range c.roleAssignments(g) {
		if len(resourceIDs) > 0 && !slices.Contains(resourceIDs, ari) {
			continue
		}
		for _, r := range roles {
			if len(roleIDs) == 0 || slices.Contains(roleIDs, r) {
				return true
			}
		}
	}
	return false
}
