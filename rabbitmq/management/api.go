package management

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	rabbithole "github.com/michaelklishin/rabbit-hole/v2"
	"github.com/warrenhq/warren/snapshot"
)

// The columns warren reads of the overview and of each node.
const (
	overviewColumns = "rabbitmq_version,erlang_version,management_version,cluster_name,node,disable_stats,object_totals.queues"
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
	// ObjectTotals.Queues counts the queues of every vhost the user may
	// see, from the broker's queue table at the time of the request
	// (rabbit_mgmt_db:overview/3, 3.10 to 4.3).
	ObjectTotals struct {
		Queues *int `json:"queues"`
	} `json:"object_totals"`
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
	decode := decodeQueue
	if q.maxQueues > 0 {
		decode = func(dec *json.Decoder, i int, a *apiQueue) error {
			if i >= q.maxQueues {
				return fmt.Errorf("the listing holds more than %d queues, and the broker's overview counted %d a moment before", q.maxQueues, q.countedQueues)
			}
			return decodeQueue(dec, i, a)
		}
	}
	return list(ctx, c, path, q.values, "queues", q.valueBytes, decode, fn)
}

// listingQuery is the query of a queue listing and the bounds of its
// elements: the size of one, which grows with the sample history asked
// for, and, where the overview counted the broker's queues, their number
// (see Overview.bound).
type listingQuery struct {
	values     url.Values
	valueBytes int64
	// maxQueues, where positive, is the most queues the listing may
	// hold, countedQueues what the overview counted.
	maxQueues, countedQueues int
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
