package atlassiantest

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/cleanup"
)

// Page caps of the product APIs.
const (
	jiraMaxResults     = 50
	confluenceMaxLimit = 200
	jwtLeeway          = 30 * time.Second
)

// Site is one fake product site (Jira at its root, Confluence under /wiki).
type Site struct {
	cloud    *Cloud
	product  connect.Product
	srv      *httptest.Server
	basePath string // "" for Jira, "/wiki" for Confluence
	cloudID  string

	mu   sync.Mutex
	apps map[string]installation // by app key
}

type installation struct {
	clientKey string
	secret    string
}

func newSite(c *Cloud, p connect.Product, i int) *Site {
	s := &Site{cloud: c, product: p, apps: map[string]installation{}, cloudID: fmt.Sprintf("cloud-%04d", i+1)}
	mux := http.NewServeMux()
	if p == connect.Confluence {
		s.basePath = "/wiki"
		s.handle(mux, "GET /wiki/rest/api/group", s.confluenceGroups)
		s.handle(mux, "GET /wiki/rest/api/group/{groupId}/membersByGroupId", s.confluenceMembers)
		s.handle(mux, "DELETE /wiki/rest/api/group/userByGroupId", s.confluenceRemove)
		s.handle(mux, "POST /wiki/rest/api/group/userByGroupId", s.addMember)
		s.handle(mux, "GET /wiki/rest/api/user", s.confluenceUser)
		s.handle(mux, "GET /wiki/rest/api/user/memberof", s.confluenceMemberOf)
	} else {
		s.handle(mux, "GET /rest/api/3/applicationrole", s.jiraApplicationRoles)
		s.handle(mux, "GET /rest/api/3/group/bulk", s.jiraGroups)
		s.handle(mux, "GET /rest/api/3/group/member", s.jiraMembers)
		s.handle(mux, "DELETE /rest/api/3/group/user", s.jiraRemove)
		s.handle(mux, "POST /rest/api/3/group/user", s.addMember)
		s.handle(mux, "POST /rest/api/3/permissions/check", s.jiraPermissions)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, http.StatusNotFound, "no such endpoint in the fake: "+r.Method+" "+r.URL.Path)
	})
	s.srv = httptest.NewServer(c.middleware(string(p), mux))
	return s
}

// handle registers h behind the JWT check and the request counter.
func (s *Site) handle(mux *http.ServeMux, pattern string, h http.HandlerFunc) {
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		s.cloud.count(pattern)
		if err := s.verify(r); err != nil {
			s.fail(w, http.StatusUnauthorized, err.Error())
			return
		}
		h(w, r)
	})
}

// Product returns the site's product.
func (s *Site) Product() connect.Product { return s.product }

// BaseURL returns the site base URL as a tenant's baseUrl (Confluence ends in /wiki).
func (s *Site) BaseURL() string { return s.srv.URL + s.basePath }

// CloudID returns the site's cloud id.
func (s *Site) CloudID() string { return s.cloudID }

// RegisterApp records an installation of the app: requests signed with
// iss = appKey are verified with sharedSecret.
func (s *Site) RegisterApp(appKey, clientKey, sharedSecret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apps[appKey] = installation{clientKey: clientKey, secret: sharedSecret}
}

// Install registers an installation and returns the tenant the app would
// have stored for it.
func (s *Site) Install(appKey, clientKey, sharedSecret string) *connect.Tenant {
	s.RegisterApp(appKey, clientKey, sharedSecret)
	return &connect.Tenant{
		ClientKey: clientKey, AppKey: appKey, ProductType: s.product, BaseURL: s.BaseURL(),
		SharedSecret: connect.Secret(sharedSecret), CloudID: s.cloudID, Enabled: true, InstalledAt: s.cloud.now(),
	}
}

type qshClaims struct {
	jwt.RegisteredClaims
	QSH string `json:"qsh"`
}

