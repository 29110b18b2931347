package demo

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/connect/connecttest"
	"github.com/example/usercleanup/web"
)

// HostPage plays the product (Jira or Confluence) for tests and the local
// demo: it frames the app's pages with the standard query parameters and a
// real page JWT, and implements the host side of the AP bridge
// (web/static/host-bridge.js) that web/static/ap-bridge.js talks to over
// postMessage. It mints tokens with the tenant's shared secret, so it must
// never be mounted by the production `serve` command: only an explicit test
// or demo option enables it.
//
// Routes, under Prefix:
//
//	GET  {prefix}                  the host page (?product=&page=&user=)
//	GET  {prefix}host-bridge.js    the host side of the bridge
//	POST {prefix}api/token         {"product","user"} → {"token"}: a context JWT
//	POST {prefix}api/frame         {"product","user","key"} → {"url"}: a module URL with a page JWT
//
// The POST routes require the header X-Host-Page: 1, which a cross-origin
// page cannot send without a CORS preflight the host page never grants.
type HostPage struct {
	cfg     HostPageConfig
	tmpl    *template.Template
	bridge  []byte
	modules map[string]HostModule
}

// HostPageConfig configures a HostPage. Sites, Users and Tenants are
// required.
type HostPageConfig struct {
	// Prefix is where the host page is mounted; it must start and end with
	// "/". Default "/host/".
	Prefix string
	// Sites are the product sites the host page plays, one per product.
	Sites []HostSite
	// Users are the accounts a person can act as; the first is the default.
	Users []HostUser
	// Modules are the app's page and dialog modules by key; default
	// DefaultHostModules().
	Modules []HostModule
	// Tenants looks up the installed tenant (for its current shared secret).
	Tenants interface {
		GetTenant(ctx context.Context, clientKey string) (*connect.Tenant, error)
	}
	// TokenTTL is the lifetime of minted tokens (default 3 minutes, as the
	// products use).
	TokenTTL time.Duration
	// Mailbox lists the e-mails the app sent (the demo's mail server);
	// nil: no Mailbox view.
	Mailbox func() []MailboxMessage
	Logger  *slog.Logger     // nil: discard
	Now     func() time.Time // nil: time.Now
}

// HostSite is one product site: the app installed there and its tenant.
type HostSite struct {
	App       connect.App
	ClientKey string
	// Name labels the navigation, e.g. "Jira admin". Default "<Product> admin".
	Name string
}

// HostUser is an account the host page can act as.
type HostUser struct {
	AccountID string
	Name      string
}

// HostModule is a page or dialog module of the descriptor.
type HostModule struct {
	Key    string // module key, e.g. "settings"
	Name   string // navigation label; empty for dialogs
	Path   string // module URL relative to the app's baseUrl
	Dialog bool
}

// DefaultHostModules returns the modules of atlassian-connect.json.
func DefaultHostModules() []HostModule {
	return []HostModule{
		{Key: "dashboard", Name: "Dashboard", Path: "/admin/dashboard"},
		{Key: "users", Name: "Users", Path: "/admin/users"},
		{Key: "settings", Name: "Settings", Path: "/admin/settings"},
		{Key: "cleanup", Name: "Scheduling and cleanup", Path: "/admin/cleanup"},
		{Key: "export-data", Path: "/dialogs/export-data", Dialog: true},
	}
}

