package entra

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/example/usercleanup/internal/cleanup"
)

var groupSelect = []string{"id", "displayName", "groupTypes", "mailEnabled", "securityEnabled",
	"onPremisesSyncEnabled", "isAssignableToRole", "membershipRule"}

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// toIdPGroup maps Graph's group properties to what decides whether members
// can be changed through the API.
func toIdPGroup(g models.Groupable) cleanup.IdPGroup {
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	flag := func(p *bool) bool { return p != nil && *p }
	types := g.GetGroupTypes()
	has := func(t string) bool {
		return slices.ContainsFunc(types, func(s string) bool { return strings.EqualFold(s, t) })
	}
	return cleanup.IdPGroup{
		ID:             str(g.GetId()),
		Name:           str(g.GetDisplayName()),
		Dynamic:        has("DynamicMembership") || str(g.GetMembershipRule()) != "",
		OnPremSynced:   flag(g.GetOnPremisesSyncEnabled()),
		MailEnabled:    flag(g.GetMailEnabled()) && !has("Unified"), // Microsoft 365 groups are changeable
		RoleAssignable: flag(g.GetIsAssignableToRole()),
	}
}

// groupByID reads one group; a missing group is KindNotFound.
func (c *Client) groupByID(ctx context.Context, id string) (cleanup.IdPGroup, error) {
	g, err := c.graph.Groups().ByGroupId(id).Get(ctx, &groups.GroupItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.GroupItemRequestBuilderGetQueryParameters{Select: groupSelect},
	})
	if err != nil {
		if ge, ok := odataInfo(err); ok && ge.Status == 404 {
			return cleanup.IdPGroup{}, &cleanup.Error{Kind: cleanup.KindNotFound,
				Message: fmt.Sprintf("no group with object ID %s in Microsoft Entra ID", id), Err: err}
		}
		return cleanup.IdPGroup{}, graphError("read group "+id, err)
	}
	return toIdPGroup(g), nil
}

// FindGroup finds a group by object id (when idOrName is a GUID) or else by
// exact display name. More than one group with the name is KindConflict
// (display names are not unique in Entra ID: pick the group by object id);
// none is KindNotFound.
func (c *Client) FindGroup(ctx context.Context, idOrName string) (cleanup.IdPGroup, error) {
	s := strings.TrimSpace(idOrName)
	if s == "" {
		return cleanup.IdPGroup{}, cleanup.Invalid("group", "enter a group name or object ID")
	}
	if guidRE.MatchString(s) {
		g, err := c.groupByID(ctx, s)
		if cleanup.KindOf(err) != cleanup.KindNotFound {
			return g, err
		}
		// A display name may look like a GUID: fall through.
	}
	f := "displayName eq " + odataString(s)
	top := int32(2)
	page, err := c.graph.Groups().Get(ctx, &groups.GroupsRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.GroupsRequestBuilderGetQueryParameters{Filter: &f, Select: groupSelect, Top: &top},
	})
	if err != nil {
		return cleanup.IdPGroup{}, graphError("find group "+s, err)
	}
	found := page.GetValue()
	switch {
	case len(found) == 0:
		return cleanup.IdPGroup{}, &cleanup.Error{Kind: cleanup.KindNotFound,
			Message: fmt.Sprintf("no group named %q in Microsoft Entra ID", s)}
	case len(found) > 1 || page.GetOdataNextLink() != nil:
		return cleanup.IdPGroup{}, &cleanup.Error{Kind: cleanup.KindConflict,
			Message: fmt.Sprintf("more than one group is named %q in Microsoft Entra ID: choose the group by its object ID", s)}
	}
	return toIdPGroup(found[0]), nil
}

// MemberIDs lists the object ids of the group's user members (nested groups,
// devices and service principals are not users and are left out), following
// @odata.nextLink over all pages of up to 999.
func (c *Client) MemberIDs(ctx context.Context, groupID string) ([]string, error) {
	id := strings.TrimSpace(groupID)
	if id == "" {
		return nil, cleanup.Invalid("group", "a group object ID is required")
	}
	top := int32(999)
	page, err := c.graph.Groups().ByGroupId(id).Members().GraphUser().Get(ctx, &groups.ItemMembersGraphUserRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.ItemMembersGraphUserRequestBuilderGetQueryParameters{Select: []string{"id"}, Top: &top},
	})
	if err != nil {
		return nil, c.membersError(id, err)
	}
	it, err := msgraphcore.NewPageIterator[models.Userable](page, c.adapter, models.CreateUserCollectionResponseFromDiscriminatorValue)
	if err != nil {
		return nil, fmt.Errorf("list members of group %s: page iterator: %w", id, err)
	}
	var ids []string
	var bad error
	err = it.Iterate(ctx, func(u models.Userable) bool {
		if u == nil || u.GetId() == nil || *u.GetId() == "" {
			bad = fmt.Errorf("list members of group %s: a member without an id", id)
			return false
		}
		ids = append(ids, *u.GetId())
		return true
	})
	if err == nil && bad != nil {
		return nil, &cleanup.Error{Kind: cleanup.KindOther, Message: "Microsoft Graph returned a member without an object ID", Err: bad}
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("list members of group %s: %w", id, ctx.Err())
		}
		return nil, c.membersError(id, err)
	}
	return ids, nil
}

func (c *Client) membersError(id string, err error) error {
	if ge, ok := odataInfo(err); ok && ge.Status == 404 {
		return &cleanup.Error{Kind: cleanup.KindNotFound,
			Message: fmt.Sprintf("no group with object ID %s in Microsoft Entra ID", id), Err: err}
	}
	return graphError("list members of group "+id, err)
}
