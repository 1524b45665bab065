//go:build !linux

package bench

import (
	"os"
	"syscall"
)

// The signals a scenario stops nodes with.
var (
	scenarioSIGTERM os.Signal = syscall.SIGTERM
	scenarioSIGKILL os.Signal = os.Kill
)

// scenarioProcAttr returns the attributes of a node's process: none
// beyond the defaults on this platform.
func scenarioProcAttr() *syscall.SysProcAttr { return nil }
