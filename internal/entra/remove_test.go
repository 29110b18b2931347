package entra_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/internal/cleanup"
	"github.com/example/usercleanup/internal/entra"
	"github.com/example/usercleanup/internal/entra/entratest"
)

// seedGroup adds a group with n members and returns its id and the members.
func seedGroup(s *entratest.Server, name string, flags entratest.GroupFlags, n int) (string, []string) {
	g := s.AddGroup(name, flags)
	var ids []string
	for i := range n {
		id := s.AddUser(fmt.Sprintf("%s-%d@contoso.com", name, i), "", false)
		s.AddMember(g, id)
		ids = append(ids, id)
	}
	return g, ids
}

func results(outcome string, ids ...string) []cleanup.RemovalResult {
	var out []cleanup.RemovalResult
	for _, id := range ids {
		out = append(out, cleanup.RemovalResult{ObjectID: id, Outcome: outcome})
	}
	return out
}

// checkExactlyOnce asserts the fake removed exactly ids from group, once each.
func checkExactlyOnce(t *testing.T, s *entratest.Server, group string, ids []string) {
	t.Helper()
	seen := map[string]int{}
	for _, r := range s.Removals() {
		if r.GroupID != group {
			t.Errorf("removal from unexpected group %s", r.GroupID)
		}
		seen[r.UserID]++
	}
	want := map[string]int{}
	for _, id := range ids {
		want[id] = 1
	}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("removals (-want +got):\n%s", diff)
	}
	if n := s.Stats().RepeatedDeletes; n != 0 {
		t.Errorf("repeated deletes = %d, want 0", n)
	}
	for _, r := range requestsMatching(s, "DELETE ") {
		if !strings.HasSuffix(r, "/$ref") {
			t.Errorf("DELETE without /$ref: %q", r)
		}
	}
}

func TestRemoveMembers45In3Batches(t *testing.T) {
	e := newEnv(t, entratest.Options{})
	g, members := seedGroup(e.srv, "jira-users", entratest.GroupFlags{}, 44)
	outsider := e.srv.AddUser("outsider@contoso.com", "", false)

	in := append([]string{}, members...)
	in = append(in, outsider)                // 45 distinct ids: 20 + 20 + 5
	in = append(in, members[3], members[40]) // duplicates: removed once, reported twice
	got, err := e.graph.RemoveMembers(context.Background(), g, in)
	if err != nil {
		t.Fatalf("RemoveMembers: %v", err)
	}
	want := results(cleanup.RemovalRemoved, members...)
	want = append(want, results(cleanup.RemovalNotMember, outsider)...)
	want = append(want, results(cleanup.RemovalRemoved, members[3], members[40])...)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RemoveMembers (-want +got):\n%s", diff)
	}
	checkExactlyOnce(t, e.srv, g, members)
	if st := e.srv.Stats(); st.Batches != 3 || st.BatchItems != 45 {
		t.Errorf("batches = %d with %d items, want 3 with 45", st.Batches, st.BatchItems)
	}
	if left := e.srv.Members(g); len(left) != 0 {
		t.Errorf("members left: %v", left)
	}

	// Running again is idempotent: everything is already gone.
	again, err := e.graph.RemoveMembers(context.Background(), g, members[:5])
	if err != nil {
		t.Fatalf("RemoveMembers again: %v", err)
	}
	if diff := cmp.Diff(results(cleanup.RemovalNotMember, members[:5]...), again); diff != "" {
		t.Errorf("second run (-want +got):\n%s", diff)
	}
}

func TestRemoveMembersRetriesThrottledSubRequests(t *testing.T) {
	// The fake allows 10 writes per second; the client's own limit is far
	// higher, so sub-requests are throttled inside batches and resent.
	e := newEnv(t, entratest.Options{WritesPerWindow: 10, Window: time.Second},
		func(c *entra.Config) { c.WritesPerWindow, c.Window = 100000, time.Second })
	g, members := seedGroup(e.srv, "confluence-users", entratest.GroupFlags{}, 25)
	got, err := e.graph.RemoveMembers(context.Background(), g, members)
	if err != nil {
		t.Fatalf("RemoveMembers: %v", err)
	}
	if diff := cmp.Diff(results(cleanup.RemovalRemoved, members...), got); diff != "" {
		t.Errorf("RemoveMembers (-want +got):\n%s", diff)
	}
	checkExactlyOnce(t, e.srv, g, members)
	st := e.srv.Stats()
	if st.Throttled == 0 {
		t.Fatalf("no 429 happened; the test does not exercise retries (stats %+v)", st)
	}
	// Every wait honoured the server's Retry-After: the fake's first window
	// closes 1 s after the first write, and nothing waited longer than that.
	var total time.Duration
	for _, d := range e.clk.Sleeps() {
		if d <= 0 || d > time.Second {
			t.Errorf("sleep %v outside (0, 1s]", d)
		}
		total += d
	}
	if total < 2*time.Second-10*time.Millisecond {
		t.Errorf("total wait %v, want ≥ 2s for 25 writes at 10/s", total)
	}
}

