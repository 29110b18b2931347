package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/example/usercleanup/internal/cleanup"
)

// TestDashboardAPI: before the organization is configured Refresh says
// what to do (422); the dashboard and the users screen answer empty
// before the first snapshot; after one, the figures and users come from
// it, a second Refresh while one is queued returns the same snapshot, and
// bad query values are a 400 naming the parameter.
func TestDashboardAPI(t *testing.T) {
	e := newCleanupEnv(t)
	r := e.call(t, e.a, http.MethodPost, "/snapshots", nil)
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "organization ID and API key") {
		t.Errorf("refresh without an organization: %d %s", r.status, r.body)
	}
	d := decode[cleanup.Dashboard](t, e.call(t, e.a, http.MethodGet, "/dashboard", nil))
	if d.Latest != nil || d.Current != nil || d.Trend == nil || len(d.Trend) != 0 {
		t.Errorf("empty dashboard: %+v", d)
	}
	r = e.call(t, e.a, http.MethodGet, "/users", nil)
	if r.status != http.StatusOK || !strings.Contains(r.body, `"items":[]`) || !strings.Contains(r.body, `"snapshot":null`) {
		t.Errorf("users before a snapshot: %d %s", r.status, r.body)
	}

	e.saveSettings(t, e.a)
	r = e.call(t, e.a, http.MethodPost, "/snapshots", nil)
	first := decode[struct{ SnapshotID int64 }](t, r).SnapshotID
	if again := decode[struct{ SnapshotID int64 }](t, e.call(t, e.a, http.MethodPost, "/snapshots", nil)).SnapshotID; r.status != http.StatusAccepted || again != first {
		t.Errorf("refresh twice: %d, ids %d and %d", r.status, first, again)
	}
	d = decode[cleanup.Dashboard](t, e.call(t, e.a, http.MethodGet, "/dashboard", nil))
	if d.Latest != nil || d.Current == nil || d.Current.ID != first || d.Current.Status != cleanup.SnapshotQueued {
		t.Errorf("dashboard with a queued snapshot: latest %+v current %+v", d.Latest, d.Current)
	}
	if err := e.snaps.Take(t.Context(), e.a.ClientKey, first); err != nil {
		t.Fatal(err)
	}
	d = decode[cleanup.Dashboard](t, e.call(t, e.a, http.MethodGet, "/dashboard", nil))
	if d.Latest == nil || d.Latest.ID != first || d.Current != nil || d.Latest.Stats == nil || d.Latest.Stats.Users == 0 {
		t.Fatalf("dashboard after the snapshot: latest %+v current %+v", d.Latest, d.Current)
	}
	type page struct {
		Items    []cleanup.SnapshotUser `json:"items"`
		Total    int                    `json:"total"`
		Snapshot *cleanup.Snapshot      `json:"snapshot"`
	}
	all := decode[page](t, e.call(t, e.a, http.MethodGet, "/users?perPage=200", nil))
	if all.Total != d.Latest.Stats.Users || all.Snapshot == nil || all.Snapshot.ID != first {
		t.Errorf("users: total %d, snapshot %+v; dashboard says %d users", all.Total, all.Snapshot, d.Latest.Stats.Users)
	}
	synced := decode[page](t, e.call(t, e.a, http.MethodGet, "/users?synced=true&sort=lastActive&desc=true&perPage=200", nil))
	for _, u := range synced.Items {
		if !u.Synced {
			t.Errorf("synced=true lists %s", u.AccountID)
		}
	}
	if synced.Total == 0 || synced.Total == all.Total {
		t.Errorf("synced filter: %d of %d", synced.Total, all.Total)
	}

	for _, tc := range []struct{ query, field string }{
		{"band=sleepy", "band"},
		{"protected=maybe", "protected"},
		{"sort=age", "sort"},
		{"synced=perhaps", "synced"},
		{"desc=2", "desc"},
		{"perPage=201", "perPage"},
		{"page=0", "page"},
		{"q=" + strings.Repeat("x", 201), "q"},
	} {
		r := e.call(t, e.a, http.MethodGet, "/users?"+tc.query, nil)
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, `"`+tc.field+`"`) {
			t.Errorf("GET /users?%.20s: %d %s, want 400 naming %s", tc.query, r.status, r.body, tc.field)
		}
	}
	if r := e.call(t, e.a, http.MethodGet, "/snapshots/999999", nil); r.status != http.StatusNotFound {
		t.Errorf("unknown snapshot: %d", r.status)
	}
}
