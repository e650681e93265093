package pipeline

import (
	"context"
	"testing"
)

// quorumNodes is a three-node cluster with rabbit@c down; quorumQueues
// its listing in RabbitMQ 3.10.8's shape (see rabbitmq/management's
// tests): qa's live online beside its stale emission, qb without a
// majority and so without statistics, qc led by rabbit@b.
const (
	quorumNodes  = `[{"name":"rabbit@a","running":true},{"name":"rabbit@b","running":true},{"name":"rabbit@c","running":false}]`
	quorumQueues = `[
{"name":"qa","vhost":"/","type":"quorum","node":"rabbit@a","leader":"rabbit@a","members":["rabbit@a","rabbit@c","rabbit@b"],"online":["rabbit@a","rabbit@b"],"online":["rabbit@a","rabbit@c","rabbit@b"],"messages":0,"messages_ready":0,"messages_unacknowledged":0},
{"name":"qb","vhost":"/","type":"quorum","leader":null,"members":["rabbit@b","rabbit@c","rabbit@a"],"online":["rabbit@a"]},
{"name":"qc","vhost":"/","type":"quorum","node":"rabbit@b","leader":"rabbit@b","members":["rabbit@c","rabbit@b","rabbit@a"],"online":["rabbit@b","rabbit@a"],"messages":0,"messages_ready":0,"messages_unacknowledged":0},
{"name":"jobs","vhost":"/","type":"classic","node":"rabbit@a","messages":0,"messages_ready":0,"messages_unacknowledged":0}]`
)

func TestQuorumReplicationSeriesComeFromTheQueueAndNodeListings(t *testing.T) {
	api := newFakeAPI(t)
	api.handle("/api/nodes", jsonHandler(quorumNodes))
	api.handle("/api/queues", jsonHandler(quorumQueues))
	coll, reg := newTestCollector(t, testTarget(api.srv.URL))
	coll.Pipelines()[0].Poll(context.Background())
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"warren_quorum_queue_members", map[string]string{"queue": "qa", "state": "online"}, 2},
		{"warren_quorum_queue_members", map[string]string{"queue": "qa", "state": "offline"}, 1},
		{"warren_quorum_queue_members", map[string]string{"queue": "qb", "state": "online"}, 1},
		{"warren_quorum_queue_members", map[string]string{"queue": "qb", "state": "offline"}, 2},
		{"warren_quorum_queue_members", map[string]string{"queue": "qc", "state": "online"}, 2},
		{"warren_quorum_queue_leader", map[string]string{"queue": "qa", "node": "rabbit@a"}, 1},
		{"warren_quorum_queue_leader", map[string]string{"queue": "qc", "node": "rabbit@b"}, 1},
		{"warren_node_quorum_leaders", map[string]string{"node": "rabbit@a"}, 1},
		{"warren_node_quorum_leaders", map[string]string{"node": "rabbit@b"}, 1},
		{"warren_node_quorum_leaders", map[string]string{"node": "rabbit@c"}, 0},
		{"warren_node_quorum_members", map[string]string{"node": "rabbit@a"}, 3},
		{"warren_node_quorum_members", map[string]string{"node": "rabbit@b"}, 2},
		{"warren_node_quorum_members", map[string]string{"node": "rabbit@c"}, 0},
	}
	for _, c := range checks {
		if v := mustGather(t, reg, c.name, c.labels); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	for _, absent := range []struct {
		name   string
		labels map[string]string
	}{
		{"warren_quorum_queue_leader", map[string]string{"queue": "qb"}}, // no majority, no leader
		{"warren_quorum_queue_members", map[string]string{"queue": "jobs"}},
		{"warren_queue_messages", map[string]string{"queue": "qb"}}, // no statistics
	} {
		if v, ok := gather(t, reg, absent.name, absent.labels); ok {
			t.Errorf("%s%v = %v, want no series", absent.name, absent.labels, v)
		}
	}
}

func TestATargetWithoutQuorumQueuesHasNoQuorumNodeSeries(t *testing.T) {
	api := newFakeAPI(t)
	coll, reg := newTestCollector(t, testTarget(api.srv.URL))
	coll.Pipelines()[0].Poll(context.Background())
	if v, ok := gather(t, reg, "warren_node_quorum_leaders", nil); ok {
		t.Errorf("warren_node_quorum_leaders = %v on a target with classic queues only", v)
	}
}
