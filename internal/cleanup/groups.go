package cleanup

import (
	"cmp"
	"slices"
	"strings"
)

// Where the effective "synced" verdict of a group comes from, strongest
// first (ClassifyGroups).
const (
	SyncSourceAdmin        = "admin"        // a per-group override in settings
	SyncSourceReported     = "reported"     // the Organizations API reports it: synced, or managed in Atlassian
	SyncSourceProvisioning = "provisioning" // not reported; "Is user provisioning enabled?" is on for a product it grants
	SyncSourceNone         = "none"         // not reported, and no toggle is on: managed in Atlassian
)

// Where removing a member of a group happens.
const (
	RemovalAtlassian       = "atlassian"        // remove the membership in Atlassian
	RemovalIdP             = "idp"              // remove it in the configured identity provider
	RemovalIdPUnconfigured = "idp-unconfigured" // synced, but no identity provider is configured: manual
	// RemovalIdPUnmapped: synced, and the identity-provider connection
	// found no group the membership could be removed from (the mapping
	// names none, several, or one whose members cannot be changed): its
	// users need manual action (GroupInfo.RemovalNote says why) instead of
	// going to a bulk-remove file for a group that does not exist.
	RemovalIdPUnmapped      = "idp-unmapped"
	messageIdPUnconfigured  = "group synced from an identity provider, no identity provider configured"
	messageDeactivateInIdP  = "the account is synced from an identity provider: deactivate in the identity provider"
	messageUnmanagedAccount = "the account is not managed by your organization (no verified domain): it cannot be deactivated, remove its product access instead"
)

// ProductRef names a product.
type ProductRef struct {
	Key  string `json:"key"`
	Name string `json:"name"`
}

// GroupInfo is the effective view of one group: what it grants, whether an
// identity provider owns its membership and therefore where removal happens.
// ClassifyGroups computes it; the API lists it and the evaluator uses it.
type GroupInfo struct {
	ID          string       `json:"id"`
	Name        string       `json:"name"`
	Products    []ProductRef `json:"products"`  // products membership grants, sorted by key
	Licensing   bool         `json:"licensing"` // grants at least one product
	MemberCount int          `json:"memberCount"`
	// Origin is what the Organizations API reports about the group's
	// membership (OrgGroup.Origin): OriginSynced, OriginAtlassian or
	// OriginUnreported (also when the organization was not read).
	Origin string `json:"origin"`
	// SyncedDetected is Origin == OriginSynced. Run snapshots taken before
	// Origin existed carry only this.
	SyncedDetected bool `json:"syncedDetected"`
	// SyncedOverride is the admin's per-group verdict, nil when none.
	SyncedOverride *bool `json:"syncedOverride,omitempty"`
	// Synced is the effective verdict and Source says where it comes from.
	Synced bool   `json:"synced"`
	Source string `json:"source"`
	// Decision is the verdict and its source in words, e.g. "synced:
	// reported by Atlassian".
	Decision string `json:"decision"`
	// Disagreement, when set, says in words that the product's
	// provisioning toggle and what Atlassian reports disagree.
	Disagreement string `json:"disagreement,omitempty"`
	// Removal is one of the Removal* constants.
	Removal string `json:"removal"`
	// IdentityProvider is the configured provider when Synced.
	IdentityProvider string `json:"identityProvider,omitempty"`
	// IdPGroup is the identity-provider group (object id or display name)
	// the removal goes to when Synced: the mapping, else the same name.
	IdPGroup string `json:"idpGroup,omitempty"`
	// IdPGroupID is the object id of the identity-provider group a run's
	// connection found for IdPGroup ("" when not looked up or not found).
	IdPGroupID string `json:"idpGroupId,omitempty"`
	// RemovalNote says why the members need manual action
	// (RemovalIdPUnmapped), safe to show.
	RemovalNote string `json:"removalNote,omitempty"`
}

// ProductKeys returns the keys of the products the group grants.
func (g GroupInfo) ProductKeys() []string {
	keys := make([]string, len(g.Products))
	for i, p := range g.Products {
		keys[i] = p.Key
	}
	return keys
}

