//go:build !linux

package promtest

import "syscall"

// sysProcAttr puts Prometheus in a process group of its own. Without a
// parent-death signal, a test binary that crashes leaves it running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
