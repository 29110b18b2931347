package main

import (
	"context"
	"log/slog"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/cleanup"
)

// tenantHandler names the tenant on every log line written for it: when
// the record's context carries a tenant (a job's, cleanup.WithTenant; or
// an authenticated request's, connect.AuthFrom) and the line does not
// already say client_key, it adds client_key. The Graph and product
// clients log without knowing the tenant; this is where it is added.
type tenantHandler struct {
	next slog.Handler
	has  bool // a client_key attribute was added with WithAttrs
}

const clientKeyAttr = "client_key"

func (h tenantHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h tenantHandler) Handle(ctx context.Context, r slog.Record) error {
	if !h.has {
		if ck := tenantOf(ctx); ck != "" && !recordHas(r, clientKeyAttr) {
			r = r.Clone()
			r.AddAttrs(slog.String(clientKeyAttr, ck))
		}
	}
	return h.next.Handle(ctx, r)
}

func (h tenantHandler) WithAttrs(as []slog.Attr) slog.Handler {
	has := h.has
	for _, a := range as {
		has = has || a.Key == clientKeyAttr
	}
	return tenantHandler{next: h.next.WithAttrs(as), has: has}
}

func (h tenantHandler) WithGroup(name string) slog.Handler {
	return tenantHandler{next: h.next.WithGroup(name), has: h.has}
}

func tenantOf(ctx context.Context) string {
	if ctx == nil {
		return ""
	}
	if ck := cleanup.TenantFrom(ctx); ck != "" {
		return ck
	}
	if a, ok := connect.AuthFrom(ctx); ok {
		return a.ClientKey
	}
	return ""
}

func recordHas(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}
