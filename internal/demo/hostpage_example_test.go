package demo_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/connect/connecttest"
	"github.com/example/usercleanup/internal/demo"
)

// A local demo serves the host page and the app from one origin: the host
// page at /host/ frames the app's admin pages with page JWTs minted for the
// chosen account, and the app's pages load /static/ap-bridge.js as their
// all.js (demo.Config.HostScriptURL).
func ExampleHostPage_Wrap() {
	tenants := connecttest.NewMemoryStore()
	_ = tenants.SaveTenant(context.Background(), &connect.Tenant{
		ClientKey: "demo-jira", SharedSecret: "demo-shared-secret-0123456789",
		ProductType: connect.Jira, BaseURL: "http://127.0.0.1:9001",
	})
	host, err := demo.NewHostPage(demo.HostPageConfig{
		Sites: []demo.HostSite{{
			App:       connect.App{Key: "com.example.usercleanup.jira", BaseURL: "http://localhost:8080/jira", Product: connect.Jira},
			ClientKey: "demo-jira",
		}},
		Users:   []demo.HostUser{{AccountID: "557058:admin", Name: "Ada Admin"}},
		Tenants: tenants,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	app := http.NotFoundHandler() // the *server.Server in the demo
	handler := host.Wrap(app)

	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, host.URL(connect.Jira, "settings", "557058:admin"), nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	// Output: 200 text/html; charset=utf-8
}
