package cleanup

import "context"

// tenantKey is the context key of the tenant a piece of work is for.
type tenantKey struct{}

// WithTenant returns a context that says which tenant (clientKey) the work
// done under it is for. The job runtime sets it for every job of a
// tenant, so that the command's log handler can name the tenant on every
// line logged below (the Graph and product clients do not know it).
func WithTenant(ctx context.Context, clientKey string) context.Context {
	if clientKey == "" {
		return ctx
	}
	return context.WithValue(ctx, tenantKey{}, clientKey)
}

// TenantFrom returns the clientKey WithTenant stored, or "".
func TenantFrom(ctx context.Context) string {
	ck, _ := ctx.Value(tenantKey{}).(string)
	return ck
}
