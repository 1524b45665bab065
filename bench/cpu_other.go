//go:build !unix

package bench

import "time"

// processCPU returns zeros: CPU time is measured on Unix systems only.
func processCPU() (user, sys time.Duration) { return 0, 0 }