// verify checks the Connect JWT of a product request: HS256 with the shared
// secret of the installation named by iss, exp required (30 s leeway), and
// qsh equal to the hash of this request relative to the site base URL.
func (s *Site) verify(r *http.Request) error {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "JWT") || tok == "" {
		return errors.New("missing JWT authorization")
	}
	var unverified qshClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &unverified); err != nil {
		return errors.New("malformed JWT")
	}
	s.mu.Lock()
	inst, ok := s.apps[unverified.Issuer]
	s.mu.Unlock()
	if !ok {
		return errors.New("JWT issuer is not an installed app")
	}
	var claims qshClaims
	_, err := jwt.ParseWithClaims(tok, &claims, func(*jwt.Token) (any, error) { return []byte(inst.secret), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithLeeway(jwtLeeway),
		jwt.WithTimeFunc(s.cloud.now), jwt.WithIssuer(unverified.Issuer))
	if err != nil {
		return fmt.Errorf("JWT rejected: %v", err)
	}
	want, err := connect.QueryStringHash(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, s.basePath)
	if err != nil {
		return errors.New("cannot canonicalise request")
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(claims.QSH)) != 1 {
		return errors.New("JWT qsh does not match the request")
	}
	return nil
}

// fail answers an error in the site's API style.
func (s *Site) fail(w http.ResponseWriter, status int, msg string) {
	if s.product == connect.Confluence {
		writeJSON(w, status, confluenceError(status, msg))
		return
	}
	writeJSON(w, status, jiraError(msg))
}

func (s *Site) service() string { return string(s.product) }

// intParam reads a non-negative integer query parameter.
func intParam(q url.Values, name string, def int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s must be a non-negative integer", name)
	}
	return n, nil
}

// window returns [start, end) of a page over n items.
func window(start, size, n int) (int, int) {
	start = min(start, n)
	return start, min(start+size, n)
}

type jiraGroupBean struct {
	Name    string `json:"name"`
	GroupID string `json:"groupId"`
}

func (s *Site) jiraApplicationRoles(w http.ResponseWriter, r *http.Request) {
	c := s.cloud
	c.mu.Lock()
	var roles []map[string]any
	for _, key := range []string{cleanup.ProductJiraSoftware, cleanup.ProductJiraServiceDesk} {
		names := []string{}
		details := []jiraGroupBean{}
		defaults := []string{}
		defaultDetails := []jiraGroupBean{}
		users := map[int32]bool{}
		for _, g := range c.groups {
			if !slices.Contains(g.Products, key) {
				continue
			}
			names = append(names, g.Name)
			details = append(details, jiraGroupBean{Name: g.Name, GroupID: g.ID})
			if !g.ExternalSynced {
				defaults = append(defaults, g.Name)
				defaultDetails = append(defaultDetails, jiraGroupBean{Name: g.Name, GroupID: g.ID})
			}
			for _, m := range g.members {
				users[m] = true
			}
		}
		// The documented ApplicationRole bean: numberOfSeats, remainingSeats,
		// userCount (users counted against the licence) and
		// hasUnlimitedSeats. The docs do not say what numberOfSeats holds
		// for an unlimited licence; the fake answers -1 then.
		seats, ok := c.seats[key]
		if !ok {
			seats = DefaultSeats
		}
		remaining := seats - len(users)
		if seats < 0 {
			remaining = -1
		}
		roles = append(roles, map[string]any{
			"key": key, "name": productNames[key], "groups": names, "groupDetails": details,
			"defaultGroups": defaults, "defaultGroupsDetails": defaultDetails, "selectedByDefault": false,
			"defined": true, "numberOfSeats": seats, "remainingSeats": remaining, "userCount": len(users),
			"userCountDescription": "users", "hasUnlimitedSeats": seats < 0, "platform": false,
		})
	}
	c.mu.Unlock()
	writeJSON(w, http.StatusOK, roles)
}

