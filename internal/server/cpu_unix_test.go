//go:build unix

package server_test

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user and system) the process used so
// far: a benchmark's CPU per operation depends much less on what else the
// machine runs than its wall time per operation.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
