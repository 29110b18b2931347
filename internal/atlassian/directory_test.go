package atlassian_test

import (
	"context"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/atlassian"
	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
)

func groupsByName(c *atlassiantest.Cloud) map[string]atlassiantest.Group {
	m := map[string]atlassiantest.Group{}
	for _, g := range c.Groups() {
		m[g.Name] = g
	}
	return m
}

func TestJiraProducts(t *testing.T) {
	c := newCloud(t, atlassiantest.Options{Seed: 2, Users: 50})
	c.SetSeats(cleanup.ProductJiraSoftware, 250)
	c.SetSeats(cleanup.ProductJiraServiceDesk, -1) // unlimited
	s := newSite(t, c, connect.Jira, fastOptions(c))
	got, err := s.Products(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	g := groupsByName(c)
	// The seats: numberOfSeats as set, userCount the distinct members of
	// the product's groups (what the fake counts against the licence).
	used := func(groups ...string) int {
		m := map[string]bool{}
		for _, name := range groups {
			for _, id := range c.Members(g[name].ID) {
				m[id] = true
			}
		}
		return len(m)
	}
	want := []cleanup.ProductAccess{
		{Key: cleanup.ProductJiraSoftware, Name: "Jira Software",
			GroupIDs:        []string{g[atlassiantest.GroupJiraSoftware].ID, g[atlassiantest.GroupEntraJira].ID},
			DefaultGroupIDs: []string{g[atlassiantest.GroupJiraSoftware].ID}, Listed: true,
			Seats: &cleanup.Seats{Licensed: 250, Used: used(atlassiantest.GroupJiraSoftware, atlassiantest.GroupEntraJira)}},
		{Key: cleanup.ProductJiraServiceDesk, Name: "Jira Service Management",
			GroupIDs:        []string{g[atlassiantest.GroupJiraServiceMgmt].ID},
			DefaultGroupIDs: []string{g[atlassiantest.GroupJiraServiceMgmt].ID}, Listed: true,
			Seats: &cleanup.Seats{Licensed: -1, Used: used(atlassiantest.GroupJiraServiceMgmt), Unlimited: true}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Products mismatch (-want +got):\n%s", diff)
	}
	// Confluence has no API that lists its licensing groups: it lists
	// itself, without groups (the Organizations API finds them).
	conf := newSite(t, c, connect.Confluence, fastOptions(c))
	wantConf := []cleanup.ProductAccess{{Key: cleanup.ProductConfluence, Name: "Confluence"}}
	if p, err := conf.Products(context.Background()); err != nil || !cmp.Equal(wantConf, p) {
		t.Errorf("Confluence Products = %v, %v; want %v", p, err, wantConf)
	}
	if conf.CloudID() != c.Site(connect.Confluence).CloudID() {
		t.Errorf("CloudID = %q, want the installation's %q", conf.CloudID(), c.Site(connect.Confluence).CloudID())
	}
}

func TestSiteGroupsAndMembers(t *testing.T) {
	// 260 extra groups: more than one page in both Jira (50) and Confluence (200).
	c := newCloud(t, atlassiantest.Options{Seed: 4, Users: 700, ExtraGroups: 260})
	var wantGroups []cleanup.SiteGroup
	for _, g := range c.Groups() {
		wantGroups = append(wantGroups, cleanup.SiteGroup{ID: g.ID, Name: g.Name})
	}
	jsw := groupsByName(c)[atlassiantest.GroupJiraSoftware]
	wantMembers := c.Members(jsw.ID)
	if len(wantMembers) <= atlassian.ConfluencePageSize {
		t.Fatalf("seed too small: %d members", len(wantMembers))
	}
	for _, p := range []connect.Product{connect.Jira, connect.Confluence} {
		t.Run(string(p), func(t *testing.T) {
			s := newSite(t, c, p, fastOptions(c))
			got, err := s.Groups(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantGroups, got); diff != "" {
				t.Errorf("Groups mismatch (-want +got):\n%s", diff)
			}
			ids, err := s.GroupMemberIDs(context.Background(), jsw.ID)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantMembers, ids); diff != "" {
				t.Errorf("members mismatch (-want +got):\n%s", diff)
			}
			members, err := s.GroupMembers(context.Background(), jsw.ID)
			if err != nil {
				t.Fatal(err)
			}
			types := map[string]bool{}
			for _, m := range members {
				u, _ := c.User(m.AccountID)
				if m.AccountType != u.AccountType {
					t.Errorf("%s: account type %q, want %q", m.AccountID, m.AccountType, u.AccountType)
				}
				types[m.AccountType] = true
			}
			if !types[cleanup.AccountApp] || !types[cleanup.AccountAtlassian] {
				t.Errorf("account types seen %v, want app and atlassian", types)
			}
			_, err = s.GroupMemberIDs(context.Background(), "no-such-group")
			if k := cleanup.KindOf(err); k != cleanup.KindNotFound {
				t.Errorf("unknown group kind = %v (%v), want not found", k, err)
			}
		})
	}
}

func TestJiraProductGroups(t *testing.T) {
	c := newCloud(t, atlassiantest.Options{Seed: 5, Users: 30})
	s := newSite(t, c, connect.Jira, fastOptions(c))
	got, err := s.ProductGroups(context.Background(), cleanup.ProductJiraSoftware)
	if err != nil {
		t.Fatal(err)
	}
	g := groupsByName(c)
	want := []cleanup.SiteGroup{
		{ID: g[atlassiantest.GroupJiraSoftware].ID, Name: atlassiantest.GroupJiraSoftware},
		{ID: g[atlassiantest.GroupEntraJira].ID, Name: atlassiantest.GroupEntraJira},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ProductGroups mismatch (-want +got):\n%s", diff)
	}
}

func TestSiteRemoveGroupMember(t *testing.T) {
	for _, p := range []connect.Product{connect.Jira, connect.Confluence} {
		t.Run(string(p), func(t *testing.T) {
			c := newCloud(t, atlassiantest.Options{Seed: 6, Users: 100})
			g := groupsByName(c)
			plain := g[atlassiantest.GroupJiraSoftware]
			synced := g[atlassiantest.GroupEntraJira]
			o := fastOptions(c)
			o.GroupSynced = func(id string) bool { return id == synced.ID }
			s := newSite(t, c, p, o)
			member := c.Members(plain.ID)[0]
			syncedMember := c.Members(synced.ID)[0]
			ctx := context.Background()

			if err := s.RemoveGroupMember(ctx, plain.ID, member); err != nil {
				t.Fatalf("remove: %v", err)
			}
			if slices.Contains(c.Members(plain.ID), member) {
				t.Errorf("member still in group after removal")
			}
			if err := s.RemoveGroupMember(ctx, plain.ID, member); err != nil {
				t.Errorf("second removal: %v, want success", err)
			}
			err := s.RemoveGroupMember(ctx, synced.ID, syncedMember)
			if k := cleanup.KindOf(err); k != cleanup.KindExternallyManaged {
				t.Errorf("synced removal kind = %v (%v), want externally managed", k, err)
			}
			if !slices.Contains(c.Members(synced.ID), syncedMember) {
				t.Errorf("synced membership was removed")
			}
			want := []atlassiantest.Call{
				{Service: string(p), GroupID: plain.ID, AccountID: member, Result: "removed"},
				{Service: string(p), GroupID: plain.ID, AccountID: member, Result: "not-member"},
				{Service: string(p), GroupID: synced.ID, AccountID: syncedMember, Result: "externally-managed"},
			}
			if diff := cmp.Diff(want, c.Calls(), cmpopts.IgnoreFields(atlassiantest.Call{}, "Method", "Path", "Status")); diff != "" {
				t.Errorf("calls mismatch (-want +got):\n%s", diff)
			}

			// Without the group flags, a 409 would still be recognised but a
			// 400/403 is reported as what it says.
			bare := newSite(t, c, p, fastOptions(c))
			err = bare.RemoveGroupMember(ctx, synced.ID, syncedMember)
			if k := cleanup.KindOf(err); k != cleanup.KindInvalid && k != cleanup.KindForbidden {
				t.Errorf("synced removal without flags kind = %v, want invalid or forbidden", k)
			}
		})
	}
}

func TestOrgTestConnection(t *testing.T) {
	c := newCloud(t, atlassiantest.Options{Seed: 7, Users: 10, APIKey: "good-key"})
	tests := []struct {
		name  string
		creds cleanup.OrgCredentials
		want  cleanup.Kind
	}{
		{"ok", cleanup.OrgCredentials{OrgID: c.OrgID(), APIKey: "good-key"}, cleanup.KindOther},
		{"wrong key", cleanup.OrgCredentials{OrgID: c.OrgID(), APIKey: "bad-key"}, cleanup.KindUnauthorized},
		{"wrong org", cleanup.OrgCredentials{OrgID: "other-org", APIKey: "good-key"}, cleanup.KindNotFound},
		{"missing scope", cleanup.OrgCredentials{OrgID: c.OrgID(), APIKey: "scoped-key"}, cleanup.KindForbidden},
	}
	c.AddScopedAPIKey("scoped-key")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			org, err := atlassian.NewOrg(tc.creds, fastOptions(c))
			if err != nil {
				t.Fatal(err)
			}
			err = org.TestConnection(context.Background())
			if tc.want == cleanup.KindOther {
				if err != nil {
					t.Fatalf("TestConnection: %v", err)
				}
				return
			}
			if k := cleanup.KindOf(err); k != tc.want {
				t.Fatalf("kind = %v (%v), want %v", k, err, tc.want)
			}
			if msg := err.Error(); strings.Contains(msg, tc.creds.APIKey) {
				t.Errorf("error leaks the key: %s", msg)
			}
		})
	}
	for _, creds := range []cleanup.OrgCredentials{{APIKey: "k"}, {OrgID: "o"}} {
		if _, err := atlassian.NewOrg(creds, atlassian.Options{}); cleanup.KindOf(err) != cleanup.KindNotConfigured {
			t.Errorf("NewOrg(%+v) = %v, want not configured", creds.OrgID, err)
		}
	}
}

