package server

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/cleanup"
)

// Keys of values stored on the echo.Context.
const (
	keyRequestID = "uc.requestID"
	keyHTML      = "uc.html"      // true: errors render as an HTML page
	keyClientKey = "uc.clientKey" // tenant, when known before auth (install)
	keyLifecycle = "uc.lifecycle" // true: a lifecycle callback
)

const headerRequestID = "X-Request-Id"

// requestID gives every request an id, echoed in X-Request-Id and logged.
// A well-formed incoming id (from a proxy) is kept.
func (s *Server) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(headerRequestID)
		if !validRequestID(id) {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		c.Set(keyRequestID, id)
		c.Response().Header()[headerRequestID] = []string{id} // the key is canonical: no Set
		return next(c)
	}
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func requestIDOf(c echo.Context) string {
	id, _ := c.Get(keyRequestID).(string)
	return id
}

// RequestLogMessage is the message of the one line logged per request
// (logRequests): the command batches these lines.
const RequestLogMessage = "request"

// logRequests logs one line per request: method, path (never the query:
// page URLs carry the JWT there), route, status, duration, request id and
// the tenant when known. It renders errors itself so the status is known.
func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := s.now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		took := s.now().Sub(start)
		if s.metrics != nil {
			s.metrics.observe(c, c.Response().Status, took)
		}
		attrs := []slog.Attr{
			slog.String("method", c.Request().Method),
			slog.String("path", c.Request().URL.Path),
			slog.String("route", c.Path()),
			slog.Int("status", c.Response().Status),
			slog.Duration("duration", took),
			slog.String("request_id", requestIDOf(c)),
		}
		if ck := clientKeyOf(c); ck != "" {
			attrs = append(attrs, slog.String("client_key", ck))
		}
		level := slog.LevelInfo
		if (c.Path() == "/healthz" || c.Path() == "/readyz") && c.Response().Status == http.StatusOK {
			level = slog.LevelDebug // probes every few seconds
		}
		s.log.LogAttrs(c.Request().Context(), level, RequestLogMessage, attrs...)
		return nil
	}
}

func clientKeyOf(c echo.Context) string {
	if a, ok := connect.AuthFrom(c.Request().Context()); ok {
		return a.ClientKey
	}
	ck, _ := c.Get(keyClientKey).(string)
	return ck
}

// recoverPanics turns a panic in a handler into a 500 and logs the stack.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				s.log.ErrorContext(c.Request().Context(), "panic in handler",
					"panic", fmt.Sprint(r), "path", c.Request().URL.Path,
					"request_id", requestIDOf(c), "stack", string(debug.Stack()))
				err = fmt.Errorf("server: panic: %v", r)
			}
		}()
		return next(c)
	}
}

// limitBody caps request bodies; reading past the limit fails with
// *http.MaxBytesError, which the error table maps to 413.
func (s *Server) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.ContentLength > s.cfg.MaxBodyBytes {
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "request body too large")
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(c.Response(), r.Body, s.cfg.MaxBodyBytes)
		}
		return next(c)
	}
}

// DefaultFrameAncestors returns the Atlassian cloud origins that frame
// Connect pages, used when Config.FrameAncestors is empty.
func DefaultFrameAncestors() []string {
	return []string{
		"https://*.atlassian.net", "https://*.jira.com", "https://*.jira-dev.com",
		"https://*.atlassian-us-gov-mod.net",
	}
}

