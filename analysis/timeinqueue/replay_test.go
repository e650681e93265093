package timeinqueue

import (
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warrenhq/warren/snapshot"
)

// TestReplayDumpedRuns feeds the broker samples of runs dumped with
// WARREN_ACCURACY_DUMP to fresh Estimators of time in queue and of
// processing time, poll by poll as the run fed them, and compares what
// they say with the dumped truth: the accuracy tables of those runs, for
// the Estimator as it is now, in a second and without a broker.
// WARREN_ACCURACY_REPLAY names the dump directory; the test only runs
// when it is set. Dumps without the processing side's files replay time
// in queue only.
func TestReplayDumpedRuns(t *testing.T) {
	dir := os.Getenv("WARREN_ACCURACY_REPLAY")
	if dir == "" {
		t.Skip("set WARREN_ACCURACY_REPLAY to a directory written by WARREN_ACCURACY_DUMP")
	}
	runs, err := loadDumps(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) == 0 {
		t.Fatalf("no dumped runs in %s", dir)
	}
	var results []accuracyResult
	var processing []processingResult
	for _, run := range runs {
		waiting, processed := run.replay()
		results, processing = append(results, waiting...), append(processing, processed...)
	}
	t.Logf("replayed %d runs from %s:\n%s", len(runs), dir, accuracyTable(results))
	if len(processing) > 0 {
		t.Logf("processing time:\n%s", processingTable(processing))
	}
}

// dumpedRun is one run's dump: per scenario, its samples by poll and its
// truth.
type dumpedRun struct {
	vhost         string
	statsInterval time.Duration
	start         time.Time
	scenarios     []dumpedScenario
}

type dumpedScenario struct {
	name, queueType string
	samples         []dumpedSample
	truth           []trueMessage
	// The processing side, where the dump has it: the delivery curves
	// (Published the manual-ack deliveries, Messages the unacknowledged,
	// Completed the acks) and every settled delivery.
	deliveryCurves []dumpedSample
	deliveries     []trueDelivery
}

type dumpedSample struct {
	poll int
	snapshot.Sample
}

func loadDumps(dir string) ([]*dumpedRun, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*-samples.csv"))
	if err != nil {
		return nil, err
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s string) (time.Time, error) {
		// The dump has milliseconds.
		secs, err := strconv.ParseFloat(s, 64)
		return start.Add(time.Duration(math.Round(secs*1000)) * time.Millisecond), err
	}
	byVhost := map[string]*dumpedRun{}
	types := map[string]string{}
	for _, sc := range accuracyScenarios(time.Minute) {
		types[sc.name] = sc.queueType
	}
	for _, name := range names {
		base := strings.TrimSuffix(filepath.Base(name), "-samples.csv")
		var vhost, scenario string
		for sc := range types {
			if strings.HasSuffix(base, "-"+sc) && len(sc) > len(scenario) {
				vhost, scenario = strings.TrimSuffix(base, "-"+sc), sc
			}
		}
		if scenario == "" {
			return nil, fmt.Errorf("%s: not a scenario of the harness", name)
		}
		sc := dumpedScenario{name: scenario, queueType: types[scenario]}
		if sc.samples, err = readSamples(name, at); err != nil {
			return nil, err
		}
		if err := sc.loadProcessing(filepath.Join(dir, base), at); err != nil {
			return nil, err
		}
		rows, err := readCSV(filepath.Join(dir, base+"-truth.csv"))
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			pub, err := at(r[1])
			if err != nil {
				return nil, err
			}
			m := trueMessage{published: pub}
			if r[2] != "-1.000" {
				if m.acked, err = at(r[2]); err != nil {
					return nil, err
				}
			}
			sc.truth = append(sc.truth, m)
		}
		run := byVhost[vhost]
		if run == nil {
			run = &dumpedRun{vhost: vhost, start: start}
			byVhost[vhost] = run
		}
		run.scenarios = append(run.scenarios, sc)
	}
	var runs []*dumpedRun
	for _, run := range byVhost {
		slices.SortFunc(run.scenarios, func(a, b dumpedScenario) int { return strings.Compare(a.name, b.name) })
		var spacing time.Duration
		for _, sc := range run.scenarios {
			spacing = sampleSpacing(samplesOf(sc.samples), spacing)
		}
		run.statsInterval = spacing
		runs = append(runs, run)
	}
	slices.SortFunc(runs, func(a, b *dumpedRun) int {
		return cmp.Or(cmp.Compare(a.statsInterval, b.statsInterval), strings.Compare(a.vhost, b.vhost))
	})
	return runs, nil
}

// readSamples reads a dumped sample file: per row the poll, the time,
// then the arrival, depth and completion curves.
func readSamples(name string, at func(string) (time.Time, error)) ([]dumpedSample, error) {
	rows, err := readCSV(name)
	if err != nil {
		return nil, err
	}
	var out []dumpedSample
	for _, r := range rows {
		poll, _ := strconv.Atoi(r[0])
		tm, err := at(r[1])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		p, _ := strconv.ParseUint(r[2], 10, 64)
		m, _ := strconv.ParseInt(r[3], 10, 64)
		c, _ := strconv.ParseUint(r[4], 10, 64)
		out = append(out, dumpedSample{poll: poll, Sample: snapshot.Sample{Time: tm, Published: p, Messages: m, Completed: c}})
	}
	return out, nil
}

