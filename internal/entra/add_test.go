package entra_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/entra"
	"github.com/example/usercleanup/internal/entra/entratest"
)

func adds(outcome string, ids ...string) []cleanup.AddResult {
	var out []cleanup.AddResult
	for _, id := range ids {
		out = append(out, cleanup.AddResult{ObjectID: id, Outcome: outcome})
	}
	return out
}

// TestAddMembers: a restore re-adds 25 removed members in two batches
// (POST …/members/$ref with the directory object's @odata.id), one of them
// twice; a member already there and a user deleted meanwhile are reported
// as such (Graph's 400 "already exist" and 404), and adding again changes
// nothing.
func TestAddMembers(t *testing.T) {
	e := newEnv(t, entratest.Options{})
	g, members := seedGroup(e.srv, "jira-users", entratest.GroupFlags{}, 27)
	if _, err := e.graph.RemoveMembers(context.Background(), g, members[:25]); err != nil {
		t.Fatal(err)
	}
	gone := e.srv.AddUser("gone@contoso.com", "", false)
	e.srv.DeleteUser(gone)
	in := append(slices.Clone(members[:26]), gone, members[3]) // members[25] is still a member
	batches := e.srv.Stats().Batches
	got, err := e.graph.AddMembers(context.Background(), g, in)
	if err != nil {
		t.Fatalf("AddMembers: %v", err)
	}
	want := adds(cleanup.MemberAdded, members[:25]...)
	want = append(want, adds(cleanup.MemberAlready, members[25])...)
	want = append(want, adds(cleanup.MemberUserGone, gone)...)
	want = append(want, adds(cleanup.MemberAdded, members[3])...)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AddMembers (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(members, e.srv.Members(g), cmpSortStrings); diff != "" {
		t.Errorf("members after the restore (-want +got):\n%s", diff)
	}
	if n := len(e.srv.Additions()); n != 25 {
		t.Errorf("%d additions, want 25", n)
	}
	if n := e.srv.Stats().Batches - batches; n != 2 {
		t.Errorf("%d batches, want 2 (20 + 7 sub-requests)", n)
	}
	for _, r := range requestsMatching(e.srv, "POST ") {
		if strings.Contains(r, "/members") && !strings.HasSuffix(r, "/members/$ref") {
			t.Errorf("add without /$ref: %q", r)
		}
	}

	again, err := e.graph.AddMembers(context.Background(), g, members[:2])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(adds(cleanup.MemberAlready, members[:2]...), again); diff != "" {
		t.Errorf("adding again (-want +got):\n%s", diff)
	}
}

// TestAddMembersThrottled: sub-requests throttled inside a batch (429 with
// Retry-After) are resent, each member is added once.
func TestAddMembersThrottled(t *testing.T) {
	e := newEnv(t, entratest.Options{WritesPerWindow: 10, Window: time.Second},
		func(c *entra.Config) { c.WritesPerWindow, c.Window = 100000, time.Second })
	g := e.srv.AddGroup("g", entratest.GroupFlags{})
	var ids []string
	for i := range 25 {
		ids = append(ids, e.srv.AddUser("u"+string(rune('a'+i))+"@contoso.com", "", false))
	}
	got, err := e.graph.AddMembers(context.Background(), g, ids)
	if err != nil {
		t.Fatalf("AddMembers: %v", err)
	}
	if diff := cmp.Diff(adds(cleanup.MemberAdded, ids...), got); diff != "" {
		t.Errorf("AddMembers (-want +got):\n%s", diff)
	}
	if st := e.srv.Stats(); st.Throttled == 0 || len(e.srv.Additions()) != 25 {
		t.Errorf("stats %+v, %d additions: want throttling and 25 additions", st, len(e.srv.Additions()))
	}
}

// TestAddMembersRefusesUnchangeableGroups: like removals, a group whose
// membership the API cannot change fails every id with the reason.
func TestAddMembersRefusesUnchangeableGroups(t *testing.T) {
	e := newEnv(t, entratest.Options{})
	g := e.srv.AddGroup("dyn", entratest.GroupFlags{Dynamic: true})
	u := e.srv.AddUser("u@contoso.com", "", false)
	got, err := e.graph.AddMembers(context.Background(), g, []string{u})
	if err != nil {
		t.Fatal(err)
	}
	want := []cleanup.AddResult{{ObjectID: u, Outcome: cleanup.MemberFailed, Message: (cleanup.IdPGroup{Dynamic: true}).ChangeBlocker()}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AddMembers (-want +got):\n%s", diff)
	}
	if n := len(e.srv.Additions()); n != 0 {
		t.Errorf("%d additions to a dynamic group", n)
	}
}
