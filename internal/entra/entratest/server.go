// Package entratest is an in-process fake of the Microsoft identity platform
// token endpoint and the part of Microsoft Graph v1.0 that the entra adapter
// calls. It serves both from one httptest TLS server (MSAL and azidentity
// refuse plain-http authorities), so a test points Config.LoginURL and
// Config.GraphURL at Server.URL and passes Server.Client() as the HTTP client.
//
// What it implements, with the behaviour Microsoft documents:
//
//   - GET  /{tenant}/v2.0/.well-known/openid-configuration and
//     POST /{tenant}/oauth2/v2.0/token (client credentials). Wrong tenant,
//     client id, secret or an expired secret answer with the AADSTS error
//     bodies Entra ID sends (error_codes 90002, 700016, 7000215, 7000222).
//     Tokens are JWT-shaped and carry the configured app roles in "roles".
//   - GET /v1.0/users/{id|upn}, GET /v1.0/users?$filter=…,
//     GET /v1.0/groups?$filter=displayName eq '…', GET /v1.0/groups/{id},
//     GET /v1.0/groups/{id}/members/graph.user (and microsoft.graph.user) with
//     $top / $skiptoken paging and @odata.nextLink.
//   - DELETE /v1.0/groups/{id}/members/{id}/$ref: 204; 404
//     Request_ResourceNotFound for a non-member; 400 Request_BadRequest for an
//     on-premises synced group; 403 Authorization_RequestDenied for dynamic,
//     mail-enabled and (without RoleManagement.ReadWrite.Directory)
//     role-assignable groups. A DELETE without /$ref is refused with 405 so a
//     test notices it instead of deleting the user.
//   - POST /v1.0/$batch: gzip request bodies, at most 20 requests, per-item
//     status, headers and body; writes are throttled individually (429 with a
//     fractional Retry-After) by a sliding-window write quota like Graph's
//     app+tenant limit of 3,000 writes per 150 s.
//
// Every Graph call must carry a bearer token the fake issued. Every removal is
// recorded so tests can assert exactly-once behaviour.
package entratest

import (
	"compress/gzip"
	"context"
	"crypto/rand"
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
	"sync"
	"time"
)

// Well-known application permissions (app roles) of Microsoft Graph.
const (
	RoleGroupMemberReadWriteAll = "GroupMember.ReadWrite.All"
	RoleUserReadAll             = "User.Read.All"
	RoleRoleManagementReadWrite = "RoleManagement.ReadWrite.Directory"
)

// Default credentials of a fake tenant.
const (
	DefaultTenantID     = "11111111-2222-3333-4444-555555555555"
	DefaultClientID     = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	DefaultClientSecret = "fake-client-secret"
)

// maxBatch is Graph's limit of requests in one $batch.
const maxBatch = 20

// Options configures a Server. Zero values get defaults.
type Options struct {
	TenantID     string
	ClientID     string
	ClientSecret string
	// Roles are the app roles (application permissions with admin consent)
	// put into issued tokens. nil means GroupMember.ReadWrite.All and
	// User.Read.All; an empty non-nil slice means no consent at all.
	Roles []string
	// WritesPerWindow writes are allowed in any Window (sliding); 0 means
	// unlimited.
	WritesPerWindow int
	Window          time.Duration
	// Now is the fake's clock (token expiry, throttling); default time.Now.
	Now func() time.Time
	// Domain is the tenant's initial domain, used for guest UPNs; default
	// contoso.onmicrosoft.com.
	Domain string
}

// GroupFlags describe how a group is managed.
type GroupFlags struct {
	Unified        bool // Microsoft 365 group (mail-enabled but changeable)
	MailEnabled    bool // with !Unified: mail-enabled security group or distribution list
	Dynamic        bool // dynamic membership (membershipRule)
	OnPremSynced   bool // synced from on-premises Active Directory
	RoleAssignable bool // isAssignableToRole
}

// Removal is one membership removed through the API.
type Removal struct {
	GroupID string
	UserID  string
	At      time.Time
}

