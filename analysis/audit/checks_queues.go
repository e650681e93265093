package audit

import (
	"fmt"
	"slices"
	"time"

	"github.com/warrenhq/warren/analysis/queuerole"
	"github.com/warrenhq/warren/snapshot"
)

// transientMessages: durable classic queues holding messages that are
// not persistent. The queue survives a restart of its node; those
// messages do not. (Quorum queues and streams store every message.) The
// broker counts the messages in the queue now: an empty queue says
// nothing either way.
func transientMessages(in *input) []Finding {
	var out []Finding
	for i := range in.now.Queues {
		q, d := &in.now.Queues[i], &in.now.QueueDetails[i]
		if !q.StatsKnown || !d.Durable || !d.PersistentKnown || q.Messages() == 0 || d.Persistent >= q.Messages() {
			continue
		}
		share := float64(d.Persistent) / float64(q.Messages())
		out = append(out, finding(queueObject(q), "messages", q.Messages(), "persistent", d.Persistent, "persistent_share", round3(share)))
	}
	return out
}

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }

// rejectsWithoutDLX: queues with consumers and no dead-letter exchange
// that discarded deliveries since the previous read. Every delivery in
// manual-acknowledgement mode ends in an ack, a requeue (the message is
// delivered again, as a redelivery) or a discard (a reject or nack
// without requeue, or a quorum queue's delivery limit), unless it is
// still unacknowledged; so the discards are the deliveries less the
// acks, the redeliveries and the growth of the unacknowledged. The
// broker counts the deliveries and acks in the channels and the
// unacknowledged messages in the queue, at moments up to one statistics
// interval apart: a discard counts only beyond the messages
// unacknowledged at either end, which bounds that skew. Without a
// dead-letter exchange a discarded message is gone.
func rejectsWithoutDLX(in *input) []Finding {
	var out []Finding
	for i := range in.now.Queues {
		q := &in.now.Queues[i]
		if !q.StatsKnown || q.HasDeadLetterExchange || q.Type == "stream" || q.Consumers == 0 {
			continue
		}
		c, unackedBefore := in.recentQueue(q)
		discarded := int64(c.DeliveredManual) - int64(c.Acked) - int64(c.Redelivered) - (q.Unacked - unackedBefore)
		if discarded > q.Unacked+unackedBefore {
			out = append(out, finding(queueObject(q), "discarded", discarded, "dead_letter_exchange", nil, "consumers", q.Consumers,
				"delivered_manual_ack", c.DeliveredManual, "acked", c.Acked, "redelivered", c.Redelivered, "unacked", q.Unacked))
		}
	}
	return out
}

// endlessRetryCycles: dead-letter cycles with no exit, and quorum queues
// whose consumers requeue without a delivery limit. In a cycle (a work
// queue dead-letters into a retry queue whose TTL dead-letters back, or
// any queues that dead-letter into each other) a message that always
// fails goes round forever, unless the consumer parks it after some
// attempts: warren cannot see the consumer, so it takes a parking lot
// (a queue of the vhost, outside the cycle, whose role is dead_letter by
// name or by configuration: docs/queue-roles.md) as the exit. A quorum
// queue's delivery limit does not end a dead-letter cycle: a message
// that comes back through the dead-letter exchange is a new message,
// counted from zero. A requeued message, though, is the same one: a
// quorum queue with redeliveries and no delivery limit lets a poison
// message come back forever.
func endlessRetryCycles(in *input) []Finding {
	out := deadLetterCycles(in)
	for i := range in.now.Queues {
		q, d := &in.now.Queues[i], &in.now.QueueDetails[i]
		if q.Type != "quorum" || !q.StatsKnown || q.Consumers == 0 || d.HasDeliveryLimit {
			continue
		}
		if c, _ := in.recentQueue(q); c.Redelivered > 0 {
			out = append(out, finding(queueObject(q), "redelivered", c.Redelivered, "delivery_limit", nil, "consumers", q.Consumers))
		}
	}
	return out
}

// deadLetterCycles finds the cycles of the dead-letter graph (its
// strongly connected components with a cycle) that have no parking lot
// in their vhost.
func deadLetterCycles(in *input) []Finding {
	g := newGraph(in)
	var out []Finding
	for _, cycle := range g.cycles() {
		vhost := in.now.Queues[cycle[0]].Vhost
		inCycle := map[int]bool{}
		for _, i := range cycle {
			inCycle[i] = true
		}
		var lot string
		for i, r := range in.roles {
			if q := &in.now.Queues[i]; q.Vhost == vhost && !inCycle[i] && r.Role == queuerole.DeadLetter && (r.Source == queuerole.Name || r.Source == queuerole.Configured) {
				lot = q.Name
				break
			}
		}
		if lot != "" {
			continue
		}
		names := make([]string, len(cycle))
		head := cycle[0]
		for j, i := range cycle {
			names[j] = in.now.Queues[i].Name
			if in.roles[i].Role == queuerole.Work && in.roles[head].Role != queuerole.Work {
				head = i
			}
		}
		out = append(out, finding(queueObject(&in.now.Queues[head]), "cycle", names, "parking_lot", nil))
	}
	return out
}

