// Package rabbittest starts private RabbitMQ nodes for integration tests.
//
// Every node gets a unique Erlang node name (warren-test-<pid>-<n>@localhost),
// fresh loopback ports for AMQP, Erlang distribution, the management API and
// the Prometheus endpoint, and its own data directory holding its config,
// cookie, Mnesia database and logs. Tests therefore never touch a broker they
// did not start: not the system broker on 5672, not a node another test or
// another engineer's test run started, and not one left over by a crashed run.
// The only thing nodes share is epmd on 4369, which is made for that.
//
// # How a node is started
//
// The node runs in the foreground, not with -detached: the real start script
// (/usr/lib/rabbitmq/bin/rabbitmq-server, not the /usr/sbin wrapper, which
// drops the environment and switches user) is a child of the test process in
// a process group of its own, with stdout and stderr going to
// <Dir>/log/console.log. That choice is deliberate:
//
//   - A -detached start gives no process to wait on, and when it fails it
//     fails silently: no console output, often no log file at all.
//   - A child process gives a PID, so Kill can SIGKILL the whole group and
//     wait for it, and Destroy can check that nothing of the node is left.
//   - The start runs through a small sh wrapper that raises the file
//     descriptor limit to the hard limit (the broker wants thousands) and
//     keeps a watchdog that reads a pipe whose only writer is the test
//     process. If the test binary dies without cleaning up (a panic, a
//     go test -timeout, a SIGKILL), the pipe hits EOF and the watchdog kills
//     the node's process group, so crashed runs do not leave brokers behind.
//
// Readiness is `rabbitmqctl await_startup` followed by polling GET
// /api/overview with guest:guest until it answers 200, within an overall
// timeout (StartTimeout). When a start fails the error carries the tail of
// the node's log files.
//
// Costs, measured on a 2-core machine: a start takes 6-9 s (10-15 s when two
// nodes start at once), Kill well under a second, a graceful Stop about 6.5 s
// (the broker itself pauses 5 s while shutting down), and importing 5,000
// classic queues about 10 s. Destroy kills rather than stops, since the data
// goes anyway; tests that need no graceful shutdown should use Kill too.
//
// The CLI tools (Ctl and the helpers built on it) run rabbitmqctl with the
// node's HOME, so they read its cookie, and with an ephemeral port for their
// own distribution listener instead of the fixed 35672-35682 range, so many
// concurrent rabbitmqctl calls never compete for ports.
package rabbittest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/warrenhq/warren/internal/testenv/loopback"
)

// Paths of the Debian package's real scripts.
const (
	ServerBin = "/usr/lib/rabbitmq/bin/rabbitmq-server"
	CtlBin    = "/usr/lib/rabbitmq/bin/rabbitmqctl"
)

// Timeouts. They bound every wait so that nothing here can hang a test.
var (
	// StartTimeout bounds a Start or Restart, from launching the node to the
	// management API answering.
	StartTimeout = 90 * time.Second
	// CtlTimeout bounds one rabbitmqctl call made through Ctl.
	CtlTimeout = 3 * time.Minute
	// StopTimeout bounds how long Stop waits for the node to exit after
	// rabbitmqctl stop, and how long Kill waits for the processes to vanish.
	StopTimeout = 60 * time.Second
	// InstallTimeout bounds the apt-get calls of EnsureInstalled.
	InstallTimeout = 15 * time.Minute
)

// Options configure a node.
type Options struct {
	StatsIntervalMS int    // collect_statistics_interval; 0 means 1000
	ExtraConfig     string // appended verbatim to rabbitmq.conf
}

// Node is a private RabbitMQ node. Its exported fields do not change over the
// node's life: Restart reuses the same name, directory and ports.
type Node struct {
	Name                                   string // erlang node name, e.g. warren-test-123-1@localhost
	Dir                                    string
	AMQPPort, MgmtPort, DistPort, PromPort int
	AMQPURL                                string // amqp://guest:guest@127.0.0.1:PORT/
	MgmtURL                                string // http://127.0.0.1:PORT  (no trailing slash)

	mu            sync.Mutex // serialises Stop, Kill, Restart and Destroy
	proc          *process   // nil when the node is not running
	destroyed     bool
	consoleOffset int64 // size of console.log when the last launch began
}

// process is one run of the node's start script.
type process struct {
	cmd      *exec.Cmd
	pgid     int
	done     chan struct{} // closed when cmd.Wait returns
	watchdog *os.File      // write end of the watchdog pipe
}

var nodeCounter atomic.Int64

// StartT starts a node for t, fails t if it cannot, and destroys the node
// when t and its subtests finish.
func StartT(t testing.TB, opts Options) *Node {
	t.Helper()
	began := time.Now()
	n, err := Start(opts)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(n.Destroy)
	t.Logf("rabbittest: started %s in %v (AMQP %d, management %d, dir %s)",
		n.Name, time.Since(began).Round(100*time.Millisecond), n.AMQPPort, n.MgmtPort, n.Dir)
	return n
}

