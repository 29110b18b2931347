package server

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/example/usercleanup/connect"
)

// readyTimeout bounds the database check of /readyz.
const readyTimeout = 2 * time.Second

// healthz is liveness: the process serves HTTP. It checks nothing else, so
// an orchestrator does not restart instances while the database is down
// (readyz takes them out of the load balancer instead).
func (s *Server) healthz(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when the database answers within readyTimeout and
// every migration is applied, 503 otherwise.
func (s *Server) readyz(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	ctx, cancel := context.WithTimeout(c.Request().Context(), readyTimeout)
	defer cancel()
	if err := s.cfg.Health.Ready(ctx); err != nil {
		s.log.WarnContext(ctx, "readiness check failed", "error", err.Error())
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// descriptor serves the app's rendered atlassian-connect.json.
func (s *Server) descriptor(app connect.App) echo.HandlerFunc {
	body := s.cfg.Descriptors[app.Product]
	return func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/json", body)
	}
}

// installed handles the signed install. It must answer 200 or 204, or the
// product marks the installation failed.
func (s *Server) installed(app connect.App) echo.HandlerFunc {
	return func(c echo.Context) error {
		t, err := s.cfg.Lifecycle.Installed(c.Request(), app)
		if err != nil {
			return err
		}
		c.Set(keyClientKey, t.ClientKey)
		s.admins.Forget(t.ClientKey)
		s.log.InfoContext(c.Request().Context(), "tenant installed", "client_key", t.ClientKey,
			"product", t.ProductType, "base_url", t.BaseURL)
		return c.NoContent(http.StatusNoContent)
	}
}

func (s *Server) uninstalled(app connect.App) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := s.cfg.Lifecycle.Uninstalled(c.Request(), app); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
}

func (s *Server) enabled(app connect.App) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := s.cfg.Lifecycle.Enabled(c.Request(), app); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
}

func (s *Server) disabled(app connect.App) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := s.cfg.Lifecycle.Disabled(c.Request(), app); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
}
