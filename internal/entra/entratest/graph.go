package entratest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The Graph API of the fake: users, groups, members, removals and $batch,
// with Graph's error bodies and throttling.

func graphError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": code, "message": msg,
		"innerError": map[string]string{"date": time.Now().UTC().Format(time.RFC3339), "request-id": "00000000-0000-0000-0000-000000000000"},
	}})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

type ctxKey struct{}

// graph wraps a Graph handler with the bearer check and request accounting.
// Batch sub-requests carry the batch's token and are counted separately.
func (s *Server) graph(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sub := r.Context().Value(ctxKey{}) != nil
		s.mu.Lock()
		line := r.Method + " " + r.URL.RequestURI()
		if sub {
			line = "batch " + line
		} else {
			s.stats.Requests++
		}
		s.lastRequests = append(s.lastRequests, line)
		if len(s.lastRequests) > 1000 {
			s.lastRequests = s.lastRequests[len(s.lastRequests)-1000:]
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		exp, known := s.tokens[tok]
		valid := ok && known && s.opts.Now().Before(exp)
		deny := s.denyGraph
		s.mu.Unlock()
		if !valid {
			graphError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty or invalid.")
			return
		}
		if deny {
			denied(w)
			return
		}
		h(w, r)
	}
}

func (s *Server) hasRole(r *http.Request, roles ...string) bool {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var c struct {
		Roles []string `json:"roles"`
	}
	if json.Unmarshal(b, &c) != nil {
		return false
	}
	for _, want := range roles {
		if slices.Contains(c.Roles, want) {
			return true
		}
	}
	return false
}

