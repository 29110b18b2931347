package cleanup

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The hand-built organization every evaluator test uses.
var evalNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func ago(days int) time.Time { return evalNow.Add(-time.Duration(days) * day) }

type userOpt func(*OrgUser)

func withEmail(e string) userOpt    { return func(u *OrgUser) { u.Email = e } }
func withType(t string) userOpt     { return func(u *OrgUser) { u.AccountType = t } }
func withStatus(s string) userOpt   { return func(u *OrgUser) { u.Status = s } }
func withRoles(r ...string) userOpt { return func(u *OrgUser) { u.Roles = r } }
func withAdded(t time.Time) userOpt { return func(u *OrgUser) { u.AddedToOrg = t } }
func unmanaged() userOpt            { return func(u *OrgUser) { u.Managed = false } }
func synced() userOpt               { return func(u *OrgUser) { u.ManagementSource = SourceSynced } }
func lastActive(kv ...any) userOpt { // product key, time, ...
	return func(u *OrgUser) {
		u.LastActive = map[string]time.Time{}
		for i := 0; i < len(kv); i += 2 {
			u.LastActive[kv[i].(string)] = kv[i+1].(time.Time)
		}
	}
}

func orgUser(id string, groups []string, opts ...userOpt) OrgUser {
	u := OrgUser{
		AccountID:        id,
		Name:             id,
		Email:            id + "@example.com",
		AccountType:      AccountAtlassian,
		Status:           StatusActive,
		Managed:          true,
		ManagementSource: SourceInvited,
		AddedToOrg:       ago(1000),
		LastActive:       map[string]time.Time{},
		GroupIDs:         groups,
	}
	for _, o := range opts {
		o(&u)
	}
	return u
}

const (
	gJSW    = "g-jsw"       // jira-software-users, Atlassian-managed
	gConf   = "g-conf"      // confluence-users, declared in settings
	gEntra  = "g-jsw-entra" // JSW Entra, synced (detected)
	gJSM    = "g-jsm"       // jsm-agents, Atlassian-managed, never selected
	gIT     = "g-it"        // it-staff, no product, exception group
	gSummer = "g-summer"    // summer-students, no product
)

func testOrg() ([]ProductAccess, []OrgGroup) {
	products := []ProductAccess{
		{Key: ProductJiraSoftware, Name: "Jira Software", GroupIDs: []string{gJSW, gEntra}},
		{Key: ProductJiraServiceDesk, Name: "Jira Service Management", GroupIDs: []string{gJSM}},
	}
	org := []OrgGroup{
		{ID: gJSW, Name: "jira-software-users", Modifiable: true, MemberCount: 10},
		{ID: gConf, Name: "confluence-users", Modifiable: true, MemberCount: 10},
		{ID: gEntra, Name: "JSW Entra", ExternalSynced: true, MemberCount: 3},
		{ID: gJSM, Name: "jsm-agents", Modifiable: true, MemberCount: 2},
		{ID: gIT, Name: "it-staff", Modifiable: true, MemberCount: 2},
		{ID: gSummer, Name: "summer-students", Modifiable: true, MemberCount: 4},
	}
	return products, org
}

func testSettings(provider string) Settings {
	s := DefaultSettings()
	s.OrgID, s.APIKeySet = "org-1", true
	s.CompanyDomains = []string{"example.com"}
	s.LicensingGroups = map[string][]string{ProductConfluence: {gConf}}
	s.Exceptions = Exceptions{GroupIDs: []string{gIT}, AccountIDs: []string{"vip"}}
	s.IdentityProvider.Provider = provider
	if provider != "" {
		s.IdentityProvider.Entra = EntraConnection{TenantID: testGUID1, ClientID: testGUID2, SecretSet: true}
	}
	return s
}

func testGroups(s Settings) []GroupInfo {
	products, org := testOrg()
	return ClassifyGroups(products, org, nil, s)
}

