package timeinqueue

import (
	"context"
	"fmt"
	"math"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/warrenhq/warren/internal/testenv/rabbittest"
)

// BenchmarkTimeInQueueAccuracy measures the estimate against ground truth
// at the 1 s stats interval of the tests and at the broker's default 5 s,
// each on a private node of its own (whose sample history is kept at the
// same resolution, see accuracyNode), both at once, three minutes of
// traffic each. It logs the table (and writes it to the file named by
// WARREN_ACCURACY_TABLE, if set) and reports, per stats interval, the
// worst share-within error in percentage points and the worst p95 error
// in seconds. Run it with
//
//	go test ./analysis/timeinqueue/ -run '^$' -bench Accuracy -benchtime 1x
func BenchmarkTimeInQueueAccuracy(b *testing.B) {
	d := accuracyDuration(b)
	intervals := []time.Duration{time.Second, 5 * time.Second}
	nodes := startNodes(b, intervals)

	var results []accuracyResult
	var processing []processingResult
	for b.Loop() {
		runs := make([]accuracyRun, len(intervals))
		errs := make([]error, len(intervals))
		var wg sync.WaitGroup
		for i, interval := range intervals {
			wg.Go(func() {
				runs[i], errs[i] = runAccuracy(context.Background(), nodes[i], interval, d, accuracyScenarios(d), b.Logf)
			})
		}
		wg.Wait()
		results, processing = nil, nil
		for i, err := range errs {
			if err != nil {
				b.Fatalf("harness: %v", err)
			}
			results = append(results, runs[i].Waiting...)
			processing = append(processing, runs[i].Processing...)
		}
	}

	table := accuracyTable(results)
	b.Logf("time in queue, true/estimated (t/e), %v of traffic, polled every %v:\n%s", d, accuracyPollInterval, table)
	b.Logf("processing time, true/estimated (t/e):\n%s", processingTable(processing))
	for _, r := range results {
		for _, p := range harnessProblems(r, d) {
			b.Errorf("harness: %s at %v: %s", r.Scenario, r.StatsInterval, p)
		}
	}
	if path := os.Getenv("WARREN_ACCURACY_TABLE"); path != "" {
		if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
			b.Errorf("write the table: %v", err)
		}
	}
	for _, interval := range intervals {
		var sharePP, p95 float64
		for _, r := range results {
			if r.StatsInterval == interval {
				sharePP = max(sharePP, math.Abs(r.ShareErrorPP()))
				p95 = max(p95, (r.EstP95 - r.TrueP95).Abs().Seconds())
			}
		}
		b.ReportMetric(sharePP, fmt.Sprintf("share-err-pp/stats=%v", interval))
		b.ReportMetric(p95, fmt.Sprintf("p95-err-s/stats=%v", interval))
	}
}

// startNodes starts one private node per stats interval, at once.
func startNodes(b *testing.B, intervals []time.Duration) []*rabbittest.Node {
	nodes := make([]*rabbittest.Node, len(intervals))
	errs := make([]error, len(intervals))
	var wg sync.WaitGroup
	for i, interval := range intervals {
		wg.Go(func() {
			nodes[i], errs[i] = rabbittest.Start(accuracyNode(interval))
		})
	}
	wg.Wait()
	for i, n := range nodes {
		if n != nil {
			b.Cleanup(n.Destroy)
		}
		if errs[i] != nil {
			b.Fatal(errs[i])
		}
	}
	return nodes
}
