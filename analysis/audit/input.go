package audit

import (
	"github.com/warrenhq/warren/analysis/deadletter"
	"github.com/warrenhq/warren/analysis/queuerole"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/snapshot"
)

// input is what every check reads: the objects, the previous read's
// counters, and what is derived from them once.
type input struct {
	now         *snapshot.Objects
	connections map[string]*snapshot.Connection // by the broker's name
	channels    map[string]*snapshot.Channel
	queues      map[snapshot.QueueKey]int // index into now.Queues
	// The previous read's channels and queues, by name; empty on a
	// first read.
	channelsBefore map[string]*snapshot.Channel
	queuesBefore   map[snapshot.QueueKey]*snapshot.Queue
	// routes are the dead-letter routes of now's queues; roles their
	// roles, parallel to now.Queues.
	routes []deadletter.Route
	roles  []queuerole.Assigned
}

func newInput(now, before *snapshot.Objects, t config.Target) *input {
	in := &input{now: now,
		connections:    make(map[string]*snapshot.Connection, len(now.Connections)),
		channels:       make(map[string]*snapshot.Channel, len(now.Channels)),
		queues:         make(map[snapshot.QueueKey]int, len(now.Queues)),
		channelsBefore: map[string]*snapshot.Channel{}, queuesBefore: map[snapshot.QueueKey]*snapshot.Queue{}}
	for i := range now.Connections {
		in.connections[now.Connections[i].Name] = &now.Connections[i]
	}
	for i := range now.Channels {
		in.channels[now.Channels[i].Name] = &now.Channels[i]
	}
	for i := range now.Queues {
		in.queues[now.Queues[i].Key()] = i
	}
	if before != nil {
		for i := range before.Channels {
			in.channelsBefore[before.Channels[i].Name] = &before.Channels[i]
		}
		for i := range before.Queues {
			in.queuesBefore[before.Queues[i].Key()] = &before.Queues[i]
		}
	}
	// The same routes and roles as a poll's: discovered from the
	// topology, plus the configured routes; roles by the target's rules.
	in.routes = deadletter.Routes(&snapshot.Snapshot{Queues: now.Queues, Topology: now.Topology}, t.DeadLetterQueues)
	in.roles = queuerole.New(t).Classify(now.Queues, in.routes)
	return in
}

// recentChannel is what a channel published, and dropped as unroutable,
// since the previous read: all of it for a channel opened since (or on a
// first read).
func (in *input) recentChannel(ch *snapshot.Channel) (published, dropped uint64) {
	b := in.channelsBefore[ch.Name]
	if b == nil || ch.Published < b.Published || ch.DroppedUnroutable < b.DroppedUnroutable {
		return ch.Published, ch.DroppedUnroutable
	}
	return ch.Published - b.Published, ch.DroppedUnroutable - b.DroppedUnroutable
}

// recentQueue is the change of a queue's counters since the previous
// read: all of them for a queue declared since (or re-created, or on a
// first read), with nothing unacknowledged before.
func (in *input) recentQueue(q *snapshot.Queue) (c snapshot.Counters, unackedBefore int64) {
	b := in.queuesBefore[q.Key()]
	if b == nil || !b.StatsKnown || q.Counters.WentBack(b.Counters) {
		return q.Counters, 0
	}
	n, o := q.Counters, b.Counters
	return snapshot.Counters{
		Published: n.Published - o.Published, Delivered: n.Delivered - o.Delivered, Acked: n.Acked - o.Acked,
		Redelivered: n.Redelivered - o.Redelivered, DeliveredManual: n.DeliveredManual - o.DeliveredManual, Completed: n.Completed - o.Completed,
	}, b.Unacked
}

// queue returns the listed queue and its details; ok is false for a
// queue the read does not hold (filtered out, or gone).
func (in *input) queue(vhost, name string) (*snapshot.Queue, *snapshot.QueueDetail, bool) {
	i, ok := in.queues[snapshot.QueueKey{Vhost: vhost, Name: name}]
	if !ok {
		return nil, nil, false
	}
	return &in.now.Queues[i], &in.now.QueueDetails[i], true
}

// connectionObject is a connection as a finding names it.
func connectionObject(c *snapshot.Connection) Object {
	return Object{Kind: kindConnection, Vhost: c.Vhost, Name: c.Name, Connection: c.Name, ClientName: c.ClientName, User: c.User}
}

// channelObject is a channel as a finding names it, with its
// connection's client-provided name where the connection is listed.
func (in *input) channelObject(ch *snapshot.Channel) Object {
	o := Object{Kind: kindChannel, Vhost: ch.Vhost, Name: ch.Name, Connection: ch.Connection, User: ch.User}
	if c := in.connections[ch.Connection]; c != nil {
		o.ClientName = c.ClientName
	}
	return o
}

// consumerObject is a consumer as a finding names it.
func (in *input) consumerObject(c *snapshot.Consumer) Object {
	o := Object{Kind: kindConsumer, Vhost: c.Vhost, Name: c.Tag, Queue: c.Queue, Connection: c.Connection, User: c.User}
	if cn := in.connections[c.Connection]; cn != nil {
		o.ClientName = cn.ClientName
	}
	return o
}

func queueObject(q *snapshot.Queue) Object {
	return Object{Kind: kindQueue, Vhost: q.Vhost, Name: q.Name}
}
