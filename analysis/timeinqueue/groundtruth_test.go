package timeinqueue

// The ground-truth harness: real traffic through a private RabbitMQ node,
// with every message's true publish, delivery and ack time known to the
// test (the traffic and its truth: groundtruth_traffic_test.go), and
// warren's collector and two Estimators, of time in queue and of
// processing time (groundtruth_processing_test.go), watching the same
// queues through the management API, as in production, or through the
// Prometheus plugin (accuracy_plugin_test.go).
//
// A scenario is one queue with a publisher and one or more consumers'
// behaviour. All scenarios of a run share one vhost and run concurrently,
// each on its own queue, so a run takes its traffic duration, not one
// duration per scenario. Each reading of a run (a source and a poll
// interval) has its own collector target and Estimators, watching the
// same traffic.
//
// Timeline of a run:
//
//  1. Declare the queues, then poll at each reading's interval and feed
//     each new snapshot to the Estimators, from before any traffic: they
//     know every queue while it is still empty, so every message that
//     later departs is within their history and the two sides count the
//     same messages.
//  2. Traffic for the run's duration: publishers stamp each message with a
//     sequence id (the AMQP message id) and record time.Now() just before
//     publishing it; consumers (manual ack) record time.Now() when they
//     receive a delivery and just after acking it. True time in queue =
//     ack time − publish time, true processing time = ack time − receipt
//     of the delivery acked, all read from this process's monotonic clock.
//  3. Traffic stops (consumers close their channels, so what they held
//     unacked goes back to the queue and is not a departure, but a
//     delivery settled unprocessed), and polling
//     goes on for a settle period of two (slowest) poll intervals plus two stats
//     intervals, long enough for the broker to emit and the poller to
//     fetch the samples of the last departures.
//
// The oldest-age comparison is aligned on the broker's clock: an estimate
// describes the queue at its SampleTime (the broker timestamp of the
// newest sample behind it, not the poll time, which is later by up to a
// stats interval plus the poll's own latency; for poll points, the poll
// time), so the true oldest age is
// computed after the run, from the recorded publish and ack times, at
// that same instant. Broker and test run on the same host, so its wall
// clock is the test's.
//
// Environment, for work on the harness or the Estimator:
// WARREN_ACCURACY_DURATION shortens or lengthens the traffic (a Go
// duration, default 3m, 2m for the plugin run); WARREN_ACCURACY_DUMP
// names a directory to write each scenario's broker samples, pieces and
// truth to, as CSV (for management readings: poll points carry no
// samples to replay).

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/testenv/rabbittest"
	"github.com/warrenhq/warren/snapshot"
)

const (
	// accuracyThreshold is the processed-within threshold the scenarios
	// are judged on.
	accuracyThreshold = 10 * time.Second
	// accuracyPollInterval is warren's default poll interval, and every
	// management reading's.
	accuracyPollInterval = 5 * time.Second
	// defaultAccuracyDuration is how long each run's traffic lasts.
	defaultAccuracyDuration = 3 * time.Minute
	// accuracyIdleQueues are declared beside the scenarios' and never
	// used: with them the target is large enough that every poll asks
	// each busy queue's sample history on its own, as on a production
	// target of many queues, and lists the others without history.
	accuracyIdleQueues = 100
)

// accuracyDuration is the traffic duration of a run:
// defaultAccuracyDuration, or WARREN_ACCURACY_DURATION (a Go duration)
// for quicker runs while working on the harness.
func accuracyDuration(tb testing.TB) time.Duration {
	tb.Helper()
	return accuracyDurationOr(tb, defaultAccuracyDuration)
}

// accuracyDurationOr is accuracyDuration with def for its default.
func accuracyDurationOr(tb testing.TB, def time.Duration) time.Duration {
	tb.Helper()
	s := os.Getenv("WARREN_ACCURACY_DURATION")
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 30*time.Second {
		tb.Fatalf("WARREN_ACCURACY_DURATION=%q: want a duration of at least 30s", s)
	}
	return d
}

