package atlassiantest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
)

// Seeded group names.
const (
	GroupJiraSoftware       = "jira-software-users"
	GroupJiraServiceMgmt    = "jira-servicemanagement-users"
	GroupConfluence         = "confluence-users"
	GroupEntraJira          = "entra-jira-software" // IdP-synced, grants Jira Software
	GroupEntraConfluence    = "entra-confluence"    // IdP-synced, grants Confluence
	GroupSiteAdmins         = "site-admins"         // admin group, grants no product
	VerifiedDomain          = "example.com"         // the organization's verified domain
	syncedTeamGroupEveryNth = 4                     // every 4th team group is IdP-synced
)

// User is a seeded user as the fake stores it.
type User struct {
	AccountID        string
	Name             string
	Email            string // "" when the e-mail is hidden
	AccountType      string // cleanup.AccountAtlassian, AccountApp, AccountCustomer
	Status           string // cleanup.StatusActive, StatusSuspended, StatusDeactivated
	Managed          bool
	ManagementSource string // cleanup.SourceInvited or SourceSynced; "" for unmanaged
	AddedToOrg       time.Time
	// LastActive maps each product the user can use to the last activity
	// there; the zero time means never used.
	LastActive map[string]time.Time
	Roles      []string // platform roles
	GroupIDs   []string // direct memberships, sorted by group index
	// Guest marks an Entra B2B guest: unmanaged, member of IdP-synced groups,
	// with a UPN that is not the e-mail.
	Guest bool
	// UPN is the user principal name in the identity provider: the e-mail
	// for users synced from it, the #EXT# form for guests, "" otherwise.
	UPN string
}

// Group is a seeded group.
type Group struct {
	ID             string
	Name           string
	Description    string
	ExternalSynced bool
	ManagedBy      string // "external" for IdP-synced groups, else "admins"
	Modifiable     bool
	Products       []string // product keys the group grants
	Admin          bool     // grants admin access (Jira accessType admin)
	// SiteAdmin grants site-admin access (accessType site-admin): its
	// members hold Jira's SYSTEM_ADMIN global permission and are
	// Confluence's site administrators.
	SiteAdmin bool
	// OriginUnreported leaves externalSynced and managedBy out of the
	// group in Organizations API answers (both are optional in the
	// documented schema): the API does not say where its membership is
	// managed. The group still behaves as ExternalSynced and ManagedBy say.
	OriginUnreported bool
}

// Synced reports whether the group's membership is owned by an identity
// provider: Atlassian refuses to change it.
func (g Group) Synced() bool { return g.ExternalSynced || g.ManagedBy == "external" }

type activity struct {
	product uint8 // index into productKeys
	at      int64 // unix seconds; 0 = never
}

var productKeys = []string{cleanup.ProductJiraSoftware, cleanup.ProductJiraServiceDesk, cleanup.ProductConfluence}

var productNames = map[string]string{
	cleanup.ProductJiraSoftware:    "Jira Software",
	cleanup.ProductJiraServiceDesk: "Jira Service Management",
	cleanup.ProductConfluence:      "Confluence",
}

type user struct {
	id, name, email string
	accountType     string
	status          string
	source          string
	managed         bool
	guest           bool
	added           int64
	activity        []activity
	roles           []string
	groups          []int32 // sorted group indexes
	removed         bool    // removed from the organization (RemoveFromOrg)
}

type group struct {
	Group
	members []int32 // sorted user indexes
}

var firstNames = []string{"Ada", "Bjørn", "Chloé", "Dmitri", "Emma", "Farah", "Gustav", "Hana", "Ivan", "Júlia", "Kenji", "Lena", "Mateo", "Nora", "Oskar", "Priya", "Quinn", "Rosa", "Sven", "Tomás", "Uma", "Viktor", "Wen", "Ximena", "Yusuf", "Zoë"}
var lastNames = []string{"Andersen", "Berg", "Costa", "Dahl", "Eriksen", "Fischer", "García", "Hansen", "Ito", "Jensen", "Kowalski", "Larsen", "Müller", "Nilsen", "O'Brien", "Pedersen", "Quist", "Rossi", "Singh", "Tanaka", "Umarov", "Vik", "Wang", "Xu", "Yilmaz", "Zhang"}
var externalDomains = []string{"gmail.com", "partner.example.org", "contractor.example.net", "outlook.com"}

