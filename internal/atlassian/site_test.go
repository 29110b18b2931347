package atlassian_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/atlassian"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
)

const (
	testAppKey = "com.example.usercleanup"
	testSecret = "s3cr3t-shared-secret-for-tests-only"
)

// newCloud starts a seeded fake cloud and closes it with the test.
func newCloud(t *testing.T, o atlassiantest.Options) *atlassiantest.Cloud {
	t.Helper()
	c := atlassiantest.New(o)
	t.Cleanup(c.Close)
	return c
}

// fastOptions are client options whose waits do not slow tests down.
func fastOptions(c *atlassiantest.Cloud) atlassian.Options {
	return atlassian.Options{
		HTTPClient: c.HTTPClient(),
		OrgAPIURL:  c.APIURL(), UserMgmtURL: c.APIURL(),
		Sleep:   func(ctx context.Context, d time.Duration) error { return ctx.Err() },
		MaxWait: time.Minute,
	}
}

func newSite(t *testing.T, c *atlassiantest.Cloud, p connect.Product, o atlassian.Options) *atlassian.Site {
	t.Helper()
	tenant := c.Site(p).Install(testAppKey, "client-"+string(p), testSecret)
	s, err := atlassian.NewSite(tenant, testAppKey, o)
	if err != nil {
		t.Fatalf("NewSite: %v", err)
	}
	return s
}

func TestSiteIsAdmin(t *testing.T) {
	c := newCloud(t, atlassiantest.Options{Seed: 1, Users: 60})
	users := c.Users()
	admin, plain := users[0].AccountID, ""
	for _, u := range users {
		if u.AccountType == cleanup.AccountAtlassian && len(u.Roles) == 0 {
			plain = u.AccountID
			break
		}
	}
	for _, p := range []connect.Product{connect.Jira, connect.Confluence} {
		t.Run(string(p), func(t *testing.T) {
			s := newSite(t, c, p, fastOptions(c))
			for _, tc := range []struct {
				account string
				want    bool
			}{{admin, true}, {users[1].AccountID, true}, {plain, false}} {
				got, err := s.IsAdmin(context.Background(), tc.account)
				if err != nil {
					t.Fatalf("IsAdmin(%s): %v", tc.account, err)
				}
				if got != tc.want {
					t.Errorf("IsAdmin(%s) = %v, want %v", tc.account, got, tc.want)
				}
			}
			_, err := s.IsAdmin(context.Background(), "no-such-account")
			if k := cleanup.KindOf(err); k != cleanup.KindNotFound {
				t.Errorf("IsAdmin(unknown) kind = %v (%v), want not found", k, err)
			}
			_, err = s.IsAdmin(context.Background(), "")
			if k := cleanup.KindOf(err); k != cleanup.KindInvalid {
				t.Errorf("IsAdmin(\"\") kind = %v, want invalid", k)
			}
		})
	}
}

