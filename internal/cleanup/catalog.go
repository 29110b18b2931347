package cleanup

import (
	"cmp"
	"context"
	"fmt"
	"slices"
)

// Where a product's licensing groups come from (ProductInfo.GroupsFrom).
const (
	GroupsFromProduct      = "product"      // the product API lists them (Jira's application roles)
	GroupsFromOrganization = "organization" // the Organizations API: groups holding a product role on the site
	GroupsFromSettings     = "settings"     // the admin's list in settings, an override
	GroupsFromNone         = "none"         // nothing says: the product has no licensing groups here
)

// ProductInfo is one product of the site as Settings shows it: its
// provisioning toggle, where its licensing groups come from and what the
// admin should look at.
type ProductInfo struct {
	Key                 string `json:"key"`
	Name                string `json:"name"`
	ProvisioningEnabled bool   `json:"provisioningEnabled"`
	// GroupsFrom is one of the GroupsFrom* constants.
	GroupsFrom string `json:"groupsFrom"`
	// Discovered are the ids of the groups the Organizations API reports
	// with a product role on the site; nil when it was not asked.
	Discovered []string `json:"discovered,omitempty"`
	// Warnings are disagreements and gaps, in words.
	Warnings []string `json:"warnings"`
}

// GroupCatalog is the site's groups classified under the settings, and
// its products.
type GroupCatalog struct {
	Groups   []GroupInfo   `json:"groups"`
	Products []ProductInfo `json:"products"`
}

// discovery is what the Organizations API said about the products'
// licensing groups: ids per product key, and notes per product key when it
// could not be asked or disagrees with the product.
type discovery struct {
	groups map[string][]string
	notes  map[string][]string
}

func (d *discovery) note(product, format string, args ...any) {
	d.notes[product] = append(d.notes[product], fmt.Sprintf(format, args...))
}

// loadCatalog reads the site's products and groups and, when org is not
// nil, the organization's groups and each product's licensing groups
// (OrgDirectory.GroupsGranting), and classifies them under the settings.
// The API and the run engine use it alike, so a run plans with exactly the
// groups the settings page shows.
//
// Licensing groups: Jira lists its own (application roles); the
// Organizations API's answer is a cross-check, and a difference is a
// warning (Jira's list is used: it is what grants the licence). Confluence
// lists none: the Organizations API's answer is its list. An admin's list
// in settings overrides both.
func loadCatalog(ctx context.Context, conn Connector, clientKey string, org OrgDirectory, set Settings) (GroupCatalog, error) {
	site, err := conn.Site(ctx, clientKey)
	if err != nil {
		return GroupCatalog{}, err
	}
	products, err := site.Products(ctx)
	if err != nil {
		return GroupCatalog{}, err
	}
	siteGroups, err := site.Groups(ctx)
	if err != nil {
		return GroupCatalog{}, err
	}
	var orgGroups []OrgGroup
	if org != nil {
		if orgGroups, err = org.Groups(ctx); err != nil {
			return GroupCatalog{}, err
		}
	}
	disc, err := discover(ctx, org, site.CloudID(), products, set)
	if err != nil {
		return GroupCatalog{}, err
	}
	for i, p := range products {
		if ids, ok := disc.groups[p.Key]; ok && !p.Listed {
			products[i].GroupIDs = ids
		}
	}
	groups := ClassifyGroups(products, orgGroups, siteGroups, set)
	return GroupCatalog{Groups: groups, Products: describeProducts(products, groups, disc, set)}, nil
}

// discover asks the Organizations API for each product's licensing groups.
// A product whose groups it cannot find gets a note instead; only an
// unavailable API (or the end of ctx) is an error.
func discover(ctx context.Context, org OrgDirectory, cloudID string, products []ProductAccess, set Settings) (discovery, error) {
	d := discovery{groups: map[string][]string{}, notes: map[string][]string{}}
	for _, p := range products {
		overridden := len(set.LicensingGroups[p.Key]) > 0
		switch {
		case org == nil:
			if !p.Listed && !overridden {
				d.note(p.Key, "%s does not say which groups grant it: set the organization ID and API key, and User Cleanup finds them through the Organizations API", productName(p))
			}
			continue
		case cloudID == "":
			if !p.Listed && !overridden {
				d.note(p.Key, "the installation did not tell the site's cloud ID, so %s's licensing groups cannot be found: choose them under \"Licensing groups\"", productName(p))
			}
			continue
		}
		found, err := org.GroupsGranting(ctx, p.Key, cloudID)
		if err != nil {
			if KindOf(err) == KindUnavailable || ctx.Err() != nil {
				return d, err
			}
			d.note(p.Key, "the Organizations API could not list the groups that grant %s: %s", productName(p), safeMessage(err))
			continue
		}
		ids := make([]string, 0, len(found))
		for _, g := range found {
			ids = append(ids, g.ID)
		}
		slices.Sort(ids)
		d.groups[p.Key] = ids
	}
	return d, nil
}

