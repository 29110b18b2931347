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
//   - POST /v1.0/groups/{id}/members/$ref with {"@odata.id": …}: 204; 400
//     Request_BadRequest "One or more added object references already
//     exist…" for a member; 404 for an unknown user; the same group limits
//     as removals.
//   - POST /v1.0/$batch: gzip request bodies, at most 20 requests, per-item
//     status, headers and body; writes are throttled individually (429 with a
//     fractional Retry-After) by a sliding-window write quota like Graph's
//     app+tenant limit of 3,000 writes per 150 s.
//
// Every Graph call must carry a bearer token the fake issued. Every removal is
// recorded so tests can assert exactly-once behaviour.
package entratest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
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

// Addition is one membership added through the API.
type Addition struct {
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
	additions       []Addition
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

// Additions returns every membership added through the API, in order.
func (s *Server) Additions() []Addition {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.additions)
}

// DeleteUser deletes a user and its memberships (test setup: a user
// removed from the directory by someone else).
func (s *Server) DeleteUser(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.users, userID)
	s.userOrder = slices.DeleteFunc(s.userOrder, func(id string) bool { return id == userID })
	for _, g := range s.groups {
		g.members = slices.DeleteFunc(g.members, func(id string) bool { return id == userID })
	}
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
	m.HandleFunc("POST /v1.0/groups/{group}/members/$ref", s.graph(s.addMember))
	m.HandleFunc("DELETE /v1.0/groups/{group}/members/{user}", s.graph(s.deleteWithoutRef))
	m.HandleFunc("POST /v1.0/$batch", s.graph(s.batch))
}

// ---- identity platform ----
