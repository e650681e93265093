package agent

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/internal/testenv/amtest"
	"github.com/warrenhq/warren/internal/testenv/expositiontest"
	"github.com/warrenhq/warren/internal/testenv/rabbittest"
)

// clusterConfig watches a cluster through its first node's management API
// every second, with the source auto (the default) and every node's
// Prometheus plugin listed for it, and delivers to am, with every alert
// the cluster tests judge held for 2s instead of minutes.
func clusterConfig(nodes []*rabbittest.Node, am string) string {
	var plugins []string
	for _, n := range nodes {
		plugins = append(plugins, fmt.Sprintf("%q", fmt.Sprintf("http://127.0.0.1:%d", n.PromPort)))
	}
	return fmt.Sprintf(`targets:
  - name: trio
    management_url: %s
    username: guest
    password: guest
    poll_interval: 1s
    prometheus: {urls: [%s]}
    probes: {enabled: false}
alerting:
  evaluation_interval: 1s
  resend_interval: 1s
  alertmanagers:
    - url: %s
  health:
    %s: {for: 2s}
    %s: {for: 2s}
    %s: {for: 2s}
    %s: {for: 2s}
`, nodes[0].MgmtURL, strings.Join(plugins, ", "), am, catalog.QuorumUnderReplicated, catalog.QuorumCritical, catalog.QuorumLeadersImbalanced, catalog.NodeDown)
}

// clusterRig is a warren agent watching a three-node cluster and
// delivering to a private Alertmanager.
type clusterRig struct {
	t     *testing.T
	nodes []*rabbittest.Node
	am    *amtest.Alertmanager
	agent *runningAgent
}

// series is one series of warren's /metrics: a family and labels.
type series struct {
	name   string
	labels map[string]string
}

// values scrapes warren's /metrics and returns each series' value, and
// whether it exists.
func (r *clusterRig) values(want ...series) ([]float64, []bool) {
	r.t.Helper()
	resp, err := http.Get(r.agent.url + "/metrics")
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	families := expositiontest.Parse(r.t, body)
	vals, found := make([]float64, len(want)), make([]bool, len(want))
	for i, s := range want {
		if m, ok := expositiontest.Find(families, s.name, s.labels); ok {
			vals[i], found[i] = m.GetGauge().GetValue(), true
		}
	}
	return vals, found
}

// until waits, as eventually does, until cond holds; when it gives up,
// it logs cond's last explanation.
func (r *clusterRig) until(what string, cond func() (bool, string)) {
	r.t.Helper()
	var why string
	defer func() {
		if r.t.Failed() {
			r.t.Logf("%s: last seen: %s", what, why)
		}
	}()
	eventually(r.t, what, func() bool {
		ok, w := cond()
		why = w
		return ok
	})
}

// members waits until every queue's warren_quorum_queue_members are
// online and offline.
func (r *clusterRig) members(queues []string, online, offline float64) {
	r.t.Helper()
	var want []series
	for _, q := range queues {
		want = append(want,
			series{"warren_quorum_queue_members", map[string]string{"queue": q, "state": "online"}},
			series{"warren_quorum_queue_members", map[string]string{"queue": q, "state": "offline"}})
	}
	r.until(fmt.Sprintf("%v online %v, offline %v", queues, online, offline), func() (bool, string) {
		vals, found := r.values(want...)
		for i := 0; i < len(vals); i += 2 {
			if !found[i] || !found[i+1] || vals[i] != online || vals[i+1] != offline {
				return false, fmt.Sprintf("members (online, offline) %v, found %v", vals, found)
			}
		}
		return true, ""
	})
}

// leaders returns warren_node_quorum_leaders of each node.
func (r *clusterRig) leaders() []float64 {
	var want []series
	for _, n := range r.nodes {
		want = append(want, series{"warren_node_quorum_leaders", map[string]string{"node": n.Name}})
	}
	vals, _ := r.values(want...)
	return vals
}