// trueOldestAge is the true age at t of the oldest message published
// but not yet acked: 0 when there is none. With a ttl, a message never
// acked expired ttl after it was published (the queue drops expired
// messages from its head as they come due, and the head is the oldest).
func trueOldestAge(msgs []trueMessage, t time.Time, ttl time.Duration) time.Duration {
	for _, m := range msgs {
		if m.published.After(t) {
			return 0 // messages are in publish order: none older waits
		}
		if ttl > 0 && m.acked.IsZero() && !m.published.Add(ttl).After(t) {
			continue // expired by t
		}
		if m.acked.IsZero() || m.acked.After(t) {
			return t.Sub(m.published)
		}
	}
	return 0
}

// estimatorLog is what the Estimator said about one queue over a run.
type estimatorLog struct {
	pieces []Piece
	// oldest holds one estimate per poll that changed the snapshot.
	oldest []oldestEstimate
	final  QueueEstimate
}

type oldestEstimate struct {
	sampleTime time.Time
	age        time.Duration
}

// estimatorWatcher polls one collector target and feeds every new
// snapshot to two Estimators, one of time in queue and one of processing
// time, recording their output for the queues it watches.
type estimatorWatcher struct {
	poller *brokerPoller
	keys   []snapshot.QueueKey

	mu                 sync.Mutex
	waiting, processed *watchedEstimator
	// snapshots are the snapshots fed to the Estimators, in order.
	snapshots []*snapshot.Snapshot
	failures  int
	lastErr   string
}

// watchedEstimator is one Estimator of the watcher and what it said
// about each watched queue. The watcher's mu guards byKey.
type watchedEstimator struct {
	est   *Estimator
	byKey map[snapshot.QueueKey]*estimatorLog
}

func newEstimatorWatcher(tg config.Target, keys []snapshot.QueueKey) (*estimatorWatcher, error) {
	poller, err := newBrokerPoller(tg)
	if err != nil {
		return nil, err
	}
	w := &estimatorWatcher{poller: poller, keys: keys}
	w.waiting = w.watch(Config{
		Thresholds:    []time.Duration{accuracyThreshold},
		Buckets:       DefaultBuckets,
		MaxPoints:     DefaultMaxPoints,
		StatsInterval: tg.StatsInterval.Std(),
	})
	w.processed = w.watch(Config{
		Measure:       Processing,
		Thresholds:    []time.Duration{processingThreshold},
		Buckets:       DefaultProcessingBuckets,
		MaxPoints:     DefaultMaxPoints,
		StatsInterval: tg.StatsInterval.Std(),
	})
	return w, nil
}

// watch makes an Estimator of cfg whose pieces of the watched queues are
// recorded.
func (w *estimatorWatcher) watch(cfg Config) *watchedEstimator {
	we := &watchedEstimator{est: New(cfg), byKey: map[snapshot.QueueKey]*estimatorLog{}}
	for _, k := range w.keys {
		we.byKey[k] = &estimatorLog{}
	}
	we.est.SetRecorder(func(key snapshot.QueueKey, p Piece) {
		w.mu.Lock()
		defer w.mu.Unlock()
		if o := we.byKey[key]; o != nil {
			o.pieces = append(o.pieces, p)
		}
	})
	return we
}

// poll polls once and feeds a new snapshot to the Estimators. It reports
// whether the snapshot held every watched queue with its statistics.
func (w *estimatorWatcher) poll(ctx context.Context) (allKnown bool) {
	snap, up, lastErr := w.poller.poll(ctx)
	w.mu.Lock()
	if !up {
		w.failures++
		w.lastErr = lastErr
	}
	fresh := snap != nil
	if fresh {
		w.snapshots = append(w.snapshots, snap)
	}
	w.mu.Unlock()
	if !fresh {
		return false
	}

	for _, we := range []*watchedEstimator{w.waiting, w.processed} {
		we.est.Observe(snap) // calls the recorder, which takes w.mu
		w.mu.Lock()
		for _, e := range we.est.Estimates() {
			o := we.byKey[snapshot.QueueKey{Vhost: e.Vhost, Name: e.Name}]
			if o == nil || e.SampleTime.IsZero() {
				continue
			}
			o.oldest = append(o.oldest, oldestEstimate{sampleTime: e.SampleTime, age: e.OldestAge})
			o.final = e
		}
		w.mu.Unlock()
	}
	known := 0
	for _, q := range snap.Queues {
		if slices.Contains(w.keys, q.Key()) && q.StatsKnown {
			known++
		}
	}
	return known == len(w.keys)
}

