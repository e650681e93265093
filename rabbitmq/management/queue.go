package management

import (
	"encoding/json"
	"reflect"
	"slices"
	"time"

	"github.com/warrenhq/warren/snapshot"
)

// queueFromAPI makes a snapshot queue of a listed one; running are the
// nodes the poll's node listing reports running.
func queueFromAPI(a *apiQueue, running map[string]bool) snapshot.Queue {
	q := snapshot.Queue{
		Vhost: intern(a.Vhost), Name: intern(a.Name), Type: intern(a.Type), Node: intern(a.Node), StatsKnown: a.Messages != nil,
		Ready: a.MessagesReady, Unacked: a.MessagesUnacknowledged, Consumers: a.Consumers,
		Counters: snapshot.Counters{
			Published:   a.MessageStats.Publish,
			Delivered:   a.MessageStats.DeliverGet,
			Acked:       a.MessageStats.Ack,
			Redelivered: a.MessageStats.Redeliver,
			Completed:   a.MessageStats.Ack + a.MessageStats.DeliverNoAck + a.MessageStats.GetNoAck,
			// deliver_get counts every delivery and get, with or without
			// ack; the broker updates the three counters together.
			DeliveredManual: a.MessageStats.DeliverGet - min(a.MessageStats.DeliverGet, a.MessageStats.DeliverNoAck+a.MessageStats.GetNoAck),
		},
	}
	if leaders := a.Leader.set(); q.Node == "" && len(leaders) > 0 {
		q.Node = leaders[0] // quorum queues before their first stats emission
	}
	if q.Type == "" {
		q.Type = "classic" // brokers before 3.8 report no type
	}
	if a.ConsumerCapacity != nil {
		q.ConsumerCapacity, q.HasConsumerCapacity = *a.ConsumerCapacity, true
	}
	if a.HeadMessageTimestamp != nil && *a.HeadMessageTimestamp > 0 {
		// The broker reports the AMQP timestamp property: whole seconds.
		q.HeadTimestamp = time.Unix(int64(*a.HeadMessageTimestamp), 0)
	}
	q.DeadLetterExchange, q.HasDeadLetterExchange, q.DeadLetterRoutingKey, q.HasDeadLetterRouting =
		deadLetterSettings(a.Arguments, a.EffectivePolicyDefinition)
	q.DeadLetterExchange = intern(q.DeadLetterExchange)
	q.MaxPriority = maxPriority(a.Arguments)
	q.Limit = lengthLimit(a.Arguments, a.EffectivePolicyDefinition)
	q.MessageBytes = a.MessageBytes
	q.MessageTTL, q.HasMessageTTL = lowerSetting(a.Arguments, "x-message-ttl", a.EffectivePolicyDefinition, "message-ttl")
	q.ConsumerTimeout, q.HasConsumerTimeout = lowerSetting(a.Arguments, "x-consumer-timeout", a.EffectivePolicyDefinition, "consumer-timeout")
	q.Samples, q.DeliverySamples = samplesOf(a)
	if q.Type == "quorum" && len(a.Members) > 0 {
		q.Replicas, q.HasReplicas = replicas(a, running), true
	}
	return q
}

// samplesOf is the sample history of a queue element: the curves of
// snapshot.Queue.Samples and DeliverySamples, empty where the broker gave
// no history.
func samplesOf(a *apiQueue) (samples, deliveries []snapshot.Sample) {
	ms := &a.MessageStats
	samples = queueSamples(ms.PublishDetails.Samples, a.MessagesDetails.Samples,
		ms.AckDetails.Samples, ms.DeliverNoAckDetails.Samples, ms.GetNoAckDetails.Samples)
	deliveries = deliverySamples(ms.DeliverGetDetails.Samples, a.UnackedDetails.Samples,
		ms.AckDetails.Samples, ms.DeliverNoAckDetails.Samples, ms.GetNoAckDetails.Samples)
	return samples, deliveries
}

// replicas is a quorum queue's Raft group (snapshot.Replicas): a member
// is online where the broker says so in any of the answers it gave
// (nodeNames) and its node runs; the leader is the one online member the
// broker names as leader, while a majority is online.
func replicas(a *apiQueue, running map[string]bool) snapshot.Replicas {
	r := snapshot.Replicas{Members: a.Members.set()}
	for _, n := range a.Online.set() {
		if running[n] && slices.Contains(r.Members, n) {
			r.Online = append(r.Online, n)
		}
	}
	if !r.Available() {
		return r
	}
	for _, n := range a.Leader.set() {
		if !slices.Contains(r.Online, n) {
			continue
		}
		if r.Leader != "" {
			return snapshot.Replicas{Members: r.Members, Online: r.Online} // two leaders named: neither is trusted
		}
		r.Leader = n
	}
	return r
}

