package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
)

func TestWarnEmail(t *testing.T) {
	var out strings.Builder
	if err := runWarnEmail(context.Background(), []string{"--users", "250", "--workers", "2"}, &out); err != nil {
		t.Fatalf("warn-email: %v\n%s", err, out.String())
	}
	for _, want := range []string{`e-mails received\s+250 \(duplicates 0, still queued 0\)`, `e-mails per second\s+\d+`, `mailer alone\s+`} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("output lacks %s:\n%s", want, out.String())
		}
	}
}
