package bench

import (
	"os"
	"syscall"
)

// The signals a scenario stops nodes with.
var (
	scenarioSIGTERM os.Signal = syscall.SIGTERM
	scenarioSIGKILL os.Signal = syscall.SIGKILL
)

// scenarioProcAttr returns the attributes of a node's process: its own
// process group, so a terminal's ^C reaches only the scenario (which then
// kills the nodes), and SIGKILL when the scenario's process dies.
func scenarioProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