// securityHeaders computes the headers sent on every response. There is
// deliberately no X-Frame-Options: Connect pages live in product iframes,
// which frame-ancestors allows.
func securityHeaders(hostScriptURL string, frameAncestors []string, https bool) map[string]string {
	if len(frameAncestors) == 0 {
		frameAncestors = DefaultFrameAncestors()
	}
	scriptSrc := "'self'"
	if u, err := url.Parse(hostScriptURL); err == nil && u.Host != "" {
		scriptSrc += " " + u.Scheme + "://" + u.Host
	}
	csp := strings.Join([]string{
		"default-src 'self'",
		"script-src " + scriptSrc,
		"style-src 'self' 'unsafe-inline'",
		"img-src 'self' data: https:",
		"connect-src 'self'",
		"object-src 'none'",
		"base-uri 'self'",
		"form-action 'self'",
		"frame-ancestors 'self' " + strings.Join(frameAncestors, " "),
	}, "; ")
	h := map[string]string{
		"Content-Security-Policy": csp,
		"Referrer-Policy":         "strict-origin-when-cross-origin",
		"X-Content-Type-Options":  "nosniff",
	}
	if https {
		h["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
	}
	return h
}

// fixedHeader is a response header whose value never changes, prepared
// once: its key in canonical form and its value as the one-element slice
// http.Header holds. Header.Set canonicalises the key and allocates that
// slice on every call; assigning the prepared slice does neither. The
// slice has no spare capacity, so a later Header.Add copies it rather than
// writing into the shared array, and nothing writes to the element.
type fixedHeader struct {
	key   string
	value []string
}

// fixedHeaders prepares the headers of m, in a fixed order.
func fixedHeaders(m map[string]string) []fixedHeader {
	out := make([]fixedHeader, 0, len(m))
	for k, v := range m {
		out = append(out, fixedHeader{key: http.CanonicalHeaderKey(k), value: []string{v}[:1:1]})
	}
	slices.SortFunc(out, func(a, b fixedHeader) int { return strings.Compare(a.key, b.key) })
	return out
}

// setFixed sets the headers on h, as h.Set(key, value) would for each.
func setFixed(h http.Header, headers []fixedHeader) {
	for _, f := range headers {
		h[f.key] = f.value
	}
}

func (s *Server) setSecurityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		setFixed(c.Response().Header(), s.secHeaders)
		return next(c)
	}
}

// noStoreHeaders mark a response as not cacheable.
func noStoreHeaders() []fixedHeader {
	return fixedHeaders(map[string]string{
		"Cache-Control": "no-cache, no-store, must-revalidate",
		"Pragma":        "no-cache",
	})
}

// noStore marks responses as not cacheable: the descriptor, lifecycle,
// pages and API (Atlassian's security scanner checks for both directives).
func (s *Server) noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		setFixed(c.Response().Header(), s.noStoreHeaders)
		return next(c)
	}
}

// asLifecycle marks a lifecycle callback: its refusals are logged at warn.
func (s *Server) asLifecycle(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Set(keyLifecycle, true)
		return next(c)
	}
}

// asHTML makes errors render as an HTML page (inside the product iframe).
func (s *Server) asHTML(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Set(keyHTML, true)
		return next(c)
	}
}

// asJSON makes errors render as JSON (the default).
func (s *Server) asJSON(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Set(keyHTML, false)
		return next(c)
	}
}

// authError marks a failed authentication: the request gets 401.
type authError struct{ err error }

func (e *authError) Error() string { return "authentication failed: " + e.err.Error() }
func (e *authError) Unwrap() error { return e.err }

// authenticate verifies the request's JWT for app under the qsh policy and
// stores the connect.Auth in the request context.
func (s *Server) authenticate(app connect.App, policy connect.QSHPolicy) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			a, err := s.cfg.Verifier.Verify(c.Request(), app, policy)
			if err != nil {
				return &authError{err: err}
			}
			// Defence in depth: a tenant of one product's app never
			// reaches the other product's routes.
			if a.Tenant == nil || a.Tenant.ProductType != app.Product {
				return &authError{err: fmt.Errorf("%w: tenant is not a %s tenant", connect.ErrUnknownTenant, app.Product)}
			}
			c.SetRequest(c.Request().WithContext(connect.WithAuth(c.Request().Context(), a)))
			return next(c)
		}
	}
}

// errNotAdmin is returned when the user does not administer the product.
var errNotAdmin = &forbiddenError{msg: "You need to be an administrator of this site to use User Cleanup."}

// forbiddenError marks a request that is authenticated but not allowed.
type forbiddenError struct{ msg string }

func (e *forbiddenError) Error() string { return e.msg }

// requireAdmin lets only product admins through (checked with the product,
// cached briefly). Atlassian's scanner calls admin URLs with a non-admin's
// token and expects a rejection.
func (s *Server) requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		a, ok := connect.AuthFrom(c.Request().Context())
		if !ok {
			return &authError{err: connect.ErrNoToken}
		}
		if a.AccountID == "" {
			return errNotAdmin
		}
		admin, err := s.admins.IsAdmin(c.Request().Context(), a.Tenant, a.AccountID)
		if cleanup.KindOf(err) == cleanup.KindNotFound {
			// The product does not know the account: not an admin.
			return errNotAdmin
		}
		if err != nil {
			return fmt.Errorf("check admin permission: %w", err)
		}
		if !admin {
			return errNotAdmin
		}
		return next(c)
	}
}