// nodeNames are the node names of a field that a queue object may hold
// more than once. The management API merges a quorum queue's live
// members, online and leader (rabbit_quorum_queue:format) with the same
// fields of the leader's last statistics emission, which can be seconds
// old, and writes both where they differ, in Erlang term order, so
// neither position is the live answer: all three before 3.13 (seen on
// 3.10.8: a node stopped a moment ago still online in one, a node back a
// moment ago still offline in the other), leader and members until 4.2.5
// (rabbitmq-server #15182). So every occurrence is kept, and replicas
// reconciles them with the node listing. A field is an array of names, a
// name, "" or null (3.10's leader of a queue without one).
type nodeNames []string

// UnmarshalJSON adds the names of one occurrence of the field.
func (n *nodeNames) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case nil:
	case string:
		*n = append(*n, v)
	case []any:
		for _, e := range v {
			name, ok := e.(string)
			if !ok {
				return &json.UnmarshalTypeError{Value: "array holding a " + jsonValueKind(e), Type: reflect.TypeFor[string]()}
			}
			*n = append(*n, name)
		}
	default:
		return &json.UnmarshalTypeError{Value: jsonValueKind(v), Type: reflect.TypeFor[[]string]()}
	}
	return nil
}

// jsonValueKind names a decoded JSON value's kind as encoding/json's type
// errors do.
func jsonValueKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	}
	return "object"
}

// set returns the names, interned, sorted, without duplicates or empty
// ones.
func (n nodeNames) set() []string {
	var out []string
	for _, name := range n {
		if name != "" {
			out = append(out, intern(name))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// queueSamples pairs the publish, depth and completion samples (acks,
// deliveries and gets without ack) the broker reports at the same
// timestamp, oldest first.
func queueSamples(published, messages, acks, deliverNoAck, getNoAck []apiSample) []snapshot.Sample {
	return joinSamples([][]apiSample{published, messages}, [][]apiSample{acks, deliverNoAck, getNoAck},
		func(t time.Time, v []float64) snapshot.Sample {
			return snapshot.Sample{Time: t, Published: uint64(v[0]), Messages: int64(v[1]), Completed: uint64(v[2] + v[3] + v[4])}
		})
}

// deliverySamples pairs the samples of the deliveries that wait for an
// ack (all deliveries and gets less those without ack), the
// unacknowledged messages and the acks, oldest first: the curves of
// snapshot.Queue.DeliverySamples.
func deliverySamples(deliverGet, unacked, acks, deliverNoAck, getNoAck []apiSample) []snapshot.Sample {
	return joinSamples([][]apiSample{deliverGet, unacked}, [][]apiSample{acks, deliverNoAck, getNoAck},
		func(t time.Time, v []float64) snapshot.Sample {
			return snapshot.Sample{Time: t, Published: uint64(max(0, v[0]-v[3]-v[4])), Messages: int64(v[1]), Completed: uint64(v[2])}
		})
}

// joinSamples joins sample series on the broker's timestamps, oldest
// first, and makes one snapshot.Sample of each timestamp's values (in
// the order of required, then optional). The broker reads the series in
// different processes; the newest depth sample often has no publish
// sample yet, and a timestamp that some reported series lacks is left
// out. A required series that is missing leaves no samples at all; an
// optional series the broker does not report (nothing ever happened that
// way) counts as zero.
func joinSamples(required, optional [][]apiSample, sample func(time.Time, []float64) snapshot.Sample) []snapshot.Sample {
	for _, series := range required {
		if len(series) == 0 {
			return nil
		}
	}
	all := append(slices.Clip(required), optional...)
	n := len(all)
	// values holds, per timestamp of the first series, one value per
	// series and, last, how many series have a sample there.
	values := make(map[int64][]float64, len(all[0]))
	for _, s := range all[0] {
		v := make([]float64, n+1)
		v[0], v[n] = s.Sample, 1
		values[s.Timestamp] = v
	}
	want := 1.0
	for i, series := range all[1:] {
		if len(series) == 0 {
			continue
		}
		want++
		for _, s := range series {
			if v := values[s.Timestamp]; v != nil {
				v[i+1] = s.Sample
				v[n]++
			}
		}
	}
	out := make([]snapshot.Sample, 0, len(all[0]))
	for _, s := range all[0] {
		if v := values[s.Timestamp]; v[n] == want {
			out = append(out, sample(time.UnixMilli(s.Timestamp), v[:n]))
		}
	}
	slices.SortFunc(out, func(a, b snapshot.Sample) int { return a.Time.Compare(b.Time) })
	return out
}
