package pipeline

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/testenv/garbagetest"
	"github.com/warrenhq/warren/snapshot"
)

// garbageBody is a response of the management API that a broken proxy or
// a wrong URL could answer with, and the bound that must stop it.
type garbageBody struct {
	name, path string
	body       func() io.Reader
	// maxResponse is the target's max_response_size; 0 is the default.
	maxResponse config.Size
	// want is in the error of the failed poll: which bound stopped it.
	want string
}

// endless is a size no garbage body reaches before warren stops reading.
const endless = 1 << 40

var garbageBodies = []garbageBody{
	{name: "a 300 MB unterminated string in a queue", path: "/api/queues",
		body: func() io.Reader { return garbagetest.UnterminatedString(`[{"name":`, 300*garbagetest.MB) },
		want: "more than 1048576 bytes in one value"},
	{name: "valid queues that never end", path: "/api/queues", maxResponse: 16 << 20,
		body: func() io.Reader { return garbagetest.EndlessArray(garbagetest.BusyQueue, endless) },
		want: "the response is too large: more than max_response_size (16777216 bytes)"},
	{name: "tiny elements that never end", path: "/api/queues", maxResponse: 16 << 20,
		body: func() io.Reader { return garbagetest.EndlessArray(garbagetest.TinyQueue, endless) },
		want: "take more than max_response_size (16777216 bytes) decoded, at least "}, // bytes each: four times a decoded queue
	{name: "a 300 MB overview object", path: "/api/overview",
		body: func() io.Reader { return garbagetest.EndlessObject(`{"rabbitmq_version":"3.10.8"`, 300*garbagetest.MB) },
		want: "more than 1048576 bytes in one value"},
	{name: "a node that never ends", path: "/api/nodes",
		body: func() io.Reader { return garbagetest.EndlessObject(`[{"name":"rabbit@a"`, 300*garbagetest.MB) },
		want: "more than 1048576 bytes in one value"},
}

func TestGarbageBodiesFailThePollAsInvalidResponseAndKeepTheLastSnapshot(t *testing.T) {
	for _, g := range garbageBodies {
		t.Run(g.name, func(t *testing.T) {
			api := newFakeAPI(t)
			target := testTarget(api.srv.URL)
			target.Timeout = config.Duration(time.Minute) // decoding 16 MB on a busy machine
			target.MaxResponseSize = g.maxResponse
			coll, reg := newTestCollector(t, target)
			p := coll.Pipelines()[0]
			p.Poll(context.Background())
			if up := mustGather(t, reg, "warren_target_up", nil); up != 1 {
				t.Fatalf("first poll: up = %v (%s)", up, p.State().Health.LastError)
			}

			api.handle(g.path, func(w http.ResponseWriter, _ *http.Request) {
				garbagetest.Serve(w, http.StatusOK, "application/json", g.body())
			})
			p.Poll(context.Background())

			h := p.State().Health
			t.Log(h.LastError)
			if h.LastReason != snapshot.ReasonInvalidResponse || !strings.Contains(h.LastError, g.want) {
				t.Errorf("poll failed with %s: %s; want invalid_response saying %q", h.LastReason, h.LastError, g.want)
			}
			if n := mustGather(t, reg, "warren_poll_errors_total", map[string]string{"reason": string(snapshot.ReasonInvalidResponse)}); n != 1 {
				t.Errorf("warren_poll_errors_total{reason=invalid_response} = %v, want 1", n)
			}
			if up := mustGather(t, reg, "warren_target_up", nil); up != 0 {
				t.Errorf("warren_target_up = %v after the garbage, want 0", up)
			}
			if v := mustGather(t, reg, "warren_queue_messages", map[string]string{"queue": "q1", "state": "ready"}); v != 3 {
				t.Errorf("the last good snapshot's depth = %v, want 3", v)
			}
		})
	}
}
