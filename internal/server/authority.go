package server

import (
	"context"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/cleanup"
)

// orgAdminReason says who may take the organization-wide actions
// (cleanup/authority.go) on the product: shown in the UI next to the
// disabled controls and in the 403 of a refused request.
func orgAdminReason(p connect.Product) string {
	who := "a Jira administrator with the System administrator global permission"
	if p == connect.Confluence {
		who = "a site administrator"
	}
	return fmt.Sprintf("Deactivating accounts and changing the organization or Microsoft Entra ID credentials affect the whole organization: only %s can do that.", who)
}

// authority is the cleanup.Authority of an authenticated request: the
// product's answer for the acting user, through the admin cache.
type authority struct {
	s *Server
	a *connect.Auth
}

// OrgAdmin implements cleanup.Authority.
func (x authority) OrgAdmin(ctx context.Context) error {
	ok, err := x.s.isOrgAdmin(ctx, x.a)
	if err != nil {
		return err
	}
	if !ok {
		return &cleanup.Error{Kind: cleanup.KindForbidden, Message: orgAdminReason(x.a.App.Product)}
	}
	return nil
}

// isOrgAdmin asks (the cache of) the product whether the acting user
// holds its highest admin level. An account the product does not know
// does not.
func (s *Server) isOrgAdmin(ctx context.Context, a *connect.Auth) (bool, error) {
	if a.AccountID == "" {
		return false, nil
	}
	ok, err := s.admins.IsSystemAdmin(ctx, a.Tenant, a.AccountID)
	if cleanup.KindOf(err) == cleanup.KindNotFound {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check system administration permission: %w", err)
	}
	return ok, nil
}

// withAuthority puts the request's cleanup.Authority on its context, so
// the cleanup service can ask before an organization-wide action. It runs
// after requireAdmin, on the API routes.
func (s *Server) withAuthority(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		a, ok := connect.AuthFrom(c.Request().Context())
		if !ok {
			return &authError{err: connect.ErrNoToken}
		}
		ctx := cleanup.WithAuthority(c.Request().Context(), authority{s: s, a: a})
		c.SetRequest(c.Request().WithContext(ctx))
		return next(c)
	}
}

// meResponse identifies the caller of the API and says what it may do.
type meResponse struct {
	ClientKey    string          `json:"clientKey"`
	AccountID    string          `json:"accountId"`
	Product      connect.Product `json:"product"`
	Capabilities capabilities    `json:"capabilities"`
}

// capabilities are what the pages enable. A product admin may do
// everything but the organization-wide actions; OrgAdminReason says who
// may take those when OrgAdmin is false.
type capabilities struct {
	OrgAdmin       bool   `json:"orgAdmin"`
	OrgAdminReason string `json:"orgAdminReason,omitempty"`
}

// me returns who is calling and what they may do: pages use it to check
// their token and to disable the controls the user may not use.
func (s *Server) me(c echo.Context) error {
	a, _ := connect.AuthFrom(c.Request().Context())
	org, err := s.isOrgAdmin(c.Request().Context(), a)
	if err != nil {
		return err
	}
	caps := capabilities{OrgAdmin: org}
	if !org {
		caps.OrgAdminReason = orgAdminReason(a.App.Product)
	}
	return c.JSON(http.StatusOK, meResponse{ClientKey: a.ClientKey, AccountID: a.AccountID, Product: a.App.Product, Capabilities: caps})
}
