package cleanup

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDefinitionValidate(t *testing.T) {
	entra := testSettings(ProviderEntra)
	none := testSettings("")
	noOrg := testSettings(ProviderEntra)
	noOrg.APIKeySet = false
	entraNoConn := testSettings(ProviderEntra)
	entraNoConn.IdentityProvider.Entra = EntraConnection{}

	tests := []struct {
		name     string
		settings Settings
		modify   func(*Definition)
		want     []string // invalid fields
	}{
		{"valid", entra, nil, nil},
		{"valid manual without schedule", entra, func(d *Definition) { d.Manual, d.Schedule = true, Schedule{} }, nil},
		{"valid cron", entra, func(d *Definition) {
			d.Schedule = Schedule{Active: true, Frequency: FrequencyCron, Cron: "0 3 * * MON-FRI", TimeZone: "Europe/Oslo"}
		}, nil},
		{"empty name", entra, func(d *Definition) { d.Name = "  " }, []string{"name"}},
		{"long name", entra, func(d *Definition) { d.Name = strings.Repeat("x", MaxNameLength+1) }, []string{"name"}},
		{"threshold 0", entra, func(d *Definition) { d.DaysInactive = 0 }, []string{"daysInactive"}},
		{"threshold 3651", entra, func(d *Definition) { d.DaysInactive = 3651 }, []string{"daysInactive"}},
		{"threshold 3650", entra, func(d *Definition) { d.DaysInactive = 3650 }, nil},
		{"never-active age negative", entra, func(d *Definition) { d.NeverActiveMinAccountAgeDays = -1 }, []string{"neverActiveMinAccountAgeDays"}},
		{"unknown licensing group", entra, func(d *Definition) { d.LicensingGroupIDs = []string{gJSW, "nope"} }, []string{"licensingGroupIds"}},
		{"non-licensing group as licensing", entra, func(d *Definition) { d.LicensingGroupIDs = []string{gSummer} }, []string{"licensingGroupIds"}},
		{"unknown extra group", entra, func(d *Definition) { d.ExtraGroupIDs = []string{"nope"} }, []string{"extraGroupIds"}},
		{"no group at all", entra, func(d *Definition) { d.LicensingGroupIDs = nil }, []string{"licensingGroupIds"}},
		{"bad domain", entra, func(d *Definition) { d.EmailDomains = []string{"not a domain"} }, []string{"emailDomains"}},
		{"unknown action", entra, func(d *Definition) { d.Action = "delete" }, []string{"action"}},
		{"no action", entra, func(d *Definition) { d.Action = "" }, []string{"action"}},
		{"entra action without IdP", none, func(d *Definition) { d.Action = ActionEntra }, []string{"action"}},
		{"direct mode without connection", entraNoConn, func(d *Definition) { d.EntraMode = EntraModeDirect }, []string{"entraMode"}},
		{"direct mode with connection", entra, func(d *Definition) { d.Action, d.EntraMode = ActionEntra, EntraModeDirect }, nil},
		{"entra action on unsynced groups only", entra, func(d *Definition) {
			d.Action, d.LicensingGroupIDs = ActionEntra, []string{gJSW, gConf}
		}, []string{"licensingGroupIds"}},
		{"unknown entra mode", entra, func(d *Definition) { d.EntraMode = "upload" }, []string{"entraMode"}},
		{"org settings missing", noOrg, nil, []string{"settings"}},
		{"bad cron", entra, func(d *Definition) {
			d.Schedule = Schedule{Frequency: FrequencyCron, Cron: "0 0 30 2 *"}
		}, []string{"schedule.cron"}},
		{"bad time zone", entra, func(d *Definition) { d.Schedule.TimeZone = "Europe/Atlantis" }, []string{"schedule.timeZone"}},
		{"bad exception override", entra, func(d *Definition) {
			d.ExceptionsOverride = &Exceptions{GroupIDs: []string{"has space"}}
		}, []string{"exceptionsOverride.groupIds"}},
		{"several at once", noOrg, func(d *Definition) {
			d.Name, d.DaysInactive, d.Schedule.Frequency = "", -5, "yearly"
		}, []string{"daysInactive", "name", "schedule.frequency", "settings"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := baseDefinition()
			if tt.modify != nil {
				tt.modify(&d)
			}
			fe := d.Validate(testGroups(tt.settings), tt.settings)
			got := fieldKeys(fe)
			if !slices.Equal(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Errorf("invalid fields = %v, want %v (errors: %v)", got, tt.want, fe)
			}
			if err := fe.Err(); (err != nil) != (len(tt.want) > 0) || (err != nil && KindOf(err) != KindInvalid) {
				t.Errorf("Err() = %v", err)
			}
		})
	}
}

// TestDefinitionJSON pins the API's field names and shows that decoding into
// DefaultDefinition keeps the defaults of omitted fields.
func TestDefinitionJSON(t *testing.T) {
	d := DefaultDefinition()
	body := `{"name":" Summer students ","extraGroupIds":["g-summer","g-summer"],"daysInactive":1,
		"emailDomains":["@Example.COM"],"action":"deactivate","manual":true}`
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatal(err)
	}
	d = d.Normalized()
	want := DefaultDefinition()
	want.Name = "Summer students"
	want.ExtraGroupIDs = []string{"g-summer"}
	want.DaysInactive = 1
	want.EmailDomains = []string{"example.com"}
	want.Action = ActionDeactivate
	want.Manual = true
	want.Schedule.Weekdays = []string{"mon"}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("decoded definition (-want +got):\n%s", diff)
	}
	out, err := json.Marshal(DefaultDefinition())
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]any
	if err := json.Unmarshal(out, &keys); err != nil {
		t.Fatal(err)
	}
	var got []string
	for k := range keys {
		got = append(got, k)
	}
	slices.Sort(got)
	wantKeys := []string{"action", "createdAt", "daysInactive", "emailDomains", "entraMode", "exceptionsOverride",
		"externalOnly", "extraGroupIds", "id", "includeNeverActive", "licensingGroupIds", "manual", "name",
		"neverActiveMinAccountAgeDays", "schedule", "skipApps", "skipCustomers", "updatedAt", "warning"}
	if diff := cmp.Diff(wantKeys, got); diff != "" {
		t.Errorf("JSON keys (-want +got):\n%s", diff)
	}
	if d.Scheduled() {
		t.Error("a manual cleanup is not scheduled")
	}
}
