package atlassiantest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
)

// Page caps of the Organizations API.
const (
	orgUserSearchMaxLimit  = 100
	orgGroupSearchMaxLimit = 100
	orgDefaultLimit        = 50
	lastActivePageSize     = 10
	directoryID            = "dir-0001"
)

// orgMux serves the Organizations API (v1 snake_case, v2 camelCase) and the
// User management API on one server.
func (c *Cloud) orgMux() http.Handler {
	mux := http.NewServeMux()
	c.orgHandle(mux, "GET /admin/v1/orgs/{orgId}", false, c.orgGet)
	c.orgHandle(mux, "POST /admin/v2/orgs/{orgId}/directories/{dirId}/users/search", false, c.userSearch)
	c.orgHandle(mux, "POST /admin/v2/orgs/{orgId}/directories/{dirId}/groups/search", false, c.groupSearch)
	c.orgHandle(mux, "DELETE /admin/v2/orgs/{orgId}/directories/{dirId}/groups/{groupId}/memberships/{accountId}", true, c.orgRemove)
	c.orgHandle(mux, "POST /admin/v2/orgs/{orgId}/directories/{dirId}/users/{accountId}/suspend", true, c.suspend)
	c.orgHandle(mux, "POST /admin/v2/orgs/{orgId}/directories/{dirId}/users/{accountId}/restore", true, c.restore)
	c.orgHandle(mux, "GET /admin/v1/orgs/{orgId}/directory/users/{accountId}/last-active-dates", false, c.lastActiveDates)
	c.orgHandle(mux, "POST /users/{accountId}/manage/lifecycle/disable", true, c.disable)
	c.orgHandle(mux, "POST /users/{accountId}/manage/lifecycle/enable", true, c.enable)
	mux.HandleFunc(reportPath, c.reportAccounts)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, orgErrors(http.StatusNotFound, "", "no such endpoint in the fake: "+r.Method+" "+r.URL.Path))
	})
	return mux
}

// orgHandle registers h behind the API-key check, the org check and the
// request counter.
func (c *Cloud) orgHandle(mux *http.ServeMux, pattern string, write bool, h http.HandlerFunc) {
	userMgmt := strings.Contains(pattern, "/users/{accountId}/manage/")
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		c.count(pattern)
		scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		c.mu.Lock()
		access, known := c.keys[key]
		c.mu.Unlock()
		if !ok || !strings.EqualFold(scheme, "Bearer") || !known {
			if userMgmt {
				writeJSON(w, http.StatusUnauthorized, map[string]string{"key": "unauthorized", "message": "Unauthorized"})
			} else {
				writeJSON(w, http.StatusUnauthorized, map[string]any{"code": 401, "message": "Unauthorized"})
			}
			return
		}
		if !userMgmt && r.PathValue("orgId") != c.orgID {
			writeJSON(w, http.StatusNotFound, orgErrors(http.StatusNotFound, "ADMIN-404-ORG", "The organization was not found or the API key has no access to it."))
			return
		}
		if d := r.PathValue("dirId"); d != "" && d != "-" && d != directoryID {
			writeJSON(w, http.StatusNotFound, orgErrors(http.StatusNotFound, "ADMIN-404-DIRECTORY", "Directory not found."))
			return
		}
		if (write && access < accessWrite) || (access < accessRead && pattern != "GET /admin/v1/orgs/{orgId}") {
			if userMgmt {
				writeJSON(w, http.StatusForbidden, map[string]string{"key": "forbidden.action", "message": "The API key is not allowed to perform this action."})
			} else {
				writeJSON(w, http.StatusForbidden, orgErrors(http.StatusForbidden, "ADMIN-403", "The API key is not allowed to perform this action."))
			}
			return
		}
		h(w, r)
	})
}

func (c *Cloud) orgGet(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"data":  map[string]any{"id": c.orgID, "type": "orgs", "attributes": map[string]string{"name": "Example Org"}},
		"links": map[string]string{"self": c.org.URL + r.URL.Path},
	})
}

// decodeBody decodes a JSON request body; an empty body is an empty object.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		writeJSON(w, http.StatusBadRequest, orgErrors(http.StatusBadRequest, "ADMIN-400-24", "Invalid request body."))
		return false
	}
	return true
}

// cursor encodes a position; it is opaque to clients.
func encodeCursor(kind string, pos int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + strconv.Itoa(pos)))
}