// seed fills c with a deterministic organization.
//
// It is long on purpose: the seed is one deterministic script (groups,
// then users in one pass of the generator) whose draws from the generator
// must keep their order, or the organization changes; in one place that
// order stays obvious.
func seed(c *Cloud, o Options) {
	rng := rand.New(rand.NewPCG(uint64(o.Seed), uint64(o.Seed)^0x9e3779b97f4a7c15))
	now := o.Now().UTC().Truncate(time.Second)
	twoYears := int64(2 * 365 * 24 * 3600)
	uuid := func() string {
		a, b := rng.Uint64(), rng.Uint64()
		return fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", uint32(a>>32), uint16(a>>16), uint16(a)&0xfff, uint16(b>>48)&0xfff, b&0xffffffffffff)
	}
	addGroup := func(g Group) int32 {
		g.ID = uuid()
		if g.ManagedBy == "" {
			g.ManagedBy = "admins"
		}
		c.groups = append(c.groups, &group{Group: g})
		c.byGroup[g.ID] = len(c.groups) - 1
		return int32(len(c.groups) - 1)
	}
	gJSW := addGroup(Group{Name: GroupJiraSoftware, Description: "Grants access to Jira Software", Modifiable: true, Products: []string{cleanup.ProductJiraSoftware}})
	gJSM := addGroup(Group{Name: GroupJiraServiceMgmt, Description: "Grants access to Jira Service Management", Modifiable: true, Products: []string{cleanup.ProductJiraServiceDesk}})
	gConf := addGroup(Group{Name: GroupConfluence, Description: "Grants access to Confluence", Modifiable: true, Products: []string{cleanup.ProductConfluence}})
	gEJ := addGroup(Group{Name: GroupEntraJira, Description: "Synced from Microsoft Entra ID", ExternalSynced: true, ManagedBy: "external", Products: []string{cleanup.ProductJiraSoftware}})
	gEC := addGroup(Group{Name: GroupEntraConfluence, Description: "Synced from Microsoft Entra ID", ExternalSynced: true, ManagedBy: "external", Products: []string{cleanup.ProductConfluence}})
	gAdm := addGroup(Group{Name: GroupSiteAdmins, Description: "Site administrators", Modifiable: true, Admin: true, SiteAdmin: true})
	var teams []int32
	for i := range o.ExtraGroups {
		if i%syncedTeamGroupEveryNth == syncedTeamGroupEveryNth-1 {
			teams = append(teams, addGroup(Group{Name: fmt.Sprintf("entra-team-%02d", i+1), Description: "Synced from Microsoft Entra ID", ExternalSynced: true, ManagedBy: "external"}))
		} else {
			teams = append(teams, addGroup(Group{Name: fmt.Sprintf("team-%02d", i+1), Modifiable: true}))
		}
	}

	c.users = make([]*user, 0, o.Users)
	for i := range o.Users {
		u := &user{id: fmt.Sprintf("712020:%08x-%016x", i, rng.Uint64()), status: cleanup.StatusActive}
		first, last := firstNames[rng.IntN(len(firstNames))], lastNames[rng.IntN(len(lastNames))]
		u.added = now.Unix() - twoYears - rng.Int64N(twoYears)
		kind := rng.IntN(100)
		switch {
		case i >= 3 && kind < 4: // bots and integrations
			u.accountType = cleanup.AccountApp
			u.name = fmt.Sprintf("Automation bot %d", i)
			join(u, gJSW)
		case i >= 3 && kind < 10: // JSM portal-only customers
			u.accountType = cleanup.AccountCustomer
			u.name = first + " " + last
			u.email = fmt.Sprintf("%s.%s.%d@%s", asciiLower(first), asciiLower(last), i, externalDomains[rng.IntN(len(externalDomains))])
		default:
			u.accountType = cleanup.AccountAtlassian
			u.name = first + " " + last
			u.managed = i < 3 || rng.IntN(2) == 0
			local := fmt.Sprintf("%s.%s.%d", asciiLower(first), asciiLower(last), i)
			if u.managed {
				u.email = local + "@" + VerifiedDomain
				u.source = cleanup.SourceInvited
				if i >= 3 && rng.IntN(10) < 4 {
					u.source = cleanup.SourceSynced // UPN = e-mail
				}
			} else {
				u.email = local + "@" + externalDomains[rng.IntN(len(externalDomains))]
				u.guest = rng.IntN(10) == 0 // an Entra B2B guest, in synced groups
			}
			switch {
			case i%97 == 11:
				u.email = "" // hidden e-mail
			case i%97 == 23:
				u.email = strings.ToUpper(local[:1]) + local[1:] + " @" + VerifiedDomain // invalid: space
			case i%97 == 37:
				u.email = local + "@localhost" // no dot in the domain
			}
			synced := u.source == cleanup.SourceSynced || u.guest
			if rng.IntN(10) < 7 || i < 3 {
				join(u, pick(synced, gEJ, gJSW))
			}
			if rng.IntN(10) < 6 || i < 3 {
				join(u, pick(synced, gEC, gConf))
			}
			if rng.IntN(10) < 2 {
				join(u, gJSM)
			}
			if len(teams) > 0 {
				for range 1 + rng.IntN(2) {
					join(u, teams[rng.IntN(len(teams))])
				}
			}
			switch r := rng.IntN(100); {
			case i < 3:
			case r < 7:
				u.status = cleanup.StatusSuspended
			case r < 12:
				u.status = cleanup.StatusDeactivated
			}
		}
		switch i {
		case 0:
			u.roles = []string{"atlassian/org-admin"}
			join(u, gAdm)
		case 1, 2:
			u.roles = []string{"atlassian/site-admin"}
			join(u, gAdm)
		}
		// Activity for each product the user can use: 10% never used,
		// the rest spread over the last two years.
		for p := range productKeys {
			if !canUse(c, u, productKeys[p]) {
				continue
			}
			a := activity{product: uint8(p)}
			if rng.IntN(10) != 0 || i < 3 {
				a.at = now.Unix() - rng.Int64N(twoYears)
			}
			u.activity = append(u.activity, a)
		}
		c.users = append(c.users, u)
		c.byID[u.id] = i
		for _, g := range u.groups {
			c.groups[g].members = append(c.groups[g].members, int32(i))
		}
	}
}