// jiraPageParams reads startAt/maxResults (maxResults capped at 50).
func (s *Site) jiraPageParams(w http.ResponseWriter, q url.Values) (start, size int, ok bool) {
	start, err1 := intParam(q, "startAt", 0)
	size, err2 := intParam(q, "maxResults", jiraMaxResults)
	if err := errors.Join(err1, err2); err != nil {
		s.fail(w, http.StatusBadRequest, err.Error())
		return 0, 0, false
	}
	if size == 0 || size > jiraMaxResults {
		size = jiraMaxResults
	}
	return start, size, true
}

func (s *Site) jiraGroups(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	start, size, ok := s.jiraPageParams(w, q)
	if !ok {
		return
	}
	appKey, access := q.Get("applicationKey"), q.Get("accessType")
	ids := q["groupId"]
	c := s.cloud
	c.mu.Lock()
	var all []jiraGroupBean
	for _, g := range c.groups {
		switch {
		case appKey != "" && !slices.Contains(g.Products, appKey),
			access == "user" && len(g.Products) == 0,
			access == "admin" && !g.Admin,
			access == "site-admin" && !g.SiteAdmin,
			len(ids) > 0 && !slices.Contains(ids, g.ID):
			continue
		}
		all = append(all, jiraGroupBean{Name: g.Name, GroupID: g.ID})
	}
	c.mu.Unlock()
	lo, hi := window(start, size, len(all))
	writeJSON(w, http.StatusOK, map[string]any{
		"self": s.srv.URL + r.URL.RequestURI(), "maxResults": size, "startAt": start, "total": len(all),
		"isLast": hi >= len(all), "values": append([]jiraGroupBean{}, all[lo:hi]...),
	})
}

func (s *Site) jiraMembers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	start, size, ok := s.jiraPageParams(w, q)
	if !ok {
		return
	}
	inactive := q.Get("includeInactiveUsers") == "true"
	c := s.cloud
	c.mu.Lock()
	gi, found := c.groupIndex(q.Get("groupId"), q.Get("groupname"))
	if !found {
		c.mu.Unlock()
		s.fail(w, http.StatusNotFound, "Specified group does not exist.")
		return
	}
	var members []int32
	for _, m := range c.groups[gi].members {
		if inactive || c.users[m].status != cleanup.StatusDeactivated {
			members = append(members, m)
		}
	}
	lo, hi := window(start, size, len(members))
	values := make([]map[string]any, 0, hi-lo)
	for _, m := range members[lo:hi] {
		u := c.users[m]
		v := map[string]any{
			"self": s.srv.URL + "/rest/api/3/user?accountId=" + url.QueryEscape(u.id), "accountId": u.id,
			"accountType": u.accountType, "displayName": u.name, "active": u.status != cleanup.StatusDeactivated,
			"timeZone": "Europe/Oslo",
		}
		if u.email != "" {
			v["emailAddress"] = u.email
		}
		values = append(values, v)
	}
	c.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"self": s.srv.URL + r.URL.RequestURI(), "maxResults": size, "startAt": start, "total": len(members),
		"isLast": hi >= len(members), "values": values,
	})
}

// groupIndex finds a group by id or name. c.mu is held.
func (c *Cloud) groupIndex(id, name string) (int, bool) {
	if id != "" {
		i, ok := c.byGroup[id]
		return i, ok
	}
	for i, g := range c.groups {
		if name != "" && g.Name == name {
			return i, true
		}
	}
	return 0, false
}

// SyncedGroupMessage is the message the fake answers when a member of a
// group synced from an identity provider is removed. Atlassian does not
// document the exact body; this follows the documented wording.
const SyncedGroupMessage = "You can't remove a user from a group synced from an identity provider. Manage this group in your identity provider instead."