func decodeCursor(kind, cur string) (int, bool) {
	if cur == "" {
		return 0, true
	}
	b, err := base64.RawURLEncoding.DecodeString(cur)
	if err != nil {
		return 0, false
	}
	k, n, ok := strings.Cut(string(b), ":")
	pos, err := strconv.Atoi(n)
	return pos, ok && k == kind && err == nil && pos >= 0
}

func pageLimit(limit, maxLimit int) int {
	switch {
	case limit <= 0:
		return orgDefaultLimit
	case limit > maxLimit:
		return maxLimit
	}
	return limit
}

type userSearch struct {
	Cursor       string   `json:"cursor"`
	Limit        int      `json:"limit"`
	AccountIDs   []string `json:"accountIds"`
	GroupIDs     []string `json:"groupIds"`
	ClaimStatus  string   `json:"claimStatus"`
	Status       []string `json:"status"`
	EmailDomains []string `json:"emailDomains"`
	Expand       []string `json:"expand"`
}

// matches reports whether u passes the search filters. c.mu is held.
//
// The organization directory lists Atlassian accounts only (the documented
// accountType is "atlassian"): app (bot) accounts and JSM customer accounts
// are seen through the product APIs, which report their accountType.
func (c *Cloud) matches(u *user, q *userSearch, groups map[int32]bool) bool {
	if u.accountType != cleanup.AccountAtlassian || u.removed {
		return false
	}
	if len(q.AccountIDs) > 0 && !slices.Contains(q.AccountIDs, u.id) {
		return false
	}
	switch q.ClaimStatus {
	case "managed":
		if !u.managed {
			return false
		}
	case "unmanaged":
		if u.managed {
			return false
		}
	}
	if len(q.Status) > 0 && !slices.Contains(q.Status, u.status) {
		return false
	}
	if len(q.EmailDomains) > 0 {
		_, domain, _ := strings.Cut(u.email, "@")
		if !slices.Contains(q.EmailDomains, strings.ToLower(domain)) {
			return false
		}
	}
	if len(groups) > 0 {
		in := false
		for _, g := range u.groups {
			if groups[g] {
				in = true
				break
			}
		}
		if !in {
			return false
		}
	}
	return true
}

func (c *Cloud) userSearch(w http.ResponseWriter, r *http.Request) {
	var q userSearch
	if !decodeBody(w, r, &q) {
		return
	}
	if q.ClaimStatus != "" && q.ClaimStatus != "managed" && q.ClaimStatus != "unmanaged" {
		writeJSON(w, http.StatusBadRequest, orgErrors(http.StatusBadRequest, "ADMIN-400", "claimStatus must be managed or unmanaged."))
		return
	}
	pos, ok := decodeCursor("u", q.Cursor)
	if !ok {
		writeJSON(w, http.StatusBadRequest, orgErrors(http.StatusBadRequest, "ADMIN-400-1", "Invalid page cursor."))
		return
	}
	limit := pageLimit(q.Limit, orgUserSearchMaxLimit)
	expand := map[string]bool{}
	for _, e := range q.Expand {
		expand[e] = true
	}
	c.mu.Lock()
	groups := map[int32]bool{}
	for _, id := range q.GroupIDs {
		if gi, ok := c.byGroup[id]; ok {
			groups[int32(gi)] = true
		} else {
			groups[-1] = true // unknown ids match nothing, but still filter
		}
	}
	data := make([]v2User, 0, limit)
	i := pos
	for ; i < len(c.users) && len(data) < limit; i++ {
		u := c.users[i]
		if c.matches(u, &q, groups) {
			data = append(data, c.userJSON(u, expand))
		}
	}
	// Look ahead so the last page has no next cursor.
	more := false
	for j := i; j < len(c.users); j++ {
		if c.matches(c.users[j], &q, groups) {
			more, i = true, j
			break
		}
	}
	c.mu.Unlock()
	links := map[string]any{"self": q.Cursor}
	if more {
		links["next"] = encodeCursor("u", i)
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "links": links})
}

// v2User is the Organizations v2 user object (camelCase).
type v2User struct {
	AccountID        string       `json:"accountId"`
	AccountType      string       `json:"accountType"`
	Status           string       `json:"status"`
	AccountStatus    string       `json:"accountStatus"`
	MembershipStatus string       `json:"membershipStatus"`
	AddedToOrg       string       `json:"addedToOrg"`
	Name             string       `json:"name"`
	Nickname         string       `json:"nickname"`
	Email            string       `json:"email,omitempty"`
	EmailVerified    *bool        `json:"emailVerified,omitempty"`
	ClaimStatus      string       `json:"claimStatus"`
	ManagementSource *string      `json:"managementSource"`
	PlatformRoles    *[]string    `json:"platformRoles,omitempty"`
	ProductAccess    *[]v2Product `json:"productAccess,omitempty"`
	Groups           *[]v2Group   `json:"groups,omitempty"`
}

