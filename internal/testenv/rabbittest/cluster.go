package rabbittest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// StartClusterT starts a cluster of n nodes for t (StartCluster), fails t
// if it cannot, and destroys every node when t and its subtests finish.
func StartClusterT(t testing.TB, n int, opts Options) []*Node {
	t.Helper()
	began := time.Now()
	nodes, err := StartCluster(n, opts)
	if err != nil {
		t.Fatalf("%v", err)
	}
	for _, node := range nodes {
		t.Cleanup(node.Destroy)
	}
	t.Logf("rabbittest: started a cluster of %d nodes in %v: %s", n, time.Since(began).Round(100*time.Millisecond), describeNodes(nodes))
	return nodes
}

// StartCluster starts n private nodes that share one Erlang cookie and
// joins the second and later ones to the first, the way an operator
// does: rabbitmqctl stop_app, join_cluster FIRST, start_app. It returns
// once the first node counts every node as running and each node's
// management API answers. Each node keeps its own name, ports and
// directory; Stop, Kill and Restart act on one node, and a restarted node
// rejoins the cluster by itself. On error nothing is left behind.
//
// What can run at once does: the nodes start together (they share
// nothing but epmd), stop their apps together and boot into the cluster
// together, which is what a cluster restart does too; only the
// join_cluster calls run one after the other, since concurrent joins to
// one node race in Mnesia's schema merge.
func StartCluster(n int, opts Options) ([]*Node, error) {
	if n < 1 {
		return nil, fmt.Errorf("rabbittest: a cluster of %d nodes", n)
	}
	if err := EnsureInstalled(); err != nil {
		return nil, err
	}
	cookie, err := newCookie()
	if err != nil {
		return nil, fmt.Errorf("rabbittest: %w", err)
	}
	nodes := make([]*Node, 0, n)
	fail := func(err error) ([]*Node, error) {
		for _, node := range nodes {
			node.Destroy()
		}
		return nil, err
	}
	for range n {
		node, err := newNode(opts, cookie)
		if err != nil {
			return fail(err)
		}
		nodes = append(nodes, node)
	}
	if err := eachAtOnce(nodes, (*Node).start); err != nil {
		return fail(err)
	}
	if err := join(nodes[0], nodes[1:]); err != nil {
		return fail(err)
	}
	if err := nodes[0].awaitRunningNodes(nodes, StartTimeout); err != nil {
		return fail(err)
	}
	return nodes, nil
}

// join makes the running nodes members of seed's cluster: stop_app on
// all, join_cluster one at a time, then start_app on all, each waiting
// as a start does until the node has booted and its management API
// answers. The nodes' own data (queues, users, vhosts) is replaced by
// the cluster's.
func join(seed *Node, nodes []*Node) error {
	wrap := func(n *Node, err error) error {
		return fmt.Errorf("rabbittest: join %s to %s: %w", n.Name, seed.Name, err)
	}
	err := eachAtOnce(nodes, func(n *Node) error {
		if _, err := n.Ctl("stop_app"); err != nil {
			return wrap(n, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if _, err := n.Ctl("join_cluster", seed.Name); err != nil {
			return wrap(n, err)
		}
	}
	return eachAtOnce(nodes, func(n *Node) error {
		n.mu.Lock()
		defer n.mu.Unlock()
		if _, err := n.Ctl("start_app"); err != nil {
			return wrap(n, err)
		}
		if err := n.waitReady(time.Now().Add(StartTimeout)); err != nil {
			return wrap(n, fmt.Errorf("%w\n%s", err, n.LogTail(60)))
		}
		return nil
	})
}

// eachAtOnce runs fn on every node concurrently and joins their errors.
func eachAtOnce(nodes []*Node, fn func(*Node) error) error {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { errs[i] = fn(n) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// RunningNodes are the cluster's running nodes as n sees them
// (rabbitmqctl cluster_status), sorted.
func (n *Node) RunningNodes() ([]string, error) {
	out, err := n.Ctl("cluster_status", "--formatter", "json")
	if err != nil {
		return nil, err
	}
	var status struct {
		RunningNodes []string `json:"running_nodes"`
	}
	if err := json.Unmarshal([]byte(out), &status); err != nil {
		return nil, fmt.Errorf("rabbittest: cluster_status of %s: %w in %q", n.Name, err, out)
	}
	slices.Sort(status.RunningNodes)
	return status.RunningNodes, nil
}

// awaitRunningNodes waits until n counts exactly the given nodes as
// running, within timeout.
func (n *Node) awaitRunningNodes(nodes []*Node, timeout time.Duration) error {
	want := make([]string, len(nodes))
	for i, node := range nodes {
		want[i] = node.Name
	}
	slices.Sort(want)
	deadline := time.Now().Add(timeout)
	for {
		got, err := n.RunningNodes()
		if err == nil && slices.Equal(got, want) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("rabbittest: %s sees running nodes %v (%v), want %v after %v", n.Name, got, err, want, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func describeNodes(nodes []*Node) string {
	var s string
	for i, n := range nodes {
		if i > 0 {
			s += "; "
		}
		s += fmt.Sprintf("%s (AMQP %d, management %d)", n.Name, n.AMQPPort, n.MgmtPort)
	}
	return s
}
