package cleanup

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// DefaultEvalChains bounds the user-search cursor chains a run's
// evaluation follows at once.
const DefaultEvalChains = 8

// Evaluation reads the organization's users through several independent
// cursor chains at once. A cursor chain is sequential (each page names the
// next), so one chain's speed is bound by the round trip, not by the rate
// limit: at 20 ms a page one chain makes at most 50 requests a second. The
// search is split into disjoint parts, each followed by its own chain:
//
//   - by claim status: the managed and the unmanaged accounts (every
//     account is one or the other);
//   - within each, by buckets of the cleanup's groups: the chain of a
//     bucket searches the members of its groups only. A user in groups of
//     two buckets is found by both chains and kept only by the first
//     bucket (in the plan's order) that holds one of the user's groups, so
//     each user is evaluated by exactly one chain.
//
// Each chain's cursor is committed with the rows of its pages, so a crash
// resumes every chain exactly after its last committed page: no page is
// skipped and none is counted twice. The chains' state is stored in the
// run's cursor (encodeChains); a run whose cursor is a bare API cursor
// (evaluated by a single chain before this plan existed) resumes as that
// one chain.
//
// A user whose claim status or groups change while the run reads them may
// be found by two chains or by none, as a user who joins or leaves during
// a single-chain search may be missed; rows are keyed by run, account,
// group and action, so such a user never gets a row twice.

// evalChain is one cursor chain of an evaluation.
type evalChain struct {
	Claim  string   `json:"claim,omitempty"`  // ClaimManaged, ClaimUnmanaged, "" for both
	Bucket int      `json:"bucket"`           // index of the chain's group bucket
	Groups []string `json:"groups,omitempty"` // the bucket's groups; empty: the whole query
	Cursor string   `json:"cursor,omitempty"` // next page; "" with !Done: the first page
	Done   bool     `json:"done,omitempty"`   // the chain's last page is committed
}

// evalChains is the evaluation state stored in a run's cursor.
type evalChains struct {
	Chains []evalChain `json:"chains"`
}

// chainsPrefix marks a run cursor that holds evalChains; anything else is
// a bare API cursor (the Organizations API's are base64url strings).
const chainsPrefix = "chains/v1:"

// planChains splits a search for the members of groups into at most max
// chains: two claim halves, times up to max/2 buckets of the groups (round
// robin, so every bucket gets groups when there are enough). A max below
// 2 is one chain over the whole search.
func planChains(groups []string, maxChains int) evalChains {
	if maxChains < 2 {
		return evalChains{Chains: []evalChain{{}}}
	}
	buckets := min(len(groups), max(1, maxChains/2))
	var bs [][]string
	if buckets <= 1 {
		bs = [][]string{nil}
	} else {
		bs = make([][]string, buckets)
		for i, g := range groups {
			bs[i%buckets] = append(bs[i%buckets], g)
		}
	}
	var st evalChains
	for _, claim := range []string{ClaimManaged, ClaimUnmanaged} {
		for b, gs := range bs {
			st.Chains = append(st.Chains, evalChain{Claim: claim, Bucket: b, Groups: gs})
		}
	}
	return st
}

// decodeChains reads a run's cursor: "" is a run not evaluated yet (nil),
// a chains/v1 value its chains, anything else the bare cursor of a run
// that one chain was evaluating.
func decodeChains(cursor string) (*evalChains, error) {
	if cursor == "" {
		return nil, nil
	}
	js, ok := strings.CutPrefix(cursor, chainsPrefix)
	if !ok {
		return &evalChains{Chains: []evalChain{{Cursor: cursor}}}, nil
	}
	var st evalChains
	if err := json.Unmarshal([]byte(js), &st); err != nil {
		return nil, fmt.Errorf("run cursor: %w", err)
	}
	if len(st.Chains) == 0 {
		return nil, fmt.Errorf("run cursor: no chains")
	}
	return &st, nil
}

// encode returns the run cursor that stores st.
func (st *evalChains) encode() (string, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return "", fmt.Errorf("run cursor: %w", err)
	}
	return chainsPrefix + string(b), nil
}

// done reports whether every chain has committed its last page.
func (st *evalChains) done() bool {
	for _, c := range st.Chains {
		if !c.Done {
			return false
		}
	}
	return true
}

// query returns chain i's search: q narrowed to its claim status and
// groups.
func (st *evalChains) query(i int, q UserQuery) UserQuery {
	c := st.Chains[i]
	q.ClaimStatus = c.Claim
	if len(c.Groups) > 0 {
		q.GroupIDs = slices.Clone(c.Groups)
	}
	return q
}

// owns reports whether chain i evaluates u: the chain's bucket is the
// first (in bucket order) that holds one of u's groups. A user in none of
// the buckets' groups (the API returned a member it does not list in the
// user's groups) belongs to the chain that found them.
func (st *evalChains) owns(i int, u OrgUser) bool {
	c := st.Chains[i]
	if len(c.Groups) == 0 {
		return true
	}
	first := -1
	for _, o := range st.Chains {
		if o.Claim != c.Claim || (first >= 0 && o.Bucket >= first) {
			continue
		}
		if slices.ContainsFunc(o.Groups, func(g string) bool { return slices.Contains(u.GroupIDs, g) }) {
			first = o.Bucket
		}
	}
	return first < 0 || first == c.Bucket
}

// size estimates how many users chain i reads: the members of its
// bucket's groups (an account in two of them counted twice), 0 for a
// chain over the whole search. Both claim halves of a bucket get the
// bucket's size, as the API does not say how its members split. The
// chains' requests are prioritised by it (WithRequestPriority).
func (st *evalChains) size(i int, groups []GroupInfo) int {
	n := 0
	for _, id := range st.Chains[i].Groups {
		for _, g := range groups {
			if g.ID == id {
				n += g.MemberCount
				break
			}
		}
	}
	return n
}

// requestPriorityKey is the context key of RequestPriority.
type requestPriorityKey struct{}

// WithRequestPriority marks the requests made with ctx: when a directory
// must space its requests (near a rate limit), those of higher priority
// go first, and requests without one (an admin's page, any other job) go
// before all that have one. Evaluation gives each cursor chain the
// estimated size of its part of the search, so the longest chains, which
// bound the run, are not slowed down by the short ones, and the run's
// requests never hold up anything else.
func WithRequestPriority(ctx context.Context, p int) context.Context {
	return context.WithValue(ctx, requestPriorityKey{}, p)
}

// RequestPriorityOf returns the priority WithRequestPriority set and
// whether one was set.
func RequestPriorityOf(ctx context.Context) (int, bool) {
	p, ok := ctx.Value(requestPriorityKey{}).(int)
	return p, ok
}
