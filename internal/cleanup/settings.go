package cleanup

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Settings defaults and limits.
const (
	DefaultActiveDays           = 15
	DefaultLowUsageDays         = 30
	DefaultMaxRowsPerFile       = 10_000
	MaxMaxRowsPerFile           = 1_000_000
	DefaultFollowUpAfterMinutes = 60
	MaxFollowUpAfterMinutes     = 7 * 24 * 60
	MaxDays                     = 3650 // upper bound of every day count
)

// Export identifiers: what the identity-provider file lists per user.
const (
	IdentifierUPN      = "upn"      // user principal name (= e-mail, the seed's rule)
	IdentifierObjectID = "objectId" // Entra object id; reserved: refused until run rows carry object ids
)

// Settings is the per-tenant configuration as the API shows it and the store
// keeps it. It never holds a credential: the org API key and the Entra client
// secret are write-only (see SettingsInput) and appear here only as "set" flags
// and the time they were last verified.
type Settings struct {
	OrgID            string     `json:"orgId"`
	APIKeySet        bool       `json:"apiKeySet"`                  // server-owned
	APIKeyVerifiedAt *time.Time `json:"apiKeyVerifiedAt,omitempty"` // server-owned
	// CompanyDomains are the organization's own e-mail domains, used by the
	// "external users only" criterion (a subdomain counts as the domain).
	CompanyDomains []string `json:"companyDomains"`
	// LicensingGroups sets a product's licensing groups by hand, per
	// product key: an override of what the product (Jira) or the
	// Organizations API (Confluence) reports.
	LicensingGroups  map[string][]string `json:"licensingGroups,omitempty"`
	IdentityProvider IdPSettings         `json:"identityProvider"`
	Exceptions       Exceptions          `json:"exceptions"`
	Activity         ActivityBands       `json:"activity"`
	Export           ExportOptions       `json:"export"`
	// History is how long run history and exports are kept.
	History   HistorySettings `json:"history"`
	UpdatedAt time.Time       `json:"updatedAt"` // server-owned
	// Version counts the stored changes (server-owned): the API's ETag. A
	// change built on another version is refused (UpdateSettings).
	Version int64 `json:"version"`
}

// IdPSettings says whether an identity provider owns some of the site's
// groups and how to reach it.
type IdPSettings struct {
	// Provider is "" (none) or ProviderEntra.
	Provider string `json:"provider"`
	// ProvisioningEnabled is "Is user provisioning enabled?" per product key:
	// true marks every licensing group of the product as synced, unless a
	// group override says otherwise.
	ProvisioningEnabled map[string]bool `json:"provisioningEnabled,omitempty"`
	// GroupOverrides maps an Atlassian group id to the admin's verdict on
	// whether it is synced; it beats detection and the product toggle.
	GroupOverrides map[string]bool `json:"groupOverrides,omitempty"`
	// GroupMappings maps an Atlassian group id to its identity-provider group
	// (object id or display name). Absent: the group of the same display name.
	GroupMappings map[string]string `json:"groupMappings,omitempty"`
	// Entra is the Microsoft Graph connection used for direct removal and
	// object-id exports.
	Entra EntraConnection `json:"entra"`
	// FollowUpAfterMinutes is how long after a run to re-check that removed
	// users really lost access (after the next provisioning cycle).
	FollowUpAfterMinutes int `json:"followUpAfterMinutes"`
}

// FollowUpAfter returns FollowUpAfterMinutes as a duration.
func (p IdPSettings) FollowUpAfter() time.Duration {
	return time.Duration(p.FollowUpAfterMinutes) * time.Minute
}

// Configured reports whether an identity provider is configured.
func (p IdPSettings) Configured() bool { return p.Provider != "" }

// IdPGroup is the identity-provider group (object id or display name) that
// removals from the Atlassian group go to: the admin's mapping, else the
// group's own name. The group classification and the export files both
// use it.
func (p IdPSettings) IdPGroup(groupID, groupName string) string {
	return cmp.Or(p.GroupMappings[groupID], groupName)
}

