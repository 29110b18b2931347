package entra_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/entra/entratest"
)

// requestsMatching returns the fake's request lines (query unescaped) that
// contain sub.
func requestsMatching(s *entratest.Server, sub string) []string {
	var out []string
	for _, r := range s.Requests() {
		if u, err := url.QueryUnescape(r); err == nil {
			r = u
		}
		if strings.Contains(r, sub) {
			out = append(out, r)
		}
	}
	return out
}

func TestResolveUsers(t *testing.T) {
	e := newEnv(t, entratest.Options{})
	s := e.srv
	alice := s.AddUser("alice@contoso.com", "alice@contoso.com", false)
	bob := s.AddUser("", "bob@fabrikam.com", true) // bob_fabrikam.com#EXT#@contoso.onmicrosoft.com
	oneil := s.AddUser("", "o'neil@fabrikam.com", true)
	adele := s.AddUser("$adele@contoso.com", "adele@contoso.com", false)
	dave := s.AddUser("dave@contoso.onmicrosoft.com", "dave@contoso.com", false)
	carol := s.AddUser("carol@contoso.com", "carol@contoso.com", false)
	s.SetOtherMails(carol, "carol@old.example")

	in := []string{
		"alice@contoso.com",
		"ALICE@contoso.com ",                            // same user, other spelling
		"bob@fabrikam.com",                              // guest, found by mail
		"bob_fabrikam.com#EXT#@contoso.onmicrosoft.com", // guest UPN with '#'
		"o'neil@fabrikam.com",                           // quote doubled in $filter
		"$adele@contoso.com",                            // $-prefixed UPN via $filter
		"dave@contoso.com",                              // mail differs from UPN
		"carol@old.example",                             // otherMails
		"missing@contoso.com",
		"alice@contoso.com", // duplicate
	}
	got, err := e.graph.ResolveUsers(context.Background(), in)
	if err != nil {
		t.Fatalf("ResolveUsers: %v", err)
	}
	guestBob := cleanup.IdPUser{ObjectID: bob, UPN: "bob_fabrikam.com#EXT#@contoso.onmicrosoft.com", Mail: "bob@fabrikam.com", Guest: true}
	want := map[string]cleanup.IdPUser{
		"alice@contoso.com":                             {ObjectID: alice, UPN: "alice@contoso.com", Mail: "alice@contoso.com"},
		"ALICE@contoso.com ":                            {ObjectID: alice, UPN: "alice@contoso.com", Mail: "alice@contoso.com"},
		"bob@fabrikam.com":                              guestBob,
		"bob_fabrikam.com#EXT#@contoso.onmicrosoft.com": guestBob,
		"o'neil@fabrikam.com":                           {ObjectID: oneil, UPN: "o'neil_fabrikam.com#EXT#@contoso.onmicrosoft.com", Mail: "o'neil@fabrikam.com", Guest: true},
		"$adele@contoso.com":                            {ObjectID: adele, UPN: "$adele@contoso.com", Mail: "adele@contoso.com"},
		"dave@contoso.com":                              {ObjectID: dave, UPN: "dave@contoso.onmicrosoft.com", Mail: "dave@contoso.com"},
		"carol@old.example":                             {ObjectID: carol, UPN: "carol@contoso.com", Mail: "carol@contoso.com"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ResolveUsers (-want +got):\n%s", diff)
	}
	if r := requestsMatching(s, "$filter=userPrincipalName eq '$adele@contoso.com'"); len(r) != 1 {
		t.Errorf("$-UPN lookups by filter = %q, want one", r)
	}
	if r := requestsMatching(s, "GET /v1.0/users/$adele"); len(r) != 0 {
		t.Errorf("$-UPN looked up by path: %q", r)
	}
	if r := requestsMatching(s, "mail eq 'o''neil@fabrikam.com'"); len(r) != 1 {
		t.Errorf("quoted mail filter = %q, want one", r)
	}
	if st := s.Stats(); st.Requests != st.Batches {
		t.Errorf("stats %+v: every Graph request should be a $batch", st)
	}
}

func TestResolveUsersBatchesOf20(t *testing.T) {
	e := newEnv(t, entratest.Options{})
	var in []string
	want := map[string]cleanup.IdPUser{}
	for i := range 45 {
		upn := fmt.Sprintf("user%02d@contoso.com", i)
		id := e.srv.AddUser(upn, upn, false)
		in = append(in, upn)
		want[upn] = cleanup.IdPUser{ObjectID: id, UPN: upn, Mail: upn}
	}
	got, err := e.graph.ResolveUsers(context.Background(), in)
	if err != nil {
		t.Fatalf("ResolveUsers: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ResolveUsers (-want +got):\n%s", diff)
	}
	if st := e.srv.Stats(); st.Batches != 3 || st.BatchItems != 45 {
		t.Errorf("batches = %d with %d items, want 3 with 45", st.Batches, st.BatchItems)
	}
}

func TestResolveUsersErrors(t *testing.T) {
	t.Run("no read permission", func(t *testing.T) {
		e := newEnv(t, entratest.Options{Roles: []string{entratest.RoleGroupMemberReadWriteAll}})
		e.srv.AddUser("alice@contoso.com", "alice@contoso.com", false)
		_, err := e.graph.ResolveUsers(context.Background(), []string{"alice@contoso.com"})
		wantKind(t, err, cleanup.KindForbidden)
	})
	t.Run("empty entry", func(t *testing.T) {
		e := newEnv(t, entratest.Options{})
		_, err := e.graph.ResolveUsers(context.Background(), []string{"a@b.c", " "})
		ce := wantKind(t, err, cleanup.KindInvalid)
		if ce.Field != "upns" {
			t.Errorf("field = %q", ce.Field)
		}
	})
	t.Run("nothing to do", func(t *testing.T) {
		e := newEnv(t, entratest.Options{})
		got, err := e.graph.ResolveUsers(context.Background(), nil)
		if err != nil || len(got) != 0 {
			t.Fatalf("ResolveUsers(nil) = %v, %v", got, err)
		}
		if n := e.srv.Stats().Requests; n != 0 {
			t.Errorf("requests = %d, want 0", n)
		}
	})
}

func TestFindGroup(t *testing.T) {
	e := newEnv(t, entratest.Options{})
	s := e.srv
	plain := s.AddGroup("jira-users", entratest.GroupFlags{})
	quoted := s.AddGroup("O'Brien's team", entratest.GroupFlags{})
	synced := s.AddGroup("ad-synced", entratest.GroupFlags{OnPremSynced: true})
	dynamic := s.AddGroup("all-sales", entratest.GroupFlags{Dynamic: true})
	mail := s.AddGroup("dl-staff", entratest.GroupFlags{MailEnabled: true})
	unified := s.AddGroup("m365-team", entratest.GroupFlags{Unified: true})
	role := s.AddGroup("admins", entratest.GroupFlags{RoleAssignable: true})
	s.AddGroup("twice", entratest.GroupFlags{})
	s.AddGroup("twice", entratest.GroupFlags{})
	guidName := s.AddGroup("12345678-1234-1234-1234-123456789abc", entratest.GroupFlags{})

	tests := []struct {
		in       string
		want     cleanup.IdPGroup
		wantKind cleanup.Kind
		blocked  bool
	}{
		{in: "jira-users", want: cleanup.IdPGroup{ID: plain, Name: "jira-users"}},
		{in: plain, want: cleanup.IdPGroup{ID: plain, Name: "jira-users"}},
		{in: " JIRA-USERS ", want: cleanup.IdPGroup{ID: plain, Name: "jira-users"}},
		{in: "O'Brien's team", want: cleanup.IdPGroup{ID: quoted, Name: "O'Brien's team"}},
		{in: "ad-synced", want: cleanup.IdPGroup{ID: synced, Name: "ad-synced", OnPremSynced: true}, blocked: true},
		{in: "all-sales", want: cleanup.IdPGroup{ID: dynamic, Name: "all-sales", Dynamic: true}, blocked: true},
		{in: "dl-staff", want: cleanup.IdPGroup{ID: mail, Name: "dl-staff", MailEnabled: true}, blocked: true},
		{in: "m365-team", want: cleanup.IdPGroup{ID: unified, Name: "m365-team"}},
		{in: role, want: cleanup.IdPGroup{ID: role, Name: "admins", RoleAssignable: true}},
		{in: "12345678-1234-1234-1234-123456789abc", want: cleanup.IdPGroup{ID: guidName, Name: "12345678-1234-1234-1234-123456789abc"}},
		{in: "twice", wantKind: cleanup.KindConflict},
		{in: "nobody", wantKind: cleanup.KindNotFound},
		{in: "00000000-0000-4000-8000-999999999999", wantKind: cleanup.KindNotFound},
		{in: "", wantKind: cleanup.KindInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := e.graph.FindGroup(context.Background(), tt.in)
			if tt.wantKind != cleanup.KindOther {
				wantKind(t, err, tt.wantKind)
				return
			}
			if err != nil {
				t.Fatalf("FindGroup: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("FindGroup (-want +got):\n%s", diff)
			}
			if blocked := got.ChangeBlocker() != ""; blocked != tt.blocked {
				t.Errorf("ChangeBlocker() = %q, want blocked=%v", got.ChangeBlocker(), tt.blocked)
			}
		})
	}
	if r := requestsMatching(s, "displayName eq 'O''Brien''s team'"); len(r) != 1 {
		t.Errorf("quoted displayName filter = %q, want one", r)
	}
}

func TestMemberIDs(t *testing.T) {
	e := newEnv(t, entratest.Options{})
	s := e.srv
	g := s.AddGroup("big", entratest.GroupFlags{})
	var want []string
	for i := range 2100 {
		id := s.AddUser(fmt.Sprintf("u%d@contoso.com", i), "", false)
		s.AddMember(g, id)
		want = append(want, id)
	}
	got, err := e.graph.MemberIDs(context.Background(), g)
	if err != nil {
		t.Fatalf("MemberIDs: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("MemberIDs (-want +got):\n%s", diff)
	}
	pages := requestsMatching(s, "/members/")
	if len(pages) != 3 {
		t.Fatalf("member pages = %d (%q), want 3", len(pages), pages)
	}
	if !strings.Contains(pages[0], "/members/graph.user?") || !strings.Contains(pages[0], "$top=999") {
		t.Errorf("first page request = %q, want the user cast with $top=999", pages[0])
	}

	empty := s.AddGroup("empty", entratest.GroupFlags{})
	if got, err := e.graph.MemberIDs(context.Background(), empty); err != nil || len(got) != 0 {
		t.Errorf("MemberIDs(empty) = %v, %v", got, err)
	}
	_, err = e.graph.MemberIDs(context.Background(), "00000000-0000-4000-8000-999999999999")
	wantKind(t, err, cleanup.KindNotFound)
}
