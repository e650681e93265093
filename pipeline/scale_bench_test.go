package pipeline

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/exposition"
	"github.com/warrenhq/warren/internal/testenv/rabbittest"
	"github.com/warrenhq/warren/rabbitmq/management"
	"github.com/warrenhq/warren/snapshot"
)

// BenchmarkScale measures warren against a private node holding N queues
// (WARREN_BENCH_QUEUES, comma-separated; default 1000,5000,10000), as
// `make bench` runs it: one process per N, so that RSS is that N's alone.
//
// Per N it imports N queues (classic, plus up to benchQuorumQueues quorum
// queues) with rabbitmqctl import_definitions, runs traffic on a sample of
// them, waits until the broker reports statistics for every queue, then
// measures: the wall time of a full poll and of the same requests as raw
// HTTP; warren's CPU per poll; the bytes requested per queue and poll and
// the queues whose history a poll asked on their own; the broker's CPU
// during warren's poll, during the same poll with every queue's history
// in its listing (as every poll asked before), during the listing
// without history, and during a kbudde-style full /api/queues listing; scrapes of /metrics (plain and gzip, by curl, a
// separate process) — wall p50/p99 and warren's CPU per scrape; and RSS.
// With WARREN_BENCH_TABLE set it appends the row to that file;
// WARREN_BENCH_PROCESSING=off measures a target with processing.enabled:
// false.
//
// Benchmarks are not tests: nothing here asserts a time.
func BenchmarkScale(b *testing.B) {
	sizes := benchSizes(b)
	// Importing 50,000 queues takes minutes; so may deleting them.
	rabbittest.CtlTimeout = 15 * time.Minute
	rabbittest.StartTimeout = 3 * time.Minute
	node, err := rabbittest.Start(rabbittest.Options{
		// The broker's default, as in production: 1 s would multiply the
		// management plugin's own load at 50,000 queues.
		StatsIntervalMS: 5000,
		// Listing 50,000 queues takes the broker minutes on a busy 2-core
		// machine, with nothing sent until the body is ready: past its
		// default HTTP timeouts it closes the connection (warren sees EOF).
		ExtraConfig: "management.tcp.idle_timeout = 900000\n" +
			"management.tcp.inactivity_timeout = 900000\n" +
			"management.tcp.request_timeout = 900000\n" +
			// A listing without any statistics range is served from the
			// broker's listing cache for up to five times its computing
			// time: the kbudde-style listing would be measured at what a
			// scrape costs right after another. warren's listings always
			// bypass it (management.queuesQuery).
			"management.db_cache_multiplier = 0\n",
	})
	if err != nil {
		b.Fatal(err)
	}
	defer node.Destroy()
	for _, n := range sizes {
		b.Run(fmt.Sprintf("queues=%d", n), func(b *testing.B) { benchScale(b, node, n) })
	}
}

const (
	benchSampleQueues = 50               // queues with traffic
	benchQuorumQueues = 100              // quorum queues among the N (a few hundred is what one node takes well)
	benchRatePerQueue = 2                // messages per second published to each sample queue
	benchPollInterval = 15 * time.Second // the poll interval of the benchmark target
)