// NewHostPage checks cfg and builds the host page.
func NewHostPage(cfg HostPageConfig) (*HostPage, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "/host/"
	}
	if !strings.HasPrefix(cfg.Prefix, "/") || !strings.HasSuffix(cfg.Prefix, "/") {
		return nil, fmt.Errorf("demo: host page prefix %q must start and end with /", cfg.Prefix)
	}
	if len(cfg.Sites) == 0 || len(cfg.Users) == 0 || cfg.Tenants == nil {
		return nil, errors.New("demo: host page needs Sites, Users and Tenants")
	}
	for i, s := range cfg.Sites {
		if s.App.Product != connect.Jira && s.App.Product != connect.Confluence {
			return nil, fmt.Errorf("demo: host page site %d: unsupported product %q", i, s.App.Product)
		}
		if _, err := appOrigin(s.App); err != nil {
			return nil, fmt.Errorf("demo: host page site %d: %w", i, err)
		}
		if s.ClientKey == "" {
			return nil, fmt.Errorf("demo: host page site %d: no client key", i)
		}
		if s.Name == "" {
			cfg.Sites[i].Name = productName(s.App.Product) + " admin"
		}
	}
	for i, u := range cfg.Users {
		if u.AccountID == "" {
			return nil, fmt.Errorf("demo: host page user %d: no account id", i)
		}
	}
	if len(cfg.Modules) == 0 {
		cfg.Modules = DefaultHostModules()
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = 3 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	tmpl, err := template.New("host.html").Option("missingkey=error").ParseFS(web.FS(), path.Join(web.HostDir, "host.html"))
	if err != nil {
		return nil, fmt.Errorf("demo: host page template: %w", err)
	}
	bridge, err := fs.ReadFile(web.FS(), path.Join(web.HostDir, "host-bridge.js"))
	if err != nil {
		return nil, fmt.Errorf("demo: host bridge script: %w", err)
	}
	h := &HostPage{cfg: cfg, tmpl: tmpl, bridge: bridge, modules: map[string]HostModule{}}
	for _, m := range cfg.Modules {
		h.modules[m.Key] = m
	}
	return h, nil
}

func appOrigin(app connect.App) (string, error) {
	u, err := url.Parse(app.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("invalid app baseUrl %q", app.BaseURL)
	}
	return u.Scheme + "://" + u.Host, nil
}

// Prefix returns the path the host page is mounted at.
func (h *HostPage) Prefix() string { return h.cfg.Prefix }

// URL returns the host page path showing the module of the product's site
// as the user (an account id).
func (h *HostPage) URL(p connect.Product, module, accountID string) string {
	q := url.Values{"product": {string(p)}, "page": {module}, "user": {accountID}}
	return h.cfg.Prefix + "?" + q.Encode()
}

