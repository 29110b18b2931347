package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
)

func TestRestoreBench(t *testing.T) {
	var out strings.Builder
	if err := runRestore(context.Background(), []string{"--users", "300", "--latency", "0", "--rate", "0"}, &out); err != nil {
		t.Fatalf("restore: %v\n%s", err, out.String())
	}
	for _, want := range []string{`run\s+\S+, \d+ requests: [1-9]\d* removed in Atlassian`, `restore\s+\S+, \d+ requests: [1-9]\d* re-added`,
		`restore / run\s+\d+\.\d{3}`, `group as before the run yes`} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("output lacks %s:\n%s", want, out.String())
		}
	}
}
