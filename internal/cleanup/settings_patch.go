package cleanup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// Settings sections: the parts of the settings page. A change carries
// whole sections or some of their fields; whatever it does not carry is
// neither sent nor changed.
//
//	organization       orgId, apiKey (write-only), companyDomains
//	products           identityProvider.provisioningEnabled, identityProvider.groupOverrides, licensingGroups
//	identityProvider   identityProvider.provider, .entra.tenantId, .entra.clientId, entraClientSecret (write-only),
//	                   .groupMappings, .followUpAfterMinutes
//	exceptions         exceptions.groupIds, exceptions.accountIds
//	activityAndExport  activity, export, history
const (
	SectionOrganization      = "organization"
	SectionProducts          = "products"
	SectionIdentityProvider  = "identityProvider"
	SectionExceptions        = "exceptions"
	SectionActivityAndExport = "activityAndExport"
)

// messageSettingsConflict answers a change built on an outdated copy.
const messageSettingsConflict = "Someone else changed the settings since this page loaded them; reload the page and make your change again."

// SettingsPatch is a change of some sections of the settings (PATCH
// /api/settings). A nil section, and a nil field of a section, is left as
// stored; a field that is set replaces the stored value as a whole (a map
// or list is not merged).
type SettingsPatch struct {
	// Versions are the section versions (Settings.SectionVersions) of the
	// copy the change was built on, by section name: a section the patch
	// carries whose stored version differs was changed by someone else
	// meanwhile (KindConflict). Changes of other sections do not conflict.
	Versions          map[string]string         `json:"versions,omitempty"`
	Organization      *OrganizationSection      `json:"organization,omitempty"`
	Products          *ProductsSection          `json:"products,omitempty"`
	IdentityProvider  *IdentityProviderSection  `json:"identityProvider,omitempty"`
	Exceptions        *ExceptionsSection        `json:"exceptions,omitempty"`
	ActivityAndExport *ActivityAndExportSection `json:"activityAndExport,omitempty"`
}

// OrganizationSection: the organization and its API key.
type OrganizationSection struct {
	OrgID *string `json:"orgId,omitempty"`
	// APIKey: nil keeps the stored key, "" removes it, else replaces it.
	APIKey         *Secret   `json:"apiKey,omitempty"`
	CompanyDomains *[]string `json:"companyDomains,omitempty"`
}

// ProductsSection: the products' provisioning toggles, the per-group
// overrides and the licensing groups set by the admin.
type ProductsSection struct {
	ProvisioningEnabled *map[string]bool     `json:"provisioningEnabled,omitempty"`
	GroupOverrides      *map[string]bool     `json:"groupOverrides,omitempty"`
	LicensingGroups     *map[string][]string `json:"licensingGroups,omitempty"`
}

// IdentityProviderSection: the identity provider, the Microsoft Entra ID
// connection, the group mappings and the follow-up delay.
type IdentityProviderSection struct {
	Provider *string   `json:"provider,omitempty"`
	Entra    *EntraIDs `json:"entra,omitempty"`
	// EntraClientSecret: nil keeps the stored secret, "" removes it, else
	// replaces it.
	EntraClientSecret    *Secret            `json:"entraClientSecret,omitempty"`
	GroupMappings        *map[string]string `json:"groupMappings,omitempty"`
	FollowUpAfterMinutes *int               `json:"followUpAfterMinutes,omitempty"`
}

// EntraIDs are the Microsoft Entra ID app registration's ids.
type EntraIDs struct {
	TenantID *string `json:"tenantId,omitempty"`
	ClientID *string `json:"clientId,omitempty"`
}

// ExceptionsSection: the exception groups and accounts.
type ExceptionsSection struct {
	GroupIDs   *[]string `json:"groupIds,omitempty"`
	AccountIDs *[]string `json:"accountIds,omitempty"`
}

// ActivityAndExportSection: the activity bands, the export options and
// how long run history and exports are kept.
type ActivityAndExportSection struct {
	Activity *ActivityBands   `json:"activity,omitempty"`
	Export   *ExportOptions   `json:"export,omitempty"`
	History  *HistorySettings `json:"history,omitempty"`
}

// Sections names the sections the patch carries, in page order.
func (p SettingsPatch) Sections() []string {
	var out []string
	for _, s := range []struct {
		name string
		set  bool
	}{
		{SectionOrganization, p.Organization != nil},
		{SectionProducts, p.Products != nil},
		{SectionIdentityProvider, p.IdentityProvider != nil},
		{SectionExceptions, p.Exceptions != nil},
		{SectionActivityAndExport, p.ActivityAndExport != nil},
	} {
		if s.set {
			out = append(out, s.name)
		}
	}
	return out
}

