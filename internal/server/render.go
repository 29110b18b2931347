package server

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"

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

// page serves a placeholder page for an authenticated admin.
func (s *Server) page(name string) echo.HandlerFunc {
	return func(c echo.Context) error {
		return s.render(c, http.StatusOK, name, s.pageData(c))
	}
}
