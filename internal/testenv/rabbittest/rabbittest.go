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
// # Clusters
//
// StartCluster (StartClusterT) starts n such nodes with one shared Erlang
// cookie and joins the second and later ones to the first the way an
// operator does: rabbitmqctl stop_app, join_cluster, start_app. The nodes
// start, stop their apps and boot into the cluster concurrently; only the
// join_cluster calls run one at a time. Each node keeps its own name,
// ports and directory, so Stop, Kill and Restart act on one node, and a
// restarted node rejoins by itself. On a 2-core machine two nodes form a
// cluster in about 25 s and three in about 40 s (60 s while other tests
// load the machine; the stop_app before a join includes the broker's 5 s
// shutdown pause); restarting two of three at once takes about 20 s.
// QueuesCtl runs rabbitmq-queues (rebalance, grow, quorum_status).
//
// The CLI tools (Ctl and the helpers built on it) run rabbitmqctl with the
// node's HOME, so they read its cookie, and with an ephemeral port for their
// own distribution listener instead of the fixed 35672-35682 range, so many
// concurrent rabbitmqctl calls never compete for ports.
//
// Import rule: it imports internal/testenv/loopback only; only tests import
// it.
package rabbittest

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warrenhq/warren/internal/testenv/loopback"
)

// Paths of the Debian package's real scripts.
const (
	ServerBin = "/usr/lib/rabbitmq/bin/rabbitmq-server"
	CtlBin    = "/usr/lib/rabbitmq/bin/rabbitmqctl"
	QueuesBin = "/usr/lib/rabbitmq/bin/rabbitmq-queues"
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
	// AdvancedConfig is written to advanced.config, for the settings
	// rabbitmq.conf has no key for (an Erlang term list, e.g.
	// [{rabbit, [{core_metrics_gc_interval, 1000}]}].).
	AdvancedConfig string
	// Streams enables the rabbitmq_stream and rabbitmq_stream_management
	// plugins, the stream protocol listening on Node.StreamPort.
	Streams bool
	// TLS adds an AMQPS listener on Node.AMQPSPort, with a self-signed
	// certificate for 127.0.0.1 (Node.CACertFile, Node.TLSConfig).
	TLS bool
}

// Node is a private RabbitMQ node. Its exported fields do not change over the
// node's life: Restart reuses the same name, directory and ports.
type Node struct {
	Name                                   string // erlang node name, e.g. warren-test-123-1@localhost
	Dir                                    string
	AMQPPort, MgmtPort, DistPort, PromPort int
	StreamPort                             int    // the stream protocol's port; 0 unless Options.Streams
	AMQPSPort                              int    // the AMQPS listener's port; 0 unless Options.TLS
	AMQPSURL                               string // amqps://guest:guest@127.0.0.1:PORT/ with Options.TLS
	CACertFile                             string // the AMQPS listener's self-signed certificate (PEM)
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
	cookie, err := newCookie()
	if err != nil {
		return nil, fmt.Errorf("rabbittest: %w", err)
	}
	n, err := newNode(opts, cookie)
	if err != nil {
		return nil, err
	}
	if err := n.start(); err != nil {
		n.Destroy()
		return nil, err
	}
	return n, nil
}

// newNode creates the directory, ports and files of a node whose Erlang
// cookie is cookie, without starting it. On error nothing is left behind.
func newNode(opts Options, cookie string) (*Node, error) {
	dir, err := os.MkdirTemp("", "warren-rabbittest-")
	if err != nil {
		return nil, fmt.Errorf("rabbittest: create node directory: %w", err)
	}
	nports := 6 // AMQP, distribution, management, Prometheus, stream, AMQPS: the last two used where asked for
	ports, err := loopback.FreePorts(nports)
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
	if opts.Streams {
		n.StreamPort = ports[4]
	}
	if opts.TLS {
		n.AMQPSPort = ports[5]
		n.AMQPSURL = fmt.Sprintf("amqps://guest:guest@127.0.0.1:%d/", n.AMQPSPort)
	}
	n.AMQPURL = fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", n.AMQPPort)
	n.MgmtURL = fmt.Sprintf("http://127.0.0.1:%d", n.MgmtPort)
	if err := n.writeFiles(opts, cookie); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("rabbittest: %s: %w", n.Name, err)
	}
	return n, nil
}

// start starts a node newNode made.
func (n *Node) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.startLocked()
}

// Main is a TestMain for a package whose tests share one node: it starts
// the node, hands it to use, runs the tests and destroys the node, then
// exits with the tests' code (1 if the node could not start; never 0
// without running the tests).
func Main(m *testing.M, opts Options, use func(*Node)) {
	MainNodes(m, []Options{opts}, func(nodes []*Node) { use(nodes[0]) })
}

// MainNodes is Main for a package whose tests share several nodes, one
// per element of opts (a broker with its statistics on and one with them
// off, say), started at the same time.
func MainNodes(m *testing.M, opts []Options, use func([]*Node)) {
	os.Exit(func() int {
		nodes := make([]*Node, len(opts))
		errs := make([]error, len(opts))
		var wg sync.WaitGroup
		for i, o := range opts {
			wg.Go(func() { nodes[i], errs[i] = Start(o) })
		}
		wg.Wait()
		for _, n := range nodes {
			if n != nil {
				defer n.Destroy()
			}
		}
		for _, err := range errs {
			if err != nil {
				fmt.Fprintln(os.Stderr, "rabbittest: starting the test broker:", err)
				return 1
			}
		}
		use(nodes)
		return m.Run()
	}())
}
