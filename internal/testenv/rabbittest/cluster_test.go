package rabbittest

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

func TestAClusterOfNoNodesIsAnError(t *testing.T) {
	if nodes, err := StartCluster(0, Options{}); err == nil {
		t.Errorf("StartCluster(0) = %v, want an error", nodes)
	}
}

// TestClusterNodesFormOneClusterAndAKilledNodeRejoinsOnRestart starts two
// nodes, checks that they are one cluster (each counts both running,
// they share a cookie and see a quorum queue replicated to both) on ports
// and directories of their own, then kills one and restarts it: it
// rejoins by itself. Two nodes keep the test cheap; agent's cluster test
// forms a cluster of three.
func TestClusterNodesFormOneClusterAndAKilledNodeRejoinsOnRestart(t *testing.T) {
	t.Parallel()
	nodes := StartClusterT(t, 2, Options{})
	var names []string
	ports := map[int]bool{}
	for _, n := range nodes {
		names = append(names, n.Name)
		for _, p := range []int{n.AMQPPort, n.DistPort, n.MgmtPort, n.PromPort} {
			if ports[p] {
				t.Errorf("port %d is used by two nodes", p)
			}
			ports[p] = true
		}
	}
	slices.Sort(names)
	for _, n := range nodes {
		got, err := n.RunningNodes()
		if err != nil || !slices.Equal(got, names) {
			t.Errorf("%s sees running nodes %v (%v), want %v", n.Name, got, err, names)
		}
	}
	cookie := func(n *Node) string {
		data, err := os.ReadFile(filepath.Join(n.Dir, ".erlang.cookie"))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	if cookie(nodes[0]) != cookie(nodes[1]) || nodes[0].Dir == nodes[1].Dir {
		t.Errorf("the nodes do not share a cookie, or share a directory")
	}

	// Declared through the first node, listed by the second one's
	// management API with a member on both.
	_, ch := nodes[0].Channel(t, "/")
	if _, err := ch.QueueDeclare("replicated", true, false, false, false, amqp.Table{"x-queue-type": "quorum"}); err != nil {
		t.Fatal(err)
	}
	var queue struct {
		Members []string `json:"members"`
	}
	if code := getJSON(t, nodes[1], "/api/queues/%2F/replicated", "guest", "guest", &queue); code != http.StatusOK {
		t.Fatalf("GET the queue from the second node: status %d", code)
	}
	slices.Sort(queue.Members)
	if !slices.Equal(queue.Members, names) {
		t.Errorf("quorum queue members %v, want every node %v", queue.Members, names)
	}

	if err := nodes[1].Kill(); err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].awaitRunningNodes(nodes[:1], 30*time.Second); err != nil {
		t.Errorf("after killing %s: %v", nodes[1].Name, err)
	}
	if err := nodes[1].Restart(); err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].awaitRunningNodes(nodes, 30*time.Second); err != nil {
		t.Errorf("after restarting %s: %v", nodes[1].Name, err)
	}
}
