package connect_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/connect"
)

// minimalTemplate exercises every template feature.
const minimalTemplate = `{
  "$vars": {
    "jira": { "LOC": "admin_plugins_menu/sec" },
    "confluence": { "LOC": "system.admin/marketplace_confluence" }
  },
  "key": "${APP_KEY}.${PRODUCT}",
  "name": "Test <&> App",
  "baseUrl": "${BASE_URL}/${PRODUCT}",
  "authentication": { "type": "jwt" },
  "apiMigrations": { "signed-install": true, "context-qsh": true },
  "lifecycle": { "installed": "/installed", "uninstalled": "/uninstalled" },
  "scopes": ["READ"],
  "modules": {
    "webSections": [
      { "$products": ["jira"], "key": "sec", "location": "admin_plugins_menu", "name": { "value": "Sec" } }
    ],
    "adminPages": [
      { "key": "settings", "name": { "value": "Settings" }, "url": "/admin/settings", "location": "${LOC}" }
    ]
  }
}`

func TestRenderDescriptorTemplateFeatures(t *testing.T) {
	tests := []struct {
		product connect.Product
		want    string
	}{
		{connect.Jira, `{
  "key": "com.example.app.jira",
  "name": "Test <&> App",
  "baseUrl": "https://app.example.com/jira",
  "authentication": {
    "type": "jwt"
  },
  "apiMigrations": {
    "signed-install": true,
    "context-qsh": true
  },
  "lifecycle": {
    "installed": "/installed",
    "uninstalled": "/uninstalled"
  },
  "scopes": [
    "READ"
  ],
  "modules": {
    "webSections": [
      {
        "key": "sec",
        "location": "admin_plugins_menu",
        "name": {
          "value": "Sec"
        }
      }
    ],
    "adminPages": [
      {
        "key": "settings",
        "name": {
          "value": "Settings"
        },
        "url": "/admin/settings",
        "location": "admin_plugins_menu/sec"
      }
    ]
  }
}
`},
		{connect.Confluence, `{
  "key": "com.example.app.confluence",
  "name": "Test <&> App",
  "baseUrl": "https://app.example.com/confluence",
  "authentication": {
    "type": "jwt"
  },
  "apiMigrations": {
    "signed-install": true,
    "context-qsh": true
  },
  "lifecycle": {
    "installed": "/installed",
    "uninstalled": "/uninstalled"
  },
  "scopes": [
    "READ"
  ],
  "modules": {
    "adminPages": [
      {
        "key": "settings",
        "name": {
          "value": "Settings"
        },
        "url": "/admin/settings",
        "location": "system.admin/marketplace_confluence"
      }
    ]
  }
}
`},
	}
	for _, tc := range tests {
		t.Run(string(tc.product), func(t *testing.T) {
			got, err := connect.RenderDescriptor([]byte(minimalTemplate), connect.DescriptorParams{
				Product: tc.product, BaseURL: "https://app.example.com", AppKey: "com.example.app",
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, string(got)); diff != "" {
				t.Errorf("rendered (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRenderDescriptorErrors(t *testing.T) {
	valid := connect.DescriptorParams{Product: connect.Jira, BaseURL: "https://app.example.com", AppKey: "com.example.app"}
	tests := []struct {
		name   string
		tmpl   string
		params func(p *connect.DescriptorParams)
	}{
		{"unknown product", minimalTemplate, func(p *connect.DescriptorParams) { p.Product = "bitbucket" }},
		{"app key with a quote", minimalTemplate, func(p *connect.DescriptorParams) { p.AppKey = `x","evil":"1` }},
		{"app key with a space", minimalTemplate, func(p *connect.DescriptorParams) { p.AppKey = "com example" }},
		{"http base URL", minimalTemplate, func(p *connect.DescriptorParams) { p.BaseURL = "http://app.example.com" }},
		{"relative base URL", minimalTemplate, func(p *connect.DescriptorParams) { p.BaseURL = "/app" }},
		{"base URL with query", minimalTemplate, func(p *connect.DescriptorParams) { p.BaseURL = "https://app.example.com?x=1" }},
		{"not JSON", `{"key": `, nil},
		{"trailing data", minimalTemplate + "{}", nil},
		{"duplicate key", `{"key": "a", "key": "b"}`, nil},
		{"top level array", `[]`, nil},
		{"unknown placeholder", strings.Replace(minimalTemplate, "${LOC}", "${NOPE}", 1), nil},
		{"unterminated placeholder", strings.Replace(minimalTemplate, "${LOC}", "${LOC", 1), nil},
		{"unknown directive", strings.Replace(minimalTemplate, `"$products"`, `"$product"`, 1), nil},
		{"$vars redefines a built-in", strings.Replace(minimalTemplate, `"LOC"`, `"PRODUCT"`, 1), nil},
		{"key not built from the app key", strings.Replace(minimalTemplate, "${APP_KEY}.${PRODUCT}", "other.key", 1), nil},
		{"baseUrl not built from the base URL", strings.Replace(minimalTemplate, "${BASE_URL}/${PRODUCT}", "https://elsewhere.example.com", 1), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := valid
			if tc.params != nil {
				tc.params(&p)
			}
			out, err := connect.RenderDescriptor([]byte(tc.tmpl), p)
			if !errors.Is(err, connect.ErrInvalidDescriptor) {
				t.Fatalf("err = %v, want ErrInvalidDescriptor (output %s)", err, out)
			}
		})
	}
	// Loopback http is accepted for local development.
	p := valid
	p.BaseURL = "http://localhost:8080"
	if _, err := connect.RenderDescriptor([]byte(minimalTemplate), p); err != nil {
		t.Fatalf("localhost: %v", err)
	}
}

// TestValidateDescriptor mutates a valid descriptor and expects each
// mutation to be reported.
func TestValidateDescriptor(t *testing.T) {
	base, err := connect.RenderDescriptor([]byte(minimalTemplate), connect.DescriptorParams{
		Product: connect.Jira, BaseURL: "https://app.example.com", AppKey: "com.example.app",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := connect.ValidateDescriptor(base); err != nil {
		t.Fatalf("valid descriptor rejected: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(d map[string]any)
		want   string // substring of the error
	}{
		{"key missing", func(d map[string]any) { delete(d, "key") }, "key"},
		{"key with a slash", func(d map[string]any) { d["key"] = "a/b" }, "key"},
		{"key too long", func(d map[string]any) { d["key"] = strings.Repeat("k", 65) }, "key"},
		{"name missing", func(d map[string]any) { delete(d, "name") }, "name is required"},
		{"baseUrl http", func(d map[string]any) { d["baseUrl"] = "http://app.example.com/jira" }, "https"},
		{"baseUrl trailing slash", func(d map[string]any) { d["baseUrl"] = "https://app.example.com/jira/" }, "slash"},
		{"baseUrl too long", func(d map[string]any) { d["baseUrl"] = "https://app.example.com/" + strings.Repeat("p", 200) }, "longer"},
		{"authentication none", func(d map[string]any) { d["authentication"] = map[string]any{"type": "none"} }, "authentication"},
		{"signed-install off", func(d map[string]any) { d["apiMigrations"] = map[string]any{"context-qsh": true} }, "signed-install"},
		{"context-qsh off", func(d map[string]any) {
			d["apiMigrations"] = map[string]any{"signed-install": true, "context-qsh": false}
		}, "context-qsh"},
		{"installed missing", func(d map[string]any) { d["lifecycle"] = map[string]any{"uninstalled": "/uninstalled"} }, "lifecycle.installed"},
		{"absolute lifecycle URL", func(d map[string]any) {
			d["lifecycle"] = map[string]any{"installed": "https://evil.example.com/i", "uninstalled": "/uninstalled"}
		}, "lifecycle.installed"},
		{"unknown scope", func(d map[string]any) { d["scopes"] = []any{"READ", "GOD_MODE"} }, "scope"},
		{"module key with a dot", func(d map[string]any) { module(d, "adminPages")["key"] = "settings.page" }, "key"},
		{"module key with underscore", func(d map[string]any) { module(d, "adminPages")["key"] = "settings_page" }, "key"},
		{"duplicate module key", func(d map[string]any) { module(d, "adminPages")["key"] = "sec" }, "already used"},
		{"page without url", func(d map[string]any) { delete(module(d, "adminPages"), "url") }, "url"},
		{"page with protocol-relative url", func(d map[string]any) { module(d, "adminPages")["url"] = "//evil.example.com/x" }, "url"},
		{"page without name", func(d map[string]any) { delete(module(d, "adminPages"), "name") }, "name"},
		{"web section without location", func(d map[string]any) { delete(module(d, "webSections"), "location") }, "location"},
		{"dialog with a bad size", func(d map[string]any) {
			mods := d["modules"].(map[string]any)
			mods["dialogs"] = []any{map[string]any{"key": "dlg", "url": "/d", "options": map[string]any{"size": "huge"}}}
		}, "size"},
		{"module not an object", func(d map[string]any) { d["modules"].(map[string]any)["adminPages"] = []any{"x"} }, "must be an object"},
		{"directive left over", func(d map[string]any) { module(d, "adminPages")["$products"] = []any{"jira"} }, "directives"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d map[string]any
			if err := json.Unmarshal(base, &d); err != nil {
				t.Fatal(err)
			}
			tc.mutate(d)
			data, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			err = connect.ValidateDescriptor(data)
			if !errors.Is(err, connect.ErrInvalidDescriptor) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrInvalidDescriptor mentioning %q", err, tc.want)
			}
		})
	}
}

// module returns the first module of the type.
func module(d map[string]any, typ string) map[string]any {
	return d["modules"].(map[string]any)[typ].([]any)[0].(map[string]any)
}

func TestDescriptorParamsApp(t *testing.T) {
	p := connect.DescriptorParams{Product: connect.Confluence, BaseURL: "https://app.example.com/", AppKey: "com.example.app"}
	want := connect.App{Key: "com.example.app.confluence", BaseURL: "https://app.example.com/confluence", Product: connect.Confluence}
	if diff := cmp.Diff(want, p.App()); diff != "" {
		t.Errorf("App (-want +got):\n%s", diff)
	}
}
