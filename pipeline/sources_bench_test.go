package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/testenv/rabbittest"
	"github.com/warrenhq/warren/rabbitmq/management"
	"github.com/warrenhq/warren/rabbitmq/promplugin"
)

// BenchmarkScaleSources compares what one poll costs, read from the
// management API's statistics and from the rabbitmq_prometheus plugin,
// at each of the queue counts of WARREN_BENCH_QUEUES (as BenchmarkScale;
// `make bench` runs one process per count). Per count, one node at a
// time, each holding the same N queues and traffic as BenchmarkScale's:
//
//   - broker=stats-on, a node collecting management statistics: per
//     round, a poll of the management source, a poll of the plugin source
//     (source: prometheus), and a kbudde-style full /api/queues listing,
//     the control the issue states its goal against;
//   - broker=stats-off, a node with management_agent.
//     disable_metrics_collector = true, as large installations run: a
//     poll of the plugin source per round (what source: auto reads
//     there), compared with the stats-on node's listing measured just
//     before, in the same process.
//
// Each poll is a whole pipeline's (source, analyses, encoding), measured
// as BenchmarkScale measures one: wall time, warren's CPU, the bytes the
// broker sent, and the broker's CPU beyond its idle rate; the rounds'
// medians make a row. The broker's idle rate is a column of its own: the
// statistics a node collects whether or not anyone polls it. With
// WARREN_BENCH_SOURCES_TABLE set the rows are appended to that file. On
// the stats-off broker it also logs the broker's CPU for each of the
// plugin source's requests alone, the plugin's one family at a time.
//
// Benchmarks are not tests: nothing here asserts a time.
func BenchmarkScaleSources(b *testing.B) {
	sizes := benchSizes(b)
	rabbittest.CtlTimeout = 15 * time.Minute
	rabbittest.StartTimeout = 3 * time.Minute
	for _, n := range sizes {
		// The stats-on node's kbudde-style listing, the stats-off rows'
		// denominator; 0 when only the stats-off broker was run.
		var listing float64
		b.Run(fmt.Sprintf("queues=%d/broker=stats-on", n), func(b *testing.B) {
			listing = benchSources(b, n, false, 0)
		})
		b.Run(fmt.Sprintf("queues=%d/broker=stats-off", n), func(b *testing.B) {
			benchSources(b, n, true, listing)
		})
	}
}

// benchNodeOptions are the options of BenchmarkScaleSources' nodes: the
// broker's default stats interval and HTTP timeouts long enough for a
// listing of 50,000 queues (see BenchmarkScale), no listing cache, and
// for statsOff the management statistics off.
func benchNodeOptions(statsOff bool) rabbittest.Options {
	extra := "management.tcp.idle_timeout = 900000\n" +
		"management.tcp.inactivity_timeout = 900000\n" +
		"management.tcp.request_timeout = 900000\n" +
		// Without it the broker serves a listing without statistics
		// ranges (the kbudde-style one) from a cache for up to five
		// times its computing time: the control would be measured at
		// what a second scrape costs.
		"management.db_cache_multiplier = 0\n"
	if statsOff {
		extra += "management_agent.disable_metrics_collector = true\n"
	}
	return rabbittest.Options{StatsIntervalMS: 5000, ExtraConfig: extra}
}

// benchSources measures the sources of one broker with n queues and
// returns the median broker CPU of its kbudde-style listing (0 for a
// stats-off broker, where it is not measured). listing is the stats-on
// broker's, for the ratio of a stats-off row.
func benchSources(b *testing.B, n int, statsOff bool, listing float64) float64 {
	node, err := rabbittest.Start(benchNodeOptions(statsOff))
	if err != nil {
		b.Fatal(err)
	}
	defer node.Destroy()
	vhost := fmt.Sprintf("sources%d", n)
	sb := &sourceBench{b: b, beam: importQueues(b, node, vhost, n), sources: []string{config.SourcePrometheus}}
	if !statsOff {
		sb.sources = []string{config.SourceManagement, config.SourcePrometheus}
	}
	stopTraffic := runTraffic(b, node, vhost)
	defer stopTraffic()
	sb.start(node, n)

	rounds := 5
	if n >= 50000 {
		rounds = 2
	}
	b.ResetTimer()
	var rows []sourceRow
	for range b.N {
		rows = sb.measure(rounds, listing)
	}
	b.StopTimer()
	var own float64
	for i := range rows {
		rows[i].queues, rows[i].broker = n, map[bool]string{false: "stats on", true: "stats off"}[statsOff]
		own = rows[i].listingCPU
		b.ReportMetric(rows[i].brokerCPU, "broker-cpu-s/"+rows[i].source)
		b.ReportMetric(rows[i].ratio, "of-listing/"+rows[i].source)
		b.Log("\n" + rows[i].row())
	}
	appendRows(b, os.Getenv("WARREN_BENCH_SOURCES_TABLE"), rows)
	if statsOff {
		logPartCosts(b, sb.beam, sb.plugin, sb.version())
	}
	return own
}

