package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/web"
)

// Pages are served in two parts. A page's markup (its "content"
// template) is the same for every request to one app except for a few
// per-request values (requestSlots: the site's URL, the user): at start-up
// it is rendered once per app into a JavaScript module under
// /static/pages/<product>/, content-hashed and cached by the browser for
// good (assets.go), which puts the markup in place and fills in the
// values. Per request the server sends only the layout around it, the
// "shell" (about 1 KB): also rendered at start-up, with the values left
// as slots that are filled by concatenation, HTML-escaped, and sent with
// Content-Length. The error page, which is different every time, is
// rendered per request in full.

// renderer holds one parsed template set per page (the layout plus the
// page's "title" and "content") and the pages' prepared shells.
type renderer struct {
	pages  map[string]*template.Template
	assets *assetSet
	shells map[connect.Product]map[string]*shell // by product and template name
}

// errorPage is the template rendered per request.
const errorPage = "error.html"

func newRenderer(fsys fs.FS, assets *assetSet, apps []connect.App, hostScriptURL string) (*renderer, error) {
	layout := path.Join(web.TemplatesDir, "layout.html")
	names, err := fs.Glob(fsys, path.Join(web.TemplatesDir, "*.html"))
	if err != nil {
		return nil, fmt.Errorf("server: templates: %w", err)
	}
	r := &renderer{pages: make(map[string]*template.Template), assets: assets, shells: map[connect.Product]map[string]*shell{}}
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
	if _, ok := r.pages[errorPage]; !ok {
		return nil, fmt.Errorf("server: template error.html missing")
	}
	for _, app := range apps {
		r.shells[app.Product] = map[string]*shell{}
		for name := range r.pages {
			if name == errorPage {
				continue
			}
			sh, err := r.prepare(name, app, hostScriptURL)
			if err != nil {
				return nil, err
			}
			r.shells[app.Product][name] = sh
		}
	}
	return r, nil
}

// requestSlots are the page fields that change from request to request
// of one app. A page may show them as text or in attribute values; the
// page module fills them in (a URL attribute only with an http, https or
// mailto URL, as html/template would).
var requestSlots = []struct {
	field string // pageData field
	attr  string // data-uc-<attr> on the shell's placeholder
	get   func(*pageData) *string
}{
	{"SiteURL", "site-url", func(d *pageData) *string { return &d.SiteURL }},
	{"AccountID", "account-id", func(d *pageData) *string { return &d.AccountID }},
}

// slotMarker stands for a request slot while a page is prepared. It is
// made of characters html/template leaves alone in text, attribute and
// URL contexts.
func slotMarker(i int) string { return "ucslot" + requestSlots[i].field + "q7" }

// shell is the per-request part of a page: parts[0], the value of
// slots[0], parts[1], ...
type shell struct {
	parts [][]byte
	slots []int // index into requestSlots
	size  int   // of the parts
}

// fill puts the request's values for the shell's slots, HTML-escaped, in
// values (one per slot) and returns the length of the page with them.
func (sh *shell) fill(d *pageData, values []string) int {
	n := sh.size
	for i, slot := range sh.slots {
		values[i] = html.EscapeString(*requestSlots[slot].get(d))
		n += len(values[i])
	}
	return n
}