// Input returns the full submission the patch makes of cur: cur with the
// patch's fields replaced, and its credential changes.
func (p SettingsPatch) Input(cur Settings) SettingsInput {
	s := cur
	s.CompanyDomains = slices.Clone(cur.CompanyDomains)
	s.LicensingGroups = maps.Clone(cur.LicensingGroups)
	ip := &s.IdentityProvider
	ip.ProvisioningEnabled = maps.Clone(cur.IdentityProvider.ProvisioningEnabled)
	ip.GroupOverrides = maps.Clone(cur.IdentityProvider.GroupOverrides)
	ip.GroupMappings = maps.Clone(cur.IdentityProvider.GroupMappings)
	s.Exceptions = Exceptions{GroupIDs: slices.Clone(cur.Exceptions.GroupIDs), AccountIDs: slices.Clone(cur.Exceptions.AccountIDs)}
	in := SettingsInput{}
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	if o := p.Organization; o != nil {
		set(&s.OrgID, o.OrgID)
		if o.CompanyDomains != nil {
			s.CompanyDomains = *o.CompanyDomains
		}
		in.APIKey = o.APIKey
	}
	if pr := p.Products; pr != nil {
		if pr.ProvisioningEnabled != nil {
			ip.ProvisioningEnabled = *pr.ProvisioningEnabled
		}
		if pr.GroupOverrides != nil {
			ip.GroupOverrides = *pr.GroupOverrides
		}
		if pr.LicensingGroups != nil {
			s.LicensingGroups = *pr.LicensingGroups
		}
	}
	if x := p.IdentityProvider; x != nil {
		set(&ip.Provider, x.Provider)
		if x.Entra != nil {
			set(&ip.Entra.TenantID, x.Entra.TenantID)
			set(&ip.Entra.ClientID, x.Entra.ClientID)
		}
		if x.GroupMappings != nil {
			ip.GroupMappings = *x.GroupMappings
		}
		if x.FollowUpAfterMinutes != nil {
			ip.FollowUpAfterMinutes = *x.FollowUpAfterMinutes
		}
		in.EntraClientSecret = x.EntraClientSecret
	}
	if e := p.Exceptions; e != nil {
		if e.GroupIDs != nil {
			s.Exceptions.GroupIDs = *e.GroupIDs
		}
		if e.AccountIDs != nil {
			s.Exceptions.AccountIDs = *e.AccountIDs
		}
	}
	if a := p.ActivityAndExport; a != nil {
		if a.Activity != nil {
			s.Activity = *a.Activity
		}
		if a.Export != nil {
			s.Export = *a.Export
		}
		if a.History != nil {
			s.History = *a.History
		}
	}
	in.Settings = s
	return in
}

// SectionVersions returns a version of each section: a digest of the
// values the section holds (what its part of the page shows and sends;
// not when a credential was last tested). Two admins who change different
// sections at the same time do not conflict; a change of a section built
// on an outdated copy of it does (SettingsPatch.Versions).
func (s Settings) SectionVersions() map[string]string {
	ip := s.IdentityProvider
	parts := map[string]any{
		SectionOrganization: []any{s.OrgID, s.APIKeySet, s.CompanyDomains},
		SectionProducts:     []any{ip.ProvisioningEnabled, ip.GroupOverrides, s.LicensingGroups},
		SectionIdentityProvider: []any{ip.Provider, ip.Entra.TenantID, ip.Entra.ClientID, ip.Entra.SecretSet,
			ip.GroupMappings, ip.FollowUpAfterMinutes},
		SectionExceptions:        s.Exceptions,
		SectionActivityAndExport: []any{s.Activity, s.Export, s.History},
	}
	out := make(map[string]string, len(parts))
	for name, v := range parts {
		b, err := json.Marshal(v) // maps marshal with sorted keys
		if err != nil {
			b = fmt.Appendf(nil, "%v", v) // plain values: not expected; fmt sorts map keys too
		}
		sum := sha256.Sum256(b)
		out[name] = hex.EncodeToString(sum[:8])
	}
	return out
}

// staleSection returns the first section the patch carries whose version
// in p.Versions is not cur's, "" when none.
func (p SettingsPatch) staleSection(cur Settings) (string, error) {
	now := cur.SectionVersions()
	for name := range p.Versions {
		if _, ok := now[name]; !ok {
			return "", Invalid("versions", "unknown section %q: use %s, %s, %s, %s or %s", name,
				SectionOrganization, SectionProducts, SectionIdentityProvider, SectionExceptions, SectionActivityAndExport)
		}
	}
	for _, name := range p.Sections() {
		if v, ok := p.Versions[name]; ok && v != now[name] {
			return name, nil
		}
	}
	return "", nil
}

// UpdateSettings changes the sections the patch carries and leaves every
// other setting as stored. ifVersion > 0 (from If-Match) must be the
// stored settings' version, else the change was built on an outdated copy:
// KindConflict, nothing saved. Without it the change applies to the
// settings as they are now. Changing the organization or Microsoft Entra
// ID credentials needs the context's Authority.
func (s *Service) UpdateSettings(ctx context.Context, clientKey string, p SettingsPatch, ifVersion int64) (Settings, error) {
	if len(p.Sections()) == 0 {
		return Settings{}, Invalid("body", "send at least one section: %s, %s, %s, %s or %s",
			SectionOrganization, SectionProducts, SectionIdentityProvider, SectionExceptions, SectionActivityAndExport)
	}
	// A change of other sections stored between reading and saving is
	// not a conflict of this one: read again and retry (a few times).
	for attempt := 0; ; attempt++ {
		cur, err := s.store.Settings(ctx, clientKey)
		if err != nil {
			return Settings{}, err
		}
		if ifVersion > 0 && cur.Version != ifVersion {
			return Settings{}, &Error{Kind: KindConflict, Message: messageSettingsConflict}
		}
		stale, err := p.staleSection(cur)
		if err != nil {
			return Settings{}, err
		}
		if stale != "" {
			return Settings{}, &Error{Kind: KindConflict, Message: fmt.Sprintf(
				"Someone else saved %q since this page loaded it; reload the section and make your change again.", Label("section", stale))}
		}
		saved, err := s.save(ctx, clientKey, cur, p.Input(cur))
		if KindOf(err) == KindConflict && ifVersion == 0 && attempt < 2 {
			continue
		}
		return saved, err
	}
}