// testUsers is the organization: one user per rule, named after it.
func testUsers() []OrgUser {
	jsw := ProductJiraSoftware
	return []OrgUser{
		orgUser("alice", []string{gJSW}, lastActive(jsw, ago(412))),
		orgUser("bob-multi", []string{gJSW, gConf}, lastActive(jsw, ago(100), ProductConfluence, ago(5))),
		orgUser("carol-boundary", []string{gJSW}, lastActive(jsw, ago(90))),
		orgUser("dave-just-active", []string{gJSW}, lastActive(jsw, ago(90).Add(time.Minute))),
		orgUser("erin-entra", []string{gEntra}, lastActive(jsw, ago(200))),
		orgUser("frank-both", []string{gJSW, gEntra, gJSM}, lastActive(jsw, ago(120))),
		orgUser("grace-admin", []string{gJSW}, lastActive(jsw, ago(300)), withRoles("atlassian/org-admin")),
		orgUser("vip", []string{gJSW}, lastActive(jsw, ago(300))),
		orgUser("ivan-it", []string{gJSW, gIT}, lastActive(jsw, ago(300))),
		orgUser("judy-it-active", []string{gJSW, gIT}, lastActive(jsw, ago(1))),
		orgUser("bot", []string{gJSW}, withType(AccountApp)),
		orgUser("customer", []string{gJSW}, withType(AccountCustomer)),
		orgUser("gone", []string{gJSW}, withStatus(StatusDeactivated), lastActive(jsw, ago(500))),
		orgUser("susan-suspended", []string{gJSW}, withStatus(StatusSuspended), lastActive(jsw, ago(500))),
		orgUser("nina-never-old", []string{gJSW}, withAdded(ago(200))),
		orgUser("ned-never-new", []string{gJSW}, withAdded(ago(10))),
		orgUser("nora-never-unknown", []string{gJSW}, withAdded(time.Time{})),
		orgUser("oscar-jsm-only", []string{gJSM}, lastActive(ProductJiraServiceDesk, ago(400))),
		orgUser("paul-conf-active", []string{gConf}, lastActive(ProductConfluence, ago(2), jsw, ago(400))),
	}
}

// plannedRow is the part of a row the tests pin.
type plannedRow struct {
	Account, Group, Product, Action, Outcome, Reason, Message, IdP string
	Synced                                                         bool
}

func project(rows []AffectedUser) []plannedRow {
	out := make([]plannedRow, len(rows))
	for i, r := range rows {
		out[i] = plannedRow{r.AccountID, r.GroupID, r.Product, r.Action, r.Outcome, r.Reason, r.Message, r.IdentityProvider, r.GroupSynced}
	}
	return out
}

func baseDefinition() Definition {
	d := DefaultDefinition()
	d.Name = "Jira inactive 90 days"
	d.LicensingGroupIDs = []string{gJSW, gEntra, gConf}
	d.DaysInactive = 90
	d.IncludeNeverActive = true
	d.NeverActiveMinAccountAgeDays = 30
	d.Action = ActionRemoveProductAccess
	return d
}

const (
	exportMsg    = `group synced from Microsoft Entra ID: exported to the bulk-remove file for its group "JSW Entra"`
	directMsg    = `group synced from Microsoft Entra ID: remove from its group "JSW Entra" there directly`
	inJSW412     = "inactive in Jira Software for 412 days (threshold 90)"
	inJSW100     = "inactive in Jira Software for 100 days (threshold 90)"
	inJSW90      = "inactive in Jira Software for 90 days (threshold 90)"
	inJSW200     = "inactive in Jira Software for 200 days (threshold 90)"
	inJSW120     = "inactive in Jira Software for 120 days (threshold 90)"
	inJSW300     = "inactive in Jira Software for 300 days (threshold 90)"
	neverJSW200  = "never active in Jira Software; account 200 days old (minimum 30)"
	protAdmin    = "protected: site or organization admin"
	protAccount  = "protected: the account is an exception"
	protITGroup  = `protected: member of the exception group "it-staff"`
	jswKey       = ProductJiraSoftware
	removeAction = ActionRemoveProductAccess
)