func pick(synced bool, ifSynced, otherwise int32) int32 {
	if synced {
		return ifSynced
	}
	return otherwise
}

func join(u *user, g int32) {
	if i, found := slices.BinarySearch(u.groups, g); !found {
		u.groups = slices.Insert(u.groups, i, g)
	}
}

func canUse(c *Cloud, u *user, product string) bool {
	if u.accountType == cleanup.AccountCustomer {
		return false
	}
	for _, g := range u.groups {
		if slices.Contains(c.groups[g].Products, product) {
			return true
		}
	}
	return false
}

func asciiLower(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r)
		case r == 'ø' || r == 'ö':
			b.WriteByte('o')
		case r == 'é' || r == 'ë':
			b.WriteByte('e')
		case r == 'á' || r == 'í' || r == 'ú':
			b.WriteString(map[rune]string{'á': "a", 'í': "i", 'ú': "u"}[r])
		case r == 'ü':
			b.WriteByte('u')
		}
	}
	return b.String()
}

// export returns the exported view of u. c.mu is held.
func (c *Cloud) export(u *user) User {
	out := User{
		AccountID: u.id, Name: u.name, Email: u.email, AccountType: u.accountType, Status: u.status,
		Managed: u.managed, ManagementSource: u.source, AddedToOrg: time.Unix(u.added, 0).UTC(),
		Roles: slices.Clone(u.roles), LastActive: map[string]time.Time{}, Guest: u.guest,
	}
	switch {
	case u.guest && u.email != "":
		out.UPN = strings.ReplaceAll(u.email, "@", "_") + "#EXT#@exampleorg.onmicrosoft.com"
	case u.source == cleanup.SourceSynced:
		out.UPN = u.email
	}
	for _, a := range u.activity {
		var t time.Time
		if a.at != 0 {
			t = time.Unix(a.at, 0).UTC()
		}
		out.LastActive[productKeys[a.product]] = t
	}
	for _, g := range u.groups {
		out.GroupIDs = append(out.GroupIDs, c.groups[g].ID)
	}
	return out
}

// Users returns every user of the organization, in seed order.
func (c *Cloud) Users() []User {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]User, len(c.users))
	for i, u := range c.users {
		out[i] = c.export(u)
	}
	return out
}

// AccountTypes counts the seeded accounts by account type.
func (c *Cloud) AccountTypes() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[string]int{}
	for _, u := range c.users {
		m[u.accountType]++
	}
	return m
}

// User returns one user.
func (c *Cloud) User(accountID string) (User, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, ok := c.byID[accountID]
	if !ok {
		return User{}, false
	}
	return c.export(c.users[i]), true
}

// Groups returns every group, in seed order.
func (c *Cloud) Groups() []Group {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Group, len(c.groups))
	for i, g := range c.groups {
		out[i] = g.Group
		out[i].Products = slices.Clone(g.Products)
	}
	return out
}

// GroupByName returns the group with the name.
func (c *Cloud) GroupByName(name string) (Group, bool) {
	for _, g := range c.Groups() {
		if g.Name == name {
			return g, true
		}
	}
	return Group{}, false
}

// Members returns the account ids of a group's members, in listing order.
func (c *Cloud) Members(groupID string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	gi, ok := c.byGroup[groupID]
	if !ok {
		return nil
	}
	out := make([]string, len(c.groups[gi].members))
	for i, m := range c.groups[gi].members {
		out[i] = c.users[m].id
	}
	return out
}

