package cleanup

import (
	"context"
	"fmt"
	"slices"
)

// mappingCheck is the verdict on one group mapping: the identity-provider
// group found (MappingFound or MappingUnchangeable), the state (Mapping*)
// and why any state but found, safe to show.
type mappingCheck struct {
	group  IdPGroup
	status string
	reason string
}

// checkMapping looks up the identity-provider group a synced Atlassian
// group maps to (object id or display name). It returns an error only when
// the identity provider is unavailable or ctx ended; every other failure
// is a verdict.
func checkMapping(ctx context.Context, idp IdentityProvider, target string) (mappingCheck, error) {
	g, err := idp.FindGroup(ctx, target)
	switch kind := KindOf(err); {
	case err == nil:
		if b := g.ChangeBlocker(); b != "" {
			return mappingCheck{group: g, status: MappingUnchangeable, reason: b}, nil
		}
		return mappingCheck{group: g, status: MappingFound}, nil
	case kind == KindUnavailable || ctx.Err() != nil:
		return mappingCheck{}, err
	case kind == KindNotFound:
		return mappingCheck{status: MappingNotFound, reason: "no Microsoft Entra ID group has this object ID or display name"}, nil
	case kind == KindConflict:
		return mappingCheck{status: MappingAmbiguous, reason: safeMessage(err) + ": pick the group by its object ID"}, nil
	}
	return mappingCheck{status: MappingError, reason: safeMessage(err)}, nil
}

// mapIdPGroups checks, for a run about to start, the mapping of every
// group it may remove members of in the identity provider, when a
// Microsoft Entra ID connection is configured. A group found gets its
// object id (the bundle's README names it); a group the mapping finds
// none of (or several of, or one whose members cannot be changed) becomes
// RemovalIdPUnmapped: its users need manual action with that reason rather
// than a bulk-remove file for a group that does not exist. Without a
// working connection nothing is checked and the files are written as
// before (the mapping is the same-name rule, unverified).
func (e *Engine) mapIdPGroups(ctx context.Context, clientKey string, set Settings, d Definition, groups []GroupInfo) ([]GroupInfo, error) {
	p := set.IdentityProvider
	if p.Provider != ProviderEntra || !p.Entra.Connected() {
		return groups, nil
	}
	idp, err := e.cfg.Connector.IdP(ctx, clientKey)
	if err != nil {
		if KindOf(err) == KindUnavailable || ctx.Err() != nil {
			return nil, err
		}
		e.log.InfoContext(ctx, "group mappings not checked: no working identity-provider client", "client_key", clientKey, "error", err.Error())
		return groups, nil
	}
	// Only the groups the run can act on are looked up: rows are planned
	// for licensing groups only, the selected ones when the cleanup
	// selects some.
	chosen := d.Normalized().LicensingGroupIDs
	for i := range groups {
		g := &groups[i]
		if g.Removal != RemovalIdP || !g.Licensing || (len(chosen) > 0 && !slices.Contains(chosen, g.ID)) {
			continue
		}
		c, err := checkMapping(ctx, idp, g.IdPGroup)
		if err != nil {
			return nil, err
		}
		switch c.status {
		case MappingFound:
			g.IdPGroupID = c.group.ID
		case MappingNotFound:
			g.Removal = RemovalIdPUnmapped
			g.RemovalNote = fmt.Sprintf("no %s group matches the group mapping %q: check the mapping in Settings, or remove the user there by hand",
				providerName(p.Provider), g.IdPGroup)
		case MappingAmbiguous:
			g.Removal = RemovalIdPUnmapped
			g.RemovalNote = fmt.Sprintf("the group mapping %q matches several %s groups: pick one by its object ID in Settings, or remove the user there by hand",
				g.IdPGroup, providerName(p.Provider))
		case MappingUnchangeable:
			// The reason says where the membership can be changed; the
			// bulk-remove upload has the same limits as Microsoft Graph.
			g.Removal, g.RemovalNote = RemovalIdPUnmapped, c.reason
		}
	}
	return groups, nil
}
