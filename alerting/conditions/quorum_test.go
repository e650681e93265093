package conditions

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/pipeline"
	"github.com/warrenhq/warren/snapshot"
)

// group is a Raft group of size members of which the first online are
// online.
func group(members, online int) snapshot.Replicas {
	var r snapshot.Replicas
	for i := range members {
		node := fmt.Sprintf("rabbit@n%d", i)
		r.Members = append(r.Members, node)
		if i < online {
			r.Online = append(r.Online, node)
		}
	}
	return r
}

func TestQuorumCriticalMeansOneMoreLostMemberLosesTheMajority(t *testing.T) {
	tests := []struct {
		members, online       int
		underReplicated, crit bool
		available             bool
	}{
		// Three members, majority two: one down leaves exactly the
		// majority, two down lose it.
		{3, 3, false, false, true},
		{3, 2, true, true, true},
		{3, 1, true, true, false},
		{3, 0, true, true, false},
		// Five members, majority three: one down still spares one more.
		{5, 5, false, false, true},
		{5, 4, true, false, true},
		{5, 3, true, true, true},
		{5, 2, true, true, false},
		// Four members (a group grown by one), majority three.
		{4, 4, false, false, true},
		{4, 3, true, true, true},
		// One and two members spare none even when all run: critical
		// only once a member is offline, never for how they were declared.
		{1, 1, false, false, true},
		{1, 0, true, true, false},
		{2, 2, false, false, true},
		{2, 1, true, true, false},
	}
	for _, tt := range tests {
		r := group(tt.members, tt.online)
		if got := underReplicated(r); got != tt.underReplicated {
			t.Errorf("%d of %d online: under-replicated %v, want %v", tt.online, tt.members, got, tt.underReplicated)
		}
		if got := quorumCritical(r); got != tt.crit {
			t.Errorf("%d of %d online: quorum-critical %v, want %v", tt.online, tt.members, got, tt.crit)
		}
		if got := r.Available(); got != tt.available {
			t.Errorf("%d of %d online: available %v, want %v", tt.online, tt.members, got, tt.available)
		}
	}
}

func TestALeaderImbalanceIsMoreThanTheRatioTimesTheFairShareAndTwoLeadersOver(t *testing.T) {
	nodes := func(leaders ...int) []pipeline.NodeQuorum {
		var out []pipeline.NodeQuorum
		for i, l := range leaders {
			out = append(out, pipeline.NodeQuorum{Node: fmt.Sprintf("rabbit@n%d", i), Leaders: l, Members: 10})
		}
		return out
	}
	tests := []struct {
		name   string
		nodes  []pipeline.NodeQuorum
		share  int
		overOn []int // the nodes that lead too many
	}{
		{"balanced", nodes(10, 10, 10), 10, nil},
		{"one node restarted last leads none", nodes(15, 15, 0), 10, nil},
		{"one node leads most", nodes(16, 14, 0), 10, []int{0}},
		{"a single quorum queue", nodes(1, 0, 0), 1, nil},
		{"three queues on one node", nodes(3, 0, 0), 1, []int{0}},
		{"two queues on one node are one leader over", nodes(2, 0, 0), 1, nil},
		{"no quorum queue", nodes(0, 0, 0), 0, nil},
	}
	for _, tt := range tests {
		share := leaderShare(tt.nodes)
		if share != tt.share {
			t.Errorf("%s: share %d, want %d", tt.name, share, tt.share)
		}
		var over []int
		for i, n := range tt.nodes {
			if leadsTooMany(n.Leaders, share, 1.5) {
				over = append(over, i)
			}
		}
		if !slices.Equal(over, tt.overOn) {
			t.Errorf("%s: nodes %v lead too many, want %v", tt.name, over, tt.overOn)
		}
	}
	// A node that is down, or holds no member of a watched queue, cannot
	// lead: the share is over the others.
	five := nodes(4, 4, 4, 0, 0)
	five[3].Members, five[4].Members = 0, 0
	if share := leaderShare(five); share != 4 {
		t.Errorf("12 leaders on the three nodes of five that host members: share %d, want 4", share)
	}
}

