package cleanup

import (
	"cmp"
	"slices"
)

// Where the effective "synced" verdict of a group comes from.
const (
	SyncSourceDetected     = "detected"     // the Organizations API reports the group as IdP-synced
	SyncSourceProvisioning = "provisioning" // "Is user provisioning enabled?" is on for a product it grants
	SyncSourceAdmin        = "admin"        // a per-group override in settings
	SyncSourceNone         = "none"         // nothing says it is synced
)

// Where removing a member of a group happens.
const (
	RemovalAtlassian        = "atlassian"        // remove the membership in Atlassian
	RemovalIdP              = "idp"              // remove it in the configured identity provider
	RemovalIdPUnconfigured  = "idp-unconfigured" // synced, but no identity provider is configured: manual
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
	// SyncedDetected is what the Organizations API says.
	SyncedDetected bool `json:"syncedDetected"`
	// SyncedOverride is the admin's per-group verdict, nil when none.
	SyncedOverride *bool `json:"syncedOverride,omitempty"`
	// Synced is the effective verdict and Source says where it comes from.
	Synced bool   `json:"synced"`
	Source string `json:"source"`
	// Removal is RemovalAtlassian, RemovalIdP or RemovalIdPUnconfigured.
	Removal string `json:"removal"`
	// IdentityProvider is the configured provider when Synced.
	IdentityProvider string `json:"identityProvider,omitempty"`
	// IdPGroup is the identity-provider group (object id or display name)
	// the removal goes to when Synced: the mapping, else the same name.
	IdPGroup string `json:"idpGroup,omitempty"`
}

// ProductKeys returns the keys of the products the group grants.
func (g GroupInfo) ProductKeys() []string {
	keys := make([]string, len(g.Products))
	for i, p := range g.Products {
		keys[i] = p.Key
	}
	return keys
}

// ClassifyGroups merges the product's licensing information, the
// organization's groups and the site's groups with the settings into one
// GroupInfo per group, sorted by name then id.
//
// Rules, strongest first: a per-group override in settings decides (source
// "admin"); else the Organizations API detection (OrgGroup.SyncedFromIdP,
// source "detected"); else a licensing group of a product whose "Is user
// provisioning enabled?" toggle is on (source "provisioning"); else not
// synced. A synced group is removed in the identity provider when one is
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
// licensing information know, with its name, member count, detection and
// the products it grants.
func mergeGroups(products []ProductAccess, orgGroups []OrgGroup, siteGroups []SiteGroup, s Settings) map[string]*GroupInfo {
	byID := map[string]*GroupInfo{}
	get := func(id string) *GroupInfo {
		g, ok := byID[id]
		if !ok {
			g = &GroupInfo{ID: id, MemberCount: -1}
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
		g.SyncedDetected = og.SyncedFromIdP()
	}
	grant := func(groupID string, p ProductRef) {
		if groupID == "" {
			return
		}
		g := get(groupID)
		if !slices.ContainsFunc(g.Products, func(q ProductRef) bool { return q.Key == p.Key }) {
			g.Products = append(g.Products, p)
		}
	}
	for _, p := range products {
		ref := ProductRef{Key: p.Key, Name: cmp.Or(p.Name, ProductName(p.Key))}
		for _, id := range p.GroupIDs {
			grant(id, ref)
		}
	}
	for key, ids := range s.LicensingGroups {
		ref := ProductRef{Key: key, Name: ProductName(key)}
		for _, p := range products {
			if p.Key == key && p.Name != "" {
				ref.Name = p.Name
			}
		}
		for _, id := range ids {
			grant(id, ref)
		}
	}
	return byID
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
	provisioned := false
	for _, p := range g.Products {
		provisioned = provisioned || idp.ProvisioningEnabled[p.Key]
	}
	if v, ok := idp.GroupOverrides[g.ID]; ok {
		g.SyncedOverride = &v
		g.Synced, g.Source = v, SyncSourceAdmin
	} else if g.SyncedDetected {
		g.Synced, g.Source = true, SyncSourceDetected
	} else if provisioned {
		g.Synced, g.Source = true, SyncSourceProvisioning
	} else {
		g.Synced, g.Source = false, SyncSourceNone
	}
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
