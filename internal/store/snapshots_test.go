package store

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/internal/cleanup"
)

var snapT0 = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

// snapUser builds the i-th user of a test snapshot: bands, products,
// groups, synced and protection vary with i.
func snapUser(i int) cleanup.SnapshotUser {
	bands := []string{cleanup.BandActive, cleanup.BandLowUsage, cleanup.BandInactive, cleanup.BandNever}
	u := cleanup.SnapshotUser{
		AccountID: fmt.Sprintf("acc-%03d", i), Name: fmt.Sprintf("User %03d", i), Email: fmt.Sprintf("user%03d@example.com", i),
		AccountType: cleanup.AccountAtlassian, Status: cleanup.StatusActive, Band: bands[i%4],
		Products: []string{cleanup.ProductJiraSoftware}, LastActive: map[string]time.Time{},
		Groups: []cleanup.SnapshotGroup{{ID: "g-jira", Name: "jira-users"}},
	}
	if u.Band != cleanup.BandNever {
		at := snapT0.Add(-time.Duration(i) * 24 * time.Hour)
		u.LastActive[cleanup.ProductJiraSoftware], u.LastActiveAt = at, &at
	}
	if i%3 == 0 {
		u.Products = append(u.Products, cleanup.ProductConfluence)
		u.Groups = append(u.Groups, cleanup.SnapshotGroup{ID: "g-conf", Name: "entra-confluence", Synced: true})
		u.Synced = true
	}
	if i%5 == 0 {
		u.Protected, u.ProtectedWhy = cleanup.ProtectedAdmin, "site or organization admin"
	}
	if i%7 == 0 {
		u.AccountType = cleanup.AccountApp
	}
	return u
}