// EntraConnection is the Microsoft Graph app registration. The client secret
// is write-only: only whether it is set and when it was last verified.
type EntraConnection struct {
	TenantID     string     `json:"tenantId"`                         // directory (tenant) id or verified domain
	ClientID     string     `json:"clientId"`                         // application (client) id
	SecretSet    bool       `json:"clientSecretSet"`                  // server-owned
	VerifiedAt   *time.Time `json:"clientSecretVerifiedAt,omitempty"` // server-owned
	LastTestNote string     `json:"lastTestMessage,omitempty"`        // server-owned: last test failure, safe to show
}

// Connected reports whether a Graph connection is configured (tenant, client
// and secret set). Whether it works is what Test connection verifies.
func (c EntraConnection) Connected() bool {
	return c.TenantID != "" && c.ClientID != "" && c.SecretSet
}

// Exceptions are groups and accounts a cleanup never touches. Site and org
// admins are always protected and need not be listed.
type Exceptions struct {
	GroupIDs   []string `json:"groupIds"`
	AccountIDs []string `json:"accountIds"`
}

// ActivityBands define the dashboard's active / low usage / inactive bands:
// active when the last activity is less than ActiveDays ago, low usage from
// ActiveDays to less than LowUsageDays, inactive from LowUsageDays on.
type ActivityBands struct {
	ActiveDays   int `json:"activeDays"`
	LowUsageDays int `json:"lowUsageDays"`
}

// Activity bands.
const (
	BandActive   = "active"
	BandLowUsage = "low-usage"
	BandInactive = "inactive"
	BandNever    = "never-active"
)

// Band classifies a last-activity time at now (the zero time is never active).
func (b ActivityBands) Band(last, now time.Time) string {
	if last.IsZero() {
		return BandNever
	}
	d := DaysSince(last, now)
	switch {
	case d < b.ActiveDays:
		return BandActive
	case d < b.LowUsageDays:
		return BandLowUsage
	}
	return BandInactive
}

// DaysSince returns the whole days (24-hour periods) elapsed from t to now;
// negative when t is after now.
func DaysSince(t, now time.Time) int {
	return int(now.Sub(t) / (24 * time.Hour))
}

// ExportOptions shape the identity-provider files (Entra bulk-remove CSV).
type ExportOptions struct {
	LegacyVersionRow bool   `json:"legacyVersionRow"` // "version:v1.0" first line
	ExampleRow       bool   `json:"exampleRow"`       // Microsoft's example row after the header
	NoBOM            bool   `json:"noBom"`            // omit the UTF-8 byte order mark
	MaxRowsPerFile   int    `json:"maxRowsPerFile"`   // split larger files into parts
	Identifier       string `json:"identifier"`       // IdentifierUPN or IdentifierObjectID
}

// DefaultSettings returns the settings of a new tenant.
func DefaultSettings() Settings {
	return Settings{
		CompanyDomains: []string{},
		IdentityProvider: IdPSettings{
			FollowUpAfterMinutes: DefaultFollowUpAfterMinutes,
		},
		Exceptions: Exceptions{GroupIDs: []string{}, AccountIDs: []string{}},
		Activity:   ActivityBands{ActiveDays: DefaultActiveDays, LowUsageDays: DefaultLowUsageDays},
		Export:     ExportOptions{MaxRowsPerFile: DefaultMaxRowsPerFile, Identifier: IdentifierUPN},
		History:    HistorySettings{KeepDays: DefaultKeepHistoryDays},
	}
}

// Bounds of HistorySettings.KeepDays.
const (
	DefaultKeepHistoryDays = 400
	MinKeepHistoryDays     = 30
	MaxKeepHistoryDays     = 3650
)

// HistorySettings: "Keep run history and exports for N days". Runs
// finished longer ago are deleted with their users, follow-ups and export
// files (Service.PurgeHistory); counts are not kept.
type HistorySettings struct {
	KeepDays int `json:"keepDays"`
}

// keep is the retention period (the default for an unset value).
func (h HistorySettings) keep() time.Duration {
	d := h.KeepDays
	if d <= 0 {
		d = DefaultKeepHistoryDays
	}
	return time.Duration(max(d, MinKeepHistoryDays)) * 24 * time.Hour
}

// OrgConfigured reports whether the organization id and API key are set; every
// cleanup needs them to read activity.
func (s Settings) OrgConfigured() bool { return s.OrgID != "" && s.APIKeySet }

