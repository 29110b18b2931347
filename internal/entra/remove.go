package entra

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	abs "github.com/microsoft/kiota-abstractions-go"

	"github.com/example/usercleanup/internal/cleanup"
)

// RemoveMembers removes users (object ids) from a group. It reads the group
// first and, when its membership cannot be changed through the API, reports
// every id as failed with the reason (cleanup.IdPGroup.ChangeBlocker).
// Otherwise it sends DELETE /groups/{id}/members/{userId}/$ref in $batch
// requests of up to 20 under the client's write limit, resending throttled
// sub-requests after their Retry-After.
//
// The result has exactly one entry per element of objectIDs, in the same
// order; an id given twice is removed once and reported twice. When ctx ends
// or Graph fails as a whole, the results known so far are returned (still in
// input order, ids without a known outcome left out) together with the
// error; removals are idempotent, so the caller may simply retry the rest.
// Graph answers 404 both for a user who is not a member and for a group
// deleted after the pre-flight read; both are reported as not-member.
func (c *Client) RemoveMembers(ctx context.Context, groupID string, objectIDs []string) ([]cleanup.RemovalResult, error) {
	res, err := c.changeMembers(ctx, groupID, objectIDs, memberChange{
		op: "remove members from group", logMsg: "entra members removed", changedKey: "removed",
		changed: cleanup.RemovalRemoved, failed: cleanup.RemovalFailed,
		request: func(ctx context.Context, groupID, id string) (*abs.RequestInformation, error) {
			return c.graph.Groups().ByGroupId(groupID).Members().ByDirectoryObjectId(id).Ref().ToDeleteRequestInformation(ctx, nil)
		},
		result: removalResult,
	})
	if res == nil {
		return nil, err
	}
	out := make([]cleanup.RemovalResult, len(res))
	for i, r := range res {
		out[i] = cleanup.RemovalResult(r)
	}
	return out, err
}

// removalResult interprets the answer to one DELETE …/$ref.
func removalResult(id string, g cleanup.IdPGroup, r subResult) memberResult {
	res := memberResult{ObjectID: id, Outcome: cleanup.RemovalFailed}
	ge := r.graphErr()
	detail := ""
	if ge.Code != "" || ge.Message != "" {
		detail = " (Graph: " + strings.TrimSpace(ge.Code+" "+ge.Message) + ")"
	}
	switch {
	case r.Status == http.StatusNoContent || r.Status == http.StatusOK:
		res.Outcome = cleanup.RemovalRemoved
	case r.Status == http.StatusNotFound:
		res.Outcome = cleanup.RemovalNotMember
	case retryable(r.Status):
		res.Message = fmt.Sprintf("Microsoft Graph still throttled the removal after %d attempts: run the removal again later", r.Tries)
	case r.Status == http.StatusBadRequest:
		res.Message = "Microsoft Graph refused the removal; memberships synced from on-premises Active Directory must be changed there" + detail
	case r.Status == http.StatusForbidden && g.RoleAssignable:
		res.Message = "the group is role-assignable: the app also needs the application permission RoleManagement.ReadWrite.Directory" + detail
	case r.Status == http.StatusForbidden:
		res.Message = "Microsoft Graph denied the removal: the app needs GroupMember.ReadWrite.All with admin consent, and dynamic or mail-enabled groups cannot be changed" + detail
	case r.Status == http.StatusUnauthorized:
		res.Message = "Microsoft Graph rejected the access token: test the Entra ID connection" + detail
	default:
		res.Message = fmt.Sprintf("unexpected answer from Microsoft Graph (HTTP %d)%s", r.Status, detail)
	}
	return res
}
