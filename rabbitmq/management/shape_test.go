package management

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/warrenhq/warren/snapshot"
)

// TestAShapeWarrenDoesNotKnowFailsTheReadNamingTheField serves the 4.3.5
// fixtures with one response replaced: each read must fail as
// invalid_response, with a message that names the request and the field,
// instead of decoding zeros.
func TestAShapeWarrenDoesNotKnowFailsTheReadNamingTheField(t *testing.T) {
	classic := fixture(t, "4.3.5", "queues-detailed.json")
	for _, tc := range []struct {
		name, path, body string
		want             []string
	}{
		{"a paged listing, an object instead of an array", "/api/queues/detailed", `{"items":[],"page":1,"page_count":1}`,
			[]string{"GET queues/detailed", "the response is a JSON object, want a JSON array of queues"}},
		{"a queue without a name", "/api/queues/detailed", `[{"vhost":"/","messages":1}]`,
			[]string{"element 0 of the queue listing", `no "name"`}},
		{"null for a queue", "/api/queues/detailed", `[null]`,
			[]string{"element 0 of the queue listing", `no "name"`}},
		{"a queue without a vhost", "/api/queues/detailed", `[{"name":"orders"}]`,
			[]string{`element 0 of the queue listing (queue "orders" in vhost "")`, `no "vhost"`}},
		{"messages as a string", "/api/queues/detailed", strings.Replace(classic, `"messages": 3,`, `"messages": "3",`, 1),
			[]string{`element 0 of the queue listing (queue "contract.classic" in vhost "/")`, `field "messages" is a JSON string, want a whole number`}},
		{"a negative counter", "/api/queues/detailed", strings.Replace(classic, `"publish": 5,`, `"publish": -5,`, 1),
			[]string{`queue "contract.classic"`, `field "message_stats.publish" is a JSON number -5, want a whole number, not negative`}},
		{"a sample without a timestamp", "/api/queues/detailed", `[{"name":"q","vhost":"/","messages":1,"messages_details":{"samples":[{"sample":1}]}}]`,
			[]string{`queue "q"`, `messages_details.samples[0] has no "timestamp"`}},
		{"a quorum queue's online members as a number", "/api/queues/detailed", `[{"name":"q","vhost":"/","type":"quorum","members":["rabbit@contract-1"],"online":1}]`,
			[]string{`queue "q"`, `field "online" is a JSON number, want an array`}},
		{"a quorum queue's members holding a number", "/api/queues/detailed", `[{"name":"q","vhost":"/","type":"quorum","members":["rabbit@contract-1",2]}]`,
			[]string{`queue "q"`, `field "members" is a JSON array holding a number, want a string`}},
		{"a node without running", "/api/nodes", `[{"name":"rabbit@contract-1","fd_used":83}]`,
			[]string{"GET nodes", `node "rabbit@contract-1"`, `no "running"`}},
		{"nodes as an object", "/api/nodes", `{"name":"rabbit@contract-1","running":true}`,
			[]string{"GET nodes", "the response is a JSON object, want a JSON array of nodes"}},
		{"a version that is a number", "/api/overview", `{"rabbitmq_version":4.3}`,
			[]string{"GET overview", `field "rabbitmq_version" is a JSON number, want a string`}},
		{"an overview without rabbitmq_version", "/api/overview", `{"cluster_name":"rabbit@contract-1"}`,
			[]string{"GET overview", "no rabbitmq_version"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := readReplacing(t, tc.path, tc.body)
			t.Log(err)
			var re *snapshot.ReadError
			if !errors.As(err, &re) || re.Reason != snapshot.ReasonInvalidResponse {
				t.Fatalf("read error %v, want an invalid_response ReadError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// readReplacing reads the 4.3.5 fixtures with the response at path
// replaced by body, and returns the read's error.
func readReplacing(t *testing.T, path, body string) error {
	fixtures := fixtureBodies(t, "4.3.5")
	base := serveBodies(t, func(p string) ([]byte, bool) {
		if p == path {
			return []byte(body), true
		}
		return fixtures(p)
	})
	src, err := New(contractTarget(base))
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.Read(context.Background(), time.Now(), time.Second)
	return err
}

func TestWhatTheBrokerOmitsStaysAbsentRatherThanAnError(t *testing.T) {
	// A quorum queue before its first statistics (3.10: leader, no node,
	// no depth), an empty queue's null head timestamp, and the empty
	// Erlang proplists the broker writes as [] are all known shapes.
	base := serveBodies(t, func(p string) ([]byte, bool) {
		switch p {
		case "/api/overview":
			return []byte(`{"rabbitmq_version":"3.10.8","erlang_version":"25.2.3","management_version":"3.10.8","cluster_name":"c"}`), true
		case "/api/nodes":
			return []byte(`[{"name":"rabbit@a","running":true,"fd_used":40,"fd_total":1024},{"name":"rabbit@b","running":false}]`), true
		case "/api/queues":
			return []byte(`[{"name":"fresh","vhost":"/","type":"quorum","leader":"rabbit@a","arguments":[]},` +
				`{"name":"empty","vhost":"/","type":"classic","node":"rabbit@a","effective_policy_definition":[],"head_message_timestamp":null,"messages":0,"messages_ready":0,"messages_unacknowledged":0}]`), true
		case "/api/vhosts":
			return []byte(`[{"name":"/","message_stats":[]}]`), true
		}
		return nil, false
	})
	src, err := New(contractTarget(base))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := src.Read(context.Background(), time.Now(), time.Second)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if len(snap.Nodes) != 2 || snap.Nodes[1].Running || !snap.Nodes[0].Running {
		t.Errorf("nodes %+v, want rabbit@a running and the stopped rabbit@b not", snap.Nodes)
	}
	if len(snap.Queues) != 2 || snap.Queues[1].Node != "rabbit@a" || snap.Queues[1].StatsKnown || !snap.Queues[0].StatsKnown {
		t.Errorf("queues %+v, want fresh on its leader without statistics, empty with them", snap.Queues)
	}
}