// loadProcessing reads the processing side of the scenario dumped as
// base-*.csv, if the dump has it.
func (sc *dumpedScenario) loadProcessing(base string, at func(string) (time.Time, error)) error {
	name := base + "-delivery-curves.csv"
	if _, err := os.Stat(name); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var err error
	if sc.deliveryCurves, err = readSamples(name, at); err != nil {
		return err
	}
	rows, err := readCSV(base + "-deliveries.csv")
	if err != nil {
		return err
	}
	for _, r := range rows {
		var d trueDelivery
		if d.delivered, err = at(r[0]); err != nil {
			return err
		}
		if d.settled, err = at(r[1]); err != nil {
			return err
		}
		d.acked = r[2] == "true"
		sc.deliveries = append(sc.deliveries, d)
	}
	return nil
}

func samplesOf(d []dumpedSample) []snapshot.Sample {
	out := make([]snapshot.Sample, len(d))
	for i, s := range d {
		out[i] = s.Sample
	}
	return out
}

func readCSV(name string) ([][]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return rows[1:], nil
}

// replay feeds the run's samples to fresh Estimators, one snapshot per
// poll holding what that poll first brought, and compares with the
// truth: time in queue for every scenario, processing time for those
// whose dump has its side.
func (run *dumpedRun) replay() ([]accuracyResult, []processingResult) {
	waiting := replayLog(Config{Thresholds: []time.Duration{accuracyThreshold}, Buckets: DefaultBuckets, MaxPoints: DefaultMaxPoints}, run.scenarios)
	processed := replayLog(Config{Measure: Processing, Thresholds: []time.Duration{processingThreshold}, Buckets: DefaultProcessingBuckets, MaxPoints: DefaultMaxPoints}, run.scenarios)
	lastPoll := 0
	for _, sc := range run.scenarios {
		for _, s := range slices.Concat(sc.samples, sc.deliveryCurves) {
			lastPoll = max(lastPoll, s.poll)
		}
	}
	seen, seenDeliveries := map[string]snapshot.Sample{}, map[string]snapshot.Sample{}
	for poll := 0; poll <= lastPoll; poll++ {
		snap := &snapshot.Snapshot{}
		for _, sc := range run.scenarios {
			q := snapshot.Queue{Vhost: run.vhost, Name: sc.name, Type: sc.queueType, StatsKnown: true}
			var ok bool
			if q.Samples, ok = pollSamples(sc.samples, poll, seen, sc.name); !ok {
				continue
			}
			last := q.Samples[len(q.Samples)-1]
			q.Counters = snapshot.Counters{Published: last.Published, Completed: last.Completed}
			q.Ready = last.Messages
			if q.DeliverySamples, ok = pollSamples(sc.deliveryCurves, poll, seenDeliveries, sc.name); ok {
				d := q.DeliverySamples[len(q.DeliverySamples)-1]
				q.Counters.DeliveredManual, q.Counters.Acked = d.Published, d.Completed
				q.Ready, q.Unacked = max(0, q.Ready-d.Messages), d.Messages
			}
			snap.Queues = append(snap.Queues, q)
			snap.Time = later(snap.Time, last.Time)
		}
		if len(snap.Queues) == 0 {
			continue
		}
		waiting.observe(snap)
		processed.observe(snap)
	}
	var results []accuracyResult
	var processing []processingResult
	for _, sc := range run.scenarios {
		tr := &groundTruth{msgs: sc.truth}
		var remaining int64
		if n := len(sc.samples); n > 0 {
			remaining = sc.samples[n-1].Messages
		}
		r := compareWithTruth(scenarioNamed(sc.name), run.statsInterval, run.start, tr, waiting.logs[sc.name], remaining)
		r.Reading = managementReading // dumps are of management readings only
		results = append(results, r)
		if len(sc.deliveryCurves) > 0 {
			pr := compareProcessing(scenarioNamed(sc.name), run.statsInterval, run.start, sc.deliveries, processed.logs[sc.name])
			pr.Reading = managementReading
			processing = append(processing, pr)
		}
	}
	return results, processing
}

// pollSamples are the samples of one scenario's curve that poll first
// brought, or, when it brought none, the newest seen before (the poll's
// samples were all seen before); false when there are none yet. seen
// keeps the newest per scenario.
func pollSamples(curve []dumpedSample, poll int, seen map[string]snapshot.Sample, scenario string) ([]snapshot.Sample, bool) {
	var out []snapshot.Sample
	for _, s := range curve {
		if s.poll == poll {
			out = append(out, s.Sample)
		}
	}
	if len(out) == 0 {
		prev, ok := seen[scenario]
		if !ok {
			return nil, false
		}
		out = []snapshot.Sample{prev}
	}
	seen[scenario] = out[len(out)-1]
	return out, true
}

// replayed is an Estimator replaying dumps and what it said about each
// scenario's queue.
type replayed struct {
	est  *Estimator
	logs map[string]*estimatorLog
}

func replayLog(cfg Config, scenarios []dumpedScenario) replayed {
	r := replayed{est: New(cfg), logs: map[string]*estimatorLog{}}
	for _, sc := range scenarios {
		r.logs[sc.name] = &estimatorLog{}
	}
	r.est.SetRecorder(func(k snapshot.QueueKey, p Piece) { r.logs[k.Name].pieces = append(r.logs[k.Name].pieces, p) })
	return r
}

func (r replayed) observe(snap *snapshot.Snapshot) {
	r.est.Observe(snap)
	for _, e := range r.est.Estimates() {
		if o := r.logs[e.Name]; o != nil && !e.SampleTime.IsZero() {
			o.oldest = append(o.oldest, oldestEstimate{sampleTime: e.SampleTime, age: e.OldestAge})
			o.final = e
		}
	}
}