// removeOutcome applies a product membership removal and records it.
func (s *Site) removeOutcome(r *http.Request) (status int, msg string) {
	q := r.URL.Query()
	groupID, accountID := q.Get("groupId"), q.Get("accountId")
	c := s.cloud
	c.mu.Lock()
	defer c.mu.Unlock()
	call := Call{Service: s.service(), Method: r.Method, Path: r.URL.Path, GroupID: groupID, AccountID: accountID}
	defer func() { call.Status = status; c.calls = append(c.calls, call) }()
	if groupID == "" || accountID == "" {
		call.Result = "invalid"
		return http.StatusBadRequest, "groupId and accountId are required"
	}
	gi, ok := c.byGroup[groupID]
	if !ok {
		call.Result = "not-found"
		return http.StatusNotFound, "Specified group does not exist."
	}
	ui, ok := c.byID[accountID]
	if !ok {
		call.Result = "not-found"
		return http.StatusNotFound, "The user does not exist."
	}
	if c.groups[gi].Synced() {
		call.Result = "externally-managed"
		if s.product == connect.Confluence {
			return http.StatusForbidden, SyncedGroupMessage
		}
		return http.StatusBadRequest, SyncedGroupMessage
	}
	if !c.removeMember(gi, ui) {
		call.Result = "not-member"
		return http.StatusNotFound, "The user is not a member of the group."
	}
	call.Result = "removed"
	if s.product == connect.Confluence {
		return http.StatusNoContent, ""
	}
	return http.StatusOK, ""
}

func (s *Site) jiraRemove(w http.ResponseWriter, r *http.Request) {
	status, msg := s.removeOutcome(r)
	if status >= 300 {
		s.fail(w, status, msg)
		return
	}
	w.WriteHeader(status)
}

func (s *Site) confluenceRemove(w http.ResponseWriter, r *http.Request) { s.jiraRemove(w, r) }

// SyncedGroupAddMessage is the message the fake answers when a user is
// added to a group synced from an identity provider: the Organizations
// API documents this wording for its own add-member call; the products'
// exact body is not documented.
const SyncedGroupAddMessage = "You can't add a user to a group synced from an identity provider. Manage this group in your identity provider instead."

// addMember is Jira's POST /rest/api/3/group/user?groupId= and Confluence's
// POST /wiki/rest/api/group/userByGroupId?groupId=, both with
// {"accountId": "..."}: 201 when added (Jira answers the group, Confluence
// no body); 400 without groupId or accountId; 404 for an unknown group or
// user. What a member added again gets is not documented: this fake
// answers Jira's 400 "Cannot add user. User is already a member of '…'"
// (the wording Jira uses) and, for Confluence, 201 without a change. A
// group synced from an identity provider is refused like a removal (Jira
// 400, Confluence 403).
func (s *Site) addMember(w http.ResponseWriter, r *http.Request) {
	groupID := r.URL.Query().Get("groupId")
	var body struct {
		AccountID string `json:"accountId"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
		s.fail(w, http.StatusBadRequest, "Invalid request payload.")
		return
	}
	c := s.cloud
	c.mu.Lock()
	call := Call{Service: s.service(), Method: r.Method, Path: r.URL.Path, GroupID: groupID, AccountID: body.AccountID}
	status, msg, name := http.StatusCreated, "", ""
	gi, okG := c.byGroup[groupID]
	ui, okU := c.byID[body.AccountID]
	switch {
	case groupID == "" || body.AccountID == "":
		status, msg, call.Result = http.StatusBadRequest, "groupId and accountId are required", "invalid"
	case !okG:
		status, msg, call.Result = http.StatusNotFound, "Specified group does not exist.", "not-found"
	case !okU:
		status, msg, call.Result = http.StatusNotFound, "The user does not exist.", "not-found"
	case c.groups[gi].Synced():
		status, msg, call.Result = http.StatusBadRequest, SyncedGroupAddMessage, "externally-managed"
		if s.product == connect.Confluence {
			status = http.StatusForbidden
		}
	default:
		name = c.groups[gi].Name
		if c.addMember(gi, ui) {
			call.Result = "added"
		} else {
			call.Result = "already-member"
			if s.product != connect.Confluence {
				status, msg = http.StatusBadRequest, fmt.Sprintf("Cannot add user. User is already a member of '%s'", name)
			}
		}
	}
	call.Status = status
	c.calls = append(c.calls, call)
	c.mu.Unlock()
	switch {
	case status >= 300:
		s.fail(w, status, msg)
	case s.product == connect.Confluence:
		w.WriteHeader(status)
	default:
		writeJSON(w, status, map[string]any{"name": name, "groupId": groupID, "self": s.srv.URL + "/rest/api/3/group?groupId=" + groupID})
	}
}

func (s *Site) jiraPermissions(w http.ResponseWriter, r *http.Request) {
	var req struct {
		AccountID         string   `json:"accountId"`
		GlobalPermissions []string `json:"globalPermissions"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		s.fail(w, http.StatusBadRequest, "malformed request body")
		return
	}
	c := s.cloud
	c.mu.Lock()
	ui, ok := c.byID[req.AccountID]
	admin := ok && isAdmin(c.users[ui])
	// Jira Cloud grants SYSTEM_ADMIN to the groups with site-admin
	// access; the fake grants it to their members only.
	sysAdmin := ok && c.isSiteAdmin(c.users[ui])
	c.mu.Unlock()
	if req.AccountID != "" && !ok {
		s.fail(w, http.StatusNotFound, "The user with accountId '"+req.AccountID+"' does not exist.")
		return
	}
	granted := []string{}
	for _, p := range req.GlobalPermissions {
		if admin && (p == "ADMINISTER" || p == "USER_PICKER") || sysAdmin && p == "SYSTEM_ADMIN" {
			granted = append(granted, p)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"globalPermissions": granted, "projectPermissions": []any{}})
}