func TestRemoveMembersBackoffWithoutRetryAfter(t *testing.T) {
	e := newEnv(t, entratest.Options{})
	g, members := seedGroup(e.srv, "g", entratest.GroupFlags{}, 3)
	e.srv.FailWrites(2, http.StatusServiceUnavailable) // first two sub-requests of the first batch
	got, err := e.graph.RemoveMembers(context.Background(), g, members)
	if err != nil {
		t.Fatalf("RemoveMembers: %v", err)
	}
	if diff := cmp.Diff(results(cleanup.RemovalRemoved, members...), got); diff != "" {
		t.Errorf("RemoveMembers (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]time.Duration{time.Second}, e.clk.Sleeps()); diff != "" {
		t.Errorf("sleeps (-want +got):\n%s", diff)
	}

	// A sub-request that never succeeds fails after 8 attempts with backoff.
	e.srv.AddMember(g, members[0])
	e.srv.FailWrites(100, http.StatusServiceUnavailable)
	got, err = e.graph.RemoveMembers(context.Background(), g, members[:1])
	if err != nil {
		t.Fatalf("RemoveMembers: %v", err)
	}
	if len(got) != 1 || got[0].Outcome != cleanup.RemovalFailed || !strings.Contains(got[0].Message, "8 attempts") {
		t.Errorf("RemoveMembers = %+v, want failed after 8 attempts", got)
	}
	wantSleeps := []time.Duration{time.Second, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, 60 * time.Second}
	if diff := cmp.Diff(wantSleeps, e.clk.Sleeps()); diff != "" {
		t.Errorf("sleeps (-want +got):\n%s", diff)
	}
}

func TestRemoveMembersClientWriteLimit(t *testing.T) {
	// 40 writes per 10 s: the client paces itself so the fake (same quota)
	// never throttles, and no 10 s window holds more than 40 removals.
	const writes, window = 40, 10 * time.Second
	e := newEnv(t, entratest.Options{WritesPerWindow: writes, Window: window},
		func(c *entra.Config) { c.WritesPerWindow, c.Window = writes, window })
	g, members := seedGroup(e.srv, "g", entratest.GroupFlags{}, 130)
	got, err := e.graph.RemoveMembers(context.Background(), g, members)
	if err != nil {
		t.Fatalf("RemoveMembers: %v", err)
	}
	if diff := cmp.Diff(results(cleanup.RemovalRemoved, members...), got); diff != "" {
		t.Errorf("RemoveMembers (-want +got):\n%s", diff)
	}
	if n := e.srv.Stats().Throttled; n != 0 {
		t.Errorf("throttled %d times, want 0", n)
	}
	rs := e.srv.Removals()
	for i := range rs {
		n := 0
		for j := i; j < len(rs) && rs[j].At.Sub(rs[i].At) < window; j++ {
			n++
		}
		if n > writes {
			t.Fatalf("%d removals within %v starting at #%d, want ≤ %d", n, window, i, writes)
		}
	}
	// Floor: (130-40)/((40-20)/10s) … the bucket refills at 2/s after the
	// first batch of 20: 110 more writes take 55 s.
	if span := rs[len(rs)-1].At.Sub(rs[0].At); span < 50*time.Second || span > 60*time.Second {
		t.Errorf("removals spread over %v, want about 55s", span)
	}
}

func TestRemoveMembersRefusesUnchangeableGroups(t *testing.T) {
	tests := []struct {
		name  string
		flags entratest.GroupFlags
		want  string
	}{
		{"on-premises synced", entratest.GroupFlags{OnPremSynced: true}, (cleanup.IdPGroup{OnPremSynced: true}).ChangeBlocker()},
		{"dynamic", entratest.GroupFlags{Dynamic: true}, (cleanup.IdPGroup{Dynamic: true}).ChangeBlocker()},
		{"mail-enabled security", entratest.GroupFlags{MailEnabled: true}, (cleanup.IdPGroup{MailEnabled: true}).ChangeBlocker()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, entratest.Options{})
			g, members := seedGroup(e.srv, "g", tt.flags, 3)
			got, err := e.graph.RemoveMembers(context.Background(), g, members)
			if err != nil {
				t.Fatalf("RemoveMembers: %v", err)
			}
			var want []cleanup.RemovalResult
			for _, id := range members {
				want = append(want, cleanup.RemovalResult{ObjectID: id, Outcome: cleanup.RemovalFailed, Message: tt.want})
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("RemoveMembers (-want +got):\n%s", diff)
			}
			if r := requestsMatching(e.srv, "DELETE"); len(r) != 0 || e.srv.Stats().Batches != 0 {
				t.Errorf("sent removals to an unchangeable group: %q", r)
			}
		})
	}
}

