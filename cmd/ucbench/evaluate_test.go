package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"
)

// TestEvaluateSmall runs the evaluate benchmark on a small organization
// with one chain and with parallel chains: both evaluate the same users
// and print the figures.
func TestEvaluateSmall(t *testing.T) {
	var evaluated []string
	for _, chains := range []string{"1", "8"} {
		var out bytes.Buffer
		err := run(context.Background(), []string{"evaluate", "--users", "1500", "--latency", "1ms", "--rate", "500", "--chains", chains}, &out, &out)
		if err != nil {
			t.Fatalf("evaluate --chains %s: %v\n%s", chains, err, out.String())
		}
		for _, re := range []string{
			`up to ` + chains + ` cursor chains`,
			`users evaluated\s+\d+ \(\d+ matched`,
			`rate-limit floor\s+\d`,
			`ratio to rate floor\s+\d+\.\d+`,
			`peak memory \(VmHWM\)\s+\d+\.\d MiB`,
		} {
			if !regexp.MustCompile(re).MatchString(out.String()) {
				t.Errorf("--chains %s: output lacks %s:\n%s", chains, re, out.String())
			}
		}
		evaluated = append(evaluated, regexp.MustCompile(`users evaluated\s+.*`).FindString(out.String()))
	}
	if evaluated[0] != evaluated[1] {
		t.Errorf("one chain: %q; parallel chains: %q", evaluated[0], evaluated[1])
	}
}

func TestEvaluateRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"evaluate", "--users", "0"},
		{"evaluate", "--chains", "0"},
		{"evaluate", "--rate", "-1"},
	} {
		var out bytes.Buffer
		if err := run(context.Background(), args, &out, &out); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
