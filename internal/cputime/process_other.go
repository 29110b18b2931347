//go:build !linux

package cputime

import "time"

// Of returns false: another process's CPU time is read only on Linux.
func Of(pid int) (time.Duration, bool) { return 0, false }
