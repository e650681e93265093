package timeinqueue

import (
	"slices"
	"testing"
	"time"

	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/testenv/rabbittest"
)

// pluginStatsInterval is the stats-off node's collect_statistics_interval:
// the broker's default, as installations that turn the management
// statistics off run it. It is how often a queue reports its depth to
// the plugin; the plugin's counters are live.
const pluginStatsInterval = 5 * time.Second

// pluginAccuracyDuration is the default traffic of the plugin run,
// shorter than the management run's: it runs in `make test` too.
const pluginAccuracyDuration = 2 * time.Minute

// pluginReadings poll the plugin as the management run polls the
// management API, and at warren's default poll interval: without sample
// history the poll interval is the estimate's resolution.
var pluginReadings = []accuracyReading{
	{source: config.SourcePrometheus, poll: accuracyPollInterval},
	{source: config.SourcePrometheus, poll: 15 * time.Second},
}

// pluginScenarios are the scenarios of the plugin run: the single-
// consumer FIFO ones of the issue.
func pluginScenarios(d time.Duration) []trafficScenario {
	names := []string{"steady", "slow-consumer", "stop-resume", "bursty", "quorum-slow-consumer"}
	var out []trafficScenario
	for _, sc := range accuracyScenarios(d) {
		if slices.Contains(names, sc.name) {
			out = append(out, sc)
		}
	}
	return out
}

// pluginGoal is what the estimate from the plugin's 5 s poll points is
// held to: for each measure the tightest of the issue's goals it met in
// every recorded run (docs/time-in-queue.md). The share within 10 s to
// the goal at a 5 s resolution, ±2 pp: steady, slow-consumer,
// stop-resume and quorum were off by at most 1.08 pp over four runs,
// past the 1 s goal's 1 pp on a loaded machine. The p95 and the oldest
// age to the 1 s goal, max(10%, 1 s) and 1 s on average: their errors
// were at most 0.82 s (3% of stop-resume's 27 s) and 0.44 s.
var pluginGoal = accuracyTolerance{SharePP: 2, P95Rel: issueGoal.P95Rel, P95Abs: issueGoal.P95Abs, OldestMAE: issueGoal.OldestMAE}

// pluginBurstTolerance is looser on the bursty scenario's share only.
// From poll points the estimator places each burst where the live
// counters of two polls 5 s apart say the consumer got busy; four runs
// placed it up to 0.3 s late, waits that short near the threshold
// (p95 12.50 against 12.81 s in the worst), and each tenth of a second
// moves 0.75 pp (burstTolerance): +0.33, +0.67, +1.68 and +3.03 pp, the
// larger on a loaded machine. 4 pp is half a second, a tenth of the poll
// interval.
var pluginBurstTolerance = accuracyTolerance{SharePP: 4, P95Rel: pluginGoal.P95Rel, P95Abs: pluginGoal.P95Abs, OldestMAE: pluginGoal.OldestMAE}

// TestEstimateFromThePluginOnAStatsOffBrokerMatchesGroundTruth runs the
// steady, slow-consumer, stop-resume, bursty and quorum scenarios on a
// node whose management statistics are off
// (management_agent.disable_metrics_collector = true), its stats interval
// the default 5 s, for two minutes of traffic, and reads them through the
// rabbitmq_prometheus plugin: one point per poll on warren's clock, no
// sample history, polled every 5 s and every 15 s from the same traffic.
//
// Every departure must be accounted for at both poll intervals. The
// estimate from 5 s polls is held to pluginGoal, the bursty scenario's
// share to pluginBurstTolerance. The one from 15 s polls
// (warren's default) is reported, held to no bound: no goal of the issue
// is for a resolution that coarse, and a burst that drains between two
// polls leaves no backlog at either, so its waits are estimated as if it
// had arrived evenly (+13.6 to +15.8 pp in the bursty scenario).
func TestEstimateFromThePluginOnAStatsOffBrokerMatchesGroundTruth(t *testing.T) {
	if testing.Short() {
		t.Skip("runs minutes of real traffic through a broker")
	}
	d := accuracyDurationOr(t, pluginAccuracyDuration)
	node := rabbittest.StartT(t, rabbittest.Options{
		StatsIntervalMS: int(pluginStatsInterval.Milliseconds()),
		ExtraConfig:     "management_agent.disable_metrics_collector = true",
	})
	runs, err := runAccuracyReading(t.Context(), node, pluginStatsInterval, d, pluginScenarios(d), pluginReadings, t.Logf)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	var waiting []accuracyResult
	var processing []processingResult
	for _, run := range runs {
		waiting, processing = append(waiting, run.Waiting...), append(processing, run.Processing...)
	}
	t.Logf("time in queue from the plugin, true/estimated (t/e), %v of traffic:\n%s", d, accuracyTable(waiting))
	t.Logf("processing time from the plugin, true/estimated (t/e), same run:\n%s", processingTable(processing))
	for _, r := range waiting {
		t.Run(r.Reading.String()+"/"+r.Scenario, func(t *testing.T) {
			for _, p := range harnessProblems(r, d) {
				t.Errorf("harness: %s", p)
			}
			if r.Reading.poll > accuracyPollInterval {
				checkDepartures(t, r)
				return
			}
			tol := pluginGoal
			if r.Scenario == "bursty" {
				tol = pluginBurstTolerance
			}
			checkAccuracy(t, r, tol)
		})
	}
}