// seedSnapshot stores a succeeded snapshot of n users for the tenant.
func seedSnapshot(t *testing.T, s *Store, clientKey string, n int) int64 {
	t.Helper()
	ctx := context.Background()
	st := s.Snapshots(nil)
	id, created, err := st.CreateSnapshot(ctx, clientKey, cleanup.TriggerManual, "admin-1")
	if err != nil || !created {
		t.Fatalf("create snapshot: %v, %v", created, err)
	}
	if err := st.BeginSnapshot(ctx, clientKey, id, snapT0); err != nil {
		t.Fatal(err)
	}
	users := make([]cleanup.SnapshotUser, n)
	for i := range users {
		users[i] = snapUser(i)
	}
	if err := st.AddSnapshotUsers(ctx, clientKey, id, users, n+2); err != nil {
		t.Fatal(err)
	}
	stats := &cleanup.SnapshotStats{Users: n, Products: []cleanup.ProductStats{{Key: cleanup.ProductJiraSoftware, Name: "Jira Software", Users: n}}}
	points := []cleanup.TrendPoint{{Day: snapT0.Format(time.DateOnly), Product: cleanup.ProductJiraSoftware, Users: n, Inactive: n / 4}}
	if err := st.FinishSnapshot(ctx, clientKey, id, cleanup.SnapshotSucceeded, "", stats, points, snapT0.Add(time.Minute), snapT0.AddDate(0, 0, -400)); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestSnapshotLifecycle: one active snapshot per tenant (the job is
// queued with it), progress, the figures and history of a succeeded one,
// a newer one replacing the users of the older, and another tenant seeing
// none of it.
func TestSnapshotLifecycle(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := twoTenants(t, b)
			var enqueued []int64
			st := s.Snapshots(func(_ context.Context, tx *sql.Tx, clientKey string, id int64) error {
				if tx == nil || clientKey != "ck-a" {
					t.Errorf("enqueue(%v, %q)", tx, clientKey)
				}
				enqueued = append(enqueued, id)
				return nil
			})
			first := seedSnapshot(t, s, "ck-a", 10)
			id, created, err := st.CreateSnapshot(ctx, "ck-a", cleanup.TriggerManual, "admin-1")
			if err != nil || !created || id == first {
				t.Fatalf("create: %d %v %v", id, created, err)
			}
			again, created, err := st.CreateSnapshot(ctx, "ck-a", cleanup.TriggerSchedule, "")
			if err != nil || created || again != id {
				t.Fatalf("second create while one is queued: %d %v %v, want %d, false", again, created, err, id)
			}
			if diff := cmp.Diff([]int64{id}, enqueued); diff != "" {
				t.Errorf("enqueued (-want +got):\n%s", diff)
			}
			latest, current, err := st.LatestSnapshots(ctx, "ck-a")
			if err != nil || latest == nil || latest.ID != first || current == nil || current.ID != id || current.Status != cleanup.SnapshotQueued {
				t.Fatalf("latest %+v current %+v %v", latest, current, err)
			}
			if latest.Stats == nil || latest.Stats.Users != 10 || latest.UsersRead != 12 {
				t.Errorf("latest stats %+v, read %d", latest.Stats, latest.UsersRead)
			}
			if err := st.BeginSnapshot(ctx, "ck-a", id, snapT0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if err := st.AddSnapshotUsers(ctx, "ck-a", id, []cleanup.SnapshotUser{snapUser(1), snapUser(2)}, 40); err != nil {
				t.Fatal(err)
			}
			got, err := st.Snapshot(ctx, "ck-a", id)
			if err != nil || got.Status != cleanup.SnapshotRunning || got.UsersRead != 40 {
				t.Fatalf("progress: %+v %v", got, err)
			}
			// Another tenant sees nothing of ck-a's snapshots.
			if _, err := st.Snapshot(ctx, "ck-b", id); cleanup.KindOf(err) != cleanup.KindNotFound {
				t.Errorf("ck-b reads ck-a's snapshot: %v", err)
			}
			if users, n, err := st.SnapshotUsers(ctx, "ck-b", first, cleanup.SnapshotUserFilter{}, cleanup.Page{}); err != nil || n != 0 || len(users) != 0 {
				t.Errorf("ck-b lists ck-a's users: %d %v", n, err)
			}
			if err := st.AddSnapshotUsers(ctx, "ck-b", id, []cleanup.SnapshotUser{snapUser(3)}, 1); cleanup.KindOf(err) != cleanup.KindNotFound {
				t.Errorf("ck-b adds to ck-a's snapshot: %v", err)
			}
			if l, c, err := st.LatestSnapshots(ctx, "ck-b"); err != nil || l != nil || c != nil {
				t.Errorf("ck-b latest: %v %v %v", l, c, err)
			}
			day2 := snapT0.Add(time.Hour).Format(time.DateOnly) // same day: the history row is replaced
			stats := &cleanup.SnapshotStats{Users: 2}
			if err := st.FinishSnapshot(ctx, "ck-a", id, cleanup.SnapshotSucceeded, "", stats,
				[]cleanup.TrendPoint{{Day: day2, Product: cleanup.ProductJiraSoftware, Users: 2, Inactive: 1}}, snapT0.Add(2*time.Hour), snapT0.AddDate(0, 0, -400)); err != nil {
				t.Fatal(err)
			}
			if _, n, _ := st.SnapshotUsers(ctx, "ck-a", first, cleanup.SnapshotUserFilter{}, cleanup.Page{}); n != 0 {
				t.Errorf("the older snapshot still has %d users", n)
			}
			if _, n, _ := st.SnapshotUsers(ctx, "ck-a", id, cleanup.SnapshotUserFilter{}, cleanup.Page{}); n != 2 {
				t.Errorf("the new snapshot has %d users, want 2", n)
			}
			trend, err := st.Trend(ctx, "ck-a", "2026-01-01")
			want := []cleanup.TrendPoint{{Day: day2, Product: cleanup.ProductJiraSoftware, Users: 2, Inactive: 1}}
			if diff := cmp.Diff(want, trend); err != nil || diff != "" {
				t.Errorf("trend (-want +got):\n%s %v", diff, err)
			}
			if err := st.FinishSnapshot(ctx, "ck-a", id, cleanup.SnapshotFailed, "x", nil, nil, snapT0, snapT0); cleanup.KindOf(err) != cleanup.KindNotFound {
				t.Errorf("finishing a finished snapshot: %v", err)
			}
		})
	}
}