// run polls every interval until ctx is done. It closes ready after the
// first poll that saw every watched queue.
func (w *estimatorWatcher) run(ctx context.Context, interval time.Duration, ready chan<- struct{}) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		if w.poll(ctx) && ready != nil {
			close(ready)
			ready = nil
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

var accuracyRuns atomic.Int64

// accuracyRun is what one run measured, per scenario in the order of
// the run's scenarios: the time-in-queue and the processing-time
// estimates against the truth. With WARREN_ACCURACY_PAIRED set,
// EveryHistory is the same from Estimators fed, at the same time, by
// polls of the scenarios' queues alone (see everyHistory).
type accuracyRun struct {
	Waiting    []accuracyResult
	Processing []processingResult
	// EveryHistory is nil unless the run was paired.
	EveryHistory *accuracyRun
}

// pairedRun reports whether runs are paired (WARREN_ACCURACY_PAIRED).
func pairedRun() bool { return os.Getenv("WARREN_ACCURACY_PAIRED") != "" }

// runAccuracy runs scenarios concurrently on node, whose
// collect_statistics_interval is statsInterval, with traffic lasting d,
// and compares what the Estimators say, read through the management
// API's statistics every accuracyPollInterval, with the truth. logf
// reports progress. An error means the harness could not run, not that
// an Estimator is wrong.
func runAccuracy(ctx context.Context, node *rabbittest.Node, statsInterval, d time.Duration,
	scenarios []trafficScenario, logf func(string, ...any)) (accuracyRun, error) {
	readings := []accuracyReading{managementReading}
	if pairedRun() {
		readings = append(readings, accuracyReading{source: config.SourceManagement, poll: accuracyPollInterval, everyHistory: true})
	}
	runs, err := runAccuracyReading(ctx, node, statsInterval, d, scenarios, readings, logf)
	if err != nil {
		return accuracyRun{}, err
	}
	if len(runs) > 1 {
		runs[0].EveryHistory = &runs[1]
	}
	return runs[0], nil
}

// accuracyReading is how one watcher of a run reads the broker: through
// which source, polled how often.
type accuracyReading struct {
	source string // config.SourceManagement or config.SourcePrometheus
	poll   time.Duration
	// everyHistory leaves the idle queues out of the watcher's target:
	// with only the scenarios' queues, most of which have something new
	// at every poll, every poll asks for every queue's history in its
	// listing, as every poll did before polls asked each busy queue's
	// history on its own. Fed the same traffic at the same time, its
	// Estimators tell what asking each queue on its own costs in
	// accuracy.
	everyHistory bool
}

// managementReading is production's default reading of a broker whose
// statistics are on, polled every accuracyPollInterval.
var managementReading = accuracyReading{source: config.SourceManagement, poll: accuracyPollInterval}

func (r accuracyReading) String() string {
	if r.everyHistory {
		return fmt.Sprintf("%s/%v/every-history", r.source, r.poll)
	}
	return fmt.Sprintf("%s/%v", r.source, r.poll)
}

// runAccuracyReading is runAccuracy with one watcher per reading, all
// watching the same traffic, and one accuracyRun per reading.
func runAccuracyReading(ctx context.Context, node *rabbittest.Node, statsInterval, d time.Duration,
	scenarios []trafficScenario, readings []accuracyReading, logf func(string, ...any)) ([]accuracyRun, error) {
	vhost := fmt.Sprintf("accuracy-%d", accuracyRuns.Add(1))
	url, keys, err := setUpAccuracyVhost(node, vhost, scenarios)
	if err != nil {
		return nil, err
	}
	watchers, stopPolling, err := startWatchers(ctx, node, vhost, statsInterval, keys, readings)
	if err != nil {
		return nil, err
	}
	defer stopPolling()
	// Let the empty queues' first samples into the history, so that
	// traffic starts strictly after it.
	if !sleepUntilOrDone(ctx, time.Now().Add(statsInterval+time.Second)) {
		return nil, ctx.Err()
	}

	logf("stats interval %v: traffic on %d queues of vhost %s for %v, read as %v", statsInterval, len(scenarios), vhost, d, readings)
	truths, start, err := runTraffic(ctx, url, scenarios, d)
	if err != nil {
		return nil, err
	}
	settle := settleTime(readings, statsInterval)
	logf("stats interval %v: traffic done; polling %v more", statsInterval, settle)
	if !sleepUntilOrDone(ctx, time.Now().Add(settle)) {
		return nil, ctx.Err()
	}
	stopPolling()

	// Traffic and polling are over: nothing writes to truths or the
	// watchers any more.
	runs := make([]accuracyRun, len(watchers))
	for i, w := range watchers {
		switch dir := os.Getenv("WARREN_ACCURACY_DUMP"); {
		case dir == "" || readings[i].everyHistory:
		case readings[i].source != config.SourceManagement:
			logf("read as %v: not dumped, its poll points carry no sample history to replay", readings[i])
		default:
			if err := dumpRun(dir, vhost, w, truths, scenarios, start); err != nil {
				return nil, err
			}
			logf("stats interval %v: samples, pieces and truth written to %s/%s-*.csv", statsInterval, dir, vhost)
		}
		runs[i] = compareRun(w, readings[i], statsInterval, start, scenarios, keys, truths)
	}
	return runs, nil
}

// setUpAccuracyVhost makes vhost with the scenarios' queues and
// accuracyIdleQueues idle ones, and returns its AMQP URL and the keys of
// the scenarios' queues.
func setUpAccuracyVhost(node *rabbittest.Node, vhost string, scenarios []trafficScenario) (string, []snapshot.QueueKey, error) {
	if err := node.AddVhost(vhost); err != nil {
		return "", nil, err
	}
	if err := node.SetPermissions(vhost, "guest", ".*", ".*", ".*"); err != nil {
		return "", nil, err
	}
	url := strings.TrimSuffix(node.AMQPURL, "/") + "/" + vhost
	if err := declareQueues(url, scenarios, accuracyIdleQueues); err != nil {
		return "", nil, err
	}
	keys := make([]snapshot.QueueKey, len(scenarios))
	for i, sc := range scenarios {
		keys[i] = snapshot.QueueKey{Vhost: vhost, Name: sc.name}
	}
	return url, keys, nil
}

// settleTime is how long a run polls after its traffic: two poll
// intervals of the slowest reading plus two stats intervals, long enough
// for the broker to emit and every watcher to fetch the last departures.
func settleTime(readings []accuracyReading, statsInterval time.Duration) time.Duration {
	var slowest time.Duration
	for _, r := range readings {
		slowest = max(slowest, r.poll)
	}
	return 2 * (slowest + statsInterval)
}

// startWatchers starts a watcher per reading, polling until stop is
// called, and returns once each has seen every watched queue with its
// statistics.
func startWatchers(ctx context.Context, node *rabbittest.Node, vhost string, statsInterval time.Duration,
	keys []snapshot.QueueKey, readings []accuracyReading) (watchers []*estimatorWatcher, stop func(), err error) {
	pollCtx, cancelPolling := context.WithCancel(ctx)
	var polling sync.WaitGroup
	stop = func() { cancelPolling(); polling.Wait() }
	ready := make([]chan struct{}, len(readings))
	for i, r := range readings {
		w, err := newEstimatorWatcher(accuracyTarget(node, vhost, statsInterval, r), keys)
		if err != nil {
			stop()
			return nil, nil, err
		}
		watchers, ready[i] = append(watchers, w), make(chan struct{})
		polling.Go(func() { w.run(pollCtx, r.poll, ready[i]) })
	}
	deadline := time.After(time.Minute)
	for i, r := range ready {
		select {
		case <-r:
		case <-deadline:
			stop()
			return nil, nil, fmt.Errorf("stats interval %v, read as %v: the collector never listed every scenario queue with statistics (last poll error: %q)",
				statsInterval, readings[i], watchers[i].lastErr)
		}
	}
	return watchers, stop, nil
}

// compareRun compares what w's Estimators said of each scenario's queue
// with its truth.
func compareRun(w *estimatorWatcher, reading accuracyReading, statsInterval time.Duration, start time.Time,
	scenarios []trafficScenario, keys []snapshot.QueueKey, truths []*groundTruth) accuracyRun {
	var run accuracyRun
	for i, sc := range scenarios {
		var final snapshot.Queue
		for _, q := range w.snapshots[len(w.snapshots)-1].Queues {
			if q.Key() == keys[i] {
				final = q
			}
		}
		r := compareWithTruth(sc, statsInterval, start, truths[i], w.waiting.byKey[keys[i]], final.Messages())
		r.Reading, r.Polls, r.FailedPolls = reading, len(w.snapshots), w.failures
		r.BrokerPublished, r.BrokerAcked, r.BrokerDepth = final.Counters.Published, final.Counters.Acked, final.Messages()
		run.Waiting = append(run.Waiting, r)
		pr := compareProcessing(sc, statsInterval, start, truths[i].settledDeliveries(), w.processed.byKey[keys[i]])
		pr.Reading, pr.BrokerDelivered, pr.BrokerAcked, pr.BrokerUnacked = reading, final.Counters.DeliveredManual, final.Counters.Acked, final.Unacked
		run.Processing = append(run.Processing, pr)
	}
	return run
}

// accuracyNode is the options of a private node that emits statistics
// every statsInterval and keeps their history at that resolution.
//
// Both settings are needed: collect_statistics_interval is how often the
// queues report, but the management API's sample history (what the
// collector asks for with lengths_incr and msg_rates_incr) is stored at
// the resolution of management.sample_retention_policies, 5 s by
// default whatever the collect interval. Asked for 1 s samples from such
// a node, the API repeats each stored value for 5 s and then jumps.
func accuracyNode(statsInterval time.Duration) rabbittest.Options {
	secs := max(1, int(statsInterval/time.Second))
	var retention strings.Builder
	for _, policy := range []string{"global", "basic", "detailed"} {
		fmt.Fprintf(&retention, "management.sample_retention_policies.%s.605 = %d\n", policy, secs)
	}
	return rabbittest.Options{StatsIntervalMS: int(statsInterval.Milliseconds()), ExtraConfig: retention.String()}
}

// dumpRun writes, for each scenario, what the estimate was built from
// next to the truth, as CSV files in dir, times in seconds since traffic
// started: <vhost>-<scenario>-samples.csv has every broker sample the
// Estimator saw (its publish counter, depth and completions) with the
// true counts of messages published, waiting and acked at the sample's
// timestamp;
// -pieces.csv has the Estimator's pieces; -truth.csv every message's
// publish and ack time and the receipt of its latest delivery (-1:
// never acked, no delivery outstanding or acked); and the processing
// side's files (processingDump).
// dumpCurves is the CSV of the curves one Estimator saw of key's queue:
// a header of poll, time and then columns (the sample's three values,
// then the truth's three), and a row for each sample samplesOf gives,
// each broker time once, in poll order, with truthAt's counts at its
// time. Times are since(t).
func dumpCurves(w *estimatorWatcher, key snapshot.QueueKey, since func(time.Time) float64, columns string,
	samplesOf func(*snapshot.Queue) []snapshot.Sample, truthAt func(time.Time) (int, int, int)) string {
	var b strings.Builder
	b.WriteString("poll,time," + columns + "\n")
	seen := map[time.Time]bool{}
	for poll, snap := range w.snapshots {
		for i := range snap.Queues {
			q := &snap.Queues[i]
			if q.Key() != key {
				continue
			}
			for _, s := range samplesOf(q) {
				if seen[s.Time] {
					continue
				}
				seen[s.Time] = true
				x, y, z := truthAt(s.Time)
				fmt.Fprintf(&b, "%d,%.3f,%d,%d,%d,%d,%d,%d\n", poll, since(s.Time), s.Published, s.Messages, s.Completed, x, y, z)
			}
		}
	}
	return b.String()
}

func dumpRun(dir, vhost string, w *estimatorWatcher, truths []*groundTruth, scenarios []trafficScenario, start time.Time) error {
	since := func(t time.Time) float64 { return t.Sub(start).Seconds() }
	for i, sc := range scenarios {
		key := snapshot.QueueKey{Vhost: vhost, Name: sc.name}
		msgs := truths[i].msgs
		var pieces, truth strings.Builder
		samples := dumpCurves(w, key, since, "published,messages,completed,true_published,true_messages,true_completed",
			func(q *snapshot.Queue) []snapshot.Sample { return q.Samples },
			func(t time.Time) (published, waiting, acked int) {
				for _, m := range msgs {
					if !m.published.After(t) {
						published++
					}
					if !m.acked.IsZero() && !m.acked.After(t) {
						acked++
					}
				}
				return published, published - acked, acked
			})
		pieces.WriteString("departed,count,wait_from,wait_to,approximate\n")
		for _, p := range w.waiting.byKey[key].pieces {
			fmt.Fprintf(&pieces, "%.3f,%.3f,%.3f,%.3f,%v\n", since(p.DepartedAt), p.Count, p.WaitFrom.Seconds(), p.WaitTo.Seconds(), p.Approximate)
		}
		truth.WriteString("seq,published,acked,delivered\n")
		for seq, m := range msgs {
			acked, delivered := -1.0, -1.0
			if !m.acked.IsZero() {
				acked = since(m.acked)
			}
			if !m.delivered.IsZero() {
				delivered = since(m.delivered)
			}
			fmt.Fprintf(&truth, "%d,%.3f,%.3f,%.3f\n", seq, since(m.published), acked, delivered)
		}
		files := processingDump(w, key, truths[i], start)
		files["samples"], files["pieces"], files["truth"] = samples, pieces.String(), truth.String()
		for suffix, data := range files {
			name := filepath.Join(dir, fmt.Sprintf("%s-%s-%s.csv", vhost, sc.name, suffix))
			if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// accuracyTarget is a collector target for the run's vhost on node,
// read as reading says.
func accuracyTarget(node *rabbittest.Node, vhost string, statsInterval time.Duration, reading accuracyReading) config.Target {
	include, err := config.NewRegexp(vhost)
	if err != nil {
		panic(err)
	}
	tg := config.Target{
		Name:           "accuracy",
		ManagementURL:  node.MgmtURL,
		Username:       "guest",
		Password:       "guest",
		Timeout:        config.Duration(10 * time.Second),
		PollInterval:   config.Duration(reading.poll),
		StatsInterval:  config.Duration(statsInterval),
		Vhosts:         config.Filter{Include: include},
		ConsumerStatus: config.ConsumerStatusConfig{Window: config.Duration(time.Minute)},
		Source:         reading.source,
		Prometheus:     config.PrometheusConfig{URLs: []string{fmt.Sprintf("http://127.0.0.1:%d", node.PromPort)}},
	}
	if reading.everyHistory {
		idle, err := config.NewRegexp("idle-.*")
		if err != nil {
			panic(err)
		}
		tg.Name += "-every-history"
		tg.Queues.Exclude = idle
	}
	return tg
}

// accuracyResult compares the truth and the estimate for one scenario.
// Durations are times in queue; shares are in [0, 1].
type accuracyResult struct {
	Scenario      string
	StatsInterval time.Duration
	// Reading is how the Estimator's snapshots were read.
	Reading accuracyReading

	// TrueAcked messages were acked during the run and TrueExpired
	// expired (in a TTL scenario: every message never acked, as the
	// settle period outlasts the TTL); the Estimator reported
	// EstDeparted departures, EstUnprocessed of them not completions, and
	// ApproxDeparted of them flagged Approximate (arrived before the
	// queue's history began: with the Estimator watching from before the
	// traffic, there should be none).
	TrueAcked      int
	TrueExpired    int
	EstUnprocessed float64
	TruePublished  int
	EstDeparted    float64
	ApproxDeparted float64
	Requeued, Lost int
	// What the broker's counters said at the last poll: messages routed
	// into the queue, acks, and the depth (ready plus unacked).
	BrokerPublished, BrokerAcked uint64
	BrokerDepth                  int64

	TrueP50, EstP50 time.Duration
	TrueP95, EstP95 time.Duration
	TrueMax, EstMax time.Duration

	// Share of departed messages processed within accuracyThreshold:
	// true from the acked messages, estimated from the pieces; an expired
	// message departed, unprocessed.
	TrueWithin, EstWithin float64

	// Withheld is the final estimate's NonFIFO when it was withheld.
	Withheld string

	// The processed-within SLO counters at the end of the run, where a
	// message still waiting past the threshold is already bad: the
	// Estimator's Within/Total, and the truth counted the same way at the
	// same (broker) time.
	TrueSLOShare, EstSLOShare float64

	// The oldest-age series: the estimate at each poll against the true
	// oldest age at the estimate's SampleTime. Bias is the mean of
	// estimate − truth.
	OldestMAE, OldestMaxErr, OldestBias time.Duration
	OldestPolls                         int

	Polls, FailedPolls int
}

// ShareErrorPP is the error of the estimated share within the threshold,
// in percentage points.
func (r accuracyResult) ShareErrorPP() float64 { return 100 * (r.EstWithin - r.TrueWithin) }

// remaining is how many messages the queue still held at the end: in a
// TTL scenario, the never-acked messages that did not expire (the
// newest; what the consumer held when it closed goes back to the queue
// and may sit there past its TTL until the queue next looks).
func compareWithTruth(sc trafficScenario, statsInterval time.Duration, start time.Time, tr *groundTruth, o *estimatorLog, remaining int64) accuracyResult {
	r := accuracyResult{Scenario: sc.name, StatsInterval: statsInterval, Requeued: tr.requeued, Lost: tr.lost}
	if o.final.Withheld {
		r.Withheld = o.final.NonFIFO
	}

	var waits []time.Duration
	for _, m := range tr.msgs {
		if !m.acked.IsZero() {
			waits = append(waits, m.acked.Sub(m.published))
		}
	}
	slices.Sort(waits)
	r.TrueAcked, r.TruePublished = len(waits), len(tr.msgs)
	if sc.ttl > 0 {
		r.TrueExpired = max(0, r.TruePublished-r.TrueAcked-int(remaining))
	}
	if len(waits) > 0 {
		r.TrueP50, r.TrueP95, r.TrueMax = trueQuantile(waits, 0.5), trueQuantile(waits, 0.95), waits[len(waits)-1]
		within, _ := slices.BinarySearch(waits, accuracyThreshold+1)
		r.TrueWithin = float64(within) / float64(len(waits)+r.TrueExpired)
	}

	est := pieceDistribution(o.pieces)
	r.EstDeparted = est.total()
	for _, p := range o.pieces {
		if p.Approximate {
			r.ApproxDeparted += p.Count
		}
		r.EstUnprocessed += p.Unprocessed
	}
	if r.EstDeparted > 0 {
		r.EstP50, r.EstP95, r.EstMax = est.quantile(0.5), est.quantile(0.95), est.max()
		r.EstWithin = est.processedWithin(accuracyThreshold) / r.EstDeparted
	}

	if f := o.final; len(f.Total) > 0 && f.Total[0] > 0 {
		r.EstSLOShare = f.Within[0] / f.Total[0]
		if good, total := trueSLOCounters(tr.msgs, f.SampleTime); total > 0 {
			r.TrueSLOShare = good / total
		}
	}

	r.OldestMAE, r.OldestMaxErr, r.OldestBias, r.OldestPolls = oldestErrors(o.oldest, start,
		func(t time.Time) time.Duration { return trueOldestAge(tr.msgs, t, sc.ttl) })
	return r
}

// oldestErrors compares the oldest-age series from traffic's start on
// with the truth at each estimate's SampleTime: the mean absolute error,
// the largest, the mean of estimate − truth, and over how many polls.
func oldestErrors(series []oldestEstimate, start time.Time, truth func(time.Time) time.Duration) (mae, maxErr, bias time.Duration, polls int) {
	var sumAbs, sum time.Duration
	for _, e := range series {
		if e.sampleTime.Before(start) {
			continue
		}
		diff := e.age - truth(e.sampleTime)
		sum += diff
		sumAbs += diff.Abs()
		maxErr = max(maxErr, diff.Abs())
		polls++
	}
	if polls > 0 {
		mae, bias = sumAbs/time.Duration(polls), sum/time.Duration(polls)
	}
	return mae, maxErr, bias, polls
}

// trueSLOCounters counts the truth as the processed-within counters do at
// t: a message acked by t is good if it waited at most the threshold; one
// acked by t after waiting longer, or still waiting at t for longer, is
// bad.
func trueSLOCounters(msgs []trueMessage, t time.Time) (good, total float64) {
	for _, m := range msgs {
		switch {
		case m.published.After(t):
		case !m.acked.IsZero() && !m.acked.After(t):
			total++
			if m.acked.Sub(m.published) <= accuracyThreshold {
				good++
			}
		case t.Sub(m.published) > accuracyThreshold:
			total++
		}
	}
	return good, total
}

// trueQuantile is the nearest-rank q-quantile of sorted.
func trueQuantile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// pieceDist is the Estimator's distribution of waits: a mixture of
// uniform distributions, one per piece, weighted by the piece's count.
type pieceDist []Piece

func pieceDistribution(pieces []Piece) pieceDist {
	d := make(pieceDist, 0, len(pieces))
	for _, p := range pieces {
		if p.Count <= 0 {
			continue
		}
		if p.WaitFrom > p.WaitTo {
			p.WaitFrom, p.WaitTo = p.WaitTo, p.WaitFrom
		}
		d = append(d, p)
	}
	return d
}

func (d pieceDist) total() float64 {
	var n float64
	for _, p := range d {
		n += p.Count
	}
	return n
}

// atMost is how many messages waited at most w.
func (d pieceDist) atMost(w time.Duration) float64 {
	var n float64
	for _, p := range d {
		switch {
		case w >= p.WaitTo:
			n += p.Count
		case w >= p.WaitFrom:
			n += p.Count * float64(w-p.WaitFrom) / float64(p.WaitTo-p.WaitFrom)
		}
	}
	return n
}

// processedWithin is how many messages were processed (not Unprocessed)
// within w: of each piece, the completed share of those within w.
func (d pieceDist) processedWithin(w time.Duration) float64 {
	var n float64
	for _, p := range d {
		n += pieceDist{p}.atMost(w) * (1 - p.Unprocessed/p.Count)
	}
	return n
}

func (d pieceDist) max() time.Duration {
	return slices.MaxFunc(d, func(a, b Piece) int { return cmp.Compare(a.WaitTo, b.WaitTo) }).WaitTo
}

// quantile is the smallest wait w with atMost(w) ≥ q × total, found by
// bisection to the nanosecond (atMost is continuous and non-decreasing).
func (d pieceDist) quantile(q float64) time.Duration {
	want := q * d.total()
	lo, hi := time.Duration(0), d.max()
	for lo < hi {
		mid := lo + (hi-lo)/2
		if d.atMost(mid) >= want {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// accuracyTable prints results as a table, one row per scenario.
func accuracyTable(results []accuracyResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-21s %6s %15s %11s %15s %15s %15s %22s %15s %20s\n",
		"scenario", "stats", "read", "acked t/e", "p50 t/e (s)", "p95 t/e (s)", "max t/e (s)",
		fmt.Sprintf("≤%v t/e (err pp)", accuracyThreshold), "slo t/e", "oldest mae/max/bias")
	for _, r := range results {
		b.WriteString(r.row())
		b.WriteByte('\n')
	}
	return b.String()
}

func (r accuracyResult) row() string {
	pair := func(a, b time.Duration) string { return fmt.Sprintf("%.2f/%.2f", a.Seconds(), b.Seconds()) }
	row := fmt.Sprintf("%-21s %6v %15v %11s %15s %15s %15s %22s %15s %20s",
		r.Scenario, r.StatsInterval, r.Reading,
		fmt.Sprintf("%d/%.0f", r.TrueAcked+r.TrueExpired, r.EstDeparted),
		pair(r.TrueP50, r.EstP50), pair(r.TrueP95, r.EstP95), pair(r.TrueMax, r.EstMax),
		fmt.Sprintf("%.1f%%/%.1f%% (%+.2f)", 100*r.TrueWithin, 100*r.EstWithin, r.ShareErrorPP()),
		fmt.Sprintf("%.1f%%/%.1f%%", 100*r.TrueSLOShare, 100*r.EstSLOShare),
		fmt.Sprintf("%.2f/%.2f/%+.2f", r.OldestMAE.Seconds(), r.OldestMaxErr.Seconds(), r.OldestBias.Seconds()))
	if r.TrueExpired > 0 || r.EstUnprocessed > 0 {
		row += fmt.Sprintf("  expired t/e %d/%.0f", r.TrueExpired, r.EstUnprocessed)
	}
	if r.Withheld != "" {
		row += "  withheld: " + r.Withheld
	}
	return row
}