func benchScale(b *testing.B, node *rabbittest.Node, n int) {
	vhost := fmt.Sprintf("scale%d", n)
	beam := importQueues(b, node, vhost, n)

	stopTraffic := runTraffic(b, node, vhost)
	defer stopTraffic()

	// The default source, as before the plugin source existed; the
	// pipeline reads src, the management source, whatever it says.
	target := benchTarget(b, node, "")
	src, err := management.New(target)
	if err != nil {
		b.Fatal(err)
	}
	set := NewSet(collector.NewMetrics())
	p := NewWithSource(target, src, Options{Metrics: set.Metrics(), Logger: slog.New(slog.DiscardHandler)})
	set.Replace([]*Pipeline{p})
	registry := prometheus.NewRegistry()
	registry.MustRegister(set, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	server := httptest.NewServer(exposition.NewHandler(registry, set.Sources, slog.New(slog.DiscardHandler)))
	defer server.Close()

	warmUp(b, p, n)

	polls := 5
	if n >= 50000 {
		polls = 2
	}
	scrapes := 40
	if n >= 50000 {
		scrapes = 15
	}
	b.ResetTimer()
	var r scaleResult
	for range b.N {
		r = measureScale(b, p, src, server.URL, beam, polls, scrapes)
	}
	b.StopTimer()
	r.queues = n
	r.series, r.plainBytes, r.gzipBytes = scrapeStats(b, server.URL)
	r.rss, r.hwm = procStatusMB("VmRSS"), procStatusMB("VmHWM")
	writeLiveHeapProfile(b, n)
	// Last, as it is the one scrape that builds every series as objects.
	r.protoWall, _, r.protoCPU = measureScrapesWith(b, server.URL, 1, r.trafficCPURate,
		"-H", "Accept-Encoding: gzip", "-H", "Accept: "+protobufAccept)
	r.protoHWM = procStatusMB("VmHWM")

	b.ReportMetric(r.pollWall, "poll-s")
	b.ReportMetric(r.rawWall, "raw-s")
	b.ReportMetric(r.pollCPU, "poll-cpu-s")
	b.ReportMetric(r.bytesPerQueue, "bytes/queue/poll")
	b.ReportMetric(r.brokerPollCPU, "broker-cpu-poll-s")
	b.ReportMetric(r.brokerFullCPU, "broker-cpu-full-listing-s")
	b.ReportMetric(r.brokerNoHistoryCPU, "broker-cpu-no-history-s")
	b.ReportMetric(r.brokerEveryHistoryCPU, "broker-cpu-every-history-s")
	b.ReportMetric(r.historyGETs, "history-gets/poll")
	b.ReportMetric(r.scrapeP50*1000, "scrape-p50-ms")
	b.ReportMetric(r.scrapeP99*1000, "scrape-p99-ms")
	b.ReportMetric(r.scrapeCPU*1000, "scrape-cpu-ms")
	b.ReportMetric(r.gzipP99*1000, "scrape-gzip-p99-ms")
	b.ReportMetric(r.gzipCPU*1000, "scrape-gzip-cpu-ms")
	b.ReportMetric(r.rss, "rss-MB")
	b.Log("\n" + r.row())
	if path := os.Getenv("WARREN_BENCH_TABLE"); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		fmt.Fprintln(f, r.row())
		f.Close()
	}
}

// scaleResult is one row of the table: medians of the polls, percentiles
// of the scrapes.
type scaleResult struct {
	queues                      int
	pollWall, rawWall, pollCPU  float64 // seconds
	bytesPerQueue               float64
	brokerPollCPU, brokerRawCPU float64 // broker CPU seconds beyond its idle rate
	fullWall, brokerFullCPU     float64 // kbudde-style full listing
	brokerNoHistoryCPU          float64 // the listing without sample history
	brokerEveryHistoryCPU       float64 // the poll with every queue's history in its listing
	historyGETs                 float64 // queues whose history a poll asked on their own
	pollRatio                   float64 // broker CPU of the poll over the kbudde-style listing's
	everyHistoryRatio           float64 // the same of the poll with every queue's history
	protoWall, protoCPU         float64 // one protobuf scrape (the full render)
	protoHWM                    float64 // peak RSS after it, MB
	fullBytes                   float64
	scrapeP50, scrapeP99        float64 // seconds, plain
	scrapeCPU                   float64 // warren CPU seconds per plain scrape
	gzipP50, gzipP99, gzipCPU   float64
	series                      int
	plainBytes, gzipBytes       int
	rss, hwm                    float64 // MB
	trafficCPURate, brokerIdle  float64 // CPU seconds per second
	loadBefore, loadAfter       string
}

// TableHeader is the header of the rows scaleResult.row prints.
const TableHeader = `| queues | poll (warren) | raw HTTP, same requests | warren CPU/poll | bytes/queue/poll | history GETs/poll | broker CPU: warren poll (every queue's history in the listing; listing without history) | broker CPU: full /api/queues, kbudde-style (wall, size) | poll ÷ kbudde (every queue's history) | scrape p50 / p99 | scrape CPU | gzip scrape p50 / p99 | gzip CPU | protobuf scrape (CPU; peak RSS after) | series | body plain / gzip | RSS (peak) | load before → after |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|`

