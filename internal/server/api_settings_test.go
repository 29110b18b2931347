package server_test

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/example/usercleanup/internal/atlassian/atlassiantest"
	"github.com/example/usercleanup/internal/cleanup"
)

type m = map[string]any

// fullSettings sets every section of tenant a's settings through the API
// and returns them as stored.
func fullSettings(t *testing.T, e *cleanupEnv) cleanup.Settings {
	t.Helper()
	jsw, _ := e.cloud.GroupByName(atlassiantest.GroupJiraSoftware)
	entra, _ := e.cloud.GroupByName(atlassiantest.GroupEntraJira)
	team, _ := e.cloud.GroupByName("team-01")
	patch := m{
		"organization": m{"orgId": e.cloud.OrgID(), "apiKey": "test-org-api-key", "companyDomains": []string{"example.com"}},
		"products": m{
			"provisioningEnabled": m{cleanup.ProductJiraSoftware: true},
			"groupOverrides":      m{jsw.ID: true},
			"licensingGroups":     m{cleanup.ProductJiraServiceDesk: []string{team.ID}},
		},
		"identityProvider": m{"provider": cleanup.ProviderEntra, "groupMappings": m{entra.ID: "Entra Jira users"}, "followUpAfterMinutes": 90},
		"exceptions":       m{"groupIds": []string{team.ID}, "accountIds": []string{"557058:vip"}},
		"activityAndExport": m{"activity": m{"activeDays": 10, "lowUsageDays": 40},
			"export": m{"maxRowsPerFile": 500, "identifier": "upn", "noBom": true}},
	}
	r := e.call(t, e.a, http.MethodPatch, "/settings", patch)
	if r.status != http.StatusOK {
		t.Fatalf("patch every section: %d %s", r.status, r.body)
	}
	return decode[cleanup.Settings](t, r)
}

// TestSettingsPatchChangesOnlyWhatItCarries: a PATCH with one section, or
// one field of a section, leaves every other setting as it was; the
// credentials stay unless the organization section carries a key.
func TestSettingsPatchChangesOnlyWhatItCarries(t *testing.T) {
	e := newCleanupEnv(t)
	before := fullSettings(t, e)
	ignore := cmpopts.IgnoreFields(cleanup.Settings{}, "UpdatedAt", "Version", "APIKeyVerifiedAt")

	// A wrong API key alone: everything else is kept.
	r := e.call(t, e.a, http.MethodPatch, "/settings", m{"organization": m{"apiKey": "a-wrong-key"}})
	if r.status != http.StatusOK {
		t.Fatalf("patch the key: %d %s", r.status, r.body)
	}
	after := decode[cleanup.Settings](t, r)
	if diff := cmp.Diff(before, after, ignore); diff != "" {
		t.Errorf("settings changed by a key-only patch (-before +after):\n%s", diff)
	}
	if cr, _ := e.cs.Credentials(context.Background(), e.a.ClientKey); cr.APIKey.Reveal() != "a-wrong-key" {
		t.Errorf("the key was not replaced")
	}

	// The exception accounts alone: the exception groups are kept.
	r = e.call(t, e.a, http.MethodPatch, "/settings", m{"exceptions": m{"accountIds": []string{"557058:other"}}})
	after = decode[cleanup.Settings](t, r)
	want := before
	want.Exceptions.AccountIDs = []string{"557058:other"}
	if diff := cmp.Diff(want, after, ignore); r.status != http.StatusOK || diff != "" {
		t.Errorf("exceptions patch: %d (-want +got):\n%s", r.status, diff)
	}

	// The products section replaces its maps as a whole.
	r = e.call(t, e.a, http.MethodPatch, "/settings", m{"products": m{"groupOverrides": m{}}})
	after = decode[cleanup.Settings](t, r)
	if len(after.IdentityProvider.GroupOverrides) != 0 || !after.IdentityProvider.ProvisioningEnabled[cleanup.ProductJiraSoftware] || len(after.LicensingGroups) != 1 {
		t.Errorf("products patch: %+v", after.IdentityProvider)
	}
	if cr, _ := e.cs.Credentials(context.Background(), e.a.ClientKey); cr.APIKey.Reveal() != "a-wrong-key" {
		t.Errorf("a patch without a key changed it")
	}

	for name, body := range map[string]any{
		"no section":      m{},
		"unknown section": m{"profile": m{"name": "x"}},
		"unknown field":   m{"organization": m{"orgName": "x"}},
		"invalid value":   m{"activityAndExport": m{"activity": m{"activeDays": 0, "lowUsageDays": 30}}},
	} {
		if r := e.call(t, e.a, http.MethodPatch, "/settings", body); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", name, r.status, r.body)
		}
	}
	if r := e.call(t, e.a, http.MethodPut, "/settings", before); r.status != http.StatusMethodNotAllowed {
		t.Errorf("PUT /settings: %d, want 405 (whole-document saves lost what a page had not loaded)", r.status)
	}
}

