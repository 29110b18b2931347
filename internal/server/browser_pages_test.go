package server_test

import (
	"testing"

	"github.com/example/usercleanup/connect"
)

// TestBrowserPageMarkupFilled: the static page markup is in place with the
// request's values where the template printed them.
func TestBrowserPageMarkupFilled(t *testing.T) {
	e := newUIEnv(t)
	for _, p := range []connect.Product{connect.Jira, connect.Confluence} {
		t.Run(string(p), func(t *testing.T) {
			ctx := e.tab(t)
			e.open(t, ctx, p, "cleanup", e.admin)
			f := e.frame(t, ctx, "/"+string(p)+"/admin/cleanup")
			waitJS(t, f, "the schedules", `document.querySelector('#schedules .uc-state-empty, #schedules-table') !== null`)
			site := e.tenants[p].DisplayURL
			if site == "" {
				site = e.tenants[p].BaseURL
			}
			link := evalJS[[]string](t, f, `(() => { const a = document.querySelector('.uc-page-header a'); return [a.getAttribute('href'), a.textContent]; })()`)
			if len(link) != 2 || link[0] != site || link[1] != site {
				t.Errorf("site link = %q, want href and text %q", link, site)
			}
			if n := evalJS[int](t, f, `document.documentElement.outerHTML.split('ucslot').length - 1`); n != 0 {
				t.Errorf("%d placeholders left in the page", n)
			}
			if n := evalJS[int](t, f, `document.querySelectorAll('script[data-uc-page]').length`); n != 0 {
				t.Error("the markup module's script element is still there")
			}
		})
	}
}