func (r scaleResult) row() string {
	return fmt.Sprintf("| %d | %.2f s | %.2f s | %.0f ms | %.0f B | %.0f | %.2f s (%.2f s; %.2f s) | %.2f s (%.2f s, %.1f MB) | %.2f (%.2f) | %.1f / %.1f ms | %.1f ms | %.1f / %.1f ms | %.1f ms | %.2f s (%.2f s; %.0f MB) | %d | %.1f / %.1f MB | %.0f MB (%.0f MB) | %s → %s |",
		r.queues, r.pollWall, r.rawWall, r.pollCPU*1000, r.bytesPerQueue, r.historyGETs, r.brokerPollCPU, r.brokerEveryHistoryCPU, r.brokerNoHistoryCPU,
		r.brokerFullCPU, r.fullWall, r.fullBytes/1e6, r.pollRatio, r.everyHistoryRatio,
		r.scrapeP50*1000, r.scrapeP99*1000, r.scrapeCPU*1000, r.gzipP50*1000, r.gzipP99*1000, r.gzipCPU*1000,
		r.protoWall, r.protoCPU, r.protoHWM, r.series, float64(r.plainBytes)/1e6, float64(r.gzipBytes)/1e6, r.rss, r.hwm, r.loadBefore, r.loadAfter)
}

func measureScale(b *testing.B, p *Pipeline, src *management.Source, url string, beam, polls, scrapes int) scaleResult {
	r := scaleResult{loadBefore: loadAverage()}
	// Background rates, subtracted below: warren's idle HTTP server and
	// runtime, and the broker's own work (stats, traffic) when idle.
	cpu0, beam0, t0 := selfCPU(), procCPU(beam), time.Now()
	time.Sleep(5 * time.Second)
	wall := time.Since(t0).Seconds()
	r.trafficCPURate = (selfCPU() - cpu0).Seconds() / wall
	r.brokerIdle = (procCPU(beam) - beam0).Seconds() / wall

	var ms []pollMeasures
	for range polls {
		ms = append(ms, measurePoll(b, p, src, beam, r.trafficCPURate, r.brokerIdle))
	}
	of := func(f func(m pollMeasures) float64) float64 {
		xs := make([]float64, len(ms))
		for i, m := range ms {
			xs[i] = f(m)
		}
		return median(xs)
	}
	r.pollWall, r.pollCPU, r.brokerPollCPU = of(func(m pollMeasures) float64 { return m.wall }), of(func(m pollMeasures) float64 { return m.cpu }), of(func(m pollMeasures) float64 { return m.broker })
	r.rawWall, r.brokerRawCPU = of(func(m pollMeasures) float64 { return m.rawWall }), of(func(m pollMeasures) float64 { return m.brokerRaw })
	r.fullWall, r.brokerFullCPU, r.fullBytes = of(func(m pollMeasures) float64 { return m.fullWall }), of(func(m pollMeasures) float64 { return m.brokerFull }), of(func(m pollMeasures) float64 { return m.fullBytes })
	r.bytesPerQueue, r.historyGETs = of(func(m pollMeasures) float64 { return m.bytesPerQueue }), of(func(m pollMeasures) float64 { return m.historyGETs })
	r.brokerNoHistoryCPU, r.brokerEveryHistoryCPU = of(func(m pollMeasures) float64 { return m.brokerNoHistory }), of(func(m pollMeasures) float64 { return m.brokerEveryHistory })
	// Each poll against the control measured right after it: the machine's
	// load drifts less within one round than over all of them.
	r.pollRatio = of(func(m pollMeasures) float64 { return m.broker / m.brokerFull })
	r.everyHistoryRatio = of(func(m pollMeasures) float64 { return m.brokerEveryHistory / m.brokerFull })

	r.scrapeP50, r.scrapeP99, r.scrapeCPU = measureScrapes(b, url, scrapes, false, r.trafficCPURate)
	r.gzipP50, r.gzipP99, r.gzipCPU = measureScrapes(b, url, scrapes, true, r.trafficCPURate)
	r.loadAfter = loadAverage()
	return r
}

