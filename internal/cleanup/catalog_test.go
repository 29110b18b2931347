package cleanup_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/cleanup/cleanuptest"
)

// settingsOnly is a cleanup.Store that knows the tenant's settings and
// nothing else (Service.Groups needs no more).
type settingsOnly struct {
	cleanup.Store
	s cleanup.Settings
}

func (f settingsOnly) Settings(context.Context, string) (cleanup.Settings, error) { return f.s, nil }

func catalogOf(t *testing.T, d *cleanuptest.Directory, s cleanup.Settings) cleanup.GroupCatalog {
	t.Helper()
	svc, err := cleanup.NewService(settingsOnly{s: s}, d.Connector(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := svc.Groups(context.Background(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// licensing lists the catalog's licensing groups as "name: products".
func licensing(c cleanup.GroupCatalog) []string {
	var out []string
	for _, g := range c.Groups {
		if g.Licensing {
			out = append(out, g.Name+": "+strings.Join(g.ProductKeys(), ","))
		}
	}
	return out
}

func products(c cleanup.GroupCatalog) []string {
	var out []string
	for _, p := range c.Products {
		out = append(out, fmt.Sprintf("%s from %s: %s", p.Key, p.GroupsFrom, strings.Join(p.Warnings, " / ")))
	}
	return out
}

// confluenceDirectory is a Confluence site: the product lists no groups;
// the organization knows which groups hold a role on it.
func confluenceDirectory() *cleanuptest.Directory {
	groups := []cleanup.OrgGroup{
		{ID: "g-conf", Name: "confluence-users", ManagedBy: "admins", Modifiable: true},
		{ID: "g-conf-entra", Name: "entra-confluence", ExternalSynced: true, ManagedBy: "external"},
		{ID: "g-team", Name: "team", ManagedBy: "admins", Modifiable: true},
	}
	return cleanuptest.NewDirectory(nil, groups, []cleanup.ProductAccess{
		{Key: cleanup.ProductConfluence, Name: "Confluence", GroupIDs: []string{"g-conf", "g-conf-entra"}},
	})
}

// TestCatalogFindsConfluenceLicensingGroups: Confluence's licensing groups
// come from the Organizations API (groups holding a product role on the
// site); an admin's list overrides them; without the organization or the
// site's cloud id the page says why none are found.
func TestCatalogFindsConfluenceLicensingGroups(t *testing.T) {
	s := cleanup.DefaultSettings()
	s.OrgID, s.APIKeySet = "org-1", true

	c := catalogOf(t, confluenceDirectory(), s)
	if diff := cmp.Diff([]string{"confluence-users: confluence", "entra-confluence: confluence"}, licensing(c)); diff != "" {
		t.Errorf("discovered licensing groups (-want +got):\n%s", diff)
	}
	if got := products(c); len(got) != 1 || !strings.HasPrefix(got[0], "confluence from organization: ") || len(c.Products[0].Discovered) != 2 {
		t.Errorf("products %v, want Confluence's groups from the organization", got)
	}

	over := s
	over.LicensingGroups = map[string][]string{cleanup.ProductConfluence: {"g-team"}}
	c = catalogOf(t, confluenceDirectory(), over)
	if diff := cmp.Diff([]string{"team: confluence"}, licensing(c)); diff != "" {
		t.Errorf("overridden licensing groups (-want +got):\n%s", diff)
	}
	if got := c.Products[0]; got.GroupsFrom != cleanup.GroupsFromSettings || len(got.Discovered) != 2 {
		t.Errorf("product %+v: want the override, with the two discovered groups shown", got)
	}

	noOrg := cleanup.DefaultSettings()
	c = catalogOf(t, confluenceDirectory(), noOrg)
	if len(licensing(c)) != 0 || !strings.Contains(products(c)[0], "set the organization ID and API key") {
		t.Errorf("without the organization: %v %v", licensing(c), products(c))
	}

	d := confluenceDirectory()
	d.SiteCloudID = ""
	c = catalogOf(t, d, s)
	if len(licensing(c)) != 0 || !strings.Contains(products(c)[0], "did not tell the site's cloud ID") {
		t.Errorf("without a cloud id: %v %v", licensing(c), products(c))
	}

	d = confluenceDirectory()
	d.Fail("GroupsGranting", &cleanup.Error{Kind: cleanup.KindUnavailable, Message: "down"})
	svc, _ := cleanup.NewService(settingsOnly{s: s}, d.Connector(), nil, nil)
	if _, err := svc.Groups(context.Background(), tenant); cleanup.KindOf(err) != cleanup.KindUnavailable {
		t.Errorf("unavailable Organizations API: %v, want unavailable", err)
	}
}

// TestCatalogCrossChecksJira: Jira's own list is used; when the
// Organizations API reports other groups for the product, Settings warns.
func TestCatalogCrossChecksJira(t *testing.T) {
	s := cleanup.DefaultSettings()
	s.OrgID, s.APIKeySet = "org-1", true
	groups := []cleanup.OrgGroup{
		{ID: "g-jsw", Name: "jira-software-users", ManagedBy: "admins", Modifiable: true},
		{ID: "g-old", Name: "old-jira-users", ManagedBy: "admins", Modifiable: true},
	}
	d := cleanuptest.NewDirectory(nil, groups, []cleanup.ProductAccess{
		{Key: cleanup.ProductJiraSoftware, Name: "Jira Software", GroupIDs: []string{"g-jsw"}, Listed: true},
	})
	if got := products(catalogOf(t, d, s)); !cmp.Equal([]string{"jira-software from product: "}, got) {
		t.Errorf("agreeing answers: %v", got)
	}
	d.OrgGranting = map[string][]string{cleanup.ProductJiraSoftware: {"g-jsw", "g-old"}}
	c := catalogOf(t, d, s)
	want := []string{`jira-software from product: Jira lists "jira-software-users" as its licensing groups, but the Organizations API reports "jira-software-users", "old-jira-users" on this site; User Cleanup uses Jira's list`}
	if diff := cmp.Diff(want, products(c)); diff != "" {
		t.Errorf("products (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"jira-software-users: jira-software"}, licensing(c)); diff != "" {
		t.Errorf("licensing groups (-want +got):\n%s", diff)
	}
}

// TestCatalogWarnsWhenToggleAndAtlassianDisagree: the product toggle on
// with a group Atlassian reports as managed in Atlassian, or off with one
// it reports as synced, is a warning on the product; the group keeps what
// Atlassian reports. An override silences it for its group.
func TestCatalogWarnsWhenToggleAndAtlassianDisagree(t *testing.T) {
	s := cleanup.DefaultSettings()
	s.OrgID, s.APIKeySet = "org-1", true
	groups := []cleanup.OrgGroup{
		{ID: "g-jsw", Name: "jira-software-users", ManagedBy: "admins", Modifiable: true},
		{ID: "g-entra", Name: "entra-jira-software", ExternalSynced: true, ManagedBy: "external"},
	}
	dir := func() *cleanuptest.Directory {
		return cleanuptest.NewDirectory(nil, groups, []cleanup.ProductAccess{
			{Key: cleanup.ProductJiraSoftware, Name: "Jira Software", GroupIDs: []string{"g-jsw", "g-entra"}, Listed: true},
		})
	}
	off := catalogOf(t, dir(), s)
	want := []string{`jira-software from product: Provisioning is not enabled for Jira Software, but Atlassian reports "entra-jira-software" as synced from an identity provider: their members are removed in the identity provider, not in Atlassian.`}
	if diff := cmp.Diff(want, products(off)); diff != "" {
		t.Errorf("toggle off (-want +got):\n%s", diff)
	}

	s.IdentityProvider.ProvisioningEnabled = map[string]bool{cleanup.ProductJiraSoftware: true}
	on := catalogOf(t, dir(), s)
	want = []string{`jira-software from product: Provisioning is enabled for Jira Software, but Atlassian reports "jira-software-users" as managed in Atlassian: their members are removed in Atlassian. If Atlassian is wrong, set the group to synced below.`}
	if diff := cmp.Diff(want, products(on)); diff != "" {
		t.Errorf("toggle on (-want +got):\n%s", diff)
	}
	decisions := map[string]string{}
	for _, g := range on.Groups {
		decisions[g.Name] = g.Decision
	}
	wantDecisions := map[string]string{
		"jira-software-users": "managed in Atlassian: reported by Atlassian, although provisioning is enabled",
		"entra-jira-software": "synced: reported by Atlassian",
	}
	if diff := cmp.Diff(wantDecisions, decisions); diff != "" {
		t.Errorf("decisions (-want +got):\n%s", diff)
	}

	s.IdentityProvider.GroupOverrides = map[string]bool{"g-jsw": true}
	if got := products(catalogOf(t, dir(), s)); !cmp.Equal([]string{"jira-software from product: "}, got) {
		t.Errorf("with an override: %v, want no warning", got)
	}
}