// writeTo writes the shell with the values fill returned: parts[0],
// values[0], parts[1], ... Written piece by piece into the response's
// buffer, the page needs no buffer of its own (allocating and filling
// one took a fifth of the page handler).
func (sh *shell) writeTo(w io.Writer, values []string) error {
	for i, p := range sh.parts {
		if _, err := w.Write(p); err != nil {
			return err
		}
		if i < len(values) {
			if _, err := io.WriteString(w, values[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// prepare renders the page's markup into its module asset and its layout
// into a shell, for app.
func (r *renderer) prepare(name string, app connect.App, hostScriptURL string) (*shell, error) {
	// The page's template set is never executed itself: a set can be
	// cloned only before, and each app needs a clone whose "content" is
	// replaced by the placeholder below.
	frame, err := r.pages[name].Clone()
	if err != nil {
		return nil, fmt.Errorf("server: template %s: %w", name, err)
	}
	t, err := r.pages[name].Clone()
	if err != nil {
		return nil, fmt.Errorf("server: template %s: %w", name, err)
	}
	plain := pageData{
		HostScriptURL: hostScriptURL, StaticURL: strings.TrimSuffix(staticPrefix, "/"),
		Product: app.Product, ProductName: productName(app.Product), APIBase: "/" + string(app.Product) + "/api",
		Script: strings.TrimSuffix(name, path.Ext(name)) + ".js",
	}
	marked := plain
	for i, s := range requestSlots {
		*s.get(&marked) = slotMarker(i)
	}
	var withMarks, without bytes.Buffer
	if err := t.ExecuteTemplate(&withMarks, "content", marked); err != nil {
		return nil, fmt.Errorf("server: render %s: %w", name, err)
	}
	if err := t.ExecuteTemplate(&without, "content", plain); err != nil {
		return nil, fmt.Errorf("server: render %s: %w", name, err)
	}
	// The markup may only print the request's values, not depend on them
	// (a condition or a range over them): then it renders the same with
	// the markers left out as with empty values.
	markup := withMarks.String()
	var used []int
	stripped := markup
	for i := range requestSlots {
		if strings.Contains(markup, slotMarker(i)) {
			used = append(used, i)
			stripped = strings.ReplaceAll(stripped, slotMarker(i), "")
		}
	}
	if stripped != without.String() {
		return nil, fmt.Errorf("server: template %s: its content depends on per-request values (%s) beyond printing them; a static page cannot hold it",
			name, slotNames())
	}
	modulePath := "pages/" + string(app.Product) + "/" + plain.Script
	r.assets.put(modulePath, pageModule(name, app.Product, r.assets.rewrite(markup), used))

	var placeholder strings.Builder
	placeholder.WriteString(`<script type="module" src="` + r.assets.url(modulePath) + `" data-uc-page`)
	for _, i := range used {
		placeholder.WriteString(` data-uc-` + requestSlots[i].attr + `="` + slotMarker(i) + `"`)
	}
	placeholder.WriteString(`></script>`)
	if _, err := frame.New("content").Parse(placeholder.String()); err != nil {
		return nil, fmt.Errorf("server: template %s: %w", name, err)
	}
	var out bytes.Buffer
	if err := frame.ExecuteTemplate(&out, "layout", marked); err != nil {
		return nil, fmt.Errorf("server: render %s: %w", name, err)
	}
	rest := r.assets.rewrite(out.String())
	sh := &shell{}
	for {
		at, slot := -1, -1
		for _, i := range used {
			if j := strings.Index(rest, slotMarker(i)); j >= 0 && (at < 0 || j < at) {
				at, slot = j, i
			}
		}
		if at < 0 {
			break
		}
		sh.parts = append(sh.parts, []byte(rest[:at]))
		sh.slots = append(sh.slots, slot)
		rest = rest[at+len(slotMarker(slot)):]
	}
	sh.parts = append(sh.parts, []byte(rest))
	for i := range requestSlots {
		if strings.Contains(rest, slotMarker(i)) || strings.Count(out.String(), slotMarker(i)) != countOf(used, i) {
			return nil, fmt.Errorf("server: template layout.html prints the per-request value %s: only page content may", requestSlots[i].field)
		}
	}
	for _, p := range sh.parts {
		sh.size += len(p)
	}
	return sh, nil
}

func countOf(list []int, v int) int {
	n := 0
	for _, x := range list {
		if x == v {
			n++
		}
	}
	return n
}

func slotNames() string {
	names := make([]string, len(requestSlots))
	for i, s := range requestSlots {
		names[i] = s.field
	}
	return strings.Join(names, ", ")
}

// pageModule is the JavaScript module of a page's markup: it replaces its
// own script element by the markup, with the request's values (carried in
// the element's data-uc-* attributes) put where the markers are.
func pageModule(name string, product connect.Product, markup string, used []int) []byte {
	markupJS, _ := json.Marshal(markup)
	slots := map[string]string{}
	for _, i := range used {
		slots[slotMarker(i)] = "data-uc-" + requestSlots[i].attr
	}
	slotsJS, _ := json.Marshal(slots)
	return []byte(`// The markup of templates/` + name + ` for ` + productName(product) + `, rendered by the server at start-up.
const markup = ` + string(markupJS) + `;
const slots = ` + string(slotsJS) + `;
const urlAttrs = new Set(['href', 'src', 'action', 'formaction', 'cite', 'poster', 'xlink:href']);
const el = document.querySelector('script[data-uc-page]');
const values = Object.entries(slots).map(([mark, attr]) => [mark, el.getAttribute(attr) || '']);
const has = (s) => values.some(([mark]) => s.includes(mark));
const fill = (s) => values.reduce((acc, [mark, v]) => acc.split(mark).join(v), s);
const safeURL = (u) => (/^[^:/?#]*:/.test(u) && !/^(https?|mailto):/i.test(u) ? '#' : u);
const tpl = document.createElement('template');
tpl.innerHTML = markup;
const walk = document.createTreeWalker(tpl.content, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT);
for (let n = walk.nextNode(); n; n = walk.nextNode()) {
  if (n.nodeType === Node.TEXT_NODE) {
    if (has(n.data)) n.data = fill(n.data);
    continue;
  }
  for (const a of Array.from(n.attributes)) {
    if (!has(a.value)) continue;
    const name = a.name.toLowerCase();
    const v = name.startsWith('on') || name === 'style' ? '' : fill(a.value);
    n.setAttribute(a.name, urlAttrs.has(name) ? safeURL(v) : v);
  }
}
el.replaceWith(tpl.content);
`)
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
	return writeHTML(c, status, []byte(s.pages.assets.rewrite(buf.String())))
}

// writeHTML sends a complete HTML body with its length, as c.HTMLBlob
// would, but sets the headers by their canonical keys: Header.Set
// canonicalises a key on every call, and this runs on every page load.
func writeHTML(c echo.Context, status int, body []byte) error {
	setHTMLHeaders(c, len(body))
	c.Response().WriteHeader(status)
	_, err := c.Response().Write(body)
	return err
}

// setHTMLHeaders sets Content-Length, and Content-Type unless a handler
// chose one, as c.HTMLBlob does.
func setHTMLHeaders(c echo.Context, length int) {
	h := c.Response().Header()
	h[echo.HeaderContentLength] = []string{strconv.Itoa(length)}
	if h.Get(echo.HeaderContentType) == "" {
		h[echo.HeaderContentType] = []string{echo.MIMETextHTMLCharsetUTF8}
	}
}

// page serves an admin page (or dialog) for an authenticated admin: the
// shell of the page, whose module puts the page's markup in place and
// whose script module loads the data through the JSON API with
// AP.context.getToken() tokens.
func (s *Server) page(name string) echo.HandlerFunc {
	return func(c echo.Context) error {
		a, ok := connect.AuthFrom(c.Request().Context())
		if !ok {
			return &authError{err: connect.ErrNoToken}
		}
		sh, ok := s.pages.shells[a.App.Product][name]
		if !ok {
			return fmt.Errorf("server: no page %q for %s", name, a.App.Product)
		}
		d := s.pageData(c)
		var stack [4]string // a page prints few request values: no allocation
		values := stack[:0]
		if len(sh.slots) > len(stack) {
			values = make([]string, 0, len(sh.slots))
		}
		values = values[:len(sh.slots)]
		n := sh.fill(&d, values)
		setHTMLHeaders(c, n)
		c.Response().WriteHeader(http.StatusOK)
		return sh.writeTo(c.Response(), values)
	}
}
