package rabbittest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// procInfo is what /proc/PID/stat tells about a process.
type procInfo struct {
	pid, ppid, pgrp int
	zombie          bool
}

// processes lists the processes in /proc. Processes that vanish while being
// read are skipped.
func processes() []procInfo {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var out []procInfo
	for _, d := range dirs {
		data, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parens.
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 3 {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(d))
		ppid, _ := strconv.Atoi(f[1])
		pgrp, _ := strconv.Atoi(f[2])
		out = append(out, procInfo{pid: pid, ppid: ppid, pgrp: pgrp, zombie: deadZombie(d, f[0])})
	}
	return out
}

// deadZombie reports whether the process in /proc directory d, in state
// state, is gone apart from its exit status. A multi-threaded process (like
// beam.smp) shows its leader as a zombie while other threads are still
// exiting and still hold its sockets open; only when the leader is the
// last task left are its files closed.
func deadZombie(d, state string) bool {
	if state != "Z" && state != "X" {
		return false
	}
	tasks, err := os.ReadDir(filepath.Join(d, "task"))
	return err != nil || len(tasks) <= 1
}

// descendants returns the members of process group pgid and all their
// descendants, whatever group or session those have moved to.
func descendants(pgid int) []int {
	procs := processes()
	children := map[int][]int{}
	seen := map[int]bool{}
	var queue []int
	for _, p := range procs {
		children[p.ppid] = append(children[p.ppid], p.pid)
		if p.pgrp == pgid || p.pid == pgid {
			if !seen[p.pid] {
				seen[p.pid] = true
				queue = append(queue, p.pid)
			}
		}
	}
	var out []int
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		out = append(out, pid)
		for _, c := range children[pid] {
			if !seen[c] {
				seen[c] = true
				queue = append(queue, c)
			}
		}
	}
	return out
}

// alivePids returns the processes, zombies aside, that are in group pgid or
// among pids.
func alivePids(pgid int, pids []int) []int {
	want := map[int]bool{}
	for _, pid := range pids {
		want[pid] = true
	}
	var out []int
	for _, p := range processes() {
		if !p.zombie && (p.pgrp == pgid || want[p.pid]) {
			out = append(out, p.pid)
		}
	}
	return out
}
