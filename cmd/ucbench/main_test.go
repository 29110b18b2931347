package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
)

func TestDispatch(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr bool
		wantOut string
	}{
		{"no command", nil, true, ""},
		{"unknown", []string{"frobnicate"}, true, ""},
		{"help", []string{"help"}, false, "org-read"},
		{"bad flag value", []string{"org-read", "--users", "0"}, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tc.args, &out, &errOut)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("output %q lacks %q", out.String(), tc.wantOut)
			}
		})
	}
}

func TestOrgReadSmall(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"org-read", "--users", "450", "--latency", "0", "--rate", "1000"}, &out, &out)
	if err != nil {
		t.Fatalf("org-read: %v\n%s", err, out.String())
	}
	for _, re := range []string{
		`organization\s+450 accounts`,
		`users read\s+\d+ `,
		`requests made\s+\d+ \(0 answered 429\)`,
		`rate-limit floor\s+\S+`,
		`ratio\s+\d+\.\d+`,
		`peak memory \(VmHWM\)\s+\d+\.\d MiB`,
	} {
		if !regexp.MustCompile(re).MatchString(out.String()) {
			t.Errorf("output lacks %s:\n%s", re, out.String())
		}
	}
}