// sourceBench is one broker's pipelines, one per source, and what its
// measurements need.
type sourceBench struct {
	b         *testing.B
	beam      int // the broker's Erlang VM
	sources   []string
	pipelines map[string]*Pipeline
	mgmt      *management.Source // of the management pipeline; nil on a stats-off broker
	plugin    *promplugin.Source
	// selfIdle and brokerIdle are the CPU seconds per second of warren
	// and of the broker while nothing polls.
	selfIdle, brokerIdle float64
}

// start builds a pipeline per source of node and warms each up until it
// lists the n queues with statistics.
func (sb *sourceBench) start(node *rabbittest.Node, n int) {
	sb.pipelines = map[string]*Pipeline{}
	for _, source := range sb.sources {
		target := benchTarget(sb.b, node, source)
		mgmt, err := management.New(target)
		if err != nil {
			sb.b.Fatal(err)
		}
		var src collector.Source = mgmt
		if source == config.SourcePrometheus {
			if sb.plugin, err = promplugin.New(target, mgmt, slog.New(slog.DiscardHandler)); err != nil {
				sb.b.Fatal(err)
			}
			src = sb.plugin
		} else {
			sb.mgmt = mgmt
		}
		p := NewWithSource(target, src, Options{Metrics: collector.NewMetrics(), Logger: slog.New(slog.DiscardHandler)})
		warmUp(sb.b, p, n)
		sb.pipelines[source] = p
	}
}

func (sb *sourceBench) version() string {
	return sb.pipelines[config.SourcePrometheus].State().Snapshot.RabbitMQVersion
}

// logPartCosts logs the broker's CPU for each request of the plugin
// source fetched alone, one family at a time for the plugin's: median of
// three, not net of the idle rate.
func logPartCosts(b *testing.B, beam int, plugin *promplugin.Source, version string) {
	parts := plugin.RequestsOf(version)
	requests := make([]promplugin.Requests, 0, len(parts.Management))
	for _, path := range parts.Management {
		requests = append(requests, promplugin.Requests{Management: []string{path}})
	}
	for _, path := range parts.Plugin {
		u, err := url.Parse(path)
		if err != nil {
			b.Fatal(err)
		}
		for _, family := range u.Query()["family"] {
			requests = append(requests, promplugin.Requests{Plugin: []string{u.Path + "?" + url.Values{"family": {family}}.Encode()}})
		}
	}
	for _, r := range requests {
		var cpu []float64
		var n int64
		for range 3 {
			b0 := procCPU(beam)
			var err error
			if n, err = plugin.Fetch(context.Background(), r); err != nil {
				b.Fatal(err)
			}
			cpu = append(cpu, (procCPU(beam) - b0).Seconds())
		}
		b.Logf("broker CPU %.3f s, %.2f MB: %v", median(cpu), float64(n)/1e6, slices.Concat(r.Management, r.Plugin))
	}
}

// sourceRow is one row of the sources table: one source polling one
// broker, medians over the rounds.
type sourceRow struct {
	queues         int
	broker, source string
	pollWall       float64 // seconds
	pollCPU        float64 // warren's CPU seconds beyond its idle rate
	bytes          float64 // the broker's response bytes, per poll
	brokerCPU      float64 // the broker's CPU seconds beyond its idle rate
	brokerIdle     float64 // the broker's CPU seconds per second, unpolled
	// For the plugin source, the broker CPU of its two parts fetched
	// as plain HTTP: the management API's definitions and the scrape.
	definitionsCPU, scrapeCPU float64
	// listingCPU is the broker CPU of the kbudde-style listing, on a
	// stats-on broker measured in the same rounds, on a stats-off one
	// taken from the stats-on run before it; ratio is brokerCPU over it
	// (per round where both are of the same round).
	listingCPU, ratio     float64
	loadBefore, loadAfter string
}