type v2Product struct {
	Key                 string `json:"key"`
	ID                  string `json:"id"`
	LastActiveTimestamp string `json:"lastActiveTimestamp,omitempty"`
}

type v2Group struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// userJSON is the v2 user object. c.mu is held.
func (c *Cloud) userJSON(u *user, expand map[string]bool) v2User {
	v := v2User{
		AccountID: u.id, AccountType: u.accountType, Status: u.status, AccountStatus: "active",
		MembershipStatus: "active", AddedToOrg: time.Unix(u.added, 0).UTC().Format(time.RFC3339),
		Name: u.name, Nickname: strings.Fields(u.name + " x")[0], ClaimStatus: "unmanaged",
	}
	switch u.status {
	case cleanup.StatusSuspended:
		v.MembershipStatus = "suspended"
	case cleanup.StatusDeactivated:
		v.AccountStatus = "inactive"
	}
	if u.email != "" {
		verified := true
		v.Email, v.EmailVerified = u.email, &verified
	}
	if u.managed {
		v.ClaimStatus = "managed"
		src := u.source
		v.ManagementSource = &src
	}
	if expand["platformRoles"] {
		roles := append([]string{}, u.roles...)
		v.PlatformRoles = &roles
	}
	if expand["productAccess"] {
		pa := make([]v2Product, 0, len(u.activity))
		for _, a := range u.activity {
			p := v2Product{Key: productKeys[a.product], ID: "site-" + productKeys[a.product]}
			if a.at != 0 {
				p.LastActiveTimestamp = time.Unix(a.at, 0).UTC().Format(time.RFC3339)
			}
			pa = append(pa, p)
		}
		v.ProductAccess = &pa
	}
	if expand["groups"] {
		gs := make([]v2Group, 0, len(u.groups))
		for _, g := range u.groups {
			gs = append(gs, v2Group{ID: c.groups[g].ID, Name: c.groups[g].Name})
		}
		v.Groups = &gs
	}
	return v
}

func (c *Cloud) orgRemove(w http.ResponseWriter, r *http.Request) {
	groupID, accountID := r.PathValue("groupId"), r.PathValue("accountId")
	c.mu.Lock()
	call := Call{Service: "org", Method: r.Method, Path: r.URL.Path, GroupID: groupID, AccountID: accountID}
	status, code, msg := http.StatusNoContent, "", ""
	gi, okG := c.byGroup[groupID]
	ui, okU := c.byID[accountID]
	switch {
	case !okG:
		status, code, msg, call.Result = http.StatusNotFound, "ADMIN-404-GROUP", "Group not found.", "not-found"
	case !okU:
		status, code, msg, call.Result = http.StatusNotFound, "ADMIN-404-USER", "User not found.", "not-found"
	case c.groups[gi].Synced():
		status, code, msg, call.Result = http.StatusForbidden, "ADMIN-403-GROUP-EXTERNALLY-MANAGED", SyncedGroupMessage, "externally-managed"
	case !c.removeMember(gi, ui):
		status, code, msg, call.Result = http.StatusNotFound, "ADMIN-404-MEMBERSHIP", "The user is not a member of the group.", "not-member"
	default:
		call.Result = "removed"
	}
	call.Status = status
	c.calls = append(c.calls, call)
	c.mu.Unlock()
	if status >= 300 {
		writeJSON(w, status, orgErrors(status, code, msg))
		return
	}
	w.WriteHeader(status)
}

// setStatus suspends or restores an account.
func (c *Cloud) setStatus(w http.ResponseWriter, r *http.Request, from, to, result string) {
	accountID := r.PathValue("accountId")
	c.mu.Lock()
	call := Call{Service: "org", Method: r.Method, Path: r.URL.Path, AccountID: accountID, Status: http.StatusNoContent, Result: result}
	ui, ok := c.byID[accountID]
	switch {
	case !ok:
		call.Status, call.Result = http.StatusNotFound, "not-found"
	case c.users[ui].status == cleanup.StatusDeactivated:
		call.Status, call.Result = http.StatusConflict, "deactivated"
	case c.users[ui].status == from:
		c.users[ui].status = to
	}
	c.calls = append(c.calls, call)
	c.mu.Unlock()
	switch call.Status {
	case http.StatusNotFound:
		writeJSON(w, call.Status, orgErrors(call.Status, "ADMIN-404-USER", "User not found."))
	case http.StatusConflict:
		writeJSON(w, call.Status, orgErrors(call.Status, "ADMIN-409-USER-DEACTIVATED", "The account is deactivated."))
	default:
		w.WriteHeader(call.Status)
	}
}