func productName(p ProductAccess) string { return cmp.Or(p.Name, ProductName(p.Key)) }

// describeProducts is the Settings view of the products: toggle, source
// of the licensing groups, and warnings (discovery notes, a product list
// that differs from the Organizations API's, a toggle that disagrees with
// what Atlassian reports for the product's groups).
func describeProducts(products []ProductAccess, groups []GroupInfo, disc discovery, set Settings) []ProductInfo {
	byID := make(map[string]GroupInfo, len(groups))
	for _, g := range groups {
		byID[g.ID] = g
	}
	toggles := set.IdentityProvider.ProvisioningEnabled
	out := []ProductInfo{}
	seen := map[string]bool{}
	for _, p := range licensingProducts(products, set) {
		seen[p.Key] = true
		info := ProductInfo{Key: p.Key, Name: productName(p), ProvisioningEnabled: toggles[p.Key],
			Discovered: disc.groups[p.Key], Warnings: append([]string{}, disc.notes[p.Key]...)}
		found, asked := disc.groups[p.Key]
		switch {
		case len(set.LicensingGroups[p.Key]) > 0:
			info.GroupsFrom = GroupsFromSettings
		case p.Listed:
			info.GroupsFrom = GroupsFromProduct
			if asked && !sameSet(found, p.GroupIDs) {
				info.Warnings = append(info.Warnings, fmt.Sprintf(
					"%s lists %s as its licensing groups, but the Organizations API reports %s on this site; User Cleanup uses %s's list",
					siteProductOwner(p.Key), listOrNone(groupNames(p.GroupIDs, byID)), listOrNone(groupNames(found, byID)), siteProductOwner(p.Key)))
			}
		case len(p.GroupIDs) > 0:
			info.GroupsFrom = GroupsFromOrganization
		default:
			info.GroupsFrom = GroupsFromNone
		}
		info.Warnings = append(info.Warnings, toggleWarnings(p, info.ProvisioningEnabled, byID)...)
		out = append(out, info)
	}
	keys := make([]string, 0, len(toggles))
	for k := range toggles {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !seen[k] {
			out = append(out, ProductInfo{Key: k, Name: ProductName(k), ProvisioningEnabled: toggles[k], GroupsFrom: GroupsFromNone, Warnings: []string{}})
		}
	}
	slices.SortStableFunc(out, func(a, b ProductInfo) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// siteProductOwner names the product API that lists a product's groups.
func siteProductOwner(productKey string) string {
	if productKey == ProductConfluence {
		return "Confluence"
	}
	return "Jira"
}

// toggleWarnings says where the product's toggle and what Atlassian
// reports for its licensing groups disagree (groups without an override:
// an override is the admin's decision).
func toggleWarnings(p ProductAccess, enabled bool, byID map[string]GroupInfo) []string {
	var managed, synced []string
	for _, id := range p.GroupIDs {
		g, ok := byID[id]
		if !ok || g.Source != SyncSourceReported {
			continue
		}
		switch {
		case enabled && g.Origin == OriginAtlassian:
			managed = append(managed, id)
		case !enabled && g.Origin == OriginSynced && g.Disagreement != "": // no other product of the group provisions it
			synced = append(synced, id)
		}
	}
	var out []string
	if len(managed) > 0 {
		out = append(out, fmt.Sprintf("Provisioning is enabled for %s, but Atlassian reports %s as managed in Atlassian: their members are removed in Atlassian. If Atlassian is wrong, set the group to synced below.",
			productName(p), groupNames(managed, byID)))
	}
	if len(synced) > 0 {
		out = append(out, fmt.Sprintf("Provisioning is not enabled for %s, but Atlassian reports %s as synced from an identity provider: their members are removed in the identity provider, not in Atlassian.",
			productName(p), groupNames(synced, byID)))
	}
	return out
}