// Start creates a directory and ports for a new node, starts it and waits
// until its management API answers. On error nothing is left behind.
func Start(opts Options) (*Node, error) {
	if err := EnsureInstalled(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "warren-rabbittest-")
	if err != nil {
		return nil, fmt.Errorf("rabbittest: create node directory: %w", err)
	}
	ports, err := loopback.FreePorts(4)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("rabbittest: pick ports: %w", err)
	}
	n := &Node{
		Name:     fmt.Sprintf("warren-test-%d-%d@localhost", os.Getpid(), nodeCounter.Add(1)),
		Dir:      dir,
		AMQPPort: ports[0],
		DistPort: ports[1],
		MgmtPort: ports[2],
		PromPort: ports[3],
	}
	n.AMQPURL = fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", n.AMQPPort)
	n.MgmtURL = fmt.Sprintf("http://127.0.0.1:%d", n.MgmtPort)
	if err := n.writeFiles(opts); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("rabbittest: %s: %w", n.Name, err)
	}
	n.mu.Lock()
	err = n.startLocked()
	n.mu.Unlock()
	if err != nil {
		n.Destroy()
		return nil, err
	}
	return n, nil
}

// writeFiles lays out the node's directory.
func (n *Node) writeFiles(opts Options) error {
	for _, d := range []string{"mnesia", "log"} {
		if err := os.MkdirAll(filepath.Join(n.Dir, d), 0o755); err != nil {
			return err
		}
	}
	interval := opts.StatsIntervalMS
	if interval <= 0 {
		interval = 1000
	}
	conf := fmt.Sprintf(`# Written by rabbittest for a private test node.
listeners.tcp.1 = 127.0.0.1:%d
management.tcp.ip = 127.0.0.1
management.tcp.port = %d
prometheus.tcp.ip = 127.0.0.1
prometheus.tcp.port = %d
loopback_users = none
collect_statistics_interval = %d
`, n.AMQPPort, n.MgmtPort, n.PromPort, interval)
	if opts.ExtraConfig != "" {
		conf += opts.ExtraConfig
		if !strings.HasSuffix(conf, "\n") {
			conf += "\n"
		}
	}
	cookie := make([]byte, 20)
	if _, err := rand.Read(cookie); err != nil {
		return err
	}
	files := []struct {
		name string
		data string
		mode os.FileMode
	}{
		{"rabbitmq.conf", conf, 0o644},
		{"enabled_plugins", "[rabbitmq_management,rabbitmq_prometheus].\n", 0o644},
		// An empty env file, so that /etc/rabbitmq/rabbitmq-env.conf is not read.
		{"rabbitmq-env.conf", "", 0o644},
		// Erlang refuses a cookie file that others can read.
		{".erlang.cookie", strings.ToUpper(hex.EncodeToString(cookie)), 0o400},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(n.Dir, f.name), []byte(f.data), f.mode); err != nil {
			return err
		}
	}
	return nil
}

// env is the environment for the node and for rabbitmqctl. Variables of the
// caller that would point the scripts elsewhere are dropped.
func (n *Node) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "RABBITMQ_"), k == "HOME", k == "ERL_LIBS",
			k == "ERL_FLAGS", k == "ERL_AFLAGS", k == "ERL_ZFLAGS", k == "LANG", k == "LC_ALL":
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+n.Dir, // where both the node and rabbitmqctl read .erlang.cookie
		"LANG=C.UTF-8",
		"LC_ALL=C.UTF-8", // Elixir-based CLI warns under a latin1 locale
		"RABBITMQ_NODENAME="+n.Name,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT="+strconv.Itoa(n.AMQPPort),
		// Must be explicit: the default is AMQP port + 20000.
		"RABBITMQ_DIST_PORT="+strconv.Itoa(n.DistPort),
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
		// 0/0 lets the CLI's own distribution listener take an ephemeral
		// port instead of one of the eleven fixed ports from 35672.
		"RABBITMQ_CTL_DIST_PORT_MIN=0",
		"RABBITMQ_CTL_DIST_PORT_MAX=0",
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(n.Dir, "rabbitmq-env.conf"),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(n.Dir, "rabbitmq.conf"),
		"RABBITMQ_ADVANCED_CONFIG_FILE="+filepath.Join(n.Dir, "advanced.config"),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(n.Dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(n.Dir, "log"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(n.Dir, "enabled_plugins"),
	)
}

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

