package jobs

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
)

// TestConnectorSharesClientsAndSyncedGroups: a tenant's jobs share one
// Site and one Org client (one concurrency bound and rate-limit pacing per
// tenant), and once the Organizations API listed a group as synced, the
// product's 400 on removing one of its members is KindExternallyManaged.
func TestConnectorSharesClientsAndSyncedGroups(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, "sqlite", filepath.Join(t.TempDir(), "t.db"))
	e := newEnv(t, st, atlassiantest.Options{Seed: 3, Users: 60}, cleanup.SettingsInput{})
	synced := e.groupID(t, atlassiantest.GroupEntraJira)
	members := e.cloud.Members(synced)
	if len(members) == 0 {
		t.Fatal("the synced group has no members")
	}

	s1, err := e.conn.Site(ctx, testClientKey)
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := e.conn.Site(ctx, testClientKey)
	if s1 != s2 {
		t.Error("two jobs of a tenant got different Site clients")
	}
	o1, err := e.conn.Org(ctx, testClientKey)
	if err != nil {
		t.Fatal(err)
	}
	o2, _ := e.conn.Org(ctx, testClientKey)
	if o1.(*recordingOrg).OrgDirectory != o2.(*recordingOrg).OrgDirectory {
		t.Error("two jobs of a tenant got different Org clients")
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
	if _, err := e.conn.IdP(ctx, testClientKey); cleanup.KindOf(err) != cleanup.KindNotConfigured {
		t.Errorf("IdP without a connection: %v", err)
	}
}