// confluencePageParams reads start/limit (limit capped at 200).
func (s *Site) confluencePageParams(w http.ResponseWriter, q url.Values) (start, limit int, ok bool) {
	start, err1 := intParam(q, "start", 0)
	limit, err2 := intParam(q, "limit", 25)
	if err := errors.Join(err1, err2); err != nil {
		s.fail(w, http.StatusBadRequest, err.Error())
		return 0, 0, false
	}
	if limit == 0 || limit > confluenceMaxLimit {
		limit = confluenceMaxLimit
	}
	return start, limit, true
}

// confluenceLinks builds _links with next relative to the base (which
// includes /wiki), as Confluence v1 does.
func (s *Site) confluenceLinks(r *http.Request, start, limit, hi, n int) map[string]string {
	rel := strings.TrimPrefix(r.URL.Path, s.basePath)
	links := map[string]string{"base": s.BaseURL(), "context": s.basePath, "self": s.BaseURL() + rel}
	if hi < n {
		q := r.URL.Query()
		q.Set("start", strconv.Itoa(start+limit))
		q.Set("limit", strconv.Itoa(limit))
		q.Set("next", "true")
		links["next"] = rel + "?" + q.Encode()
	}
	return links
}

// confluenceGroups answers GET /wiki/rest/api/group, with the documented
// accessType filter (user, admin, site-admin).
func (s *Site) confluenceGroups(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	start, limit, ok := s.confluencePageParams(w, q)
	if !ok {
		return
	}
	access := q.Get("accessType")
	switch access {
	case "", "user", "admin", "site-admin":
	default:
		s.fail(w, http.StatusBadRequest, "accessType must be one of user, admin, site-admin")
		return
	}
	c := s.cloud
	c.mu.Lock()
	var all []*group
	for _, g := range c.groups {
		if access == "user" && len(g.Products) == 0 || access == "admin" && !g.Admin || access == "site-admin" && !g.SiteAdmin {
			continue
		}
		all = append(all, g)
	}
	lo, hi := window(start, limit, len(all))
	results := make([]map[string]any, 0, hi-lo)
	for _, g := range all[lo:hi] {
		results = append(results, confluenceGroupJSON(s, g))
	}
	n := len(all)
	c.mu.Unlock()
	s.writeConfluencePage(w, r, start, limit, hi, n, results)
}

func confluenceGroupJSON(s *Site, g *group) map[string]any {
	return map[string]any{"type": "group", "name": g.Name, "id": g.ID,
		"_links": map[string]string{"self": s.BaseURL() + "/rest/api/group/by-id?id=" + g.ID}}
}

