// Package cputime reads the CPU time the process, or on Linux another
// process, has used. Benchmarks report their work per CPU-second with it:
// on a machine shared with other work, CPU time per operation moves much
// less than wall time.
package cputime
