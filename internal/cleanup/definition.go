package cleanup

import (
	"strings"
	"time"
	"unicode/utf8"
)

// Entra modes: how the "Microsoft Entra ID action" (and rows routed to the
// identity provider) remove members.
const (
	EntraModeExport = "export" // write the Entra bulk-remove CSV per group (default)
	EntraModeDirect = "direct" // remove through Microsoft Graph; needs a connection
)

// Definition limits.
const (
	MaxNameLength = 200
	MaxDomains    = 100
	// MaxSelectedUsers bounds a bulk action's users: the users screen's
	// largest page. The Organizations API's user search documents no
	// maximum for its accountIds filter.
	MaxSelectedUsers = MaxPerPage
)

// Definition is a cleanup as the admin defines it in the creation form:
// who is selected, what happens to them and when. A manual cleanup has the
// same fields but no schedule and runs once.
type Definition struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	// LicensingGroupIDs selects the members of these licensing groups. When
	// set, group actions (remove product access, review, Entra) act on these
	// licensing groups only; when empty, on every licensing group the user
	// is in.
	LicensingGroupIDs []string `json:"licensingGroupIds"`
	// ExtraGroupIDs ("Part of the following groups (in addition to licensing
	// groups)") selects the members of these groups too: the selection is the
	// union of both lists.
	ExtraGroupIDs []string `json:"extraGroupIds"`
	// AccountIDs, when set, are users an admin chose on the users screen
	// (a bulk action): only these accounts are selected, whatever their
	// activity (DaysInactive does not apply), in every licensing group
	// they are in unless LicensingGroupIDs narrows it; protections still
	// apply. Such a definition is never stored as a cleanup, only in its
	// run (Service.StartUserAction).
	AccountIDs []string `json:"accountIds,omitempty"`
	// ExceptionsOverride replaces the settings' exceptions when not nil.
	ExceptionsOverride *Exceptions `json:"exceptionsOverride"`
	// DaysInactive: a user is inactive after this many whole days without
	// activity (1–3650).
	DaysInactive int `json:"daysInactive"`
	// IncludeNeverActive also selects users who were never active, once
	// their account is at least NeverActiveMinAccountAgeDays old.
	IncludeNeverActive           bool `json:"includeNeverActive"`
	NeverActiveMinAccountAgeDays int  `json:"neverActiveMinAccountAgeDays"`
	// EmailDomains, when set, selects only users with an e-mail address in
	// one of these domains or their subdomains.
	EmailDomains []string `json:"emailDomains"`
	// ExternalOnly selects only users outside the company domains.
	ExternalOnly bool `json:"externalOnly"`
	// SkipApps skips app (bot, integration) accounts; SkipCustomers skips
	// Jira Service Management customer accounts. Both default to true.
	SkipApps      bool   `json:"skipApps"`
	SkipCustomers bool   `json:"skipCustomers"`
	Action        string `json:"action"`
	// EntraMode is EntraModeExport (default) or EntraModeDirect; it applies
	// to every row routed to Microsoft Entra ID.
	EntraMode string `json:"entraMode"`
	// Warning: warn users by e-mail before removing access (warning.go).
	Warning   WarningOptions `json:"warning"`
	Manual    bool           `json:"manual"`
	Schedule  Schedule       `json:"schedule"`
	CreatedAt time.Time      `json:"createdAt"` // server-owned
	UpdatedAt time.Time      `json:"updatedAt"` // server-owned
}

// DefaultDefinition returns a new cleanup's defaults. Decode the submitted
// JSON into it so that omitted fields keep their defaults.
func DefaultDefinition() Definition {
	return Definition{
		LicensingGroupIDs:            []string{},
		ExtraGroupIDs:                []string{},
		DaysInactive:                 90,
		NeverActiveMinAccountAgeDays: 30,
		EmailDomains:                 []string{},
		SkipApps:                     true,
		SkipCustomers:                true,
		Action:                       ActionReview,
		EntraMode:                    EntraModeExport,
		Warning:                      WarningOptions{Days: DefaultWarningDays},
		Schedule: Schedule{
			Frequency: FrequencyWeekly,
			Weekdays:  []string{"mon"},
			TimeOfDay: "03:00",
			TimeZone:  "UTC",
		},
	}
}

// Scheduled reports whether the cleanup runs on its schedule.
func (d Definition) Scheduled() bool { return !d.Manual && d.Schedule.Active }

// Exceptions returns the exceptions in force: the override, else the settings'.
func (d Definition) Exceptions(s Settings) Exceptions {
	if d.ExceptionsOverride != nil {
		return *d.ExceptionsOverride
	}
	return s.Exceptions
}

// Normalized returns a copy with the name trimmed, ids de-duplicated, domains
// canonical and an empty Entra mode set to the default.
func (d Definition) Normalized() Definition {
	d.Name = strings.TrimSpace(d.Name)
	d.LicensingGroupIDs = normalizeIDs(d.LicensingGroupIDs)
	d.ExtraGroupIDs = normalizeIDs(d.ExtraGroupIDs)
	if d.AccountIDs != nil {
		d.AccountIDs = normalizeIDs(d.AccountIDs)
	}
	if d.ExceptionsOverride != nil {
		e := d.ExceptionsOverride.normalized()
		d.ExceptionsOverride = &e
	}
	d.EmailDomains = normalizeDomains(d.EmailDomains)
	d.Action = strings.TrimSpace(d.Action)
	if d.EntraMode == "" {
		d.EntraMode = EntraModeExport
	}
	if d.Schedule.Weekdays != nil {
		wd := make([]string, 0, len(d.Schedule.Weekdays))
		for _, w := range d.Schedule.Weekdays {
			wd = append(wd, strings.ToLower(strings.TrimSpace(w)))
		}
		d.Schedule.Weekdays = normalizeIDs(wd)
	}
	d.Schedule.TimeZone = strings.TrimSpace(d.Schedule.TimeZone)
	d.Schedule.Cron = strings.TrimSpace(d.Schedule.Cron)
	d.Warning = d.Warning.normalized()
	return d
}

