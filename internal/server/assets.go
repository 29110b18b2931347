package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// Static assets: every file of web/static is served at /static/<path>
// and, under a name carrying a hash of its content, at
// /static/<dir>/<name>.<hash>.<ext>. A hashed URL never changes meaning,
// so it is cached for a year ("immutable"); the plain URL is revalidated
// (ETag) on every use. Pages refer to the hashed URLs only: the HTML the
// server renders has its /static/ references rewritten (assetSet.rewrite),
// and JavaScript modules have their relative imports rewritten to the
// hashed URLs of the modules they import, so a whole module graph is
// fetched once and then served from the browser's cache until a file
// changes.

// staticPrefix is the URL path the assets are served under.
const staticPrefix = "/static/"

// Cache-Control of the two kinds of asset URL.
const (
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheRevalidate = "no-cache"
)

// asset is one servable file.
type asset struct {
	body        []byte
	contentType string
	etag        string // quoted
	hashedPath  string // path under staticPrefix with the content hash
	immutable   bool   // served under its hashed path
}

// assetSet is every asset, by path under staticPrefix (plain and hashed).
type assetSet struct {
	files  map[string]*asset
	hashed map[string]string // plain path → hashed path
	urls   *strings.Replacer // `"/static/plain"` → `"/static/hashed"`
}

// importSpec matches the relative module specifiers of static imports
// and exports ("import x from './a.js'", "export * from './a.js'",
// "import './a.js'") and dynamic imports ("import('./a.js')").
var importSpec = regexp.MustCompile(`(\bfrom\s*|\bimport\s*\(?\s*)(['"])(\.\.?/[^'"\s]+)(['"])`)

// newAssetSet reads every file under root in fsys and hashes it, modules
// after the modules they import.
func newAssetSet(fsys fs.FS, root string) (*assetSet, error) {
	raw := map[string][]byte{}
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		raw[strings.TrimPrefix(p, root+"/")] = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("server: static files: %w", err)
	}
	a := &assetSet{files: map[string]*asset{}, hashed: map[string]string{}}
	visiting := map[string]bool{}
	var add func(p string) error
	add = func(p string) error {
		if _, done := a.hashed[p]; done {
			return nil
		}
		if visiting[p] {
			return fmt.Errorf("server: static module %s imports itself (a cycle): hashed URLs need an acyclic module graph", p)
		}
		visiting[p] = true
		defer delete(visiting, p)
		body := raw[p]
		if path.Ext(p) == ".js" {
			var err error
			if body, err = a.rewriteImports(p, body, raw, add); err != nil {
				return err
			}
		}
		a.put(p, body)
		return nil
	}
	paths := make([]string, 0, len(raw))
	for p := range raw {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if err := add(p); err != nil {
			return nil, err
		}
	}
	a.buildReplacer()
	return a, nil
}

// rewriteImports replaces the relative imports of the module at p by the
// hashed URLs of their targets, adding the targets first.
func (a *assetSet) rewriteImports(p string, body []byte, raw map[string][]byte, add func(string) error) ([]byte, error) {
	var firstErr error
	out := importSpec.ReplaceAllFunc(body, func(m []byte) []byte {
		sub := importSpec.FindSubmatch(m)
		target := path.Join(path.Dir(p), string(sub[3]))
		if _, ok := raw[target]; !ok {
			if firstErr == nil {
				firstErr = fmt.Errorf("server: static module %s imports %s, which does not exist", p, sub[3])
			}
			return m
		}
		if err := add(target); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return m
		}
		return []byte(string(sub[1]) + string(sub[2]) + staticPrefix + a.hashed[target] + string(sub[4]))
	})
	return out, firstErr
}

// put adds a generated or read asset under its plain path p.
func (a *assetSet) put(p string, body []byte) {
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:6])
	ext := path.Ext(p)
	hashed := strings.TrimSuffix(p, ext) + "." + hash + ext
	ct := mime.TypeByExtension(ext)
	switch ext { // not left to the system's MIME table
	case ".js", ".mjs":
		ct = "text/javascript; charset=utf-8"
	case ".css":
		ct = "text/css; charset=utf-8"
	case ".html":
		ct = "text/html; charset=utf-8"
	}
	if ct == "" {
		ct = http.DetectContentType(body)
	}
	plain := &asset{body: body, contentType: ct, etag: `"` + hash + `"`, hashedPath: hashed}
	immutable := *plain
	immutable.immutable = true
	a.files[p] = plain
	a.files[hashed] = &immutable
	a.hashed[p] = hashed
}

// buildReplacer prepares rewrite.
func (a *assetSet) buildReplacer() {
	pairs := make([]string, 0, 2*len(a.hashed))
	for p, h := range a.hashed {
		pairs = append(pairs, `"`+staticPrefix+p+`"`, `"`+staticPrefix+h+`"`)
	}
	a.urls = strings.NewReplacer(pairs...)
}

// rewrite replaces every quoted reference to an asset's plain URL in
// rendered HTML by its hashed URL.
func (a *assetSet) rewrite(html string) string { return a.urls.Replace(html) }

// url returns the hashed URL of the asset at plain path p.
func (a *assetSet) url(p string) string { return staticPrefix + a.hashed[p] }

// serve answers GET /static/*.
func (a *assetSet) serve(c echo.Context) error {
	p := strings.TrimPrefix(c.Request().URL.Path, staticPrefix)
	f, ok := a.files[p]
	if !ok {
		return echo.ErrNotFound
	}
	h := c.Response().Header()
	h.Set("ETag", f.etag)
	if f.immutable {
		h.Set("Cache-Control", cacheImmutable)
	} else {
		h.Set("Cache-Control", cacheRevalidate)
		if etagMatches(c.Request().Header.Get("If-None-Match"), f.etag) {
			return c.NoContent(http.StatusNotModified)
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(f.body)))
	return c.Blob(http.StatusOK, f.contentType, f.body)
}

// etagMatches reports whether an If-None-Match header lists etag (or *).
func etagMatches(header, etag string) bool {
	for _, v := range strings.Split(header, ",") {
		v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
		if v == etag || v == "*" {
			return true
		}
	}
	return false
}