// TestSnapshotRetention: a succeeded snapshot deletes the snapshots and
// history older than the retention, and a snapshot stuck for more than an
// hour is replaced by a new one.
func TestSnapshotRetention(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := twoTenants(t, b)
			st := s.Snapshots(nil)
			old := seedSnapshot(t, s, "ck-a", 2)
			if err := s.db.Exec(`UPDATE snapshots SET queued_at = ? WHERE id = ?`, snapT0.AddDate(0, 0, -401), old).Error; err != nil {
				t.Fatal(err)
			}
			if err := s.db.Create(&snapshotHistoryRow{ClientKey: "ck-a", Day: "2025-01-01", Product: "confluence", Users: 1}).Error; err != nil {
				t.Fatal(err)
			}
			stuck, _, err := st.CreateSnapshot(ctx, "ck-a", cleanup.TriggerSchedule, "")
			if err != nil {
				t.Fatal(err)
			}
			if err := s.db.Exec(`UPDATE snapshots SET updated_at = ? WHERE id = ?`, time.Now().Add(-2*time.Hour), stuck).Error; err != nil {
				t.Fatal(err)
			}
			id, created, err := st.CreateSnapshot(ctx, "ck-a", cleanup.TriggerManual, "")
			if err != nil || !created || id == stuck {
				t.Fatalf("a stuck snapshot was not replaced: %d %v %v", id, created, err)
			}
			if got, _ := st.Snapshot(ctx, "ck-a", stuck); got.Status != cleanup.SnapshotFailed || got.Error == "" {
				t.Errorf("stuck snapshot: %+v", got)
			}
			if err := st.BeginSnapshot(ctx, "ck-a", id, snapT0); err != nil {
				t.Fatal(err)
			}
			if err := st.FinishSnapshot(ctx, "ck-a", id, cleanup.SnapshotSucceeded, "", &cleanup.SnapshotStats{}, nil, snapT0, snapT0.AddDate(0, 0, -400)); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Snapshot(ctx, "ck-a", old); cleanup.KindOf(err) != cleanup.KindNotFound {
				t.Errorf("a snapshot older than 400 days is kept: %v", err)
			}
			trend, _ := st.Trend(ctx, "ck-a", "2000-01-01")
			for _, p := range trend {
				if p.Day < "2025-11-26" {
					t.Errorf("history older than 400 days kept: %+v", p)
				}
			}
			if len(trend) != 1 {
				t.Errorf("trend %+v, want the seeded day only", trend)
			}
		})
	}
}

