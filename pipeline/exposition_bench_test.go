package pipeline

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/exposition"
	"github.com/warrenhq/warren/internal/testenv/expositiontest"
	"github.com/warrenhq/warren/snapshot"
)

// BenchmarkExposition measures /metrics without a broker: a pipeline of
// each profile fed N busy classic queues (WARREN_BENCH_QUEUES,
// comma-separated, as for BenchmarkScale) for a minute of snapshots, then
// per format (text, gzip text, protobuf, gzip protobuf) scrapes through
// the handler: this process's CPU per scrape (getrusage, so the other
// users of a shared machine do not count), wall p50/p99, bytes; and the
// CPU of encoding one poll's fragment, the fragment's memory, the heap in
// use (the pipeline's state: estimator histories, native buckets,
// fragment) and the series per queue. With WARREN_BENCH_TABLE set it appends the rows to
// that file. Benchmarks are not tests: nothing here asserts a time.
func BenchmarkExposition(b *testing.B) {
	for _, n := range benchSizes(b) {
		for _, profile := range config.Profiles {
			b.Run(fmt.Sprintf("queues=%d/profile=%s", n, profile), func(b *testing.B) {
				row := measureExposition(b, n, profile)
				b.Log(row)
				if path := os.Getenv("WARREN_BENCH_TABLE"); path != "" {
					f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
					if err != nil {
						b.Fatal(err)
					}
					fmt.Fprintln(f, row)
					f.Close()
				}
			})
		}
	}
}

// ExpositionTableHeader heads BenchmarkExposition's rows.
const ExpositionTableHeader = `| queues | profile | series/queue | encode CPU/poll | fragment (gzip text + gzip protobuf + s2 text) | heap in use | text CPU, p50/p99, bytes | gzip text CPU, p50/p99, bytes | protobuf CPU, p50/p99, bytes | gzip protobuf CPU, p50/p99, bytes | OpenMetrics render CPU |
|---:|---|---:|---:|---:|---:|---|---|---|---|---:|`

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func measureExposition(b *testing.B, n int, profile string) string {
	target := testTarget("http://127.0.0.1:1")
	target.Profile = profile
	target.TimeInQueue.Thresholds = config.DefaultTimeInQueueThresholds
	p := NewWithSource(target, nil, Options{Metrics: collector.NewMetrics(), Logger: slog.New(slog.DiscardHandler)})
	queues := make([]snapshot.Queue, n)
	var encodeCPU time.Duration
	polls := 0
	for s := 0; s <= 60; s += 15 {
		for i := range queues {
			published := uint64(1000 + 100*s + i)
			acked := uint64(110 * s)
			queues[i] = snapshot.Queue{Vhost: "/", Name: fmt.Sprintf("orders.%06d", i), Type: "classic", Node: "rabbit@a", StatsKnown: true,
				Consumers: 2, ConsumerCapacity: 0.8, HasConsumerCapacity: true, Ready: int64(published - acked - 20), Unacked: 20,
				Counters: snapshot.Counters{Published: published, Delivered: acked + 20, DeliveredManual: acked + 20, Acked: acked, Completed: acked, Redelivered: 3}}
		}
		snap := &snapshot.Snapshot{Cluster: "t", Time: time.Unix(1_700_000_000+int64(s), 0), Queues: slices.Clone(queues)}
		p.publish(snap, collector.Health{Attempted: true, Up: true})
		// The encoding alone, once more on the state just published.
		before := cpuNow()
		p.encoder.encode(p.State(), p.Fragment())
		encodeCPU += cpuNow() - before
		polls++
	}
	fr := p.Fragment()
	runtime.GC()
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	runtime.KeepAlive(p)
	h := exposition.NewHandler(prometheus.NewRegistry(), exposition.Fixed(fixedSource{fr}), slog.New(slog.DiscardHandler))
	text := scrapeBody(b, h, "", false)
	perQueue := float64(countSeries(text)) / float64(n)
	row := fmt.Sprintf("| %d | %s | %.1f | %s | %.1f MB | %.0f MB |", n, profile, perQueue, (encodeCPU / time.Duration(polls)).Round(100*time.Microsecond),
		float64(fr.StoredSize())/1e6, float64(mem.HeapInuse)/1e6)
	for _, format := range []struct {
		accept string
		gzip   bool
	}{{"", false}, {"", true}, {expositiontest.ProtoAccept, false}, {expositiontest.ProtoAccept, true}} {
		row += " " + measureHandlerScrapes(b, h, format.accept, format.gzip) + " |"
	}
	return row + " " + measureOpenMetricsRender(b, text) + " |"
}

// measureOpenMetricsRender is what an OpenMetrics scrape would cost: the
// pre-encoded bytes are text and protobuf, so OpenMetrics would be a
// render of the parsed series, which is what this times.
func measureOpenMetricsRender(b testing.TB, text []byte) string {
	before := cpuNow()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		b.Fatal(err)
	}
	enc := expfmt.NewEncoder(io.Discard, expfmt.NewFormat(expfmt.TypeOpenMetrics))
	for _, mf := range families {
		if err := enc.Encode(mf); err != nil {
			b.Fatal(err)
		}
	}
	return fmt.Sprintf("%.1f ms", float64(cpuNow()-before)/1e6)
}

// countSeries counts the sample lines of a text exposition.
func countSeries(text []byte) int {
	n := 0
	for _, line := range strings.Split(string(text), "\n") {
		if line != "" && line[0] != '#' {
			n++
		}
	}
	return n
}

// scrapeRequest is a GET /metrics with accept (none if empty) and, if
// gz, gzip accepted.
func scrapeRequest(accept string, gz bool) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	return req
}

func scrapeBody(b testing.TB, h http.Handler, accept string, gz bool) []byte {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, scrapeRequest(accept, gz))
	if rec.Code != http.StatusOK {
		b.Fatalf("scrape: %d", rec.Code)
	}
	return rec.Body.Bytes()
}

// measureHandlerScrapes scrapes h 20 times into a discarding writer and reports
// CPU per scrape, p50/p99 wall and the body size.
func measureHandlerScrapes(b testing.TB, h http.Handler, accept string, gz bool) string {
	const scrapes = 50
	size := len(scrapeBody(b, h, accept, gz))
	var walls []time.Duration
	before := cpuNow()
	for range scrapes {
		req := scrapeRequest(accept, gz)
		w := &discardWriter{header: http.Header{}}
		start := time.Now()
		h.ServeHTTP(w, req)
		walls = append(walls, time.Since(start))
	}
	cpu := (cpuNow() - before) / scrapes
	slices.Sort(walls)
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) }
	return fmt.Sprintf("%s ms, %s/%s ms, %.2f MB", ms(cpu), ms(walls[scrapes/2]), ms(walls[scrapes*99/100]), float64(size)/1e6)
}

// discardWriter is a ResponseWriter that keeps nothing, as a socket.
type discardWriter struct{ header http.Header }

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) Write(p []byte) (int, error) { return io.Discard.Write(p) }
func (w *discardWriter) WriteHeader(int)             {}
