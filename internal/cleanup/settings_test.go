package cleanup

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	testGUID1 = "0b3f3c2e-6a51-4f5b-9d0e-2c7b1a9e4f10"
	testGUID2 = "5d6c9f4a-1e2b-4c3d-8a7f-6b5e4d3c2b1a"
)

// fieldKeys returns the sorted field names of fe.
func fieldKeys(fe FieldErrors) []string {
	keys := make([]string, 0, len(fe))
	for k := range fe {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestDefaultSettingsValid(t *testing.T) {
	if fe := DefaultSettings().Validate(); fe != nil {
		t.Fatalf("DefaultSettings().Validate() = %v", fe)
	}
	s := DefaultSettings()
	if s.Activity != (ActivityBands{ActiveDays: 15, LowUsageDays: 30}) ||
		s.Export.MaxRowsPerFile != 10_000 || s.Export.Identifier != IdentifierUPN ||
		s.IdentityProvider.FollowUpAfter() != time.Hour {
		t.Errorf("DefaultSettings() = %+v", s)
	}
}

func TestSettingsValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Settings)
		want   []string // invalid fields
	}{
		{"valid full", func(s *Settings) {
			s.OrgID = "8a7b6c5d-1234-4e5f-9abc-def012345678"
			s.CompanyDomains = []string{"example.com", "@Example.NO"}
			s.LicensingGroups = map[string][]string{"confluence": {"g-conf"}}
			s.IdentityProvider = IdPSettings{
				Provider:             ProviderEntra,
				ProvisioningEnabled:  map[string]bool{"jira-software": true},
				GroupOverrides:       map[string]bool{"g1": false},
				GroupMappings:        map[string]string{"g1": "Jira Users (Entra)"},
				Entra:                EntraConnection{TenantID: "contoso.onmicrosoft.com", ClientID: testGUID2, SecretSet: true},
				FollowUpAfterMinutes: 90,
			}
		}, nil},
		{"bad org id", func(s *Settings) { s.OrgID = "org id with spaces" }, []string{"orgId"}},
		{"bad company domain", func(s *Settings) { s.CompanyDomains = []string{"example"} }, []string{"companyDomains"}},
		{"unknown provider", func(s *Settings) { s.IdentityProvider.Provider = "okta" }, []string{"identityProvider.provider"}},
		{"tenant without client", func(s *Settings) { s.IdentityProvider.Entra.TenantID = testGUID1 }, []string{"identityProvider.entra.clientId"}},
		{"client not a GUID", func(s *Settings) {
			s.IdentityProvider.Entra = EntraConnection{TenantID: testGUID1, ClientID: "my-app"}
		}, []string{"identityProvider.entra.clientId"}},
		{"bad tenant", func(s *Settings) {
			s.IdentityProvider.Entra = EntraConnection{TenantID: "not a tenant", ClientID: testGUID2}
		}, []string{"identityProvider.entra.tenantId"}},
		{"empty mapping", func(s *Settings) { s.IdentityProvider.GroupMappings = map[string]string{"g1": ""} }, []string{"identityProvider.groupMappings.g1"}},
		{"follow-up zero", func(s *Settings) { s.IdentityProvider.FollowUpAfterMinutes = 0 }, []string{"identityProvider.followUpAfterMinutes"}},
		{"bad exception id", func(s *Settings) { s.Exceptions.AccountIDs = []string{"a b"} }, []string{"exceptions.accountIds"}},
		{"bands reversed", func(s *Settings) { s.Activity = ActivityBands{ActiveDays: 30, LowUsageDays: 15} }, []string{"activity.lowUsageDays"}},
		{"bands equal", func(s *Settings) { s.Activity = ActivityBands{ActiveDays: 30, LowUsageDays: 30} }, []string{"activity.lowUsageDays"}},
		{"bands out of range", func(s *Settings) { s.Activity = ActivityBands{ActiveDays: 0, LowUsageDays: 4000} },
			[]string{"activity.activeDays", "activity.lowUsageDays"}},
		{"max rows 0", func(s *Settings) { s.Export.MaxRowsPerFile = 0 }, []string{"export.maxRowsPerFile"}},
		{"max rows too many", func(s *Settings) { s.Export.MaxRowsPerFile = 1_000_001 }, []string{"export.maxRowsPerFile"}},
		{"max rows limit ok", func(s *Settings) { s.Export.MaxRowsPerFile = 1_000_000 }, nil},
		{"unknown identifier", func(s *Settings) { s.Export.Identifier = "mail" }, []string{"export.identifier"}},
		{"object ids not supported yet", func(s *Settings) { s.Export.Identifier = IdentifierObjectID }, []string{"export.identifier"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := DefaultSettings()
			tt.modify(&s)
			fe := s.Validate()
			if diff := cmp.Diff(tt.want, fieldKeys(fe), cmp.Comparer(func(a, b []string) bool { return len(a) == 0 && len(b) == 0 || slices.Equal(a, b) })); diff != "" {
				t.Errorf("invalid fields (-want +got):\n%s\nerrors: %v", diff, fe)
			}
		})
	}
}