func TestEvaluateRemoveProductAccess(t *testing.T) {
	tests := []struct {
		name       string
		provider   string
		modify     func(*Definition)
		wantRows   []plannedRow
		wantCounts Counts
	}{
		{
			name:     "Entra configured: synced groups go to the export",
			provider: ProviderEntra,
			wantRows: []plannedRow{
				{"alice", gJSW, jswKey, removeAction, OutcomePending, inJSW412, "", "", false},
				{"bob-multi", gJSW, jswKey, removeAction, OutcomePending, inJSW100, "", "", false},
				{"carol-boundary", gJSW, jswKey, removeAction, OutcomePending, inJSW90, "", "", false},
				{"erin-entra", gEntra, jswKey, ActionIdPExport, OutcomePending, inJSW200, exportMsg, ProviderEntra, true},
				{"frank-both", gEntra, jswKey, ActionIdPExport, OutcomePending, inJSW120, exportMsg, ProviderEntra, true},
				{"frank-both", gJSW, jswKey, removeAction, OutcomePending, inJSW120, "", "", false},
				{"grace-admin", gJSW, jswKey, removeAction, OutcomeSkipped, inJSW300, protAdmin, "", false},
				{"vip", gJSW, jswKey, removeAction, OutcomeSkipped, inJSW300, protAccount, "", false},
				{"ivan-it", gJSW, jswKey, removeAction, OutcomeSkipped, inJSW300, protITGroup, "", false},
				{"nina-never-old", gJSW, jswKey, removeAction, OutcomePending, neverJSW200, "", "", false},
			},
			wantCounts: Counts{
				Evaluated: 19, Matched: 6, Rows: 10,
				Protected: 4, ProtectedAdmins: 1, ProtectedAccounts: 1, ProtectedGroups: 2,
				NotSelected: 1, SkippedDeactivated: 1, SkippedApps: 1, SkippedCustomers: 1, SkippedSuspended: 1,
				StillActive: 2, NeverActiveTooNew: 1, NeverActiveUnknownAge: 1,
				RoutedToIdP: 2,
			},
		},
		{
			name:     "no identity provider: synced groups need manual action",
			provider: "",
			wantRows: []plannedRow{
				{"alice", gJSW, jswKey, removeAction, OutcomePending, inJSW412, "", "", false},
				{"bob-multi", gJSW, jswKey, removeAction, OutcomePending, inJSW100, "", "", false},
				{"carol-boundary", gJSW, jswKey, removeAction, OutcomePending, inJSW90, "", "", false},
				{"erin-entra", gEntra, jswKey, removeAction, OutcomeManual, inJSW200, messageIdPUnconfigured, "", true},
				{"frank-both", gEntra, jswKey, removeAction, OutcomeManual, inJSW120, messageIdPUnconfigured, "", true},
				{"frank-both", gJSW, jswKey, removeAction, OutcomePending, inJSW120, "", "", false},
				{"grace-admin", gJSW, jswKey, removeAction, OutcomeSkipped, inJSW300, protAdmin, "", false},
				{"vip", gJSW, jswKey, removeAction, OutcomeSkipped, inJSW300, protAccount, "", false},
				{"ivan-it", gJSW, jswKey, removeAction, OutcomeSkipped, inJSW300, protITGroup, "", false},
				{"nina-never-old", gJSW, jswKey, removeAction, OutcomePending, neverJSW200, "", "", false},
			},
			wantCounts: Counts{
				Evaluated: 19, Matched: 6, Rows: 10,
				Protected: 4, ProtectedAdmins: 1, ProtectedAccounts: 1, ProtectedGroups: 2,
				NotSelected: 1, SkippedDeactivated: 1, SkippedApps: 1, SkippedCustomers: 1, SkippedSuspended: 1,
				StillActive: 2, NeverActiveTooNew: 1, NeverActiveUnknownAge: 1,
				ManualRows: 2,
			},
		},
		{
			name:     "only the Entra group selected, direct mode, never-active excluded, exceptions overridden",
			provider: ProviderEntra,
			modify: func(d *Definition) {
				d.LicensingGroupIDs = []string{gEntra}
				d.EntraMode = EntraModeDirect
				d.IncludeNeverActive = false
				d.ExceptionsOverride = &Exceptions{AccountIDs: []string{"frank-both"}}
			},
			wantRows: []plannedRow{
				{"erin-entra", gEntra, jswKey, ActionIdPRemove, OutcomePending, inJSW200, directMsg, ProviderEntra, true},
				{"frank-both", gEntra, jswKey, ActionIdPRemove, OutcomeSkipped, inJSW120, protAccount, ProviderEntra, true},
			},
			wantCounts: Counts{
				Evaluated: 19, Matched: 1, Rows: 2,
				Protected: 1, ProtectedAccounts: 1, NotSelected: 17, RoutedToIdP: 1,
			},
		},
		{
			name:     "extra group only: every licensing group of the user; apps and customers included",
			provider: ProviderEntra,
			modify: func(d *Definition) {
				d.LicensingGroupIDs = nil
				d.ExtraGroupIDs = []string{gJSM}
				d.SkipApps, d.SkipCustomers = false, false
			},
			wantRows: []plannedRow{
				{"frank-both", gEntra, jswKey, ActionIdPExport, OutcomePending, inJSW120, exportMsg, ProviderEntra, true},
				{"frank-both", gJSW, jswKey, removeAction, OutcomePending, inJSW120, "", "", false},
				{"frank-both", gJSM, ProductJiraServiceDesk, removeAction, OutcomePending, "never active in Jira Service Management; account 1000 days old (minimum 30)", "", "", false},
				{"oscar-jsm-only", gJSM, ProductJiraServiceDesk, removeAction, OutcomePending, "inactive in Jira Service Management for 400 days (threshold 90)", "", "", false},
			},
			wantCounts: Counts{Evaluated: 19, Matched: 2, Rows: 4, NotSelected: 17, RoutedToIdP: 1},
		},
		{
			name:     "threshold 413 days: alice is one day short",
			provider: ProviderEntra,
			modify: func(d *Definition) {
				d.DaysInactive = 413
				d.IncludeNeverActive = false
			},
			wantRows: []plannedRow{},
			wantCounts: Counts{
				Evaluated: 19, Protected: 4, ProtectedAdmins: 1, ProtectedAccounts: 1, ProtectedGroups: 2,
				NotSelected: 1, SkippedDeactivated: 1, SkippedApps: 1, SkippedCustomers: 1, SkippedSuspended: 1,
				StillActive: 7, NeverActiveExcluded: 3,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testSettings(tt.provider)
			d := baseDefinition()
			if tt.modify != nil {
				tt.modify(&d)
			}
			e, err := NewEvaluator(s, d, testGroups(s), evalNow)
			if err != nil {
				t.Fatalf("NewEvaluator: %v", err)
			}
			rows, counts := e.Evaluate(testUsers())
			if diff := cmp.Diff(tt.wantRows, project(rows)); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantCounts, counts); diff != "" {
				t.Errorf("counts (-want +got):\n%s", diff)
			}
			checkCountsPartition(t, counts)
		})
	}
}

