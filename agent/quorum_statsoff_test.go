package agent

import (
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/internal/testenv/amtest"
	"github.com/warrenhq/warren/internal/testenv/rabbittest"
)

// TestQuorumAlertsOnAStatsOffClusterComeThroughThePluginSource runs warren
// with no source set (auto) against two RabbitMQ nodes whose management
// statistics are off, joined into one cluster, holding a quorum queue
// with a member on each: warren reads the statistics from the nodes'
// plugins and the replication state from the definition listing, which
// keeps members, online and leader with statistics off.
//
//   - healthy: both members online, a leader, no replication alert;
//   - the second node stopped: its plugin does not answer, but the poll
//     goes on (the management API says the node is down); 1 of 2 members
//     online is no majority: under-replicated, and the page says
//     unavailable, with no leader series;
//   - restarted: both alerts resolve.
func TestQuorumAlertsOnAStatsOffClusterComeThroughThePluginSource(t *testing.T) {
	began := time.Now()
	phase := func(name string) { t.Logf("%v: %s", time.Since(began).Round(100*time.Millisecond), name) }
	r := &clusterRig{t: t, nodes: rabbittest.StartClusterT(t, 2, rabbittest.Options{
		ExtraConfig: "management_agent.disable_metrics_collector = true",
	})}
	phase("cluster started")
	queues := []string{"orders"}
	_, ch := r.nodes[0].Channel(t, "/")
	if _, err := ch.QueueDeclare(queues[0], true, false, false, false, amqp.Table{"x-queue-type": "quorum"}); err != nil {
		t.Fatal(err)
	}
	r.am = amtest.Start(t, amtest.Options{})
	r.agent = startAgent(t, clusterConfig(r.nodes, r.am.URL()), false)

	r.members(queues, 2, 0)
	plugin := series{"warren_target_source", map[string]string{"source": "prometheus"}}
	leader := series{"warren_quorum_queue_leader", map[string]string{"queue": queues[0], "node": r.nodes[0].Name}}
	if v, found := r.values(plugin, leader); v[0] != 1 || v[1] != 1 {
		t.Errorf("source prometheus %v and leader on the first node %v (found %v), want both 1", v[0], v[1], found)
	}
	r.neverFired("healthy", catalog.QuorumUnderReplicated, catalog.QuorumCritical)
	phase("healthy, read through the plugin")

	if err := r.nodes[1].Stop(); err != nil {
		t.Fatal(err)
	}
	r.members(queues, 1, 1)
	r.notified("firing", catalog.QuorumUnderReplicated, "queue", queues...)
	r.notified("firing", catalog.QuorumCritical, "queue", queues...)
	if s := r.summaries(catalog.QuorumCritical)[queues[0]]; !strings.Contains(s, "unavailable") {
		t.Errorf("1 of 2 online: summary %q, want it to say unavailable", s)
	}
	up := series{"warren_target_up", map[string]string{"cluster": "trio"}}
	anyLeader := series{"warren_quorum_queue_leader", map[string]string{"queue": queues[0]}}
	if v, found := r.values(up, anyLeader); v[0] != 1 || found[1] {
		t.Errorf("up %v with the second node's plugin down (want 1: its node is down), leader series present %v (want none)", v[0], found[1])
	}
	phase("second node stopped: under-replicated and unavailable")

	if err := r.nodes[1].Restart(); err != nil {
		t.Fatal(err)
	}
	r.members(queues, 2, 0)
	r.notified("resolved", catalog.QuorumUnderReplicated, "queue", queues...)
	r.notified("resolved", catalog.QuorumCritical, "queue", queues...)
	phase("restarted: resolved")
}
