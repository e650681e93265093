package management

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	rabbithole "github.com/michaelklishin/rabbit-hole/v2"
	"github.com/warrenhq/warren/snapshot"
)

// The columns warren reads of the overview and of each node.
const (
	overviewColumns = "rabbitmq_version,erlang_version,management_version,cluster_name,node,disable_stats"
	nodeColumns     = "name,running,mem_alarm,disk_free_alarm,partitions,fd_used,fd_total"
)

// overview is what warren reads of /api/overview: disable_stats says
// whether the broker collects the statistics this source reads.
type overview struct {
	RabbitMQVersion   string `json:"rabbitmq_version"`
	ErlangVersion     string `json:"erlang_version"`
	ManagementVersion string `json:"management_version"`
	ClusterName       string `json:"cluster_name"`
	DisableStats      bool   `json:"disable_stats"`
}

func (c *client) overview(ctx context.Context) (*overview, int64, error) {
	var o overview
	q := url.Values{"columns": {overviewColumns}}
	n, err := c.get(ctx, "overview", q, &o)
	if err != nil {
		return nil, n, err
	}
	if o.RabbitMQVersion == "" {
		return nil, n, &snapshot.ReadError{Reason: snapshot.ReasonInvalidResponse, Op: "GET overview", Err: errors.New("no rabbitmq_version in the response: is this a RabbitMQ management API?")}
	}
	return &o, n, nil
}

// apiNode is one element of /api/nodes. A stopped node has only its name
// and "running": false (and "type"; from 3.13 "being_drained"); the
// rest comes from the node's own statistics.
type apiNode struct {
	Name          string   `json:"name"`
	Running       *bool    `json:"running"`
	MemAlarm      bool     `json:"mem_alarm"`
	DiskFreeAlarm bool     `json:"disk_free_alarm"`
	Partitions    []string `json:"partitions"`
	FDUsed        int64    `json:"fd_used"`
	FDTotal       int64    `json:"fd_total"`
}

func (c *client) nodes(ctx context.Context) ([]apiNode, error) {
	var nodes []apiNode
	q := url.Values{"columns": {nodeColumns}}
	_, err := list(ctx, c, "nodes", q, "nodes", maxValueBytes, func(dec *json.Decoder, i int, n *apiNode) error {
		if err := decodeValue(dec, n); err != nil {
			return err
		}
		return checkNode(i, n)
	}, func(n *apiNode) { nodes = append(nodes, *n) })
	return nodes, err
}

// exchanges hands each exchange, name, vhost and type, to each.
func (c *client) exchanges(ctx context.Context, each func(*rabbithole.ExchangeInfo)) error {
	q := url.Values{"columns": {"name,vhost,type"}}
	_, err := list(ctx, c, "exchanges", q, "exchanges", maxValueBytes, plain, each)
	return err
}

// bindingColumns are the fields of a binding dead-letter discovery reads:
// without arguments and properties_key a binding takes about half the
// bytes, and at 100,000 queues the listing holds at least as many
// bindings (each queue's to the default exchange).
const bindingColumns = "source,vhost,destination,destination_type,routing_key"

// bindings hands each binding to each.
func (c *client) bindings(ctx context.Context, each func(*rabbithole.BindingInfo)) error {
	_, err := list(ctx, c, "bindings", url.Values{"columns": {bindingColumns}}, "bindings", maxValueBytes, plain, each)
	return err
}

// apiQueue is one element of the queue listing, decoded into warren's own
// type: rabbit-hole's QueueInfo lacks head_message_timestamp and
// consumer_capacity.
type apiQueue struct {
	Name                      string     `json:"name"`
	Vhost                     string     `json:"vhost"`
	Type                      string     `json:"type"`
	Node                      string     `json:"node"`
	Arguments                 jsonObject `json:"arguments"`
	Policy                    string     `json:"policy"` // its name; listings without statistics give no definition
	EffectivePolicyDefinition jsonObject `json:"effective_policy_definition"`
	Consumers                 int64      `json:"consumers"`
	ConsumerCapacity          *float64   `json:"consumer_capacity"`
	Messages                  *int64     `json:"messages"` // absent until the queue's first stats emission
	MessagesReady             int64      `json:"messages_ready"`
	MessagesUnacknowledged    int64      `json:"messages_unacknowledged"`
	HeadMessageTimestamp      *float64   `json:"head_message_timestamp"`
	MessageBytes              int64      `json:"message_bytes"`
	MessagesDetails           sampleList `json:"messages_details"`
	UnackedDetails            sampleList `json:"messages_unacknowledged_details"`
	// A quorum queue's Raft group (nodeNames says why each is a list).
	Members      nodeNames `json:"members"`
	Online       nodeNames `json:"online"`
	Leader       nodeNames `json:"leader"`
	MessageStats struct {
		PublishDetails      sampleList `json:"publish_details"`
		DeliverGetDetails   sampleList `json:"deliver_get_details"`
		AckDetails          sampleList `json:"ack_details"`
		DeliverNoAckDetails sampleList `json:"deliver_no_ack_details"`
		GetNoAckDetails     sampleList `json:"get_no_ack_details"`
		Publish             uint64     `json:"publish"`
		DeliverGet          uint64     `json:"deliver_get"`
		Ack                 uint64     `json:"ack"`
		Redeliver           uint64     `json:"redeliver"`
		DeliverNoAck        uint64     `json:"deliver_no_ack"`
		GetNoAck            uint64     `json:"get_no_ack"`
	} `json:"message_stats"`
}

