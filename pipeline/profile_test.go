package pipeline

import (
	"bytes"
	"fmt"
	"log/slog"
	"os/exec"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warrenhq/warren/analysis/timeinqueue"
	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/exposition"
	"github.com/warrenhq/warren/internal/testenv/expositiontest"
	"github.com/warrenhq/warren/snapshot"
)

// originalFamilies are the per-queue families of the 33 series a queue had
// before the profiles (docs/exposition.md): the snapshot's, the consumer
// status and drain time, and the time-in-queue estimate's.
var originalFamilies = []string{
	"warren_queue_info", "warren_queue_messages", "warren_queue_consumers", "warren_queue_consumer_capacity",
	"warren_queue_oldest_message_age_seconds", "warren_queue_published_total", "warren_queue_delivered_total",
	"warren_queue_acked_total", "warren_queue_redelivered_total", "warren_queue_status", "warren_queue_drain_seconds",
	"warren_queue_time_in_queue_seconds", "warren_queue_processed_within_total", "warren_queue_processed_total",
}

// busyQueueSeries runs a pipeline of the profile over a busy classic
// queue (consumers with manual acks, a backlog draining, no length limit,
// TTL or dead-letter exchange: a queue as most are) and returns its series
// by family, as a scrape in the text format reads them.
func busyQueueSeries(t *testing.T, profile string) map[string]int {
	t.Helper()
	series := map[string]int{}
	for _, mf := range expositiontest.Parse(t, busyQueueScrape(t, profile, false, "")) {
		for _, m := range mf.GetMetric() {
			n := 1
			if h := m.GetHistogram(); h != nil {
				n = len(h.GetBucket()) + 2 // _sum and _count; the parser keeps +Inf
			}
			series[mf.GetName()] += n
		}
	}
	return series
}

// busyQueueScrape scrapes the pipeline of busyQueueSeries with accept.
func busyQueueScrape(t *testing.T, profile string, classicBuckets bool, accept string) []byte {
	t.Helper()
	target := testTarget("http://127.0.0.1:1")
	target.Profile = profile
	target.TimeInQueue.Thresholds = config.DefaultTimeInQueueThresholds
	target.TimeInQueue.ClassicBuckets = classicBuckets
	p := NewWithSource(target, nil, Options{Metrics: collector.NewMetrics(), Logger: slog.New(slog.DiscardHandler)})
	for s := 0; s <= 60; s += 5 {
		published := uint64(1000 + 100*s)
		acked := uint64(110 * s)
		counters := snapshot.Counters{Published: published, Delivered: acked + 20, DeliveredManual: acked + 20, Acked: acked, Completed: acked, Redelivered: 3}
		p.publish(&snapshot.Snapshot{Cluster: "t", Time: time.Unix(1_700_000_000+int64(s), 0), Queues: []snapshot.Queue{
			{Vhost: "/", Name: "orders", Type: "classic", Node: "rabbit@a", StatsKnown: true, Consumers: 2,
				ConsumerCapacity: 0.8, HasConsumerCapacity: true,
				Ready: int64(published - acked - 20), Unacked: 20, Counters: counters},
		}}, collector.Health{Attempted: true, Up: true})
	}
	return scrapeBody(t, exposition.NewHandler(prometheus.NewRegistry(), exposition.Fixed(fixedSource{p.Fragment()}), slog.New(slog.DiscardHandler)), accept, false)
}

func sum(series map[string]int, names []string) int {
	n := 0
	for _, name := range names {
		n += series[name]
	}
	return n
}

func TestEachProfileExportsExactlyItsPerQueueFamilies(t *testing.T) {
	for _, profile := range config.Profiles {
		t.Run(profile, func(t *testing.T) {
			series := busyQueueSeries(t, profile)
			for _, name := range config.PerQueueMetrics {
				if series[name] > 0 && !config.ProfileExports(profile, name) {
					t.Errorf("%s is exported, but the %s profile leaves it out", name, profile)
				}
			}
			var exported []string
			for name := range series {
				exported = append(exported, name)
			}
			sort.Strings(exported)
			t.Logf("%s: %d series of the original families for the busy queue; families %v", profile, sum(series, originalFamilies), exported)
		})
	}
}

