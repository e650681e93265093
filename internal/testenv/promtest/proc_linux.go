package promtest

import "syscall"

// sysProcAttr puts Prometheus in a process group of its own (so a ^C in the
// terminal reaches the test, which then cleans up) and has the kernel kill
// it if the test process dies without cleaning up.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