// Stats counts what the fake has served.
type Stats struct {
	Requests   int // HTTP requests to Graph (a $batch counts once), token calls excluded
	Batches    int // $batch requests accepted
	BatchItems int // sub-requests inside accepted batches
	Throttled  int // 429 answers (direct or inside a batch)
	Writes     int // writes that passed the throttle (DELETE executed)
	// RepeatedDeletes counts DELETEs of a membership that this fake had
	// already removed: with a correct client it stays 0.
	RepeatedDeletes int
	Tokens          int // tokens issued
}

type user struct {
	ID, UPN, Mail string
	Guest         bool
	OtherMails    []string
}

type group struct {
	ID, Name string
	Flags    GroupFlags
	members  []string // in insertion order
}

// Server is the fake. It is safe for concurrent use.
type Server struct {
	// URL is the base URL of both the login and the Graph endpoints.
	URL string

	srv  *httptest.Server
	mux  *http.ServeMux
	opts Options

	mu              sync.Mutex
	roles           []string
	secret          string
	secretExpired   bool
	denyGraph       bool
	failWrites      int
	failStatus      int
	tokens          map[string]time.Time // token → expiry
	users           map[string]*user     // by id
	userOrder       []string
	groups          map[string]*group
	groupOrder      []string
	nextID          int
	removals        []Removal
	removed         map[[2]string]bool
	writeLog        []time.Time
	writesPerWindow int
	window          time.Duration
	stats           Stats
	lastRequests    []string
}

// NewServer starts a fake. Close it when done.
func NewServer(o Options) *Server {
	if o.TenantID == "" {
		o.TenantID = DefaultTenantID
	}
	if o.ClientID == "" {
		o.ClientID = DefaultClientID
	}
	if o.ClientSecret == "" {
		o.ClientSecret = DefaultClientSecret
	}
	if o.Roles == nil {
		o.Roles = []string{RoleGroupMemberReadWriteAll, RoleUserReadAll}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Domain == "" {
		o.Domain = "contoso.onmicrosoft.com"
	}
	if o.Window <= 0 {
		o.Window = 150 * time.Second
	}
	s := &Server{
		opts:            o,
		roles:           slices.Clone(o.Roles),
		secret:          o.ClientSecret,
		tokens:          map[string]time.Time{},
		users:           map[string]*user{},
		groups:          map[string]*group{},
		removed:         map[[2]string]bool{},
		writesPerWindow: o.WritesPerWindow,
		window:          o.Window,
	}
	s.mux = http.NewServeMux()
	s.routes()
	s.srv = httptest.NewTLSServer(s.mux)
	s.URL = s.srv.URL
	return s
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// Client returns an HTTP client that trusts the fake's certificate.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// TenantID, ClientID and ClientSecret return the credentials the fake accepts.
func (s *Server) TenantID() string { return s.opts.TenantID }

// ClientID returns the application (client) id the fake accepts.
func (s *Server) ClientID() string { return s.opts.ClientID }

// ClientSecret returns the client secret the fake accepts.
func (s *Server) ClientSecret() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.secret
}

// SetRoles changes the app roles put into tokens issued from now on.
func (s *Server) SetRoles(roles ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roles = slices.Clone(roles)
	if s.roles == nil {
		s.roles = []string{}
	}
}

// SetSecretExpired makes the token endpoint answer AADSTS7000222.
func (s *Server) SetSecretExpired(expired bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secretExpired = expired
}

// SetDenyGraph makes every Graph call answer 403 Authorization_RequestDenied
// although the token carries the roles (as a tenant policy would).
func (s *Server) SetDenyGraph(deny bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denyGraph = deny
}

// FailWrites makes the next n writes (DELETE …/$ref, direct or in a batch)
// answer status (for example 503) without a Retry-After header.
func (s *Server) FailWrites(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failWrites, s.failStatus = n, status
}

// SetThrottle changes the write quota: writes per sliding window (0 = off).
func (s *Server) SetThrottle(writes int, window time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writesPerWindow, s.window = writes, window
	s.writeLog = nil
}

func (s *Server) newID() string {
	s.nextID++
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", s.nextID)
}

// AddUser adds a user and returns its object id. A guest with an empty upn
// gets the B2B form mail_domain#EXT#@tenant-domain.
func (s *Server) AddUser(upn, mail string, guest bool) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if guest && upn == "" {
		upn = strings.ReplaceAll(mail, "@", "_") + "#EXT#@" + s.opts.Domain
	}
	u := &user{ID: s.newID(), UPN: upn, Mail: mail, Guest: guest}
	s.users[u.ID] = u
	s.userOrder = append(s.userOrder, u.ID)
	return u.ID
}

// SetOtherMails sets a user's alternative e-mail addresses.
func (s *Server) SetOtherMails(userID string, mails ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[userID]; ok {
		u.OtherMails = slices.Clone(mails)
	}
}

// AddGroup adds a group and returns its object id. Display names need not be
// unique (as in Entra ID).
func (s *Server) AddGroup(name string, flags GroupFlags) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &group{ID: s.newID(), Name: name, Flags: flags}
	s.groups[g.ID] = g
	s.groupOrder = append(s.groupOrder, g.ID)
	return g.ID
}

// AddMember adds a user to a group (no-op when already a member).
func (s *Server) AddMember(groupID, userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[groupID]
	if !ok || s.users[userID] == nil || slices.Contains(g.members, userID) {
		return
	}
	g.members = append(g.members, userID)
	delete(s.removed, [2]string{groupID, userID})
}

// Members returns the object ids of the group's members in insertion order.
func (s *Server) Members(groupID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g, ok := s.groups[groupID]; ok {
		return slices.Clone(g.members)
	}
	return nil
}

// Removals returns every membership removed through the API, in order.
func (s *Server) Removals() []Removal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.removals)
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Requests returns "METHOD path?query" of the Graph requests served so far
// (batch sub-requests included, prefixed with "batch "), oldest first.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.lastRequests)
}

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.openIDConfig)
	m.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.token)
	m.HandleFunc("GET /v1.0/users/{user}", s.graph(s.getUser))
	m.HandleFunc("GET /v1.0/users", s.graph(s.listUsers))
	m.HandleFunc("GET /v1.0/groups", s.graph(s.listGroups))
	m.HandleFunc("GET /v1.0/groups/{group}", s.graph(s.getGroup))
	m.HandleFunc("GET /v1.0/groups/{group}/members/graph.user", s.graph(s.listMembers))
	m.HandleFunc("GET /v1.0/groups/{group}/members/microsoft.graph.user", s.graph(s.listMembers))
	m.HandleFunc("DELETE /v1.0/groups/{group}/members/{user}/$ref", s.graph(s.removeMember))
	m.HandleFunc("DELETE /v1.0/groups/{group}/members/{user}", s.graph(s.deleteWithoutRef))
	m.HandleFunc("POST /v1.0/$batch", s.graph(s.batch))
}

// ---- identity platform ----

func aadError(w http.ResponseWriter, status int, code, desc string, errCode int) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"error":             code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: 00000000-0000-0000-0000-000000000000", errCode, desc),
		"error_codes":       []int{errCode},
		"timestamp":         time.Now().UTC().Format("2006-01-02 15:04:05Z"),
		"trace_id":          "00000000-0000-0000-0000-000000000000",
		"correlation_id":    "00000000-0000-0000-0000-000000000000",
		"error_uri":         "https://login.microsoftonline.com/error?code=" + strconv.Itoa(errCode),
	})
}

func (s *Server) tenantKnown(t string) bool {
	return strings.EqualFold(t, s.opts.TenantID) || strings.EqualFold(t, strings.TrimSuffix(s.opts.Domain, "."))
}