// checkCountsPartition checks that every evaluated user is counted once.
func checkCountsPartition(t *testing.T, c Counts) {
	t.Helper()
	sum := c.Matched + c.Protected + c.NotSelected + c.SkippedDeactivated + c.SkippedApps + c.SkippedCustomers +
		c.SkippedSuspended + c.FilteredDomain + c.FilteredInternal + c.StillActive + c.NeverActiveExcluded +
		c.NeverActiveTooNew + c.NeverActiveUnknownAge + c.NothingToDo
	if sum != c.Evaluated {
		t.Errorf("counters add up to %d, want Evaluated = %d: %+v", sum, c.Evaluated, c)
	}
	if c.Protected != c.ProtectedAdmins+c.ProtectedAccounts+c.ProtectedGroups {
		t.Errorf("protected %d is not the sum of its reasons: %+v", c.Protected, c)
	}
}

func TestEvaluateFullRow(t *testing.T) {
	s := testSettings(ProviderEntra)
	e, err := NewEvaluator(s, baseDefinition(), testGroups(s), evalNow)
	if err != nil {
		t.Fatal(err)
	}
	users := testUsers()[:1]
	rows, _ := e.Evaluate(users)
	want := []AffectedUser{{
		AccountID: "alice", Name: "alice", Email: "alice@example.com", AccountType: AccountAtlassian, PriorStatus: StatusActive,
		Product: ProductJiraSoftware, GroupID: gJSW, GroupName: "jira-software-users",
		LastActive: map[string]time.Time{ProductJiraSoftware: ago(412)},
		Reason:     inJSW412, Action: ActionRemoveProductAccess, Outcome: OutcomePending,
	}}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("row (-want +got):\n%s", diff)
	}
	// The row owns its LastActive map: changing the input does not change it.
	users[0].LastActive[ProductJiraSoftware] = evalNow
	if !rows[0].LastActive[ProductJiraSoftware].Equal(ago(412)) {
		t.Error("row shares LastActive with the input user")
	}
}

