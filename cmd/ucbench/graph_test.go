package main

import (
	"context"
	"strings"
	"testing"
)

func TestGraphRemove(t *testing.T) {
	// 300 members under 100 writes per 1 s scaled by 10 (100 ms windows):
	// a second of work that crosses several quota windows.
	var out strings.Builder
	args := []string{"--members", "300", "--writes", "100", "--window", "1s", "--time-scale", "10"}
	if err := runGraphRemove(context.Background(), args, &out); err != nil {
		t.Fatalf("graph-remove: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"removed 300, not-member 0, failed 0, unreported 0",
		"lost removals   0",
		"duplicated      0",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestGraphRemoveRejectsBadFlags(t *testing.T) {
	var out strings.Builder
	if err := runGraphRemove(context.Background(), []string{"--members", "0"}, &out); err == nil {
		t.Fatal("graph-remove --members 0: no error")
	}
}
