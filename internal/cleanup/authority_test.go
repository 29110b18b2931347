package cleanup

import (
	"context"
	"errors"
	"testing"
)

func TestChangesOrgCredentials(t *testing.T) {
	cur := DefaultSettings()
	cur.OrgID, cur.APIKeySet = "org-1", true
	cur.IdentityProvider.Provider = ProviderEntra
	cur.IdentityProvider.Entra = EntraConnection{TenantID: "0f7c2b1e-3a4d-4e5f-8a9b-0c1d2e3f4a5b", ClientID: "1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d", SecretSet: true}
	secret := Secret("x")
	empty := Secret("")
	tests := []struct {
		name   string
		change func(*SettingsInput)
		want   bool
	}{
		{"nothing", func(*SettingsInput) {}, false},
		{"other settings", func(in *SettingsInput) { in.CompanyDomains = []string{"example.com"}; in.Activity.ActiveDays = 20 }, false},
		{"whitespace around the org id", func(in *SettingsInput) { in.OrgID = " org-1 " }, false},
		{"the provider", func(in *SettingsInput) { in.IdentityProvider.Provider = "" }, false},
		{"org id", func(in *SettingsInput) { in.OrgID = "org-2" }, true},
		{"API key set", func(in *SettingsInput) { in.APIKey = &secret }, true},
		{"API key removed", func(in *SettingsInput) { in.APIKey = &empty }, true},
		{"Entra secret", func(in *SettingsInput) { in.EntraClientSecret = &secret }, true},
		{"Entra directory", func(in *SettingsInput) { in.IdentityProvider.Entra.TenantID = "contoso.onmicrosoft.com" }, true},
		{"Entra application", func(in *SettingsInput) { in.IdentityProvider.Entra.ClientID = "" }, true},
	}
	for _, tc := range tests {
		in := SettingsInput{Settings: cur}
		tc.change(&in)
		if got := in.ChangesOrgCredentials(cur); got != tc.want {
			t.Errorf("%s: ChangesOrgCredentials = %v, want %v", tc.name, got, tc.want)
		}
	}
}

type denyAll struct{ err error }

func (d denyAll) OrgAdmin(context.Context) error { return d.err }

func TestRequireOrgAdmin(t *testing.T) {
	ctx := context.Background()
	if err := requireOrgAdmin(ctx); KindOf(err) != KindForbidden {
		t.Errorf("without an Authority: %v, want forbidden", err)
	}
	refusal := &Error{Kind: KindForbidden, Message: "only a site admin"}
	if err := requireOrgAdmin(WithAuthority(ctx, denyAll{refusal})); !errors.Is(err, refusal) {
		t.Errorf("denied: %v", err)
	}
	if err := requireOrgAdmin(AsOperator(ctx)); err != nil {
		t.Errorf("operator: %v", err)
	}
	if !(Definition{Action: ActionDeactivate}).OrgWide() || (Definition{Action: ActionRemoveProductAccess}).OrgWide() {
		t.Error("OrgWide")
	}
}