// Normalized returns a copy with whitespace trimmed, domains lower-cased
// without a leading "@", and id lists de-duplicated in their given order.
func (s Settings) Normalized() Settings {
	s.OrgID = strings.TrimSpace(s.OrgID)
	s.CompanyDomains = normalizeDomains(s.CompanyDomains)
	if s.History.KeepDays == 0 {
		s.History.KeepDays = DefaultKeepHistoryDays // settings stored before it existed
	}
	if s.LicensingGroups != nil {
		lg := make(map[string][]string, len(s.LicensingGroups))
		for k, ids := range s.LicensingGroups {
			lg[strings.TrimSpace(k)] = normalizeIDs(ids)
		}
		s.LicensingGroups = lg
	}
	p := &s.IdentityProvider
	p.Provider = strings.TrimSpace(p.Provider)
	if p.GroupMappings != nil {
		m := make(map[string]string, len(p.GroupMappings))
		for k, v := range p.GroupMappings {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
		p.GroupMappings = m
	}
	p.Entra.TenantID = strings.TrimSpace(p.Entra.TenantID)
	p.Entra.ClientID = strings.TrimSpace(p.Entra.ClientID)
	s.Exceptions = s.Exceptions.normalized()
	return s
}

func (e Exceptions) normalized() Exceptions {
	return Exceptions{GroupIDs: normalizeIDs(e.GroupIDs), AccountIDs: normalizeIDs(e.AccountIDs)}
}

// Validate checks the settings and returns one message per invalid field,
// keyed by its JSON path (e.g. "activity.lowUsageDays"); nil when valid.
func (s Settings) Validate() FieldErrors {
	fe := FieldErrors{}
	checkOrgID(fe, s.OrgID)
	if k := s.History.KeepDays; k < MinKeepHistoryDays || k > MaxKeepHistoryDays {
		fe["history.keepDays"] = fmt.Sprintf("Keep run history and exports for %d to %d days.", MinKeepHistoryDays, MaxKeepHistoryDays)
	}
	validateDomains(fe, "companyDomains", s.CompanyDomains)
	for k, ids := range s.LicensingGroups {
		if !isToken(k, 100) {
			fe.Add("licensingGroups", "product key %q is not valid", k)
		}
		validateIDs(fe, "licensingGroups."+k, ids)
	}
	s.IdentityProvider.validate(fe, "identityProvider")
	s.Exceptions.validate(fe, "exceptions")
	a := s.Activity
	activeOK := a.ActiveDays >= 1 && a.ActiveDays <= MaxDays
	lowOK := a.LowUsageDays >= 1 && a.LowUsageDays <= MaxDays
	if !activeOK {
		fe.Add("activity.activeDays", "must be a whole number of days between 1 and %d", MaxDays)
	}
	if !lowOK {
		fe.Add("activity.lowUsageDays", "must be a whole number of days between 1 and %d", MaxDays)
	}
	if activeOK && lowOK && a.LowUsageDays <= a.ActiveDays {
		fe.Add("activity.lowUsageDays", "must be greater than the active days (%d)", a.ActiveDays)
	}
	x := s.Export
	if x.MaxRowsPerFile < 1 || x.MaxRowsPerFile > MaxMaxRowsPerFile {
		fe.Add("export.maxRowsPerFile", "must be a whole number between 1 and %d", MaxMaxRowsPerFile)
	}
	switch x.Identifier {
	case IdentifierUPN:
	case IdentifierObjectID:
		// Run rows carry no Entra object ids yet, so a file of object ids
		// cannot be written: refuse the setting rather than ignore it.
		fe.Add("export.identifier", "object IDs in export files are not supported yet; use %q (UPN = e-mail)", IdentifierUPN)
	default:
		fe.Add("export.identifier", "must be %q or %q", IdentifierUPN, IdentifierObjectID)
	}
	if len(fe) == 0 {
		return nil
	}
	return fe
}

func (p IdPSettings) validate(fe FieldErrors, prefix string) {
	switch p.Provider {
	case "", ProviderEntra:
	default:
		fe.Add(prefix+".provider", "must be empty (none) or %q", ProviderEntra)
	}
	for k := range p.ProvisioningEnabled {
		if !isToken(k, 100) {
			fe.Add(prefix+".provisioningEnabled", "product key %q is not valid", k)
		}
	}
	for k := range p.GroupOverrides {
		if !isID(k) {
			fe.Add(prefix+".groupOverrides", "group id %q is not valid", k)
		}
	}
	for k, v := range p.GroupMappings {
		switch {
		case !isID(k):
			fe.Add(prefix+".groupMappings", "group id %q is not valid", k)
		case v == "" || len(v) > 256 || hasControl(v):
			fe.Add(prefix+".groupMappings."+k, "must be an Entra group object ID or display name (at most 256 characters)")
		}
	}
	e := p.Entra
	checkEntraIDs(fe, prefix, e)
	if (e.TenantID == "") != (e.ClientID == "") {
		if e.TenantID == "" {
			fe.Add(prefix+".entra.tenantId", "is required with a client ID")
		} else {
			fe.Add(prefix+".entra.clientId", "is required with a tenant ID")
		}
	}
	if p.FollowUpAfterMinutes < 1 || p.FollowUpAfterMinutes > MaxFollowUpAfterMinutes {
		fe.Add(prefix+".followUpAfterMinutes", "must be between 1 and %d minutes", MaxFollowUpAfterMinutes)
	}
}

func (e Exceptions) validate(fe FieldErrors, prefix string) {
	validateIDs(fe, prefix+".groupIds", e.GroupIDs)
	validateIDs(fe, prefix+".accountIds", e.AccountIDs)
}

// SettingsInput is a complete submission of the settings: the settings
// plus the write-only credentials (a SettingsPatch becomes one over the
// stored settings; the demo's set-up and tests submit one whole).
// Server-owned fields of the embedded Settings (apiKeySet, verification
// times, updatedAt, version) are ignored.
type SettingsInput struct {
	Settings
	// APIKey: nil keeps the stored org API key, "" removes it, else replaces it.
	APIKey *Secret `json:"apiKey,omitempty"`
	// EntraClientSecret: nil keeps the stored secret, "" removes it, else replaces it.
	EntraClientSecret *Secret `json:"entraClientSecret,omitempty"`
}

// SecretChanges tells the store which credentials to replace (non-nil,
// non-empty), remove (non-nil, empty) or keep (nil).
type SecretChanges struct {
	APIKey            *Secret
	EntraClientSecret *Secret
}

// Apply returns the settings to store when in is submitted over cur, and the
// credential changes. A changed key or a changed org / tenant / client id
// clears the verification time: it must be tested again.
func (in SettingsInput) Apply(cur Settings) (Settings, SecretChanges) {
	s := in.Settings.Normalized()
	s.APIKeySet, s.APIKeyVerifiedAt = cur.APIKeySet, cur.APIKeyVerifiedAt
	s.UpdatedAt, s.Version = cur.UpdatedAt, cur.Version
	ce, ne := cur.IdentityProvider.Entra, &s.IdentityProvider.Entra
	ne.SecretSet, ne.VerifiedAt, ne.LastTestNote = ce.SecretSet, ce.VerifiedAt, ce.LastTestNote
	var ch SecretChanges
	if in.APIKey != nil {
		k := Secret(strings.TrimSpace(in.APIKey.Reveal()))
		ch.APIKey = &k
		s.APIKeySet = k != ""
		s.APIKeyVerifiedAt = nil
	}
	if s.OrgID != cur.OrgID {
		s.APIKeyVerifiedAt = nil
	}
	if in.EntraClientSecret != nil {
		k := Secret(strings.TrimSpace(in.EntraClientSecret.Reveal()))
		ch.EntraClientSecret = &k
		ne.SecretSet = k != ""
		ne.VerifiedAt, ne.LastTestNote = nil, ""
	}
	if ne.TenantID != ce.TenantID || ne.ClientID != ce.ClientID {
		ne.VerifiedAt, ne.LastTestNote = nil, ""
	}
	return s, ch
}

// Validate checks the submitted settings against the stored ones (whether a
// key is already set matters) and returns field errors keyed by JSON path.
func (in SettingsInput) Validate(cur Settings) FieldErrors {
	s, _ := in.Apply(cur)
	fe := s.Validate()
	if fe == nil {
		fe = FieldErrors{}
	}
	for k, v := range in.credentialErrors() {
		fe.Add(k, "%s", v)
	}
	if s.APIKeySet && s.OrgID == "" {
		fe.Add("orgId", "is required with an API key")
	}
	if len(fe) == 0 {
		return nil
	}
	return fe
}

// credentialErrors checks the formats of the credentials in the
// submission: the organization id, the write-only key and secret, the
// Entra ids (a connection test of typed values checks these alone).
func (in SettingsInput) credentialErrors() FieldErrors {
	fe := FieldErrors{}
	checkOrgID(fe, strings.TrimSpace(in.OrgID))
	checkEntraIDs(fe, "identityProvider", in.IdentityProvider.Entra)
	if in.APIKey != nil && !isSecretText(in.APIKey.Reveal()) {
		fe.Add("apiKey", "must be the API key as copied from Atlassian Administration (no spaces, at most 4096 characters)")
	}
	if in.EntraClientSecret != nil && !isSecretText(in.EntraClientSecret.Reveal()) {
		fe.Add("entraClientSecret", "must be the client secret value as copied from Microsoft Entra (no spaces, at most 4096 characters)")
	}
	if len(fe) == 0 {
		return nil
	}
	return fe
}

func checkOrgID(fe FieldErrors, orgID string) {
	if orgID != "" && !isToken(orgID, 100) {
		fe.Add("orgId", "must be the organization ID from Atlassian Administration (letters, digits and hyphens)")
	}
}

func checkEntraIDs(fe FieldErrors, prefix string, e EntraConnection) {
	if e.TenantID != "" && !IsObjectID(e.TenantID) && !isDomain(e.TenantID) {
		fe.Add(prefix+".entra.tenantId", "must be the directory (tenant) ID, a GUID, or a verified domain")
	}
	if e.ClientID != "" && !IsObjectID(e.ClientID) {
		fe.Add(prefix+".entra.clientId", "must be the application (client) ID, a GUID")
	}
}

func isSecretText(v string) bool {
	v = strings.TrimSpace(v)
	if len(v) > 4096 {
		return false
	}
	for _, r := range v {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// normalizeIDs trims ids, drops empty ones and duplicates, keeping order.
func normalizeIDs(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		id = strings.TrimSpace(id)
		if id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// normalizeDomains lower-cases domains, strips "@" and "*." prefixes and a
// trailing dot, and drops empty ones and duplicates.
func normalizeDomains(ds []string) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		d = NormalizeDomain(d)
		if d != "" && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// NormalizeDomain returns the canonical form of an e-mail domain as an admin
// may type it ("@Example.COM", "*.example.com" → "example.com").
func NormalizeDomain(d string) string {
	d = strings.ToLower(strings.TrimSpace(d))
	d = strings.TrimPrefix(d, "@")
	d = strings.TrimPrefix(d, "*.")
	return strings.TrimSuffix(d, ".")
}

func validateDomains(fe FieldErrors, field string, ds []string) {
	for _, d := range ds {
		if !isDomain(NormalizeDomain(d)) {
			fe.Add(field, "%q is not an e-mail domain (like example.com)", d)
		}
	}
}

func validateIDs(fe FieldErrors, field string, ids []string) {
	for _, id := range ids {
		if !isID(strings.TrimSpace(id)) {
			fe.Add(field, "%q is not a valid id", id)
		}
	}
}

// isID accepts Atlassian group and account ids: printable, no spaces, at most
// 128 characters (account ids look like "557058:f58131cb-…" or a 24-hex id).
func isID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// isToken accepts letters, digits, '-' and '_'.
func isToken(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// IsObjectID reports whether s is a Microsoft Entra object id (or any
// GUID): 8-4-4-4-12 hex digits.
func IsObjectID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
				return false
			}
		}
	}
	return true
}

// isDomain accepts a lower- or upper-case DNS name with at least two labels.
func isDomain(d string) bool {
	if len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

// quoteList formats ids for messages: "a", "b" and "c".
func quoteList(ids []string) string {
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = fmt.Sprintf("%q", id)
	}
	return strings.Join(q, ", ")
}
