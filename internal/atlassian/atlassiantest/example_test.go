package atlassiantest_test

import (
	"context"
	"fmt"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/atlassian"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
)

// Example shows the fake as tests and the demo use it: seed an
// organization, install the app in its Jira site, and talk to both APIs
// through the real clients.
func Example() {
	cloud := atlassiantest.New(atlassiantest.Options{Seed: 7, Users: 300})
	defer cloud.Close()

	opts := atlassian.Options{HTTPClient: cloud.HTTPClient(), OrgAPIURL: cloud.APIURL(), UserMgmtURL: cloud.APIURL()}
	org, err := atlassian.NewOrg(cleanup.OrgCredentials{OrgID: cloud.OrgID(), APIKey: "test-org-api-key"}, opts)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	groups, _ := org.Groups(ctx)
	synced := map[string]bool{}
	for _, g := range groups {
		if g.SyncedFromIdP() {
			synced[g.ID] = true
			fmt.Println("synced:", g.Name)
		}
	}

	// The product client learns the sync flags from the Organizations API.
	tenant := cloud.Site(connect.Jira).Install("com.example.usercleanup", "client-1", "shared-secret")
	opts.GroupSynced = func(id string) bool { return synced[id] }
	site, err := atlassian.NewSite(tenant, tenant.AppKey, opts)
	if err != nil {
		panic(err)
	}
	products, _ := site.Products(ctx)
	for _, p := range products {
		fmt.Println(p.Key, len(p.GroupIDs), "licensing groups")
	}
	entra, _ := cloud.GroupByName(atlassiantest.GroupEntraJira)
	err = site.RemoveGroupMember(ctx, entra.ID, cloud.Members(entra.ID)[0])
	fmt.Println(cloud.Calls()[0].Result, cleanup.KindOf(err))
	// Output:
	// synced: entra-jira-software
	// synced: entra-confluence
	// synced: entra-team-04
	// synced: entra-team-08
	// jira-software 2 licensing groups
	// jira-servicedesk 1 licensing groups
	// externally-managed externally managed
}
