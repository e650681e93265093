package rabbittest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// wrapper raises the fd limit, starts the watchdog and execs the start
// script. The watchdog inherits the read end of a pipe on fd 3 whose write
// end only the test process holds; EOF means the test process is gone (or
// has closed it after the node stopped), and kill 0 then takes down the
// whole process group. The async list needs the explicit <&3 because sh
// points the stdin of background jobs at /dev/null.
const wrapper = `ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
( cat <&3 >/dev/null 2>&1; kill -9 0 ) &
exec "$0" 3<&- </dev/null`

// startLocked launches the node and waits until it is ready. On failure the
// processes are killed and the error carries the tail of the logs. Called
// with n.mu held and n.proc == nil.
func (n *Node) startLocked() error {
	deadline := time.Now().Add(StartTimeout)
	var err error
	// A node killed a moment ago may still be registered with epmd, and the
	// new one then stops at once with duplicate_node_name. epmd drops the
	// name as soon as it sees the old node's socket close, so retry that.
	for attempt := 1; ; attempt++ {
		err = n.launchAndWait(deadline)
		if err == nil || attempt == 5 || time.Until(deadline) < 10*time.Second ||
			!errors.Is(err, errExitedEarly) || !strings.Contains(n.consoleSince(), "duplicate_node_name") {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		return fmt.Errorf("rabbittest: start %s: %w\n%s", n.Name, err, n.LogTail(60))
	}
	return nil
}

var errExitedEarly = errors.New("node exited during startup")

func (n *Node) launchAndWait(deadline time.Time) error {
	if err := n.launch(); err != nil {
		return err
	}
	err := n.waitReady(deadline)
	if err != nil {
		n.killLocked()
	}
	return err
}

func (n *Node) launch() error {
	console, err := os.OpenFile(filepath.Join(n.Dir, "log", "console.log"),
		os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer console.Close()
	n.consoleOffset, _ = console.Seek(0, io.SeekEnd)
	fmt.Fprintf(console, "==== rabbittest: starting %s at %s\n", n.Name, time.Now().Format(time.RFC3339Nano))

	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()

	cmd := exec.Command("/bin/sh", "-c", wrapper, ServerBin)
	cmd.Dir = n.Dir
	cmd.Env = n.env()
	cmd.Stdout = console
	cmd.Stderr = console
	cmd.ExtraFiles = []*os.File{r} // fd 3
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return fmt.Errorf("run %s: %w", ServerBin, err)
	}
	p := &process{cmd: cmd, pgid: cmd.Process.Pid, done: make(chan struct{}), watchdog: w}
	go func() {
		cmd.Wait() // the exit status is read from cmd.ProcessState
		close(p.done)
	}()
	n.proc = p
	return nil
}
