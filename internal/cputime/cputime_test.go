package cputime

import (
	"runtime"
	"testing"
	"time"
)

// TestProcessCountsWork: busy work shows up as CPU time, and the figure
// never goes back.
func TestProcessCountsWork(t *testing.T) {
	before, ok := Process()
	if !ok {
		if runtime.GOOS == "linux" || runtime.GOOS == "darwin" {
			t.Fatal("no CPU time on a unix system")
		}
		t.Skip("CPU time not measured here")
	}
	x := 0
	for start := time.Now(); time.Since(start) < 50*time.Millisecond; {
		x++
	}
	after, _ := Process()
	if after < before+10*time.Millisecond {
		t.Errorf("CPU time %v → %v after 50 ms of busy work (%d loops)", before, after, x)
	}
}
