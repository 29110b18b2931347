package server

import (
	"bytes"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/example/usercleanup/connect"
)

var testApps = []connect.App{{Key: "k.jira", BaseURL: "https://app.example.com/jira", Product: connect.Jira}}

const testLayout = `{{define "layout"}}<html><head><link rel="stylesheet" href="{{.StaticURL}}/app.css"></head>` +
	`<body data-api="{{.APIBase}}">{{template "content" .}}<script type="module" src="{{.StaticURL}}/js/{{.Script}}"></script></body></html>{{end}}`

func testFS(page string, files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{
		"templates/layout.html": {Data: []byte(testLayout)},
		"templates/error.html":  {Data: []byte(`{{define "title"}}Error{{end}}{{define "content"}}{{.Message}}{{end}}`)},
		"templates/page.html":   {Data: []byte(page)},
		"static/app.css":        {Data: []byte("body{}")},
		"static/js/page.js":     {Data: []byte("import { a } from './a.js';\n")},
		"static/js/a.js":        {Data: []byte("export const a = 1;\n")},
	}
	for p, body := range files {
		fsys[p] = &fstest.MapFile{Data: []byte(body)}
	}
	return fsys
}

func TestAssetHashesFollowImports(t *testing.T) {
	hashes := func(aBody string) map[string]string {
		t.Helper()
		as, err := newAssetSet(testFS("", map[string]string{"static/js/a.js": aBody}), "static")
		if err != nil {
			t.Fatal(err)
		}
		return as.hashed
	}
	one, two := hashes("export const a = 1;\n"), hashes("export const a = 2;\n")
	if one["js/a.js"] == two["js/a.js"] {
		t.Error("a.js changed but kept its hashed name")
	}
	if one["js/page.js"] == two["js/page.js"] {
		t.Error("page.js imports the changed a.js but kept its hashed name: browsers would keep the old a.js")
	}
	if one["app.css"] != two["app.css"] {
		t.Error("app.css did not change but got a new hashed name")
	}
	as, err := newAssetSet(testFS("", nil), "static")
	if err != nil {
		t.Fatal(err)
	}
	page := string(as.files[as.hashed["js/page.js"]].body)
	if want := `from '/static/` + as.hashed["js/a.js"] + `'`; !strings.Contains(page, want) {
		t.Errorf("page.js = %q, want its import rewritten to %s", page, want)
	}
}

func TestAssetSetRefusesBrokenModuleGraphs(t *testing.T) {
	tests := map[string]map[string]string{
		"missing import": {"static/js/a.js": "import './nowhere.js';\n"},
		"cycle":          {"static/js/a.js": "import { p } from './page.js';\n"},
	}
	for name, files := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := newAssetSet(testFS("", files), "static"); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestPagePreparation(t *testing.T) {
	tests := []struct {
		name    string
		page    string
		wantErr string
	}{
		{"prints values", `{{define "title"}}T{{end}}{{define "content"}}<a href="{{.SiteURL}}">{{.SiteURL}}</a> {{.ProductName}}{{end}}`, ""},
		{"condition on a value", `{{define "title"}}T{{end}}{{define "content"}}{{if .SiteURL}}<a>x</a>{{end}}{{end}}`, "depends on per-request values"},
		{"with a value", `{{define "title"}}T{{end}}{{define "content"}}{{with .AccountID}}<b>{{.}}</b>{{end}}{{end}}`, "depends on per-request values"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := testFS(tc.page, nil)
			as, err := newAssetSet(fsys, "static")
			if err != nil {
				t.Fatal(err)
			}
			r, err := newRenderer(fsys, as, testApps, "https://cdn.example/all.js")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("newRenderer error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sh := r.shells[connect.Jira]["page.html"]
			values := make([]string, len(sh.slots))
			n := sh.fill(&pageData{SiteURL: `https://x.atlassian.net/"><script>`, AccountID: "acc"}, values)
			var buf bytes.Buffer
			if err := sh.writeTo(&buf, values); err != nil {
				t.Fatal(err)
			}
			got := buf.String()
			if n != len(got) {
				t.Errorf("fill says %d bytes, the page has %d", n, len(got))
			}
			module := as.url("pages/jira/page.js")
			want := `<html><head><link rel="stylesheet" href="/static/` + as.hashed["app.css"] + `"></head><body data-api="/jira/api">` +
				`<script type="module" src="` + module + `" data-uc-page data-uc-site-url="https://x.atlassian.net/&#34;&gt;&lt;script&gt;"></script>` +
				`<script type="module" src="/static/` + as.hashed["js/page.js"] + `"></script></body></html>`
			if got != want {
				t.Errorf("shell:\n got %s\nwant %s", got, want)
			}
			body := string(as.files[strings.TrimPrefix(module, staticPrefix)].body)
			for _, want := range []string{`\u003ca href=\"` + slotMarker(0) + `\"\u003e` + slotMarker(0) + `\u003c/a\u003e Jira`, `"data-uc-site-url"`} {
				if !strings.Contains(body, want) {
					t.Errorf("page module lacks %s:\n%s", want, body)
				}
			}
			if strings.Contains(body, "data-uc-account-id") {
				t.Error("the page module asks for a value its markup does not print")
			}
		})
	}
}

func TestLayoutMayNotPrintRequestValues(t *testing.T) {
	fsys := testFS(`{{define "title"}}T{{end}}{{define "content"}}x{{end}}`, map[string]string{
		"templates/layout.html": `{{define "layout"}}<p>{{.SiteURL}}</p>{{template "content" .}}{{end}}`,
	})
	as, err := newAssetSet(fsys, "static")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newRenderer(fsys, as, testApps, "https://cdn.example/all.js"); err == nil || !strings.Contains(err.Error(), "layout.html prints") {
		t.Errorf("newRenderer = %v, want the layout refused", err)
	}
}
