package cleanup

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Counts are the counters of an evaluation: of one page, or of a whole run
// when the pages' counts are added up. Every evaluated user lands in exactly
// one of: Matched, a Skipped*/NotSelected/Filtered* counter, Protected, or a
// "not inactive" counter (StillActive, NeverActive*, NothingToDo).
type Counts struct {
	Evaluated int `json:"evaluated"`
	Matched   int `json:"matched"` // users with at least one planned row (pending, review or manual)
	Rows      int `json:"rows"`    // rows returned, including skipped rows of protected users

	Protected         int `json:"protected"`         // users in scope that a protection rule covers
	ProtectedAdmins   int `json:"protectedAdmins"`   // … because they are site or org admins
	ProtectedAccounts int `json:"protectedAccounts"` // … because their account is an exception
	ProtectedGroups   int `json:"protectedGroups"`   // … because they are in an exception group

	NotSelected        int `json:"notSelected"`        // in none of the selected groups
	SkippedDeactivated int `json:"skippedDeactivated"` // already deactivated
	SkippedApps        int `json:"skippedApps"`        // app (bot) accounts
	SkippedCustomers   int `json:"skippedCustomers"`   // service management customers
	SkippedSuspended   int `json:"skippedSuspended"`   // suspended: no access to remove (deactivate still matches them)
	FilteredDomain     int `json:"filteredDomain"`     // e-mail not in the cleanup's domains
	FilteredInternal   int `json:"filteredInternal"`   // not external, for "external users only"

	StillActive           int `json:"stillActive"`           // active within the threshold
	NeverActiveExcluded   int `json:"neverActiveExcluded"`   // never active, and the cleanup does not include never-active users
	NeverActiveTooNew     int `json:"neverActiveTooNew"`     // never active, account younger than the minimum age
	NeverActiveUnknownAge int `json:"neverActiveUnknownAge"` // never active, account age unknown (not selected unless the minimum is 0)
	NothingToDo           int `json:"nothingToDo"`           // inactive, but the action has nothing to act on (no licensing or synced group)

	ManualRows  int `json:"manualRows"`  // rows that need manual action
	RoutedToIdP int `json:"routedToIdp"` // rows routed to the identity provider
}

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	c.Evaluated += o.Evaluated
	c.Matched += o.Matched
	c.Rows += o.Rows
	c.Protected += o.Protected
	c.ProtectedAdmins += o.ProtectedAdmins
	c.ProtectedAccounts += o.ProtectedAccounts
	c.ProtectedGroups += o.ProtectedGroups
	c.NotSelected += o.NotSelected
	c.SkippedDeactivated += o.SkippedDeactivated
	c.SkippedApps += o.SkippedApps
	c.SkippedCustomers += o.SkippedCustomers
	c.SkippedSuspended += o.SkippedSuspended
	c.FilteredDomain += o.FilteredDomain
	c.FilteredInternal += o.FilteredInternal
	c.StillActive += o.StillActive
	c.NeverActiveExcluded += o.NeverActiveExcluded
	c.NeverActiveTooNew += o.NeverActiveTooNew
	c.NeverActiveUnknownAge += o.NeverActiveUnknownAge
	c.NothingToDo += o.NothingToDo
	c.ManualRows += o.ManualRows
	c.RoutedToIdP += o.RoutedToIdP
}

