package sim

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the child killed when the tool dies, so that no
// coordinator outlives an interrupted run.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