// graph is the dead-letter graph of the listed queues.
type graph struct {
	edges [][]int
}

func newGraph(in *input) *graph {
	g := &graph{edges: make([][]int, len(in.now.Queues))}
	for _, r := range in.routes {
		from, ok1 := in.queues[snapshot.QueueKey{Vhost: r.Vhost, Name: r.Queue}]
		to, ok2 := in.queues[snapshot.QueueKey{Vhost: r.Vhost, Name: r.DeadLetterQueue}]
		if ok1 && ok2 {
			g.edges[from] = append(g.edges[from], to)
		}
	}
	return g
}

// cycles returns the strongly connected components that hold a cycle
// (two queues or more, or one that dead-letters into itself), each
// sorted, in order of their first queue (Tarjan's algorithm).
func (g *graph) cycles() [][]int {
	n := len(g.edges)
	index, low := make([]int, n), make([]int, n)
	onStack := make([]bool, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	var out [][]int
	next := 0
	var visit func(v int)
	visit = func(v int) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range g.edges[v] {
			if index[w] < 0 {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] != index[v] {
			return
		}
		var scc []int
		for {
			w := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			onStack[w] = false
			scc = append(scc, w)
			if w == v {
				break
			}
		}
		if len(scc) > 1 || slices.Contains(g.edges[v], v) {
			slices.Sort(scc)
			out = append(out, scc)
		}
	}
	for v := range n {
		if index[v] < 0 {
			visit(v)
		}
	}
	slices.SortFunc(out, func(a, b []int) int { return a[0] - b[0] })
	return out
}

// deprecatedFeatures: classic mirrored-queue policies (ha-mode), which
// RabbitMQ 4.0 removed, and every deprecated feature the broker reports
// in use (3.13 and later). An upgrade past the feature's removal breaks
// what depends on it; a mirrored queue becomes a plain classic one.
func deprecatedFeatures(in *input) []Finding {
	var out []Finding
	for _, p := range in.now.Policies {
		mode, ok := p.Definition["ha-mode"]
		if !ok {
			continue
		}
		o := Object{Kind: kindPolicy, Vhost: p.Vhost, Name: p.Name}
		if p.Operator {
			o.Kind = kindOperatorPolicy
		}
		out = append(out, finding(o, "ha-mode", mode, "pattern", p.Pattern, "apply-to", p.ApplyTo))
	}
	for _, f := range in.now.DeprecatedFeatures {
		if f.Name == "classic_queue_mirroring" && len(out) > 0 {
			continue // the policies above name where it is used
		}
		out = append(out, finding(Object{Kind: kindFeature, Name: f.Name}, "deprecation_phase", f.Phase, "doc_url", f.DocURL))
	}
	return out
}

// longConsumerTimeout is the consumer timeout beyond which the audit
// speaks up: a delivery may then stay unacknowledged for more than a day.
const longConsumerTimeout = 24 * time.Hour

// consumerTimeouts: queues with consumers whose own consumer timeout
// (x-consumer-timeout, or the consumer-timeout policy) is above 24 h,
// and consumers whose x-consumer-timeout argument is (RabbitMQ has no
// other way to switch it off for one queue). A consumer that hangs with
// a delivery then holds it for days, and nothing tells. RabbitMQ applies
// these settings from 3.12 on (the consumer argument from 4.3); before,
// the evidence says the setting is not applied yet: it will be after an
// upgrade.
func consumerTimeouts(in *input) []Finding {
	applies := in.now.QueueConsumerTimeouts
	var out []Finding
	for i := range in.now.Queues {
		q := &in.now.Queues[i]
		if q.HasConsumerTimeout && q.ConsumerTimeout > longConsumerTimeout && q.Consumers > 0 {
			out = append(out, finding(queueObject(q), "consumer_timeout_seconds", q.ConsumerTimeout.Seconds(), "consumers", q.Consumers, "applied", applies))
		}
	}
	for i := range in.now.Consumers {
		c := &in.now.Consumers[i]
		if c.HasTimeout && c.Timeout > longConsumerTimeout {
			out = append(out, finding(in.consumerObject(c), "consumer_timeout_seconds", c.Timeout.Seconds(), "applied", in.now.ConsumerTimeoutArguments))
		}
	}
	return out
}

// consumerTimeoutNotes says so where the broker applies no per-queue
// consumer timeout yet.
func consumerTimeoutNotes(in *input) []string {
	if in.now.QueueConsumerTimeouts {
		return nil
	}
	return []string{fmt.Sprintf("RabbitMQ %s applies only the node's consumer_timeout, which the management API does not report; the queue settings found take effect from 3.12", in.now.RabbitMQVersion)}
}
