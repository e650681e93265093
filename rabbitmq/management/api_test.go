package management

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warrenhq/warren/snapshot"
)

func TestDeadLetterSettingsArgumentWinsOverPolicy(t *testing.T) {
	tests := []struct {
		name      string
		arguments map[string]any
		policy    map[string]any
		exchange  string
		hasX      bool
		key       string
		hasKey    bool
	}{
		{
			name: "neither arguments nor policy",
		},
		{
			name:      "arguments only",
			arguments: map[string]any{"x-dead-letter-exchange": "dlx", "x-dead-letter-routing-key": "dead"},
			exchange:  "dlx", hasX: true, key: "dead", hasKey: true,
		},
		{
			name:     "policy only",
			policy:   map[string]any{"dead-letter-exchange": "pdlx", "dead-letter-routing-key": "pdead"},
			exchange: "pdlx", hasX: true, key: "pdead", hasKey: true,
		},
		{
			name:      "argument exchange and key win over the policy's",
			arguments: map[string]any{"x-dead-letter-exchange": "dlx", "x-dead-letter-routing-key": "dead"},
			policy:    map[string]any{"dead-letter-exchange": "pdlx", "dead-letter-routing-key": "pdead"},
			exchange:  "dlx", hasX: true, key: "dead", hasKey: true,
		},
		{
			name:      "argument exchange, policy routing key",
			arguments: map[string]any{"x-dead-letter-exchange": "dlx"},
			policy:    map[string]any{"dead-letter-exchange": "pdlx", "dead-letter-routing-key": "pdead"},
			exchange:  "dlx", hasX: true, key: "pdead", hasKey: true,
		},
		{
			name:      "policy exchange, argument routing key",
			arguments: map[string]any{"x-dead-letter-routing-key": "dead"},
			policy:    map[string]any{"dead-letter-exchange": "pdlx"},
			exchange:  "pdlx", hasX: true, key: "dead", hasKey: true,
		},
		{
			name:      "exchange without routing key",
			arguments: map[string]any{"x-dead-letter-exchange": "dlx"},
			exchange:  "dlx", hasX: true,
		},
		{
			name:      "empty argument is the default exchange, and still wins over the policy",
			arguments: map[string]any{"x-dead-letter-exchange": ""},
			policy:    map[string]any{"dead-letter-exchange": "pdlx"},
			exchange:  "", hasX: true,
		},
		{
			name:      "policy names do not count as arguments and vice versa",
			arguments: map[string]any{"dead-letter-exchange": "wrong"},
			policy:    map[string]any{"x-dead-letter-exchange": "wrong"},
		},
		{
			name:      "non-string values are ignored",
			arguments: map[string]any{"x-dead-letter-exchange": 42.0, "x-dead-letter-routing-key": nil},
			policy:    map[string]any{"dead-letter-exchange": "pdlx"},
			exchange:  "pdlx", hasX: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, hasX, k, hasKey := deadLetterSettings(tt.arguments, tt.policy)
			if x != tt.exchange || hasX != tt.hasX || k != tt.key || hasKey != tt.hasKey {
				t.Errorf("deadLetterSettings = (%q, %v, %q, %v), want (%q, %v, %q, %v)",
					x, hasX, k, hasKey, tt.exchange, tt.hasX, tt.key, tt.hasKey)
			}
		})
	}
}

func TestVersionSelectsTheQueueListing(t *testing.T) {
	for _, tc := range []struct {
		version  string
		listing  string
		perVhost bool
	}{
		{"3.10.8", "queues", true},
		{"3.12.14", "queues", true},
		{"3.13.0", "queues/detailed", false},
		{"3.13.7", "queues/detailed", false},
		{"3.13.0-rc.1", "queues/detailed", false},
		{"3.13.0+beta", "queues/detailed", false},
		{"4.0.5", "queues/detailed", false},
		{"4.1.0", "queues/detailed", false},
		{"4.1.2", "queues/detailed", false},
		{"4.2.0-rc.1", "queues/detailed", false},
		{"4.3.0+12.gabcdef0", "queues/detailed", false},
		{"10.0.0", "queues/detailed", false},
		// A version warren cannot read asks for /api/queues: with columns=
		// every version answers it with the full statistics.
		{"garbage", "queues", true},
		{"4", "queues", true},
	} {
		if got := queuesPath(tc.version); got != tc.listing {
			t.Errorf("queuesPath(%q) = %q, want %q", tc.version, got, tc.listing)
		}
		if got := perVhostListing(tc.version); got != tc.perVhost {
			t.Errorf("perVhostListing(%q) = %v, want %v", tc.version, got, tc.perVhost)
		}
	}
}

