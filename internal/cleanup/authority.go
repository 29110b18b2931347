package cleanup

import (
	"context"
	"strings"
)

// Who may do what.
//
// Product admins use the app. Actions whose effect reaches beyond the
// product, across the whole organization, need the product's highest admin
// level (Jira: the SYSTEM_ADMIN global permission; Confluence: site
// administrator):
//
//   - creating or changing a cleanup whose action deactivates accounts, and
//     starting a run of one (dry runs included: they read the organization
//     with its API key);
//   - changing the organization id or API key, or the Microsoft Entra ID
//     connection (directory, application, client secret).
//
// The service asks the Authority on the request's context (WithAuthority)
// before it does any of these; without one, they are refused. The HTTP
// layer provides it, answered by the product and cached as briefly as the
// admin check.

// Authority answers whether the acting user may take organization-wide
// actions.
type Authority interface {
	// OrgAdmin returns nil when the acting user holds the product's
	// highest admin level, else an error of KindForbidden whose message
	// says who may.
	OrgAdmin(ctx context.Context) error
}

type authorityKey struct{}

// WithAuthority returns a context carrying the acting user's Authority.
func WithAuthority(ctx context.Context, a Authority) context.Context {
	return context.WithValue(ctx, authorityKey{}, a)
}

// operator is the Authority of the program itself.
type operator struct{}

func (operator) OrgAdmin(context.Context) error { return nil }

// AsOperator returns a context on which the program itself acts, not a
// user of a product: the demo's set-up, a benchmark, a test. It allows the
// organization-wide actions; request handlers never use it.
func AsOperator(ctx context.Context) context.Context { return WithAuthority(ctx, operator{}) }

// errNoAuthority refuses an organization-wide action asked without an
// Authority (a caller that did not say who acts).
var errNoAuthority = &Error{Kind: KindForbidden, Message: "this action affects the whole organization and needs the product's highest admin level"}

// requireOrgAdmin returns nil when the context's Authority allows
// organization-wide actions.
func requireOrgAdmin(ctx context.Context) error {
	a, ok := ctx.Value(authorityKey{}).(Authority)
	if !ok || a == nil {
		return errNoAuthority
	}
	return a.OrgAdmin(ctx)
}

// OrgWide reports whether the cleanup's action affects the whole
// organization: deactivating accounts.
func (d Definition) OrgWide() bool { return d.Action == ActionDeactivate }

// ChangesOrgCredentials reports whether submitting in over cur changes the
// organization id, sets or removes the organization API key, or changes
// the Microsoft Entra ID connection (directory or application id, client
// secret). Whitespace alone is no change.
func (in SettingsInput) ChangesOrgCredentials(cur Settings) bool {
	next := in.Settings.Normalized()
	ne, ce := next.IdentityProvider.Entra, cur.IdentityProvider.Entra
	return in.APIKey != nil || in.EntraClientSecret != nil ||
		next.OrgID != strings.TrimSpace(cur.OrgID) || ne.TenantID != ce.TenantID || ne.ClientID != ce.ClientID
}
