package entra

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/example/usercleanup/internal/cleanup"
)

// AddMembers adds users (object ids) to a group: a restore gives back
// memberships that a run removed. Like RemoveMembers it reads the group
// first (a group whose membership cannot be changed reports every id as
// failed with the reason), then sends POST /groups/{id}/members/$ref with
// {"@odata.id": "<graph>/v1.0/directoryObjects/{id}"} in $batch requests
// of up to 20 under the client's write limit, resending throttled
// sub-requests after their Retry-After.
//
// Graph answers 204 when it added the member. A user who is already a
// member is a 400 Request_BadRequest whose message says "One or more added
// object references already exist"; Graph documents no dedicated code, so
// a 400 with that message is MemberAlready and any other 400 a failure. A
// 404 Request_ResourceNotFound means the user (the referenced directory
// object) does not exist any more: MemberUserGone.
//
// The result has one entry per element of objectIDs, in the same order;
// on error the results known so far come with it (adding is idempotent).
func (c *Client) AddMembers(ctx context.Context, groupID string, objectIDs []string) ([]cleanup.AddResult, error) {
	res, err := c.changeMembers(ctx, groupID, objectIDs, memberChange{
		op: "add members to group", logMsg: "entra members added", changedKey: "added",
		changed: cleanup.MemberAdded, failed: cleanup.MemberFailed,
		request: func(ctx context.Context, groupID, id string) (*abs.RequestInformation, error) {
			ref := models.NewReferenceCreate()
			odataID := c.cfg.GraphURL + "/v1.0/directoryObjects/" + id
			ref.SetOdataId(&odataID)
			return c.graph.Groups().ByGroupId(groupID).Members().Ref().ToPostRequestInformation(ctx, ref, nil)
		},
		result: addResult,
	})
	if res == nil {
		return nil, err
	}
	out := make([]cleanup.AddResult, len(res))
	for i, r := range res {
		out[i] = cleanup.AddResult(r)
	}
	return out, err
}

// alreadyExists is the start of Graph's message when a reference to add
// is already there (documented by example only; see AddMembers).
const alreadyExists = "One or more added object references already exist"

// addResult interprets the answer to one POST …/members/$ref.
func addResult(id string, g cleanup.IdPGroup, r subResult) memberResult {
	res := memberResult{ObjectID: id, Outcome: cleanup.MemberFailed}
	ge := r.graphErr()
	detail := ""
	if ge.Code != "" || ge.Message != "" {
		detail = " (Graph: " + strings.TrimSpace(ge.Code+" "+ge.Message) + ")"
	}
	switch {
	case r.Status == http.StatusNoContent || r.Status == http.StatusOK || r.Status == http.StatusCreated:
		res.Outcome = cleanup.MemberAdded
	case r.Status == http.StatusBadRequest && strings.HasPrefix(ge.Message, alreadyExists):
		res.Outcome = cleanup.MemberAlready
	case r.Status == http.StatusNotFound:
		res.Outcome = cleanup.MemberUserGone
	case retryable(r.Status):
		res.Message = fmt.Sprintf("Microsoft Graph still throttled the addition after %d attempts: restore again later", r.Tries)
	case r.Status == http.StatusBadRequest:
		res.Message = "Microsoft Graph refused the addition; memberships synced from on-premises Active Directory must be changed there" + detail
	case r.Status == http.StatusForbidden && g.RoleAssignable:
		res.Message = "the group is role-assignable: the app also needs the application permission RoleManagement.ReadWrite.Directory" + detail
	case r.Status == http.StatusForbidden:
		res.Message = "Microsoft Graph denied the addition: the app needs GroupMember.ReadWrite.All with admin consent, and dynamic or mail-enabled groups cannot be changed" + detail
	case r.Status == http.StatusUnauthorized:
		res.Message = "Microsoft Graph rejected the access token: test the Entra ID connection" + detail
	default:
		res.Message = fmt.Sprintf("unexpected answer from Microsoft Graph (HTTP %d)%s", r.Status, detail)
	}
	return res
}