// waitReady waits for await_startup and then for the management API.
func (n *Node) waitReady(deadline time.Time) error {
	p := n.proc
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	go func() {
		// Stop waiting as soon as the node dies.
		select {
		case <-p.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	exited := func() error {
		select {
		case <-p.done:
			return fmt.Errorf("%w (%v)", errExitedEarly, p.cmd.ProcessState)
		default:
			return nil
		}
	}

	// await_startup fails at once while the node's distribution is not up
	// yet, so retry it until it succeeds.
	var lastErr error
	for {
		timeout := time.Until(deadline).Truncate(time.Second)
		if timeout < time.Second {
			return fmt.Errorf("timed out after %v waiting for await_startup: %v", StartTimeout, lastErr)
		}
		_, lastErr = n.ctl(ctx, "await_startup", "--timeout", strconv.Itoa(int(timeout.Seconds())))
		if lastErr == nil {
			break
		}
		if err := exited(); err != nil {
			return err
		}
		if !sleepCtx(ctx, 500*time.Millisecond) {
			if err := exited(); err != nil {
				return err
			}
			return fmt.Errorf("timed out after %v waiting for await_startup: %v", StartTimeout, lastErr)
		}
	}

	client := &http.Client{Timeout: 5 * time.Second}
	for {
		lastErr = n.checkOverview(ctx, client)
		if lastErr == nil {
			return nil
		}
		if err := exited(); err != nil {
			return err
		}
		if !sleepCtx(ctx, 200*time.Millisecond) {
			if err := exited(); err != nil {
				return err
			}
			return fmt.Errorf("timed out after %v waiting for the management API: %v", StartTimeout, lastErr)
		}
	}
}

func (n *Node) checkOverview(ctx context.Context, client *http.Client) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.MgmtURL+"/api/overview", nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth("guest", "guest")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /api/overview: %s", resp.Status)
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

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

// Ctl runs rabbitmqctl -n Name args... against the node, with the node's
// environment and a timeout of CtlTimeout. On error, the error includes the
// combined output.
func (n *Node) Ctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), CtlTimeout)
	defer cancel()
	return n.ctl(ctx, args...)
}

// CtlContext is Ctl with a caller's context instead of CtlTimeout.
func (n *Node) CtlContext(ctx context.Context, args ...string) (string, error) {
	return n.ctl(ctx, args...)
}

func (n *Node) ctl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, CtlBin, append([]string{"-n", n.Name}, args...)...)
	cmd.Dir = n.Dir
	cmd.Env = n.env()
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	// rabbitmqctl is an Erlang VM whose helpers may hold the output pipe;
	// kill its whole group on timeout and do not wait for the pipe forever.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return out.String(), fmt.Errorf("rabbitmqctl -n %s %s: %w\n%s", n.Name, strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// ImportDefinitions imports a definitions document (the JSON of GET
// /api/definitions) with rabbitmqctl import_definitions.
func (n *Node) ImportDefinitions(json []byte) error {
	f, err := os.CreateTemp(n.Dir, "definitions-*.json")
	if err != nil {
		return fmt.Errorf("rabbittest: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(json); err != nil {
		f.Close()
		return fmt.Errorf("rabbittest: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("rabbittest: %w", err)
	}
	_, err = n.Ctl("import_definitions", f.Name())
	return err
}

// AddUser creates a user with the given tags and no permissions.
func (n *Node) AddUser(name, password string, tags ...string) error {
	if _, err := n.Ctl("add_user", name, password); err != nil {
		return err
	}
	_, err := n.Ctl(append([]string{"set_user_tags", name}, tags...)...)
	return err
}

// SetPermissions sets user's configure, write and read permissions on vhost.
func (n *Node) SetPermissions(vhost, user, conf, write, read string) error {
	_, err := n.Ctl("set_permissions", "-p", vhost, user, conf, write, read)
	return err
}

// AddVhost creates a virtual host.
func (n *Node) AddVhost(name string) error {
	_, err := n.Ctl("add_vhost", name)
	return err
}

// consoleSince returns what the node wrote to console.log since it was last
// launched.
func (n *Node) consoleSince() string {
	f, err := os.Open(filepath.Join(n.Dir, "log", "console.log"))
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(n.consoleOffset, io.SeekStart); err != nil {
		return ""
	}
	data, _ := io.ReadAll(io.LimitReader(f, 1<<20))
	return string(data)
}

// LogTail returns the last lines lines of each of the node's log files, for
// error messages.
func (n *Node) LogTail(lines int) string {
	paths, _ := filepath.Glob(filepath.Join(n.Dir, "log", "*.log"))
	var b strings.Builder
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		fmt.Fprintf(&b, "--- %s (last %d lines) ---\n%s\n", p, lines, tail(string(data), lines))
	}
	if b.Len() == 0 {
		return "(no log files in " + filepath.Join(n.Dir, "log") + ")"
	}
	return b.String()
}

func tail(s string, lines int) string {
	s = strings.TrimRight(s, "\n")
	idx := len(s)
	for i := 0; i < lines; i++ {
		j := strings.LastIndexByte(s[:idx], '\n')
		if j < 0 {
			return s
		}
		idx = j
	}
	return s[idx+1:]
}

// Main is a TestMain for a package whose tests share one node: it starts
// the node, hands it to use, runs the tests and destroys the node, then
// exits with the tests' code (1 if the node could not start; never 0
// without running the tests).
func Main(m *testing.M, opts Options, use func(*Node)) {
	os.Exit(func() int {
		node, err := Start(opts)
		if err != nil {
			fmt.Fprintln(os.Stderr, "rabbittest: starting the test broker:", err)
			return 1
		}
		defer node.Destroy()
		use(node)
		return m.Run()
	}())
}
