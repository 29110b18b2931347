package atlassian_test

import (
	"context"
	"testing"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/atlassian"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
)

func ceilDiv(n, d int) int { return (n + d - 1) / d }

// pages is the fewest requests that list n items at size per page: an
// empty listing still takes one request.
func pages(n, size int) int { return max(1, ceilDiv(n, size)) }

// TestMinimumRequests reads 10,000 users across 40 groups through every
// API and checks the fake saw exactly the fewest requests the page sizes
// allow: no duplicate, probing or wasted page.
func TestMinimumRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 10,000 users")
	}
	c := newCloud(t, atlassiantest.Options{Seed: 40, Users: 10000, ExtraGroups: 34})
	groups := c.Groups()
	if len(groups) != 40 {
		t.Fatalf("seed has %d groups, want 40", len(groups))
	}
	var ids []string
	var managed, directory int
	for _, g := range groups {
		ids = append(ids, g.ID)
	}
	for _, u := range c.Users() {
		if u.AccountType == cleanup.AccountAtlassian {
			directory++ // apps and customers are not in the directory
			if u.Managed {
				managed++
			}
		}
	}
	ctx := context.Background()

	for _, tc := range []struct {
		product   connect.Product
		groupsKey string
		membKey   string
		size      int
	}{
		{connect.Jira, "GET /rest/api/3/group/bulk", "GET /rest/api/3/group/member", atlassian.JiraPageSize},
		{connect.Confluence, "GET /wiki/rest/api/group", "GET /wiki/rest/api/group/{groupId}/membersByGroupId", atlassian.ConfluencePageSize},
	} {
		t.Run(string(tc.product), func(t *testing.T) {
			s := newSite(t, c, tc.product, fastOptions(c))
			c.ResetRequests()
			if _, err := s.Groups(ctx); err != nil {
				t.Fatal(err)
			}
			members, err := s.AllGroupMembers(ctx, ids)
			if err != nil {
				t.Fatal(err)
			}
			wantMembers := 0
			for _, id := range ids {
				wantMembers += pages(len(c.Members(id)), tc.size)
				if len(members[id]) != len(c.Members(id)) {
					t.Errorf("group %s: %d members, want %d", id, len(members[id]), len(c.Members(id)))
				}
			}
			got, total := c.Requests()
			want := map[string]int{tc.groupsKey: pages(40, tc.size), tc.membKey: wantMembers}
			if got[tc.groupsKey] != want[tc.groupsKey] || got[tc.membKey] != want[tc.membKey] || total != want[tc.groupsKey]+wantMembers {
				t.Errorf("requests = %v (total %d), want %v", got, total, want)
			}
			t.Logf("%s: %d requests for %d groups", tc.product, total, len(ids))
		})
	}

	t.Run("org", func(t *testing.T) {
		org := newOrg(t, c, fastOptions(c))
		c.ResetRequests()
		if _, err := org.Groups(ctx); err != nil {
			t.Fatal(err)
		}
		n := 0
		err := org.EachUser(ctx, cleanup.UserQuery{}, func(u []cleanup.OrgUser) error { n += len(u); return nil })
		if err != nil {
			t.Fatal(err)
		}
		got, total := c.Requests()
		search := "POST /admin/v2/orgs/{orgId}/directories/{dirId}/users/search"
		if n != directory || got[search] != ceilDiv(directory, 100) || total != ceilDiv(directory, 100)+1 {
			t.Errorf("read %d users with %v (total %d), want %d users with %d searches + 1 group search", n, got, total, directory, ceilDiv(directory, 100))
		}
		// The split scan costs at most one extra page (one per half).
		c.ResetRequests()
		n = 0
		if err := org.ScanUsers(ctx, cleanup.UserQuery{}, func(u []cleanup.OrgUser) error { n += len(u); return nil }); err != nil {
			t.Fatal(err)
		}
		_, total = c.Requests()
		if want := ceilDiv(managed, 100) + ceilDiv(directory-managed, 100); n != directory || total != want {
			t.Errorf("scan read %d users in %d requests, want %d in %d", n, total, directory, want)
		}
	})
}