// pollMeasures are one poll's measurements, and the broker's cost of the
// requests it is compared with, fetched as plain HTTP right after it.
type pollMeasures struct {
	wall, cpu, broker               float64 // the poll: wall, warren's CPU, the broker's CPU
	bytesPerQueue, historyGETs      float64
	rawWall, brokerRaw              float64 // the same requests as plain HTTP
	brokerEveryHistory              float64 // the poll with every queue's history in its listing
	brokerNoHistory                 float64 // the listing without history
	fullWall, brokerFull, fullBytes float64 // the kbudde-style listing
}

// measurePoll polls once, then fetches the requests it is compared with.
// CPU times are beyond the idle rates (warren's traffic rate, the
// broker's idle rate).
func measurePoll(b *testing.B, p *Pipeline, src *management.Source, beam int, trafficRate, brokerIdle float64) pollMeasures {
	// brokerCPU fetches paths as plain HTTP and returns the broker's CPU,
	// the wall time and the bytes.
	brokerCPU := func(paths []string) (cpu, wall, bytes float64) {
		b0, t0 := procCPU(beam), time.Now()
		n, err := src.Fetch(context.Background(), paths)
		if err != nil {
			b.Fatal(err)
		}
		wall = time.Since(t0).Seconds()
		return (procCPU(beam) - b0).Seconds() - brokerIdle*wall, wall, float64(n)
	}
	var m pollMeasures
	c0, b0, t0 := selfCPU(), procCPU(beam), time.Now()
	p.Poll(context.Background())
	m.wall = time.Since(t0).Seconds()
	if !p.State().Health.Up {
		b.Fatalf("poll failed: %s", p.State().Health.LastError)
	}
	m.cpu = (selfCPU() - c0).Seconds() - trafficRate*m.wall
	m.broker = (procCPU(beam) - b0).Seconds() - brokerIdle*m.wall
	snap := p.State().Snapshot
	m.bytesPerQueue = float64(snap.ResponseBytes) / float64(len(snap.Queues))
	gets, _ := src.HistoryRequests()
	m.historyGETs = float64(gets)

	requests := src.RequestsOf(snap.RabbitMQVersion, benchPollInterval)
	m.brokerRaw, m.rawWall, _ = brokerCPU(requests.Poll)
	m.brokerEveryHistory, _, _ = brokerCPU(requests.PollWithEveryHistory)
	m.brokerNoHistory, _, _ = brokerCPU(requests.ListingWithoutHistory)
	m.brokerFull, m.fullWall, m.fullBytes = brokerCPU(requests.FullListing)
	return m
}

// measureScrapes scrapes with curl, one process per scrape so that the
// client's CPU is not warren's, and returns the p50 and p99 of curl's
// time_total and warren's CPU per scrape.
func measureScrapes(b *testing.B, url string, count int, gzip bool, trafficRate float64) (p50, p99, cpu float64) {
	if gzip {
		return measureScrapesWith(b, url, count, trafficRate, "-H", "Accept-Encoding: gzip")
	}
	return measureScrapesWith(b, url, count, trafficRate)
}

// protobufAccept is what Prometheus sends with native histograms on.
const protobufAccept = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3"

