package atlassian

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/example/usercleanup/internal/cleanup"
)

// pageGuard enforces the page cap of one listing and detects a server that
// loops: the same page token twice, or a page that makes no progress.
type pageGuard struct {
	service string
	op      string
	max     int
	pages   int
	seen    map[string]struct{}
}

func newPageGuard(service, op string, maxPages int) *pageGuard {
	return &pageGuard{service: service, op: op, max: maxPages, seen: map[string]struct{}{}}
}

// visit is called before fetching the page identified by token.
func (g *pageGuard) visit(token string) error {
	if _, dup := g.seen[token]; dup {
		return &cleanup.Error{Kind: cleanup.KindOther,
			Message: fmt.Sprintf("%s returned the same page twice while %s (after %d pages); stopped to avoid a loop", g.service, g.op, g.pages)}
	}
	if g.pages >= g.max {
		return &cleanup.Error{Kind: cleanup.KindOther,
			Message: fmt.Sprintf("%s: %s needs more than %d pages; stopped at the page limit", g.service, g.op, g.max)}
	}
	g.seen[token] = struct{}{}
	g.pages++
	return nil
}

func (g *pageGuard) noProgress() error {
	return &cleanup.Error{Kind: cleanup.KindOther,
		Message: fmt.Sprintf("%s announced more results but sent an empty page while %s (page %d); stopped", g.service, g.op, g.pages)}
}

// jiraPage is Jira's page bean.
type jiraPage[T any] struct {
	StartAt    int   `json:"startAt"`
	MaxResults int   `json:"maxResults"`
	Total      int   `json:"total"`
	IsLast     *bool `json:"isLast"`
	Values     []T   `json:"values"`
}

// jiraPages follows a startAt/maxResults/isLast listing. endpoint is the URL
// without paging parameters; fn receives each page's values.
func jiraPages[T any](ctx context.Context, cl *caller, endpoint string, q url.Values, pageSize int, op string, fn func([]T) error) error {
	g := newPageGuard(cl.service, op, cl.o.MaxPages)
	startAt := 0
	for {
		if err := g.visit(strconv.Itoa(startAt)); err != nil {
			return err
		}
		q.Set("startAt", strconv.Itoa(startAt))
		q.Set("maxResults", strconv.Itoa(pageSize))
		var p jiraPage[T]
		if err := cl.getJSON(ctx, endpoint+"?"+q.Encode(), op, &p); err != nil {
			return err
		}
		if p.StartAt != startAt {
			return &cleanup.Error{Kind: cleanup.KindOther,
				Message: fmt.Sprintf("%s answered startAt=%d with the page at %d while %s; stopped to avoid a loop", cl.service, startAt, p.StartAt, op)}
		}
		if err := fn(p.Values); err != nil {
			return err
		}
		last := len(p.Values) == 0
		switch {
		case p.IsLast != nil:
			last = *p.IsLast
		case p.Total > 0:
			last = startAt+len(p.Values) >= p.Total
		}
		if last {
			return nil
		}
		if len(p.Values) == 0 {
			return g.noProgress()
		}
		startAt += len(p.Values)
	}
}

// confluencePage is Confluence v1's page: results, start, limit, size and
// _links.next relative to _links.base (the site URL including /wiki).
type confluencePage[T any] struct {
	Results []T `json:"results"`
	Start   int `json:"start"`
	Limit   int `json:"limit"`
	Size    int `json:"size"`
	Links   struct {
		Next    string `json:"next"`
		Base    string `json:"base"`
		Context string `json:"context"`
	} `json:"_links"`
}

// confluencePages follows a start/limit/_links.next listing from first.
func confluencePages[T any](ctx context.Context, cl *caller, base *url.URL, first, op string, fn func([]T) error) error {
	g := newPageGuard(cl.service, op, cl.o.MaxPages)
	next := first
	for {
		if err := g.visit(next); err != nil {
			return err
		}
		var p confluencePage[T]
		if err := cl.getJSON(ctx, next, op, &p); err != nil {
			return err
		}
		if err := fn(p.Results); err != nil {
			return err
		}
		if p.Links.Next == "" {
			return nil
		}
		if len(p.Results) == 0 {
			return g.noProgress()
		}
		u, err := resolveConfluenceNext(base, p.Links.Next)
		if err != nil {
			return &cleanup.Error{Kind: cleanup.KindOther, Message: fmt.Sprintf("%s sent an unusable next link while %s", cl.service, op), Err: err}
		}
		next = u
	}
}

// resolveConfluenceNext resolves _links.next against the site base URL
// (which includes the /wiki context path). Confluence v1 links are relative
// to the base ("/rest/api/group?start=200"); a link that already carries the
// context path, or an absolute link to the same origin, is accepted too.
func resolveConfluenceNext(base *url.URL, next string) (string, error) {
	ref, err := url.Parse(next)
	if err != nil {
		return "", err
	}
	if ref.IsAbs() || ref.Host != "" {
		if !strings.EqualFold(ref.Scheme, base.Scheme) || !strings.EqualFold(ref.Host, base.Host) {
			return "", fmt.Errorf("next link points to another host %q", ref.Host)
		}
		return ref.String(), nil
	}
	if !strings.HasPrefix(ref.Path, "/") {
		return "", fmt.Errorf("next link %q is not an absolute path", ref.Path)
	}
	ctxPath := strings.TrimSuffix(base.Path, "/")
	u := *base
	u.RawQuery = ref.RawQuery
	u.Fragment = ""
	if ctxPath != "" && (ref.Path == ctxPath || strings.HasPrefix(ref.Path, ctxPath+"/")) {
		u.Path, u.RawPath = ref.Path, ref.RawPath
	} else {
		u.Path = ctxPath + ref.Path
		u.RawPath = ""
		if ref.RawPath != "" {
			u.RawPath = ctxPath + ref.RawPath
		}
	}
	return u.String(), nil
}