func newOrg(t *testing.T, c *atlassiantest.Cloud, o atlassian.Options) *atlassian.Org {
	t.Helper()
	org, err := atlassian.NewOrg(cleanup.OrgCredentials{OrgID: c.OrgID(), APIKey: "test-org-api-key"}, o)
	if err != nil {
		t.Fatal(err)
	}
	return org
}

func TestOrgGroups(t *testing.T) {
	c := newCloud(t, atlassiantest.Options{Seed: 8, Users: 50, ExtraGroups: 150})
	org := newOrg(t, c, fastOptions(c))
	got, err := org.Groups(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var want []cleanup.OrgGroup
	for _, g := range c.Groups() {
		want = append(want, cleanup.OrgGroup{ID: g.ID, Name: g.Name, Description: g.Description,
			ExternalSynced: g.ExternalSynced, ManagedBy: g.ManagedBy, Modifiable: g.Modifiable, MemberCount: len(c.Members(g.ID))})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Groups mismatch (-want +got):\n%s", diff)
	}
	var synced int
	for _, g := range got {
		if g.SyncedFromIdP() {
			synced++
		}
	}
	if synced == 0 {
		t.Errorf("no synced groups in the seed")
	}
}

// wantOrgUser is what the client should make of a seeded user.
func wantOrgUser(u atlassiantest.User) cleanup.OrgUser {
	o := cleanup.OrgUser{AccountID: u.AccountID, Name: u.Name, Email: u.Email, AccountType: u.AccountType,
		Status: u.Status, Managed: u.Managed, ManagementSource: u.ManagementSource, AddedToOrg: u.AddedToOrg,
		GroupIDs: u.GroupIDs, Roles: u.Roles}
	if len(u.LastActive) > 0 {
		o.LastActive = u.LastActive
	}
	return o
}

var orgUserOpts = []cmp.Option{cmpopts.EquateEmpty(), cmpopts.EquateApproxTime(0)}

func TestOrgSearchUsers(t *testing.T) {
	c := newCloud(t, atlassiantest.Options{Seed: 9, Users: 450})
	org := newOrg(t, c, fastOptions(c))
	// The directory lists Atlassian accounts; apps and customers are
	// product-only (see TestSiteGroupsAndMembers).
	var want []cleanup.OrgUser
	for _, u := range c.Users() {
		if u.AccountType == cleanup.AccountAtlassian {
			want = append(want, wantOrgUser(u))
		}
	}
	ctx := context.Background()

	t.Run("pages", func(t *testing.T) {
		var got []cleanup.OrgUser
		cursor, pages := "", 0
		for {
			p, err := org.SearchUsers(ctx, cleanup.UserQuery{}, cursor)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			got = append(got, p.Users...)
			if p.Next == "" {
				break
			}
			cursor = p.Next
		}
		if want := ceilDiv(len(want), 100); pages != want {
			t.Errorf("pages = %d, want %d", pages, want)
		}
		if diff := cmp.Diff(want, got, orgUserOpts...); diff != "" {
			t.Errorf("users mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("scan", func(t *testing.T) {
		var got []cleanup.OrgUser
		err := org.ScanUsers(ctx, cleanup.UserQuery{}, func(u []cleanup.OrgUser) error {
			got = append(got, u...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		sort.Slice(got, func(i, j int) bool { return got[i].AccountID < got[j].AccountID })
		sorted := slices.Clone(want)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i].AccountID < sorted[j].AccountID })
		if diff := cmp.Diff(sorted, got, orgUserOpts...); diff != "" {
			t.Errorf("scan mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("filters", func(t *testing.T) {
		ids := []string{want[5].AccountID, want[7].AccountID}
		p, err := org.SearchUsers(ctx, cleanup.UserQuery{AccountIDs: ids}, "")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]cleanup.OrgUser{want[5], want[7]}, p.Users, orgUserOpts...); diff != "" || p.Next != "" {
			t.Errorf("by account (-want +got):\n%s next=%q", diff, p.Next)
		}
		jsm := groupsByName(c)[atlassiantest.GroupJiraServiceMgmt]
		var inJSM []cleanup.OrgUser
		err = org.EachUser(ctx, cleanup.UserQuery{GroupIDs: []string{jsm.ID}, Limit: 7}, func(u []cleanup.OrgUser) error {
			inJSM = append(inJSM, u...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var wantIDs, gotIDs []string
		wantIDs = c.Members(jsm.ID)
		for _, u := range inJSM {
			gotIDs = append(gotIDs, u.AccountID)
		}
		if diff := cmp.Diff(wantIDs, gotIDs); diff != "" {
			t.Errorf("by group (-want +got):\n%s", diff)
		}
	})
}

func TestOrgActions(t *testing.T) {
	c := newCloud(t, atlassiantest.Options{Seed: 10, Users: 200})
	org := newOrg(t, c, fastOptions(c))
	ctx := context.Background()
	g := groupsByName(c)
	plain, synced := g[atlassiantest.GroupConfluence], g[atlassiantest.GroupEntraConfluence]
	member, syncedMember := c.Members(plain.ID)[3], c.Members(synced.ID)[0]

	if _, err := org.Groups(ctx); err != nil { // learns the sync flags
		t.Fatal(err)
	}
	if err := org.RemoveGroupMember(ctx, plain.ID, member); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if err := org.RemoveGroupMember(ctx, plain.ID, member); err != nil {
		t.Errorf("second remove: %v, want success", err)
	}
	if err := org.RemoveGroupMember(ctx, synced.ID, syncedMember); cleanup.KindOf(err) != cleanup.KindExternallyManaged {
		t.Errorf("synced remove = %v, want externally managed", err)
	}

	var active, unmanaged, syncedUser, invited string
	for _, u := range c.Users() {
		switch {
		case u.Status != cleanup.StatusActive || u.AccountType != cleanup.AccountAtlassian || len(u.Roles) > 0:
		case !u.Managed && unmanaged == "":
			unmanaged = u.AccountID
		case u.ManagementSource == cleanup.SourceSynced && syncedUser == "":
			syncedUser = u.AccountID
		case u.ManagementSource == cleanup.SourceInvited && invited == "":
			invited = u.AccountID
		case active == "":
			active = u.AccountID
		}
	}
	status := func(id string) string { u, _ := c.User(id); return u.Status }
	if err := org.Suspend(ctx, active); err != nil || status(active) != cleanup.StatusSuspended {
		t.Errorf("suspend: %v, status %s", err, status(active))
	}
	if err := org.Restore(ctx, active); err != nil || status(active) != cleanup.StatusActive {
		t.Errorf("restore: %v, status %s", err, status(active))
	}
	if err := org.Suspend(ctx, "no-such-user"); cleanup.KindOf(err) != cleanup.KindNotFound {
		t.Errorf("suspend unknown = %v, want not found", err)
	}
	if err := org.Deactivate(ctx, invited, "inactive for 400 days"); err != nil || status(invited) != cleanup.StatusDeactivated {
		t.Errorf("deactivate: %v, status %s", err, status(invited))
	}
	if err := org.Deactivate(ctx, invited, ""); err != nil {
		t.Errorf("second deactivate: %v, want success", err)
	}
	if err := org.Deactivate(ctx, unmanaged, ""); cleanup.KindOf(err) != cleanup.KindForbidden {
		t.Errorf("deactivate unmanaged = %v, want forbidden", err)
	}
	if err := org.Deactivate(ctx, syncedUser, ""); cleanup.KindOf(err) != cleanup.KindExternallyManaged {
		t.Errorf("deactivate synced = %v, want externally managed", err)
	}
	want := []atlassiantest.Call{
		{Service: "org", GroupID: plain.ID, AccountID: member, Result: "removed"},
		{Service: "org", GroupID: plain.ID, AccountID: member, Result: "not-member"},
		{Service: "org", GroupID: synced.ID, AccountID: syncedMember, Result: "externally-managed"},
		{Service: "org", AccountID: active, Result: "suspended"},
		{Service: "org", AccountID: active, Result: "restored"},
		{Service: "org", AccountID: "no-such-user", Result: "not-found"},
		{Service: "user-management", AccountID: invited, Result: "deactivated"},
		{Service: "user-management", AccountID: invited, Result: "already-deactivated"},
		{Service: "user-management", AccountID: unmanaged, Result: "forbidden"},
		{Service: "user-management", AccountID: syncedUser, Result: "externally-managed"},
	}
	if diff := cmp.Diff(want, c.Calls(), cmpopts.IgnoreFields(atlassiantest.Call{}, "Method", "Path", "Status")); diff != "" {
		t.Errorf("calls mismatch (-want +got):\n%s", diff)
	}
}

func TestOrgReadOnlyKey(t *testing.T) {
	c := newCloud(t, atlassiantest.Options{Seed: 11, Users: 20})
	c.AddAPIKey("read-only", false)
	org, err := atlassian.NewOrg(cleanup.OrgCredentials{OrgID: c.OrgID(), APIKey: "read-only"}, fastOptions(c))
	if err != nil {
		t.Fatal(err)
	}
	if err := org.TestConnection(context.Background()); err != nil {
		t.Fatalf("TestConnection: %v", err)
	}
	if err := org.Suspend(context.Background(), c.Users()[5].AccountID); cleanup.KindOf(err) != cleanup.KindForbidden {
		t.Errorf("suspend with read-only key = %v, want forbidden", err)
	}
}

func TestOrgLastActive(t *testing.T) {
	c := newCloud(t, atlassiantest.Options{Seed: 12, Users: 80})
	org := newOrg(t, c, fastOptions(c))
	var never, some int
	for _, u := range c.Users()[:40] {
		got, err := org.LastActive(context.Background(), u.AccountID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(u.LastActive, got, cmpopts.EquateEmpty(), cmpopts.EquateApproxTime(0)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", u.AccountID, diff)
		}
		for _, at := range got {
			if at.IsZero() {
				never++
			} else {
				some++
			}
		}
	}
	if never == 0 || some == 0 {
		t.Errorf("want both never-active and active products, got never=%d active=%d", never, some)
	}
	if _, err := org.LastActive(context.Background(), "nobody"); cleanup.KindOf(err) != cleanup.KindNotFound {
		t.Errorf("unknown = %v, want not found", err)
	}
}

// TestSeedFacts checks the generator produces every case the engine needs.
func TestSeedFacts(t *testing.T) {
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	c := newCloud(t, atlassiantest.Options{Seed: 13, Users: 2000, Now: func() time.Time { return now }})
	var apps, customers, managed, unmanaged, synced, noEmail, suspended, deactivated, admins, guests int
	var oldest time.Time = now
	for _, u := range c.Users() {
		switch u.AccountType {
		case cleanup.AccountApp:
			apps++
		case cleanup.AccountCustomer:
			customers++
		}
		if u.Managed {
			managed++
		} else if u.AccountType == cleanup.AccountAtlassian {
			unmanaged++
		}
		if u.ManagementSource == cleanup.SourceSynced {
			synced++
			if u.UPN != u.Email {
				t.Errorf("synced user %s: UPN %q != e-mail %q", u.AccountID, u.UPN, u.Email)
			}
		}
		if u.Guest && u.Email != "" {
			guests++
			if !strings.Contains(u.UPN, "#EXT#") {
				t.Errorf("guest %s has UPN %q", u.AccountID, u.UPN)
			}
		}
		if u.Email == "" && u.AccountType == cleanup.AccountAtlassian {
			noEmail++
		}
		switch u.Status {
		case cleanup.StatusSuspended:
			suspended++
		case cleanup.StatusDeactivated:
			deactivated++
		}
		if len(u.Roles) > 0 {
			admins++
		}
		for _, at := range u.LastActive {
			if !at.IsZero() && at.Before(oldest) {
				oldest = at
			}
		}
	}
	for name, n := range map[string]int{"apps": apps, "customers": customers, "managed": managed, "unmanaged": unmanaged,
		"synced": synced, "hidden e-mail": noEmail, "suspended": suspended, "deactivated": deactivated, "admins": admins, "guests": guests} {
		if n == 0 {
			t.Errorf("seed has no %s", name)
		}
	}
	if now.Sub(oldest) < 365*24*time.Hour {
		t.Errorf("oldest activity %v is less than a year ago", oldest)
	}
	again := atlassiantest.New(atlassiantest.Options{Seed: 13, Users: 2000, Now: func() time.Time { return now }})
	defer again.Close()
	if diff := cmp.Diff(c.Users(), again.Users()); diff != "" {
		t.Errorf("seed not deterministic:\n%s", diff)
	}
}

func TestOrgProductGroups(t *testing.T) {
	c := newCloud(t, atlassiantest.Options{Seed: 14, Users: 50})
	org := newOrg(t, c, fastOptions(c))
	g := groupsByName(c)
	names := func(gs []cleanup.OrgGroup) []string {
		var out []string
		for _, x := range gs {
			out = append(out, x.Name)
		}
		return out
	}
	tests := []struct {
		name      string
		resources []string
		want      []string
	}{
		{"confluence site", []string{atlassian.ResourceARI(cleanup.ProductConfluence, c.Site(connect.Confluence).CloudID())},
			[]string{atlassiantest.GroupConfluence, atlassiantest.GroupEntraConfluence}},
		{"jira software", []string{atlassian.ResourceARI(cleanup.ProductJiraSoftware, c.Site(connect.Jira).CloudID())},
			[]string{atlassiantest.GroupJiraSoftware, atlassiantest.GroupEntraJira}},
		{"confluence on a jira site", []string{atlassian.ResourceARI(cleanup.ProductConfluence, c.Site(connect.Jira).CloudID())}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := org.ProductGroups(context.Background(), tc.resources, nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, names(got), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	// The synced licensing group is known as synced afterwards.
	got, _ := org.ProductGroups(context.Background(), tests[0].resources, nil)
	for _, x := range got {
		if x.ID == g[atlassiantest.GroupEntraConfluence].ID && !x.SyncedFromIdP() {
			t.Errorf("entra group not flagged as synced")
		}
	}
	if _, err := org.ProductGroups(context.Background(), nil, nil); cleanup.KindOf(err) != cleanup.KindInvalid {
		t.Errorf("no resources = %v, want invalid", err)
	}
	// GroupsGranting is the same search for one product of one site.
	conf, err := org.GroupsGranting(context.Background(), cleanup.ProductConfluence, c.Site(connect.Confluence).CloudID())
	if err != nil || !cmp.Equal(tests[0].want, names(conf)) {
		t.Errorf("GroupsGranting = %v, %v; want %v", names(conf), err, tests[0].want)
	}
	// Filter values the fake refuses as the API documents: the client
	// reports them as invalid input, with the API's detail.
	for name, call := range map[string]func() error{
		"not an ARI": func() error {
			_, err := org.ProductGroups(context.Background(), []string{"confluence:" + c.Site(connect.Confluence).CloudID()}, nil)
			return err
		},
		"unknown role": func() error {
			_, err := org.ProductGroups(context.Background(), tests[0].resources, []string{"confluence/user"})
			return err
		},
	} {
		if err := call(); cleanup.KindOf(err) != cleanup.KindInvalid {
			t.Errorf("%s: %v, want invalid input", name, err)
		}
	}
}

// TestOrgGroupOrigin: the client reads the documented origin fields as
// the fake reports them, and a group whose origin is not reported stays
// unreported (not synced, not managed in Atlassian), whatever its
// managementAccess says.
func TestOrgGroupOrigin(t *testing.T) {
	c := newCloud(t, atlassiantest.Options{Seed: 15, Users: 20})
	quiet := c.AddGroup(atlassiantest.Group{Name: "quiet", ManagedBy: "admins", Modifiable: false, OriginUnreported: true})
	org := newOrg(t, c, fastOptions(c))
	got, err := org.Groups(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	origin := map[string]string{}
	for _, g := range got {
		origin[g.Name] = g.Origin()
	}
	want := map[string]string{
		atlassiantest.GroupJiraSoftware: cleanup.OriginAtlassian,
		atlassiantest.GroupEntraJira:    cleanup.OriginSynced,
		"quiet":                         cleanup.OriginUnreported,
	}
	for name, o := range want {
		if origin[name] != o {
			t.Errorf("%s: origin %q, want %q", name, origin[name], o)
		}
	}
	if quiet.ID == "" {
		t.Error("AddGroup returned no id")
	}
}

func TestClientsShareAndReplace(t *testing.T) {
	cs := atlassian.NewClients(atlassian.Options{})
	tenant := &connect.Tenant{ClientKey: "c1", AppKey: "app", ProductType: connect.Jira, BaseURL: "https://x.atlassian.net", SharedSecret: "s1"}
	a, err := cs.Site(tenant)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := cs.Site(tenant)
	if a != b {
		t.Errorf("same installation got two clients")
	}
	reinstalled := *tenant
	reinstalled.SharedSecret = "s2"
	if c, _ := cs.Site(&reinstalled); c == a {
		t.Errorf("a new shared secret reused the old client")
	}
	o1, _ := cs.Org(cleanup.OrgCredentials{OrgID: "o", APIKey: "k1"})
	o2, _ := cs.Org(cleanup.OrgCredentials{OrgID: "o", APIKey: "k1"})
	o3, _ := cs.Org(cleanup.OrgCredentials{OrgID: "o", APIKey: "k2"})
	if o1 != o2 || o1 == o3 {
		t.Errorf("org clients: same key shared %v, new key replaced %v", o1 == o2, o1 != o3)
	}
	if _, err := cs.Org(cleanup.OrgCredentials{OrgID: "o"}); cleanup.KindOf(err) != cleanup.KindNotConfigured {
		t.Errorf("missing key = %v, want not configured", err)
	}
}
