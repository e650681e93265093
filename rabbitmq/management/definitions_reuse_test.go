package management

import (
	"testing"
	"time"

	"github.com/warrenhq/warren/snapshot"
)

func TestQueueDefinitionsAreReusedOnlyWhileNothingSaysTheyChanged(t *testing.T) {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	policies := []apiPolicy{{Vhost: "/", Name: "ttl", Pattern: "^q$", ApplyTo: "queues", Definition: jsonObject{"message-ttl": float64(60000)}}}
	healthy := snapshot.Queue{Name: "qq", HasReplicas: true, Replicas: snapshot.Replicas{Members: []string{"a", "b", "c"}, Online: []string{"a", "b", "c"}, Leader: "a"}}
	prev := func() *queueDefinitions {
		return &queueDefinitions{at: at, counted: 2, running: []string{"a", "b", "c"}, vhosts: []string{"/"}, policies: policies, settled: true,
			queues: []snapshot.Queue{{Name: "q"}, healthy}}
	}
	now := func() definitionsState {
		return definitionsState{now: at.Add(15 * time.Second), ov: &Overview{Queues: 2, QueuesCounted: true},
			running: []string{"a", "b", "c"}, vhosts: []string{"/"}, policies: []apiPolicy{policies[0]}}
	}
	cases := []struct {
		name   string
		change func(d *queueDefinitions, st *definitionsState)
		want   bool
	}{
		{"nothing changed", func(*queueDefinitions, *definitionsState) {}, true},
		{"no earlier read", nil, false},
		{"a queue more counted", func(_ *queueDefinitions, st *definitionsState) { st.ov.Queues = 3 }, false},
		{"the overview counts none", func(_ *queueDefinitions, st *definitionsState) { st.ov.QueuesCounted = false }, false},
		{"the max age reached", func(_ *queueDefinitions, st *definitionsState) { st.now = at.Add(definitionsMaxAge) }, false},
		{"the clock went back", func(_ *queueDefinitions, st *definitionsState) { st.now = at.Add(-time.Second) }, false},
		{"a node stopped", func(_ *queueDefinitions, st *definitionsState) { st.running = []string{"a", "b"} }, false},
		{"a vhost watched more", func(_ *queueDefinitions, st *definitionsState) { st.vhosts = []string{"/", "v"} }, false},
		{"a policy changed", func(_ *queueDefinitions, st *definitionsState) {
			st.policies = []apiPolicy{policies[0]}
			st.policies[0].Definition = jsonObject{"message-ttl": float64(1000)}
		}, false},
		{"listed as the state changed", func(d *queueDefinitions, _ *definitionsState) { d.settled = false }, false},
		{"a source saw a queue they lack", func(d *queueDefinitions, _ *definitionsState) { d.forgotten = true }, false},
		{"a quorum member was offline", func(d *queueDefinitions, _ *definitionsState) {
			d.queues[1].Replicas.Online = []string{"a", "b"}
		}, false},
		{"a quorum queue had no leader", func(d *queueDefinitions, _ *definitionsState) { d.queues[1].Replicas.Leader = "" }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, st := prev(), now()
			if c.change == nil {
				d = nil
			} else {
				c.change(d, &st)
			}
			if got := d.reusable(st); got != c.want {
				t.Errorf("reusable = %v, want %v", got, c.want)
			}
		})
	}
}
