package atlassian

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
)

// The organization's users: search pages, the cursor walk and its split
// scan, and their conversion to cleanup.OrgUser (moved from org.go).

type orgUser struct {
	AccountID        string   `json:"accountId"`
	AccountType      string   `json:"accountType"`
	Status           string   `json:"status"`
	AddedToOrg       string   `json:"addedToOrg"`
	Name             string   `json:"name"`
	Email            string   `json:"email"`
	ClaimStatus      string   `json:"claimStatus"`
	ManagementSource *string  `json:"managementSource"`
	PlatformRoles    []string `json:"platformRoles"`
	ProductAccess    []struct {
		Key                 string `json:"key"`
		ID                  string `json:"id"`
		LastActiveTimestamp string `json:"lastActiveTimestamp"`
	} `json:"productAccess"`
	Groups []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"groups"`
}

type orgUserPage struct {
	Data  []orgUser `json:"data"`
	Links orgLinks  `json:"links"`
}

// SearchUsers returns one page of users with product access (last active
// per product), group ids and platform roles, starting at cursor.
// q.ClaimStatus becomes the search's claimStatus filter.
func (g *Org) SearchUsers(ctx context.Context, q cleanup.UserQuery, cursor string) (cleanup.UserPage, error) {
	return g.searchPage(ctx, q, q.ClaimStatus, cursor)
}

func (g *Org) searchPage(ctx context.Context, q cleanup.UserQuery, claim, cursor string) (cleanup.UserPage, error) {
	c, err := g.searchCall(q, claim, cursor)
	if err != nil {
		return cleanup.UserPage{}, err
	}
	res, err := g.cl.do(ctx, c)
	if err != nil {
		return cleanup.UserPage{}, err
	}
	return g.decodeUserPage(res.body, cursor)
}

// searchCall builds the users/search request for one page.
func (g *Org) searchCall(q cleanup.UserQuery, claim, cursor string) (call, error) {
	if q.Limit < 0 {
		return call{}, cleanup.Invalid("limit", "must not be negative")
	}
	switch claim {
	case "", cleanup.ClaimManaged, cleanup.ClaimUnmanaged:
	default:
		return call{}, cleanup.Invalid("claimStatus", "must be managed or unmanaged")
	}
	if q.ClaimStatus != "" && claim != q.ClaimStatus {
		return call{}, cleanup.Invalid("claimStatus", "conflicts with the scan's half")
	}
	limit := q.Limit
	if limit == 0 || limit > OrgSearchLimit {
		limit = OrgSearchLimit
	}
	body := map[string]any{"limit": limit, "expand": []string{"productAccess", "groups", "platformRoles"}}
	if cursor != "" {
		body["cursor"] = cursor
	}
	if len(q.AccountIDs) > 0 {
		body["accountIds"] = q.AccountIDs
	}
	if len(q.GroupIDs) > 0 {
		body["groupIds"] = q.GroupIDs
	}
	if claim != "" {
		body["claimStatus"] = claim
	}
	return call{method: http.MethodPost, url: g.v2("/users/search"), body: body, op: "searching users"}, nil
}

func errSameCursor() error {
	return &cleanup.Error{Kind: cleanup.KindOther, Message: "Organizations API returned the same cursor it was given while searching users; stopped to avoid a loop"}
}

func errEmptyPage() error {
	return &cleanup.Error{Kind: cleanup.KindOther, Message: "Organizations API announced more users but sent an empty page; stopped"}
}

// nextCursor extracts links.next from a users/search answer without
// decoding the users, so the next request can start while they are. When
// "links" is the answer's last member (as Atlassian sends it) only that
// tail is decoded; otherwise the whole answer is.
func nextCursor(body []byte) (string, error) {
	var p struct {
		Links orgLinks `json:"links"`
	}
	if i := bytes.LastIndex(body, []byte(`"links"`)); i > 0 {
		tail := append([]byte{'{'}, body[i:]...)
		if json.Unmarshal(tail, &p) == nil {
			return p.Links.Next, nil
		}
		p.Links = orgLinks{}
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return "", &cleanup.Error{Kind: cleanup.KindOther, Message: "Organizations API answered searching users with malformed JSON", Err: err}
	}
	return p.Links.Next, nil
}

// decodeUserPage decodes a users/search answer to the request at cursor.
func (g *Org) decodeUserPage(body []byte, cursor string) (cleanup.UserPage, error) {
	var page orgUserPage
	if err := json.Unmarshal(body, &page); err != nil {
		return cleanup.UserPage{}, &cleanup.Error{Kind: cleanup.KindOther, Message: "Organizations API answered searching users with malformed JSON", Err: err}
	}
	if page.Links.Next != "" && page.Links.Next == cursor {
		return cleanup.UserPage{}, errSameCursor()
	}
	if page.Links.Next != "" && len(page.Data) == 0 {
		return cleanup.UserPage{}, errEmptyPage()
	}
	out := cleanup.UserPage{Users: make([]cleanup.OrgUser, 0, len(page.Data)), Next: page.Links.Next}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, d := range page.Data {
		u, err := g.toOrgUser(d)
		if err != nil {
			return cleanup.UserPage{}, err
		}
		out.Users = append(out.Users, u)
	}
	return out, nil
}

// in interns s (group ids, product keys, statuses). g.mu is held.
func (g *Org) in(s string) string {
	if v, ok := g.intern[s]; ok {
		return v
	}
	if len(g.intern) < 100000 {
		g.intern[s] = s
	}
	return s
}

// toOrgUser maps a v2 user. g.mu is held.
func (g *Org) toOrgUser(d orgUser) (cleanup.OrgUser, error) {
	if d.AccountID == "" {
		return cleanup.OrgUser{}, &cleanup.Error{Kind: cleanup.KindOther, Message: "Organizations API returned a user without accountId"}
	}
	accountType := d.AccountType
	if accountType == "" {
		accountType = cleanup.AccountAtlassian
	}
	u := cleanup.OrgUser{
		AccountID: d.AccountID, Name: d.Name, Email: d.Email, AccountType: g.in(accountType),
		Status: g.in(d.Status), Managed: d.ClaimStatus == "managed",
	}
	if d.ManagementSource != nil {
		u.ManagementSource = g.in(*d.ManagementSource)
	}
	if d.AddedToOrg != "" {
		t, err := time.Parse(time.RFC3339, d.AddedToOrg)
		if err != nil {
			return cleanup.OrgUser{}, &cleanup.Error{Kind: cleanup.KindOther, Message: fmt.Sprintf("Organizations API returned a malformed addedToOrg for %s", d.AccountID), Err: err}
		}
		u.AddedToOrg = t
	}
	if len(d.ProductAccess) > 0 {
		u.LastActive = make(map[string]time.Time, len(d.ProductAccess))
		for _, p := range d.ProductAccess {
			var t time.Time
			if p.LastActiveTimestamp != "" {
				var err error
				if t, err = time.Parse(time.RFC3339, p.LastActiveTimestamp); err != nil {
					return cleanup.OrgUser{}, &cleanup.Error{Kind: cleanup.KindOther, Message: fmt.Sprintf("Organizations API returned a malformed lastActiveTimestamp for %s", d.AccountID), Err: err}
				}
			}
			if prev, ok := u.LastActive[p.Key]; !ok || t.After(prev) {
				u.LastActive[g.in(p.Key)] = t // several sites of one product: the latest wins
			}
		}
	}
	if len(d.Groups) > 0 {
		u.GroupIDs = make([]string, len(d.Groups))
		for i, gr := range d.Groups {
			u.GroupIDs[i] = g.in(gr.ID)
		}
	}
	if len(d.PlatformRoles) > 0 {
		u.Roles = make([]string, len(d.PlatformRoles))
		for i, r := range d.PlatformRoles {
			u.Roles[i] = g.in(r)
		}
	}
	return u, nil
}

// EachUser follows every page of the search and calls fn with each page.
func (g *Org) EachUser(ctx context.Context, q cleanup.UserQuery, fn func([]cleanup.OrgUser) error) error {
	return g.eachUser(ctx, q, q.ClaimStatus, "", func(p cleanup.UserPage) error { return fn(p.Users) })
}

// FollowUsers implements cleanup.OrgDirectory: the pages of the search
// from cursor on, each next page requested while the previous one is
// decoded and handed to fn.
func (g *Org) FollowUsers(ctx context.Context, q cleanup.UserQuery, cursor string, fn func(cleanup.UserPage) error) error {
	return g.eachUser(ctx, q, q.ClaimStatus, cursor, fn)
}

func (g *Org) eachUser(ctx context.Context, q cleanup.UserQuery, claim, first string, fn func(cleanup.UserPage) error) error {
	if _, err := g.searchCall(q, claim, first); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type page struct {
		body   []byte
		cursor string // the cursor the page was requested with
	}
	// The cursor chain is sequential: one goroutine follows it and only
	// extracts each next cursor, while this one decodes the pages and calls
	// fn. At most two pages wait in memory.
	pages := make(chan page, 1)
	var fetchErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(pages)
		guard := newPageGuard(g.cl.service, "searching users", g.cl.o.MaxPages)
		cursor := first
		for {
			if err := guard.visit(cursor); err != nil {
				fetchErr = err
				return
			}
			c, _ := g.searchCall(q, claim, cursor) // validated above
			res, err := g.cl.do(ctx, c)
			if err != nil {
				fetchErr = err
				return
			}
			next, err := nextCursor(res.body)
			if err == nil && next != "" && next == cursor {
				err = errSameCursor()
			}
			if err != nil {
				fetchErr = err
				return
			}
			select {
			case pages <- page{res.body, cursor}:
			case <-ctx.Done():
				return
			}
			if next == "" {
				return
			}
			cursor = next
		}
	})
	var err error
	for p := range pages {
		var users cleanup.UserPage
		if users, err = g.decodeUserPage(p.body, p.cursor); err == nil {
			err = fn(users)
		}
		if err != nil {
			cancel()
			break
		}
	}
	wg.Wait() // the fetcher has stopped; fetchErr is safe to read
	if err != nil {
		return err
	}
	if fetchErr != nil {
		return fetchErr
	}
	return ctx.Err()
}

// ScanUsers reads every user matching q like EachUser, but splits the
// search into its two disjoint halves, claimStatus "managed" and
// "unmanaged" (every account is one or the other), and follows both cursor
// chains concurrently. A cursor chain is sequential, so with per-request
// latency above 1/rate one chain cannot use the rate budget; two can. fn
// is never called concurrently; pages of the halves interleave. An
// account seen twice (it changed claim status during the scan) is
// reported once.
func (g *Org) ScanUsers(ctx context.Context, q cleanup.UserQuery, fn func([]cleanup.OrgUser) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		seen     = map[string]struct{}{}
		firstErr error
		wg       sync.WaitGroup
	)
	for _, claim := range []string{"managed", "unmanaged"} {
		wg.Go(func() {
			err := g.eachUser(ctx, q, claim, "", func(p cleanup.UserPage) error {
				users := p.Users
				mu.Lock()
				defer mu.Unlock()
				if firstErr != nil {
					return firstErr
				}
				fresh := users[:0:0]
				for _, u := range users {
					if _, dup := seen[u.AccountID]; !dup {
						seen[u.AccountID] = struct{}{}
						fresh = append(fresh, u)
					}
				}
				return fn(fresh)
			})
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				cancel()
			}
		})
	}
	wg.Wait()
	return firstErr
}