func (s *Server) wrongTenant(w http.ResponseWriter, t string) {
	aadError(w, http.StatusBadRequest, "invalid_tenant",
		fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", t), 90002)
}

func (s *Server) openIDConfig(w http.ResponseWriter, r *http.Request) {
	t := r.PathValue("tenant")
	if !s.tenantKnown(t) {
		s.wrongTenant(w, t)
		return
	}
	base := s.URL + "/" + t
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"issuer":                                s.URL + "/" + s.opts.TenantID + "/v2.0",
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"tenant_region_scope":                   "EU",
	})
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	t := r.PathValue("tenant")
	if !s.tenantKnown(t) {
		s.wrongTenant(w, t)
		return
	}
	if err := r.ParseForm(); err != nil {
		aadError(w, http.StatusBadRequest, "invalid_request", "The request body must contain the following parameter: 'grant_type'.", 900144)
		return
	}
	if g := r.PostForm.Get("grant_type"); g != "client_credentials" {
		aadError(w, http.StatusBadRequest, "unsupported_grant_type", "The provided value for the input parameter 'grant_type' is not valid.", 70003)
		return
	}
	clientID, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		clientID, secret = u, p
	}
	if !slices.ContainsFunc(strings.Fields(r.PostForm.Get("scope")), func(sc string) bool { return strings.HasSuffix(sc, "/.default") }) {
		aadError(w, http.StatusBadRequest, "invalid_scope", "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", 1002012)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case clientID != s.opts.ClientID:
		aadError(w, http.StatusBadRequest, "unauthorized_client",
			fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.", clientID, t), 700016)
		return
	case secret != s.secret:
		aadError(w, http.StatusUnauthorized, "invalid_client",
			fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", clientID), 7000215)
		return
	case s.secretExpired:
		aadError(w, http.StatusUnauthorized, "invalid_client",
			fmt.Sprintf("The provided client secret keys for app '%s' are expired. Visit the Azure portal to create new keys for your app.", clientID), 7000222)
		return
	}
	now := s.opts.Now()
	exp := now.Add(time.Hour)
	tok := s.mintToken(now, exp)
	s.tokens[tok] = exp
	s.stats.Tokens++
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": tok,
	})
}

// mintToken returns a JWT-shaped token (unsigned signature part). Callers
// hold s.mu.
func (s *Server) mintToken(now, exp time.Time) string {
	enc := base64.RawURLEncoding
	hdr, _ := json.Marshal(map[string]string{"typ": "JWT", "alg": "RS256", "kid": "fake"})
	claims, _ := json.Marshal(map[string]any{
		"aud":   "https://graph.microsoft.com",
		"iss":   "https://sts.windows.net/" + s.opts.TenantID + "/",
		"iat":   now.Unix(),
		"nbf":   now.Unix(),
		"exp":   exp.Unix(),
		"appid": s.opts.ClientID,
		"tid":   s.opts.TenantID,
		"roles": s.roles,
	})
	sig := make([]byte, 32)
	_, _ = rand.Read(sig)
	return enc.EncodeToString(hdr) + "." + enc.EncodeToString(claims) + "." + enc.EncodeToString(sig)
}

// ---- Graph ----

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

func (s *Server) removeMember(w http.ResponseWriter, r *http.Request) {
	gid, uid := r.PathValue("group"), r.PathValue("user")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failWrites > 0 {
		s.failWrites--
		graphError(w, s.failStatus, "ServiceUnavailable", "The service is temporarily unavailable.")
		return
	}
	if wait, ok := s.throttleWrite(); !ok {
		s.stats.Throttled++
		secs := max(wait.Seconds(), 0.001)
		w.Header().Set("Retry-After", strconv.FormatFloat(secs, 'f', 3, 64))
		w.Header().Set("x-ms-throttle-scope", "Tenant_Application/Write/"+s.opts.TenantID+"/"+s.opts.ClientID)
		graphError(w, http.StatusTooManyRequests, "TooManyRequests", "Too many requests.")
		return
	}
	if !s.hasRole(r, writeGroupRoles...) {
		denied(w)
		return
	}
	g := s.groupOr404(w, gid)
	if g == nil {
		return
	}
	switch {
	case g.Flags.OnPremSynced:
		graphError(w, http.StatusBadRequest, "Request_BadRequest", "Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration.")
		return
	case g.Flags.Dynamic, g.Flags.MailEnabled && !g.Flags.Unified,
		g.Flags.RoleAssignable && !s.hasRole(r, RoleRoleManagementReadWrite):
		denied(w)
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
	req, err := http.NewRequestWithContext(outer.Context(), q.Method, u.String(), nil)
	if err != nil {
		resp.Status = http.StatusBadRequest
		return resp
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