func TestVersionAtLeastComparesEveryComponentAsANumber(t *testing.T) {
	for _, c := range []struct {
		version string
		want    []int
		ok      bool
	}{
		{"3.10.8", []int{3, 13}, false},
		{"3.13.0", []int{3, 13}, true},
		{"3.9.29", []int{3, 13}, false},
		{"4.0.0-beta.1", []int{3, 13}, true},
		{"4.0.2", []int{4, 0, 3}, false},
		{"4.0.3", []int{4, 0, 3}, true},
		{"4.0", []int{4, 0, 3}, false},
		{"4.1.0-rc.1", []int{4, 0, 3}, true},
		{"", []int{3, 13}, false},
		{"four.one", []int{3, 13}, false},
	} {
		if got := VersionAtLeast(c.version, c.want...); got != c.ok {
			t.Errorf("VersionAtLeast(%q, %v) = %v, want %v", c.version, c.want, got, c.ok)
		}
	}
}

func TestMaxPriorityIsDecodedFromTheArgumentsOnly(t *testing.T) {
	for _, tc := range []struct {
		arguments map[string]any
		want      int
	}{
		{nil, 0},
		{map[string]any{"x-max-priority": float64(10)}, 10},
		{map[string]any{"x-max-priority": float64(0)}, 0},
		{map[string]any{"x-max-priority": "10"}, 0},
		{map[string]any{"x-max-priority": float64(1000)}, 255},
	} {
		if got := maxPriority(tc.arguments); got != tc.want {
			t.Errorf("maxPriority(%v) = %d, want %d", tc.arguments, got, tc.want)
		}
	}
	q := queueFromAPI(&apiQueue{Name: "jobs", Arguments: jsonObject{"x-max-priority": float64(5)},
		EffectivePolicyDefinition: jsonObject{"max-priority": float64(9)}}, nil)
	if q.MaxPriority != 5 {
		t.Errorf("queue with x-max-priority 5 and a policy max-priority 9: MaxPriority = %d, want 5 (policies cannot set it)", q.MaxPriority)
	}
}

func TestMessageTTLIsTheLowerOfArgumentAndPolicy(t *testing.T) {
	tests := []struct {
		name      string
		arguments map[string]any
		policy    map[string]any
		want      time.Duration
		has       bool
	}{
		{name: "neither"},
		{name: "argument only", arguments: map[string]any{"x-message-ttl": 5000.0}, want: 5 * time.Second, has: true},
		{name: "policy only", policy: map[string]any{"message-ttl": 60000.0}, want: time.Minute, has: true},
		{name: "policy lower", arguments: map[string]any{"x-message-ttl": 5000.0}, policy: map[string]any{"message-ttl": 1000.0}, want: time.Second, has: true},
		{name: "argument lower", arguments: map[string]any{"x-message-ttl": 500.0}, policy: map[string]any{"message-ttl": 1000.0}, want: 500 * time.Millisecond, has: true},
		{name: "zero expires at once", arguments: map[string]any{"x-message-ttl": 0.0}, want: 0, has: true},
		{name: "not a number", arguments: map[string]any{"x-message-ttl": "5000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, has := lowerSetting(tt.arguments, "x-message-ttl", tt.policy, "message-ttl")
			if got != tt.want || has != tt.has {
				t.Errorf("message TTL = (%v, %v), want (%v, %v)", got, has, tt.want, tt.has)
			}
		})
	}
}

func TestConsumerTimeoutIsTheLowerOfArgumentAndPolicy(t *testing.T) {
	q := queueFromAPI(&apiQueue{Name: "jobs", Arguments: jsonObject{"x-consumer-timeout": 60000.0},
		EffectivePolicyDefinition: jsonObject{"consumer-timeout": 120000.0}}, nil)
	if !q.HasConsumerTimeout || q.ConsumerTimeout != time.Minute {
		t.Errorf("argument 60000 and policy 120000: ConsumerTimeout = (%v, %v), want (1m, true)", q.ConsumerTimeout, q.HasConsumerTimeout)
	}
	if q := queueFromAPI(&apiQueue{Name: "jobs"}, nil); q.HasConsumerTimeout {
		t.Errorf("neither argument nor policy: HasConsumerTimeout = true, want false (the node's consumer_timeout applies)")
	}
}