// SetRoles replaces the account's platform roles (test setup): for
// example "atlassian/admin" alone makes a product admin who is not a site
// admin (not a member of the site-admins group).
func (c *Cloud) SetRoles(accountID string, roles ...string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ui, ok := c.byID[accountID]
	if !ok {
		return false
	}
	c.users[ui].roles = slices.Clone(roles)
	return true
}

// SetLastActive records activity of the account in the product at t
// (test setup: a user who comes back). The product must be one the
// account can use; false when it cannot or the account is unknown.
func (c *Cloud) SetLastActive(accountID, product string, t time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ui, ok := c.byID[accountID]
	if !ok {
		return false
	}
	u := c.users[ui]
	for i, a := range u.activity {
		if productKeys[a.product] == product {
			u.activity[i].at = t.Unix()
			return true
		}
	}
	return false
}

// isSiteAdmin reports whether the user is a member of a group with
// site-admin access. c.mu is held.
func (c *Cloud) isSiteAdmin(u *user) bool {
	for _, gi := range u.groups {
		if c.groups[gi].SiteAdmin {
			return true
		}
	}
	return false
}

// AddGroup adds a group to the organization (test setup) and returns it
// with its id. Its products are granted on every site serving them.
func (c *Cloud) AddGroup(g Group) Group {
	c.mu.Lock()
	defer c.mu.Unlock()
	g.ID = fmt.Sprintf("00000000-0000-4000-8000-%012d", len(c.groups)+1)
	g.Products = slices.Clone(g.Products)
	c.groups = append(c.groups, &group{Group: g})
	c.byGroup[g.ID] = len(c.groups) - 1
	return g
}

// UpdateGroup changes a group's description of itself (test setup): its
// origin fields, modifiability, products. It reports whether the group
// exists.
func (c *Cloud) UpdateGroup(groupID string, change func(*Group)) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	gi, ok := c.byGroup[groupID]
	if !ok {
		return false
	}
	g := c.groups[gi].Group
	change(&g)
	g.ID = groupID
	c.groups[gi].Group = g
	return true
}

// AddMember adds the account to the group (test setup).
func (c *Cloud) AddMember(groupID, accountID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	gi, ok1 := c.byGroup[groupID]
	ui, ok2 := c.byID[accountID]
	if !ok1 || !ok2 {
		return false
	}
	c.addMember(gi, ui)
	return true
}

// addMember adds the membership; it reports whether it was new. c.mu is held.
func (c *Cloud) addMember(gi, ui int) bool {
	g, u := c.groups[gi], c.users[ui]
	i, found := slices.BinarySearch(g.members, int32(ui))
	if found {
		return false
	}
	g.members = slices.Insert(g.members, i, int32(ui))
	join(u, int32(gi))
	return true
}

// RemoveMember removes the account from the group (test setup: someone
// else, or a provisioning sync, changed the membership); it reports
// whether there was one.
func (c *Cloud) RemoveMember(groupID, accountID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	gi, ok1 := c.byGroup[groupID]
	ui, ok2 := c.byID[accountID]
	return ok1 && ok2 && c.removeMember(gi, ui)
}

// SetStatus sets the account's status (test setup: an admin deactivated
// or suspended it); false for an unknown account.
func (c *Cloud) SetStatus(accountID, status string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ui, ok := c.byID[accountID]
	if ok {
		c.users[ui].status = status
	}
	return ok
}

// RemoveFromOrg removes the account from the organization with its
// memberships (test setup: someone else deleted it): searches no longer
// find it and every call about it answers 404.
func (c *Cloud) RemoveFromOrg(accountID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ui, ok := c.byID[accountID]
	if !ok {
		return false
	}
	u := c.users[ui]
	for _, gi := range slices.Clone(u.groups) {
		c.removeMember(int(gi), ui)
	}
	u.removed = true
	delete(c.byID, accountID)
	return true
}

// removeMember removes the membership; it reports whether there was one. c.mu is held.
func (c *Cloud) removeMember(gi, ui int) bool {
	g, u := c.groups[gi], c.users[ui]
	i, found := slices.BinarySearch(g.members, int32(ui))
	if !found {
		return false
	}
	g.members = slices.Delete(g.members, i, i+1)
	if j, ok := slices.BinarySearch(u.groups, int32(gi)); ok {
		u.groups = slices.Delete(u.groups, j, j+1)
	}
	return true
}

// isAdmin reports whether the user holds an admin platform role. c.mu is held.
func isAdmin(u *user) bool {
	for _, r := range u.roles {
		if r == "atlassian/org-admin" || r == "atlassian/site-admin" || r == "atlassian/admin" {
			return true
		}
	}
	return false
}
