package server

import (
	"cmp"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/example/usercleanup/connect"
)

// routes is the one route table. Every route sits in exactly one group,
// and the group decides how it is authenticated.
func (s *Server) routes(e *echo.Echo) {
	e.Use(s.requestID, s.logRequests, s.recoverPanics, s.setSecurityHeaders, s.limitBody)

	// Public: no authentication.
	public := group{e: e}
	public.get("/healthz", s.healthz)
	public.get("/readyz", s.readyz)
	public.get("/static/*", s.pages.assets.serve)

	for _, app := range s.cfg.Apps {
		p := "/" + string(app.Product)

		public.get(p+"/atlassian-connect.json", s.descriptor(app), s.noStore)

		// Lifecycle: verified by the Lifecycle (signed install, or the
		// tenant's shared secret for enabled/disabled).
		lc := group{e: e, prefix: p, mw: []echo.MiddlewareFunc{s.noStore, s.asJSON, s.asLifecycle}}
		lc.post("/installed", s.countLifecycle(app, "installed", s.installed(app)))
		lc.post("/uninstalled", s.countLifecycle(app, "uninstalled", s.uninstalled(app)))
		lc.post("/enabled", s.countLifecycle(app, "enabled", s.enabled(app)))
		lc.post("/disabled", s.countLifecycle(app, "disabled", s.disabled(app)))

		// Pages: page JWT with a qsh computed for the request, product
		// admins only.
		pages := group{e: e, prefix: p, mw: []echo.MiddlewareFunc{
			s.noStore, s.asHTML, s.authenticate(app, connect.QSHComputed), s.requireAdmin,
		}}
		pages.get("/admin/dashboard", s.page("dashboard.html"))
		pages.get("/admin/users", s.page("users.html"))
		pages.get("/admin/settings", s.page("settings.html"))
		pages.get("/admin/cleanup", s.page("cleanup.html"))
		pages.get("/dialogs/export-data", s.page("export-data.html"))

		// API: context JWTs from AP.context.getToken() only, or Forge
		// Invocation Tokens of the same installation (forge.go); product
		// admins only.
		// The API's handlers call the cleanup service, which asks the
		// request's Authority before organization-wide actions; pages
		// never call it, so only the API carries one.
		api := group{e: e, prefix: p + "/api", mw: []echo.MiddlewareFunc{
			s.noStore, s.asJSON, s.authenticateAPI(app), s.requireAdmin, s.withAuthority,
		}}
		api.get("/me", s.me)
		api.get("/labels", s.labels)

		// Cleanup API (api_cleanup.go): settings, groups, cleanups, runs.
		if s.cfg.Cleanup != nil {
			api.get("/settings", s.getSettings)
			api.patch("/settings", s.patchSettings)
			api.post("/settings/test-connection", s.testConnection)
			api.get("/groups", s.listGroups)
			api.get("/cleanups", s.listCleanups)
			api.post("/cleanups", s.createCleanup)
			api.get("/cleanups/:id", s.getCleanup)
			api.put("/cleanups/:id", s.updateCleanup)
			api.del("/cleanups/:id", s.deleteCleanup)
			api.post("/cleanups/:id/run", s.startRun)
			api.get("/runs", s.listRuns)
			api.get("/runs/:id", s.getRun)
			api.get("/runs/:id/users", s.runUsers)
			api.post("/runs/:id/restore", s.startRestore)
			// Bulk actions of the users screen run as runs (api_dashboard.go).
			api.post("/users/actions", s.startUserAction)
			// The warning e-mail of the cleanup form (api_warn.go).
			api.post("/warnings/preview", s.previewWarning)
			api.post("/warnings/test", s.testWarning)

			// Microsoft Entra ID (api_entra.go): the connection test
			// (a test that ran answers 200 whatever its verdict), the group
			// mapping and the runs' follow-up verdicts.
			api.post("/settings/test-entra", s.testEntraConnection)
			api.get("/entra/mapping", s.entraMapping)
			api.get("/runs/:id/follow-up/users", s.followUpUsers)
		}

		// The licence dashboard and the users screen (api_dashboard.go):
		// figures of the latest snapshot, a refresh that runs as a job.
		if s.cfg.Snapshots != nil {
			api.get("/dashboard", s.dashboard)
			api.post("/snapshots", s.refreshSnapshot)
			api.get("/snapshots/:id", s.getSnapshot)
			api.get("/users", s.listUsers)
			api.post("/reviews/approve", s.approveReviews)
			api.post("/reviews/dismiss", s.dismissReviews)
		}

		// Exports: the listing is an API route; the download links it
		// mints are public routes (an iframe link cannot carry a token)
		// that check their own signature.
		if s.cfg.Exports != nil {
			api.get("/runs/:id/exports", s.runExports)
			public.get(p+"/downloads/:fileId", s.download(app))
		}
	}
}

// Route is one registered route.
type Route struct {
	Method string
	Path   string // Echo's pattern, e.g. "/jira/api/runs/:id"
}

// Routes lists every registered route, sorted by path then method. The
// tenant-isolation test walks it, so a new route is covered the day it is
// added.
func (s *Server) Routes() []Route {
	var out []Route
	for _, r := range s.echo.Routes() {
		out = append(out, Route{Method: r.Method, Path: r.Path})
	}
	slices.SortFunc(out, func(a, b Route) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Method, b.Method))
	})
	return out
}

// group registers routes under a prefix with shared middleware. Unlike
// echo.Group it adds no catch-all routes, so groups may share a prefix and
// unknown paths get the global 404.
//
// A route's middleware is applied to its handler here, once: given to
// Echo, it would be applied again on every request (a closure allocated
// per middleware and request; an authenticated page has four).
type group struct {
	e      *echo.Echo
	prefix string
	mw     []echo.MiddlewareFunc
}

// handler returns h wrapped in the group's middleware, then mw; the first
// one runs first, as Echo orders them.
func (g group) handler(h echo.HandlerFunc, mw []echo.MiddlewareFunc) echo.HandlerFunc {
	all := append(append([]echo.MiddlewareFunc{}, g.mw...), mw...)
	for i := len(all) - 1; i >= 0; i-- {
		h = all[i](h)
	}
	return h
}

func (g group) get(path string, h echo.HandlerFunc, mw ...echo.MiddlewareFunc) {
	g.e.GET(g.prefix+path, g.handler(h, mw))
}

func (g group) post(path string, h echo.HandlerFunc, mw ...echo.MiddlewareFunc) {
	g.e.POST(g.prefix+path, g.handler(h, mw))
}

func (g group) put(path string, h echo.HandlerFunc, mw ...echo.MiddlewareFunc) {
	g.e.PUT(g.prefix+path, g.handler(h, mw))
}

func (g group) patch(path string, h echo.HandlerFunc, mw ...echo.MiddlewareFunc) {
	g.e.PATCH(g.prefix+path, g.handler(h, mw))
}

func (g group) del(path string, h echo.HandlerFunc, mw ...echo.MiddlewareFunc) {
	g.e.DELETE(g.prefix+path, g.handler(h, mw))
}