func TestEvaluateActions(t *testing.T) {
	jsw := ProductJiraSoftware
	summer := []OrgUser{
		orgUser("sam", []string{gSummer, gJSW}, lastActive(jsw, ago(100))),
		orgUser("sue-unmanaged", []string{gSummer}, unmanaged(), withEmail("sue@gmail.com"), lastActive(jsw, ago(100))),
		orgUser("syd-synced", []string{gSummer}, synced(), lastActive(jsw, ago(100))),
		orgUser("stu-suspended", []string{gSummer}, withStatus(StatusSuspended), lastActive(jsw, ago(100))),
		orgUser("sal-conf-active", []string{gSummer, gConf}, lastActive(jsw, ago(100), ProductConfluence, ago(3))),
		orgUser("sia-never", []string{gSummer}, withAdded(ago(40))),
		orgUser("seb-admin", []string{gSummer}, withRoles("atlassian/site-admin"), lastActive(jsw, ago(100))),
	}
	const anyProduct100 = "inactive in any product for 100 days (threshold 90)"
	tests := []struct {
		name       string
		provider   string
		modify     func(*Definition)
		users      []OrgUser
		wantRows   []plannedRow
		wantCounts Counts
	}{
		{
			name:     "deactivate: managed accounts only, synced accounts in the IdP, suspended included",
			provider: ProviderEntra,
			modify: func(d *Definition) {
				d.Action = ActionDeactivate
				d.LicensingGroupIDs = nil
				d.ExtraGroupIDs = []string{gSummer}
			},
			users: summer,
			wantRows: []plannedRow{
				{"sam", "", "", ActionDeactivate, OutcomePending, anyProduct100, "", "", false},
				{"sue-unmanaged", "", "", ActionDeactivate, OutcomeManual, anyProduct100, messageUnmanagedAccount, "", false},
				{"syd-synced", "", "", ActionDeactivate, OutcomeManual, anyProduct100, messageDeactivateInIdP, "", false},
				{"stu-suspended", "", "", ActionDeactivate, OutcomePending, anyProduct100, "", "", false},
				{"sia-never", "", "", ActionDeactivate, OutcomePending, "never active in any product; account 40 days old (minimum 30)", "", "", false},
				{"seb-admin", "", "", ActionDeactivate, OutcomeSkipped, anyProduct100, protAdmin, "", false},
			},
			wantCounts: Counts{Evaluated: 7, Matched: 5, Rows: 6, Protected: 1, ProtectedAdmins: 1, StillActive: 1, ManualRows: 2},
		},
		{
			name:     "review: rows per licensing group, nothing changes",
			provider: ProviderEntra,
			modify:   func(d *Definition) { d.Action = ActionReview },
			users:    testUsers()[:6],
			wantRows: []plannedRow{
				{"alice", gJSW, jswKey, ActionReview, OutcomeReview, inJSW412, "", "", false},
				{"bob-multi", gJSW, jswKey, ActionReview, OutcomeReview, inJSW100, "", "", false},
				{"carol-boundary", gJSW, jswKey, ActionReview, OutcomeReview, inJSW90, "", "", false},
				{"erin-entra", gEntra, jswKey, ActionReview, OutcomeReview, inJSW200, "", ProviderEntra, true},
				{"frank-both", gEntra, jswKey, ActionReview, OutcomeReview, inJSW120, "", ProviderEntra, true},
				{"frank-both", gJSW, jswKey, ActionReview, OutcomeReview, inJSW120, "", "", false},
			},
			wantCounts: Counts{Evaluated: 6, Matched: 5, Rows: 6, StillActive: 1},
		},
		{
			name:     "entra action: only synced groups; users without one have nothing to do",
			provider: ProviderEntra,
			modify:   func(d *Definition) { d.Action = ActionEntra },
			users:    testUsers()[:6],
			wantRows: []plannedRow{
				{"erin-entra", gEntra, jswKey, ActionIdPExport, OutcomePending, inJSW200, exportMsg, ProviderEntra, true},
				{"frank-both", gEntra, jswKey, ActionIdPExport, OutcomePending, inJSW120, exportMsg, ProviderEntra, true},
			},
			wantCounts: Counts{Evaluated: 6, Matched: 2, Rows: 2, NothingToDo: 4, RoutedToIdP: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testSettings(tt.provider)
			d := baseDefinition()
			tt.modify(&d)
			e, err := NewEvaluator(s, d, testGroups(s), evalNow)
			if err != nil {
				t.Fatalf("NewEvaluator: %v", err)
			}
			rows, counts := e.Evaluate(tt.users)
			if diff := cmp.Diff(tt.wantRows, project(rows)); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantCounts, counts); diff != "" {
				t.Errorf("counts (-want +got):\n%s", diff)
			}
			checkCountsPartition(t, counts)
		})
	}
}

