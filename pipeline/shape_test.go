package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warrenhq/warren/snapshot"
)

// fixtureAPI serves the management API of RabbitMQ version from the
// contract fixtures (rabbitmq/management/testdata/contract, where
// SOURCES.md says where each response comes from).
func fixtureAPI(t *testing.T, version string) *fakeAPI {
	t.Helper()
	api := newFakeAPI(t)
	delete(api.handlers, "/api/queues") // from 3.13 warren reads /api/queues/detailed
	for path, file := range map[string]string{
		"/api/overview": "overview.json", "/api/nodes": "nodes.json",
		"/api/queues/detailed": "queues-detailed.json", "/api/vhosts": "vhosts.json",
	} {
		api.handle(path, jsonHandler(contractFixture(t, version, file)))
	}
	return api
}

func contractFixture(t *testing.T, version, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "rabbitmq", "management", "testdata", "contract", version, file))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestClusterInfoShowsTheVersionsTheBrokerReports(t *testing.T) {
	api := fixtureAPI(t, "4.3.5")
	coll, reg := newTestCollector(t, testTarget(api.srv.URL))
	coll.Pipelines()[0].Poll(context.Background())
	labels := map[string]string{"cluster": "t", "cluster_name": "rabbit@contract-1",
		"rabbitmq_version": "4.3.5", "erlang_version": "28.0.2", "management_version": "4.3.5"}
	if v := mustGather(t, reg, "warren_cluster_info", labels); v != 1 {
		t.Errorf("warren_cluster_info%v = %v, want 1", labels, v)
	}
}

// TestAnUnknownShapeFailsThePollAndKeepsTheLastSnapshot polls a 4.3.5
// broker well, then once with a response warren does not know: the poll
// fails as invalid_response, the error names the request and the field,
// and /metrics keeps serving the last good snapshot.
func TestAnUnknownShapeFailsThePollAndKeepsTheLastSnapshot(t *testing.T) {
	detailed := contractFixture(t, "4.3.5", "queues-detailed.json")
	for _, tc := range []struct {
		name, path, body string
		says             []string
	}{
		{"the queue listing is an object", "/api/queues/detailed", `{"items":[],"page":1}`,
			[]string{"GET queues/detailed", "a JSON object, want a JSON array of queues"}},
		{"a depth is a string", "/api/queues/detailed", strings.Replace(detailed, `"messages_ready": 3,`, `"messages_ready": "3",`, 1),
			[]string{"GET queues/detailed", `queue "contract.classic"`, `field "messages_ready"`}},
		{"a node has no running", "/api/nodes", `[{"name":"rabbit@contract-1","fd_used":83,"fd_total":1048576}]`,
			[]string{"GET nodes", `no "running"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := fixtureAPI(t, "4.3.5")
			coll, reg := newTestCollector(t, testTarget(api.srv.URL))
			p := coll.Pipelines()[0]
			p.Poll(context.Background())
			p.Poll(context.Background())
			if up := mustGather(t, reg, "warren_target_up", nil); up != 1 {
				t.Fatalf("polls of the 4.3.5 fixtures: up = %v (%s)", up, p.State().Health.LastError)
			}
			api.handle(tc.path, jsonHandler(tc.body))
			p.Poll(context.Background())

			h := p.State().Health
			if h.Up || h.LastReason != snapshot.ReasonInvalidResponse {
				t.Errorf("after the unknown shape: up %v, reason %q, want down with invalid_response", h.Up, h.LastReason)
			}
			for _, s := range tc.says {
				if !strings.Contains(h.LastError, s) {
					t.Errorf("poll error %q does not say %q", h.LastError, s)
				}
			}
			if n := mustGather(t, reg, "warren_poll_errors_total", map[string]string{"reason": "invalid_response"}); n != 1 {
				t.Errorf("invalid_response errors = %v, want 1", n)
			}
			kept := map[string]float64{"contract.classic": 3, "contract.stream": 3, "contract.idle": 0}
			for queue, ready := range kept {
				if v := mustGather(t, reg, "warren_queue_messages", map[string]string{"queue": queue, "state": "ready"}); v != ready {
					t.Errorf("%s ready = %v, want %v from the last good snapshot", queue, v, ready)
				}
			}
			if v := mustGather(t, reg, "warren_queue_messages", map[string]string{"queue": "contract.quorum", "state": "unacked"}); v != 3 {
				t.Errorf("contract.quorum unacked = %v, want 3 from the last good snapshot", v)
			}
			if p.State().Snapshot == nil || p.State().Snapshot.RabbitMQVersion != "4.3.5" || p.State().Fresh {
				t.Errorf("state after the failed poll: snapshot %v, fresh %v; want the last good one, stale", p.State().Snapshot != nil, p.State().Fresh)
			}
		})
	}
}