func TestDeliverySamplesCountOnlyDeliveriesThatWaitForAnAck(t *testing.T) {
	at := func(ms int64, v float64) apiSample { return apiSample{Sample: v, Timestamp: ms} }
	got := deliverySamples(
		[]apiSample{at(1000, 10), at(2000, 25), at(3000, 40)}, // deliver_get
		[]apiSample{at(2000, 3), at(3000, 4), at(4000, 1)},    // unacknowledged
		[]apiSample{at(1000, 2), at(2000, 12), at(3000, 26)},  // acks
		[]apiSample{at(1000, 1), at(2000, 2), at(3000, 3)},    // deliver_no_ack
		nil, // no get without ack ever happened
	)
	want := []snapshot.Sample{
		{Time: time.UnixMilli(2000), Published: 23, Messages: 3, Completed: 12},
		{Time: time.UnixMilli(3000), Published: 37, Messages: 4, Completed: 26},
	}
	if !slices.Equal(got, want) {
		t.Errorf("deliverySamples = %+v, want %+v (timestamps some series lacks are left out; no-ack deliveries are not waiting for an ack)", got, want)
	}
	if got := deliverySamples(nil, []apiSample{at(1000, 1)}, nil, nil, nil); got != nil {
		t.Errorf("without deliver_get samples: %+v, want none", got)
	}
}

func TestTheDeliverySeriesAreAskedForOnlyForTheProcessingEstimate(t *testing.T) {
	for _, deliveries := range []bool{true, false} {
		q := url.Values{"columns": {"name"}}
		sampleHistory{age: 20 * time.Second, incr: 5 * time.Second, deliveries: deliveries}.params(q)
		cols := q.Get("columns")
		if got := strings.Contains(cols, "messages_unacknowledged_details.samples") && strings.Contains(cols, "deliver_get_details.samples"); got != deliveries {
			t.Errorf("deliveries %v: columns %q", deliveries, cols)
		}
		if !strings.Contains(cols, "message_stats.publish_details.samples") {
			t.Errorf("deliveries %v: the time-in-queue series are missing from %q", deliveries, cols)
		}
	}
}

// listedQueue decodes one element of a queue listing as the listing does.
func listedQueue(t *testing.T, body string, running ...string) snapshot.Queue {
	t.Helper()
	var a apiQueue
	if err := decodeQueue(json.NewDecoder(strings.NewReader(body)), 0, &a); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	up := map[string]bool{}
	for _, n := range running {
		up[n] = true
	}
	return queueFromAPI(&a, up)
}