// confluenceMemberOf answers GET /wiki/rest/api/user/memberof: the groups
// of the account, paged like every v1 list.
func (s *Site) confluenceMemberOf(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	start, limit, ok := s.confluencePageParams(w, q)
	if !ok {
		return
	}
	c := s.cloud
	c.mu.Lock()
	ui, found := c.byID[q.Get("accountId")]
	if !found {
		c.mu.Unlock()
		s.fail(w, http.StatusNotFound, "No user found with accountId: "+q.Get("accountId"))
		return
	}
	groups := c.users[ui].groups
	lo, hi := window(start, limit, len(groups))
	results := make([]map[string]any, 0, hi-lo)
	for _, gi := range groups[lo:hi] {
		results = append(results, confluenceGroupJSON(s, c.groups[gi]))
	}
	n := len(groups)
	c.mu.Unlock()
	s.writeConfluencePage(w, r, start, limit, hi, n, results)
}

func (s *Site) confluenceMembers(w http.ResponseWriter, r *http.Request) {
	start, limit, ok := s.confluencePageParams(w, r.URL.Query())
	if !ok {
		return
	}
	c := s.cloud
	c.mu.Lock()
	gi, found := c.byGroup[r.PathValue("groupId")]
	if !found {
		c.mu.Unlock()
		s.fail(w, http.StatusNotFound, "No group found with id : "+r.PathValue("groupId"))
		return
	}
	members := c.groups[gi].members
	lo, hi := window(start, limit, len(members))
	results := make([]map[string]any, 0, hi-lo)
	for _, m := range members[lo:hi] {
		results = append(results, s.confluenceUserJSON(c.users[m], false))
	}
	n := len(members)
	c.mu.Unlock()
	s.writeConfluencePage(w, r, start, limit, hi, n, results)
}

// writeConfluencePage answers one page of a v1 list: the results of
// [start, hi) of n items, with the next link while more follow.
func (s *Site) writeConfluencePage(w http.ResponseWriter, r *http.Request, start, limit, hi, n int, results []map[string]any) {
	writeJSON(w, http.StatusOK, map[string]any{"results": results, "start": start, "limit": limit, "size": len(results),
		"_links": s.confluenceLinks(r, start, limit, hi, n)})
}

// confluenceUserJSON is Confluence's user object. c.mu is held.
func (s *Site) confluenceUserJSON(u *user, operations bool) map[string]any {
	v := map[string]any{"type": "known", "accountId": u.id, "accountType": u.accountType, "email": u.email,
		"publicName": u.name, "displayName": u.name, "isExternalCollaborator": false,
		"_links": map[string]string{"self": s.BaseURL() + "/rest/api/user?accountId=" + url.QueryEscape(u.id)}}
	if operations {
		ops := []map[string]string{}
		if canUse(s.cloud, u, cleanup.ProductConfluence) || isAdmin(u) {
			ops = append(ops, map[string]string{"operation": "use", "targetType": "application"})
		}
		if isAdmin(u) {
			ops = append(ops, map[string]string{"operation": "administer", "targetType": "application"},
				map[string]string{"operation": "create", "targetType": "space"})
		}
		v["operations"] = ops
	}
	return v
}

func (s *Site) confluenceUser(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	c := s.cloud
	c.mu.Lock()
	ui, ok := c.byID[q.Get("accountId")]
	if !ok {
		c.mu.Unlock()
		s.fail(w, http.StatusNotFound, "No user found with accountId: "+q.Get("accountId"))
		return
	}
	v := s.confluenceUserJSON(c.users[ui], slices.Contains(strings.Split(q.Get("expand"), ","), "operations"))
	c.mu.Unlock()
	writeJSON(w, http.StatusOK, v)
}

// productOfSite reports whether the product key is served by a site of the
// product type (Jira Software and JSM by Jira sites).
func productOfSite(site connect.Product, productKey string) bool {
	if site == connect.Confluence {
		return productKey == cleanup.ProductConfluence
	}
	return productKey != cleanup.ProductConfluence
}