// TestSiteIsSystemAdmin: the site admins (org admin and site admins, in
// the site-admins group) hold the highest admin level; a product admin who
// is not one of them, and a plain user, do not.
func TestSiteIsSystemAdmin(t *testing.T) {
	c := newCloud(t, atlassiantest.Options{Seed: 1, Users: 60})
	users := c.Users()
	var plain, productAdmin string
	for _, u := range users {
		if u.AccountType != cleanup.AccountAtlassian || len(u.Roles) > 0 {
			continue
		}
		switch {
		case plain == "":
			plain = u.AccountID
		case productAdmin == "":
			productAdmin = u.AccountID
		}
	}
	if !c.SetRoles(productAdmin, "atlassian/admin") {
		t.Fatal("SetRoles")
	}
	for _, p := range []connect.Product{connect.Jira, connect.Confluence} {
		t.Run(string(p), func(t *testing.T) {
			s := newSite(t, c, p, fastOptions(c))
			ctx := context.Background()
			for _, tc := range []struct {
				name, account   string
				admin, sysAdmin bool
			}{
				{"org admin", users[0].AccountID, true, true},
				{"site admin", users[1].AccountID, true, true},
				{"product admin only", productAdmin, true, false},
				{"plain user", plain, false, false},
			} {
				admin, err := s.IsAdmin(ctx, tc.account)
				if err != nil || admin != tc.admin {
					t.Errorf("%s: IsAdmin = %v, %v; want %v", tc.name, admin, err, tc.admin)
				}
				sys, err := s.IsSystemAdmin(ctx, tc.account)
				if err != nil || sys != tc.sysAdmin {
					t.Errorf("%s: IsSystemAdmin = %v, %v; want %v", tc.name, sys, err, tc.sysAdmin)
				}
			}
			if _, err := s.IsSystemAdmin(ctx, "no-such-account"); cleanup.KindOf(err) != cleanup.KindNotFound {
				t.Errorf("IsSystemAdmin(unknown) = %v, want not found", err)
			}
			if _, err := s.IsSystemAdmin(ctx, ""); cleanup.KindOf(err) != cleanup.KindInvalid {
				t.Errorf("IsSystemAdmin(\"\") = %v, want invalid", err)
			}
		})
	}
	byRoute, _ := c.Requests()
	for _, route := range []string{"GET /wiki/rest/api/group", "GET /wiki/rest/api/user/memberof", "POST /rest/api/3/permissions/check"} {
		if byRoute[route] == 0 {
			t.Errorf("no request to %s: %v", route, byRoute)
		}
	}
}

func TestSiteJWTRejected(t *testing.T) {
	c := newCloud(t, atlassiantest.Options{Seed: 1, Users: 20})
	admin := c.Users()[0].AccountID
	for _, p := range []connect.Product{connect.Jira, connect.Confluence} {
		site := c.Site(p)
		good := site.Install(testAppKey, "client", testSecret)
		tests := []struct {
			name   string
			tenant func() *connect.Tenant
			appKey string
			now    func() time.Time
		}{
			{"wrong secret", func() *connect.Tenant { t := *good; t.SharedSecret = "other-secret"; return &t }, testAppKey, nil},
			{"unknown app key", func() *connect.Tenant { return good }, "com.example.other", nil},
			{"expired", func() *connect.Tenant { return good }, testAppKey, func() time.Time { return time.Now().Add(-10 * time.Minute) }},
		}
		for _, tc := range tests {
			t.Run(string(p)+"/"+tc.name, func(t *testing.T) {
				o := fastOptions(c)
				o.Now = tc.now
				s, err := atlassian.NewSite(tc.tenant(), tc.appKey, o)
				if err != nil {
					t.Fatal(err)
				}
				_, err = s.IsAdmin(context.Background(), admin)
				if k := cleanup.KindOf(err); k != cleanup.KindUnauthorized {
					t.Fatalf("kind = %v (%v), want unauthorized", k, err)
				}
				if strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), "JWT ey") {
					t.Errorf("error leaks a secret: %v", err)
				}
			})
		}
	}
}

func TestNewSiteInvalid(t *testing.T) {
	good := &connect.Tenant{ClientKey: "k", ProductType: connect.Jira, BaseURL: "https://x.atlassian.net", SharedSecret: "s"}
	tests := []struct {
		name   string
		tenant *connect.Tenant
		appKey string
		field  string
	}{
		{"nil tenant", nil, "app", "tenant"},
		{"no app key", good, "", "appKey"},
		{"no secret", &connect.Tenant{ProductType: connect.Jira, BaseURL: "https://x"}, "app", "sharedSecret"},
		{"bad url", &connect.Tenant{ProductType: connect.Jira, BaseURL: "ftp://x", SharedSecret: "s"}, "app", "baseUrl"},
		{"bad product", &connect.Tenant{ProductType: "bitbucket", BaseURL: "https://x", SharedSecret: "s"}, "app", "productType"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := atlassian.NewSite(tc.tenant, tc.appKey, atlassian.Options{})
			var e *cleanup.Error
			if !errors.As(err, &e) || e.Kind != cleanup.KindInvalid || e.Field != tc.field {
				t.Fatalf("err = %v, want invalid %s", err, tc.field)
			}
		})
	}
}
