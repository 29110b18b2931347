package atlassian

import (
	"context"
	"testing"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
)

const testClientKey = "client-jira"

// memorySources is one installation and its stored settings, in memory.
type memorySources struct {
	tenant   *connect.Tenant
	settings cleanup.Settings
	creds    cleanup.Credentials
}

func (m *memorySources) GetTenant(_ context.Context, clientKey string) (*connect.Tenant, error) {
	if clientKey != m.tenant.ClientKey {
		return nil, connect.ErrUnknownTenant
	}
	return m.tenant, nil
}

func (m *memorySources) Settings(context.Context, string) (cleanup.Settings, error) {
	return m.settings, nil
}

func (m *memorySources) Credentials(context.Context, string) (cleanup.Credentials, error) {
	return m.creds, nil
}

// TestConnectorSharesClientsAndSyncedGroups: a tenant's jobs share one
// Site and one Org client (one concurrency bound and rate-limit pacing per
// tenant), the admin check gets the same Site client through Clients, and
// once the Organizations API listed a group as synced, the product's 400
// on removing one of its members is KindExternallyManaged.
func TestConnectorSharesClientsAndSyncedGroups(t *testing.T) {
	ctx := context.Background()
	cloud := atlassiantest.New(atlassiantest.Options{Seed: 3, Users: 60})
	t.Cleanup(cloud.Close)
	src := &memorySources{
		tenant:   cloud.Site(connect.Jira).Install("com.example.usercleanup", testClientKey, "shared-secret-of-the-test-installation-0123456789"),
		settings: cleanup.DefaultSettings(),
		creds:    cleanup.Credentials{APIKey: "test-org-api-key"},
	}
	src.settings.OrgID = cloud.OrgID()
	conn := &Connector{Tenants: src, Credentials: src, Atlassian: Options{OrgAPIURL: cloud.APIURL(), UserMgmtURL: cloud.APIURL()}}
	g, ok := cloud.GroupByName(atlassiantest.GroupEntraJira)
	if !ok {
		t.Fatal("no synced group")
	}
	synced := g.ID
	members := cloud.Members(synced)
	if len(members) == 0 {
		t.Fatal("the synced group has no members")
	}

	s1, err := conn.Site(ctx, testClientKey)
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := conn.Site(ctx, testClientKey)
	if s1 != s2 {
		t.Error("two jobs of a tenant got different Site clients")
	}
	o1, err := conn.Org(ctx, testClientKey)
	if err != nil {
		t.Fatal(err)
	}
	o2, _ := conn.Org(ctx, testClientKey)
	if o1.(*recordingOrg).OrgDirectory != o2.(*recordingOrg).OrgDirectory {
		t.Error("two jobs of a tenant got different Org clients")
	}
	if admin, err := conn.Clients().Site(src.tenant); err != nil || cleanup.SiteDirectory(admin) != s1 {
		t.Errorf("the admin check got another Site client (%v)", err)
	}

	// Before the organization's groups were read, the 400 is just invalid.
	if err := s1.RemoveGroupMember(ctx, synced, members[0]); cleanup.KindOf(err) != cleanup.KindInvalid {
		t.Fatalf("before listing groups: %v (%s), want KindInvalid", err, cleanup.KindOf(err))
	}
	if _, err := o1.Groups(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s1.RemoveGroupMember(ctx, synced, members[0]); cleanup.KindOf(err) != cleanup.KindExternallyManaged {
		t.Errorf("after listing groups: %v (%s), want KindExternallyManaged", err, cleanup.KindOf(err))
	}
	// Not configured: no factory, no connection.
	if _, err := conn.IdP(ctx, testClientKey); cleanup.KindOf(err) != cleanup.KindNotConfigured {
		t.Errorf("IdP without a connection: %v", err)
	}
}