// TestReplicationAlertsFireForQuorumQueuesEvenWithoutStatistics runs
// states through the evaluator: a queue with one of three members down is
// under-replicated and quorum-critical; one of five with one down only
// under-replicated; one that lost its majority (no statistics then) is
// critical and says it is unavailable; a node leading every queue is
// imbalanced.
func TestReplicationAlertsFireForQuorumQueuesEvenWithoutStatistics(t *testing.T) {
	f := &fakeTarget{health: collector.Health{Attempted: true, Up: true}}
	quorum := func(name string, r snapshot.Replicas, statsKnown bool) snapshot.Queue {
		if r.Available() {
			r.Leader = r.Online[0]
		}
		return snapshot.Queue{Vhost: "/", Name: name, Type: "quorum", StatsKnown: statsKnown, Replicas: r, HasReplicas: true}
	}
	f.snap = &snapshot.Snapshot{Time: t0,
		Nodes: []snapshot.Node{{Name: "rabbit@n0", Running: true}, {Name: "rabbit@n1", Running: true}, {Name: "rabbit@n2", Running: true}, {Name: "rabbit@n3", Running: true}, {Name: "rabbit@n4", Running: true}},
		Queues: []snapshot.Queue{
			quorum("healthy", group(3, 3), true),
			quorum("three-one-down", group(3, 2), true),
			quorum("five-one-down", group(5, 4), true),
			quorum("lost", group(3, 1), false),
		}}
	zero := config.Duration(time.Nanosecond)
	e, _ := evaluator(t, f, config.HealthAlertsConfig{
		catalog.QuorumUnderReplicated: {For: zero}, catalog.QuorumCritical: {For: zero}, catalog.QuorumLeadersImbalanced: {For: zero},
	})
	e.Evaluate(t0)
	got := e.Evaluate(t0.Add(time.Second))
	want := []string{
		catalog.QuorumLeadersImbalanced + "/rabbit@n0",
		catalog.QuorumCritical + "/lost", catalog.QuorumCritical + "/three-one-down",
		catalog.QuorumUnderReplicated + "/five-one-down", catalog.QuorumUnderReplicated + "/lost", catalog.QuorumUnderReplicated + "/three-one-down",
	}
	if strings.Join(names(got), ",") != strings.Join(want, ",") {
		t.Fatalf("got %v, want %v", names(got), want)
	}
	for _, a := range got {
		switch a.Labels["queue"] {
		case "lost":
			if a.Labels["alertname"] == catalog.QuorumCritical && !strings.Contains(a.Annotations["summary"], "unavailable") {
				t.Errorf("lost majority: summary %q", a.Annotations["summary"])
			}
			if !strings.Contains(a.Annotations["description"], "1 of its 3 members online") || !strings.Contains(a.Annotations["description"], "rabbit@n1, rabbit@n2") {
				t.Errorf("lost majority: description %q", a.Annotations["description"])
			}
		case "three-one-down":
			if a.Labels["alertname"] == catalog.QuorumCritical && !strings.Contains(a.Annotations["description"], "exactly the majority of 2") {
				t.Errorf("one down of three: description %q", a.Annotations["description"])
			}
		}
		want := "ticket"
		if a.Labels["alertname"] == catalog.QuorumCritical {
			want = "page"
		}
		if a.Labels["severity"] != want {
			t.Errorf("%s: severity %s, want %s", a.Labels["alertname"], a.Labels["severity"], want)
		}
	}
}

// TestARollingRestartRaisesNoReplicationAlertWithTheDefaultFor restarts
// the nodes of a three-node cluster one after the other, each down for
// 2 minutes with a minute between, and evaluates every 15 seconds with
// the default rules: a 3-member queue is quorum-critical while each node
// is down, but no replication alert fires (RabbitMQNodeDown pages for the
// node itself). A node down for 6 minutes then pages at 5, and tickets
// only at 10.
func TestARollingRestartRaisesNoReplicationAlertWithTheDefaultFor(t *testing.T) {
	f := &fakeTarget{health: collector.Health{Attempted: true, Up: true}}
	e, _ := evaluator(t, f, config.HealthAlertsConfig{})
	all := group(3, 3)
	down := func(node string) snapshot.Replicas {
		r := snapshot.Replicas{Members: all.Members}
		for _, m := range all.Members {
			if m != node {
				r.Online = append(r.Online, m)
			}
		}
		r.Leader = r.Online[0]
		return r
	}
	at := t0
	// run evaluates every 15s for d with r, and returns what fired, with
	// the time since the run began.
	run := func(r snapshot.Replicas, d time.Duration) []string {
		var fired []string
		began := at
		for end := at.Add(d); at.Before(end); at = at.Add(15 * time.Second) {
			f.snap = &snapshot.Snapshot{Time: at, Queues: []snapshot.Queue{{Vhost: "/", Name: "orders", Type: "quorum", StatsKnown: true, Replicas: r, HasReplicas: true}}}
			for _, a := range e.Evaluate(at) {
				fired = append(fired, fmt.Sprintf("%s after %v", a.Labels["alertname"], at.Sub(began)))
			}
		}
		return fired
	}
	for _, node := range all.Members {
		if fired := run(down(node), 2*time.Minute); len(fired) != 0 {
			t.Fatalf("%s restarting: %v", node, fired)
		}
		if fired := run(all, time.Minute); len(fired) != 0 {
			t.Fatalf("after %s restarted: %v", node, fired)
		}
	}
	fired := run(down("rabbit@n2"), 6*time.Minute)
	if len(fired) == 0 || fired[0] != catalog.QuorumCritical+" after 5m0s" {
		t.Errorf("a 6m outage: %v, want the page from 5m on", fired)
	}
	for _, a := range fired {
		if !strings.HasPrefix(a, catalog.QuorumCritical) {
			t.Errorf("a 6m outage raised more than the page: %v", fired)
			break
		}
	}
}
