package server

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/web"
)

// renderer holds one parsed template set per page: the layout plus the
// page's "title" and "content".
type renderer struct {
	pages map[string]*template.Template
}

func newRenderer(fsys fs.FS) (*renderer, error) {
	layout := path.Join(web.TemplatesDir, "layout.html")
	names, err := fs.Glob(fsys, path.Join(web.TemplatesDir, "*.html"))
	if err != nil {
		return nil, fmt.Errorf("server: templates: %w", err)
	}
	r := &renderer{pages: make(map[string]*template.Template)}
	for _, name := range names {
		if name == layout {
			continue
		}
		t, err := template.New(path.Base(name)).Option("missingkey=error").ParseFS(fsys, layout, name)
		if err != nil {
			return nil, fmt.Errorf("server: parse template %s: %w", name, err)
		}
		r.pages[path.Base(name)] = t
	}
	if _, ok := r.pages["error.html"]; !ok {
		return nil, fmt.Errorf("server: template error.html missing")
	}
	return r, nil
}

// pageData is what templates see.
type pageData struct {
	HostScriptURL string
	StaticURL     string
	Product       connect.Product
	ProductName   string
	SiteURL       string // the tenant's display URL (or base URL)
	AccountID     string
	// APIBase is the path of the product's JSON API ("/jira/api") that
	// the page's script calls; Script is the page's module in static/js.
	APIBase string
	Script  string

	// Error page.
	Status    int
	Heading   string
	Message   string
	Fields    map[string]string
	RequestID string
}

func productName(p connect.Product) string {
	switch p {
	case connect.Jira:
		return "Jira"
	case connect.Confluence:
		return "Confluence"
	}
	return string(p)
}

// pageData returns the layout data for the request, including the tenant
// when the request is authenticated.
func (s *Server) pageData(c echo.Context) pageData {
	d := pageData{HostScriptURL: s.cfg.HostScriptURL, StaticURL: "/static"}
	if a, ok := connect.AuthFrom(c.Request().Context()); ok && a.Tenant != nil {
		d.Product = a.Tenant.ProductType
		d.ProductName = productName(a.Tenant.ProductType)
		d.SiteURL = a.Tenant.DisplayURL
		if d.SiteURL == "" {
			d.SiteURL = a.Tenant.BaseURL
		}
		d.AccountID = a.AccountID
		d.APIBase = "/" + string(a.App.Product) + "/api"
	}
	return d
}

// render executes the page's template into a buffer and writes it only if
// it succeeded, so a template error never yields half a page.
func (s *Server) render(c echo.Context, status int, page string, data pageData) error {
	t, ok := s.pages.pages[page]
	if !ok {
		return fmt.Errorf("server: no template %q", page)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		return fmt.Errorf("server: render %s: %w", page, err)
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// page serves an admin page (or dialog) for an authenticated admin: the
// server-rendered frame of the page and its script module, which loads
// the data through the JSON API with AP.context.getToken() tokens.
func (s *Server) page(name string) echo.HandlerFunc {
	script := strings.TrimSuffix(name, path.Ext(name)) + ".js"
	return func(c echo.Context) error {
		d := s.pageData(c)
		d.Script = script
		return s.render(c, http.StatusOK, name, d)
	}
}
