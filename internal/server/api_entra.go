package server

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/example/usercleanup/internal/cleanup"
)

// EntraService is the Microsoft Entra ID part of the cleanup service
// (*cleanup.Service): the connection test and the group mapping. The
// routes exist when Config.Cleanup implements it.
type EntraService interface {
	TestEntraConnection(ctx context.Context, clientKey string) (cleanup.EntraTest, error)
	EntraMappings(ctx context.Context, clientKey string) (cleanup.EntraMappingReport, error)
}

// entraRoutes registers the Microsoft Entra ID API on the API group.
func (s *Server) entraRoutes(api group) {
	es, ok := s.cfg.Cleanup.(EntraService)
	if !ok {
		return
	}
	api.post("/settings/test-entra", func(c echo.Context) error { return s.testEntra(c, es) })
	api.get("/entra/mapping", func(c echo.Context) error { return s.entraMapping(c, es) })
}

// testEntra answers POST /api/settings/test-entra. A test that ran
// answers 200 whatever its verdict ({"ok", "message", "settings"}); a test
// that could not run (no connection configured) is an error.
func (s *Server) testEntra(c echo.Context, es EntraService) error {
	ck, _, err := tenantOf(c)
	if err != nil {
		return err
	}
	res, err := es.TestEntraConnection(c.Request().Context(), ck)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

// entraMapping answers GET /api/entra/mapping: every IdP-synced group with
// its Microsoft Entra ID group and the validation state.
func (s *Server) entraMapping(c echo.Context, es EntraService) error {
	ck, _, err := tenantOf(c)
	if err != nil {
		return err
	}
	rep, err := es.EntraMappings(c.Request().Context(), ck)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rep)
}