// SourcesTableHeader is the header of the rows sourceRow.row prints.
const SourcesTableHeader = `| queues | broker | source | poll wall | warren CPU/poll | bytes/poll (per queue) | broker CPU/poll | of which definitions / plugin scrape | ÷ kbudde-style listing (its broker CPU) | broker idle CPU | load before → after |
|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|`

func (r sourceRow) row() string {
	ratio := "–"
	if r.listingCPU > 0 {
		ratio = fmt.Sprintf("%.2f (%.2f s)", r.ratio, r.listingCPU)
	}
	parts := "–"
	if r.source == config.SourcePrometheus {
		parts = fmt.Sprintf("%.3f / %.3f s", r.definitionsCPU, r.scrapeCPU)
	}
	return fmt.Sprintf("| %d | %s | %s | %.2f s | %.0f ms | %.2f MB (%.0f B) | %.3f s | %s | %s | %.3f s/s | %s → %s |",
		r.queues, r.broker, r.source, r.pollWall, r.pollCPU*1000, r.bytes/1e6, r.bytes/float64(r.queues),
		r.brokerCPU, parts, ratio, r.brokerIdle, r.loadBefore, r.loadAfter)
}

// sourcePoll is what one poll of one source measured.
type sourcePoll struct{ wall, cpu, bytes, broker, ratio float64 }

// measure takes the idle rates, then per round polls each source once,
// fetches the plugin source's two parts as plain HTTP, and on a stats-on
// broker the kbudde-style listing; it returns a row per source. listing,
// on a stats-off broker, is the stats-on broker's the ratios are taken
// against.
func (sb *sourceBench) measure(rounds int, listing float64) []sourceRow {
	load := loadAverage()
	cpu0, beam0, t0 := selfCPU(), procCPU(sb.beam), time.Now()
	time.Sleep(5 * time.Second)
	wall := time.Since(t0).Seconds()
	sb.selfIdle, sb.brokerIdle = (selfCPU()-cpu0).Seconds()/wall, (procCPU(sb.beam)-beam0).Seconds()/wall

	polls := map[string][]sourcePoll{}
	var listings, definitions, scrapes []float64
	for range rounds {
		round := map[string]sourcePoll{}
		for _, source := range sb.sources {
			round[source] = sb.poll(source)
		}
		parts := sb.plugin.RequestsOf(sb.version())
		definitions = append(definitions, sb.brokerCPU(func() error {
			_, err := sb.plugin.Fetch(context.Background(), promplugin.Requests{Management: parts.Management})
			return err
		}))
		scrapes = append(scrapes, sb.brokerCPU(func() error {
			_, err := sb.plugin.Fetch(context.Background(), promplugin.Requests{Plugin: parts.Plugin})
			return err
		}))
		roundListing := listing
		if sb.mgmt != nil {
			roundListing = sb.brokerCPU(func() error {
				_, err := sb.mgmt.Fetch(context.Background(), sb.mgmt.RequestsOf(sb.version(), 0).FullListing)
				return err
			})
			listings = append(listings, roundListing)
		}
		for source, m := range round {
			if roundListing > 0 {
				m.ratio = m.broker / roundListing
			}
			polls[source] = append(polls[source], m)
		}
	}
	after := loadAverage()
	if sb.mgmt != nil {
		listing = median(listings)
	}
	rows := make([]sourceRow, 0, len(sb.sources))
	for _, source := range sb.sources {
		of := func(f func(sourcePoll) float64) float64 {
			var xs []float64
			for _, m := range polls[source] {
				xs = append(xs, f(m))
			}
			return median(xs)
		}
		rows = append(rows, sourceRow{source: source,
			pollWall: of(func(m sourcePoll) float64 { return m.wall }), pollCPU: of(func(m sourcePoll) float64 { return m.cpu }),
			bytes: of(func(m sourcePoll) float64 { return m.bytes }), brokerCPU: of(func(m sourcePoll) float64 { return m.broker }),
			ratio: of(func(m sourcePoll) float64 { return m.ratio }), listingCPU: listing,
			definitionsCPU: median(definitions), scrapeCPU: median(scrapes),
			brokerIdle: sb.brokerIdle, loadBefore: load, loadAfter: after})
	}
	return rows
}

