package server_test

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/example/usercleanup/connect"
)

var (
	staticRef    = regexp.MustCompile(`"(/static/[^"]+)"`)
	hashedName   = regexp.MustCompile(`\.[0-9a-f]{12}\.(js|css)$`)
	moduleImport = regexp.MustCompile(`from\s*'([^']+)'`)
)

// TestPageShellAndAssets: a page is a small shell with Content-Length
// whose markup and scripts come from content-hashed, immutable assets;
// every module they import has a hashed URL too.
func TestPageShellAndAssets(t *testing.T) {
	e := newEnv(t)
	tn := e.install(t, connect.Jira, "jira:site-1", "first-secret-0123456789")
	e.admins.grant(tn.ClientKey, adminID)

	r := get(t, e.pageURL(t, tn, connect.Jira, "/admin/settings", adminID))
	if r.status != http.StatusOK {
		t.Fatalf("page = %d %s", r.status, r.body)
	}
	if cl := r.header.Get("Content-Length"); cl != strconv.Itoa(len(r.body)) {
		t.Errorf("Content-Length = %q, body has %d bytes", cl, len(r.body))
	}
	if len(r.body) > 2048 {
		t.Errorf("the page is %d bytes: the static markup should not be in it", len(r.body))
	}
	if strings.Contains(r.body, "settings-form") {
		t.Error("the page carries the settings form's markup")
	}
	if !strings.Contains(r.body, `data-uc-site-url="`+tn.BaseURL+`"`) {
		t.Errorf("the page lacks the site URL for its markup:\n%s", r.body)
	}

	seen := map[string]bool{}
	var markup string
	var fetch func(u string)
	fetch = func(u string) {
		if seen[u] {
			return
		}
		seen[u] = true
		if !hashedName.MatchString(u) {
			t.Errorf("%s is not a content-hashed URL", u)
			return
		}
		a := get(t, e.URL+u)
		if a.status != http.StatusOK {
			t.Errorf("GET %s = %d", u, a.status)
			return
		}
		if cc := a.header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s: Cache-Control %q, want immutable", u, cc)
		}
		if a.header.Get("Content-Length") != strconv.Itoa(len(a.body)) {
			t.Errorf("GET %s: Content-Length %q for %d bytes", u, a.header.Get("Content-Length"), len(a.body))
		}
		if strings.HasPrefix(u, "/static/pages/") {
			markup = a.body
		}
		for _, m := range moduleImport.FindAllStringSubmatch(a.body, -1) {
			fetch(m[1])
		}
	}
	refs := staticRef.FindAllStringSubmatch(r.body, -1)
	if len(refs) < 3 { // stylesheet, markup module, page script
		t.Fatalf("the page refers to %d assets:\n%s", len(refs), r.body)
	}
	for _, m := range refs {
		fetch(m[1])
	}
	if !strings.Contains(markup, "settings-form") {
		t.Error("no page module holds the settings form's markup")
	}
	if !seen[findPrefix(seen, "/static/js/api.")] {
		t.Error("the page script's imports were not followed to api.js")
	}

	// The plain URLs still work, revalidated by ETag.
	plain := get(t, e.URL+"/static/app.css")
	etag := plain.header.Get("ETag")
	if plain.status != http.StatusOK || plain.header.Get("Cache-Control") != "no-cache" || etag == "" {
		t.Fatalf("GET /static/app.css = %d, Cache-Control %q, ETag %q", plain.status, plain.header.Get("Cache-Control"), etag)
	}
	again := do(t, http.MethodGet, e.URL+"/static/app.css", http.Header{"If-None-Match": {etag}}, nil)
	if again.status != http.StatusNotModified {
		t.Errorf("conditional GET = %d, want 304", again.status)
	}
}

func findPrefix(set map[string]bool, prefix string) string {
	for k := range set {
		if strings.HasPrefix(k, prefix) {
			return k
		}
	}
	return ""
}