// Validate checks the definition against the tenant's groups (as
// ClassifyGroups returns them) and settings. It returns one message per
// invalid field keyed by the JSON field name (nested ones by path, e.g.
// "schedule.timeZone"), or nil when the definition is valid. It validates
// d.Normalized(), which is what callers should store.
func (d Definition) Validate(groups []GroupInfo, s Settings) FieldErrors {
	d = d.Normalized()
	fe := FieldErrors{}
	name := strings.TrimSpace(d.Name)
	switch {
	case name == "":
		fe.Add("name", "enter a name for the cleanup")
	case utf8.RuneCountInString(name) > MaxNameLength || hasControl(name):
		fe.Add("name", "must be at most %d characters, without control characters", MaxNameLength)
	}
	known := make(map[string]GroupInfo, len(groups))
	for _, g := range groups {
		known[g.ID] = g
	}
	d.validateGroups(fe, known)
	if d.ExceptionsOverride != nil {
		d.ExceptionsOverride.validate(fe, "exceptionsOverride")
	}
	if d.DaysInactive < 1 || d.DaysInactive > MaxDays {
		fe.Add("daysInactive", "must be a whole number of days between 1 and %d", MaxDays)
	}
	if d.IncludeNeverActive && (d.NeverActiveMinAccountAgeDays < 0 || d.NeverActiveMinAccountAgeDays > MaxDays) {
		fe.Add("neverActiveMinAccountAgeDays", "must be a whole number of days between 0 and %d", MaxDays)
	}
	if len(d.EmailDomains) > MaxDomains {
		fe.Add("emailDomains", "at most %d domains", MaxDomains)
	}
	validateDomains(fe, "emailDomains", d.EmailDomains)
	d.validateAction(fe, s, known)
	d.Warning.Validate(fe, "warning", d.Action)
	if !s.OrgConfigured() {
		// Every action reads activity from the Organizations API.
		fe.Add("settings", "set the organization ID and API key in settings first: cleanups read activity from the Organizations API")
	}
	if !d.Manual {
		d.Schedule.Validate(fe, "schedule")
	}
	if len(fe) == 0 {
		return nil
	}
	return fe
}

// validateGroups checks the selected groups against the tenant's.
func (d Definition) validateGroups(fe FieldErrors, known map[string]GroupInfo) {
	var unknown, notLicensing []string
	for _, id := range d.LicensingGroupIDs {
		g, ok := known[id]
		switch {
		case !ok:
			unknown = append(unknown, id)
		case !g.Licensing:
			notLicensing = append(notLicensing, g.Name)
		}
	}
	if len(unknown) > 0 {
		fe.Add("licensingGroupIds", "unknown group(s): %s", quoteList(unknown))
	}
	if len(notLicensing) > 0 {
		fe.Add("licensingGroupIds", "not a licensing group (grants no product): %s", quoteList(notLicensing))
	}
	unknown = nil
	for _, id := range d.ExtraGroupIDs {
		if _, ok := known[id]; !ok {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		fe.Add("extraGroupIds", "unknown group(s): %s", quoteList(unknown))
	}
	if len(d.LicensingGroupIDs) == 0 && len(d.ExtraGroupIDs) == 0 && len(d.AccountIDs) == 0 {
		fe.Add("licensingGroupIds", "select at least one licensing group or other group")
	}
	if len(d.AccountIDs) > MaxSelectedUsers {
		fe.Add("accountIds", "at most %d users at a time", MaxSelectedUsers)
	}
}

// validateAction checks the action and the Entra mode against the
// settings' identity provider.
func (d Definition) validateAction(fe FieldErrors, s Settings, known map[string]GroupInfo) {
	idp := s.IdentityProvider
	switch d.Action {
	case ActionRemoveProductAccess, ActionReview:
	case ActionDeactivate:
	case ActionEntra:
		if idp.Provider != ProviderEntra {
			fe.Add("action", "the Microsoft Entra ID action needs Microsoft Entra ID configured as the identity provider in settings")
		}
		if len(d.LicensingGroupIDs) > 0 && !anySynced(d.LicensingGroupIDs, known) {
			fe.Add("licensingGroupIds", "none of the selected licensing groups is synced from the identity provider: the Microsoft Entra ID action would do nothing")
		}
	case "":
		fe.Add("action", "choose an action")
	default:
		fe.Add("action", "unknown action %q: use %q, %q, %q or %q", d.Action,
			ActionRemoveProductAccess, ActionDeactivate, ActionReview, ActionEntra)
	}
	switch d.EntraMode {
	case "", EntraModeExport:
	case EntraModeDirect:
		if idp.Provider != ProviderEntra || !idp.Entra.Connected() {
			fe.Add("entraMode", "removing in Microsoft Entra ID directly needs a Microsoft Graph connection in settings")
		}
	default:
		fe.Add("entraMode", "must be %q or %q", EntraModeExport, EntraModeDirect)
	}
}

func anySynced(ids []string, known map[string]GroupInfo) bool {
	for _, id := range ids {
		if g, ok := known[id]; ok && g.Synced {
			return true
		}
	}
	return false
}
