package atlassian

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/cleanup"
)

// errFound ends a page walk early.
var errFound = errors.New("found")

// IsSystemAdmin reports whether the account holds the product's highest
// admin level, the one organization-wide actions (deactivating accounts,
// setting the organization or Microsoft Entra ID credentials) require.
//
//   - Jira: the SYSTEM_ADMIN global permission, asked like the admin
//     check with POST /rest/api/3/permissions/check (documented: a Connect
//     app may check any user's global permissions from its server).
//   - Confluence: Confluence Cloud documents no per-user "system
//     administrator" check an app can make as itself (its System
//     administrator global permission is Atlassian's own staff; the
//     customer's highest level is the site administrator). A site admin is
//     a member of a group with site-admin access, so two documented v1
//     calls decide it: GET /wiki/rest/api/group?accessType=site-admin lists
//     those groups, and GET /wiki/rest/api/user/memberof?accountId= the
//     account's groups (both READ scope). /wiki/rest/api/user/current would
//     describe the app's own user, not the admin's.
func (s *Site) IsSystemAdmin(ctx context.Context, accountID string) (bool, error) {
	if accountID == "" {
		return false, cleanup.Invalid("accountId", "an account id is required")
	}
	op := "checking system administration permission of " + accountID
	if s.product == connect.Jira {
		body := map[string]any{"accountId": accountID, "globalPermissions": []string{"SYSTEM_ADMIN"}}
		var res struct {
			GlobalPermissions []string `json:"globalPermissions"`
		}
		if err := s.cl.doJSON(ctx, call{method: http.MethodPost, url: s.endpoint("/rest/api/3/permissions/check"), body: body, op: op}, &res); err != nil {
			return false, err
		}
		return slices.Contains(res.GlobalPermissions, "SYSTEM_ADMIN"), nil
	}
	adminGroups := map[string]bool{}
	first := withQuery(s.endpoint("/rest/api/group"), url.Values{"accessType": {"site-admin"}, "start": {"0"}, "limit": {fmt.Sprint(ConfluencePageSize)}})
	err := confluencePages(ctx, s.cl, s.base, first, "listing the site-admin groups", func(v []confluenceGroup) error {
		for _, g := range v {
			adminGroups[g.ID] = true
		}
		return nil
	})
	if err != nil || len(adminGroups) == 0 {
		return false, err
	}
	first = withQuery(s.endpoint("/rest/api/user/memberof"), url.Values{"accountId": {accountID}, "start": {"0"}, "limit": {fmt.Sprint(ConfluencePageSize)}})
	err = confluencePages(ctx, s.cl, s.base, first, op, func(v []confluenceGroup) error {
		for _, g := range v {
			if adminGroups[g.ID] {
				return errFound
			}
		}
		return nil
	})
	if errors.Is(err, errFound) {
		return true, nil
	}
	return false, err
}