func (c *Cloud) suspend(w http.ResponseWriter, r *http.Request) {
	c.setStatus(w, r, cleanup.StatusActive, cleanup.StatusSuspended, "suspended")
}

func (c *Cloud) restore(w http.ResponseWriter, r *http.Request) {
	c.setStatus(w, r, cleanup.StatusSuspended, cleanup.StatusActive, "restored")
}

func (c *Cloud) lastActiveDates(w http.ResponseWriter, r *http.Request) {
	pos, ok := decodeCursor("a", r.URL.Query().Get("cursor"))
	if !ok {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 400, "message": "Invalid cursor"})
		return
	}
	c.mu.Lock()
	ui, found := c.byID[r.PathValue("accountId")]
	if !found {
		c.mu.Unlock()
		writeJSON(w, http.StatusNotFound, map[string]any{"code": 404, "message": "User not found"})
		return
	}
	u := c.users[ui]
	lo, hi := window(pos, lastActivePageSize, len(u.activity))
	access := make([]map[string]string, 0, hi-lo)
	for _, a := range u.activity[lo:hi] {
		p := map[string]string{"id": "site-" + productKeys[a.product], "key": productKeys[a.product],
			"name": productNames[productKeys[a.product]], "url": c.org.URL}
		if a.at != 0 {
			t := time.Unix(a.at, 0).UTC()
			p["last_active"] = t.Format(time.DateOnly)
			p["last_active_timestamp"] = t.Format(time.RFC3339)
		}
		access = append(access, p)
	}
	more := hi < len(u.activity)
	added := time.Unix(u.added, 0).UTC().Format(time.DateOnly)
	c.mu.Unlock()
	links := map[string]any{}
	if more {
		links["next"] = encodeCursor("a", hi)
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"product_access": access, "added_to_org": added}, "links": links})
}

func (c *Cloud) disable(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Message string `json:"message"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	if err := dec.Decode(&body); err != nil && !errors.Is(err, io.EOF) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"key": "bad.request", "message": "Malformed request body."})
		return
	}
	c.setLifecycle(w, r, cleanup.StatusDeactivated, "already-deactivated", "deactivated")
}

// enable is the User management API's POST
// /users/{account_id}/manage/lifecycle/enable: 204 when the account is
// active afterwards (an active account too: the docs do not say, the fake
// treats it as done, like disable of a deactivated one); the same 404 and
// 403 answers as disable.
func (c *Cloud) enable(w http.ResponseWriter, r *http.Request) {
	c.setLifecycle(w, r, cleanup.StatusActive, "already-active", "reactivated")
}

// setLifecycle answers a lifecycle call (disable, enable) for the account
// of the path: 404 for an unknown account, 403 for one the organization
// does not manage or an external directory (SCIM) manages, otherwise 204,
// the account now in status to (already: it was; done: it changed).
func (c *Cloud) setLifecycle(w http.ResponseWriter, r *http.Request, to, already, done string) {
	accountID := r.PathValue("accountId")
	c.mu.Lock()
	call := Call{Service: "user-management", Method: r.Method, Path: r.URL.Path, AccountID: accountID, Status: http.StatusNoContent}
	var errBody any
	ui, ok := c.byID[accountID]
	switch {
	case !ok:
		call.Status, call.Result = http.StatusNotFound, "not-found"
		errBody = map[string]string{"key": "not.found", "message": "User not found."}
	case !c.users[ui].managed:
		call.Status, call.Result = http.StatusForbidden, "forbidden"
		errBody = map[string]any{"key": "forbidden.action", "message": "The account is not managed by your organization."}
	case c.users[ui].source == cleanup.SourceSynced:
		call.Status, call.Result = http.StatusForbidden, "externally-managed"
		errBody = map[string]any{"key": "forbidden.action",
			"message": "The action is restricted because the user is managed by an external directory.",
			"reason":  map[string]string{"key": "externalDirectory.scim"}}
	case c.users[ui].status == to:
		call.Result = already
	default:
		c.users[ui].status = to
		call.Result = done
	}
	c.calls = append(c.calls, call)
	c.mu.Unlock()
	if errBody != nil {
		writeJSON(w, call.Status, errBody)
		return
	}
	w.WriteHeader(call.Status)
}
