package management

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// readAsALargeTarget reads the contract scenario again the way a poll
// reads a large target, after src's first read: the listing without
// history, then one GET of each queue that holds something new
// (contract.classic, contract.quorum and contract.stream hold messages;
// contract.idle never held any). The GETs' shapes come from each
// version's sources (queue-*.json in testdata/contract, see SOURCES.md;
// servePerQueueFixtures); 3.10 answers live.
func readAsALargeTarget(t *testing.T, src *Source, rec *requestRecorder, version, node string) {
	t.Helper()
	// The scenario's four queues, three of them with something new, keep
	// the tracker listing every queue's history: tell it the target is
	// large.
	src.history.listed = 1 << 20
	snap, problems := readUntilSettled(src, version, node, 0)
	for _, p := range problems {
		t.Errorf("read as a large target: %s", p)
	}
	if perQueue, inListing := src.HistoryRequests(); perQueue != 3 || inListing {
		t.Errorf("%d GETs of one queue's history (in the listing: %v), want 3, for the queues that hold messages", perQueue, inListing)
	}
	// Two GETs run at a time, so they come in any order.
	want := append(src.RequestsOf(version, time.Second).Poll, "stream/consumers")
	got := rec.last(len(want))
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("read as a large target, the poll asked for\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if snap != nil {
		for _, q := range snap.Queues {
			if q.Unchanged != (q.Name == "contract.idle") {
				t.Errorf("%s: unchanged %v; only contract.idle, which never held a message, is", q.Name, q.Unchanged)
			}
		}
	}
}

// servePerQueueFixtures serves the fixtures of version as serveFixtures
// does, and as the broker serves a poll that asks each queue's history
// on its own: the listing without history has no samples (it asks no
// *_details column), and each queue's GET answers from
// queue-<name>.json.
func servePerQueueFixtures(t *testing.T, version string) string {
	bodies := fixtureBodies(t, version,
		"/api/queues/%2F/contract.classic", "queue-classic.json",
		"/api/queues/%2F/contract.quorum", "queue-quorum.json",
		"/api/queues/%2F/contract.stream", "queue-stream.json")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The vhost "/" is %2F in the path, as the broker wants it.
		body, ok := bodies(r.URL.EscapedPath())
		if !ok {
			brokerNotFound(w, r)
			return
		}
		if r.URL.Path == "/api/queues/detailed" && r.URL.Query().Get("lengths_age") == "" {
			body = withoutSamples(t, body)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// withoutSamples removes the *_details objects of a queue listing, at the
// top and in message_stats.
func withoutSamples(t *testing.T, listing []byte) []byte {
	var queues []map[string]any
	if err := json.Unmarshal(listing, &queues); err != nil {
		t.Fatal(err)
	}
	drop := func(m map[string]any) {
		for k := range m {
			if strings.HasSuffix(k, "_details") {
				delete(m, k)
			}
		}
	}
	for _, q := range queues {
		drop(q)
		if ms, ok := q["message_stats"].(map[string]any); ok {
			drop(ms)
		}
	}
	out, err := json.Marshal(queues)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
