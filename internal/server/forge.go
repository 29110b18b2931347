package server

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/example/usercleanup/connect"
)

// ForgeAuthenticator authenticates Forge Invocation Tokens (FITs) sent by
// Forge to the app registered as Connect on Forge, mapped to the Connect
// tenant of the same installation. *connect.FITVerifier implements it.
type ForgeAuthenticator interface {
	// Enabled reports whether FITs are accepted for the app (a Forge app
	// id is configured for it).
	Enabled(app connect.App) bool
	Authenticate(r *http.Request, app connect.App) (*connect.Auth, *connect.Invocation, error)
}

// authenticateAPI authenticates an API request: a request with
// "Authorization: Bearer" must carry a valid FIT (when Forge is enabled
// for the app), anything else a Connect context JWT. Both end in the same
// connect.Auth for the same tenant, so handlers and requireAdmin (which
// checks the FIT principal like a JWT subject) cannot tell them apart;
// connect.InvocationFrom exposes the Forge details.
func (s *Server) authenticateAPI(app connect.App) echo.MiddlewareFunc {
	connectAuth := s.authenticate(app, connect.QSHContext)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		viaConnect := connectAuth(next)
		return func(c echo.Context) error {
			r := c.Request()
			if s.cfg.Forge == nil || !s.cfg.Forge.Enabled(app) || !connect.IsBearer(r) {
				return viaConnect(c)
			}
			a, inv, err := s.cfg.Forge.Authenticate(r, app)
			if err != nil {
				return &authError{err: err}
			}
			if a.Tenant == nil || a.Tenant.ProductType != app.Product {
				return &authError{err: fmt.Errorf("%w: tenant is not a %s tenant", connect.ErrUnknownTenant, app.Product)}
			}
			ctx := connect.WithInvocation(connect.WithAuth(r.Context(), a), inv)
			c.SetRequest(r.WithContext(ctx))
			return next(c)
		}
	}
}
