package pipeline

import (
	"context"
	"log/slog"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/exposition"
	"github.com/warrenhq/warren/internal/testenv/promtest"
	"github.com/warrenhq/warren/snapshot"
)

// The fixed scenario of the live native-histogram test: a queue whose
// backlog grows and shrinks while messages arrive at a steady rate, so
// that the estimated waits spread from a few seconds to half a minute.
const (
	liveSnapshots   = 10
	liveStep        = 15 * time.Second // broker time between snapshots
	livePublishRate = 100              // messages a second
)

func liveSnapshot(i int) *snapshot.Snapshot {
	depth := []int64{500, 1200, 2000, 3000, 2500, 1500, 800, 1800, 2600, 1000}[i]
	published := uint64(1000 + livePublishRate*int(liveStep.Seconds())*i)
	acked := published - uint64(depth)
	return &snapshot.Snapshot{Cluster: "t", Time: time.Unix(1_700_000_000, 0).Add(time.Duration(i) * liveStep), Queues: []snapshot.Queue{
		{Vhost: "/", Name: "orders", Type: "classic", Node: "rabbit@a", StatsKnown: true, Consumers: 2, Ready: depth, Unacked: 0,
			Counters: snapshot.Counters{Published: published, Delivered: acked, Acked: acked, Completed: acked}},
	}}
}

// TestPrometheusReadsTheSameP95FromTheNativeHistogramAsFromFineClassicBuckets
// serves one pipeline to two real Prometheus servers: one with native
// histograms on (it scrapes protobuf and stores the native histogram),
// one without (text, classic buckets every second from 1 s to 60 s). Both
// see every state of the scenario; the p95 of the rate over it must agree
// within the native schema's bucket width plus a classic bucket.
func TestPrometheusReadsTheSameP95FromTheNativeHistogramAsFromFineClassicBuckets(t *testing.T) {
	target := testTarget("http://127.0.0.1:1")
	target.Profile = config.ProfileStandard
	for b := 1; b <= 60; b++ {
		target.TimeInQueue.Buckets = append(target.TimeInQueue.Buckets, float64(b))
	}
	p := NewWithSource(target, nil, Options{Metrics: collector.NewMetrics(), Logger: slog.New(slog.DiscardHandler)})
	p.publish(liveSnapshot(0), collector.Health{Attempted: true, Up: true})
	srv := httptest.NewServer(exposition.NewHandler(prometheus.NewRegistry(), exposition.Fixed(p), slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)
	address := strings.TrimPrefix(srv.URL, "http://")
	native := promtest.Start(t, promtest.Options{Targets: []promtest.Scrape{{Address: address}}, ExtraArgs: []string{"--enable-feature=native-histograms"}})
	classic := promtest.Start(t, promtest.Options{Targets: []promtest.Scrape{{Address: address}}})
	native.WaitForTargetsUp(t, 30*time.Second)
	classic.WaitForTargetsUp(t, 30*time.Second)

	// Each state stays for three scrapes of each server.
	for i := 1; i < liveSnapshots; i++ {
		time.Sleep(3 * time.Second)
		p.publish(liveSnapshot(i), collector.Health{Attempted: true, Up: true})
	}
	final := float64(liveSnapshot(liveSnapshots - 1).Queues[0].Counters.Published)
	for _, prom := range []*promtest.Prometheus{native, classic} {
		waitForQuery(t, prom, `warren_queue_published_total{queue="orders"}`, func(v float64) bool { return v == final })
	}
	time.Sleep(1500 * time.Millisecond) // both have the final histogram too
	nativeP95 := queryOne(t, native, `histogram_quantile(0.95, sum by (queue) (rate(warren_queue_time_in_queue_seconds[5m])))`)
	classicP95 := queryOne(t, classic, `histogram_quantile(0.95, sum by (le, queue) (rate(warren_queue_time_in_queue_seconds_bucket[5m])))`)
	t.Logf("p95: native %.4f s, classic %.4f s", nativeP95, classicP95)
	width := math.Exp2(1.0/8) - 1 // a native bucket, relative
	if math.IsNaN(nativeP95) || math.Abs(nativeP95-classicP95) > width*classicP95+1 {
		t.Errorf("p95 from the native histogram %.3f s, from the classic buckets %.3f s: more apart than a native bucket (%.1f%%) and a classic one (1 s)", nativeP95, classicP95, 100*width)
	}
	// The native server stored a native histogram, not classic buckets.
	if v := queryOne(t, native, `count(warren_queue_time_in_queue_seconds_bucket)`); !math.IsNaN(v) {
		t.Errorf("the native server has %v classic bucket series; classic_buckets is off", v)
	}
}

func queryOne(t *testing.T, prom *promtest.Prometheus, expr string) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, _, err := prom.Query(ctx, expr, time.Now())
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		t.Fatalf("%s: a %s, not a vector", expr, v.Type())
	}
	if len(vec) == 0 {
		return math.NaN()
	}
	if len(vec) != 1 {
		t.Fatalf("%s: %d samples, want one", expr, len(vec))
	}
	return float64(vec[0].Value)
}

func waitForQuery(t *testing.T, prom *promtest.Prometheus, expr string, ok func(float64) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v := queryOne(t, prom, expr)
		if ok(v) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v after 30s", expr, v)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
