package entra

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	abs "github.com/microsoft/kiota-abstractions-go"

	"github.com/example/usercleanup/internal/cleanup"
)

// memberResult is the outcome of one object ID of a membership change. It
// has exactly the fields of cleanup.RemovalResult and cleanup.AddResult,
// which convert from it.
type memberResult struct {
	ObjectID string
	Outcome  string
	Message  string
}

// memberChange is what differs between removing members (RemoveMembers)
// and adding them (AddMembers); changeMembers is the rest.
type memberChange struct {
	op              string // what the batch does, for messages: "remove members from group"
	logMsg          string // the log line of the change: "entra members removed"
	changedKey      string // its attribute counting the changed members: "removed"
	changed, failed string // the outcomes the log line counts
	// request builds the sub-request for one member.
	request func(ctx context.Context, groupID, objectID string) (*abs.RequestInformation, error)
	// result interprets Graph's answer to it.
	result func(objectID string, g cleanup.IdPGroup, r subResult) memberResult
}

// changeMembers checks and de-duplicates the object IDs, reads the group
// (a group whose membership cannot be changed through the API fails every
// ID with the reason, cleanup.IdPGroup.ChangeBlocker), sends one
// sub-request per member in $batch requests under the client's write
// limit, and returns one result per element of objectIDs in input order;
// with an error, the results known so far.
func (c *Client) changeMembers(ctx context.Context, groupID string, objectIDs []string, m memberChange) ([]memberResult, error) {
	gid := strings.TrimSpace(groupID)
	if gid == "" {
		return nil, cleanup.Invalid("group", "a group object ID is required")
	}
	uniq, index, err := memberIDs(objectIDs)
	if err != nil {
		return nil, err
	}
	if len(objectIDs) == 0 {
		return []memberResult{}, nil
	}
	g, err := c.groupByID(ctx, gid)
	if err != nil {
		return nil, err
	}
	results := make([]*memberResult, len(uniq))
	if reason := g.ChangeBlocker(); reason != "" {
		for i, id := range uniq {
			results[i] = &memberResult{ObjectID: id, Outcome: m.failed, Message: reason}
		}
		c.log.InfoContext(ctx, "entra group cannot be changed", slog.String("group", g.ID), slog.String("reason", reason))
		return inInputOrder(objectIDs, index, results), nil
	}
	reqs := make([]*abs.RequestInformation, len(uniq))
	for i, id := range uniq {
		ri, err := m.request(ctx, g.ID, id)
		if err != nil {
			return nil, fmt.Errorf("build request to %s: %w", m.op, err)
		}
		reqs[i] = ri
	}
	err = c.runBatch(ctx, m.op+" "+g.ID, reqs, true, func(i int, r subResult) {
		res := m.result(uniq[i], g, r)
		results[i] = &res
	})
	out := inInputOrder(objectIDs, index, results)
	changed, failed := 0, 0
	for _, r := range out {
		switch r.Outcome {
		case m.changed:
			changed++
		case m.failed:
			failed++
		}
	}
	c.log.InfoContext(ctx, m.logMsg, slog.String("group", g.ID), slog.Int("requested", len(uniq)),
		slog.Int(m.changedKey, changed), slog.Int("failed", failed), slog.Int("reported", len(out)), slog.Any("error", err))
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
func inInputOrder(ids []string, index map[string]int, res []*memberResult) []memberResult {
	out := make([]memberResult, 0, len(ids))
	for _, id := range ids {
		if r := res[index[strings.ToLower(strings.TrimSpace(id))]]; r != nil {
			withID := *r
			withID.ObjectID = id
			out = append(out, withID)
		}
	}
	return out
}