// Evaluator plans a cleanup: given the settings, the definition and the
// classified groups, it turns pages of organization users into affected-user
// rows. It is pure and deterministic (time is the now it was given) and
// keeps no state between pages, so a run evaluates page by page in constant
// memory and a resumed run re-evaluating a page gets the same rows.
//
// Decisions, in order, per user (the first that applies wins):
//
//  1. Not a member of any selected group (licensing or extra): not selected.
//  2. Deactivated: skipped.
//  3. App accounts (SkipApps) and customer accounts (SkipCustomers): skipped.
//  4. Suspended: skipped, except for the deactivate action.
//  5. E-mail domains: when the cleanup lists domains, the e-mail's domain must
//     be one of them or a subdomain ("eu.example.com" is in "example.com",
//     "badexample.com" is not), compared case-insensitively. A user without
//     a visible e-mail does not match a domain list.
//  6. External only: a user is external when the e-mail domain is not one of
//     the company domains (or their subdomains). When no company domains are
//     configured, or the e-mail is not visible, an unmanaged account (no
//     verified domain) is external and a managed one is internal.
//  7. Protection: site/org admins, exception accounts and members of
//     exception groups are protected: they are counted, and when they would
//     otherwise be cleaned they get rows with outcome skipped (the audit
//     trail shows what protection prevented), never an action.
//  8. Activity: inactive when the whole days since the last activity reach
//     DaysInactive (last active exactly 90×24 h ago is inactive at a
//     threshold of 90; a minute less is not). Group actions judge each
//     licensing group by the most recent activity in the products that group
//     grants; deactivate judges the most recent activity in any product.
//     Never active (no activity in those products) counts only with
//     IncludeNeverActive and an account at least
//     NeverActiveMinAccountAgeDays old. When the account's age is unknown
//     (AddedToOrg is zero, common outside Atlassian's new user management)
//     the user is not selected unless the minimum age is 0: a destructive
//     tool must not assume an account is old; the NeverActiveUnknownAge
//     counter shows how many were held back.
//
// Rows per action:
//   - remove-product-access: one row per (user, target licensing group) that
//     is inactive. Targets are the selected licensing groups the user is in,
//     or every licensing group the user is in when the cleanup selects none.
//     An Atlassian-managed group gets ActionRemoveProductAccess; an
//     IdP-synced group gets ActionIdPExport (or ActionIdPRemove in direct
//     Entra mode) with the identity provider set; an IdP-synced group
//     without a configured identity provider, or whose mapping the run's
//     connection found no group for (RemovalIdPUnmapped), gets outcome
//     manual with the reason, since removing it locally would be undone by
//     the next sync and a file for a group that does not exist helps
//     nobody.
//   - review: the same rows with ActionReview and outcome review.
//   - entra: the rows of IdP-synced target groups only, routed as above.
//   - deactivate: one row per user; unmanaged accounts and accounts synced
//     from an identity provider get outcome manual with the reason.
//
// A multi-product group's row has Product set to its product keys joined by
// ",".
type Evaluator struct {
	now                time.Time
	def                Definition
	settings           Settings
	selected           map[string]bool // licensing + extra group ids
	targets            []GroupInfo     // licensing groups the action may act on, in group order
	exceptionAccounts  map[string]bool
	exceptionGroups    map[string]string // id → name
	companyDomains     []string
	direct             bool            // IdP rows are removed through the IdP API
	chosen             map[string]bool // Definition.AccountIDs: only these, whatever their activity
	neverMinAgeDays    int
	includeNeverActive bool
}

// NewEvaluator validates the definition against the groups and settings and
// returns an evaluator for a run at now. Invalid input gives a KindInvalid
// error wrapping FieldErrors.
func NewEvaluator(s Settings, d Definition, groups []GroupInfo, now time.Time) (*Evaluator, error) {
	d = d.Normalized()
	if fe := d.Validate(groups, s); fe != nil {
		return nil, fmt.Errorf("cleanup %q: %w", d.Name, fe.Err())
	}
	s = s.Normalized()
	e := &Evaluator{
		now:                now,
		def:                d,
		settings:           s,
		selected:           map[string]bool{},
		exceptionAccounts:  map[string]bool{},
		exceptionGroups:    map[string]string{},
		companyDomains:     s.CompanyDomains,
		neverMinAgeDays:    d.NeverActiveMinAccountAgeDays,
		includeNeverActive: d.IncludeNeverActive,
	}
	idp := s.IdentityProvider
	e.direct = d.EntraMode == EntraModeDirect && idp.Provider == ProviderEntra && idp.Entra.Connected()
	for _, id := range d.LicensingGroupIDs {
		e.selected[id] = true
	}
	for _, id := range d.ExtraGroupIDs {
		e.selected[id] = true
	}
	if len(d.AccountIDs) > 0 {
		e.chosen = map[string]bool{}
		for _, id := range d.AccountIDs {
			e.chosen[id] = true
		}
		if len(e.selected) == 0 {
			for _, g := range groups {
				if g.Licensing {
					e.selected[g.ID] = true
				}
			}
		}
	}
	chosen := map[string]bool{}
	for _, id := range d.LicensingGroupIDs {
		chosen[id] = true
	}
	names := map[string]string{}
	for _, g := range groups {
		names[g.ID] = g.Name
		if g.Licensing && (len(chosen) == 0 || chosen[g.ID]) {
			e.targets = append(e.targets, g)
		}
	}
	ex := d.Exceptions(s).normalized()
	for _, id := range ex.AccountIDs {
		e.exceptionAccounts[id] = true
	}
	for _, id := range ex.GroupIDs {
		e.exceptionGroups[id] = cmp.Or(names[id], id)
	}
	return e, nil
}

// Evaluate plans one page of users and returns its rows and counts.
func (e *Evaluator) Evaluate(users []OrgUser) ([]AffectedUser, Counts) {
	var rows []AffectedUser
	var c Counts
	for _, u := range users {
		rows = e.evaluateUser(u, rows, &c)
	}
	c.Rows = len(rows)
	return rows, c
}

