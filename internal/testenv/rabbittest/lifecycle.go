package rabbittest

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
)

// Running reports whether the node's processes are up (not whether the
// broker answers).
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.runningLocked()
}

func (n *Node) runningLocked() bool {
	if n.proc == nil {
		return false
	}
	select {
	case <-n.proc.done:
		return false
	default:
		return true
	}
}

// Stop stops the node gracefully with rabbitmqctl stop and waits until its
// processes have exited. If they do not exit within StopTimeout the node is
// killed and an error returned.
func (n *Node) Stop() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stopLocked()
}

func (n *Node) stopLocked() error {
	if !n.runningLocked() {
		// Not started, or it died by itself: clear away what is left.
		return n.killLocked()
	}
	_, ctlErr := n.Ctl("stop")
	wait := StopTimeout
	if ctlErr != nil {
		// The node may have gone before answering; give it a moment only.
		wait = 10 * time.Second
	}
	select {
	case <-n.proc.done:
	case <-time.After(wait):
		n.killLocked()
		if ctlErr != nil {
			return fmt.Errorf("rabbittest: %s: %w; killed it", n.Name, ctlErr)
		}
		return fmt.Errorf("rabbittest: %s did not exit within %v of rabbitmqctl stop; killed it", n.Name, wait)
	}
	// The start script has exited; make sure nothing of the node outlives
	// it (erl_child_setup lingers for a moment after beam).
	return n.killLocked()
}

// Kill SIGKILLs the node's processes and waits until they are gone and the
// AMQP port no longer accepts connections. The data directory is kept, so
// Restart brings the node back with its data.
func (n *Node) Kill() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.killLocked(); err != nil {
		return err
	}
	// The listener is closed by the kernel when beam dies; this only guards
	// against a callers' race with a slow teardown.
	deadline := time.Now().Add(StopTimeout)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(n.AMQPPort)), time.Second)
		if err != nil {
			return nil
		}
		c.Close()
		if time.Now().After(deadline) {
			return fmt.Errorf("rabbittest: %s: AMQP port %d still accepts connections %v after SIGKILL", n.Name, n.AMQPPort, StopTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// killLocked SIGKILLs the process group and every descendant of the start
// script (erl_child_setup and inet_gethost put themselves into sessions of
// their own), then waits until none of them is left.
func (n *Node) killLocked() error {
	p := n.proc
	if p == nil {
		return nil
	}
	pids := descendants(p.pgid)
	syscall.Kill(-p.pgid, syscall.SIGKILL)
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(StopTimeout)
	select {
	case <-p.done:
	case <-time.After(StopTimeout):
		return fmt.Errorf("rabbittest: %s: start script %d did not exit after SIGKILL", n.Name, p.pgid)
	}
	for {
		left := alivePids(p.pgid, pids)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("rabbittest: %s: processes %v still alive after SIGKILL", n.Name, left)
		}
		for _, pid := range left {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.reapLocked()
	return nil
}

// reapLocked forgets a process that has exited and releases the watchdog
// pipe.
func (n *Node) reapLocked() {
	if n.proc == nil {
		return
	}
	n.proc.watchdog.Close()
	n.proc = nil
}

// Restart starts the node again with the same directory, name and ports,
// and waits until its management API answers. A running node is stopped
// gracefully first.
func (n *Node) Restart() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.destroyed {
		return fmt.Errorf("rabbittest: %s: Restart after Destroy", n.Name)
	}
	if err := n.stopLocked(); err != nil {
		return err
	}
	return n.startLocked()
}

// Destroy kills the node if it is running and removes its directory. It is
// idempotent. It never fails a test by itself, but reports leftover
// processes on stderr.
func (n *Node) Destroy() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.destroyed {
		return
	}
	n.destroyed = true
	// No graceful stop: the data is about to be removed anyway.
	if err := n.killLocked(); err != nil {
		fmt.Fprintf(os.Stderr, "rabbittest: destroy: %v\n", err)
	}
	if err := os.RemoveAll(n.Dir); err != nil {
		fmt.Fprintf(os.Stderr, "rabbittest: destroy: %v\n", err)
	}
}
