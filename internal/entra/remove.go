package entra

import (
	"context"
	"fmt"
	"log/slog"
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
	gid := strings.TrimSpace(groupID)
	if gid == "" {
		return nil, cleanup.Invalid("group", "a group object ID is required")
	}
	uniq, index, err := memberIDs(objectIDs)
	if err != nil {
		return nil, err
	}
	if len(objectIDs) == 0 {
		return []cleanup.RemovalResult{}, nil
	}
	g, err := c.groupByID(ctx, gid)
	if err != nil {
		return nil, err
	}
	results := make([]*cleanup.RemovalResult, len(uniq))
	if reason := g.ChangeBlocker(); reason != "" {
		for i, id := range uniq {
			results[i] = &cleanup.RemovalResult{ObjectID: id, Outcome: cleanup.RemovalFailed, Message: reason}
		}
		c.log.InfoContext(ctx, "entra group cannot be changed", slog.String("group", g.ID), slog.String("reason", reason))
		return inInputOrder(objectIDs, index, results, removalWithID), nil
	}

	reqs := make([]*abs.RequestInformation, len(uniq))
	for i, id := range uniq {
		ri, err := c.graph.Groups().ByGroupId(g.ID).Members().ByDirectoryObjectId(id).Ref().ToDeleteRequestInformation(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("build remove request: %w", err)
		}
		reqs[i] = ri
	}
	err = c.runBatch(ctx, "remove members from group "+g.ID, reqs, true, func(i int, r subResult) {
		results[i] = removalResult(uniq[i], g, r)
	})
	out := inInputOrder(objectIDs, index, results, removalWithID)
	removed, failed := 0, 0
	for _, r := range out {
		switch r.Outcome {
		case cleanup.RemovalRemoved:
			removed++
		case cleanup.RemovalFailed:
			failed++
		}
	}
	c.log.InfoContext(ctx, "entra members removed", slog.String("group", g.ID), slog.Int("requested", len(uniq)),
		slog.Int("removed", removed), slog.Int("failed", failed), slog.Int("reported", len(out)), slog.Any("error", err))
	return out, err
}

// memberIDs checks the object IDs of a member change and de-duplicates
// them case-insensitively: uniq in first-seen order (trimmed), index maps
// each lower-cased id to its place in uniq.
func memberIDs(objectIDs []string) (uniq []string, index map[string]int, err error) {
	index = make(map[string]int, len(objectIDs))
	for i, id := range objectIDs {
		k := strings.ToLower(strings.TrimSpace(id))
		if k == "" {
			return nil, nil, cleanup.Invalid("object_ids", "entry %d is empty", i+1)
		}
		if strings.ContainsAny(k, "/?#\\ \t\r\n") {
			return nil, nil, cleanup.Invalid("object_ids", "entry %d is not an object ID", i+1)
		}
		if _, ok := index[k]; !ok {
			index[k] = len(uniq)
			uniq = append(uniq, strings.TrimSpace(id))
		}
	}
	return uniq, index, nil
}

// inInputOrder expands the results of unique ids (memberIDs) to the input
// order, each under the id as given, leaving out ids without a result.
func inInputOrder[T any](ids []string, index map[string]int, res []*T, withID func(T, string) T) []T {
	out := make([]T, 0, len(ids))
	for _, id := range ids {
		if r := res[index[strings.ToLower(strings.TrimSpace(id))]]; r != nil {
			out = append(out, withID(*r, id))
		}
	}
	return out
}

func removalWithID(r cleanup.RemovalResult, id string) cleanup.RemovalResult {
	r.ObjectID = id
	return r
}

// removalResult interprets the answer to one DELETE …/$ref.
func removalResult(id string, g cleanup.IdPGroup, r subResult) *cleanup.RemovalResult {
	res := &cleanup.RemovalResult{ObjectID: id, Outcome: cleanup.RemovalFailed}
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
