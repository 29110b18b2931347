package server_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
)

const (
	entraTenant = "8b0c9e7a-4c1e-4f44-9d55-2f6f3c1a7e01"
	entraClient = "5d6a1b2c-3e4f-4a5b-8c7d-9e0f1a2b3c4d"
	entraSecret = "Xq8~very.secret-client-value_42"
)

// entraDirectory is a fake Microsoft Entra ID as the service sees it
// through cleanup.IdentityProvider: a connection verdict and groups.
type entraDirectory struct {
	mu      sync.Mutex
	testErr error
	groups  []cleanup.IdPGroup
	secrets []string // secrets the factory was called with
}

func (d *entraDirectory) factory(_ context.Context, tenantID, clientID string, secret cleanup.Secret) (cleanup.IdentityProvider, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.secrets = append(d.secrets, secret.Reveal())
	if tenantID != entraTenant || clientID != entraClient {
		return nil, cleanup.Invalid("tenant_id", "unexpected registration")
	}
	return d, nil
}

func (d *entraDirectory) TestConnection(context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.testErr
}

func (d *entraDirectory) ResolveUsers(context.Context, []string) (map[string]cleanup.IdPUser, error) {
	return map[string]cleanup.IdPUser{}, nil
}

func (d *entraDirectory) FindGroup(_ context.Context, idOrName string) (cleanup.IdPGroup, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var found []cleanup.IdPGroup
	for _, g := range d.groups {
		if g.ID == idOrName {
			return g, nil
		}
		if g.Name == idOrName {
			found = append(found, g)
		}
	}
	switch len(found) {
	case 0:
		return cleanup.IdPGroup{}, cleanup.Errorf(cleanup.KindNotFound, "no group %q", idOrName)
	case 1:
		return found[0], nil
	}
	return cleanup.IdPGroup{}, cleanup.Errorf(cleanup.KindConflict, "%d groups are named %q", len(found), idOrName)
}

func (d *entraDirectory) MemberIDs(context.Context, string) ([]string, error) { return nil, nil }

func (d *entraDirectory) RemoveMembers(context.Context, string, []string) ([]cleanup.RemovalResult, error) {
	return nil, cleanup.Errorf(cleanup.KindForbidden, "not in this test")
}

func (d *entraDirectory) AddMembers(context.Context, string, []string) ([]cleanup.AddResult, error) {
	return nil, cleanup.Errorf(cleanup.KindForbidden, "not in this test")
}

// saveEntraSettings stores the org settings plus an Entra connection and
// group mappings for tenant a.
func (e *cleanupEnv) saveEntraSettings(t *testing.T, mappings map[string]string) {
	t.Helper()
	s := map[string]any{
		"organization": map[string]any{"orgId": e.cloud.OrgID(), "apiKey": "test-org-api-key"},
		"identityProvider": map[string]any{"provider": cleanup.ProviderEntra, "entraClientSecret": entraSecret,
			"entra": map[string]any{"tenantId": entraTenant, "clientId": entraClient}, "groupMappings": mappings},
	}
	if mappings == nil {
		s["identityProvider"].(map[string]any)["groupMappings"] = map[string]string{}
	}
	if r := e.call(t, e.a, http.MethodPatch, "/settings", s); r.status != http.StatusOK {
		t.Fatalf("patch settings: %d %s", r.status, r.body)
	}
}

type entraTestBody struct {
	OK       bool             `json:"ok"`
	Message  string           `json:"message"`
	Settings cleanup.Settings `json:"settings"`
}

func TestEntraConnectionTest(t *testing.T) {
	e := newCleanupEnv(t)
	dir := &entraDirectory{}
	e.conn.NewIdP = dir.factory

	// Nothing to test before a connection is saved.
	r := e.call(t, e.a, http.MethodPost, "/settings/test-entra", nil)
	if eb := decode[errBody](t, r); r.status != http.StatusUnprocessableEntity || !strings.Contains(eb.Error, "client secret to test") {
		t.Fatalf("unconfigured: %d %s", r.status, r.body)
	}
	e.saveEntraSettings(t, nil)

	for _, tc := range []struct {
		name    string
		err     error
		wantOK  bool
		wantMsg string
	}{
		{"works", nil, true, ""},
		{"wrong secret", &cleanup.Error{Kind: cleanup.KindUnauthorized, Message: "the client secret is wrong or expired: create a new one in the app registration"},
			false, "the client secret is wrong or expired: create a new one in the app registration"},
		{"missing permission", &cleanup.Error{Kind: cleanup.KindForbidden, Message: "the app registration lacks the application permission GroupMember.ReadWrite.All: add it and grant admin consent"},
			false, "the app registration lacks the application permission GroupMember.ReadWrite.All: add it and grant admin consent"},
		{"unexpected", context.DeadlineExceeded, false, "the connection test failed for an unexpected reason: see the app's log"},
		{"works again", nil, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir.mu.Lock()
			dir.testErr = tc.err
			dir.mu.Unlock()
			r := e.call(t, e.a, http.MethodPost, "/settings/test-entra", nil)
			if r.status != http.StatusOK {
				t.Fatalf("status %d %s", r.status, r.body)
			}
			got := decode[entraTestBody](t, r)
			if got.OK != tc.wantOK || got.Message != tc.wantMsg {
				t.Errorf("got ok=%v %q, want ok=%v %q", got.OK, got.Message, tc.wantOK, tc.wantMsg)
			}
			// The verdict is recorded and shown by GET /settings.
			set := decode[cleanup.Settings](t, e.call(t, e.a, http.MethodGet, "/settings", nil)).IdentityProvider.Entra
			if (set.VerifiedAt != nil) != tc.wantOK || set.LastTestNote != tc.wantMsg || !set.SecretSet {
				t.Errorf("stored verdict %+v", set)
			}
			if strings.Contains(r.body, entraSecret) {
				t.Error("the response contains the client secret")
			}
		})
	}
	if strings.Contains(e.call(t, e.a, http.MethodGet, "/settings", nil).body, entraSecret) {
		t.Error("GET /settings returns the client secret")
	}
	for _, s := range dir.secrets {
		if s != entraSecret {
			t.Errorf("factory got secret %q", s)
		}
	}
	// The other tenant has no connection of its own.
	if r := e.call(t, e.b, http.MethodPost, "/settings/test-entra", nil); r.status != http.StatusUnprocessableEntity {
		t.Errorf("tenant b: %d %s", r.status, r.body)
	}
}