func TestEvaluateDomains(t *testing.T) {
	jsw := ProductJiraSoftware
	users := []OrgUser{
		orgUser("in-domain", []string{gJSW}, lastActive(jsw, ago(100))),
		orgUser("upper-case", []string{gJSW}, withEmail("Upper@EXAMPLE.com"), lastActive(jsw, ago(100))),
		orgUser("subdomain", []string{gJSW}, withEmail("sub@eu.example.com"), lastActive(jsw, ago(100))),
		orgUser("lookalike", []string{gJSW}, withEmail("x@badexample.com"), unmanaged(), lastActive(jsw, ago(100))),
		orgUser("partner", []string{gJSW}, withEmail("p@partner.org"), lastActive(jsw, ago(100))),
		orgUser("hidden-unmanaged", []string{gJSW}, withEmail(""), unmanaged(), lastActive(jsw, ago(100))),
		orgUser("hidden-managed", []string{gJSW}, withEmail(""), lastActive(jsw, ago(100))),
	}
	tests := []struct {
		name           string
		domains        []string
		externalOnly   bool
		companyDomains []string
		want           []string // accounts with rows
		wantFiltered   Counts
	}{
		{"no filter", nil, false, []string{"example.com"},
			[]string{"in-domain", "upper-case", "subdomain", "lookalike", "partner", "hidden-unmanaged", "hidden-managed"}, Counts{}},
		{"domain list matches subdomains, case-insensitive", []string{"@Example.com"}, false, []string{"example.com"},
			[]string{"in-domain", "upper-case", "subdomain"}, Counts{FilteredDomain: 4}},
		{"external only by company domains", nil, true, []string{"example.com"},
			[]string{"lookalike", "partner", "hidden-unmanaged"}, Counts{FilteredInternal: 4}},
		{"external only without company domains: unmanaged accounts", nil, true, nil,
			[]string{"lookalike", "hidden-unmanaged"}, Counts{FilteredInternal: 5}},
		{"domains and external only", []string{"partner.org", "badexample.com"}, true, []string{"example.com"},
			[]string{"lookalike", "partner"}, Counts{FilteredDomain: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testSettings(ProviderEntra)
			s.CompanyDomains = tt.companyDomains
			d := baseDefinition()
			d.EmailDomains = tt.domains
			d.ExternalOnly = tt.externalOnly
			e, err := NewEvaluator(s, d, testGroups(s), evalNow)
			if err != nil {
				t.Fatalf("NewEvaluator: %v", err)
			}
			rows, c := e.Evaluate(users)
			var got []string
			for _, r := range rows {
				got = append(got, r.AccountID)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("accounts (-want +got):\n%s", diff)
			}
			checkCountsPartition(t, c)
			gotFiltered := Counts{FilteredDomain: c.FilteredDomain, FilteredInternal: c.FilteredInternal}
			if diff := cmp.Diff(tt.wantFiltered, gotFiltered); diff != "" {
				t.Errorf("filter counts (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEvaluatePagesAddUp proves page-by-page evaluation equals evaluating
// everyone at once: the evaluator keeps no state between pages.
func TestEvaluatePagesAddUp(t *testing.T) {
	s := testSettings(ProviderEntra)
	e, err := NewEvaluator(s, baseDefinition(), testGroups(s), evalNow)
	if err != nil {
		t.Fatal(err)
	}
	users := testUsers()
	wantRows, wantCounts := e.Evaluate(users)
	var rows []AffectedUser
	var counts Counts
	for i := 0; i < len(users); i += 4 {
		r, c := e.Evaluate(users[i:min(i+4, len(users))])
		rows = append(rows, r...)
		counts.Add(c)
	}
	if diff := cmp.Diff(wantRows, rows); diff != "" {
		t.Errorf("paged rows (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantCounts, counts); diff != "" {
		t.Errorf("paged counts (-want +got):\n%s", diff)
	}
}

func TestNewEvaluatorRejectsInvalid(t *testing.T) {
	s := testSettings("")
	d := baseDefinition()
	d.Action = ActionEntra
	_, err := NewEvaluator(s, d, testGroups(s), evalNow)
	if KindOf(err) != KindInvalid {
		t.Fatalf("NewEvaluator error = %v, want KindInvalid", err)
	}
}

func BenchmarkEvaluate(b *testing.B) {
	s := testSettings(ProviderEntra)
	e, err := NewEvaluator(s, baseDefinition(), testGroups(s), evalNow)
	if err != nil {
		b.Fatal(err)
	}
	base := testUsers()
	page := make([]OrgUser, 0, 100)
	for len(page) < 100 {
		page = append(page, base...)
	}
	page = page[:100]
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		e.Evaluate(page)
	}
	b.ReportMetric(float64(b.N*len(page))/b.Elapsed().Seconds(), "users/s")
}

// TestEvaluateChosenAccounts: a definition with AccountIDs (the users
// screen's bulk action) selects exactly those accounts, in every licensing
// group they are in when it selects no group, whatever their activity;
// protections still apply and other accounts are not selected.
func TestEvaluateChosenAccounts(t *testing.T) {
	s := testSettings(ProviderEntra)
	d := DefaultDefinition()
	d.Name, d.Action, d.Manual = "chosen", ActionRemoveProductAccess, true
	d.AccountIDs = []string{"active", "admin"}
	e, err := NewEvaluator(s, d, testGroups(s), evalNow)
	if err != nil {
		t.Fatal(err)
	}
	users := []OrgUser{
		orgUser("active", []string{gJSW, gEntra}, lastActive(jswKey, ago(1))),
		orgUser("admin", []string{gJSW}, withRoles("atlassian/org-admin")),
		orgUser("other", []string{gJSW}, lastActive(jswKey, ago(400))),
	}
	rows, c := e.Evaluate(users)
	chosen := "chosen by an admin on the users screen"
	want := []plannedRow{
		{Account: "active", Group: gEntra, Product: jswKey, Action: ActionIdPExport, Outcome: OutcomePending, Reason: chosen, Message: exportMsg, IdP: ProviderEntra, Synced: true},
		{Account: "active", Group: gJSW, Product: jswKey, Action: removeAction, Outcome: OutcomePending, Reason: chosen},
		{Account: "admin", Group: gJSW, Product: jswKey, Action: removeAction, Outcome: OutcomeSkipped, Reason: chosen, Message: protAdmin},
	}
	if diff := cmp.Diff(want, project(rows)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if c.Matched != 1 || c.ProtectedAdmins != 1 || c.NotSelected != 1 {
		t.Errorf("counts %+v", c)
	}
	checkCountsPartition(t, c)
	d.AccountIDs = make([]string, MaxSelectedUsers+1)
	for i := range d.AccountIDs {
		d.AccountIDs[i] = string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	if fe := d.Validate(testGroups(s), s); fe == nil || fe["accountIds"] == "" {
		t.Errorf("%d chosen accounts: %v", len(d.AccountIDs), fe)
	}
}
