package server

import (
	"errors"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/example/usercleanup/connect"
)

// Metrics records what the HTTP layer measures (*metrics.Metrics). Every
// label value it is given comes from a bounded set: Echo's route
// patterns, HTTP methods of the route table, statuses, connect's
// rejection reasons.
type Metrics interface {
	// Route returns the recorder of one route's requests; it is called
	// once per route when the server is built, so the request path only
	// looks the route up in a map that never changes.
	Route(method, path string) func(status int, d time.Duration)
	// AuthRefused counts a request refused by token verification.
	AuthRefused(reason string)
	// Lifecycle counts a lifecycle callback: result is "ok" or the
	// refusal reason.
	Lifecycle(product, event, result string)
}

// unmatchedRoute labels requests that matched no route (404, 405).
const unmatchedRoute = "unmatched"

type routeKey struct{ method, path string }

// routeMetrics holds the recorder of every route, built once after the
// routes; read without locks.
type routeMetrics struct {
	byRoute   map[routeKey]func(int, time.Duration)
	unmatched func(int, time.Duration)
}

func newRouteMetrics(m Metrics, routes []*echo.Route) *routeMetrics {
	rm := &routeMetrics{byRoute: make(map[routeKey]func(int, time.Duration), len(routes)),
		unmatched: m.Route("any", unmatchedRoute)}
	for _, r := range routes {
		rm.byRoute[routeKey{r.Method, r.Path}] = m.Route(r.Method, r.Path)
	}
	return rm
}

// observe records one request by the route Echo matched.
func (rm *routeMetrics) observe(c echo.Context, status int, d time.Duration) {
	if f, ok := rm.byRoute[routeKey{c.Request().Method, c.Path()}]; ok {
		f(status, d)
		return
	}
	rm.unmatched(status, d)
}

// refusalReason is the metric label of a rejection by the connect
// package: its error's text without the package prefix (a fixed set),
// "other" for anything else.
func refusalReason(err error) string {
	if r := connect.Reason(err); r != nil {
		return strings.TrimPrefix(r.Error(), "connect: ")
	}
	var auth *authError
	if errors.As(err, &auth) {
		return "other"
	}
	return "error"
}

// countLifecycle wraps a lifecycle handler so that its result is counted.
func (s *Server) countLifecycle(app connect.App, event string, h echo.HandlerFunc) echo.HandlerFunc {
	if s.cfg.Metrics == nil {
		return h
	}
	return func(c echo.Context) error {
		err := h(c)
		result := "ok"
		if err != nil {
			result = refusalReason(err)
		}
		s.cfg.Metrics.Lifecycle(string(app.Product), event, result)
		return err
	}
}
