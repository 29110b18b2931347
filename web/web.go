// Package web holds the app's HTML templates and static assets, embedded in
// the binary. It has no logic: internal/server parses the templates and
// serves the assets.
//
// Templates: templates/layout.html defines "layout", the page frame every
// Connect page uses (all.js from a configurable URL, content inside
// <div class="ac-content">); every other file in templates/ defines
// "title" and "content" for one page and is rendered inside the layout.
//
// The server renders each page's "content" once per product at start-up
// into a static, content-hashed asset, and per request only the layout
// around it. So "content" may print the per-request values (.SiteURL,
// .AccountID) as text or in attribute values, but must not depend on
// them (no {{if}}, {{with}} or {{range}} over them), and the layout must
// not print them at all; the server refuses to start otherwise. Files in
// static/ are referred to by their plain path (/static/app.css,
// ./api.js between modules): the server serves them under content-hashed
// names and rewrites the references.
package web

import (
	"embed"
	"io/fs"
)

//go:embed templates static host
var files embed.FS

// FS returns the embedded files: templates/*.html, static/* and host/*.
func FS() fs.FS { return files }

// Directory names inside FS.
const (
	TemplatesDir = "templates"
	StaticDir    = "static"
	// HostDir holds the host page that plays the product in tests and the
	// demo (host.html, host-bridge.js); internal/demo.HostPage serves it.
	HostDir = "host"
)