// TestSnapshotUsersFilterSortPage: every filter, sort key and the paging
// of the users screen, against the expected accounts.
func TestSnapshotUsersFilterSortPage(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := twoTenants(t, b)
			st := s.Snapshots(nil)
			id := seedSnapshot(t, s, "ck-a", 30)
			seedSnapshot(t, s, "ck-b", 30) // same accounts in another tenant: never mixed in
			yes, no := true, false
			ids := func(us []cleanup.SnapshotUser) []string {
				out := []string{}
				for _, u := range us {
					out = append(out, u.AccountID)
				}
				return out
			}
			expect := func(keep func(i int, u cleanup.SnapshotUser) bool) []string {
				out := []string{}
				for i := range 30 {
					if u := snapUser(i); keep(i, u) {
						out = append(out, u.AccountID)
					}
				}
				return out
			}
			tests := []struct {
				name string
				f    cleanup.SnapshotUserFilter
				want []string
			}{
				{"all by name", cleanup.SnapshotUserFilter{}, expect(func(int, cleanup.SnapshotUser) bool { return true })},
				{"search name", cleanup.SnapshotUserFilter{Search: "USER 01"}, expect(func(i int, _ cleanup.SnapshotUser) bool { return i >= 10 && i < 20 })},
				{"search e-mail", cleanup.SnapshotUserFilter{Search: "user007@"}, []string{"acc-007"}},
				{"search is literal", cleanup.SnapshotUserFilter{Search: "user_0"}, []string{}},
				{"band", cleanup.SnapshotUserFilter{Band: cleanup.BandInactive}, expect(func(i int, _ cleanup.SnapshotUser) bool { return i%4 == 2 })},
				{"product", cleanup.SnapshotUserFilter{Product: cleanup.ProductConfluence}, expect(func(i int, _ cleanup.SnapshotUser) bool { return i%3 == 0 })},
				{"group", cleanup.SnapshotUserFilter{GroupID: "g-conf"}, expect(func(i int, _ cleanup.SnapshotUser) bool { return i%3 == 0 })},
				{"synced", cleanup.SnapshotUserFilter{Synced: &yes}, expect(func(i int, _ cleanup.SnapshotUser) bool { return i%3 == 0 })},
				{"not synced", cleanup.SnapshotUserFilter{Synced: &no}, expect(func(i int, _ cleanup.SnapshotUser) bool { return i%3 != 0 })},
				{"protected", cleanup.SnapshotUserFilter{Protected: "yes"}, expect(func(i int, _ cleanup.SnapshotUser) bool { return i%5 == 0 })},
				{"protected admin", cleanup.SnapshotUserFilter{Protected: cleanup.ProtectedAdmin}, expect(func(i int, _ cleanup.SnapshotUser) bool { return i%5 == 0 })},
				{"not protected and inactive", cleanup.SnapshotUserFilter{Protected: "no", Band: cleanup.BandInactive}, expect(func(i int, _ cleanup.SnapshotUser) bool { return i%5 != 0 && i%4 == 2 })},
				{"name descending", cleanup.SnapshotUserFilter{Sort: cleanup.UserSortName, Desc: true, Band: cleanup.BandActive}, []string{"acc-028", "acc-024", "acc-020", "acc-016", "acc-012", "acc-008", "acc-004", "acc-000"}},
				// Last active ascending: never active first, then the oldest (highest i).
				{"last active", cleanup.SnapshotUserFilter{Sort: cleanup.UserSortLastActive, Product: cleanup.ProductConfluence},
					[]string{"acc-003", "acc-015", "acc-027", "acc-024", "acc-021", "acc-018", "acc-012", "acc-009", "acc-006", "acc-000"}},
				{"band order", cleanup.SnapshotUserFilter{Sort: cleanup.UserSortBand, Search: "user00"},
					[]string{"acc-000", "acc-004", "acc-008", "acc-001", "acc-005", "acc-009", "acc-002", "acc-006", "acc-003", "acc-007"}},
				{"account type", cleanup.SnapshotUserFilter{Sort: cleanup.UserSortType, Desc: true, Search: "user01"},
					[]string{"acc-019", "acc-018", "acc-017", "acc-016", "acc-015", "acc-013", "acc-012", "acc-011", "acc-010", "acc-014"}},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					got, total, err := st.SnapshotUsers(ctx, "ck-a", id, tc.f, cleanup.Page{PerPage: 100})
					if err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(tc.want, ids(got)); diff != "" {
						t.Errorf("users (-want +got):\n%s", diff)
					}
					if total != len(tc.want) {
						t.Errorf("total %d, want %d", total, len(tc.want))
					}
				})
			}
			page2, total, err := st.SnapshotUsers(ctx, "ck-a", id, cleanup.SnapshotUserFilter{}, cleanup.Page{Page: 2, PerPage: 7})
			if err != nil || total != 30 {
				t.Fatal(total, err)
			}
			if diff := cmp.Diff([]string{"acc-007", "acc-008", "acc-009", "acc-010", "acc-011", "acc-012", "acc-013"}, ids(page2)); diff != "" {
				t.Errorf("page 2 (-want +got):\n%s", diff)
			}
			// A row reads back as it was stored (e-mail lower-cased).
			got, _, _ := st.SnapshotUsers(ctx, "ck-a", id, cleanup.SnapshotUserFilter{Search: "user003@"}, cleanup.Page{})
			if diff := cmp.Diff([]cleanup.SnapshotUser{snapUser(3)}, got); diff != "" {
				t.Errorf("user 3 (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSnapshotsDue: enabled, installed tenants with an API key whose last
// snapshot is older than the time given.
func TestSnapshotsDue(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := twoTenants(t, b)
			cs := s.Cleanups(nil)
			st := s.Snapshots(nil)
			due := func() []string {
				t.Helper()
				keys, err := st.SnapshotsDue(ctx, time.Now().Add(-24*time.Hour), 10)
				if err != nil {
					t.Fatal(err)
				}
				if keys == nil {
					keys = []string{}
				}
				return keys
			}
			if got := due(); len(got) != 0 {
				t.Errorf("due without API keys: %v", got)
			}
			for _, k := range []string{"ck-a", "ck-b"} {
				set := cleanup.DefaultSettings()
				set.OrgID, set.APIKeySet = "org-1", true
				if _, err := cs.SaveSettings(ctx, k, set, cleanup.SecretChanges{APIKey: secretPtr("key-" + k)}, 0); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff([]string{"ck-a", "ck-b"}, due()); diff != "" {
				t.Errorf("due (-want +got):\n%s", diff)
			}
			if _, _, err := st.CreateSnapshot(ctx, "ck-a", cleanup.TriggerSchedule, ""); err != nil {
				t.Fatal(err)
			}
			if err := s.SetEnabled(ctx, "ck-b", false); err != nil {
				t.Fatal(err)
			}
			if got := due(); len(got) != 0 {
				t.Errorf("due after ck-a's snapshot and ck-b disabled: %v", got)
			}
			if _, _, err := st.CreateSnapshot(ctx, "ck-b", cleanup.TriggerManual, ""); cleanup.KindOf(err) != cleanup.KindConflict {
				t.Errorf("a disabled tenant's snapshot: %v", err)
			}
		})
	}
}
