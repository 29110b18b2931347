package cleanup

import (
	"cmp"
	"context"
	"time"
)

// Validation states of a group's Microsoft Entra ID mapping.
const (
	MappingFound        = "found"        // one Entra group matches; its members can be removed
	MappingNotFound     = "not_found"    // no Entra group with that id or display name
	MappingAmbiguous    = "ambiguous"    // several Entra groups have that display name: pick one by id
	MappingUnchangeable = "unchangeable" // found, but Graph cannot change its members (see Reason)
	MappingUnverified   = "unverified"   // no working connection to check it
	MappingError        = "error"        // the check failed (see Reason)
)

// EntraMapping is one IdP-synced Atlassian group and the Microsoft Entra ID
// group its removals go to, validated against Microsoft Graph.
type EntraMapping struct {
	GroupID   string `json:"groupId"`
	GroupName string `json:"groupName"`
	// Target is what the removal looks up: the admin's choice (object id or
	// display name) or, by default, the Atlassian group's name.
	Target string `json:"target"`
	// Mapped says whether Target comes from settings (groupMappings) rather
	// than the default same-name rule.
	Mapped bool `json:"mapped"`
	// Status is one of the Mapping* states.
	Status string `json:"status"`
	// EntraGroupID and EntraGroupName are the matched group (found or
	// unchangeable).
	EntraGroupID   string `json:"entraGroupId,omitempty"`
	EntraGroupName string `json:"entraGroupName,omitempty"`
	// Reason explains any status but found, safe to show.
	Reason string `json:"reason,omitempty"`
}

// EntraMappingReport is the mapping of every synced group.
type EntraMappingReport struct {
	Connected bool           `json:"connected"`
	CheckedAt time.Time      `json:"checkedAt"`
	Groups    []EntraMapping `json:"groups"`
}

// EntraMappings lists every IdP-synced group with the Microsoft Entra ID
// group its removals go to and, when a connection is configured, checks
// each against Microsoft Graph (FindGroup).
func (s *Service) EntraMappings(ctx context.Context, clientKey string) (EntraMappingReport, error) {
	set, err := s.store.Settings(ctx, clientKey)
	if err != nil {
		return EntraMappingReport{}, err
	}
	groups, err := s.groups(ctx, clientKey, set)
	if err != nil {
		return EntraMappingReport{}, err
	}
	idpSet := set.IdentityProvider
	rep := EntraMappingReport{Connected: idpSet.Provider == ProviderEntra && idpSet.Entra.Connected(), CheckedAt: s.now().UTC(), Groups: []EntraMapping{}}
	var idp IdentityProvider
	unverified := "no Microsoft Entra ID connection: set it up to check this mapping"
	if rep.Connected {
		if idp, err = s.conn.IdP(ctx, clientKey); err != nil {
			if KindOf(err) == KindUnavailable || ctx.Err() != nil {
				return EntraMappingReport{}, err
			}
			idp, unverified = nil, "the Microsoft Entra ID connection does not work: "+safeMessage(err)
		}
	}
	for _, g := range groups {
		if !g.Synced {
			continue
		}
		mapped, ok := idpSet.GroupMappings[g.ID]
		m := EntraMapping{GroupID: g.ID, GroupName: g.Name, Target: cmp.Or(mapped, g.Name), Mapped: ok && mapped != ""}
		if idp == nil {
			m.Status, m.Reason = MappingUnverified, unverified
			rep.Groups = append(rep.Groups, m)
			continue
		}
		c, err := checkMapping(ctx, idp, m.Target)
		if err != nil {
			return EntraMappingReport{}, err
		}
		m.Status, m.Reason = c.status, c.reason
		m.EntraGroupID, m.EntraGroupName = c.group.ID, c.group.Name
		rep.Groups = append(rep.Groups, m)
	}
	return rep, nil
}