func measureScrapesWith(b *testing.B, url string, count int, trafficRate float64, headers ...string) (p50, p99, cpu float64) {
	args := append(headers, "-s", "-o", "/dev/null", "-w", "%{time_total}", url)
	var times []float64
	c0, t0 := selfCPU(), time.Now()
	for range count {
		out, err := exec.Command("curl", args...).Output()
		if err != nil {
			b.Fatalf("curl: %v", err)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
		if err != nil {
			b.Fatalf("curl time_total %q: %v", out, err)
		}
		times = append(times, v)
	}
	wall := time.Since(t0).Seconds()
	cpu = ((selfCPU() - c0).Seconds() - trafficRate*wall) / float64(count)
	slices.Sort(times)
	return percentile(times, 0.5), percentile(times, 0.99), max(cpu, 0)
}

// scrapeStats counts the series of one scrape and the body sizes.
func scrapeStats(b *testing.B, url string) (series, plain, gz int) {
	resp, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	s := bufio.NewScanner(resp.Body)
	s.Buffer(nil, 1<<20)
	for s.Scan() {
		line := s.Bytes()
		plain += len(line) + 1
		if len(line) > 0 && line[0] != '#' {
			series++
		}
	}
	resp.Body.Close()
	out, err := exec.Command("curl", "-s", "-H", "Accept-Encoding: gzip", "-o", "/dev/null", "-w", "%{size_download}", url).Output()
	if err != nil {
		b.Fatal(err)
	}
	gz, _ = strconv.Atoi(strings.TrimSpace(string(out)))
	return series, plain, gz
}

// runTraffic starts this test binary again as a traffic generator
// (benchTrafficEnv): it publishes to the sample queues at a
// steady rate and consumes with acknowledgements in a process of its own,
// so that its CPU is not counted as warren's. It stops when stop is
// called, or when this process dies (its stdin closes).
func runTraffic(b *testing.B, node *rabbittest.Node, vhost string) (stop func()) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %d %d", benchTrafficEnv, node.AMQPURL, vhost, benchSampleQueues, benchRatePerQueue))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready") {
		cmd.Process.Kill()
		cmd.Wait()
		b.Fatalf("traffic generator did not start: %q %v", line, err)
	}
	return func() {
		stdin.Close()
		cmd.Wait()
	}
}

func queueName(i int) string { return fmt.Sprintf("bench.queue.%06d", i) }

// scaleDefinitions is a definitions document with one vhost of n queues:
// the first benchQuorumQueues after the sample are quorum queues, the
// rest classic.
func scaleDefinitions(vhost string, n int) []byte {
	type queue struct {
		Name       string         `json:"name"`
		Vhost      string         `json:"vhost"`
		Durable    bool           `json:"durable"`
		AutoDelete bool           `json:"auto_delete"`
		Arguments  map[string]any `json:"arguments"`
	}
	queues := make([]queue, n)
	for i := range queues {
		args := map[string]any{}
		if i >= benchSampleQueues && i < benchSampleQueues+benchQuorumQueues {
			args["x-queue-type"] = "quorum"
		}
		queues[i] = queue{Name: queueName(i), Vhost: vhost, Durable: true, Arguments: args}
	}
	out, err := json.Marshal(map[string]any{
		"vhosts":      []map[string]string{{"name": vhost}},
		"permissions": []map[string]string{{"user": "guest", "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*"}},
		"queues":      queues,
	})
	if err != nil {
		panic(err)
	}
	return out
}

func statsKnown(queues []snapshot.Queue) int {
	n := 0
	for i := range queues {
		if queues[i].StatsKnown {
			n++
		}
	}
	return n
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return percentile(s, 0.5)
}

// percentile of sorted xs, nearest rank.
func percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is the user+system CPU time of process pid, from /proc.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// beamPID finds the node's Erlang VM by its data directory.
func beamPID(dir string) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if strings.Contains(string(cmdline), "beam.smp") && strings.Contains(string(cmdline), dir) {
			return pid
		}
	}
	return 0
}

// writeLiveHeapProfile writes, with WARREN_BENCH_HEAP_PROFILE=DIR, the
// heap in use with the pipeline alive (after a GC) to DIR/heap-N.prof:
// what RSS is made of. The test binary's -memprofile is written when every
// benchmark has ended and the pipeline is garbage.
func writeLiveHeapProfile(b *testing.B, n int) {
	dir := os.Getenv("WARREN_BENCH_HEAP_PROFILE")
	if dir == "" {
		return
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("heap-%d.prof", n)))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

// procStatusMB reads a memory field (VmRSS, VmHWM) of this process.
func procStatusMB(field string) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), field+":"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}