// TestSettingsPatchRefusesOutdatedCopy: a PATCH built on an outdated copy
// (If-Match of an earlier ETag) is refused with 409 and nothing changes;
// the ETag follows every change, a recorded connection test included.
func TestSettingsPatchRefusesOutdatedCopy(t *testing.T) {
	e := newCleanupEnv(t)
	fullSettings(t, e)
	r := e.call(t, e.a, http.MethodGet, "/settings", nil)
	etag := r.header.Get("ETag")
	if v := decode[cleanup.Settings](t, r).Version; etag != strconv.Quote(strconv.FormatInt(v, 10)) {
		t.Fatalf("ETag %q, version %d", etag, v)
	}
	mine := e.call(t, e.a, http.MethodPatch, "/settings", m{"organization": m{"companyDomains": []string{"mine.example"}}}, "If-Match", etag)
	if mine.status != http.StatusOK || mine.header.Get("ETag") == etag {
		t.Fatalf("patch on the current copy: %d %s, ETag %q", mine.status, mine.body, mine.header.Get("ETag"))
	}
	theirs := e.call(t, e.a, http.MethodPatch, "/settings", m{"exceptions": m{"accountIds": []string{}}}, "If-Match", etag)
	if theirs.status != http.StatusConflict || !strings.Contains(decode[errBody](t, theirs).Error, "reload") {
		t.Fatalf("patch on the outdated copy: %d %s, want 409 asking to reload", theirs.status, theirs.body)
	}
	if got := decode[cleanup.Settings](t, e.call(t, e.a, http.MethodGet, "/settings", nil)); len(got.Exceptions.AccountIDs) != 1 {
		t.Errorf("the refused patch changed the exceptions: %v", got.Exceptions)
	}
	test := e.call(t, e.a, http.MethodPost, "/settings/test-connection", nil)
	now := e.call(t, e.a, http.MethodGet, "/settings", nil).header.Get("ETag")
	if test.status != http.StatusOK || test.header.Get("ETag") != now || now == mine.header.Get("ETag") {
		t.Errorf("after a recorded test: ETag %q, settings' ETag %q (before %q)", test.header.Get("ETag"), now, mine.header.Get("ETag"))
	}
	if r := e.call(t, e.a, http.MethodPatch, "/settings", m{"organization": m{"companyDomains": []string{}}}, "If-Match", `"x"`); r.status != http.StatusBadRequest {
		t.Errorf("malformed If-Match: %d, want 400", r.status)
	}
}