// sampleList is the sample history the broker gives in a *_details
// object when asked for one.
type sampleList struct {
	Samples []apiSample `json:"samples"`
}

// apiSample is one point of the broker's per-object sample history.
type apiSample struct {
	Sample    float64 `json:"sample"`
	Timestamp int64   `json:"timestamp"` // milliseconds, broker clock
}

// sampleHistory asks the broker for each queue's samples of messages,
// publish and the completion counters (ack, deliver_no_ack, get_no_ack),
// and of the unacknowledged messages and all deliveries (deliver_get),
// over the last age at incr resolution.
type sampleHistory struct {
	age, incr time.Duration
	// deliveries asks also for the series of the processing estimate.
	deliveries bool
}

func (h sampleHistory) params(q url.Values) {
	if h.incr <= 0 {
		return
	}
	age := strconv.Itoa(int(min(h.age, maxRangeSamples*h.incr).Seconds()))
	incr := strconv.Itoa(max(1, int(h.incr.Seconds())))
	q.Set("lengths_age", age)
	q.Set("lengths_incr", incr)
	q.Set("msg_rates_age", age)
	q.Set("msg_rates_incr", incr)
	q.Set("columns", q.Get("columns")+",messages_details.samples,message_stats.publish_details.samples"+
		",message_stats.ack_details.samples,message_stats.deliver_no_ack_details.samples,message_stats.get_no_ack_details.samples")
	if h.deliveries {
		q.Set("columns", q.Get("columns")+",messages_unacknowledged_details.samples,message_stats.deliver_get_details.samples")
	}
}

// queueColumns is every queue field warren reads. Asking for columns
// shrinks the response several-fold; before 3.13 it also makes the listing
// cheaper for the broker.
var queueColumns = strings.Join([]string{
	"name", "vhost", "type", "node", "leader", "arguments", "effective_policy_definition",
	"consumers", "consumer_capacity", "messages", "messages_ready", "messages_unacknowledged",
	"head_message_timestamp", "message_bytes", "message_stats.publish", "message_stats.deliver_get",
	"message_stats.ack", "message_stats.redeliver", "message_stats.deliver_no_ack",
	"message_stats.get_no_ack", "members", "online",
}, ",")

// queuesPath is the listing that carries message_stats: from 3.13 the
// plain /api/queues returns a reduced field set and /api/queues/detailed
// the full one.
func queuesPath(version string) string {
	if VersionAtLeast(version, 3, 13) {
		return "queues/detailed"
	}
	return "queues"
}

// perVhostListing reports whether the broker can list one vhost's queues
// in full detail (before 3.13, /api/queues/<vhost>), so that a poll of a
// target with a vhost filter asks only for the vhosts it watches.
func perVhostListing(version string) bool { return !VersionAtLeast(version, 3, 13) }

// queues streams the queue listing at path (all queues, or one vhost's)
// with the query q to fn, one queue at a time, each at most
// q.valueBytes, and returns the bytes read.
//
// The listing is asked for in one request, not in pages: RabbitMQ builds
// and sorts the whole listing for every page it serves, so 20 pages of 500
// cost the broker about 3.5 times one unpaged listing of 10,000 queues
// (measured on 3.10; see docs/benchmarks.md). Decoding one element at a
// time keeps warren's memory to one queue's JSON, however long the listing.
func (c *client) queues(ctx context.Context, path string, q listingQuery, fn func(*apiQueue)) (int64, error) {
	return list(ctx, c, path, q.values, "queues", q.valueBytes, decodeQueue, fn)
}

