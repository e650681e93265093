package promplugin

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/testenv/rabbittest"
	"github.com/warrenhq/warren/rabbitmq/management"
	"github.com/warrenhq/warren/snapshot"
)

// queueListings serves node's management API and counts the queue
// listings asked of it.
func queueListings(t *testing.T, node *rabbittest.Node) (baseURL string, listings *atomic.Int64) {
	target, err := url.Parse(node.MgmtURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	listings = new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/queues" || strings.HasPrefix(r.URL.Path, "/api/queues/") {
			listings.Add(1)
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, listings
}

// On a stats-off broker the plugin source lists the queue definitions
// again only when the broker says they may have changed: a queue
// declared (the overview's count), a policy set (listed twice, as the
// broker applies it a moment later), a queue deleted and another
// declared in its place (the count unchanged, the plugin naming a queue
// the definitions lack). Otherwise a poll reuses them.
func TestPluginSourceListsTheDefinitionsAgainOnlyWhenTheBrokerSaysTheyChanged(t *testing.T) {
	t.Parallel()
	node := rabbittest.StartT(t, rabbittest.Options{ExtraConfig: "management_agent.disable_metrics_collector = true"})
	base, listings := queueListings(t, node)
	tg := config.Target{Name: "defs", ManagementURL: base, Username: "guest", Password: "guest", Timeout: config.Duration(10 * time.Second),
		Source: config.SourcePrometheus, Prometheus: config.PrometheusConfig{URLs: []string{fmt.Sprintf("http://127.0.0.1:%d", node.PromPort)}}}
	mgmt, err := management.New(tg)
	if err != nil {
		t.Fatal(err)
	}
	src, err := New(tg, mgmt, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	_, ch := node.Channel(t, "/")
	declare := func(name string) {
		if _, err := ch.QueueDeclare(name, true, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
	}
	// poll reads once and checks the queues it saw and how many listings
	// it made.
	poll := func(what string, wantListings int64, wantQueues ...string) *snapshot.Snapshot {
		t.Helper()
		before := listings.Load()
		snap, err := src.Read(context.Background(), time.Now(), time.Minute)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		names := make([]string, len(snap.Queues))
		for i, q := range snap.Queues {
			names[i] = q.Name
		}
		if got := listings.Load() - before; got != wantListings || !slices.Equal(names, wantQueues) {
			t.Errorf("%s: %d queue listings, queues %v; want %d, %v", what, got, names, wantListings, wantQueues)
		}
		return snap
	}
	declare("a")
	poll("first poll", 1, "a")
	poll("second poll: listed in the state of the first, so not yet settled", 1, "a")
	poll("third poll", 0, "a")

	declare("b")
	poll("a queue declared", 1, "a", "b")
	poll("the state unchanged since", 1, "a", "b")
	poll("settled", 0, "a", "b")

	if _, err := node.Ctl("set_policy", "--apply-to", "queues", "ttl", "^a$", `{"message-ttl":60000}`); err != nil {
		t.Fatal(err)
	}
	poll("a policy set", 1, "a", "b")
	snap := poll("the policy applied by now", 1, "a", "b")
	if q := snap.Queues[0]; !q.HasMessageTTL || q.MessageTTL != time.Minute {
		t.Errorf("a's TTL %v (%v) after the policy, want 1m", q.MessageTTL, q.HasMessageTTL)
	}
	poll("settled", 0, "a", "b")

	if _, err := ch.QueueDelete("b", false, false, false); err != nil {
		t.Fatal(err)
	}
	declare("c")
	poll("b deleted and c declared: the count unchanged, the plugin names c", 0, "a", "b")
	poll("c, listed again", 1, "a", "c")
}