// notified waits until Alertmanager has notified alertname with status
// for every one of subjects (a label each: queue=… or node=…).
func (r *clusterRig) notified(status, alertname, label string, subjects ...string) {
	r.t.Helper()
	left := map[string]bool{}
	for _, s := range subjects {
		left[s] = true
	}
	r.am.WaitFor(r.t, 60*time.Second, func(n amtest.Notification) bool {
		for _, a := range n.Alerts {
			if a.Status == status && a.Labels["alertname"] == alertname {
				delete(left, a.Labels[label])
			}
		}
		return len(left) == 0
	})
}

// neverFired fails the test if Alertmanager was ever notified of one of
// alertnames firing.
func (r *clusterRig) neverFired(phase string, alertnames ...string) {
	r.t.Helper()
	for _, n := range r.am.Notifications() {
		for _, a := range n.Alerts {
			for _, name := range alertnames {
				if a.Status == "firing" && a.Labels["alertname"] == name {
					r.t.Errorf("%s: %s fired: %v %s", phase, name, a.Labels, a.Annotations["description"])
				}
			}
		}
	}
}

// summaries returns the summary annotation of each alert alertname that
// Alertmanager holds now, by queue.
func (r *clusterRig) summaries(alertname string) map[string]string {
	r.t.Helper()
	alerts, err := r.am.Alerts(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	out := map[string]string{}
	for _, a := range alerts {
		if a.Labels["alertname"] == alertname {
			out[a.Labels["queue"]] = a.Annotations["summary"]
		}
	}
	return out
}

// TestQuorumReplicationAndNodeDownAlertOnARealThreeNodeCluster runs warren
// against three RabbitMQ nodes on their own ports, joined with
// join_cluster, holding three quorum queues with a member on each node,
// and follows every alert to a real Alertmanager:
//
//   - healthy, with all three leaders on the first node (declared through
//     it): no replication or node alert, but the leaders are imbalanced;
//     rabbitmq-queues rebalance resolves that;
//   - the third node stopped: RabbitMQNodeDown for it, and each queue is
//     under-replicated and quorum-critical (2 of 3 online is exactly the
//     majority: one more loss and it is gone);
//   - the second node killed as well: the queues are unavailable (1 of 3),
//     the page says so, no leader is reported;
//   - both restarted: every alert resolves.
func TestQuorumReplicationAndNodeDownAlertOnARealThreeNodeCluster(t *testing.T) {
	began := time.Now()
	phase := func(name string) { t.Logf("%v: %s", time.Since(began).Round(100*time.Millisecond), name) }
	r := &clusterRig{t: t, nodes: rabbittest.StartClusterT(t, 3, rabbittest.Options{})}
	phase("cluster started")
	queues := []string{"orders", "payments", "invoices"}
	_, ch := r.nodes[0].Channel(t, "/")
	for _, q := range queues {
		if _, err := ch.QueueDeclare(q, true, false, false, false, amqp.Table{"x-queue-type": "quorum"}); err != nil {
			t.Fatal(err)
		}
	}
	r.am = amtest.Start(t, amtest.Options{})
	r.agent = startAgent(t, clusterConfig(r.nodes, r.am.URL()), false)

	r.healthyThenRebalanced(queues)
	phase("healthy, leaders imbalanced, then rebalanced")
	r.oneNodeStopped(queues)
	phase("third node stopped: under-replicated and quorum-critical")
	r.twoNodesDown(queues)
	phase("second node killed: unavailable")
	r.nodesBack(queues)
	phase("both restarted: resolved")
}

// healthyThenRebalanced checks the healthy cluster: every member online,
// the three leaders on the first node, which is imbalanced until a
// rebalance gives each node one; nothing else fires.
func (r *clusterRig) healthyThenRebalanced(queues []string) {
	t, first := r.t, r.nodes[0]
	r.members(queues, 3, 0)
	r.notified("firing", catalog.QuorumLeadersImbalanced, "node", first.Name)
	if l := r.leaders(); l[0] != 3 || l[1] != 0 || l[2] != 0 {
		t.Errorf("leaders per node %v, want all 3 on the node the queues were declared through", l)
	}
	r.neverFired("healthy", catalog.QuorumUnderReplicated, catalog.QuorumCritical, catalog.NodeDown)
	if out, err := first.QueuesCtl("rebalance", "quorum"); err != nil {
		t.Fatalf("rebalance: %v\n%s", err, out)
	}
	r.notified("resolved", catalog.QuorumLeadersImbalanced, "node", first.Name)
	// The broker moves leaders one at a time and, on a busy machine, may
	// stop at [2 0 1]: balanced enough for the alert, which is what warren
	// decides; where the leaders end up is the broker's business.
	if l := r.leaders(); l[0] > 2 {
		t.Errorf("leaders per node after rebalance %v, want the first node to have given some away", l)
	} else {
		t.Logf("leaders per node after rebalance: %v", l)
	}
	r.neverFired("healthy and rebalanced", catalog.QuorumUnderReplicated, catalog.QuorumCritical, catalog.NodeDown)
}

// oneNodeStopped stops the third node gracefully: it is down, and every
// queue, with 2 of 3 members online, is under-replicated and one member
// away from unavailable, led from the other two nodes.
func (r *clusterRig) oneNodeStopped(queues []string) {
	t, third := r.t, r.nodes[2]
	if err := third.Stop(); err != nil {
		t.Fatal(err)
	}
	r.members(queues, 2, 1)
	r.notified("firing", catalog.NodeDown, "node", third.Name)
	r.notified("firing", catalog.QuorumUnderReplicated, "queue", queues...)
	r.notified("firing", catalog.QuorumCritical, "queue", queues...)
	if l := r.leaders(); l[0]+l[1] != 3 || l[2] != 0 {
		t.Errorf("leaders per node with the third down %v, want all 3 on the first two", l)
	}
	for q, s := range r.summaries(catalog.QuorumCritical) {
		if !strings.Contains(s, "one member away") {
			t.Errorf("%s with 2 of 3 online: summary %q", q, s)
		}
	}
}

// twoNodesDown kills the second node too: 1 of 3 members online, the
// queues are unavailable, the pages say so, and no node leads them.
func (r *clusterRig) twoNodesDown(queues []string) {
	t, second := r.t, r.nodes[1]
	if err := second.Kill(); err != nil {
		t.Fatal(err)
	}
	r.members(queues, 1, 2)
	r.notified("firing", catalog.NodeDown, "node", second.Name)
	r.until("the pages say unavailable", func() (bool, string) {
		s := r.summaries(catalog.QuorumCritical)
		for _, q := range queues {
			if !strings.Contains(s[q], "unavailable") {
				return false, fmt.Sprintf("summaries %v", s)
			}
		}
		return true, ""
	})
	for _, q := range queues {
		if _, found := r.values(series{"warren_quorum_queue_leader", map[string]string{"queue": q}}); found[0] {
			t.Errorf("%s without a majority has a leader series", q)
		}
	}
	if l := r.leaders(); l[0]+l[1]+l[2] != 0 {
		t.Errorf("leaders per node without a majority %v, want none", l)
	}
}

// nodesBack restarts the second and third nodes at once: every member is
// online again and every replication and node alert resolves.
func (r *clusterRig) nodesBack(queues []string) {
	var wg sync.WaitGroup
	for _, n := range r.nodes[1:] {
		wg.Go(func() {
			if err := n.Restart(); err != nil {
				r.t.Error(err)
			}
		})
	}
	wg.Wait()
	r.members(queues, 3, 0)
	r.notified("resolved", catalog.NodeDown, "node", r.nodes[1].Name, r.nodes[2].Name)
	r.notified("resolved", catalog.QuorumUnderReplicated, "queue", queues...)
	r.notified("resolved", catalog.QuorumCritical, "queue", queues...)
}
