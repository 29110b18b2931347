package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/example/usercleanup/connect"
	"github.com/example/usercleanup/internal/cleanup"
)

func TestTenantHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(tenantHandler{next: slog.NewJSONHandler(&buf, nil)})
	job := cleanup.WithTenant(context.Background(), "job-tenant")
	req := connect.WithAuth(context.Background(), &connect.Auth{ClientKey: "request-tenant"})

	log.InfoContext(job, "graph call")                                     // named from the job
	log.InfoContext(req, "product call")                                   // named from the request
	log.InfoContext(job, "explicit", "client_key", "job-tenant")           // not twice
	log.With("client_key", "job-tenant").InfoContext(job, "with")          // not twice
	log.InfoContext(context.Background(), "no tenant")                     // none
	log.WithGroup("g").InfoContext(job, "grouped", "x", 1)                 // still named
	log.InfoContext(cleanup.WithTenant(context.Background(), ""), "empty") // none

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := map[string]string{"graph call": "job-tenant", "product call": "request-tenant", "explicit": "job-tenant",
		"with": "job-tenant", "no tenant": "", "grouped": "job-tenant", "empty": ""}
	if len(lines) != len(want) {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	for _, l := range lines {
		if strings.Count(l, `"client_key"`) > 1 {
			t.Errorf("client_key twice: %s", l)
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		ck, _ := rec["client_key"].(string)
		if g, ok := rec["g"].(map[string]any); ok && ck == "" {
			ck, _ = g["client_key"].(string)
		}
		if msg := rec["msg"].(string); ck != want[msg] {
			t.Errorf("%q: client_key %q, want %q", msg, ck, want[msg])
		}
	}
}