// The shapes below are RabbitMQ 3.10.8's, as its management API listed a
// three-node cluster's quorum queues with
// columns=name,type,node,leader,members,online,messages,state (see
// internal/testenv/rabbittest's cluster): the live members, online and
// leader of rabbit_quorum_queue:format/1 and those of the leader's last
// statistics emission, both written where they differ.
func TestQuorumQueueReplicasReconcileDuplicatedFieldsWithTheRunningNodes(t *testing.T) {
	const (
		a = "rabbit@a"
		b = "rabbit@b"
		c = "rabbit@c"
	)
	tests := []struct {
		name    string
		body    string
		running []string
		want    snapshot.Replicas
	}{
		{
			name:    "healthy: every field once",
			body:    `{"vhost":"/","name":"qa","type":"quorum","leader":"rabbit@a","members":["rabbit@a","rabbit@c","rabbit@b"],"online":["rabbit@a","rabbit@c","rabbit@b"]}`,
			running: []string{a, b, c},
			want:    snapshot.Replicas{Members: []string{a, b, c}, Online: []string{a, b, c}, Leader: a},
		},
		{
			name:    "a node just stopped: the stale emission still lists it online",
			body:    `{"vhost":"/","leader":"rabbit@a","members":["rabbit@a","rabbit@c","rabbit@b"],"messages":0,"name":"qa","node":"rabbit@a","online":["rabbit@a","rabbit@b"],"online":["rabbit@a","rabbit@c","rabbit@b"],"state":"running","type":"quorum"}`,
			running: []string{a, b},
			want:    snapshot.Replicas{Members: []string{a, b, c}, Online: []string{a, b}, Leader: a},
		},
		{
			name:    "nodes just back: the stale emission still lists them offline",
			body:    `{"vhost":"/","leader":"rabbit@a","members":["rabbit@a","rabbit@c","rabbit@b"],"messages":0,"name":"qa","node":"rabbit@a","online":["rabbit@a"],"online":["rabbit@a","rabbit@c","rabbit@b"],"state":"running","type":"quorum"}`,
			running: []string{a, b, c},
			want:    snapshot.Replicas{Members: []string{a, b, c}, Online: []string{a, b, c}, Leader: a},
		},
		{
			name:    "majority lost, the leader's node gone: leader null",
			body:    `{"vhost":"/","leader":null,"members":["rabbit@b","rabbit@c","rabbit@a"],"name":"qb","online":["rabbit@a"],"type":"quorum"}`,
			running: []string{a},
			want:    snapshot.Replicas{Members: []string{a, b, c}, Online: []string{a}},
		},
		{
			name:    "majority lost, the last leader still named: no leader",
			body:    `{"vhost":"/","leader":"rabbit@a","members":["rabbit@a","rabbit@c","rabbit@b"],"messages":0,"name":"qa","node":"rabbit@a","online":["rabbit@a"],"state":"running","type":"quorum"}`,
			running: []string{a},
			want:    snapshot.Replicas{Members: []string{a, b, c}, Online: []string{a}},
		},
		{
			name:    "two leaders named, both online: neither",
			body:    `{"vhost":"/","leader":"rabbit@a","leader":"rabbit@b","members":["rabbit@a","rabbit@c","rabbit@b"],"name":"qc","online":["rabbit@a","rabbit@c","rabbit@b"],"type":"quorum"}`,
			running: []string{a, b, c},
			want:    snapshot.Replicas{Members: []string{a, b, c}, Online: []string{a, b, c}},
		},
		{
			// RabbitMQ 3.13.7 and 4.x, rabbit_quorum_queue:format/2: online
			// are the members on running nodes, leader the recorded one,
			// running or not.
			name:    "3.13: the recorded leader on a stopped node is no leader",
			body:    `{"vhost":"/","name":"qd","type":"quorum","state":"running","node":"rabbit@c","members":["rabbit@a","rabbit@b","rabbit@c"],"leader":"rabbit@c","online":["rabbit@a","rabbit@b"]}`,
			running: []string{a, b},
			want:    snapshot.Replicas{Members: []string{a, b, c}, Online: []string{a, b}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := listedQueue(t, tt.body, tt.running...)
			if !q.HasReplicas {
				t.Fatalf("HasReplicas false for %s", tt.body)
			}
			if !slices.Equal(q.Replicas.Members, tt.want.Members) || !slices.Equal(q.Replicas.Online, tt.want.Online) || q.Replicas.Leader != tt.want.Leader {
				t.Errorf("replicas %+v, want %+v", q.Replicas, tt.want)
			}
		})
	}
}

func TestOnlyQuorumQueuesWithMembersHaveReplicas(t *testing.T) {
	for _, body := range []string{
		`{"vhost":"/","name":"jobs","type":"classic","node":"rabbit@a"}`,
		`{"vhost":"/","name":"events","type":"stream","leader":"rabbit@a","members":["rabbit@a"],"online":["rabbit@a"]}`,
		`{"vhost":"/","name":"qq","type":"quorum","leader":"rabbit@a"}`,
	} {
		if q := listedQueue(t, body, "rabbit@a"); q.HasReplicas {
			t.Errorf("%s: replicas %+v, want none", body, q.Replicas)
		}
	}
}

func TestTheLeaderIsTheNodeOfAQuorumQueueBeforeItsFirstStatistics(t *testing.T) {
	q := listedQueue(t, `{"vhost":"/","name":"qq","type":"quorum","leader":"rabbit@b","members":["rabbit@b"],"online":["rabbit@b"]}`, "rabbit@b")
	if q.Node != "rabbit@b" || q.Replicas.Leader != "rabbit@b" {
		t.Errorf("node %q, leader %q, want rabbit@b", q.Node, q.Replicas.Leader)
	}
}

func TestTheQueueListingAsksForTheQuorumFields(t *testing.T) {
	for _, c := range []string{"members", "online", "leader"} {
		if !slices.Contains(strings.Split(queueColumns, ","), c) {
			t.Errorf("queueColumns %q lacks %s", queueColumns, c)
		}
	}
}