// ClassifyGroups merges the products' licensing groups, the
// organization's groups and the site's groups with the settings into one
// GroupInfo per group, sorted by name then id.
//
// A product's licensing groups are the settings' list for it when the
// admin set one (an override), else those in products (reported by the
// product, or found through the Organizations API; see loadCatalog).
//
// Whether a group is synced from an identity provider, strongest first:
//
//  1. a per-group override in settings (source "admin");
//  2. what the Organizations API reports (OrgGroup.Origin, source
//     "reported"): synced from an identity provider, or managed in
//     Atlassian. Both are reports: a group reported as managed in
//     Atlassian is removed in Atlassian even when the product's toggle
//     is on;
//  3. only for groups whose origin is not reported: a licensing group of
//     a product whose "Is user provisioning enabled?" toggle is on is
//     synced (source "provisioning"); else it is not (source "none").
//
// A synced group is removed in the identity provider when one is
// configured, and otherwise cannot be cleaned here at all
// (RemovalIdPUnconfigured): it is never removed locally, because the next
// sync would add the member back.
func ClassifyGroups(products []ProductAccess, orgGroups []OrgGroup, siteGroups []SiteGroup, s Settings) []GroupInfo {
	byID := mergeGroups(products, orgGroups, siteGroups, s)
	out := make([]GroupInfo, 0, len(byID))
	for _, g := range byID {
		classifyGroup(g, s.IdentityProvider)
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b GroupInfo) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// mergeGroups gathers every group the site, the organization and the
// licensing information know, with its name, member count, reported
// origin and the products it grants.
func mergeGroups(products []ProductAccess, orgGroups []OrgGroup, siteGroups []SiteGroup, s Settings) map[string]*GroupInfo {
	byID := map[string]*GroupInfo{}
	get := func(id string) *GroupInfo {
		g, ok := byID[id]
		if !ok {
			g = &GroupInfo{ID: id, MemberCount: -1, Origin: OriginUnreported}
			byID[id] = g
		}
		return g
	}
	for _, sg := range siteGroups {
		if sg.ID == "" {
			continue
		}
		g := get(sg.ID)
		if g.Name == "" {
			g.Name = sg.Name
		}
	}
	for _, og := range orgGroups {
		if og.ID == "" {
			continue
		}
		g := get(og.ID)
		if og.Name != "" {
			g.Name = og.Name
		}
		g.MemberCount = og.MemberCount
		g.Origin = og.Origin()
	}
	for _, p := range licensingProducts(products, s) {
		ref := ProductRef{Key: p.Key, Name: cmp.Or(p.Name, ProductName(p.Key))}
		for _, id := range p.GroupIDs {
			if id == "" {
				continue
			}
			g := get(id)
			if !slices.ContainsFunc(g.Products, func(q ProductRef) bool { return q.Key == p.Key }) {
				g.Products = append(g.Products, ref)
			}
		}
	}
	return byID
}

// licensingProducts applies the settings' per-product lists of licensing
// groups: a product with a list in settings is granted by exactly those
// groups (an override); a product only the settings name is added.
func licensingProducts(products []ProductAccess, s Settings) []ProductAccess {
	out := make([]ProductAccess, 0, len(products)+len(s.LicensingGroups))
	seen := map[string]bool{}
	for _, p := range products {
		seen[p.Key] = true
		if ids := s.LicensingGroups[p.Key]; len(ids) > 0 {
			p.GroupIDs = ids
		}
		out = append(out, p)
	}
	keys := make([]string, 0, len(s.LicensingGroups))
	for k := range s.LicensingGroups {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !seen[k] && len(s.LicensingGroups[k]) > 0 {
			out = append(out, ProductAccess{Key: k, Name: ProductName(k), GroupIDs: s.LicensingGroups[k]})
		}
	}
	return out
}

// classifyGroup decides whether the group is synced, and from where, and
// where removing its members happens (the rules of ClassifyGroups).
func classifyGroup(g *GroupInfo, idp IdPSettings) {
	slices.SortFunc(g.Products, func(a, b ProductRef) int { return cmp.Compare(a.Key, b.Key) })
	if g.Products == nil {
		g.Products = []ProductRef{}
	}
	g.Licensing = len(g.Products) > 0
	if g.Name == "" {
		g.Name = g.ID
	}
	if g.Origin == "" {
		g.Origin = OriginUnreported
	}
	g.SyncedDetected = g.Origin == OriginSynced
	provisioned := false
	for _, p := range g.Products {
		provisioned = provisioned || idp.ProvisioningEnabled[p.Key]
	}
	if v, ok := idp.GroupOverrides[g.ID]; ok {
		g.SyncedOverride = &v
		g.Synced, g.Source = v, SyncSourceAdmin
	} else if g.Origin != OriginUnreported {
		g.Synced, g.Source = g.Origin == OriginSynced, SyncSourceReported
	} else if provisioned {
		g.Synced, g.Source = true, SyncSourceProvisioning
	} else {
		g.Synced, g.Source = false, SyncSourceNone
	}
	g.Decision, g.Disagreement = decide(*g, provisioned)
	switch {
	case !g.Synced:
		g.Removal = RemovalAtlassian
	case idp.Configured():
		g.Removal = RemovalIdP
		g.IdentityProvider = idp.Provider
		g.IdPGroup = idp.IdPGroup(g.ID, g.Name)
	default:
		g.Removal = RemovalIdPUnconfigured
	}
}

// decide returns the group's verdict and its source in words, and the
// disagreement between the provisioning toggle of its products and what
// Atlassian reports ("" when they agree or the toggle does not apply).
func decide(g GroupInfo, provisioned bool) (decision, disagreement string) {
	products := productNames(g)
	if g.Licensing {
		switch {
		case g.Origin == OriginAtlassian && provisioned:
			disagreement = "Provisioning is enabled for " + products + ", but Atlassian reports this group as managed in Atlassian"
		case g.Origin == OriginSynced && !provisioned:
			disagreement = "Atlassian reports this group as synced from an identity provider, but provisioning is not enabled for " + products
		}
	}
	switch g.Source {
	case SyncSourceAdmin:
		if g.Synced {
			return "synced: set by an admin for this group", disagreement
		}
		return "managed in Atlassian: set by an admin for this group", disagreement
	case SyncSourceReported:
		if g.Synced {
			if disagreement != "" {
				return "synced: reported by Atlassian, although provisioning is not enabled", disagreement
			}
			return "synced: reported by Atlassian", disagreement
		}
		if disagreement != "" {
			return "managed in Atlassian: reported by Atlassian, although provisioning is enabled", disagreement
		}
		return "managed in Atlassian: reported by Atlassian", disagreement
	case SyncSourceProvisioning:
		return "synced: provisioning enabled for this app", ""
	}
	if g.Licensing {
		return "managed in Atlassian: provisioning is not enabled for this app, and Atlassian does not report where the group is managed", ""
	}
	return "managed in Atlassian: Atlassian does not report where the group is managed", ""
}

// ProductName returns the display name of a known product key, else the key.
func ProductName(key string) string {
	switch key {
	case ProductJiraSoftware:
		return "Jira Software"
	case ProductJiraServiceDesk:
		return "Jira Service Management"
	case ProductJiraCore:
		return "Jira Work Management"
	case ProductJiraProductDiscover:
		return "Jira Product Discovery"
	case ProductConfluence:
		return "Confluence"
	}
	return key
}

// groupNames returns the names of the groups with the ids, in the order
// given, quoted and joined for a message.
func groupNames(ids []string, byID map[string]GroupInfo) string {
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = cmp.Or(byID[id].Name, id)
	}
	return quoteList(names)
}

// sameSet reports whether a and b hold the same strings.
func sameSet(a, b []string) bool {
	a, b = slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b))
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// listOrNone joins names, or says "none".
func listOrNone(s string) string {
	return cmp.Or(strings.TrimSpace(s), "none")
}
