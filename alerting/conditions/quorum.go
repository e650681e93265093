package conditions

import (
	"math"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/internal/webpath"
	"github.com/warrenhq/warren/pipeline"
	"github.com/warrenhq/warren/snapshot"
)

// underReplicated reports whether fewer members run their replica than
// the group is configured with (its members).
func underReplicated(r snapshot.Replicas) bool { return len(r.Online) < len(r.Members) }

// quorumCritical reports whether a group that lost members would lose
// its majority with one more, or has lost it: at most a majority online.
// A group of one or two members has no member to spare even when all are
// online; it is critical only once one is offline, so that a healthy
// cluster never pages for how a queue was declared.
func quorumCritical(r snapshot.Replicas) bool {
	return underReplicated(r) && len(r.Online) <= r.Majority()
}

// leaderShare is the fair share of leaders of one node: the leaders of
// nodes divided among the nodes that host an online member, rounded up;
// 0 where no node does.
func leaderShare(nodes []pipeline.NodeQuorum) int {
	leaders, hosts := 0, 0
	for _, n := range nodes {
		leaders += n.Leaders
		if n.Members > 0 {
			hosts++
		}
	}
	if hosts == 0 {
		return 0
	}
	return int(math.Ceil(float64(leaders) / float64(hosts)))
}

// leadsTooMany reports whether a node leading leaders queues leads more
// than ratio times the fair share, and at least catalog.MinLeaderExcess
// more than it.
func leadsTooMany(leaders, share int, ratio float64) bool {
	return float64(leaders) > ratio*float64(share) && leaders-share >= catalog.MinLeaderExcess
}

// quorumCandidates adds the replication conditions of one target: each
// quorum queue under-replicated or quorum-critical, whether its
// statistics are known or not (a queue that lost its majority has none),
// and each node that leads too many of them.
func quorumCandidates(st *pipeline.TargetState, c *collect) {
	for i := range st.Snapshot.Queues {
		q := &st.Snapshot.Queues[i]
		if !q.HasReplicas || !underReplicated(q.Replicas) {
			continue
		}
		r := q.Replicas
		subject := catalog.QueueRef{Cluster: st.Cluster, Vhost: q.Vhost, Name: q.Name}
		group := catalog.Group{Online: len(r.Online), Members: len(r.Members), Majority: r.Majority(), Offline: r.OfflineMembers()}
		path := webpath.Queue(st.Cluster, q.Vhost, q.Name)
		l, a := catalog.UnderReplicated(subject, group)
		c.add(catalog.QuorumUnderReplicated, l, a, path)
		if quorumCritical(r) {
			l, a := catalog.Critical(subject, group)
			c.add(catalog.QuorumCritical, l, a, path)
		}
	}
	share := leaderShare(st.QuorumNodes)
	ratio := c.rules[catalog.QuorumLeadersImbalanced].Threshold
	for _, n := range st.QuorumNodes {
		if leadsTooMany(n.Leaders, share, ratio) {
			l, a := catalog.LeadersImbalanced(st.Cluster, n.Node, n.Leaders, share)
			c.add(catalog.QuorumLeadersImbalanced, l, a, webpath.Overview(st.Cluster, ""))
		}
	}
}