// Wrap returns a handler that serves the host page's routes and passes
// every other request to next (the app), so that the demo can serve the
// host page and the app from one origin.
func (h *HostPage) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.owns(r.URL.Path) {
			h.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// owns reports whether the path is one of the host page's routes.
func (h *HostPage) owns(p string) bool {
	rest, ok := strings.CutPrefix(p, h.cfg.Prefix)
	if !ok {
		return p+"/" == h.cfg.Prefix
	}
	switch rest {
	case "", "host-bridge.js", "api/token", "api/frame":
		return true
	case "mailbox":
		return h.cfg.Mailbox != nil
	}
	return false
}

// ServeHTTP implements http.Handler.
func (h *HostPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-cache, no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "strict-origin-when-cross-origin")
	rest, ok := strings.CutPrefix(r.URL.Path, h.cfg.Prefix)
	if !ok && r.URL.Path+"/" == h.cfg.Prefix {
		rest, ok = "", true
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	var err error
	switch {
	case rest == "" && r.Method == http.MethodGet:
		err = h.page(w, r)
	case rest == "host-bridge.js" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		_, err = w.Write(h.bridge)
	case rest == "api/token" && r.Method == http.MethodPost:
		err = h.apiToken(w, r)
	case rest == "api/frame" && r.Method == http.MethodPost:
		err = h.apiFrame(w, r)
	case rest == "mailbox" && r.Method == http.MethodGet:
		err = h.mailbox(w, r) // mailbox.go
	case rest == "" || rest == "host-bridge.js" || rest == "api/token" || rest == "api/frame":
		err = &hostError{http.StatusMethodNotAllowed, "method not allowed"}
	default:
		err = &hostError{http.StatusNotFound, "not found"}
	}
	if err == nil {
		return
	}
	var he *hostError
	if !errors.As(err, &he) {
		h.cfg.Logger.ErrorContext(r.Context(), "host page failed", "path", r.URL.Path, "error", err.Error())
		he = &hostError{http.StatusInternalServerError, "internal error"}
	}
	http.Error(w, he.msg, he.status)
}

// hostError is a client error of the host page, shown as is.
type hostError struct {
	status int
	msg    string
}

func (e *hostError) Error() string { return e.msg }

// hostNav is one navigation entry (URL) or account choice (Value) of the
// host page.
type hostNav struct {
	Label   string
	URL     string
	Value   string
	Current bool
}

type hostPageData struct {
	Title     string
	Sites     []hostNav
	Modules   []hostNav
	Users     []hostNav
	Product   string
	Module    string
	Account   string
	FrameURL  string
	AppOrigin string
	Prefix    string
	BridgeURL string
	Mailbox   bool
}

func (h *HostPage) site(p string) (HostSite, bool) {
	for _, s := range h.cfg.Sites {
		if string(s.App.Product) == p {
			return s, true
		}
	}
	return HostSite{}, false
}

func (h *HostPage) user(id string) (HostUser, bool) {
	for _, u := range h.cfg.Users {
		if u.AccountID == id {
			return u, true
		}
	}
	return HostUser{}, false
}

// page renders the host page with the module framed.
func (h *HostPage) page(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	site := h.cfg.Sites[0]
	if p := q.Get("product"); p != "" {
		s, ok := h.site(p)
		if !ok {
			return &hostError{http.StatusNotFound, "unknown product " + p}
		}
		site = s
	}
	user := h.cfg.Users[0]
	if id := q.Get("user"); id != "" {
		u, ok := h.user(id)
		if !ok {
			return &hostError{http.StatusNotFound, "unknown user"}
		}
		user = u
	}
	var mod HostModule
	for _, m := range h.cfg.Modules {
		if !m.Dialog {
			mod = m
			break
		}
	}
	if k := q.Get("page"); k != "" {
		m, ok := h.modules[k]
		if !ok || m.Dialog {
			return &hostError{http.StatusNotFound, "unknown page " + k}
		}
		mod = m
	}
	frame, err := h.frameURL(r.Context(), site, user.AccountID, mod)
	if err != nil {
		return err
	}
	origin, _ := appOrigin(site.App)
	d := hostPageData{
		Title:     mod.Name + " · " + site.Name,
		Product:   string(site.App.Product),
		Module:    mod.Key,
		Account:   user.AccountID,
		FrameURL:  frame,
		AppOrigin: origin,
		Prefix:    h.cfg.Prefix,
		BridgeURL: h.cfg.Prefix + "host-bridge.js",
		Mailbox:   h.cfg.Mailbox != nil,
	}
	for _, s := range h.cfg.Sites {
		d.Sites = append(d.Sites, hostNav{Label: s.Name, URL: h.URL(s.App.Product, mod.Key, user.AccountID),
			Current: s.App.Product == site.App.Product})
	}
	for _, m := range h.cfg.Modules {
		if !m.Dialog {
			d.Modules = append(d.Modules, hostNav{Label: m.Name, URL: h.URL(site.App.Product, m.Key, user.AccountID),
				Current: m.Key == mod.Key})
		}
	}
	for _, u := range h.cfg.Users {
		d.Users = append(d.Users, hostNav{Label: cmp.Or(u.Name, u.AccountID), Value: u.AccountID, Current: u.AccountID == user.AccountID})
	}
	var buf bytes.Buffer
	if err := h.tmpl.Execute(&buf, d); err != nil {
		return fmt.Errorf("render host page: %w", err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, err = w.Write(buf.Bytes())
	return err
}

// tenant returns the installed tenant of the site.
func (h *HostPage) tenant(ctx context.Context, site HostSite) (*connect.Tenant, error) {
	t, err := h.cfg.Tenants.GetTenant(ctx, site.ClientKey)
	if errors.Is(err, connect.ErrUnknownTenant) {
		return nil, &hostError{http.StatusConflict, "the app is not installed on the " + site.Name + " site"}
	}
	if err != nil {
		return nil, fmt.Errorf("get tenant: %w", err)
	}
	if !t.Installed() {
		return nil, &hostError{http.StatusConflict, "the app is not installed on the " + site.Name + " site"}
	}
	return t, nil
}

// frameURL returns the module's URL as the product loads it: the app's
// baseUrl + path, the standard context parameters and a page JWT for the
// account.
func (h *HostPage) frameURL(ctx context.Context, site HostSite, accountID string, m HostModule) (string, error) {
	t, err := h.tenant(ctx, site)
	if err != nil {
		return "", err
	}
	base, err := url.Parse(t.BaseURL)
	if err != nil {
		return "", fmt.Errorf("tenant base url: %w", err)
	}
	q := url.Values{
		"xdm_e": {base.Scheme + "://" + base.Host},
		"xdm_c": {"channel-" + m.Key},
		"cp":    {base.EscapedPath()},
		"lic":   {"none"},
		"cv":    {"1001.0.0-SNAPSHOT"},
	}
	u := strings.TrimSuffix(site.App.BaseURL, "/") + m.Path + "?" + q.Encode()
	tok, err := connecttest.PageToken(t, site.App, http.MethodGet, u, accountID, h.cfg.Now(), h.cfg.TokenTTL)
	if err != nil {
		return "", fmt.Errorf("mint page token: %w", err)
	}
	return connecttest.WithJWT(u, tok), nil
}

// hostRequest is the body of the host page's API calls.
type hostRequest struct {
	Product string `json:"product"`
	User    string `json:"user"`
	Key     string `json:"key"`
}

func (h *HostPage) decode(w http.ResponseWriter, r *http.Request) (HostSite, HostUser, hostRequest, error) {
	var in hostRequest
	if r.Header.Get("X-Host-Page") != "1" {
		return HostSite{}, HostUser{}, in, &hostError{http.StatusForbidden, "missing X-Host-Page header"}
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return HostSite{}, HostUser{}, in, &hostError{http.StatusUnsupportedMediaType, "expected application/json"}
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&in); err != nil {
		return HostSite{}, HostUser{}, in, &hostError{http.StatusBadRequest, "invalid JSON body"}
	}
	site, ok := h.site(in.Product)
	if !ok {
		return HostSite{}, HostUser{}, in, &hostError{http.StatusBadRequest, "unknown product"}
	}
	user, ok := h.user(in.User)
	if !ok {
		return HostSite{}, HostUser{}, in, &hostError{http.StatusBadRequest, "unknown user"}
	}
	return site, user, in, nil
}

func writeHostJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(v)
}

// apiToken mints a context JWT, as AP.context.getToken() returns it.
func (h *HostPage) apiToken(w http.ResponseWriter, r *http.Request) error {
	site, user, _, err := h.decode(w, r)
	if err != nil {
		return err
	}
	t, err := h.tenant(r.Context(), site)
	if err != nil {
		return err
	}
	tok, err := connecttest.ContextToken(t, user.AccountID, h.cfg.Now(), h.cfg.TokenTTL)
	if err != nil {
		return fmt.Errorf("mint context token: %w", err)
	}
	return writeHostJSON(w, map[string]string{"token": tok})
}

// apiFrame returns a module URL with a fresh page JWT (dialogs).
func (h *HostPage) apiFrame(w http.ResponseWriter, r *http.Request) error {
	site, user, in, err := h.decode(w, r)
	if err != nil {
		return err
	}
	m, ok := h.modules[in.Key]
	if !ok {
		return &hostError{http.StatusBadRequest, "unknown module key"}
	}
	u, err := h.frameURL(r.Context(), site, user.AccountID, m)
	if err != nil {
		return err
	}
	return writeHostJSON(w, map[string]string{"url": u})
}

// productName is the product's display name ("jira" → "Jira").
func productName(p connect.Product) string {
	if p == "" {
		return ""
	}
	return strings.ToUpper(string(p[:1])) + string(p[1:])
}