// listingQuery is the query of a queue listing and the bound of one of
// its elements, which grows with the sample history asked for.
type listingQuery struct {
	values     url.Values
	valueBytes int64
}

// queueValueBytes bounds one element of the queue listing: maxValueBytes
// and room for the sample history asked for, at 64 bytes a sample (the
// longest one the broker can write takes 58) in each of the seven series,
// three times over for the decoder's read ahead.
func queueValueBytes(h sampleHistory) int64 {
	if h.incr <= 0 {
		return maxValueBytes
	}
	samples := int64(h.age.Seconds())/max(1, int64(h.incr.Seconds())) + 1
	return maxValueBytes + 3*samples*7*64
}

// vhosts lists the names of the broker's virtual hosts.
func (c *client) vhosts(ctx context.Context) ([]string, int64, error) {
	var names []string
	n, err := list(ctx, c, "vhosts", url.Values{"columns": {"name"}}, "vhosts", maxValueBytes, plain, func(v *struct {
		Name string `json:"name"`
	}) {
		names = append(names, v.Name)
	})
	return names, n, err
}

// VersionAtLeast compares a RabbitMQ version string such as "3.13.7" or
// "4.0.0-beta.1" with the release want names (major, minor, patch…); a
// component the version lacks counts as 0, and a version that does not
// start with major.minor is older than any.
func VersionAtLeast(version string, want ...int) bool {
	parts := strings.Split(version, ".")
	if len(parts) < 2 {
		return false
	}
	for i, w := range want {
		n := 0
		if i < len(parts) {
			var ok bool
			if n, ok = leadingInt(parts[i]); !ok {
				return false
			}
		}
		if n != w {
			return n > w
		}
	}
	return true
}

// leadingInt parses the digits at the start of s ("13-rc1" is 13).
func leadingInt(s string) (int, bool) {
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	n, err := strconv.Atoi(s[:end])
	return n, err == nil
}

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

// jsonObject is a JSON object that the management API writes as [] when
// empty (an empty Erlang proplist).
type jsonObject map[string]any

// UnmarshalJSON accepts an object, an empty array or null.
func (o *jsonObject) UnmarshalJSON(b []byte) error {
	if s := bytes.TrimSpace(b); len(s) == 0 || bytes.Equal(s, []byte("[]")) || bytes.Equal(s, []byte("null")) {
		*o = nil
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*o = m
	return nil
}

// deadLetterSettings reads a queue's dead-letter exchange and routing key:
// the x-arguments win over the policy, as in RabbitMQ.
func deadLetterSettings(arguments, policy map[string]any) (exchange string, hasExchange bool, key string, hasKey bool) {
	exchange, hasExchange = stringSetting(arguments, "x-dead-letter-exchange")
	if !hasExchange {
		exchange, hasExchange = stringSetting(policy, "dead-letter-exchange")
	}
	key, hasKey = stringSetting(arguments, "x-dead-letter-routing-key")
	if !hasKey {
		key, hasKey = stringSetting(policy, "dead-letter-routing-key")
	}
	return
}

// maxPriority is the x-max-priority argument, 0 when absent or not a
// positive number. RabbitMQ accepts it only as an argument (a policy
// cannot set it); JSON gives it as a number.
func maxPriority(arguments map[string]any) int {
	v, ok := arguments["x-max-priority"].(float64)
	if !ok || v < 1 {
		return 0
	}
	return int(min(v, 255))
}

// lowerSetting reads a queue setting in whole milliseconds that may be
// both an x-argument and a policy key: RabbitMQ applies the lower of the
// two when both are set (message TTL; consumer timeout from 3.12). Not
// negative.
func lowerSetting(arguments map[string]any, argument string, policy map[string]any, key string) (time.Duration, bool) {
	arg, hasArg := numberSetting(arguments, argument)
	pol, hasPol := numberSetting(policy, key)
	ms := arg
	switch {
	case hasArg && hasPol:
		ms = min(arg, pol)
	case hasPol:
		ms = pol
	case !hasArg:
		return 0, false
	}
	return time.Duration(ms * float64(time.Millisecond)), true
}

func numberSetting(m map[string]any, name string) (float64, bool) {
	v, ok := m[name].(float64)
	return v, ok && v >= 0
}

func stringSetting(m map[string]any, name string) (string, bool) {
	v, ok := m[name].(string)
	return v, ok
}