// poll polls source's pipeline once: its wall time, warren's and the
// broker's CPU beyond their idle rates, and the bytes the broker sent.
func (sb *sourceBench) poll(source string) sourcePoll {
	p := sb.pipelines[source]
	c0, b0, t0 := selfCPU(), procCPU(sb.beam), time.Now()
	p.Poll(context.Background())
	w := time.Since(t0).Seconds()
	if h := p.State().Health; !h.Up {
		sb.b.Fatalf("%s poll failed: %s", source, h.LastError)
	}
	return sourcePoll{wall: w, cpu: (selfCPU() - c0).Seconds() - sb.selfIdle*w,
		bytes: float64(p.State().Snapshot.ResponseBytes), broker: (procCPU(sb.beam) - b0).Seconds() - sb.brokerIdle*w}
}

// brokerCPU is the broker's CPU beyond its idle rate while fetch runs.
func (sb *sourceBench) brokerCPU(fetch func() error) float64 {
	b0, t0 := procCPU(sb.beam), time.Now()
	if err := fetch(); err != nil {
		sb.b.Fatal(err)
	}
	return (procCPU(sb.beam) - b0).Seconds() - sb.brokerIdle*time.Since(t0).Seconds()
}

// appendRows appends the rows to the file at path, if path is set.
func appendRows(b *testing.B, path string, rows []sourceRow) {
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	for _, r := range rows {
		fmt.Fprintln(f, r.row())
	}
}

// benchSizes are the queue counts of WARREN_BENCH_QUEUES
// (comma-separated), by default 1000, 5000 and 10000.
func benchSizes(b *testing.B) []int {
	env := os.Getenv("WARREN_BENCH_QUEUES")
	if env == "" {
		return []int{1000, 5000, 10000}
	}
	var sizes []int
	for _, s := range strings.Split(env, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < benchSampleQueues {
			b.Fatalf("WARREN_BENCH_QUEUES: %q is not a queue count of at least %d", s, benchSampleQueues)
		}
		sizes = append(sizes, n)
	}
	return sizes
}

// importQueues imports n queues into vhost (scaleDefinitions) and
// returns the pid of the node's Erlang VM, whose CPU the benchmarks read.
func importQueues(b *testing.B, node *rabbittest.Node, vhost string, n int) (beam int) {
	began := time.Now()
	if err := node.ImportDefinitions(scaleDefinitions(vhost, n)); err != nil {
		b.Fatal(err)
	}
	b.Logf("imported %d queues in %v", n, time.Since(began).Round(time.Second))
	if beam = beamPID(node.Dir); beam == 0 {
		b.Fatal("cannot find the node's beam.smp process")
	}
	return beam
}

// benchTarget is the benchmarks' target for node, reading source (""
// leaves the default), with processing estimated unless
// WARREN_BENCH_PROCESSING=off.
func benchTarget(b *testing.B, node *rabbittest.Node, source string) config.Target {
	var sourceLine string
	if source != "" {
		sourceLine = "source: " + source
	}
	cfg, err := config.Parse("bench.yml", []byte(fmt.Sprintf(`
targets:
  - name: bench
    management_url: %s
    username: guest
    password: guest
    timeout: 10m
    poll_interval: %s
    stats_interval: 5s
    %s
    prometheus: {urls: ["http://127.0.0.1:%d"]}
    probes: {enabled: false}
    processing: {enabled: %t}
`, node.MgmtURL, benchPollInterval, sourceLine, node.PromPort, os.Getenv("WARREN_BENCH_PROCESSING") != "off")))
	if err != nil {
		b.Fatal(err)
	}
	return cfg.Targets[0]
}

// warmUp polls until the snapshot lists n queues with statistics.
func warmUp(b *testing.B, p *Pipeline, n int) {
	for deadline := time.Now().Add(30 * time.Minute); ; time.Sleep(5 * time.Second) {
		p.Poll(context.Background())
		if s := p.State().Snapshot; s != nil && len(s.Queues) >= n && statsKnown(s.Queues) >= n {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("the broker never listed %d queues with statistics (%s)", n, p.State().Health.LastError)
		}
	}
}
