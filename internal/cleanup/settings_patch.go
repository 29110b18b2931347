package cleanup

import (
	"context"
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
	cur, err := s.store.Settings(ctx, clientKey)
	if err != nil {
		return Settings{}, err
	}
	if ifVersion > 0 && cur.Version != ifVersion {
		return Settings{}, &Error{Kind: KindConflict, Message: messageSettingsConflict}
	}
	return s.save(ctx, clientKey, cur, p.Input(cur))
}