// TestSettingsSectionsSaveOnTheirOwn: two admins who loaded the settings
// at the same time and change different sections both succeed, each with
// the version of its own section; a change of a section someone else
// changed meanwhile is refused with 409 naming the section, and a
// recorded connection test does not make the organization section stale.
func TestSettingsSectionsSaveOnTheirOwn(t *testing.T) {
	e := newCleanupEnv(t)
	fullSettings(t, e)
	type body struct {
		cleanup.Settings
		SectionVersions map[string]string `json:"sectionVersions"`
	}
	loaded := decode[body](t, e.call(t, e.a, http.MethodGet, "/settings", nil))
	if len(loaded.SectionVersions) != 5 {
		t.Fatalf("sectionVersions = %v, want the five sections", loaded.SectionVersions)
	}
	v := loaded.SectionVersions
	org := e.call(t, e.a, http.MethodPatch, "/settings", m{"versions": m{"organization": v["organization"]},
		"organization": m{"companyDomains": []string{"first.example"}}})
	if org.status != http.StatusOK {
		t.Fatalf("organization: %d %s", org.status, org.body)
	}
	afterOrg := decode[body](t, org)
	if afterOrg.SectionVersions["organization"] == v["organization"] || afterOrg.SectionVersions["exceptions"] != v["exceptions"] {
		t.Errorf("versions after the organization changed: %v (before %v)", afterOrg.SectionVersions, v)
	}
	exc := e.call(t, e.a, http.MethodPatch, "/settings", m{"versions": m{"exceptions": v["exceptions"]},
		"exceptions": m{"accountIds": []string{"557058:other"}}})
	if exc.status != http.StatusOK {
		t.Fatalf("exceptions built on the same load: %d %s, want 200", exc.status, exc.body)
	}
	stale := e.call(t, e.a, http.MethodPatch, "/settings", m{"versions": m{"organization": v["organization"]},
		"organization": m{"companyDomains": []string{"second.example"}}})
	if stale.status != http.StatusConflict || !strings.Contains(decode[errBody](t, stale).Error, `"Organization"`) {
		t.Fatalf("organization on an outdated copy: %d %s, want 409 naming the section", stale.status, stale.body)
	}
	got := decode[body](t, e.call(t, e.a, http.MethodGet, "/settings", nil))
	if !slices.Equal(got.CompanyDomains, []string{"first.example"}) || !slices.Equal(got.Exceptions.AccountIDs, []string{"557058:other"}) {
		t.Errorf("stored: domains %v, exception accounts %v", got.CompanyDomains, got.Exceptions.AccountIDs)
	}
	// A recorded test changes the verification time, not what the
	// section holds.
	if r := e.call(t, e.a, http.MethodPost, "/settings/test-connection", nil); r.status != http.StatusOK {
		t.Fatalf("test: %d %s", r.status, r.body)
	}
	if now := decode[body](t, e.call(t, e.a, http.MethodGet, "/settings", nil)); now.SectionVersions["organization"] != got.SectionVersions["organization"] {
		t.Errorf("a recorded test changed the organization's version")
	}
	if r := e.call(t, e.a, http.MethodPatch, "/settings", m{"versions": m{"nonsense": "1"}, "exceptions": m{"accountIds": []string{}}}); r.status != http.StatusBadRequest {
		t.Errorf("unknown section version: %d, want 400", r.status)
	}
}

// TestConnectionTestOfTypedValues: the organization ID and API key are
// tested as typed, before saving: the verdict says what is wrong, and the
// typed key is stored nowhere, logged nowhere and changes nothing.
func TestConnectionTestOfTypedValues(t *testing.T) {
	e := newCleanupEnv(t)
	before := fullSettings(t, e)
	const typedKey = "typed-key-that-is-wrong-6f2c"
	for _, tc := range []struct {
		name   string
		body   m
		ok     bool
		reason string
	}{
		{"wrong key", m{"apiKey": typedKey}, false, "The API key was rejected"},
		{"wrong organization, stored key", m{"orgId": "org-9999"}, false, "cannot see an organization with this ID"},
		{"right key", m{"orgId": e.cloud.OrgID(), "apiKey": "test-org-api-key"}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.call(t, e.a, http.MethodPost, "/settings/test-connection", tc.body)
			res := decode[cleanup.CredentialTest](t, r)
			if r.status != http.StatusOK || res.OK != tc.ok || !res.Typed || !strings.Contains(res.Message, tc.reason) {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
	}
	after := decode[cleanup.Settings](t, e.call(t, e.a, http.MethodGet, "/settings", nil))
	if after.Version != before.Version || after.APIKeyVerifiedAt != nil {
		t.Errorf("a typed test changed the settings: version %d → %d, verified %v", before.Version, after.Version, after.APIKeyVerifiedAt)
	}
	if cr, _ := e.cs.Credentials(context.Background(), e.a.ClientKey); cr.APIKey.Reveal() != "test-org-api-key" {
		t.Errorf("stored key changed")
	}
	if strings.Contains(e.logs.String(), typedKey) {
		t.Error("the typed key is in the log")
	}
	if r := e.call(t, e.a, http.MethodPost, "/settings/test-connection", m{"apiKey": "has space"}); r.status != http.StatusBadRequest {
		t.Errorf("malformed typed key: %d %s, want 400", r.status, r.body)
	}
}
