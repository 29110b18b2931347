//go:build !unix

package idpexport

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
