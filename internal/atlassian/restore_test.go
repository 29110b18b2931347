package atlassian_test

import (
	"context"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
)

// TestSiteAddGroupMember: a restore re-adds a removed member through the
// product (Jira POST /rest/api/3/group/user, Confluence POST
// /wiki/rest/api/group/userByGroupId); a synced group is externally
// managed; an unknown account is not found.
func TestSiteAddGroupMember(t *testing.T) {
	for _, p := range []connect.Product{connect.Jira, connect.Confluence} {
		t.Run(string(p), func(t *testing.T) {
			c := newCloud(t, atlassiantest.Options{Seed: 6, Users: 100})
			g := groupsByName(c)
			plain, synced := g[atlassiantest.GroupJiraSoftware], g[atlassiantest.GroupEntraJira]
			o := fastOptions(c)
			o.GroupSynced = func(id string) bool { return id == synced.ID }
			s := newSite(t, c, p, o)
			ctx := context.Background()
			member := c.Members(plain.ID)[0]
			before := c.Members(plain.ID)
			if err := s.RemoveGroupMember(ctx, plain.ID, member); err != nil {
				t.Fatal(err)
			}
			if err := s.AddGroupMember(ctx, plain.ID, member); err != nil {
				t.Fatalf("add: %v", err)
			}
			if diff := cmp.Diff(before, c.Members(plain.ID)); diff != "" {
				t.Errorf("members after remove and add (-want +got):\n%s", diff)
			}
			err := s.AddGroupMember(ctx, plain.ID, member)
			if p == connect.Jira && cleanup.KindOf(err) != cleanup.KindInvalid {
				t.Errorf("Jira: adding a member again = %v, want invalid (400)", err)
			}
			if p == connect.Confluence && err != nil {
				t.Errorf("Confluence: adding a member again = %v, want success", err)
			}
			outsider := ""
			for _, u := range c.Users() {
				if !slices.Contains(u.GroupIDs, synced.ID) {
					outsider = u.AccountID
					break
				}
			}
			if err := s.AddGroupMember(ctx, synced.ID, outsider); cleanup.KindOf(err) != cleanup.KindExternallyManaged {
				t.Errorf("add to a synced group = %v, want externally managed", err)
			}
			if err := s.AddGroupMember(ctx, plain.ID, "no-such-user"); cleanup.KindOf(err) != cleanup.KindNotFound {
				t.Errorf("add an unknown user = %v, want not found", err)
			}
			want := []atlassiantest.Call{
				{Service: string(p), GroupID: plain.ID, AccountID: member, Result: "removed"},
				{Service: string(p), GroupID: plain.ID, AccountID: member, Result: "added"},
				{Service: string(p), GroupID: plain.ID, AccountID: member, Result: "already-member"},
				{Service: string(p), GroupID: synced.ID, AccountID: outsider, Result: "externally-managed"},
				{Service: string(p), GroupID: plain.ID, AccountID: "no-such-user", Result: "not-found"},
			}
			if diff := cmp.Diff(want, c.Calls(), cmpopts.IgnoreFields(atlassiantest.Call{}, "Method", "Path", "Status")); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOrgReactivate: the User management API's lifecycle/enable
// reactivates a deactivated managed account; an active one succeeds; an
// unmanaged one is forbidden and a synced one externally managed.
func TestOrgReactivate(t *testing.T) {
	c := newCloud(t, atlassiantest.Options{Seed: 10, Users: 200})
	org := newOrg(t, c, fastOptions(c))
	ctx := context.Background()
	var unmanaged, syncedUser, invited string
	for _, u := range c.Users() {
		switch {
		case u.Status != cleanup.StatusActive || u.AccountType != cleanup.AccountAtlassian || len(u.Roles) > 0:
		case !u.Managed && unmanaged == "":
			unmanaged = u.AccountID
		case u.ManagementSource == cleanup.SourceSynced && syncedUser == "":
			syncedUser = u.AccountID
		case u.ManagementSource == cleanup.SourceInvited && invited == "":
			invited = u.AccountID
		}
	}
	status := func(id string) string { u, _ := c.User(id); return u.Status }
	if err := org.Deactivate(ctx, invited, "inactive"); err != nil {
		t.Fatal(err)
	}
	if err := org.Reactivate(ctx, invited); err != nil || status(invited) != cleanup.StatusActive {
		t.Errorf("reactivate: %v, status %s", err, status(invited))
	}
	if err := org.Reactivate(ctx, invited); err != nil {
		t.Errorf("second reactivate: %v, want success", err)
	}
	if err := org.Reactivate(ctx, unmanaged); cleanup.KindOf(err) != cleanup.KindForbidden {
		t.Errorf("reactivate unmanaged = %v, want forbidden", err)
	}
	if err := org.Reactivate(ctx, syncedUser); cleanup.KindOf(err) != cleanup.KindExternallyManaged {
		t.Errorf("reactivate synced = %v, want externally managed", err)
	}
	if err := org.Reactivate(ctx, "no-such-user"); cleanup.KindOf(err) != cleanup.KindNotFound {
		t.Errorf("reactivate unknown = %v, want not found", err)
	}
	want := []atlassiantest.Call{
		{Service: "user-management", AccountID: invited, Result: "deactivated"},
		{Service: "user-management", AccountID: invited, Result: "reactivated"},
		{Service: "user-management", AccountID: invited, Result: "already-active"},
		{Service: "user-management", AccountID: unmanaged, Result: "forbidden"},
		{Service: "user-management", AccountID: syncedUser, Result: "externally-managed"},
		{Service: "user-management", AccountID: "no-such-user", Result: "not-found"},
	}
	if diff := cmp.Diff(want, c.Calls(), cmpopts.IgnoreFields(atlassiantest.Call{}, "Method", "Path", "Status")); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}