func TestEntraMapping(t *testing.T) {
	e := newCleanupEnv(t)
	dir := &entraDirectory{}
	e.conn.NewIdP = dir.factory
	jira, _ := e.cloud.GroupByName(atlassiantest.GroupEntraJira)
	conf, _ := e.cloud.GroupByName(atlassiantest.GroupEntraConfluence)

	// Without a connection the mapping is shown, unverified.
	e.saveSettings(t, e.a)
	got := decode[cleanup.EntraMappingReport](t, e.call(t, e.a, http.MethodGet, "/entra/mapping", nil))
	if got.Connected || len(got.Groups) == 0 {
		t.Fatalf("unconnected report %+v", got)
	}
	for _, g := range got.Groups {
		if g.Status != cleanup.MappingUnverified || g.Target != g.GroupName || g.Mapped {
			t.Errorf("unconnected %+v", g)
		}
	}

	type row struct{ Target, Status, EntraID, Reason string }
	check := func(t *testing.T, want map[string]row) {
		t.Helper()
		r := e.call(t, e.a, http.MethodGet, "/entra/mapping", nil)
		if r.status != http.StatusOK {
			t.Fatalf("mapping: %d %s", r.status, r.body)
		}
		rep := decode[cleanup.EntraMappingReport](t, r)
		gotRows := map[string]row{}
		for _, g := range rep.Groups {
			if _, ok := want[g.GroupName]; ok {
				gotRows[g.GroupName] = row{g.Target, g.Status, g.EntraGroupID, g.Reason}
			}
		}
		if diff := cmp.Diff(want, gotRows); diff != "" || !rep.Connected {
			t.Errorf("mapping (-want +got):\n%s", diff)
		}
	}

	dir.groups = []cleanup.IdPGroup{
		{ID: "g-jira", Name: atlassiantest.GroupEntraJira},
		{ID: "g-conf-1", Name: atlassiantest.GroupEntraConfluence},
		{ID: "g-conf-2", Name: atlassiantest.GroupEntraConfluence},
		{ID: "g-onprem", Name: "Confluence (on-premises)", OnPremSynced: true},
	}
	e.saveEntraSettings(t, nil)
	check(t, map[string]row{
		atlassiantest.GroupEntraJira:       {atlassiantest.GroupEntraJira, cleanup.MappingFound, "g-jira", ""},
		atlassiantest.GroupEntraConfluence: {atlassiantest.GroupEntraConfluence, cleanup.MappingAmbiguous, "", `2 groups are named "entra-confluence": pick the group by its object ID`},
	})

	// The admin picks groups by object id.
	e.saveEntraSettings(t, map[string]string{jira.ID: "g-missing", conf.ID: "g-onprem"})
	check(t, map[string]row{
		atlassiantest.GroupEntraJira:       {"g-missing", cleanup.MappingNotFound, "", "no Microsoft Entra ID group has this object ID or display name"},
		atlassiantest.GroupEntraConfluence: {"g-onprem", cleanup.MappingUnchangeable, "g-onprem", cleanup.IdPGroup{OnPremSynced: true}.ChangeBlocker()},
	})
	e.saveEntraSettings(t, map[string]string{conf.ID: "g-conf-2"})
	check(t, map[string]row{
		atlassiantest.GroupEntraJira:       {atlassiantest.GroupEntraJira, cleanup.MappingFound, "g-jira", ""},
		atlassiantest.GroupEntraConfluence: {"g-conf-2", cleanup.MappingFound, "g-conf-2", ""},
	})
}

func TestFollowUpUsersValidation(t *testing.T) {
	e := newCleanupEnv(t)
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/runs/999/follow-up/users", http.StatusNotFound},
		{"/runs/999/follow-up/users?stillPresent=maybe", http.StatusBadRequest},
		{"/runs/abc/follow-up/users", http.StatusNotFound},
	} {
		if r := e.call(t, e.a, http.MethodGet, tc.path, nil); r.status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.path, r.status, r.body, tc.status)
		}
	}
}

// TestEntraRoutesNeedAnAdminToken: the Entra routes sit behind the API's
// authentication like every other API route.
func TestEntraRoutesNeedAnAdminToken(t *testing.T) {
	e := newCleanupEnv(t)
	for _, r := range []struct{ method, path string }{
		{http.MethodPost, "/jira/api/settings/test-entra"},
		{http.MethodGet, "/jira/api/entra/mapping"},
		{http.MethodGet, "/jira/api/runs/1/follow-up/users"},
	} {
		if got := do(t, r.method, e.url+r.path, http.Header{}, strings.NewReader("")); got.status != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d, want 401", r.method, r.path, got.status)
		}
	}
}
