package cleanuptest

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/example/usercleanup/internal/cleanup"
)

// IdentityProvider is an in-memory cleanup.IdentityProvider: groups,
// users and memberships. Like internal/entra it resolves a UPN or e-mail
// case-insensitively, finds a group by object id or else exact display
// name, and reports one result per id it was asked to remove.
type IdentityProvider struct {
	mu      sync.Mutex
	groups  []cleanup.IdPGroup
	users   []cleanup.IdPUser
	members map[string][]string // group id → object ids
	fail    map[string]error
	refuse  map[string]string // object id → failure message of its removal
	silent  map[string]bool   // object ids RemoveMembers reports nothing for
	removed []string          // "group object-id", in order
	added   []string          // "group object-id", in order
}

// NewIdentityProvider returns an empty identity provider.
func NewIdentityProvider() *IdentityProvider {
	return &IdentityProvider{members: map[string][]string{}, fail: map[string]error{}, refuse: map[string]string{}, silent: map[string]bool{}}
}

var _ cleanup.IdentityProvider = (*IdentityProvider)(nil)

// AddGroup adds a group.
func (p *IdentityProvider) AddGroup(g cleanup.IdPGroup) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.groups = append(p.groups, g)
}

// AddUser adds a user and makes it a member of the groups (ids).
func (p *IdentityProvider) AddUser(u cleanup.IdPUser, groupIDs ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.users = append(p.users, u)
	for _, g := range groupIDs {
		p.members[g] = append(p.members[g], u.ObjectID)
	}
}

// Fail makes method return err; nil clears it.
func (p *IdentityProvider) Fail(method string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail[method] = err
}

// Refuse makes the removal of the user fail with the message.
func (p *IdentityProvider) Refuse(objectID, message string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse[objectID] = message
}

// Silence makes RemoveMembers report no result for the user (the
// contract asks for one result per id; a batch that lost some is what the
// engine must survive).
func (p *IdentityProvider) Silence(objectID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.silent[objectID] = true
}

// Removed returns the removals made, as "group object-id", in order.
func (p *IdentityProvider) Removed() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.removed)
}

// TestConnection implements cleanup.IdentityProvider.
func (p *IdentityProvider) TestConnection(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fail["TestConnection"]
}

// ResolveUsers implements cleanup.IdentityProvider: unknown names are
// absent from the map.
func (p *IdentityProvider) ResolveUsers(_ context.Context, upns []string) (map[string]cleanup.IdPUser, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.fail["ResolveUsers"]; err != nil {
		return nil, err
	}
	out := map[string]cleanup.IdPUser{}
	for _, n := range upns {
		for _, u := range p.users {
			if strings.EqualFold(u.UPN, n) || strings.EqualFold(u.Mail, n) {
				out[n] = u
				break
			}
		}
	}
	return out, nil
}

// FindGroup implements cleanup.IdentityProvider.
func (p *IdentityProvider) FindGroup(_ context.Context, idOrName string) (cleanup.IdPGroup, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.fail["FindGroup"]; err != nil {
		return cleanup.IdPGroup{}, err
	}
	var byName []cleanup.IdPGroup
	for _, g := range p.groups {
		if g.ID == idOrName {
			return g, nil
		}
		if g.Name == idOrName {
			byName = append(byName, g)
		}
	}
	switch len(byName) {
	case 0:
		return cleanup.IdPGroup{}, &cleanup.Error{Kind: cleanup.KindNotFound, Message: "no group " + idOrName}
	case 1:
		return byName[0], nil
	}
	return cleanup.IdPGroup{}, &cleanup.Error{Kind: cleanup.KindConflict, Message: "more than one group is named " + idOrName}
}

// MemberIDs implements cleanup.IdentityProvider.
func (p *IdentityProvider) MemberIDs(_ context.Context, groupID string) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.fail["MemberIDs"]; err != nil {
		return nil, err
	}
	return slices.Clone(p.members[groupID]), nil
}

// RemoveMembers implements cleanup.IdentityProvider: one result per id
// (but for silenced ones), in the order asked.
func (p *IdentityProvider) RemoveMembers(_ context.Context, groupID string, objectIDs []string) ([]cleanup.RemovalResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.fail["RemoveMembers"]; err != nil {
		return nil, err
	}
	out := make([]cleanup.RemovalResult, 0, len(objectIDs))
	for _, id := range objectIDs {
		switch {
		case p.silent[id]:
		case p.refuse[id] != "":
			out = append(out, cleanup.RemovalResult{ObjectID: id, Outcome: cleanup.RemovalFailed, Message: p.refuse[id]})
		case slices.Contains(p.members[groupID], id):
			p.members[groupID] = slices.DeleteFunc(p.members[groupID], func(m string) bool { return m == id })
			p.removed = append(p.removed, groupID+" "+id)
			out = append(out, cleanup.RemovalResult{ObjectID: id, Outcome: cleanup.RemovalRemoved})
		default:
			out = append(out, cleanup.RemovalResult{ObjectID: id, Outcome: cleanup.RemovalNotMember})
		}
	}
	return out, nil
}

// AddMembers implements cleanup.IdentityProvider: one result per id
// (but for silenced ones), in the order asked; a refused user fails.
func (p *IdentityProvider) AddMembers(_ context.Context, groupID string, objectIDs []string) ([]cleanup.AddResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.fail["AddMembers"]; err != nil {
		return nil, err
	}
	out := make([]cleanup.AddResult, 0, len(objectIDs))
	for _, id := range objectIDs {
		switch {
		case p.silent[id]:
		case p.refuse[id] != "":
			out = append(out, cleanup.AddResult{ObjectID: id, Outcome: cleanup.MemberFailed, Message: p.refuse[id]})
		case !slices.ContainsFunc(p.users, func(u cleanup.IdPUser) bool { return u.ObjectID == id }):
			out = append(out, cleanup.AddResult{ObjectID: id, Outcome: cleanup.MemberUserGone})
		case slices.Contains(p.members[groupID], id):
			out = append(out, cleanup.AddResult{ObjectID: id, Outcome: cleanup.MemberAlready})
		default:
			p.members[groupID] = append(p.members[groupID], id)
			p.added = append(p.added, groupID+" "+id)
			out = append(out, cleanup.AddResult{ObjectID: id, Outcome: cleanup.MemberAdded})
		}
	}
	return out, nil
}

// Added returns the memberships added, as "group object-id", in order.
func (p *IdentityProvider) Added() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.added)
}
