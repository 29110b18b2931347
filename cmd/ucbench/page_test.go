package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"testing"

	"github.com/example/usercleanup/internal/heapfloor"
)

// TestMain lets this test binary be the page benchmark's server process,
// as the ucbench binary is (main).
func TestMain(m *testing.M) {
	if os.Getenv(pageServerEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		err := runPageChild(ctx, os.Args[1:], os.Stdin, os.Stdout, heapfloor.Default)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "ucbench page server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestPage runs a short load against our server in a process of its own,
// in this process, and then as an external target (base URL, clientKey,
// shared secret).
func TestPage(t *testing.T) {
	ctx := context.Background()
	var out strings.Builder
	if err := runPage(ctx, []string{"--clients", "4", "--duration", "300ms", "--warmup", "0s"}, &out); err != nil {
		t.Fatalf("page: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		`our server in a process of its own, sqlite, LOG_LEVEL=info`,
		// Each route's server CPU per request is measured in the
		// server's process.
		`authenticated page\s+\d+\s+\S+\s+\S+\s+\S+\s+\d+\s+\S+\s+[0-9.]+[µm]?s\s+0\n`,
		`descriptor \+ token\s+\d+\s+\S+\s+\S+\s+\S+\s+\d+\s+\S+\s+[0-9.]+[µm]?s\s+0\n`,
		`descriptor\s+\d+\s+\S+\s+\S+\s+\S+\s+\d+\s+\S+\s+[0-9.]+[µm]?s\s+0\n`,
		`page / descriptor: \d+\.\d\d× \(req/s\), \d+\.\d\d× \(server CPU per request\)\n`,
		`descriptor \+ token / descriptor: \d+\.\d\d× \(req/s\)`,
	} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("output lacks %s:\n%s", want, out.String())
		}
	}

	out.Reset()
	if err := runPage(ctx, []string{"--in-process", "--clients", "4", "--duration", "200ms", "--warmup", "0s"}, &out); err != nil {
		t.Fatalf("page --in-process: %v\n%s", err, out.String())
	}
	for _, want := range []string{`our server in this process`, `authenticated page\s+\d+\s+\S+\s+\S+\s+\S+\s+\d+\s+\S+\s+-\s+0\n`, `page / descriptor: \d+\.\d\d× \(req/s\), \d+\.\d\d× \(CPU per request\)`} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("in-process output lacks %s:\n%s", want, out.String())
		}
	}

	// A server process that cannot start says why.
	err := runPage(ctx, []string{"--db", "mysql", "--duration", "100ms"}, &out)
	if err == nil || !strings.Contains(err.Error(), `-db "mysql": want sqlite or postgres`) {
		t.Errorf("a bad -db: %v, want the server process's own error", err)
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
	if err := runPage(ctx, append(args, "--server-pid", fmt.Sprint(os.Getpid())), &out); err != nil {
		t.Fatalf("page against an external target: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "external target "+tg.appBase) || !strings.Contains(out.String(), "(server CPU per request)") {
		t.Errorf("output does not name the target or lacks the server's CPU:\n%s", out.String())
	}
	if err := runPage(ctx, append(args, "--server-pid", "-1"), &out); err == nil || !strings.Contains(err.Error(), "cannot read the CPU time of process -1") {
		t.Errorf("an unreadable -server-pid: %v, want it refused", err)
	}
	bad := append(args[:len(args)-4:len(args)-4], "--secret", "not-the-secret", "--account", tg.accountID)
	if err := runPage(ctx, bad, &out); err == nil || !strings.Contains(err.Error(), "first page request: status 401") {
		t.Errorf("a wrong secret: %v, want the first page request refused", err)
	}
}
