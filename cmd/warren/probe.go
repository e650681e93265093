package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/pipeline"
	"github.com/warrenhq/warren/probes"
)

// runProbeCommand runs count probe rounds on every target in the
// foreground and prints a table: the operator's first tool when someone
// says "RabbitMQ is slow". It exits 1 if any round failed.
func runProbeCommand(cfg *config.Config, count int, interval time.Duration, stdout io.Writer, logger *slog.Logger) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	metrics := probes.NewMetrics()
	pollMetrics := collector.NewMetrics()
	var probers []*probes.Prober
	for _, t := range cfg.Targets {
		t.Probes.Enabled = nil // asked for explicitly: probe every target
		target, err := pipeline.New(t, pipeline.Options{Metrics: pollMetrics, Logger: logger})
		if err != nil {
			logger.Error("cannot set up the targets", "err", err)
			return exitFailure
		}
		nodes := func() []string {
			// Per-node probes without configured addresses need the
			// node list: one poll of the management API gives it.
			if target.State().Snapshot == nil {
				target.Poll(ctx)
			}
			return target.State().NodeNames()
		}
		p, err := probes.NewProber(t, nodes, metrics, logger)
		if err != nil {
			logger.Error("cannot set up the probes", "err", err)
			return exitFailure
		}
		defer p.Close()
		probers = append(probers, p)
	}

	var results []probes.Result
	for round := range count {
		if round > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(interval):
			}
		}
		if ctx.Err() != nil {
			break
		}
		for _, p := range probers {
			results = append(results, p.RunOnce(ctx)...)
		}
	}
	return printProbeTable(stdout, results)
}

// printProbeTable summarises results per probe and returns the exit code.
func printProbeTable(w io.Writer, results []probes.Result) int {
	byKey := map[catalog.ProbeKey][]probes.Result{}
	var keys []catalog.ProbeKey
	for _, r := range results {
		k := catalog.ProbeKey{Cluster: r.Cluster, Node: r.Node, QueueType: r.QueueType}
		if _, seen := byKey[k]; !seen {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], r)
	}
	slices.SortFunc(keys, func(a, b catalog.ProbeKey) int {
		return cmp.Or(strings.Compare(a.Cluster, b.Cluster), strings.Compare(a.Node, b.Node), strings.Compare(a.QueueType, b.QueueType))
	})
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tNODE\tQUEUE TYPE\tRUNS\tOK\tFAILURES\tCONFIRM p50\tCONFIRM max\tE2E p50\tE2E max")
	code := exitOK
	var lastErrors []string
	for _, k := range keys {
		rs := byKey[k]
		var confirm, e2e []time.Duration
		failures := map[probes.Outcome]int{}
		ok := 0
		for _, r := range rs {
			if r.Outcome == probes.OutcomeOK {
				ok++
				confirm = append(confirm, r.ConfirmLatency)
				e2e = append(e2e, r.E2ELatency)
				continue
			}
			failures[r.Outcome]++
			lastErrors = append(lastErrors, fmt.Sprintf("%s/%s/%s: %s: %v", k.Cluster, k.Node, k.QueueType, r.Outcome, r.Err))
		}
		if ok < len(rs) {
			code = exitFailure
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", k.Cluster, k.Node, k.QueueType, len(rs), ok,
			formatFailures(failures), quantile(confirm, 0.5), quantile(confirm, 1), quantile(e2e, 0.5), quantile(e2e, 1))
	}
	tw.Flush()
	if len(keys) == 0 {
		fmt.Fprintln(w, "no probe ran")
		return exitFailure
	}
	for _, e := range lastErrors {
		fmt.Fprintln(w, e)
	}
	return code
}

func formatFailures(f map[probes.Outcome]int) string {
	if len(f) == 0 {
		return "-"
	}
	var parts []string
	for _, o := range probes.AllOutcomes {
		if n := f[o]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", o, n))
		}
	}
	return strings.Join(parts, ",")
}

// quantile is the nearest-rank quantile of ds, "-" when empty.
func quantile(ds []time.Duration, q float64) string {
	if len(ds) == 0 {
		return "-"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s)-1) + 0.5)
	return s[i].Round(10 * time.Microsecond).String()
}
