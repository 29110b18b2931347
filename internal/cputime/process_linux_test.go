package cputime

import (
	"os"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name string
		line string
		want time.Duration
		ok   bool
	}{
		{"plain", "4242 (ucbench) S 1 4242 4242 0 -1 4194560 1 0 0 0 150 25 0 0 20 0 4 0 1 0 0", 1750 * time.Millisecond, true},
		// The command name is the program's to choose: spaces and
		// parentheses in it must not shift the fields.
		{"parens and spaces in the name", "7 (a) b (c d) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0", 70 * time.Millisecond, true},
		{"cut short", "7 (x) R 1 7 7 0 -1 0 0 0 0 0 3", 0, false},
		{"no name", "7 x R", 0, false},
		{"not a number", "7 (x) R 1 7 7 0 -1 0 0 0 0 0 3a 4", 0, false},
		{"negative", "7 (x) R 1 7 7 0 -1 0 0 0 0 0 -3 4", 0, false},
	}
	for _, tc := range tests {
		got, ok := parseStat([]byte(tc.line))
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: parseStat = %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// TestOfThisProcess: this process read through /proc agrees with
// getrusage to within the /proc clock tick, and a process that does not
// exist reads as false.
func TestOfThisProcess(t *testing.T) {
	x := 0
	for start := time.Now(); time.Since(start) < 60*time.Millisecond; {
		x++
	}
	self, _ := Process()
	of, ok := Of(os.Getpid())
	if !ok {
		t.Fatal("no CPU time for this process from /proc")
	}
	after, _ := Process()
	if of < self-2*clockTick || of > after+clockTick {
		t.Errorf("Of(self) = %v, getrusage %v..%v (%d loops)", of, self, after, x)
	}
	if _, ok := Of(-1); ok {
		t.Error("Of(-1) read a CPU time")
	}
}
