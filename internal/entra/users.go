package entra

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/example/usercleanup/internal/cleanup"
)

var userSelect = []string{"id", "userPrincipalName", "mail", "userType"}

// odataString quotes s as an OData string literal (single quotes doubled).
func odataString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// graphUser is the JSON of a user as selected by userSelect.
type graphUser struct {
	ID                string `json:"id"`
	UserPrincipalName string `json:"userPrincipalName"`
	Mail              string `json:"mail"`
	UserType          string `json:"userType"`
}

func (u graphUser) idp() cleanup.IdPUser {
	return cleanup.IdPUser{
		ObjectID: u.ID,
		UPN:      u.UserPrincipalName,
		Mail:     u.Mail,
		Guest:    strings.EqualFold(u.UserType, "Guest") || strings.Contains(strings.ToUpper(u.UserPrincipalName), "#EXT#"),
	}
}

// lookup is one way of finding a user: by key in the path, or by filter.
type lookup func(ctx context.Context, s string) (*abs.RequestInformation, error)

func (c *Client) byKey(ctx context.Context, upn string) (*abs.RequestInformation, error) {
	return c.graph.Users().ByUserId(upn).ToGetRequestInformation(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: userSelect},
	})
}

func (c *Client) byFilter(f string) lookup {
	return func(ctx context.Context, s string) (*abs.RequestInformation, error) {
		q := fmt.Sprintf(f, odataString(s))
		return c.graph.Users().ToGetRequestInformation(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Filter: &q, Select: userSelect},
		})
	}
}

// ResolveUsers maps UPNs or e-mail addresses to Entra users, 20 lookups per
// $batch. Each input is tried, in order, as a user principal name (GET
// /users/{upn}; UPNs starting with '$' through $filter because Graph does not
// accept them in the path), then as a mail address (B2B guests have a
// #EXT# UPN, so the address Atlassian knows is their mail), then as one of
// their otherMails. Inputs not found (or matching more than one user by mail)
// are absent from the map. Keys are the inputs as given; inputs that differ
// only in case or surrounding space resolve once.
//
// It is a little long because the three lookups are one batched pass per
// chunk of inputs, whose state (pending inputs, results) they share.
func (c *Client) ResolveUsers(ctx context.Context, upns []string) (map[string]cleanup.IdPUser, error) {
	type entry struct {
		key    string   // normalised
		inputs []string // as given
		found  *cleanup.IdPUser
	}
	var entries []*entry
	byKey := map[string]*entry{}
	for i, in := range upns {
		k := strings.ToLower(strings.TrimSpace(in))
		if k == "" {
			return nil, cleanup.Invalid("upns", "entry %d is empty", i+1)
		}
		if strings.ContainsAny(k, "\r\n\t") {
			return nil, cleanup.Invalid("upns", "entry %d contains control characters", i+1)
		}
		e := byKey[k]
		if e == nil {
			e = &entry{key: k}
			byKey[k] = e
			entries = append(entries, e)
		}
		e.inputs = append(e.inputs, in)
	}

	passes := []struct {
		name    string
		build   func(e *entry) lookup
		applies func(e *entry) bool
	}{
		{"upn", func(e *entry) lookup {
			if strings.HasPrefix(e.key, "$") {
				return c.byFilter("userPrincipalName eq %s")
			}
			return c.byKey
		}, func(*entry) bool { return true }},
		{"mail", func(*entry) lookup { return c.byFilter("mail eq %s") }, func(e *entry) bool { return strings.Contains(e.key, "@") }},
		{"otherMails", func(*entry) lookup { return c.byFilter("otherMails/any(m:m eq %s)") },
			func(e *entry) bool { return strings.Contains(e.key, "@") }},
	}
	for _, p := range passes {
		var todo []*entry
		var reqs []*abs.RequestInformation
		for _, e := range entries {
			if e.found != nil || !p.applies(e) {
				continue
			}
			ri, err := p.build(e)(ctx, e.key)
			if err != nil {
				return nil, fmt.Errorf("build user lookup: %w", err)
			}
			todo = append(todo, e)
			reqs = append(reqs, ri)
		}
		if len(reqs) == 0 {
			continue
		}
		var firstErr error
		err := c.runBatch(ctx, "resolve users", reqs, false, func(i int, r subResult) {
			u, err := c.userFromResult(ctx, r)
			switch {
			case err != nil && firstErr == nil:
				firstErr = err
			case u != nil:
				todo[i].found = u
			}
		})
		if err != nil {
			return nil, err
		}
		if firstErr != nil {
			return nil, firstErr
		}
	}
	out := make(map[string]cleanup.IdPUser, len(upns))
	for _, e := range entries {
		if e.found == nil {
			continue
		}
		for _, in := range e.inputs {
			out[in] = *e.found
		}
	}
	return out, nil
}

// userFromResult interprets one lookup: a user, nil (not found) or an error
// that stops the whole resolution (permissions, throttling, outage).
func (c *Client) userFromResult(ctx context.Context, r subResult) (*cleanup.IdPUser, error) {
	switch {
	case r.Status == http.StatusOK:
		var one struct {
			graphUser
			Value []graphUser `json:"value"`
		}
		if err := json.Unmarshal(r.Body, &one); err != nil {
			return nil, fmt.Errorf("resolve user: decode Graph answer: %w", err)
		}
		if one.ID != "" {
			u := one.idp()
			return &u, nil
		}
		switch len(one.Value) {
		case 0:
			return nil, nil
		case 1:
			u := one.Value[0].idp()
			return &u, nil
		default:
			c.log.WarnContext(ctx, "entra lookup matches several users; not resolved", slog.Int("matches", len(one.Value)))
			return nil, nil
		}
	case r.Status == http.StatusNotFound, r.Status == http.StatusBadRequest:
		// 400: Graph rejects some strings as a key (not a valid UPN/id); the
		// next pass may still find the user by mail.
		return nil, nil
	default:
		return nil, statusError("resolve users", r.graphErr(), retryDelay(r.Headers, r.Tries, c.cfg.Now()), nil)
	}
}