func TestRemoveMembersPerItemFailures(t *testing.T) {
	t.Run("role-assignable without RoleManagement permission", func(t *testing.T) {
		e := newEnv(t, entratest.Options{})
		g, members := seedGroup(e.srv, "admins", entratest.GroupFlags{RoleAssignable: true}, 2)
		got, err := e.graph.RemoveMembers(context.Background(), g, members)
		if err != nil {
			t.Fatalf("RemoveMembers: %v", err)
		}
		for _, r := range got {
			if r.Outcome != cleanup.RemovalFailed || !strings.Contains(r.Message, "RoleManagement.ReadWrite.Directory") {
				t.Errorf("result %+v, want failed naming RoleManagement.ReadWrite.Directory", r)
			}
		}
		if len(got) != 2 || len(e.srv.Removals()) != 0 {
			t.Errorf("got %d results, %d removals", len(got), len(e.srv.Removals()))
		}
	})
	t.Run("no write permission", func(t *testing.T) {
		e := newEnv(t, entratest.Options{Roles: []string{"GroupMember.Read.All", "User.Read.All"}})
		g, members := seedGroup(e.srv, "g", entratest.GroupFlags{}, 2)
		got, err := e.graph.RemoveMembers(context.Background(), g, members)
		if err != nil {
			t.Fatalf("RemoveMembers: %v", err)
		}
		for _, r := range got {
			if r.Outcome != cleanup.RemovalFailed || !strings.Contains(r.Message, "Authorization_RequestDenied") {
				t.Errorf("result %+v, want failed with Authorization_RequestDenied", r)
			}
		}
	})
	t.Run("400 from Graph", func(t *testing.T) {
		// The pre-flight check passed but Graph still refuses (the group
		// became synced meanwhile): the message carries Graph's reason.
		e := newEnv(t, entratest.Options{})
		g, members := seedGroup(e.srv, "g", entratest.GroupFlags{}, 1)
		e.srv.FailWrites(1, http.StatusBadRequest)
		got, err := e.graph.RemoveMembers(context.Background(), g, members)
		if err != nil {
			t.Fatalf("RemoveMembers: %v", err)
		}
		if len(got) != 1 || got[0].Outcome != cleanup.RemovalFailed || !strings.Contains(got[0].Message, "on-premises") {
			t.Errorf("RemoveMembers = %+v", got)
		}
	})
}

func TestRemoveMembersErrors(t *testing.T) {
	e := newEnv(t, entratest.Options{})
	g, members := seedGroup(e.srv, "g", entratest.GroupFlags{}, 2)
	tests := []struct {
		name  string
		group string
		ids   []string
		want  cleanup.Kind
	}{
		{"unknown group", "00000000-0000-4000-8000-999999999999", members, cleanup.KindNotFound},
		{"empty group id", " ", members, cleanup.KindInvalid},
		{"empty object id", g, []string{members[0], ""}, cleanup.KindInvalid},
		{"object id with a slash", g, []string{"a/b"}, cleanup.KindInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.graph.RemoveMembers(context.Background(), tt.group, tt.ids)
			wantKind(t, err, tt.want)
			if len(got) != 0 {
				t.Errorf("results %v with an error before any removal", got)
			}
		})
	}
	if n := len(e.srv.Removals()); n != 0 {
		t.Errorf("%d removals, want 0", n)
	}
	got, err := e.graph.RemoveMembers(context.Background(), g, nil)
	if err != nil || len(got) != 0 {
		t.Errorf("RemoveMembers(nil) = %v, %v", got, err)
	}
}

func TestRemoveMembersContextCancelled(t *testing.T) {
	// The first batch of 20 succeeds; the client then has to wait (write
	// limit and 429s) and the context is cancelled while it waits.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var e *env
	e = newEnv(t, entratest.Options{WritesPerWindow: 20, Window: time.Minute}, func(c *entra.Config) {
		c.Sleep = func(ctx context.Context, d time.Duration) error {
			cancel()
			return ctx.Err()
		}
	})
	g, members := seedGroup(e.srv, "g", entratest.GroupFlags{}, 45)
	got, err := e.graph.RemoveMembers(ctx, g, members)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
	if diff := cmp.Diff(results(cleanup.RemovalRemoved, members[:20]...), got); diff != "" {
		t.Errorf("results known at cancellation (-want +got):\n%s", diff)
	}
	checkExactlyOnce(t, e.srv, g, members[:20])
}
