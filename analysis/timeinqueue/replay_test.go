package timeinqueue

import (
	"cmp"
	"encoding/csv"
	"fmt"
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
// WARREN_ACCURACY_DUMP to a fresh Estimator, poll by poll as the run fed
// them, and compares what it says with the dumped truth: the accuracy
// table of those runs, for the Estimator as it is now, in a second and
// without a broker. WARREN_ACCURACY_REPLAY names the dump directory; the
// test only runs when it is set.
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
	for _, run := range runs {
		results = append(results, run.replay()...)
	}
	t.Logf("replayed %d runs from %s:\n%s", len(runs), dir, accuracyTable(results))
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
		rows, err := readCSV(name)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			poll, _ := strconv.Atoi(r[0])
			tm, err := at(r[1])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			p, _ := strconv.ParseUint(r[2], 10, 64)
			m, _ := strconv.ParseInt(r[3], 10, 64)
			c, _ := strconv.ParseUint(r[4], 10, 64)
			sc.samples = append(sc.samples, dumpedSample{poll: poll, Sample: snapshot.Sample{Time: tm, Published: p, Messages: m, Completed: c}})
		}
		rows, err = readCSV(filepath.Join(dir, base+"-truth.csv"))
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

// replay feeds the run's samples to a fresh Estimator, one snapshot per
// poll holding what that poll first brought, and compares with the truth.
func (run *dumpedRun) replay() []accuracyResult {
	est := New(Config{Thresholds: []time.Duration{accuracyThreshold}, Buckets: DefaultBuckets, MaxPoints: DefaultMaxPoints})
	logs := map[string]*estimatorLog{}
	for _, sc := range run.scenarios {
		logs[sc.name] = &estimatorLog{}
	}
	est.SetRecorder(func(k snapshot.QueueKey, p Piece) { logs[k.Name].pieces = append(logs[k.Name].pieces, p) })
	lastPoll := 0
	for _, sc := range run.scenarios {
		for _, s := range sc.samples {
			lastPoll = max(lastPoll, s.poll)
		}
	}
	seen := map[string]snapshot.Sample{}
	for poll := 0; poll <= lastPoll; poll++ {
		snap := &snapshot.Snapshot{}
		for _, sc := range run.scenarios {
			q := snapshot.Queue{Vhost: run.vhost, Name: sc.name, Type: sc.queueType, StatsKnown: true}
			for _, s := range sc.samples {
				if s.poll == poll {
					q.Samples = append(q.Samples, s.Sample)
				}
			}
			if len(q.Samples) == 0 {
				// Nothing new: the poll brought samples seen before.
				prev, ok := seen[sc.name]
				if !ok {
					continue
				}
				q.Samples = []snapshot.Sample{prev}
			}
			seen[sc.name] = q.Samples[len(q.Samples)-1]
			last := q.Samples[len(q.Samples)-1]
			q.Counters = snapshot.Counters{Published: last.Published, Completed: last.Completed}
			q.Ready = last.Messages
			snap.Queues = append(snap.Queues, q)
			snap.Time = later(snap.Time, last.Time)
		}
		if len(snap.Queues) == 0 {
			continue
		}
		est.Observe(snap)
		for _, e := range est.Estimates() {
			if o := logs[e.Name]; o != nil && !e.SampleTime.IsZero() {
				o.oldest = append(o.oldest, oldestEstimate{sampleTime: e.SampleTime, age: e.OldestAge})
				o.final = e
			}
		}
	}
	var results []accuracyResult
	for _, sc := range run.scenarios {
		tr := &groundTruth{msgs: sc.truth}
		var remaining int64
		if n := len(sc.samples); n > 0 {
			remaining = sc.samples[n-1].Messages
		}
		results = append(results, compareWithTruth(scenarioNamed(sc.name), run.statsInterval, run.start, tr, logs[sc.name], remaining))
	}
	return results
}