// evaluateUser plans one user: is the user in scope, protected, and
// inactive in which of the targets; the counters say why not.
func (e *Evaluator) evaluateUser(u OrgUser, rows []AffectedUser, c *Counts) []AffectedUser {
	c.Evaluated++
	member, ok := e.inScope(u, c)
	if !ok {
		return rows
	}
	protection := e.protection(u, c)
	planned, why := e.plan(u, member)
	if len(planned) == 0 {
		if protection == "" {
			why.count(c)
		}
		return rows
	}
	if protection != "" {
		for i := range planned {
			planned[i].Outcome, planned[i].Message = OutcomeSkipped, protection
		}
		return append(rows, planned...)
	}
	c.Matched++
	for _, r := range planned {
		switch {
		case r.Outcome == OutcomeManual:
			c.ManualRows++
		case r.Action == ActionIdPExport || r.Action == ActionIdPRemove:
			c.RoutedToIdP++
		}
	}
	return append(rows, planned...)
}

// inScope reports whether the cleanup looks at the user at all (selected
// groups, account type and status, e-mail domains), counting why not, and
// returns the user's groups as a set.
func (e *Evaluator) inScope(u OrgUser, c *Counts) (map[string]bool, bool) {
	member := make(map[string]bool, len(u.GroupIDs))
	inSelection := false
	for _, id := range u.GroupIDs {
		member[id] = true
		inSelection = inSelection || e.selected[id]
	}
	d := e.def
	switch {
	case !inSelection || e.chosen != nil && !e.chosen[u.AccountID]:
		c.NotSelected++
		return nil, false
	case u.Status == StatusDeactivated:
		c.SkippedDeactivated++
		return nil, false
	case u.AccountType == AccountApp && d.SkipApps:
		c.SkippedApps++
		return nil, false
	case u.AccountType == AccountCustomer && d.SkipCustomers:
		c.SkippedCustomers++
		return nil, false
	case u.Status == StatusSuspended && d.Action != ActionDeactivate:
		c.SkippedSuspended++
		return nil, false
	}
	domain := emailDomain(u.Email)
	if len(d.EmailDomains) > 0 && (domain == "" || !inDomains(domain, d.EmailDomains)) {
		c.FilteredDomain++
		return nil, false
	}
	if d.ExternalOnly && !e.external(u, domain) {
		c.FilteredInternal++
		return nil, false
	}
	return member, true
}

// protection returns why the user is protected ("" when not), counting it.
func (e *Evaluator) protection(u OrgUser, c *Counts) string {
	protection := ""
	switch {
	case u.IsAdmin():
		protection = "protected: site or organization admin"
		c.ProtectedAdmins++
	case e.exceptionAccounts[u.AccountID]:
		protection = "protected: the account is an exception"
		c.ProtectedAccounts++
	default:
		for _, id := range u.GroupIDs {
			if name, ok := e.exceptionGroups[id]; ok {
				protection = fmt.Sprintf("protected: member of the exception group %q", name)
				c.ProtectedGroups++
				break
			}
		}
	}
	if protection != "" {
		c.Protected++
	}
	return protection
}

// plan returns the rows the action plans for an inactive user and the
// verdicts that decided them.
func (e *Evaluator) plan(u OrgUser, member map[string]bool) ([]AffectedUser, verdictTally) {
	var planned []AffectedUser
	var why verdictTally
	d := e.def
	if d.Action == ActionDeactivate {
		v := e.judge(u, nil, "any product")
		why.add(v)
		if v.match {
			r := e.row(u, v.reason)
			r.Action = ActionDeactivate
			switch {
			case !u.Managed:
				r.Outcome, r.Message = OutcomeManual, messageUnmanagedAccount
			case u.ManagementSource == SourceSynced:
				r.Outcome, r.Message = OutcomeManual, messageDeactivateInIdP
			default:
				r.Outcome = OutcomePending
			}
			planned = append(planned, r)
		}
		return planned, why
	}
	for _, g := range e.targets {
		if !member[g.ID] || (d.Action == ActionEntra && !g.Synced) {
			continue
		}
		v := e.judge(u, g.ProductKeys(), productNames(g))
		why.add(v)
		if v.match {
			planned = append(planned, e.groupRow(u, g, v.reason))
		}
	}
	return planned, why
}

