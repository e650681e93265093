package pipeline

import (
	"github.com/prometheus/client_golang/prometheus"
)

var (
	nodeRunningDesc = prometheus.NewDesc("warren_node_running",
		"1 if the management API reports the node running.",
		[]string{"cluster", "node"}, nil)
	nodeAlarmDesc = prometheus.NewDesc("warren_node_alarm",
		"1 while the node's memory or disk alarm is set: publishers on the cluster are blocked.",
		[]string{"cluster", "node", "alarm"}, nil)
	nodePartitionsDesc = prometheus.NewDesc("warren_node_partitions",
		"Nodes this node reports a network partition with.",
		[]string{"cluster", "node"}, nil)
	nodeFDDesc = prometheus.NewDesc("warren_node_file_descriptors",
		"File descriptors of the node: used and limit.",
		[]string{"cluster", "node", "state"}, nil)
	nodeQuorumLeadersDesc = prometheus.NewDesc("warren_node_quorum_leaders",
		"Watched quorum queues the node leads. Only for targets with quorum queues.",
		[]string{"cluster", "node"}, nil)
	nodeQuorumMembersDesc = prometheus.NewDesc("warren_node_quorum_members",
		"Online members of watched quorum queues the node hosts: the queues it could lead. Only for targets with quorum queues.",
		[]string{"cluster", "node"}, nil)
)

func collectNodes(ch chan<- prometheus.Metric, st *TargetState) {
	snap := st.Snapshot
	for _, n := range snap.Nodes {
		gauge(ch, nodeRunningDesc, boolValue(n.Running), snap.Cluster, n.Name)
		gauge(ch, nodeAlarmDesc, boolValue(n.MemAlarm), snap.Cluster, n.Name, "memory")
		gauge(ch, nodeAlarmDesc, boolValue(n.DiskAlarm), snap.Cluster, n.Name, "disk")
		if !n.PartitionsUnknown {
			gauge(ch, nodePartitionsDesc, float64(n.Partitions), snap.Cluster, n.Name)
		}
		if n.Running && !n.FDUnknown {
			gauge(ch, nodeFDDesc, float64(n.FDUsed), snap.Cluster, n.Name, "used")
			gauge(ch, nodeFDDesc, float64(n.FDLimit), snap.Cluster, n.Name, "limit")
		}
	}
	for _, n := range st.QuorumNodes {
		gauge(ch, nodeQuorumLeadersDesc, float64(n.Leaders), snap.Cluster, n.Node)
		gauge(ch, nodeQuorumMembersDesc, float64(n.Members), snap.Cluster, n.Node)
	}
}