func TestTheStandardProfileKeepsABusyQueueWithin16SeriesOfTheOriginalFamilies(t *testing.T) {
	series := busyQueueSeries(t, config.ProfileStandard)
	if n := sum(series, originalFamilies); n > 16 {
		t.Errorf("%d series of the original families, want at most 16: %v", n, series)
	}
	for _, name := range config.StandardMetrics {
		if slices.Contains(originalFamilies, name) && series[name] == 0 {
			t.Errorf("the busy queue has no %s, which the standard profile exports", name)
		}
	}
	if h := series["warren_queue_time_in_queue_seconds"]; h != len(timeinqueue.StandardBuckets)+3 {
		t.Errorf("time-in-queue histogram has %d series, want the standard buckets %v, +Inf, _sum and _count", h, timeinqueue.StandardBuckets)
	}
	// The families the other issues added are sparse (limits, TTLs, delay
	// queues, streams, quorum queues) but for the consumer-timeout alert's
	// two series.
	extra := 0
	for name, n := range series {
		if !slices.Contains(originalFamilies, name) {
			extra += n
		}
	}
	if extra != 2 || series["warren_queue_oldest_unacked_age_seconds"] != 1 || series["warren_queue_consumer_timeout_seconds"] != 1 {
		t.Errorf("series of the later families: %v; want only the oldest unacked age and the consumer timeout", series)
	}
}

func TestTheFullProfileExportsTheOriginal33SeriesOfABusyQueue(t *testing.T) {
	series := busyQueueSeries(t, config.ProfileFull)
	if n := sum(series, originalFamilies); n != 33 {
		t.Errorf("%d series of the original families, want 33: %v", n, series)
	}
}

func TestAProtobufScrapeGetsTheTimeInQueueHistogramAsANativeOneWithClassicBucketsOnlyIfConfigured(t *testing.T) {
	for _, classic := range []bool{false, true} {
		t.Run(fmt.Sprintf("classic_buckets=%v", classic), func(t *testing.T) {
			families := expositiontest.ParseProto(t, busyQueueScrape(t, config.ProfileStandard, classic, expositiontest.ProtoAccept))
			m, ok := expositiontest.Find(families, "warren_queue_time_in_queue_seconds", map[string]string{"queue": "orders"})
			if !ok {
				t.Fatal("no time-in-queue histogram in the protobuf scrape")
			}
			h := m.GetHistogram()
			if h.GetSchema() != timeinqueue.NativeSchema || h.GetZeroThreshold() != timeinqueue.NativeZeroThreshold || len(h.GetPositiveSpan()) == 0 {
				t.Errorf("schema %d, zero threshold %v, spans %v: not the native histogram", h.GetSchema(), h.GetZeroThreshold(), h.GetPositiveSpan())
			}
			if (len(h.GetBucket()) > 0) != classic {
				t.Errorf("classic buckets %v with classic_buckets %v", h.GetBucket(), classic)
			}
			inBuckets := h.GetZeroCount()
			running := int64(0)
			for _, d := range h.GetPositiveDelta() {
				running += d
				inBuckets += uint64(running)
			}
			if inBuckets != h.GetSampleCount() || h.GetSampleCount() == 0 {
				t.Errorf("%d messages in the native buckets, count %d", inBuckets, h.GetSampleCount())
			}
			// The other histogram (processing, full profile only) and text
			// keep classic buckets.
			text := expositiontest.Parse(t, busyQueueScrape(t, config.ProfileStandard, classic, ""))
			if tm, ok := expositiontest.Find(text, "warren_queue_time_in_queue_seconds", map[string]string{"queue": "orders"}); !ok || len(tm.GetHistogram().GetBucket()) != len(timeinqueue.StandardBuckets)+1 {
				t.Errorf("the text scrape's histogram is not the classic one: %v", tm)
			}
		})
	}
}

func TestANativeHistogramMakesTheStandardProfile12SeriesOfTheOriginalFamilies(t *testing.T) {
	families := expositiontest.ParseProto(t, busyQueueScrape(t, config.ProfileStandard, false, expositiontest.ProtoAccept))
	n := 0
	for _, mf := range families {
		if slices.Contains(originalFamilies, mf.GetName()) {
			n += len(mf.GetMetric()) // a native histogram is one series
		}
	}
	if n != 12 {
		t.Errorf("%d series of the original families with a native histogram, want 12", n)
	}
}

func TestEveryProfilesTextPassesPromtoolCheckMetrics(t *testing.T) {
	for _, profile := range config.Profiles {
		t.Run(profile, func(t *testing.T) {
			cmd := exec.Command("promtool", "check", "metrics")
			cmd.Stdin = bytes.NewReader(busyQueueScrape(t, profile, false, ""))
			out, err := cmd.CombinedOutput()
			if err != nil || len(bytes.TrimSpace(out)) > 0 {
				t.Errorf("promtool check metrics: %v\n%s", err, out)
			}
		})
	}
}