// groupRow plans the row of one inactive user in one target group.
func (e *Evaluator) groupRow(u OrgUser, g GroupInfo, reason string) AffectedUser {
	r := e.row(u, reason)
	r.Product = strings.Join(g.ProductKeys(), ",")
	r.GroupID, r.GroupName, r.GroupSynced = g.ID, g.Name, g.Synced
	if g.Removal == RemovalIdP {
		r.IdentityProvider = g.IdentityProvider
	}
	if e.def.Action == ActionReview {
		r.Action, r.Outcome = ActionReview, OutcomeReview
		return r
	}
	switch g.Removal {
	case RemovalIdP:
		r.Outcome = OutcomePending
		if e.direct {
			r.Action = ActionIdPRemove
			r.Message = fmt.Sprintf("group synced from %s: remove from its group %q there directly", providerName(g.IdentityProvider), g.IdPGroup)
		} else {
			r.Action = ActionIdPExport
			r.Message = fmt.Sprintf("group synced from %s: exported to the bulk-remove file for its group %q", providerName(g.IdentityProvider), g.IdPGroup)
		}
	case RemovalIdPUnmapped:
		r.Action = ActionIdPExport
		if e.direct {
			r.Action = ActionIdPRemove
		}
		r.IdentityProvider = g.IdentityProvider
		r.Outcome, r.Message = OutcomeManual, g.RemovalNote
	case RemovalIdPUnconfigured:
		r.Action = e.def.Action
		r.Outcome, r.Message = OutcomeManual, messageIdPUnconfigured
	default:
		r.Action, r.Outcome = ActionRemoveProductAccess, OutcomePending
	}
	return r
}

func (e *Evaluator) row(u OrgUser, reason string) AffectedUser {
	return AffectedUser{
		AccountID:   u.AccountID,
		Name:        u.Name,
		Email:       u.Email,
		AccountType: u.AccountType,
		PriorStatus: u.Status,
		LastActive:  maps.Clone(u.LastActive),
		Reason:      reason,
	}
}

// verdict is the activity judgement of one user for one scope.
type verdict struct {
	match      bool
	reason     string
	active     bool // active within the threshold
	never      bool // never active in the scope
	tooNew     bool // never active, account younger than the minimum
	unknownAge bool // never active, age unknown
}

// judge decides whether u is inactive in the products (nil: any product).
// A user an admin chose (Definition.AccountIDs) matches whatever the
// activity.
func (e *Evaluator) judge(u OrgUser, products []string, scope string) verdict {
	if e.chosen != nil {
		return verdict{match: true, reason: "chosen by an admin on the users screen"}
	}
	var last time.Time
	for k, t := range u.LastActive {
		if products != nil && !slices.Contains(products, k) {
			continue
		}
		if t.After(last) {
			last = t
		}
	}
	threshold := e.def.DaysInactive
	if !last.IsZero() {
		days := DaysSince(last, e.now)
		if days < threshold {
			return verdict{active: true}
		}
		return verdict{match: true, reason: fmt.Sprintf("inactive in %s for %d days (threshold %d)", scope, days, threshold)}
	}
	if !e.includeNeverActive {
		return verdict{never: true}
	}
	if u.AddedToOrg.IsZero() {
		if e.neverMinAgeDays > 0 {
			return verdict{never: true, unknownAge: true}
		}
		return verdict{match: true, reason: fmt.Sprintf("never active in %s (account age unknown)", scope)}
	}
	age := DaysSince(u.AddedToOrg, e.now)
	if age < e.neverMinAgeDays {
		return verdict{never: true, tooNew: true}
	}
	return verdict{match: true, reason: fmt.Sprintf("never active in %s; account %d days old (minimum %d)", scope, age, e.neverMinAgeDays)}
}

// verdictTally explains why a user got no rows.
type verdictTally struct{ n, active, tooNew, unknownAge, never int }

func (t *verdictTally) add(v verdict) {
	t.n++
	switch {
	case v.active:
		t.active++
	case v.tooNew:
		t.tooNew++
	case v.unknownAge:
		t.unknownAge++
	case v.never:
		t.never++
	}
}

// count records the strongest explanation once per user.
func (t verdictTally) count(c *Counts) {
	switch {
	case t.n == 0:
		c.NothingToDo++
	case t.active > 0:
		c.StillActive++
	case t.tooNew > 0:
		c.NeverActiveTooNew++
	case t.unknownAge > 0:
		c.NeverActiveUnknownAge++
	case t.never > 0:
		c.NeverActiveExcluded++
	default:
		c.NothingToDo++
	}
}

// external reports whether u is outside the company (see Evaluator).
func (e *Evaluator) external(u OrgUser, domain string) bool {
	if len(e.companyDomains) > 0 && domain != "" {
		return !inDomains(domain, e.companyDomains)
	}
	return !u.Managed
}

// emailDomain returns the lower-cased domain of an e-mail address, or "".
func emailDomain(email string) string {
	i := strings.LastIndexByte(email, '@')
	if i < 0 || i == len(email)-1 {
		return ""
	}
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(email[i+1:])), ".")
}

// inDomains reports whether domain is one of the (normalized) domains or a
// subdomain of one.
func inDomains(domain string, domains []string) bool {
	for _, d := range domains {
		if domain == d || strings.HasSuffix(domain, "."+d) {
			return true
		}
	}
	return false
}

func productNames(g GroupInfo) string {
	names := make([]string, len(g.Products))
	for i, p := range g.Products {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}

func providerName(p string) string {
	if p == ProviderEntra {
		return "Microsoft Entra ID"
	}
	return "the identity provider " + p
}
