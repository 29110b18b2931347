package usercleanup_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	usercleanup "github.com/example/usercleanup"
	"github.com/example/usercleanup/connect"
)

var update = flag.Bool("update", false, "rewrite the descriptor golden files")

// TestDescriptorGolden renders the real template for both products and
// compares it with testdata/descriptor/<product>.golden.json.
func TestDescriptorGolden(t *testing.T) {
	for _, product := range []connect.Product{connect.Jira, connect.Confluence} {
		t.Run(string(product), func(t *testing.T) {
			got, err := connect.RenderDescriptor(usercleanup.DescriptorTemplate, connect.DescriptorParams{
				Product: product, BaseURL: "https://usercleanup.example.com", AppKey: "com.example.usercleanup",
			})
			if err != nil {
				t.Fatalf("RenderDescriptor: %v", err)
			}
			golden := filepath.Join("testdata", "descriptor", string(product)+".golden.json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("descriptor (-golden +got):\n%s", diff)
			}
		})
	}
}

// descriptor is the part of a rendered descriptor the product-specific
// assertions look at.
type descriptor struct {
	Key           string            `json:"key"`
	BaseURL       string            `json:"baseUrl"`
	Scopes        []string          `json:"scopes"`
	Lifecycle     map[string]string `json:"lifecycle"`
	APIMigrations map[string]bool   `json:"apiMigrations"`
	Modules       struct {
		WebSections     []module `json:"webSections"`
		AdminPages      []module `json:"adminPages"`
		ConfigurePage   module   `json:"configurePage"`
		PostInstallPage module   `json:"postInstallPage"`
		Dialogs         []struct {
			Key     string `json:"key"`
			URL     string `json:"url"`
			Options struct {
				Size   string            `json:"size"`
				Chrome *bool             `json:"chrome"`
				Header map[string]string `json:"header"`
			} `json:"options"`
		} `json:"dialogs"`
	} `json:"modules"`
}

type module struct {
	Key      string            `json:"key"`
	Name     map[string]string `json:"name"`
	URL      string            `json:"url"`
	Location string            `json:"location"`
}

// TestDescriptorPerProduct checks the product-specific requirements
// independently of the golden files.
func TestDescriptorPerProduct(t *testing.T) {
	tests := []struct {
		product       connect.Product
		wantSections  []module
		adminLocation string
	}{
		{connect.Jira, []module{{Key: "user-cleanup", Name: map[string]string{"value": "User Cleanup"}, Location: "admin_plugins_menu"}}, "admin_plugins_menu/user-cleanup"},
		{connect.Confluence, nil, "system.admin/marketplace_confluence"},
	}
	for _, tc := range tests {
		t.Run(string(tc.product), func(t *testing.T) {
			out, err := connect.RenderDescriptor(usercleanup.DescriptorTemplate, connect.DescriptorParams{
				Product: tc.product, BaseURL: "https://usercleanup.example.com/", AppKey: "com.example.usercleanup",
			})
			if err != nil {
				t.Fatal(err)
			}
			var d descriptor
			if err := json.Unmarshal(out, &d); err != nil {
				t.Fatal(err)
			}
			if want := "com.example.usercleanup." + string(tc.product); d.Key != want {
				t.Errorf("key = %q, want %q", d.Key, want)
			}
			if want := "https://usercleanup.example.com/" + string(tc.product); d.BaseURL != want {
				t.Errorf("baseUrl = %q, want %q", d.BaseURL, want)
			}
			if diff := cmp.Diff([]string{"READ", "WRITE", "DELETE", "ADMIN", "ACCESS_EMAIL_ADDRESSES"}, d.Scopes); diff != "" {
				t.Errorf("scopes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(map[string]string{"installed": "/installed", "uninstalled": "/uninstalled", "enabled": "/enabled", "disabled": "/disabled"}, d.Lifecycle); diff != "" {
				t.Errorf("lifecycle (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(map[string]bool{"signed-install": true, "context-qsh": true, "gdpr": true}, d.APIMigrations); diff != "" {
				t.Errorf("apiMigrations (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantSections, d.Modules.WebSections); diff != "" {
				t.Errorf("webSections (-want +got):\n%s", diff)
			}
			wantPages := []module{
				{Key: "dashboard", Name: map[string]string{"value": "Dashboard"}, URL: "/admin/dashboard", Location: tc.adminLocation},
				{Key: "users", Name: map[string]string{"value": "Users"}, URL: "/admin/users", Location: tc.adminLocation},
				{Key: "settings", Name: map[string]string{"value": "Settings"}, URL: "/admin/settings", Location: tc.adminLocation},
				{Key: "cleanup", Name: map[string]string{"value": "Scheduling and cleanup"}, URL: "/admin/cleanup", Location: tc.adminLocation},
			}
			if diff := cmp.Diff(wantPages, d.Modules.AdminPages); diff != "" {
				t.Errorf("adminPages (-want +got):\n%s", diff)
			}
			if d.Modules.ConfigurePage.URL != "/admin/settings" || d.Modules.PostInstallPage.URL != "/admin/settings" {
				t.Errorf("configurePage/postInstallPage do not open the settings page: %+v %+v", d.Modules.ConfigurePage, d.Modules.PostInstallPage)
			}
			if len(d.Modules.Dialogs) != 1 {
				t.Fatalf("dialogs = %+v", d.Modules.Dialogs)
			}
			dlg := d.Modules.Dialogs[0]
			if dlg.Key != "export-data" || dlg.URL != "/dialogs/export-data" || dlg.Options.Size != "large" ||
				dlg.Options.Chrome == nil || *dlg.Options.Chrome || dlg.Options.Header["value"] != "Export data" {
				t.Errorf("export dialog = %+v", dlg)
			}
		})
	}
}
