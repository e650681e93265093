package promplugin

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/warrenhq/warren/rabbitmq/brokerhttp"
	"github.com/warrenhq/warren/snapshot"
)

func watchAll(string, string) bool { return true }

func readFixture(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// The fixtures hold one broker state in the shapes of three versions: a
// capture of 3.10.8, and 3.13.7 and 4.3.5 built from their sources
// (each file's header says how).
func TestEveryVersionsResponseDecodesToTheSameQueueState(t *testing.T) {
	for _, c := range []struct{ version, file, node string }{
		{"3.10.8", "detailed-3.10.8.txt", "warren-test-5664-1@localhost"},
		{"3.13.7", "detailed-3.13.7.txt", "rabbit@rmq-0"},
		{"4.3.5", "detailed-4.3.5.txt", "rabbit@rmq-0"},
	} {
		t.Run(c.version, func(t *testing.T) {
			counters := newCumulative()
			counters.begin()
			s, err := decodeScrape(readFixture(t, c.file), "http://rmq-0:15692", watchAll, counters)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.checkComplete(expectedMetrics(familiesFor(c.version))); err != nil {
				t.Fatal(err)
			}
			if s.node != c.node || s.fdUsed != 41 || s.fdLimit != 20000 {
				t.Errorf("node %q, fds %v of %v; want %s, 41 of 20000", s.node, s.fdUsed, s.fdLimit, c.node)
			}
			want := map[string]struct {
				gauges   [queueGauges]float64
				has      [queueGauges]bool
				counters map[counterKind]float64
			}{
				"q1":     {[queueGauges]float64{2, 0, 0, 0, 1796134340, 2}, [queueGauges]bool{true, true, true, true, true, true}, map[counterKind]float64{published: 3, getManual: 1, acked: 1}},
				"qq":     {[queueGauges]float64{1, 1, 1, 1, 0, 2}, [queueGauges]bool{true, true, true, true, false, true}, map[counterKind]float64{published: 2, deliverManual: 1}},
				"q2":     {has: [queueGauges]bool{true, true, true, true, false, true}},
				"q1.dlq": {has: [queueGauges]bool{true, true, true, true, false, true}},
			}
			for queue, w := range want {
				q := s.queues[snapshot.QueueKey{Vhost: "/", Name: queue}]
				if q == nil || q.values != w.gauges || q.has != w.has {
					t.Errorf("%s: gauges %+v, want %v %v", queue, q, w.gauges, w.has)
				}
				got := counters.total(totalKey{"/", queue})
				for k := range counterKinds {
					if got[k] != w.counters[k] {
						t.Errorf("%s: counter %d = %v, want %v", queue, k, got[k], w.counters[k])
					}
				}
			}
			if got := counters.total(totalKey{"/", ""}); got != ([counterKinds]float64{}) {
				t.Errorf("vhost / unroutable counters %v, want none", got)
			}
		})
	}
}

func TestFamiliesPerQueueCountersFrom4WherePresentAndParseable(t *testing.T) {
	for version, want := range map[string][]string{
		"3.10.8":       {familyChannelQueue, familyChannelQueueExch, familyChannelExchange},
		"3.13.7":       {familyChannelQueue, familyChannelQueueExch, familyChannelExchange},
		"4.0.0-beta.5": {familyQueueDelivery, familyChannelQueueExch, familyExchange},
		"4.0.2":        {familyQueueDelivery, familyChannelQueueExch, familyExchange},
		"4.0.3":        {familyQueueDelivery, familyQueueExchange, familyExchange},
		"4.3.5":        {familyQueueDelivery, familyQueueExchange, familyExchange},
	} {
		got := familiesFor(version)
		want = append([]string{familyQueueCoarse, familyQueue}, append(want, familyNodeCoarse, familyNode)...)
		if !slices.Equal(got, want) {
			t.Errorf("%s: families %v, want %v", version, got, want)
		}
	}
}

// 4.0.0 to 4.0.2 label queue_exchange_metrics with vhost twice: the
// parser refuses it, which is why familiesFor never asks those versions
// for it.
func TestDuplicateLabelsOf4_0_0AreRefusedWithAClearError(t *testing.T) {
	counters := newCumulative()
	counters.begin()
	_, err := decodeScrape(readFixture(t, "detailed-4.0.0-queue_exchange_metrics.txt"), "e", watchAll, counters)
	if err == nil || !strings.Contains(err.Error(), "duplicate label names") {
		t.Fatalf("err = %v, want the parser's duplicate label names", err)
	}
}

func TestResponseWithoutAnAskedForMetricIsAClearError(t *testing.T) {
	counters := newCumulative()
	counters.begin()
	body := "# TYPE rabbitmq_identity_info untyped\nrabbitmq_identity_info{rabbitmq_node=\"rabbit@a\"} 1\n" +
		"# TYPE rabbitmq_detailed_queue_messages_ready gauge\nrabbitmq_detailed_queue_messages_ready{vhost=\"/\",queue=\"q\"} 1\n"
	s, err := decodeScrape(strings.NewReader(body), "e", watchAll, counters)
	if err != nil {
		t.Fatal(err)
	}
	err = s.checkComplete(expectedMetrics([]string{familyQueueCoarse}))
	if err == nil || !strings.Contains(err.Error(), "no rabbitmq_detailed_queue_messages_unacked") {
		t.Errorf("err = %v, want it to name the missing metric", err)
	}
}

func TestGarbageIsAnErrorNotAnEmptyScrape(t *testing.T) {
	for name, body := range map[string]string{
		"HTML":           "<html><body>502 Bad Gateway</body></html>\n",
		"JSON":           `{"error":"not_found"}`,
		"bad value":      "# TYPE rabbitmq_detailed_queue_messages_ready gauge\nrabbitmq_detailed_queue_messages_ready{vhost=\"/\",queue=\"q\"} many\n",
		"unclosed label": "rabbitmq_detailed_queue_messages_ready{vhost=\"/\n",
		"endless line":   strings.Repeat("x", maxLineBytes+1),
	} {
		counters := newCumulative()
		counters.begin()
		if _, err := decodeScrape(strings.NewReader(body), "e", watchAll, counters); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
	counters := newCumulative()
	counters.begin()
	if _, err := decodeScrape(strings.NewReader(strings.Repeat("y", maxLineBytes+1)), "e", watchAll, counters); !errors.Is(err, errLineTooLong) {
		t.Errorf("a line without end: err = %v, want errLineTooLong", err)
	}
}

func TestLargeFamiliesArriveInChunksAndSummariesWhole(t *testing.T) {
	var b strings.Builder
	const n = 3*chunkSamples + 7
	b.WriteString("# TYPE rabbitmq_detailed_queue_messages_ready gauge\n# HELP rabbitmq_detailed_queue_messages_ready Ready\n")
	for i := range n {
		fmt.Fprintf(&b, "rabbitmq_detailed_queue_messages_ready{vhost=\"/\",queue=\"q%d\"} %d\n", i, i)
	}
	b.WriteString("# TYPE telemetry_scrape_size_bytes summary\n# HELP telemetry_scrape_size_bytes Size\n")
	b.WriteString("telemetry_scrape_size_bytes_count{registry=\"detailed\"} 2\ntelemetry_scrape_size_bytes_sum{registry=\"detailed\"} 18594\n")
	b.WriteString("# TYPE rabbitmq_detailed_queue_messages_unacked gauge\n")
	var sizes []int
	var names []string
	err := decodeFamilies(strings.NewReader(b.String()), func(f *dto.MetricFamily) error {
		sizes, names = append(sizes, len(f.Metric)), append(names, f.GetName())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantSizes := []int{chunkSamples, chunkSamples, chunkSamples, 7, 1, 0}
	wantNames := []string{"rabbitmq_detailed_queue_messages_ready", "rabbitmq_detailed_queue_messages_ready", "rabbitmq_detailed_queue_messages_ready",
		"rabbitmq_detailed_queue_messages_ready", "telemetry_scrape_size_bytes", "rabbitmq_detailed_queue_messages_unacked"}
	if !slices.Equal(sizes, wantSizes) || !slices.Equal(names, wantNames) {
		t.Errorf("families %v of sizes %v, want %v of %v", names, sizes, wantNames, wantSizes)
	}
}

// One chunk is bounded: a family whose lines are long enough to pass
// maxChunkBytes before chunkSamples fails with brokerhttp's
// ErrValueTooLarge, having read a little past the bound and no further.
func TestAChunkLargerThanItsBoundFailsAsAValueTooLarge(t *testing.T) {
	name := strings.Repeat("q", maxLineBytes/2)
	var b strings.Builder
	b.WriteString("# TYPE rabbitmq_detailed_queue_messages_ready gauge\n")
	for i := range 2 * maxChunkBytes / len(name) {
		fmt.Fprintf(&b, "rabbitmq_detailed_queue_messages_ready{vhost=\"/\",queue=\"%s%d\"} 1\n", name, i)
	}
	counting := &countingReader{r: strings.NewReader(b.String())}
	err := decodeFamilies(counting, func(*dto.MetricFamily) error { return nil })
	if !errors.Is(err, brokerhttp.ErrValueTooLarge) {
		t.Fatalf("err = %v, want ErrValueTooLarge", err)
	}
	if counting.n > maxChunkBytes+2*maxLineBytes {
		t.Errorf("read %d bytes for a chunk bounded to %d", counting.n, maxChunkBytes)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