func TestSettingsInputApply(t *testing.T) {
	verified := mustTime(t, "2026-11-01T10:00:00Z")
	cur := DefaultSettings()
	cur.OrgID = "org-1"
	cur.APIKeySet, cur.APIKeyVerifiedAt = true, &verified
	cur.IdentityProvider.Provider = ProviderEntra
	cur.IdentityProvider.Entra = EntraConnection{TenantID: testGUID1, ClientID: testGUID2, SecretSet: true, VerifiedAt: &verified}
	key := func(s string) *Secret { v := Secret(s); return &v }

	tests := []struct {
		name        string
		in          SettingsInput
		wantKeySet  bool
		wantKeyVer  bool
		wantEntra   bool
		wantEntraV  bool
		wantChanges SecretChanges
	}{
		{"keep everything", SettingsInput{Settings: cur}, true, true, true, true, SecretChanges{}},
		{"client cannot set server-owned fields", func() SettingsInput {
			s := cur
			s.APIKeySet, s.APIKeyVerifiedAt = false, nil
			s.IdentityProvider.Entra.SecretSet = false
			return SettingsInput{Settings: s}
		}(), true, true, true, true, SecretChanges{}},
		{"new key is unverified", SettingsInput{Settings: cur, APIKey: key("  ATATT3xFfGF0new  ")}, true, false, true, true,
			SecretChanges{APIKey: key("ATATT3xFfGF0new")}},
		{"remove key", SettingsInput{Settings: cur, APIKey: key("")}, false, false, true, true, SecretChanges{APIKey: key("")}},
		{"org change clears verification", func() SettingsInput {
			s := cur
			s.OrgID = "org-2"
			return SettingsInput{Settings: s}
		}(), true, false, true, true, SecretChanges{}},
		{"new Entra secret", SettingsInput{Settings: cur, EntraClientSecret: key("s3cr3t~value")}, true, true, true, false,
			SecretChanges{EntraClientSecret: key("s3cr3t~value")}},
		{"client change clears Entra verification", func() SettingsInput {
			s := cur
			s.IdentityProvider.Entra.ClientID = testGUID1
			return SettingsInput{Settings: s}
		}(), true, true, true, false, SecretChanges{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ch := tt.in.Apply(cur)
			if got.APIKeySet != tt.wantKeySet || (got.APIKeyVerifiedAt != nil) != tt.wantKeyVer ||
				got.IdentityProvider.Entra.SecretSet != tt.wantEntra || (got.IdentityProvider.Entra.VerifiedAt != nil) != tt.wantEntraV {
				t.Errorf("Apply = keySet %v verified %v entraSet %v entraVerified %v; want %v %v %v %v",
					got.APIKeySet, got.APIKeyVerifiedAt != nil, got.IdentityProvider.Entra.SecretSet, got.IdentityProvider.Entra.VerifiedAt != nil,
					tt.wantKeySet, tt.wantKeyVer, tt.wantEntra, tt.wantEntraV)
			}
			if diff := cmp.Diff(tt.wantChanges, ch); diff != "" {
				t.Errorf("SecretChanges (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSettingsInputValidate(t *testing.T) {
	cur := DefaultSettings()
	key := func(s string) *Secret { v := Secret(s); return &v }
	tests := []struct {
		name string
		in   SettingsInput
		want []string
	}{
		{"key without org", SettingsInput{Settings: cur, APIKey: key("abc")}, []string{"orgId"}},
		{"key with spaces", func() SettingsInput {
			s := cur
			s.OrgID = "org-1"
			return SettingsInput{Settings: s, APIKey: key("abc def")}
		}(), []string{"apiKey"}},
		{"secret with newline", SettingsInput{Settings: cur, EntraClientSecret: key("a\nb")}, []string{"entraClientSecret"}},
		{"valid", func() SettingsInput {
			s := cur
			s.OrgID = "org-1"
			return SettingsInput{Settings: s, APIKey: key("abc")}
		}(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fieldKeys(tt.in.Validate(cur))
			if !slices.Equal(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Errorf("invalid fields = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSecretsNeverLeak proves the write-only credentials cannot be returned:
// Settings has no field for them, and a SettingsInput that is marshalled,
// printed or logged by mistake shows no secret.
func TestSecretsNeverLeak(t *testing.T) {
	const apiKey, clientSecret = "ATATT-super-secret-key", "entra-client-secret-value"
	var in SettingsInput
	body := fmt.Sprintf(`{"orgId":"org-1","apiKey":%q,"entraClientSecret":%q,"apiKeySet":false}`, apiKey, clientSecret)
	if err := json.Unmarshal([]byte(body), &in); err != nil {
		t.Fatal(err)
	}
	if in.APIKey == nil || in.APIKey.Reveal() != apiKey || in.EntraClientSecret.Reveal() != clientSecret {
		t.Fatalf("decoded input = %#v", in)
	}
	s, ch := in.Apply(DefaultSettings())
	if !s.APIKeySet || ch.APIKey.Reveal() != apiKey {
		t.Fatalf("Apply did not take the key: %+v", s)
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	logger.Info("settings", "input", in.APIKey, "changes", ch.APIKey)
	view, _ := json.Marshal(s)
	inJSON, _ := json.Marshal(in)
	for name, out := range map[string]string{
		"settings JSON": string(view),
		"input JSON":    string(inJSON),
		"%v":            fmt.Sprintf("%v %v", *in.APIKey, *in.EntraClientSecret),
		"%#v":           fmt.Sprintf("%#v", in),
		"%+v":           fmt.Sprintf("%+v", ch),
		"slog":          logs.String(),
	} {
		if strings.Contains(out, apiKey) || strings.Contains(out, clientSecret) {
			t.Errorf("%s leaks a secret: %s", name, out)
		}
	}
	if !strings.Contains(string(view), `"apiKeySet":true`) {
		t.Errorf("settings JSON lacks apiKeySet: %s", view)
	}
}

// TestClassifyGroups: the synced verdict in the order (override,
// then what Atlassian reports, then the toggle for unreported groups only),
// each with its decision in words and the toggle's disagreement.
func TestClassifyGroups(t *testing.T) {
	products := []ProductAccess{
		{Key: ProductJiraSoftware, Name: "Jira Software", GroupIDs: []string{"g-jsw", "g-jsw-entra", "g-multi", "g-jsw-quiet", "g-locked"}},
		{Key: ProductJiraServiceDesk, Name: "Jira Service Management", GroupIDs: []string{"g-multi", "g-jsm", "g-jsm-admins"}},
	}
	org := []OrgGroup{
		{ID: "g-jsw", Name: "jira-software-users", ManagedBy: "admins", Modifiable: true, MemberCount: 40},
		{ID: "g-jsw-entra", Name: "JSW Entra", ExternalSynced: true, MemberCount: 12},
		{ID: "g-jsw-quiet", Name: "jsw-quiet", Modifiable: true, MemberCount: 2},
		{ID: "g-locked", Name: "jsw-locked", MemberCount: 1}, // modifiable false alone reports no origin
		{ID: "g-multi", Name: "jira-all", Modifiable: true, MemberCount: 3},
		{ID: "g-jsm", Name: "jsm-agents", Modifiable: true, MemberCount: 5},
		{ID: "g-jsm-admins", Name: "jsm-admins", ManagedBy: "team-members", Modifiable: true, MemberCount: 4},
		{ID: "g-ext", Name: "contractors", ManagedBy: "external", Modifiable: true, MemberCount: 7},
		{ID: "g-conf", Name: "confluence-users", ManagedBy: "open", Modifiable: true, MemberCount: 20},
	}
	site := []SiteGroup{{ID: "g-site", Name: "site-only"}, {ID: "g-jsw", Name: "old name"}}
	s := DefaultSettings()
	s.LicensingGroups = map[string][]string{ProductConfluence: {"g-conf"}}
	s.IdentityProvider.ProvisioningEnabled = map[string]bool{ProductJiraServiceDesk: true}
	s.IdentityProvider.GroupOverrides = map[string]bool{"g-multi": false, "g-site": true}
	s.IdentityProvider.GroupMappings = map[string]string{"g-jsw-entra": testGUID1}

	show := func(gs []GroupInfo) []string {
		var out []string
		for _, g := range gs {
			out = append(out, fmt.Sprintf("%s %v %s/%s %s [%s] {%s} %s", g.ID, g.Synced, g.Source, g.Origin, g.Removal,
				strings.Join(g.ProductKeys(), ","), g.IdPGroup, g.Decision+cmpOr(" | ", g.Disagreement)))
		}
		return out
	}
	// Sorted by name: "JSW Entra" sorts before lower-case names (byte order).
	want := []string{
		"g-jsw-entra true reported/synced idp-unconfigured [jira-software] {} synced: reported by Atlassian, although provisioning is not enabled | Atlassian reports this group as synced from an identity provider, but provisioning is not enabled for Jira Software",
		"g-conf false reported/atlassian atlassian [confluence] {} managed in Atlassian: reported by Atlassian",
		"g-ext true reported/synced idp-unconfigured [] {} synced: reported by Atlassian",
		"g-multi false admin/unreported atlassian [jira-servicedesk,jira-software] {} managed in Atlassian: set by an admin for this group",
		"g-jsw false reported/atlassian atlassian [jira-software] {} managed in Atlassian: reported by Atlassian",
		"g-jsm-admins false reported/atlassian atlassian [jira-servicedesk] {} managed in Atlassian: reported by Atlassian, although provisioning is enabled | Provisioning is enabled for Jira Service Management, but Atlassian reports this group as managed in Atlassian",
		"g-jsm true provisioning/unreported idp-unconfigured [jira-servicedesk] {} synced: provisioning enabled for this app",
		"g-locked false none/unreported atlassian [jira-software] {} managed in Atlassian: provisioning is not enabled for this app, and Atlassian does not report where the group is managed",
		"g-jsw-quiet false none/unreported atlassian [jira-software] {} managed in Atlassian: provisioning is not enabled for this app, and Atlassian does not report where the group is managed",
		"g-site true admin/unreported idp-unconfigured [] {} synced: set by an admin for this group",
	}
	got := ClassifyGroups(products, org, site, s)
	if diff := cmp.Diff(want, show(got)); diff != "" {
		t.Errorf("ClassifyGroups without IdP (-want +got):\n%s", diff)
	}
	if got[3].SyncedOverride == nil || *got[3].SyncedOverride || got[3].MemberCount != 3 {
		t.Errorf("override or member count lost: %+v", got[3])
	}

	// With Entra ID configured the synced groups are removed there, from
	// the mapped group or the one of the same name.
	s.IdentityProvider.Provider = ProviderEntra
	idpGroup := map[string]string{"g-jsw-entra": testGUID1, "g-ext": "contractors", "g-jsm": "jsm-agents", "g-site": "site-only"}
	for i, w := range want {
		id, _, _ := strings.Cut(w, " ")
		if name, ok := idpGroup[id]; ok {
			w = strings.Replace(w, "idp-unconfigured", "idp", 1)
			want[i] = strings.Replace(w, "{}", "{"+name+"}", 1)
		}
	}
	if diff := cmp.Diff(want, show(ClassifyGroups(products, org, site, s))); diff != "" {
		t.Errorf("ClassifyGroups with Entra (-want +got):\n%s", diff)
	}
}

func cmpOr(sep, s string) string {
	if s == "" {
		return ""
	}
	return sep + s
}

// TestMergeReasons: a reason with the manual-action prefix and the same
// reason without it are one reason, their counts added, the order kept.
func TestMergeReasons(t *testing.T) {
	got := mergeReasons([]ReasonCount{
		{Reason: "no group", Users: 5, Rows: 6},
		{Reason: ManualNotePrefix + "no e-mail", Users: 3, Rows: 3},
		{Reason: "no e-mail", Users: 1, Rows: 1},
	}, ManualNotePrefix)
	want := []ReasonCount{{Reason: "no group", Users: 5, Rows: 6}, {Reason: "no e-mail", Users: 4, Rows: 4}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestSectionVersions: a section's version changes with what the section
// holds and only then; the times a credential was tested are not part of
// it, and every section has one.
func TestSectionVersions(t *testing.T) {
	base := DefaultSettings()
	before := base.SectionVersions()
	if len(before) != 5 {
		t.Fatalf("versions of %d sections, want 5: %v", len(before), before)
	}
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		change  func(s *Settings)
		changed string // "" = none
	}{
		{"company domains", func(s *Settings) { s.CompanyDomains = []string{"example.com"} }, SectionOrganization},
		{"API key set", func(s *Settings) { s.APIKeySet = true }, SectionOrganization},
		{"API key verified", func(s *Settings) { s.APIKeyVerifiedAt = &now }, ""},
		{"provisioning", func(s *Settings) { s.IdentityProvider.ProvisioningEnabled = map[string]bool{ProductJiraSoftware: true} }, SectionProducts},
		{"licensing groups", func(s *Settings) { s.LicensingGroups = map[string][]string{ProductConfluence: {"g1"}} }, SectionProducts},
		{"mapping", func(s *Settings) { s.IdentityProvider.GroupMappings = map[string]string{"g1": "Sales"} }, SectionIdentityProvider},
		{"Entra tested", func(s *Settings) {
			s.IdentityProvider.Entra.VerifiedAt = &now
			s.IdentityProvider.Entra.LastTestNote = "x"
		}, ""},
		{"exception accounts", func(s *Settings) { s.Exceptions.AccountIDs = []string{"a1"} }, SectionExceptions},
		{"active days", func(s *Settings) { s.Activity.ActiveDays++ }, SectionActivityAndExport},
		{"no BOM", func(s *Settings) { s.Export.NoBOM = !s.Export.NoBOM }, SectionActivityAndExport},
		{"history", func(s *Settings) { s.History.KeepDays++ }, SectionActivityAndExport},
		{"version and time", func(s *Settings) { s.Version++; s.UpdatedAt = now }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := DefaultSettings()
			tc.change(&s)
			after := s.SectionVersions()
			for name, v := range before {
				if changed := after[name] != v; changed != (name == tc.changed) {
					t.Errorf("section %s: version changed %v, want %v", name, changed, name == tc.changed)
				}
			}
		})
	}
}
