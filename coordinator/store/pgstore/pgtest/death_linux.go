package pgtest

import "syscall"

// setParentDeath ends the server with the process that started it.
func setParentDeath(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGTERM }
