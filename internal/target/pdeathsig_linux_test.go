package target

import (
	"os/exec"
	"syscall"
)

// childDiesWithTest has the kernel kill cmd's process if the test binary
// dies without running its cleanups (a -timeout panic, a SIGKILL).
func childDiesWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
