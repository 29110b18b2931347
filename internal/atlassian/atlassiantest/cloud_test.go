package atlassiantest_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
)

// TestJWTQSHBoundToRequest checks the fake rejects a token whose qsh was
// computed for another request, and accepts the right one.
func TestJWTQSHBoundToRequest(t *testing.T) {
	c := atlassiantest.New(atlassiantest.Options{Seed: 3, Users: 10})
	defer c.Close()
	for _, p := range []connect.Product{connect.Jira, connect.Confluence} {
		site := c.Site(p)
		tenant := site.Install("app", "client", "secret")
		path := "/rest/api/3/group/bulk?startAt=0"
		if p == connect.Confluence {
			path = "/rest/api/group?start=0"
		}
		signed, err := http.NewRequest(http.MethodGet, site.BaseURL()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := connect.SignRequest(signed, tenant, "app", time.Now()); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name   string
			target string
			want   int
		}{
			{"same request", site.BaseURL() + path, http.StatusOK},
			{"other query", site.BaseURL() + path + "0", http.StatusUnauthorized},
		}
		for _, tc := range tests {
			t.Run(string(p)+"/"+tc.name, func(t *testing.T) {
				req, _ := http.NewRequest(http.MethodGet, tc.target, nil)
				req.Header.Set("Authorization", signed.Header.Get("Authorization"))
				resp, err := c.HTTPClient().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tc.want {
					t.Errorf("status = %d, want %d", resp.StatusCode, tc.want)
				}
			})
		}
	}
}
