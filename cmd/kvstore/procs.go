package main

import (
	"os"
	"runtime"
)

// procsPerCPU is how many Go scheduler slots (Ps) a node process runs per
// CPU.
//
// A goroutine in a blocking system call keeps its P until the runtime's
// monitor hands the P to another thread, and the handoff costs thread
// wake-ups of its own. A node makes such calls all the time: every group
// commit is an fdatasync (about 0.5 ms here), and a read that misses the
// page cache is a blocking pread. Measured on 2 CPUs with three nodes'
// logs syncing several hundred times a second each, a blocking 450 us
// sleep in place of the fdatasync cost as much throughput as the fsync
// itself, and a goroutine sleep of the same length did not: the CPUs sat a
// fifth idle while runnable goroutines waited for a P. Twice as many Ps as
// CPUs keeps the CPUs busy while syncs block (docs/performance.md).
const procsPerCPU = 2

// defaultProcs is the runtime's own choice, which honours the CPU affinity
// mask and a cgroup CPU limit; read before anything changes it.
var defaultProcs = runtime.GOMAXPROCS(0)

// setServerProcs sets GOMAXPROCS for a process that runs nodes, unless the
// GOMAXPROCS environment variable chose it.
func setServerProcs() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(procsPerCPU * defaultProcs)
	}
}
