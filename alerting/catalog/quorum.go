package catalog

import (
	"fmt"
	"strings"
)

// Names of the quorum-queue replication alerts.
const (
	QuorumUnderReplicated   = "RabbitMQQuorumQueueUnderReplicated"
	QuorumCritical          = "RabbitMQQuorumQueueQuorumCritical"
	QuorumLeadersImbalanced = "RabbitMQQuorumLeadersImbalanced"
)

// RabbitMQQuorumLeadersImbalanced's threshold (default in HealthRules) is
// how many times its fair share of the leaders a node may lead: the
// watched quorum queues' leaders divided among the nodes that host an
// online member of one, rounded up (what `rabbitmq-queues rebalance`
// aims at). It fires above it, and only for a node that leads at least
// MinLeaderExcess more than its share, so that a cluster of a few quorum
// queues does not open tickets over one leader.
const MinLeaderExcess = 2

// Group is what the quorum alerts tell of a quorum queue's Raft group.
type Group struct {
	Online, Members, Majority int
	Offline                   []string // the offline members' nodes
}

// UnderReplicated is RabbitMQQuorumQueueUnderReplicated's labels and
// annotations.
func UnderReplicated(q QueueRef, g Group) (labels, annotations map[string]string) {
	return q.labels(), describe(QuorumUnderReplicated,
		fmt.Sprintf("Quorum queue %s runs %d of its %d replicas", q.Name, g.Online, g.Members),
		fmt.Sprintf("Quorum queue %s in vhost %s of cluster %s has %d of its %d members online; offline: %s. It keeps its messages on fewer nodes than configured until they return.",
			q.Name, q.Vhost, q.Cluster, g.Online, g.Members, strings.Join(g.Offline, ", ")))
}

// Critical is RabbitMQQuorumQueueQuorumCritical's labels and annotations,
// for a group with at most its majority online.
func Critical(q QueueRef, g Group) (labels, annotations map[string]string) {
	summary := fmt.Sprintf("Quorum queue %s is one member away from unavailable", q.Name)
	state := fmt.Sprintf("exactly the majority of %d: losing one more member makes it unavailable (no publish is confirmed, nothing is delivered)", g.Majority)
	if g.Online < g.Majority {
		summary = fmt.Sprintf("Quorum queue %s is unavailable: it lost its majority", q.Name)
		state = fmt.Sprintf("fewer than the majority of %d: it confirms no publish and delivers nothing until a majority is back", g.Majority)
	}
	return q.labels(), describe(QuorumCritical, summary,
		fmt.Sprintf("Quorum queue %s in vhost %s of cluster %s has %d of its %d members online, %s. Offline: %s.",
			q.Name, q.Vhost, q.Cluster, g.Online, g.Members, state, strings.Join(g.Offline, ", ")))
}

// LeadersImbalanced is RabbitMQQuorumLeadersImbalanced's labels and
// annotations, for a node leading leaders quorum queues against a fair
// share of share.
func LeadersImbalanced(cluster, node string, leaders, share int) (labels, annotations map[string]string) {
	return map[string]string{"cluster": cluster, "node": node}, describe(QuorumLeadersImbalanced,
		fmt.Sprintf("RabbitMQ node %s leads %d quorum queues, its fair share is %d", node, leaders, share),
		fmt.Sprintf("Node %s of cluster %s leads %d of the watched quorum queues; spread over the nodes that host their members, each would lead at most %d. A leader does the work of every publish and delivery of its queue, so this node carries more than its share. Nodes restarted last lead none until the leaders are rebalanced (`rabbitmq-queues rebalance quorum`).",
			node, cluster, leaders, share))
}
