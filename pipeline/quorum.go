package pipeline

import (
	dto "github.com/prometheus/client_model/go"

	"github.com/warrenhq/warren/internal/exposition"
	"github.com/warrenhq/warren/snapshot"
)

// NodeQuorum is what one node holds of a target's watched quorum queues
// (those in the snapshot: filtered, and within max_queues).
type NodeQuorum struct {
	Node string
	// Leaders counts the queues the node leads (snapshot.Replicas.Leader).
	Leaders int
	// Members counts the online members it hosts: 0 for a node that is
	// down, and for one that holds no replica of a watched queue.
	Members int
}

// nodeQuorums counts, for every node of snap in its order, the quorum
// queues it leads and the online members it hosts; nil where no queue of
// snap has replicas.
func nodeQuorums(snap *snapshot.Snapshot) []NodeQuorum {
	var out []NodeQuorum
	index := map[string]int{}
	for i := range snap.Queues {
		q := &snap.Queues[i]
		if !q.HasReplicas {
			continue
		}
		if out == nil {
			out = make([]NodeQuorum, len(snap.Nodes))
			for j, n := range snap.Nodes {
				out[j].Node = n.Name
				index[n.Name] = j
			}
		}
		for _, m := range q.Replicas.Online {
			if j, ok := index[m]; ok {
				out[j].Members++
			}
		}
		if j, ok := index[q.Replicas.Leader]; ok {
			out[j].Leaders++
		}
	}
	return out
}

// The per-queue families of quorum-queue replication, encoded with the
// others (encodeQueues).
var (
	quorumMembersFamily = exposition.NewFamily("warren_quorum_queue_members",
		"Members of the quorum queue's Raft group, its configured membership: online (running their replica, on a running node) and offline. With fewer online than a majority (more than half of all members) the queue is unavailable.",
		dto.MetricType_GAUGE)
	quorumLeaderFamily = exposition.NewFamily("warren_quorum_queue_leader",
		"1 for the node that leads the quorum queue; absent while no online member leads a majority.",
		dto.MetricType_GAUGE)
)

// Label sets of warren_quorum_queue_members, encoded once.
var (
	stateOnline  = exposition.AppendLabel(nil, "state", "online")
	stateOffline = exposition.AppendLabel(nil, "state", "offline")
)

// encodeReplication encodes the replication series of st's quorum
// queues, whatever their statistics: a queue that lost its majority has
// none.
func (e *encoder) encodeReplication(b *exposition.Builder, st *TargetState) {
	members, leader := b.Family(quorumMembersFamily), b.Family(quorumLeaderFamily)
	var extra []byte
	for i := range st.Snapshot.Queues {
		q := &st.Snapshot.Queues[i]
		if !q.HasReplicas {
			continue
		}
		r := &q.Replicas
		l := e.labels.Queue(q.Vhost, q.Name)
		members.AddWith(l, stateOnline, float64(len(r.Online)))
		members.AddWith(l, stateOffline, float64(r.Offline()))
		if r.Leader != "" {
			extra = exposition.AppendLabel(extra[:0], "node", r.Leader)
			leader.AddWith(l, extra, 1)
		}
	}
}