var (
	readUserRoles   = []string{"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All", "User.ReadBasic.All"}
	readGroupRoles  = []string{"GroupMember.Read.All", "GroupMember.ReadWrite.All", "Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
	writeGroupRoles = []string{"GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"}
)

func denied(w http.ResponseWriter) {
	graphError(w, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
}

func userJSON(u *user) map[string]any {
	t := "Member"
	if u.Guest {
		t = "Guest"
	}
	var mail any
	if u.Mail != "" {
		mail = u.Mail
	}
	other := u.OtherMails
	if other == nil {
		other = []string{}
	}
	return map[string]any{"id": u.ID, "userPrincipalName": u.UPN, "mail": mail, "userType": t, "otherMails": other}
}

func groupJSON(g *group) map[string]any {
	types := []string{}
	if g.Flags.Unified {
		types = append(types, "Unified")
	}
	var rule, sync any
	if g.Flags.Dynamic {
		types = append(types, "DynamicMembership")
		rule = `user.department -eq "Sales"`
	}
	if g.Flags.OnPremSynced {
		sync = true
	}
	return map[string]any{
		"id": g.ID, "displayName": g.Name, "groupTypes": types,
		"mailEnabled": g.Flags.MailEnabled || g.Flags.Unified, "securityEnabled": !g.Flags.Unified,
		"onPremisesSyncEnabled": sync, "isAssignableToRole": g.Flags.RoleAssignable, "membershipRule": rule,
	}
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) {
	if !s.hasRole(r, readUserRoles...) {
		denied(w)
		return
	}
	key := r.PathValue("user")
	if strings.HasPrefix(key, "$") {
		// Graph: "/users/$x@y.com" fails; /users('$x@y.com') or $filter is required.
		graphError(w, http.StatusBadRequest, "BadRequest", "Invalid object identifier '"+key+"'.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[key]
	if u == nil {
		for _, id := range s.userOrder {
			if strings.EqualFold(s.users[id].UPN, key) {
				u = s.users[id]
				break
			}
		}
	}
	if u == nil {
		graphError(w, http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", key))
		return
	}
	writeJSON(w, userJSON(u))
}

var (
	eqFilter  = regexp.MustCompile(`^(\w+) eq '((?:[^']|'')*)'$`)
	anyFilter = regexp.MustCompile(`^otherMails/any\((\w+):(\w+) eq '((?:[^']|'')*)'\)$`)
)

// filter parses the OData filters the fake supports and returns the
// property and the unescaped literal.
func filter(q string) (prop, val string, ok bool) {
	if m := eqFilter.FindStringSubmatch(q); m != nil {
		return m[1], strings.ReplaceAll(m[2], "''", "'"), true
	}
	if m := anyFilter.FindStringSubmatch(q); m != nil && m[1] == m[2] {
		return "otherMails", strings.ReplaceAll(m[3], "''", "'"), true
	}
	return "", "", false
}

func unsupported(w http.ResponseWriter, f string) {
	graphError(w, http.StatusBadRequest, "Request_UnsupportedQuery", "Unsupported query: "+f)
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	if !s.hasRole(r, readUserRoles...) {
		denied(w)
		return
	}
	f := r.URL.Query().Get("$filter")
	prop, val, ok := filter(f)
	if f != "" && !ok {
		unsupported(w, f)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	for _, id := range s.userOrder {
		u := s.users[id]
		match := f == ""
		switch prop {
		case "userPrincipalName":
			match = strings.EqualFold(u.UPN, val)
		case "mail":
			match = u.Mail != "" && strings.EqualFold(u.Mail, val)
		case "id":
			match = u.ID == val
		case "otherMails":
			match = slices.ContainsFunc(u.OtherMails, func(m string) bool { return strings.EqualFold(m, val) })
		case "":
		default:
			unsupported(w, f)
			return
		}
		if match {
			out = append(out, userJSON(u))
		}
	}
	writeJSON(w, map[string]any{"@odata.context": s.URL + "/v1.0/$metadata#users", "value": out})
}

func (s *Server) listGroups(w http.ResponseWriter, r *http.Request) {
	if !s.hasRole(r, readGroupRoles...) {
		denied(w)
		return
	}
	q := r.URL.Query()
	f := q.Get("$filter")
	prop, val, ok := filter(f)
	if f != "" && (!ok || (prop != "displayName" && prop != "id")) {
		unsupported(w, f)
		return
	}
	top := 100
	if t := q.Get("$top"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 || n > 999 {
			graphError(w, http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and 999 inclusive.", t))
			return
		}
		top = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	for _, id := range s.groupOrder {
		g := s.groups[id]
		if (prop == "displayName" && !strings.EqualFold(g.Name, val)) || (prop == "id" && g.ID != val) {
			continue
		}
		if len(out) == top {
			break
		}
		out = append(out, groupJSON(g))
	}
	writeJSON(w, map[string]any{"@odata.context": s.URL + "/v1.0/$metadata#groups", "value": out})
}

func (s *Server) groupOr404(w http.ResponseWriter, id string) *group {
	g := s.groups[id]
	if g == nil {
		graphError(w, http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id))
	}
	return g
}

func (s *Server) getGroup(w http.ResponseWriter, r *http.Request) {
	if !s.hasRole(r, readGroupRoles...) {
		denied(w)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.groupOr404(w, r.PathValue("group")); g != nil {
		writeJSON(w, groupJSON(g))
	}
}

func (s *Server) listMembers(w http.ResponseWriter, r *http.Request) {
	if !s.hasRole(r, readGroupRoles...) {
		denied(w)
		return
	}
	q := r.URL.Query()
	top := 100
	if t := q.Get("$top"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 || n > 999 {
			graphError(w, http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and 999 inclusive.", t))
			return
		}
		top = n
	}
	offset := 0
	if st := q.Get("$skiptoken"); st != "" {
		b, err := base64.RawURLEncoding.DecodeString(st)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(b), "offset:"))
		if err != nil || err2 != nil || n < 0 {
			graphError(w, http.StatusBadRequest, "Request_BadRequest", "Invalid skip token.")
			return
		}
		offset = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groupOr404(w, r.PathValue("group"))
	if g == nil {
		return
	}
	out := []map[string]any{}
	end := min(offset+top, len(g.members))
	for _, id := range g.members[min(offset, len(g.members)):end] {
		out = append(out, userJSON(s.users[id]))
	}
	resp := map[string]any{"@odata.context": s.URL + "/v1.0/$metadata#users", "value": out}
	if end < len(g.members) {
		nq := url.Values{}
		nq.Set("$top", strconv.Itoa(top))
		if sel := q.Get("$select"); sel != "" {
			nq.Set("$select", sel)
		}
		nq.Set("$skiptoken", base64.RawURLEncoding.EncodeToString([]byte("offset:"+strconv.Itoa(end))))
		resp["@odata.nextLink"] = s.URL + r.URL.Path + "?" + nq.Encode()
	}
	writeJSON(w, resp)
}

// throttleWrite reports whether a write may proceed now and, if not, how
// long until it may. Callers hold s.mu.
func (s *Server) throttleWrite() (time.Duration, bool) {
	if s.writesPerWindow <= 0 {
		return 0, true
	}
	now := s.opts.Now()
	cut := 0
	for cut < len(s.writeLog) && !s.writeLog[cut].After(now.Add(-s.window)) {
		cut++
	}
	s.writeLog = s.writeLog[cut:]
	if len(s.writeLog) < s.writesPerWindow {
		s.writeLog = append(s.writeLog, now)
		return 0, true
	}
	return s.writeLog[0].Add(s.window).Sub(now), false
}

// writableGroup answers for a write to group gid's members what comes
// before the member itself, in Graph's order: an injected failure, the write
// throttle (429 with Retry-After and x-ms-throttle-scope), the app's roles
// (403), an unknown group (404) and a group that cannot be changed (400
// on-premises synced; 403 dynamic, mail-enabled or, without
// RoleManagement.ReadWrite.Directory, role-assignable). It returns nil when
// it has answered. s.mu must be held.
func (s *Server) writableGroup(w http.ResponseWriter, r *http.Request, gid string) *group {
	if s.failWrites > 0 {
		s.failWrites--
		graphError(w, s.failStatus, "ServiceUnavailable", "The service is temporarily unavailable.")
		return nil
	}
	if wait, ok := s.throttleWrite(); !ok {
		s.stats.Throttled++
		secs := max(wait.Seconds(), 0.001)
		w.Header().Set("Retry-After", strconv.FormatFloat(secs, 'f', 3, 64))
		w.Header().Set("x-ms-throttle-scope", "Tenant_Application/Write/"+s.opts.TenantID+"/"+s.opts.ClientID)
		graphError(w, http.StatusTooManyRequests, "TooManyRequests", "Too many requests.")
		return nil
	}
	if !s.hasRole(r, writeGroupRoles...) {
		denied(w)
		return nil
	}
	g := s.groupOr404(w, gid)
	if g == nil {
		return nil
	}
	switch {
	case g.Flags.OnPremSynced:
		graphError(w, http.StatusBadRequest, "Request_BadRequest", "Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration.")
		return nil
	case g.Flags.Dynamic, g.Flags.MailEnabled && !g.Flags.Unified,
		g.Flags.RoleAssignable && !s.hasRole(r, RoleRoleManagementReadWrite):
		denied(w)
		return nil
	}
	return g
}

func (s *Server) removeMember(w http.ResponseWriter, r *http.Request) {
	gid, uid := r.PathValue("group"), r.PathValue("user")
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.writableGroup(w, r, gid)
	if g == nil {
		return
	}
	i := slices.Index(g.members, uid)
	if i < 0 {
		if s.removed[[2]string{gid, uid}] {
			s.stats.RepeatedDeletes++
		}
		graphError(w, http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", uid))
		return
	}
	g.members = slices.Delete(g.members, i, i+1)
	s.stats.Writes++
	s.removed[[2]string{gid, uid}] = true
	s.removals = append(s.removals, Removal{GroupID: gid, UserID: uid, At: s.opts.Now()})
	w.WriteHeader(http.StatusNoContent)
}

// addMember is POST /groups/{id}/members/$ref with {"@odata.id":
// "https://graph.microsoft.com/v1.0/directoryObjects/{id}"} (group-post-members):
// 204 when added. A member already there is 400 Request_BadRequest "One or
// more added object references already exist for the following modified
// properties: 'members'." (the docs show no dedicated code; this is the
// body Graph sends). A referenced object that does not exist is 404
// Request_ResourceNotFound. Groups that cannot be changed answer as for a
// removal (400 on-premises synced, 403 dynamic, mail-enabled or, without
// RoleManagement.ReadWrite.Directory, role-assignable). Writes count
// against the same throttle as removals.
func (s *Server) addMember(w http.ResponseWriter, r *http.Request) {
	gid := r.PathValue("group")
	var body struct {
		OdataID string `json:"@odata.id"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil || body.OdataID == "" {
		graphError(w, http.StatusBadRequest, "Request_BadRequest", "An unexpected 'EndOfInput' node was found when reading from the JSON reader. A 'StartObject' node was expected.")
		return
	}
	u, err := url.Parse(body.OdataID)
	uid := ""
	if err == nil {
		if rest, ok := strings.CutPrefix(u.Path, "/v1.0/directoryObjects/"); ok && !strings.Contains(rest, "/") {
			uid = rest
		}
	}
	if uid == "" {
		graphError(w, http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf("Invalid object identifier '%s'.", body.OdataID))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.writableGroup(w, r, gid)
	if g == nil {
		return
	}
	if s.users[uid] == nil {
		graphError(w, http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", uid))
		return
	}
	if slices.Contains(g.members, uid) {
		graphError(w, http.StatusBadRequest, "Request_BadRequest", "One or more added object references already exist for the following modified properties: 'members'.")
		return
	}
	g.members = append(g.members, uid)
	delete(s.removed, [2]string{gid, uid})
	s.stats.Writes++
	s.additions = append(s.additions, Addition{GroupID: gid, UserID: uid, At: s.opts.Now()})
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) deleteWithoutRef(w http.ResponseWriter, _ *http.Request) {
	// Real Graph would delete the user object itself; the fake refuses loudly.
	graphError(w, http.StatusMethodNotAllowed, "Request_BadRequest", "entratest: DELETE without /$ref would delete the directory object")
}

type batchRequest struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

type batchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

func (s *Server) batch(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			graphError(w, http.StatusBadRequest, "BadRequest", "Invalid gzip body.")
			return
		}
		defer zr.Close()
		body = zr
	}
	var in struct {
		Requests []batchRequest `json:"requests"`
	}
	if err := json.NewDecoder(body).Decode(&in); err != nil {
		graphError(w, http.StatusBadRequest, "BadRequest", "Invalid batch payload format.")
		return
	}
	if len(in.Requests) == 0 || len(in.Requests) > maxBatch {
		graphError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Invalid batch payload: the number of requests (%d) must be between 1 and %d.", len(in.Requests), maxBatch))
		return
	}
	seen := map[string]bool{}
	for _, q := range in.Requests {
		if q.ID == "" || seen[q.ID] {
			graphError(w, http.StatusBadRequest, "BadRequest", "Batch request ids must be present and unique.")
			return
		}
		seen[q.ID] = true
	}
	s.mu.Lock()
	s.stats.Batches++
	s.stats.BatchItems += len(in.Requests)
	s.mu.Unlock()

	out := make([]batchResponse, 0, len(in.Requests))
	for _, q := range in.Requests {
		out = append(out, s.subRequest(r, q))
	}
	writeJSON(w, map[string]any{"responses": out})
}

func (s *Server) subRequest(outer *http.Request, q batchRequest) batchResponse {
	resp := batchResponse{ID: q.ID, Headers: map[string]string{}}
	u, err := url.Parse(q.URL)
	if err != nil || !strings.HasPrefix(u.Path, "/") || u.Host != "" {
		resp.Status = http.StatusBadRequest
		resp.Headers["Content-Type"] = "application/json"
		resp.Body = json.RawMessage(`{"error":{"code":"BadRequest","message":"Invalid request URL."}}`)
		return resp
	}
	u.Path = "/v1.0" + u.Path
	if u.RawPath != "" {
		u.RawPath = "/v1.0" + u.RawPath
	}
	var body io.Reader
	if len(q.Body) > 0 && string(q.Body) != "null" {
		body = bytes.NewReader(q.Body)
	}
	req, err := http.NewRequestWithContext(outer.Context(), q.Method, u.String(), body)
	if err != nil {
		resp.Status = http.StatusBadRequest
		return resp
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req = req.WithContext(context.WithValue(outer.Context(), ctxKey{}, true))
	req.Header.Set("Authorization", outer.Header.Get("Authorization"))
	rec := httptest.NewRecorder()
	s.mux.ServeHTTP(rec, req)
	resp.Status = rec.Code
	for k := range rec.Header() {
		resp.Headers[k] = rec.Header().Get(k)
	}
	if b := rec.Body.Bytes(); len(b) > 0 {
		resp.Body = json.RawMessage(b)
	}
	return resp
}
