package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
)

// TestPage runs a short load in-process, then the same harness pointed at
// that server as an external target (base URL, clientKey, shared secret).
func TestPage(t *testing.T) {
	ctx := context.Background()
	var out strings.Builder
	if err := runPage(ctx, []string{"--clients", "4", "--duration", "300ms", "--warmup", "0s"}, &out); err != nil {
		t.Fatalf("page: %v\n%s", err, out.String())
	}
	for _, want := range []string{`authenticated page\s+\d+\s+\S+\s+\S+\s+\S+\s+\d+\s+\S+\s+0\n`, `descriptor\s+\d+\s+.*\s0\n`, `page / descriptor: \d+\.\d\d× \(req/s\), \d+\.\d\d× \(CPU per request\)`} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("output lacks %s:\n%s", want, out.String())
		}
	}

	self, err := startPageServer(ctx, "sqlite", "warn", false)
	if err != nil {
		t.Fatal(err)
	}
	defer self.close()
	tg := self.target
	out.Reset()
	args := []string{"--clients", "2", "--duration", "200ms", "--warmup", "0s", "--base", tg.appBase, "--page", tg.page,
		"--descriptor", tg.descriptor, "--client-key", tg.tenant.ClientKey, "--secret", tg.tenant.SharedSecret.Reveal(), "--account", tg.accountID}
	if err := runPage(ctx, args, &out); err != nil {
		t.Fatalf("page against an external target: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "external target "+tg.appBase) {
		t.Errorf("output does not name the target:\n%s", out.String())
	}
	bad := append(args[:len(args)-4:len(args)-4], "--secret", "not-the-secret", "--account", tg.accountID)
	if err := runPage(ctx, bad, &out); err == nil || !strings.Contains(err.Error(), "first page request: status 401") {
		t.Errorf("a wrong secret: %v, want the first page request refused", err)
	}
}
